/*
 * check_sim.c - the event queue against a sorted-array oracle (many ties, cancels and
 * reschedules), the heap invariant, and the engine's FIFO order, cancel and pool.
 */
#include <check.h>
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

static void check_heap(const sim_queue *q)
{
	for (size_t i = 0; i < q->size; i++) {
		ck_assert_uint_eq(q->pos[(uint64_t)q->heap[i] & SIM_MAX_ID], i);
		if (i > 0)
			ck_assert(q->heap[(i - 1) / 4] < q->heap[i]);
	}
	for (size_t i = q->size; i < q->capacity + 4; i++)
		ck_assert(q->heap[i] == ~(sim_queue_entry)0);
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
		ck_assert_uint_eq(sim_queue_size(&q), (size_t)0 + (size_t)q.size);
		if (op % 997 == 0)
			check_heap(&q);
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
	tcase_add_test(tc, queue_equal_times_fifo);
	tcase_add_test(tc, engine_order_cancel_reschedule);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}
