/*
 * sim_queue.c - binary min-heap on (time, seq) with positions stored in the events.
 * See sim_queue.h for the contract. Invariant checked by tests: for every i > 0,
 * key(heap[(i-1)/2]) < key(heap[i]) and heap[i].ev->heap_pos == i.
 */
#include "sim/sim_queue.h"

#include <stdlib.h>

static inline int before(const sim_queue_entry *a, const sim_queue_entry *b)
{
	return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static inline void place(sim_queue *q, size_t i, sim_queue_entry e)
{
	q->heap[i] = e;
	e.ev->heap_pos = (uint32_t)i;
}

static void sift_up(sim_queue *q, size_t i, sim_queue_entry e)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(&e, &q->heap[parent]))
			break;
		place(q, i, q->heap[parent]);
		i = parent;
	}
	place(q, i, e);
}

/*
 * Floyd's bottom-up variant: walk the hole down to a leaf along the smaller child,
 * then sift the displaced entry up from there. The displaced entry usually belongs
 * near the bottom, so this saves about half the comparisons of the textbook version.
 */
static void sift_down(sim_queue *q, size_t i, sim_queue_entry e)
{
	size_t n = q->size;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && before(&q->heap[c + 1], &q->heap[c]))
			c++;
		place(q, i, q->heap[c]);
		i = c;
	}
	sift_up(q, i, e);
}

int sim_queue_init(sim_queue *q, size_t capacity, ms_error *err)
{
	if (capacity < 16)
		capacity = 16;
	q->heap = ms_calloc(err, capacity, sizeof *q->heap, "event queue");
	if (!q->heap)
		return MS_ENOMEM;
	q->size = 0;
	q->capacity = capacity;
	q->next_seq = 0;
	return MS_OK;
}

void sim_queue_fini(sim_queue *q)
{
	free(q->heap);
	q->heap = NULL;
	q->size = q->capacity = 0;
}

int sim_queue_push(sim_queue *q, sim_event *ev, double time, ms_error *err)
{
	sim_queue_entry e;
	MS_ASSERT(ev->heap_pos == SIM_NOT_QUEUED, "event already queued at position %u", ev->heap_pos);
	MS_ASSERT(time == time, "event time is NaN (type %d)", (int)ev->type);
	if (q->size == q->capacity) {
		size_t cap = q->capacity * 2;
		sim_queue_entry *h;
		if (cap >= SIM_NOT_QUEUED)
			return MS_ERROR(err, MS_ENOMEM, "event queue: more than %u pending events", SIM_NOT_QUEUED - 1);
		h = realloc(q->heap, cap * sizeof *h);
		if (!h)
			return MS_ERROR(err, MS_ENOMEM, "out of memory growing the event queue to %zu events", cap);
		q->heap = h;
		q->capacity = cap;
	}
	ev->time = time;
	ev->seq = q->next_seq++;
	e.time = time;
	e.seq = ev->seq;
	e.ev = ev;
	q->size++;
	sift_up(q, q->size - 1, e);
	return MS_OK;
}

sim_event *sim_queue_pop(sim_queue *q)
{
	sim_event *top;
	if (q->size == 0)
		return NULL;
	top = q->heap[0].ev;
	q->size--;
	if (q->size > 0)
		sift_down(q, 0, q->heap[q->size]);
	top->heap_pos = SIM_NOT_QUEUED;
	return top;
}

void sim_queue_remove(sim_queue *q, sim_event *ev)
{
	size_t i = ev->heap_pos;
	sim_queue_entry last;
	MS_ASSERT(i < q->size && q->heap[i].ev == ev, "removing an event that is not queued (pos %zu, size %zu)",
		  i, q->size);
	q->size--;
	ev->heap_pos = SIM_NOT_QUEUED;
	if (i == q->size)
		return;
	last = q->heap[q->size];
	if (i > 0 && before(&last, &q->heap[(i - 1) / 2]))
		sift_up(q, i, last);
	else
		sift_down(q, i, last);
}

void sim_queue_update(sim_queue *q, sim_event *ev, double time)
{
	size_t i = ev->heap_pos;
	sim_queue_entry e;
	MS_ASSERT(i < q->size && q->heap[i].ev == ev, "updating an event that is not queued (pos %zu, size %zu)",
		  i, q->size);
	MS_ASSERT(time == time, "event time is NaN (type %d)", (int)ev->type);
	ev->time = time;
	ev->seq = q->next_seq++;
	e.time = time;
	e.seq = ev->seq;
	e.ev = ev;
	/* The new seq is the largest, so only the time decides the direction. */
	if (i > 0 && before(&e, &q->heap[(i - 1) / 2]))
		sift_up(q, i, e);
	else
		sift_down(q, i, e);
}
