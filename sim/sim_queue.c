/*
 * sim_queue.c - 4-ary min-heap of 128-bit (time, seq, id) entries with a dense
 * position map. See sim_queue.h for the contract. Invariants checked by tests: for
 * every 0 < i < size, heap[(i-1)/4] < heap[i] and pos[id(heap[i])] == i; every slot
 * from size to capacity + 3 holds EMPTY.
 */
#include "sim/sim_queue.h"

#include <stdlib.h>
#include <string.h>

#define D 4
#define PAD D /* sentinel slots past the capacity, so the last node has D children */
#define EMPTY (~(sim_queue_entry)0)

static inline uint32_t id_of(sim_queue_entry e)
{
	return (uint32_t)((uint64_t)e & SIM_MAX_ID);
}

static inline sim_queue_entry make_entry(double time, uint64_t seq, uint32_t id)
{
	union { uint64_t u; double d; } v;
	v.d = time + 0.0; /* turns -0.0 into +0.0 */
	return (sim_queue_entry)v.u << 64 | (seq << SIM_ID_BITS | id);
}

static inline void place(sim_queue *q, size_t i, sim_queue_entry e)
{
	q->heap[i] = e;
	q->pos[id_of(e)] = (uint32_t)i;
}

static void sift_up(sim_queue *q, size_t i, sim_queue_entry e)
{
	while (i > 0) {
		size_t parent = (i - 1) / D;
		if (e > q->heap[parent])
			break;
		place(q, i, q->heap[parent]);
		i = parent;
	}
	place(q, i, e);
}

/*
 * Bottom-up variant (Floyd; Wegener 1993): walk the hole down to a leaf along the
 * smallest child, then sift the displaced entry up from there. The displaced entry
 * (the old last leaf) usually belongs near the bottom, so this saves most of the
 * comparisons against it. The child minimum is computed without branches.
 */
static void sift_down(sim_queue *q, size_t i, sim_queue_entry e)
{
	size_t n = q->size;
	sim_queue_entry *h = q->heap;
	for (;;) {
		size_t c = D * i + 1, best = c;
		sim_queue_entry m;
		if (c >= n)
			break;
		/* The next level's four candidate blocks: fetch them while this one is compared. */
		if (D * c + 1 < n) {
			__builtin_prefetch(&h[D * c + 1]);
			__builtin_prefetch(&h[D * c + 5]);
			__builtin_prefetch(&h[D * c + 9]);
			__builtin_prefetch(&h[D * c + 13]);
		}
		m = h[c];
		best = h[c + 1] < m ? c + 1 : best;
		m = h[c + 1] < m ? h[c + 1] : m;
		best = h[c + 2] < m ? c + 2 : best;
		m = h[c + 2] < m ? h[c + 2] : m;
		best = h[c + 3] < m ? c + 3 : best;
		m = h[c + 3] < m ? h[c + 3] : m;
		place(q, i, m);
		i = best;
	}
	sift_up(q, i, e);
}

/*
 * The heap starts ALIGN_SKEW entries into a 64-byte aligned block, so the children of
 * node i (entries 4i+1 .. 4i+4) fill exactly one cache line.
 */
#define ALIGN_SKEW 3

static int alloc_heap(sim_queue *q, size_t cap, ms_error *err)
{
	size_t bytes = (cap + PAD + ALIGN_SKEW) * sizeof(sim_queue_entry);
	sim_queue_entry *raw = aligned_alloc(64, (bytes + 63) / 64 * 64), *h;
	if (!raw)
		return MS_ERROR(err, MS_ENOMEM, "out of memory growing the event queue to %zu events", cap);
	h = raw + ALIGN_SKEW;
	if (q->heap)
		memcpy(h, q->heap, q->capacity * sizeof *h);
	for (size_t i = q->capacity; i < cap + PAD; i++)
		h[i] = EMPTY;
	if (q->heap)
		free(q->heap - ALIGN_SKEW);
	q->heap = h;
	q->capacity = cap;
	return MS_OK;
}

