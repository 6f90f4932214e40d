/*
 * sim_queue.h - the pending-event set of the discrete-event engine.
 *
 * A ladder queue (Tang, Goh and Thng 2005, "Ladder queue: an O(1) priority queue
 * structure for large-scale discrete event simulation", ACM TOMACS 15(3)) over (time,
 * key) entries, key = seq << 24 | id: seq is a counter the queue hands out at every
 * push or update, so events scheduled for the same time fire in the order they were
 * scheduled (FIFO), and id names the event (an index into the engine's pool). (time,
 * seq) never ties, so two runs of one scenario pop events in the same order.
 *
 * Three tiers, each holding only entries later than every entry of the tier below:
 * - bottom: a 4-ary min-heap of the earliest entries (a few dozen in steady state);
 * - rungs: up to SIM_MAX_RUNGS arrays of unsorted buckets of equal width in time, the
 *   deeper rung spreading one bucket of the rung above; a bucket is heaped into the
 *   bottom (or spread over a new rung when it holds more than a threshold) only when
 *   the bottom runs dry;
 * - top: an unsorted array of everything at or after top_start, spread over a new
 *   first rung when the rungs are used up.
 * A push appends to a bucket or the top in O(1), or sifts into the small bottom heap;
 * each entry is moved a bounded number of times, so push and pop are O(1) amortised
 * on the hold model's distributions (O(log n) in the worst case: everything in one
 * heap). A position map loc[id] says which tier, bucket and slot hold an event, so
 * cancel and reschedule stay O(1) (bucket) or O(log n) (bottom) without a search.
 *
 * Why this shape: the 4-ary heap that preceded it (16-byte entries, four children per
 * cache line, sentinel padding, prefetch) ran the hold model at 8 M events/s with 10^5
 * pending, its ~8 levels waiting on L3; a radix heap, 7.9 M. See docs/benchmarks.md.
 *
 * If memory runs out while moving entries between tiers, everything is collapsed into
 * the bottom heap (whose capacity always covers every queued event), so pop, remove
 * and update never fail; the queue is then a plain heap until it spreads again.
 *
 * Limits: 2^24 - 1 events queued or allocated at once, 2^40 pushes per queue, times
 * >= 0 (asserted).
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
#define SIM_MAX_RUNGS 8
/* loc[id] >> 32 for an entry in the bottom heap or in the top; otherwise the index of
 * its bucket in the pool. */
#define SIM_TIER_BOTTOM (UINT32_MAX - 1)
#define SIM_TIER_TOP (UINT32_MAX - 2)

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

/* An unsorted array of entries: a bucket of a rung, or the top. */
typedef struct sim_queue_bucket {
	sim_queue_entry *e;
	uint32_t n, cap;
} sim_queue_bucket;

/* One rung: nb buckets from start, bucket of time t = (t - start) * inv_width
 * (clamped to the rung). Buckets before next are consumed (moved down). */
typedef struct sim_queue_rung {
	double start, inv_width;
	uint32_t first; /* index of its bucket 0 in the bucket pool */
	uint32_t nb, next;
} sim_queue_rung;

/* Called with the entries of a bucket as it moves into the bottom, i.e. a few dozen pops
 * before they fire: the engine prefetches their events' storage. */
typedef void (*sim_queue_ahead_fn)(void *ctx, const sim_queue_entry *e, uint32_t n);

typedef struct sim_queue {
	sim_queue_entry *heap; /* bottom: 4-ary heap; slots size .. capacity + 3 hold EMPTY */
	size_t size;           /* entries in the bottom */
	size_t capacity;       /* >= count, so the bottom can always take everything */
	uint64_t *loc;         /* loc[id]: tier << 32 | slot, or UINT64_MAX when not queued */
	size_t loc_capacity;
	size_t count;          /* entries in all tiers */
	uint64_t next_seq;
	sim_queue_bucket top;
	double top_start;      /* entries at or after it go to the top */
	sim_queue_rung rung[SIM_MAX_RUNGS];
	int nrungs;
	sim_queue_bucket *bucket;    /* the rungs' buckets, rung after rung */
	size_t bucket_capacity;
	size_t bottom_limit;   /* a bottom larger than this is spread over a new rung */
	sim_queue_ahead_fn ahead;
	void *ahead_ctx;
} sim_queue;

/* Initialises an empty queue with room for capacity events. A failed init leaks nothing. */
int sim_queue_init(sim_queue *q, size_t capacity, ms_error *err);
void sim_queue_fini(sim_queue *q);

/* Queues event id at time. id must not be queued already. Returns MS_OK or a negative
 * code (out of memory, out of sequence numbers). */
int sim_queue_push(sim_queue *q, uint32_t id, double time, ms_error *err);

/* Removes the earliest event; returns its id (SIM_NOT_QUEUED when empty) and its time. */
uint32_t sim_queue_pop(sim_queue *q, double *time);

/* Moves the next bucket down into the empty bottom (internal to peek and pop). */
void sim_queue_refill(sim_queue *q);

/* The earliest event's id (SIM_NOT_QUEUED when empty). It may move entries between
 * tiers, hence the non-const queue; the order of events does not change. */
static inline uint32_t sim_queue_peek(sim_queue *q, double *time)
{
	if (!q->size) {
		if (!q->count)
			return SIM_NOT_QUEUED;
		sim_queue_refill(q);
	}
	*time = sim_queue_entry_time(q->heap[0]);
	return (uint32_t)((uint64_t)q->heap[0] & SIM_MAX_ID);
}

static inline int sim_queue_contains(const sim_queue *q, uint32_t id)
{
	return id < q->loc_capacity && q->loc[id] != UINT64_MAX;
}

/* The seq an event was given at its last push or update (it must be queued). */
uint64_t sim_queue_seq(const sim_queue *q, uint32_t id);

/* Removes a queued event (cancel). */
void sim_queue_remove(sim_queue *q, uint32_t id);

/* Moves a queued event to a new time; it gets a fresh seq, so it fires after events
 * already queued for the same time. */
void sim_queue_update(sim_queue *q, uint32_t id, double time);

static inline size_t sim_queue_size(const sim_queue *q)
{
	return q->count;
}

#endif
