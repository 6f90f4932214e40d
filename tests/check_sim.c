/*
 * check_sim.c - the event queue against a linear-scan oracle (many ties, cancels and
 * reschedules, and distributions that drive each tier of the ladder), the ladder's
 * invariants, and the engine's FIFO order, cancel and pool.
 */
#include <check.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>

#include "sim/sim_engine.h"
#include "sim/sim_queue.h"
#include "test_util.h"

/* The oracle: a plain array searched linearly for the (time, seq) minimum. */
typedef struct { double time; uint64_t seq; int id; int live; } oracle_ev;

static int oracle_min(const oracle_ev *o, int n)
{
	int best = -1;
	for (int i = 0; i < n; i++) {
		if (!o[i].live)
			continue;
		if (best < 0 || o[i].time < o[best].time || (o[i].time == o[best].time && o[i].seq < o[best].seq))
			best = i;
	}
	return best;
}

/* The entry id's loc names, wherever it is. */
static sim_queue_entry entry_at(const sim_queue *q, uint64_t loc)
{
	uint32_t tier = (uint32_t)(loc >> 32), slot = (uint32_t)loc;
	if (tier == SIM_TIER_BOTTOM) {
		ck_assert_uint_lt(slot, q->size);
		return q->heap[slot];
	}
	if (tier == SIM_TIER_TOP) {
		ck_assert_uint_lt(slot, q->top.n);
		return q->top.e[slot];
	}
	ck_assert_uint_lt(slot, q->bucket[tier].n);
	return q->bucket[tier].e[slot];
}

/* Every invariant of sim_queue.c: heap order and padding, tiers in order (bottom <
 * deeper rungs < rungs above < top), buckets of a rung in order, positions, count. */
static void check_queue(const sim_queue *q)
{
	sim_queue_entry below = 0; /* the largest entry met so far, tier by tier upwards */
	size_t total = q->size;
	int any = 0;
	for (size_t i = 0; i < q->size; i++) {
		uint32_t id = (uint32_t)((uint64_t)q->heap[i] & SIM_MAX_ID);
		ck_assert(q->loc[id] == ((uint64_t)SIM_TIER_BOTTOM << 32 | i));
		if (i > 0)
			ck_assert(q->heap[(i - 1) / 4] < q->heap[i]);
		if (!any || q->heap[i] > below)
			below = q->heap[i];
		any = 1;
	}
	for (size_t i = q->size; i < q->capacity + 4; i++)
		ck_assert(q->heap[i] == ~(sim_queue_entry)0);
	ck_assert_uint_ge(q->capacity, q->count);
	for (int r = q->nrungs - 1; r >= 0; r--) {
		const sim_queue_rung *g = &q->rung[r];
		for (uint32_t k = 0; k < g->nb; k++) {
			const sim_queue_bucket *b = &q->bucket[g->first + k];
			sim_queue_entry hi = 0;
			if (k < g->next)
				ck_assert_uint_eq(b->n, 0); /* consumed */
			for (uint32_t j = 0; j < b->n; j++) {
				uint32_t id = (uint32_t)((uint64_t)b->e[j] & SIM_MAX_ID);
				ck_assert(q->loc[id] == ((uint64_t)(g->first + k) << 32 | j));
				if (any)
					ck_assert(b->e[j] > below);
				hi = b->e[j] > hi ? b->e[j] : hi;
			}
			if (b->n) {
				below = hi;
				any = 1;
			}
			total += b->n;
		}
	}
	for (uint32_t j = 0; j < q->top.n; j++) {
		uint32_t id = (uint32_t)((uint64_t)q->top.e[j] & SIM_MAX_ID);
		ck_assert(q->loc[id] == ((uint64_t)SIM_TIER_TOP << 32 | j));
		ck_assert(sim_queue_entry_time(q->top.e[j]) >= q->top_start);
		if (any)
			ck_assert(q->top.e[j] > below);
	}
	total += q->top.n;
	ck_assert_uint_eq(total, q->count);
	for (size_t id = 0; id < q->loc_capacity; id++)
		if (q->loc[id] != UINT64_MAX)
			ck_assert_uint_eq((uint64_t)entry_at(q, q->loc[id]) & SIM_MAX_ID, id);
}

