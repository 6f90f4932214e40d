/*
 * sim_queue.h - the pending-event set of the discrete-event engine.
 *
 * A 4-ary min-heap of (time, key) entries, key = seq << 24 | id: seq is a counter the
 * queue hands out at every push or update, so events scheduled for the same time fire
 * in the order they were scheduled (FIFO), and id names the event (an index into the
 * engine's pool). (time, seq) never ties, so two runs of one scenario pop events in
 * the same order. A position map pos[id] makes cancel and reschedule O(log n) without
 * a search (libuv's timer heap, Cimba's handle map).
 *
 * Why this shape: entries are 16 bytes, so a node's four children share one 64-byte
 * cache line and the heap is half as deep as a binary one; the slots past the end
 * hold the largest entry, so a node always has four children to compare, without
 * bounds checks; the position map is a dense uint32 array, so the write-backs of a
 * sift stay in cache instead of touching every moved event. (A binary heap of event pointers with the position stored in
 * each event ran at 4 M events/s with 10^5 pending; this one, see docs/benchmarks.md.)
 *
 * Limits: 2^24 - 1 events queued or allocated at once, 2^40 pushes per queue, times
 * >= 0 (asserted).
 * Complexity: push, pop, remove, update O(log n); peek O(1).
 */
#ifndef SIM_QUEUE_H
#define SIM_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "common/ms_error.h"

#define SIM_NOT_QUEUED UINT32_MAX
#define SIM_ID_BITS 24
#define SIM_MAX_ID ((1u << SIM_ID_BITS) - 1)
#define SIM_MAX_SEQ ((uint64_t)1 << 40)

/*
 * An entry is one 128-bit unsigned number: the high half is the bit pattern of the
 * time (for doubles >= +0 the bit patterns order as the values do), the low half is
 * seq << SIM_ID_BITS | id. One integer comparison orders (time, seq) with no branch.
 */
__extension__ typedef unsigned __int128 sim_queue_entry;

static inline double sim_queue_entry_time(sim_queue_entry e)
{
	union { uint64_t u; double d; } v;
	v.u = (uint64_t)(e >> 64);
	return v.d;
}

typedef struct sim_queue {
	sim_queue_entry *heap;
	size_t size;
	size_t capacity;
	uint32_t *pos;      /* pos[id]: heap index, or SIM_NOT_QUEUED */
	size_t pos_capacity;
	uint64_t next_seq;
} sim_queue;

/* Initialises an empty queue with room for capacity events. A failed init leaks nothing. */
int sim_queue_init(sim_queue *q, size_t capacity, ms_error *err);
void sim_queue_fini(sim_queue *q);

/* Queues event id at time. id must not be queued already. Returns the seq given (>= 0)
 * or a negative code. */
int sim_queue_push(sim_queue *q, uint32_t id, double time, ms_error *err);

/* Removes the earliest event; returns its id (SIM_NOT_QUEUED when empty) and its time. */
uint32_t sim_queue_pop(sim_queue *q, double *time);

/* The earliest event's id (SIM_NOT_QUEUED when empty). */
static inline uint32_t sim_queue_peek(const sim_queue *q, double *time)
{
	if (!q->size)
		return SIM_NOT_QUEUED;
	*time = sim_queue_entry_time(q->heap[0]);
	return (uint32_t)((uint64_t)q->heap[0] & SIM_MAX_ID);
}

static inline int sim_queue_contains(const sim_queue *q, uint32_t id)
{
	return id < q->pos_capacity && q->pos[id] != SIM_NOT_QUEUED;
}

/* The seq an event was given at its last push or update (it must be queued). */
static inline uint64_t sim_queue_seq(const sim_queue *q, uint32_t id)
{
	return (uint64_t)q->heap[q->pos[id]] >> SIM_ID_BITS;
}

/* Removes a queued event (cancel). */
void sim_queue_remove(sim_queue *q, uint32_t id);

/* Moves a queued event to a new time; it gets a fresh seq, so it fires after events
 * already queued for the same time. */
void sim_queue_update(sim_queue *q, uint32_t id, double time);

static inline size_t sim_queue_size(const sim_queue *q)
{
	return q->size;
}

#endif