int sim_queue_init(sim_queue *q, size_t capacity, ms_error *err)
{
	memset(q, 0, sizeof *q);
	if (capacity < 16)
		capacity = 16;
	q->pos = ms_malloc(err, capacity * sizeof *q->pos, "event queue positions");
	if (!q->pos || alloc_heap(q, capacity, err) < 0) {
		free(q->pos);
		memset(q, 0, sizeof *q);
		return MS_ENOMEM;
	}
	memset(q->pos, 0xff, capacity * sizeof *q->pos);
	q->pos_capacity = capacity;
	return MS_OK;
}

void sim_queue_fini(sim_queue *q)
{
	if (q->heap)
		free(q->heap - ALIGN_SKEW);
	free(q->pos);
	memset(q, 0, sizeof *q);
}

static int grow_pos(sim_queue *q, uint32_t id, ms_error *err)
{
	size_t cap = q->pos_capacity;
	uint32_t *p;
	while (cap <= id)
		cap *= 2;
	p = realloc(q->pos, cap * sizeof *p);
	if (!p)
		return MS_ERROR(err, MS_ENOMEM, "out of memory growing the event queue to %zu events", cap);
	memset(p + q->pos_capacity, 0xff, (cap - q->pos_capacity) * sizeof *p);
	q->pos = p;
	q->pos_capacity = cap;
	return MS_OK;
}

int sim_queue_push(sim_queue *q, uint32_t id, double time, ms_error *err)
{
	MS_ASSERT(id <= SIM_MAX_ID, "event id %u over the limit %u", id, SIM_MAX_ID);
	MS_ASSERT(time >= 0, "event time %.17g is negative or NaN (event %u)", time, id);
	if (id >= q->pos_capacity && grow_pos(q, id, err) < 0)
		return MS_ENOMEM;
	MS_ASSERT(q->pos[id] == SIM_NOT_QUEUED, "event %u already queued at position %u", id, q->pos[id]);
	if (q->size == q->capacity && alloc_heap(q, q->capacity * 2, err) < 0)
		return MS_ENOMEM;
	if (q->next_seq >= SIM_MAX_SEQ)
		return MS_ERROR(err, MS_ERANGE, "the event queue ran out of sequence numbers (2^40 events)");
	q->size++;
	sift_up(q, q->size - 1, make_entry(time, q->next_seq++, id));
	return MS_OK;
}

uint32_t sim_queue_pop(sim_queue *q, double *time)
{
	sim_queue_entry top, last;
	uint32_t id;
	if (q->size == 0)
		return SIM_NOT_QUEUED;
	top = q->heap[0];
	id = id_of(top);
	*time = sim_queue_entry_time(top);
	q->size--;
	last = q->heap[q->size];
	q->heap[q->size] = EMPTY;
	if (q->size > 0)
		sift_down(q, 0, last);
	q->pos[id] = SIM_NOT_QUEUED;
	return id;
}

void sim_queue_remove(sim_queue *q, uint32_t id)
{
	size_t i;
	sim_queue_entry last;
	MS_ASSERT(sim_queue_contains(q, id), "removing event %u, which is not queued", id);
	i = q->pos[id];
	q->size--;
	q->pos[id] = SIM_NOT_QUEUED;
	last = q->heap[q->size];
	q->heap[q->size] = EMPTY;
	if (i == q->size)
		return;
	if (i > 0 && last < q->heap[(i - 1) / D])
		sift_up(q, i, last);
	else
		sift_down(q, i, last);
}

void sim_queue_update(sim_queue *q, uint32_t id, double time)
{
	size_t i;
	sim_queue_entry e;
	MS_ASSERT(sim_queue_contains(q, id), "updating event %u, which is not queued", id);
	MS_ASSERT(time >= 0, "event time %.17g is negative or NaN (event %u)", time, id);
	MS_ASSERT(q->next_seq < SIM_MAX_SEQ, "the event queue ran out of sequence numbers");
	i = q->pos[id];
	e = make_entry(time, q->next_seq++, id);
	/* The new seq is the largest, so only the time decides the direction. */
	if (i > 0 && e < q->heap[(i - 1) / D])
		sift_up(q, i, e);
	else
		sift_down(q, i, e);
}
