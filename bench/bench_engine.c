/*
 * bench_engine.c - the classic hold model (Vaucher and Duval 1975; Jones 1986): keep n
 * events pending; repeatedly pop the earliest and schedule a new one at now + an
 * exponential increment. Measures the engine's event rate (pop + handler + push)
 * with 10^3 .. 10^6 pending events. Increments are drawn beforehand so the number
 * measures the queue, not the random generator.
 * Target (docs/benchmarks.md): >= 20 M events/s with 10^5 pending. Rates are per
 * CPU-second of this process.
 */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim/sim_engine.h"

#define NINC (1u << 20)

typedef struct hold {
	double *inc;
	uint32_t i;
	uint64_t left;
} hold;

static int hold_handler(void *model, sim_engine *eng, sim_event *ev)
{
	hold *h = model;
	if (h->left == 0)
		return MS_OK;
	h->left--;
	/* Re-queue the same event: no pool traffic, as a long-lived model entity would. */
	return sim_schedule(eng, ev, sim_now(eng) + h->inc[h->i++ & (NINC - 1)]);
}

/* Process CPU time, not wall time: on a shared machine a single-threaded benchmark's
 * wall time mostly measures the other processes. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void)
{
	static const size_t sizes[] = {1000, 10000, 100000, 1000000};
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	hold h;
	h.inc = malloc(NINC * sizeof *h.inc);
	if (!h.inc || !rng)
		return 1;
	gsl_rng_set(rng, 2385);
	for (uint32_t i = 0; i < NINC; i++)
		h.inc[i] = gsl_ran_exponential(rng, 1.0);
	printf("hold model: pending events, events per CPU-second (best of 3)\n");
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		size_t n = sizes[si];
		uint64_t ops = n * 20 > 20000000 ? n * 20 : 20000000;
		double best = 0;
		for (int rep = 0; rep < 3; rep++) {
			ms_error err;
			sim_engine *eng;
			double t0, t1, rate;
			ms_error_clear(&err);
			eng = sim_engine_create(n, hold_handler, &h, &err);
			if (!eng) {
				fprintf(stderr, "bench: %s\n", err.msg);
				return 1;
			}
			h.i = 0;
			for (size_t i = 0; i < n; i++)
				sim_schedule_new(eng, h.inc[h.i++ & (NINC - 1)], 0, 0, 0, 0);
			/* Warm up so the queue reaches its steady-state shape. */
			h.left = n * 2;
			sim_engine_run(eng, 1e300);
			/* sim_engine_run drains the queue; refill and time the steady state. */
			for (size_t i = 0; i < n; i++)
				sim_schedule_new(eng, sim_now(eng) + h.inc[h.i++ & (NINC - 1)], 0, 0, 0, 0);
			h.left = ops;
			t0 = now_s();
			sim_engine_run(eng, 1e300);
			t1 = now_s();
			rate = (double)(ops + n) / (t1 - t0);
			if (rate > best)
				best = rate;
			sim_engine_destroy(eng);
		}
		printf("  %8zu pending  %7.2f M events/s\n", n, best / 1e6);
	}
	printf("hold model on the bare queue (pop + push, no engine): pending events, ops per CPU-second\n");
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		size_t n = sizes[si];
		uint64_t ops = 20000000;
		double best = 0;
		for (int rep = 0; rep < 3; rep++) {
			sim_queue q;
			ms_error err;
			double t0, t1, now = 0, tt;
			uint32_t i32 = 0;
			ms_error_clear(&err);
			if (sim_queue_init(&q, n, &err) < 0)
				return 1;
			for (size_t i = 0; i < n; i++)
				sim_queue_push(&q, (uint32_t)i, h.inc[i32++ & (NINC - 1)], &err);
			t0 = now_s();
			for (uint64_t k = 0; k < ops; k++) {
				uint32_t id = sim_queue_pop(&q, &tt);
				now = tt;
				sim_queue_push(&q, id, now + h.inc[i32++ & (NINC - 1)], &err);
			}
			t1 = now_s();
			if ((double)ops / (t1 - t0) > best)
				best = (double)ops / (t1 - t0);
			sim_queue_fini(&q);
		}
		printf("  %8zu pending  %7.2f M ops/s\n", n, best / 1e6);
	}
	free(h.inc);
	gsl_rng_free(rng);
	return 0;
}
