/*
 * sim_queue.c - the ladder queue of sim_queue.h: a 4-ary bottom heap, rungs of
 * buckets, an unsorted top, and a position map.
 *
 * Invariants (checked by tests/check_sim.c's check_queue):
 * - every bottom entry < every entry of an unconsumed bucket < every top entry, and a
 *   deeper rung's entries < the entries of the rung above's unconsumed buckets;
 * - bucket k of rung r holds only entries whose bucket index in rung r is k, except
 *   that indices are clamped to the rung, so order between buckets follows the index;
 * - top entries are >= top_start;
 * - loc[id] names the tier and slot of id's entry; heap slots from size to capacity + 3
 *   hold EMPTY; capacity >= count.
 * An entry with the same time as another always lands in the same container (the bucket
 * index is a monotonic function of the time), so FIFO order among equal times is the
 * heap's (time, seq) order.
 */
#include "sim/sim_queue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define D 4
#define PAD D /* sentinel slots past the capacity, so the last node has D children */
#define EMPTY (~(sim_queue_entry)0)

/*
 * Tuning (hold model, docs/benchmarks.md): a bucket of more than THRESH entries is
 * spread over a new rung rather than heaped; a new rung has one bucket per FILL
 * entries; a bottom grown past BOTTOM_MAX (pushes inside the current bucket's range)
 * is spread over a new rung.
 */
#ifndef THRESH
#define THRESH 48
#endif
#ifndef FILL
#define FILL 4
#endif
#ifndef MAX_NB
#define MAX_NB 1024
#endif
#define BOTTOM_MAX 1024

#define LOC_NONE UINT64_MAX
#define TIER_BOTTOM SIM_TIER_BOTTOM
#define TIER_TOP SIM_TIER_TOP
#define LOC(tier, slot) ((uint64_t)(tier) << 32 | (uint32_t)(slot))

static inline uint32_t id_of(sim_queue_entry e)
{
	return (uint32_t)((uint64_t)e & SIM_MAX_ID);
}

static inline double time_of(sim_queue_entry e)
{
	return sim_queue_entry_time(e);
}

static inline sim_queue_entry make_entry(double time, uint64_t seq, uint32_t id)
{
	union { uint64_t u; double d; } v;
	v.d = time + 0.0; /* turns -0.0 into +0.0 */
	return (sim_queue_entry)v.u << 64 | (seq << SIM_ID_BITS | id);
}

/* ---- the bottom: a 4-ary heap ---- */