START_TEST(queue_matches_oracle)
{
	enum { N = 2000, OPS = 60000 };
	static oracle_ev orc[N];
	sim_queue q;
	ms_error err;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	double now = 0, t;
	uint32_t id;
	ms_error_clear(&err);
	gsl_rng_set(rng, 2385);
	ck_assert_int_eq(sim_queue_init(&q, 4, &err), MS_OK); /* small: forces growth */
	for (int i = 0; i < N; i++)
		orc[i].id = i;
	for (int op = 0; op < OPS; op++) {
		int i = (int)gsl_rng_uniform_int(rng, N);
		unsigned r = (unsigned)gsl_rng_uniform_int(rng, 10);
		/* Times on a coarse grid: many exact ties. */
		double tt = now + (double)gsl_rng_uniform_int(rng, 5) * 0.25;
		if (r < 4 && !orc[i].live) {
			ck_assert_int_eq(sim_queue_push(&q, (uint32_t)i, tt, &err), MS_OK);
			orc[i] = (oracle_ev){tt, sim_queue_seq(&q, (uint32_t)i), i, 1};
		} else if (r < 6 && orc[i].live) {
			sim_queue_remove(&q, (uint32_t)i);
			orc[i].live = 0;
		} else if (r < 8 && orc[i].live) {
			sim_queue_update(&q, (uint32_t)i, tt);
			orc[i].time = tt;
			orc[i].seq = sim_queue_seq(&q, (uint32_t)i);
		} else {
			int m = oracle_min(orc, N);
			id = sim_queue_pop(&q, &t);
			if (m < 0) {
				ck_assert_uint_eq(id, SIM_NOT_QUEUED);
			} else {
				ck_assert_uint_eq(id, (uint32_t)m);
				ck_assert(t == orc[m].time);
				ck_assert(!sim_queue_contains(&q, id));
				orc[m].live = 0;
				now = orc[m].time;
			}
		}
		if (op % 997 == 0)
			check_queue(&q);
	}
	/* Drain: the rest comes out in oracle order. */
	for (;;) {
		int m = oracle_min(orc, N);
		id = sim_queue_pop(&q, &t);
		if (m < 0) {
			ck_assert_uint_eq(id, SIM_NOT_QUEUED);
			break;
		}
		ck_assert_uint_eq(id, (uint32_t)m);
		orc[m].live = 0;
	}
	sim_queue_fini(&q);
	gsl_rng_free(rng);
}
END_TEST

/*
 * The ladder's tiers against the oracle: 6,000 events under time distributions that
 * exercise each of its paths (exponential holds that fill the top and the rungs, a
 * far-future cluster, bursts inside the current bucket that overflow the bottom,
 * thousands of exact ties that cannot be spread, and a wide uniform spread), with
 * cancels and reschedules throughout, checked at every step against a linear scan.
 */
START_TEST(queue_ladder_matches_oracle)
{
	enum { N = 6000, OPS = 240000, PHASE = OPS / 6 };
	static oracle_ev orc[N];
	sim_queue q;
	ms_error err;
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	double now = 0, t;
	int max_rungs = 0, spread_bottom = 0, pops = 0;
	ms_error_clear(&err);
	gsl_rng_set(rng, 23850);
	ck_assert_int_eq(sim_queue_init(&q, 16, &err), MS_OK);
	for (int i = 0; i < N; i++)
		orc[i] = (oracle_ev){0, 0, i, 0};
	for (int op = 0; op < OPS; op++) {
		int phase = op / PHASE, i = (int)gsl_rng_uniform_int(rng, N);
		unsigned r = (unsigned)gsl_rng_uniform_int(rng, 20);
		double tt;
		switch (phase) {
		case 0: tt = now + gsl_ran_exponential(rng, 2.385); break;
		case 1: tt = gsl_rng_uniform(rng) < 0.3 ? now + 1e6 + gsl_rng_uniform(rng) : now + gsl_rng_uniform(rng); break;
		case 2: tt = now + 1e-7 * gsl_rng_uniform(rng); break;    /* inside the current bucket */
		case 3: tt = now + (gsl_rng_uniform(rng) < 0.8 ? 0.5 : 0.0); break; /* ties */
		case 4: tt = now + 1e3 * gsl_rng_uniform(rng); break;
		default: tt = now + (double)gsl_rng_uniform_int(rng, 7) * 0.125; break;
		}
		if (r < 11) {
			if (!orc[i].live) {
				ck_assert_int_eq(sim_queue_push(&q, (uint32_t)i, tt, &err), MS_OK);
				orc[i] = (oracle_ev){tt, sim_queue_seq(&q, (uint32_t)i), i, 1};
			}
		} else if (r < 12) {
			if (orc[i].live) {
				sim_queue_remove(&q, (uint32_t)i);
				orc[i].live = 0;
			}
		} else if (r < 14) {
			if (!orc[i].live)
				continue;
			sim_queue_update(&q, (uint32_t)i, tt);
			orc[i].time = tt;
			orc[i].seq = sim_queue_seq(&q, (uint32_t)i);
		} else {
			int m = oracle_min(orc, N);
			uint32_t id = sim_queue_pop(&q, &t);
			if (m < 0) {
				ck_assert_uint_eq(id, SIM_NOT_QUEUED);
			} else {
				ck_assert_uint_eq(id, (uint32_t)m);
				ck_assert(t == orc[m].time);
				orc[m].live = 0;
				now = orc[m].time;
				pops++;
			}
		}
		max_rungs = q.nrungs > max_rungs ? q.nrungs : max_rungs;
		if (phase == 2 && q.nrungs > 0 && q.size == 0)
			spread_bottom = 1;
		if (op % 2011 == 0)
			check_queue(&q);
	}
	/* The paths were taken: nested rungs, and the bottom spread during the bursts. */
	ck_assert_int_ge(max_rungs, 2);
	ck_assert(spread_bottom);
	ck_assert_int_gt(pops, OPS / 4);
	check_queue(&q);
	for (;;) {
		int m = oracle_min(orc, N);
		uint32_t id = sim_queue_pop(&q, &t);
		if (m < 0) {
			ck_assert_uint_eq(id, SIM_NOT_QUEUED);
			break;
		}
		ck_assert_uint_eq(id, (uint32_t)m);
		orc[m].live = 0;
	}
	ck_assert_uint_eq(sim_queue_size(&q), 0);
	sim_queue_fini(&q);
	gsl_rng_free(rng);
}
END_TEST

