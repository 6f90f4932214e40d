/*
 * sim_queue.h - the pending-event set of the discrete-event engine.
 *
 * A binary min-heap of events ordered by (time, seq). seq is a counter the queue
 * hands out at every push or update, so events scheduled for the same time fire in
 * the order they were scheduled (FIFO) and two runs of one scenario pop events in
 * the same order: there are no ties, and a tie would be a bug (asserted in debug
 * builds). Each event stores its heap position, so cancelling or rescheduling a
 * queued event is O(log n) without a search (libuv's timer heap, Cimba's handle map).
 *
 * The heap keeps (time, seq) inline beside the event pointer so comparisons touch
 * only the heap array, not the events (fewer cache misses than a pointer heap).
 *
 * Complexity: push, pop, remove, update O(log n); peek O(1). The heap array grows by
 * doubling, so pushes are amortised allocation-free; size it up front with the
 * capacity hint to avoid growth altogether.
 */
#ifndef SIM_QUEUE_H
#define SIM_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "common/ms_error.h"

#define SIM_NOT_QUEUED UINT32_MAX

typedef struct sim_event sim_event;

/* An event. The engine owns the storage (see sim_engine.h); payload fields are the model's. */
struct sim_event {
	double time;       /* when it fires, seconds of simulated time */
	uint64_t seq;      /* scheduling order, set by the queue */
	uint32_t heap_pos; /* position in the heap, SIM_NOT_QUEUED when not queued */
	int32_t type;      /* model-defined kind */
	int32_t a, b;      /* model-defined payload (e.g. rank, layer) */
	int64_t c;         /* model-defined payload */
	double x;          /* model-defined payload */
	void *ptr;         /* model-defined payload */
	sim_event *next_free; /* engine pool link; not for models */
};

typedef struct sim_queue_entry {
	double time;
	uint64_t seq;
	sim_event *ev;
} sim_queue_entry;

typedef struct sim_queue {
	sim_queue_entry *heap;
	size_t size;
	size_t capacity;
	uint64_t next_seq;
} sim_queue;

/* Initialises an empty queue with room for capacity events. A failed init leaks nothing. */
int sim_queue_init(sim_queue *q, size_t capacity, ms_error *err);
void sim_queue_fini(sim_queue *q);

/* Queues ev at time; assigns ev->seq. ev must not be queued already. */
int sim_queue_push(sim_queue *q, sim_event *ev, double time, ms_error *err);

/* Removes and returns the earliest event (NULL when empty). */
sim_event *sim_queue_pop(sim_queue *q);

/* The earliest event without removing it (NULL when empty). */
static inline sim_event *sim_queue_peek(const sim_queue *q)
{
	return q->size ? q->heap[0].ev : NULL;
}

/* Removes a queued event (cancel). */
void sim_queue_remove(sim_queue *q, sim_event *ev);

/* Moves a queued event to a new time; it gets a fresh seq, so it fires after events
 * already queued for the same time. */
void sim_queue_update(sim_queue *q, sim_event *ev, double time);

static inline size_t sim_queue_size(const sim_queue *q)
{
	return q->size;
}

#endif