static inline void place(sim_queue *q, size_t i, sim_queue_entry e)
{
	q->heap[i] = e;
	q->loc[id_of(e)] = LOC(TIER_BOTTOM, i);
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
 * smallest child, then sift the displaced entry up from there. The child minimum is
 * computed without branches.
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

static void bottom_push(sim_queue *q, sim_queue_entry e)
{
	q->size++;
	sift_up(q, q->size - 1, e);
}

static void bottom_remove_at(sim_queue *q, size_t i)
{
	sim_queue_entry last;
	q->size--;
	last = q->heap[q->size];
	q->heap[q->size] = EMPTY;
	if (i == q->size)
		return;
	if (i > 0 && last < q->heap[(i - 1) / D])
		sift_up(q, i, last);
	else
		sift_down(q, i, last);
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

/* ---- buckets and rungs ---- */

static int bucket_reserve(sim_queue_bucket *b, uint32_t n)
{
	uint32_t cap;
	sim_queue_entry *e;
	if (n <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4;
	while (cap < n)
		cap *= 2;
	e = realloc(b->e, cap * sizeof *e);
	if (!e)
		return -1;
	b->e = e;
	b->cap = cap;
	return 0;
}

/* After its entries moved down: a bucket that held far less than its capacity this time
 * gives the memory back, so a rare burst does not pin it; one that is about as full as
 * it was keeps it, so steady state allocates nothing. */
static void bucket_emptied(sim_queue_bucket *b)
{
	if (b->cap > 16 * THRESH && b->cap > 4 * b->n) {
		free(b->e);
		b->e = NULL;
		b->cap = 0;
	}
	b->n = 0;
}

static inline uint32_t rung_index(const sim_queue_rung *r, double t)
{
	double x = (t - r->start) * r->inv_width;
	if (!(x > 0))
		return 0;
	if (x >= (double)r->nb)
		return r->nb - 1;
	return (uint32_t)x;
}

/* Everything into the bottom heap: the fallback when memory runs out. Never fails
 * (capacity >= count). */
static void collapse(sim_queue *q)
{
	for (int r = 0; r < q->nrungs; r++) {
		const sim_queue_rung *g = &q->rung[r];
		for (uint32_t k = g->next; k < g->nb; k++) {
			sim_queue_bucket *b = &q->bucket[g->first + k];
			for (uint32_t j = 0; j < b->n; j++)
				bottom_push(q, b->e[j]);
			b->n = 0;
		}
	}
	q->nrungs = 0;
	for (uint32_t j = 0; j < q->top.n; j++)
		bottom_push(q, q->top.e[j]);
	q->top.n = 0;
	q->top_start = INFINITY;
}

/* Appends e to a bucket or the top (tier), keeping loc; -1 when memory runs out. */
static int append(sim_queue *q, sim_queue_bucket *b, uint32_t tier, sim_queue_entry e)
{
	if (b->n == b->cap && bucket_reserve(b, b->n + 1) < 0)
		return -1;
	q->loc[id_of(e)] = LOC(tier, b->n);
	b->e[b->n++] = e;
	return 0;
}

/* Puts e where it belongs. Never fails: without memory the queue collapses into the heap. */
static void insert(sim_queue *q, sim_queue_entry e)
{
	double t = time_of(e);
	if (t >= q->top_start) {
		if (append(q, &q->top, TIER_TOP, e) == 0)
			return;
		collapse(q);
	} else {
		for (int r = 0; r < q->nrungs; r++) {
			const sim_queue_rung *g = &q->rung[r];
			uint32_t k = rung_index(g, t);
			if (k >= g->next) {
				if (append(q, &q->bucket[g->first + k], g->first + k, e) == 0)
					return;
				collapse(q);
				break;
			}
		}
	}
	bottom_push(q, e);
}

/*
 * Spreads n entries (all later than the bottom's, all earlier than the unconsumed
 * buckets above) over a new deepest rung spanning [lo, hi]. Returns -1, changing
 * nothing, when the span is degenerate (all one time), the rungs are used up or memory
 * runs out: the caller then heaps the entries.
 */
static int spread(sim_queue *q, const sim_queue_entry *src, uint32_t n, double lo, double hi)
{
	sim_queue_rung g;
	double span = hi - lo;
	size_t need;
	if (q->nrungs == SIM_MAX_RUNGS || !(span > 0) || !isfinite(span))
		return -1;
	g.nb = n / FILL > 2 ? n / FILL : 2;
	g.nb = g.nb > MAX_NB ? MAX_NB : g.nb;
	g.inv_width = (double)g.nb / span;
	if (!isfinite(g.inv_width))
		return -1;
	g.start = lo;
	g.next = 0;
	g.first = q->nrungs ? q->rung[q->nrungs - 1].first + q->rung[q->nrungs - 1].nb : 0;
	need = (size_t)g.first + g.nb;
	if (need > UINT32_MAX - 8)
		return -1;
	if (need > q->bucket_capacity) {
		size_t cap = q->bucket_capacity ? q->bucket_capacity : 1024;
		sim_queue_bucket *nbk;
		while (cap < need)
			cap *= 2;
		nbk = realloc(q->bucket, cap * sizeof *nbk);
		if (!nbk)
			return -1;
		memset(nbk + q->bucket_capacity, 0, (cap - q->bucket_capacity) * sizeof *nbk);
		q->bucket = nbk;
		q->bucket_capacity = cap;
	}
	/* Count, reserve, then place: so a failed reservation changes nothing. */
	for (uint32_t j = 0; j < n; j++)
		q->bucket[g.first + rung_index(&g, time_of(src[j]))].n++;
	for (uint32_t k = 0; k < g.nb; k++) {
		sim_queue_bucket *b = &q->bucket[g.first + k];
		if (bucket_reserve(b, b->n) < 0) {
			for (uint32_t k2 = 0; k2 < g.nb; k2++)
				q->bucket[g.first + k2].n = 0;
			return -1;
		}
		b->n = 0;
	}
	for (uint32_t j = 0; j < n; j++) {
		uint32_t k = rung_index(&g, time_of(src[j]));
		sim_queue_bucket *b = &q->bucket[g.first + k];
		q->loc[id_of(src[j])] = LOC(g.first + k, b->n);
		b->e[b->n++] = src[j];
	}
	q->rung[q->nrungs++] = g;
	return 0;
}

static void span_of(const sim_queue_entry *e, uint32_t n, double *lo, double *hi)
{
	double a = time_of(e[0]), z = a;
	for (uint32_t j = 1; j < n; j++) {
		double t = time_of(e[j]);
		a = t < a ? t : a;
		z = t > z ? t : z;
	}
	*lo = a;
	*hi = z;
}

/* A bucket (tier: its pool index, or TIER_TOP) whose turn has come: spread it over a
 * new rung if it is large and can be, else heap it into the empty bottom. Returns 1
 * when it was heaped. span, when not NULL, is the bucket's [lo, hi] already known (the
 * top's). (The bucket is looked up again after spread, which may move the pool.) */
static int take(sim_queue *q, uint32_t tier, const double *span)
{
	sim_queue_bucket *b = tier == TIER_TOP ? &q->top : &q->bucket[tier];
	int heaped = 1;
	if (b->n > THRESH) {
		double lo, hi;
		if (span) {
			lo = span[0];
			hi = span[1];
		} else {
			span_of(b->e, b->n, &lo, &hi);
		}
		heaped = spread(q, b->e, b->n, lo, hi) < 0;
		b = tier == TIER_TOP ? &q->top : &q->bucket[tier];
	}
	if (heaped) {
		if (q->ahead)
			q->ahead(q->ahead_ctx, b->e, b->n);
		for (uint32_t j = 0; j < b->n; j++)
			bottom_push(q, b->e[j]);
	}
	bucket_emptied(b);
	return heaped;
}

void sim_queue_refill(sim_queue *q)
{
	MS_ASSERT(q->size == 0 && q->count > 0, "refilling a bottom of %zu with %zu queued", q->size, q->count);
	for (;;) {
		sim_queue_rung *g;
		uint32_t k;
		if (q->nrungs == 0) {
			double span[2];
			MS_ASSERT(q->top.n > 0, "%zu events queued but none in any tier", q->count);
			span_of(q->top.e, q->top.n, &span[0], &span[1]);
			/* Later pushes at hi itself go to the top: they follow these in seq. */
			q->top_start = span[1];
			if (take(q, TIER_TOP, span))
				return;
			continue;
		}
		g = &q->rung[q->nrungs - 1];
		for (k = g->next; k < g->nb && q->bucket[g->first + k].n == 0; k++)
			;
		if (k == g->nb) {
			q->nrungs--;
			continue;
		}
		g->next = k + 1;
		if (take(q, g->first + k, NULL))
			return;
	}
}

/* A bottom grown past its limit (pushes inside the current bucket's span) is spread
 * over a new rung; when it cannot be (one time, rungs used up), the limit doubles so
 * the attempt is not repeated at every push. */
static void bottom_overflow(sim_queue *q)
{
	double lo, hi;
	span_of(q->heap, (uint32_t)q->size, &lo, &hi);
	if (spread(q, q->heap, (uint32_t)q->size, lo, hi) == 0) {
		for (size_t i = 0; i < q->size; i++)
			q->heap[i] = EMPTY;
		q->size = 0;
		q->bottom_limit = BOTTOM_MAX;
	} else {
		q->bottom_limit *= 2;
	}
}

/* ---- the interface ---- */

int sim_queue_init(sim_queue *q, size_t capacity, ms_error *err)
{
	memset(q, 0, sizeof *q);
	if (capacity < 16)
		capacity = 16;
	q->loc = ms_malloc(err, capacity * sizeof *q->loc, "event queue positions");
	if (!q->loc || alloc_heap(q, capacity, err) < 0) {
		free(q->loc);
		memset(q, 0, sizeof *q);
		return MS_ENOMEM;
	}
	memset(q->loc, 0xff, capacity * sizeof *q->loc);
	q->loc_capacity = capacity;
	q->top_start = 0;
	q->bottom_limit = BOTTOM_MAX;
	return MS_OK;
}

void sim_queue_fini(sim_queue *q)
{
	if (q->heap)
		free(q->heap - ALIGN_SKEW);
	free(q->loc);
	free(q->top.e);
	for (size_t i = 0; i < q->bucket_capacity; i++)
		free(q->bucket[i].e);
	free(q->bucket);
	memset(q, 0, sizeof *q);
}

static int grow_loc(sim_queue *q, uint32_t id, ms_error *err)
{
	size_t cap = q->loc_capacity;
	uint64_t *p;
	while (cap <= id)
		cap *= 2;
	p = realloc(q->loc, cap * sizeof *p);
	if (!p)
		return MS_ERROR(err, MS_ENOMEM, "out of memory growing the event queue to %zu events", cap);
	memset(p + q->loc_capacity, 0xff, (cap - q->loc_capacity) * sizeof *p);
	q->loc = p;
	q->loc_capacity = cap;
	return MS_OK;
}

int sim_queue_push(sim_queue *q, uint32_t id, double time, ms_error *err)
{
	MS_ASSERT(id <= SIM_MAX_ID, "event id %u over the limit %u", id, SIM_MAX_ID);
	MS_ASSERT(time >= 0, "event time %.17g is negative or NaN (event %u)", time, id);
	if (id >= q->loc_capacity && grow_loc(q, id, err) < 0)
		return MS_ENOMEM;
	MS_ASSERT(q->loc[id] == LOC_NONE, "event %u already queued (location %llx)", id,
		  (unsigned long long)q->loc[id]);
	if (q->count == q->capacity && alloc_heap(q, q->capacity * 2, err) < 0)
		return MS_ENOMEM;
	if (q->next_seq >= SIM_MAX_SEQ)
		return MS_ERROR(err, MS_ERANGE, "the event queue ran out of sequence numbers (2^40 events)");
	q->count++;
	insert(q, make_entry(time, q->next_seq++, id));
	if (q->size > q->bottom_limit)
		bottom_overflow(q);
	return MS_OK;
}

uint32_t sim_queue_pop(sim_queue *q, double *time)
{
	sim_queue_entry top, last;
	uint32_t id;
	if (q->size == 0) {
		if (q->count == 0)
			return SIM_NOT_QUEUED;
		sim_queue_refill(q);
	}
	top = q->heap[0];
	id = id_of(top);
	*time = time_of(top);
	q->size--;
	q->count--;
	last = q->heap[q->size];
	q->heap[q->size] = EMPTY;
	if (q->size > 0)
		sift_down(q, 0, last);
	q->loc[id] = LOC_NONE;
	return id;
}

/* Takes id's entry out of whichever tier holds it. */
static sim_queue_entry take_out(sim_queue *q, uint32_t id)
{
	uint64_t l = q->loc[id];
	uint32_t tier = (uint32_t)(l >> 32), slot = (uint32_t)l;
	sim_queue_entry e;
	if (tier == TIER_BOTTOM) {
		e = q->heap[slot];
		bottom_remove_at(q, slot);
	} else {
		sim_queue_bucket *b = tier == TIER_TOP ? &q->top : &q->bucket[tier];
		e = b->e[slot];
		b->n--;
		if (slot != b->n) {
			b->e[slot] = b->e[b->n];
			q->loc[id_of(b->e[slot])] = LOC(tier, slot);
		}
	}
	q->loc[id] = LOC_NONE;
	return e;
}

uint64_t sim_queue_seq(const sim_queue *q, uint32_t id)
{
	uint64_t l = q->loc[id];
	uint32_t tier = (uint32_t)(l >> 32), slot = (uint32_t)l;
	sim_queue_entry e;
	MS_ASSERT(sim_queue_contains(q, id), "the seq of event %u, which is not queued", id);
	if (tier == TIER_BOTTOM)
		e = q->heap[slot];
	else
		e = (tier == TIER_TOP ? &q->top : &q->bucket[tier])->e[slot];
	return (uint64_t)e >> SIM_ID_BITS;
}

void sim_queue_remove(sim_queue *q, uint32_t id)
{
	MS_ASSERT(sim_queue_contains(q, id), "removing event %u, which is not queued", id);
	take_out(q, id);
	q->count--;
}

void sim_queue_update(sim_queue *q, uint32_t id, double time)
{
	MS_ASSERT(sim_queue_contains(q, id), "updating event %u, which is not queued", id);
	MS_ASSERT(time >= 0, "event time %.17g is negative or NaN (event %u)", time, id);
	MS_ASSERT(q->next_seq < SIM_MAX_SEQ, "the event queue ran out of sequence numbers");
	take_out(q, id);
	insert(q, make_entry(time, q->next_seq++, id));
	if (q->size > q->bottom_limit)
		bottom_overflow(q);
}