START_TEST(queue_equal_times_fifo)
{
	sim_queue q;
	ms_error err;
	double t;
	ms_error_clear(&err);
	ck_assert_int_eq(sim_queue_init(&q, 16, &err), MS_OK);
	for (uint32_t i = 0; i < 100; i++)
		ck_assert_int_eq(sim_queue_push(&q, i, 2.385, &err), MS_OK);
	/* Moving event 10 to the same time sends it behind all others. */
	sim_queue_update(&q, 10, 2.385);
	for (uint32_t i = 0; i < 100; i++) {
		if (i == 10)
			continue;
		ck_assert_uint_eq(sim_queue_pop(&q, &t), i);
	}
	ck_assert_uint_eq(sim_queue_pop(&q, &t), 10);
	ck_assert_uint_eq(sim_queue_pop(&q, &t), SIM_NOT_QUEUED);
	sim_queue_fini(&q);
}
END_TEST

typedef struct trace_model {
	int order[64];
	int n;
	sim_event *victim;
} trace_model;

static int trace_handler(void *model, sim_engine *eng, sim_event *ev)
{
	trace_model *m = model;
	(void)eng;
	if (m->n < 64)
		m->order[m->n] = ev->a;
	m->n++;
	if (ev->a == 1 && m->victim) {
		sim_cancel(eng, m->victim);
		m->victim = NULL;
	}
	if (ev->a == 2) {
		/* Re-queue the same event: the engine must not free it. */
		ev->a = 20;
		return sim_schedule(eng, ev, sim_now(eng) + 1.0);
	}
	return MS_OK;
}

START_TEST(engine_order_cancel_reschedule)
{
	trace_model m = {{0}, 0, NULL};
	ms_error err;
	sim_engine *eng;
	sim_event *e3, *e4;
	ms_error_clear(&err);
	eng = sim_engine_create(4, trace_handler, &m, &err);
	ck_assert_ptr_nonnull(eng);
	ck_assert_int_eq(sim_schedule_new(eng, 1.0, 0, 1, 0, 0), MS_OK);
	ck_assert_int_eq(sim_schedule_new(eng, 1.0, 0, 2, 0, 0), MS_OK);
	e3 = sim_event_new(eng);
	e3->a = 3;
	ck_assert_int_eq(sim_schedule(eng, e3, 5.0), MS_OK);
	e4 = sim_event_new(eng);
	e4->a = 4;
	ck_assert_int_eq(sim_schedule(eng, e4, 9.0), MS_OK);
	sim_reschedule(eng, e4, 0.5);
	m.victim = e3;
	for (int i = 0; i < 5000; i++) /* more than the first slab: the pool grows */
		ck_assert_int_eq(sim_schedule_new(eng, 100.0 + i, 0, 100 + i, 0, 0), MS_OK);
	ck_assert_int_eq(sim_engine_run(eng, 50.0), MS_OK);
	ck_assert_int_eq(m.n, 4);
	ck_assert_int_eq(m.order[0], 4);
	ck_assert_int_eq(m.order[1], 1);
	ck_assert_int_eq(m.order[2], 2);
	ck_assert_int_eq(m.order[3], 20);
	ck_assert_double_eq(sim_now(eng), 2.0);
	ck_assert_uint_eq(sim_engine_pending(eng), 5000);
	ck_assert_int_eq(sim_engine_run(eng, 1e9), MS_OK);
	ck_assert_int_eq(m.n, 5004);
	ck_assert_uint_eq(sim_engine_events(eng), 5004);
	sim_engine_destroy(eng);
}
END_TEST

Suite *sim_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc = tcase_create("queue");
	tcase_add_test(tc, queue_matches_oracle);
	tcase_add_test(tc, queue_ladder_matches_oracle);
	tcase_add_test(tc, queue_equal_times_fifo);
	tcase_add_test(tc, engine_order_cancel_reschedule);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
