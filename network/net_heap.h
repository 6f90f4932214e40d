/*
 * net_heap.h - internal to network/: the binary min-heap under both of the flow
 * model's priority queues, the flow layer's events (net_model.c) and the solver's
 * links by fair share (net_maxmin.c). One sift-up and one sift-down, written once.
 *
 * Entries order by (key, seq), lexicographically; callers make seq unique (the
 * flow's add order, the link's id), so the order is total and the pops are the same
 * on every run. where, if not NULL, maps each entry's id to its position and is kept
 * up to date by every move, for callers that re-key entries in place; the solver
 * passes NULL, and with the functions inlined the bookkeeping then compiles away.
 * Sifting is O(log n) and moves the entry being placed only once, at the end.
 */
#ifndef NET_HEAP_H
#define NET_HEAP_H

#include <stdint.h>

typedef struct net__hent {
	double key;
	uint64_t seq;
	int id;
} net__hent;

static inline int net__heap_less(const net__hent *x, const net__hent *y)
{
	return x->key < y->key || (x->key == y->key && x->seq < y->seq);
}

/* Moves h[pos] up to its place. */
static inline void net__heap_sift_up(net__hent *h, int pos, int *where)
{
	net__hent e = h[pos];
	while (pos > 0) {
		int parent = (pos - 1) / 2;
		if (!net__heap_less(&e, &h[parent]))
			break;
		h[pos] = h[parent];
		if (where)
			where[h[pos].id] = pos;
		pos = parent;
	}
	h[pos] = e;
	if (where)
		where[e.id] = pos;
}

/* Moves h[pos] down to its place among the n entries. */
static inline void net__heap_sift_down(net__hent *h, int n, int pos, int *where)
{
	net__hent e = h[pos];
	for (;;) {
		int c = 2 * pos + 1;
		if (c >= n)
			break;
		if (c + 1 < n && net__heap_less(&h[c + 1], &h[c]))
			c++;
		if (!net__heap_less(&h[c], &e))
			break;
		h[pos] = h[c];
		if (where)
			where[h[pos].id] = pos;
		pos = c;
	}
	h[pos] = e;
	if (where)
		where[e.id] = pos;
}

#endif
