/*
 * check_network.c - the flow model against closed forms (N flows on a link,
 * processor sharing, latency before bandwidth, parking lot, dumbbell, weighted
 * split), against a naive from-scratch max-min oracle and the bottleneck definition
 * on random static cases and random dynamic ones (starts, latencies, finishes), the
 * solver's re-solved set against a brute-force re-solve after every change, and the
 * all-to-all algorithms against times worked out by hand.
 */
#include <check.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "network/net_bins.h"
#include "network/net_coll.h"
#include "network/net_reduce.h"
#include "network/net_maxmin.h"
#include "network/net_model.h"
#include "test_util.h"
#include "topology/topo_graph.h"

#define MAXL 6   /* links per flow in random cases */
#define MAXF 12
#define MAXLINKS 8

typedef struct rflow {
	int n;
	int link[MAXL];
	double w[MAXL];
	double start, latency, bytes;
} rflow;

static net_model *links_model(int n, const double *cap)
{
	ms_error err;
	net_model *m;
	ms_error_clear(&err);
	m = net_model_create_links(n, cap, &err);
	ck_assert_ptr_nonnull(m);
	return m;
}

static int add_rflow(net_model *m, const rflow *f, uint64_t tag)
{
	ms_error err;
	int lk[MAXL];
	double w[MAXL];
	topo_route rt;
	memcpy(lk, f->link, sizeof lk);
	memcpy(w, f->w, sizeof w);
	rt.n = f->n;
	rt.cap = MAXL;
	rt.link = lk;
	rt.weight = w;
	rt.latency_s = f->latency;
	rt.hops = f->n;
	ms_error_clear(&err);
	{
		int id = net_model_add_route(m, f->start, f->start, &rt, f->bytes, tag, &err);
		ck_assert_msg(id >= 0, "%s", err.msg);
		return id;
	}
}

/* done callback: records finishing times by tag. */
static void record(void *ctx, double t, uint64_t tag)
{
	((double *)ctx)[tag] = t;
}

static void run_all(net_model *m, double *fin)
{
	ms_error err;
	ms_error_clear(&err);
	ck_assert(net_model_advance(m, INFINITY, record, fin, &err) >= 0);
	ck_assert_int_eq((int)net_model_flows(m), 0);
}

/* ---- closed forms ------------------------------------------------------------------ */

START_TEST(n_flows_one_link)
{
	double cap = 2.385e9, fin[7];
	net_model *m = links_model(1, &cap);
	rflow f = {1, {0}, {1}, 0, 0, 1.5e9};
	int ids[7];
	ms_error err;
	ms_error_clear(&err);
	for (int i = 0; i < 7; i++)
		ids[i] = add_rflow(m, &f, (uint64_t)i);
	ck_assert_int_eq(net_model_advance(m, 0, NULL, NULL, &err), 0);
	for (int i = 0; i < 7; i++)
		ck_assert(tu_rel(net_model_rate(m, ids[i]), cap / 7) < 1e-12);
	run_all(m, fin);
	for (int i = 0; i < 7; i++)
		ck_assert(tu_rel(fin[i], 7 * 1.5e9 / cap) < 1e-12);
	net_model_destroy(m);
}
END_TEST

START_TEST(processor_sharing)
{
	/* 1, 2 and 3 GB on a 1 GB/s link: C/3 each until 3 s, C/2 until 5 s, then C. */
	double cap = 1e9, fin[3];
	net_model *m = links_model(1, &cap);
	for (int i = 0; i < 3; i++) {
		rflow f = {1, {0}, {1}, 0, 0, (i + 1) * 1e9};
		add_rflow(m, &f, (uint64_t)i);
	}
	run_all(m, fin);
	ck_assert(tu_rel(fin[0], 3.0) < 1e-12);
	ck_assert(tu_rel(fin[1], 5.0) < 1e-12);
	ck_assert(tu_rel(fin[2], 6.0) < 1e-12);
	net_model_destroy(m);
}
END_TEST

START_TEST(latency_before_bandwidth)
{
	/* A: 1 GB, no latency. B: 0.3 GB, 0.4 s of latency: A alone until 0.4 s (0.4 GB),
	 * both at 0.5 GB/s until B is done at 1.0 s, A's last 0.3 GB alone: 1.3 s. */
	double cap = 1e9, fin[2];
	net_model *m = links_model(1, &cap);
	rflow a = {1, {0}, {1}, 0, 0, 1e9}, b = {1, {0}, {1}, 0, 0.4, 0.3e9};
	add_rflow(m, &a, 0);
	add_rflow(m, &b, 1);
	ck_assert(net_model_next_time(m) == 0);
	run_all(m, fin);
	ck_assert(tu_rel(fin[1], 1.0) < 1e-12);
	ck_assert(tu_rel(fin[0], 1.3) < 1e-12);
	net_model_destroy(m);
	/* Alone: latency then bytes / capacity. */
	m = links_model(1, &cap);
	b.start = 0.25;
	add_rflow(m, &b, 0);
	ck_assert(tu_rel(net_model_next_time(m), 0.65) < 1e-15);
	run_all(m, fin);
	ck_assert(tu_rel(fin[0], 0.25 + 0.4 + 0.3) < 1e-12);
	net_model_destroy(m);
}
END_TEST

START_TEST(parking_lot)
{
	/* Links of 10, 6, 8; a long flow over all three and one short flow per link.
	 * Link 1 saturates first at 3 (long, short1); then short0 gets 10 - 3 = 7 and
	 * short2 gets 8 - 3 = 5. */
	double cap[3] = {10, 6, 8};
	net_model *m = links_model(3, cap);
	rflow lng = {3, {0, 1, 2}, {1, 1, 1}, 0, 0, 1e6};
	int id[4];
	ms_error err;
	ms_error_clear(&err);
	id[0] = add_rflow(m, &lng, 0);
	for (int i = 0; i < 3; i++) {
		rflow s = {1, {i}, {1}, 0, 0, 1e6};
		id[i + 1] = add_rflow(m, &s, (uint64_t)i + 1);
	}
	net_model_advance(m, 0, NULL, NULL, &err);
	ck_assert(tu_rel(net_model_rate(m, id[0]), 3) < 1e-12);
	ck_assert(tu_rel(net_model_rate(m, id[1]), 7) < 1e-12);
	ck_assert(tu_rel(net_model_rate(m, id[2]), 3) < 1e-12);
	ck_assert(tu_rel(net_model_rate(m, id[3]), 5) < 1e-12);
	net_model_destroy(m);
}
END_TEST

START_TEST(dumbbell)
{
	/* Access links of 1, 5, 10 into a middle link of 9: flow 0 is held to 1 by its
	 * access link, the other two share the remaining 8. */
	double cap[4] = {1, 5, 10, 9};
	net_model *m = links_model(4, cap);
	int id[3];
	ms_error err;
	ms_error_clear(&err);
	for (int i = 0; i < 3; i++) {
		rflow f = {2, {i, 3}, {1, 1}, 0, 0, 1e6};
		id[i] = add_rflow(m, &f, (uint64_t)i);
	}
	net_model_advance(m, 0, NULL, NULL, &err);
	ck_assert(tu_rel(net_model_rate(m, id[0]), 1) < 1e-12);
	ck_assert(tu_rel(net_model_rate(m, id[1]), 4) < 1e-12);
	ck_assert(tu_rel(net_model_rate(m, id[2]), 4) < 1e-12);
	net_model_destroy(m);
}
END_TEST

START_TEST(weighted_split)
{
	/* Flow 0 split half and half over links 0 and 1 (capacity 1 each); flow 1 on
	 * link 0: 0.5 x0 + x1 <= 1 saturates at x = 2/3 for both. */
	double cap[2] = {1, 1};
	net_model *m = links_model(2, cap);
	rflow a = {2, {0, 1}, {0.5, 0.5}, 0, 0, 1e3}, b = {1, {0}, {1}, 0, 0, 1e3};
	int ia, ib;
	ms_error err;
	ms_error_clear(&err);
	ia = add_rflow(m, &a, 0);
	ib = add_rflow(m, &b, 1);
	net_model_advance(m, 0, NULL, NULL, &err);
	ck_assert(tu_rel(net_model_rate(m, ia), 2.0 / 3) < 1e-12);
	ck_assert(tu_rel(net_model_rate(m, ib), 2.0 / 3) < 1e-12);
	ck_assert(tu_rel(net_model_link_bytes(m)[1], 500) < 1e-12);
	net_model_destroy(m);
}
END_TEST

typedef struct chain {
	net_model *m;
	int left;
	double bytes;
} chain;

static void chain_next(void *ctx, double t, uint64_t tag)
{
	chain *c = ctx;
	ms_error err;
	double lat = 0;
	int lk = 0;
	double w = 1;
	topo_route rt = {1, 1, &lk, &w, lat, 1};
	(void)tag;
	ms_error_clear(&err);
	if (c->left-- > 0)
		ck_assert(net_model_add_route(c->m, t, t, &rt, c->bytes, 0, &err) >= 0);
}

START_TEST(callbacks_start_flows)
{
	/* The engine pattern: each finished flow starts the next at its finishing time. */
	double cap = 2.385e9;
	chain c;
	rflow f = {1, {0}, {1}, 0, 0, 1e9};
	ms_error err;
	c.m = links_model(1, &cap);
	c.left = 4;
	c.bytes = 1e9;
	add_rflow(c.m, &f, 0);
	ms_error_clear(&err);
	while (isfinite(net_model_next_time(c.m))) {
		double t = net_model_next_time(c.m);
		ck_assert(net_model_advance(c.m, t, chain_next, &c, &err) >= 0);
		ck_assert(net_model_now(c.m) == t);
	}
	ck_assert(tu_rel(net_model_now(c.m), 5e9 / cap) < 1e-12);
	net_model_destroy(c.m);
}
END_TEST

START_TEST(components_are_independent)
{
	/* Flows on links {0, 1} finish at the same times whether or not flows on the
	 * disjoint links {2, 3} come and go meanwhile. */
	double cap[4] = {3.1, 1.7, 2.2, 0.9}, alone[6], both[12];
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	rflow fl[12];
	net_model *m;
	gsl_rng_set(r, 2385);
	for (int i = 0; i < 12; i++) {
		int base = i < 6 ? 0 : 2;
		fl[i] = (rflow){1 + (int)gsl_rng_uniform_int(r, 2), {base, base + 1}, {1, 1},
				gsl_rng_uniform(r) * 3, gsl_rng_uniform(r) * 0.2, 0.5 + gsl_rng_uniform(r) * 4};
		if (fl[i].n == 1)
			fl[i].link[0] = base + (int)gsl_rng_uniform_int(r, 2);
	}
	m = links_model(4, cap);
	for (int i = 0; i < 6; i++)
		add_rflow(m, &fl[i], (uint64_t)i);
	run_all(m, alone);
	net_model_destroy(m);
	m = links_model(4, cap);
	for (int i = 0; i < 12; i++)
		add_rflow(m, &fl[i], (uint64_t)i);
	run_all(m, both);
	for (int i = 0; i < 6; i++)
		ck_assert_msg(tu_rel(alone[i], both[i]) < 1e-12, "flow %d: %.17g alone, %.17g with others", i, alone[i],
			      both[i]);
	net_model_destroy(m);
	gsl_rng_free(r);
}
END_TEST

/* ---- the oracle ---------------------------------------------------------------------- */

/* Progressive filling from scratch, O(F x L) per level, no cleverness. */
static void naive_maxmin(int nf, const rflow *f, const int *active, int nl, const double *cap, double *rate)
{
	double resid[MAXLINKS];
	int frozen[MAXF];
	memcpy(resid, cap, (size_t)nl * sizeof(double));
	for (int i = 0; i < nf; i++) {
		frozen[i] = !active[i];
		rate[i] = 0;
	}
	for (;;) {
		double best = INFINITY, share[MAXLINKS];
		for (int l = 0; l < nl; l++) {
			double w = 0;
			for (int i = 0; i < nf; i++)
				for (int k = 0; k < f[i].n; k++)
					if (!frozen[i] && f[i].link[k] == l)
						w += f[i].w[k];
			share[l] = w > 0 ? resid[l] / w : INFINITY;
			if (share[l] < best)
				best = share[l];
		}
		if (!isfinite(best))
			break;
		for (int i = 0; i < nf; i++) {
			int hit = 0;
			if (frozen[i])
				continue;
			for (int k = 0; k < f[i].n; k++)
				hit |= share[f[i].link[k]] <= best * (1 + 1e-13);
			if (!hit)
				continue;
			frozen[i] = 1;
			rate[i] = best;
		}
		for (int l = 0; l < nl; l++)
			resid[l] = cap[l];
		for (int i = 0; i < nf; i++)
			if (frozen[i] && active[i])
				for (int k = 0; k < f[i].n; k++)
					resid[f[i].link[k]] -= f[i].w[k] * rate[i];
	}
}

/* The definition: feasible, and every flow has a saturated link where no flow gets more. */
static void check_bottlenecks(int nf, const rflow *f, const int *active, int nl, const double *cap,
			      const double *rate)
{
	double load[MAXLINKS] = {0}, maxr[MAXLINKS] = {0};
	for (int i = 0; i < nf; i++)
		if (active[i])
			for (int k = 0; k < f[i].n; k++) {
				load[f[i].link[k]] += f[i].w[k] * rate[i];
				if (rate[i] > maxr[f[i].link[k]])
					maxr[f[i].link[k]] = rate[i];
			}
	for (int l = 0; l < nl; l++)
		ck_assert_msg(load[l] <= cap[l] * (1 + 1e-9), "link %d carries %g > %g", l, load[l], cap[l]);
	for (int i = 0; i < nf; i++) {
		int ok = 0;
		if (!active[i])
			continue;
		for (int k = 0; k < f[i].n; k++) {
			int l = f[i].link[k];
			ok |= load[l] >= cap[l] * (1 - 1e-9) && rate[i] >= maxr[l] * (1 - 1e-9);
		}
		ck_assert_msg(ok, "flow %d (rate %g) has no bottleneck", i, rate[i]);
	}
}

static void random_case(gsl_rng *r, int *nf, rflow *f, int *nl, double *cap, int weighted)
{
	*nl = 2 + (int)gsl_rng_uniform_int(r, MAXLINKS - 1);
	*nf = 1 + (int)gsl_rng_uniform_int(r, MAXF);
	for (int l = 0; l < *nl; l++)
		cap[l] = 0.5 + gsl_rng_uniform(r) * 9.5;
	for (int i = 0; i < *nf; i++) {
		int want = 1 + (int)gsl_rng_uniform_int(r, (unsigned long)(*nl < 4 ? *nl : 4));
		f[i].n = 0;
		while (f[i].n < want) {
			int l = (int)gsl_rng_uniform_int(r, (unsigned long)*nl), dup = 0;
			for (int k = 0; k < f[i].n; k++)
				dup |= f[i].link[k] == l;
			if (dup)
				continue;
			f[i].link[f[i].n] = l;
			f[i].w[f[i].n] = weighted ? 0.1 + 0.9 * gsl_rng_uniform(r) : 1.0;
			f[i].n++;
		}
		f[i].start = gsl_rng_uniform(r) * 4;
		f[i].latency = gsl_rng_uniform_int(r, 3) == 0 ? 0 : gsl_rng_uniform(r) * 0.5;
		f[i].bytes = gsl_rng_uniform_int(r, 8) == 0 ? 0 : 0.2 + gsl_rng_uniform(r) * 10;
	}
}

START_TEST(static_matches_oracle)
{
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	gsl_rng_set(r, 2385);
	for (int c = 0; c < 600; c++) {
		int nf, nl, active[MAXF], id[MAXF];
		rflow f[MAXF];
		double cap[MAXLINKS], want[MAXF], got[MAXF];
		net_model *m;
		ms_error err;
		random_case(r, &nf, f, &nl, cap, c % 2);
		m = links_model(nl, cap);
		for (int i = 0; i < nf; i++) {
			f[i].start = f[i].latency = 0;
			f[i].bytes = 1e9;
			active[i] = 1;
			id[i] = add_rflow(m, &f[i], (uint64_t)i);
		}
		ms_error_clear(&err);
		net_model_advance(m, 0, NULL, NULL, &err);
		for (int i = 0; i < nf; i++)
			got[i] = net_model_rate(m, id[i]);
		naive_maxmin(nf, f, active, nl, cap, want);
		check_bottlenecks(nf, f, active, nl, cap, got);
		for (int i = 0; i < nf; i++)
			ck_assert_msg(tu_rel(got[i], want[i]) < 1e-9, "case %d flow %d: %.17g, oracle %.17g", c, i, got[i],
				      want[i]);
		net_model_destroy(m);
	}
	gsl_rng_free(r);
}
END_TEST

/* Event-by-event simulation with the naive solver re-run from scratch at every event. */
static void naive_run(int nf, const rflow *f, int nl, const double *cap, double *fin)
{
	double rem[MAXF], rate[MAXF], t = 0;
	int active[MAXF], state[MAXF]; /* 0 waiting, 1 active, 2 done */
	for (int i = 0; i < nf; i++) {
		rem[i] = f[i].bytes;
		state[i] = 0;
		active[i] = 0;
	}
	for (;;) {
		double next = INFINITY;
		int left = 0;
		naive_maxmin(nf, f, active, nl, cap, rate);
		for (int i = 0; i < nf; i++) {
			if (state[i] == 0 && f[i].start + f[i].latency < next)
				next = f[i].start + f[i].latency;
			if (state[i] == 1 && t + rem[i] / rate[i] < next)
				next = t + rem[i] / rate[i];
			left += state[i] != 2;
		}
		if (!left)
			break;
		for (int i = 0; i < nf; i++)
			if (state[i] == 1)
				rem[i] -= rate[i] * (next - t);
		t = next;
		for (int i = 0; i < nf; i++) {
			if (state[i] == 0 && f[i].start + f[i].latency <= t * (1 + 1e-12)) {
				state[i] = 1;
				active[i] = 1;
			}
			if (state[i] == 1 && (rem[i] <= 1e-9 * f[i].bytes || f[i].n == 0)) {
				state[i] = 2;
				active[i] = 0;
				fin[i] = t;
			}
		}
	}
}

START_TEST(dynamic_matches_oracle)
{
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	gsl_rng_set(r, 4711);
	for (int c = 0; c < 400; c++) {
		int nf, nl;
		rflow f[MAXF];
		double cap[MAXLINKS], want[MAXF], got[MAXF];
		net_model *m;
		random_case(r, &nf, f, &nl, cap, c % 3 == 0);
		/* Add flows in start order, advancing to each start first, as an engine would. */
		{
			int order[MAXF];
			ms_error err;
			for (int i = 0; i < nf; i++)
				order[i] = i;
			for (int i = 1; i < nf; i++)
				for (int j = i; j > 0 && f[order[j]].start < f[order[j - 1]].start; j--) {
					int t = order[j];
					order[j] = order[j - 1];
					order[j - 1] = t;
				}
			m = links_model(nl, cap);
			ms_error_clear(&err);
			for (int i = 0; i < nf; i++) {
				net_model_advance(m, f[order[i]].start, record, got, &err);
				add_rflow(m, &f[order[i]], (uint64_t)order[i]);
			}
			run_all(m, got);
		}
		naive_run(nf, f, nl, cap, want);
		for (int i = 0; i < nf; i++)
			ck_assert_msg(tu_rel(got[i], want[i]) < 1e-8, "case %d flow %d: finished at %.17g, oracle %.17g", c,
				      i, got[i], want[i]);
		net_model_destroy(m);
	}
	gsl_rng_free(r);
}
END_TEST

/* ---- the solver alone ---------------------------------------------------------------- */

/*
 * net_maxmin's "re-solved" set against a brute-force re-solve from scratch, the way
 * the flow layer drives it: on random instances (fixed seed; a quarter with one link
 * that is not a constraint), variables join and leave a few at a time, each at most
 * once between solves, and one that left is given back and initialised again before
 * it rejoins (as a reused flow id is). After every solve: every variable in the
 * sharing has the brute-force rate; one outside the set kept its rate bit for bit;
 * every variable whose brute-force rate moved, and every one that just joined, is in
 * the set; the set names only variables in the sharing, each once.
 */
START_TEST(solver_changed_set_matches_resolve)
{
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	long moved = 0, kept = 0;
	gsl_rng_set(r, 90125);
	for (int c = 0; c < 500; c++) {
		int nf, nl, active[MAXF] = {0}, ninc[MAXF];
		rflow f[MAXF];
		double cap[MAXLINKS], prev[MAXF] = {0}, want[MAXF];
		const int *ids;
		net_maxmin *s;
		ms_error err;
		ms_error_clear(&err);
		random_case(r, &nf, f, &nl, cap, c % 2);
		if (c % 4 == 3)
			cap[gsl_rng_uniform_int(r, (unsigned long)nl)] = INFINITY;
		s = net_maxmin_create(nl, &err);
		ck_assert_ptr_nonnull(s);
		for (int l = 0; l < nl; l++)
			net_maxmin_set_capacity(s, l, cap[l]);
		for (int i = 0; i < nf; i++) {
			int finite = 0;
			for (int k = 0; k < f[i].n; k++)
				finite += isfinite(cap[f[i].link[k]]);
			ninc[i] = net_maxmin_var_init(s, i, f[i].link, f[i].w, f[i].n, &err);
			ck_assert_int_eq(ninc[i], finite);
		}
		for (int step = 0; step < 4 * nf; step++) {
			int toggled[MAXF] = {0}, joined[MAXF] = {0}, inset[MAXF] = {0}, n;
			for (int j = 1 + (int)gsl_rng_uniform_int(r, 3); j > 0; j--) {
				int i = (int)gsl_rng_uniform_int(r, (unsigned long)nf);
				if (toggled[i] || ninc[i] == 0)
					continue;
				toggled[i] = 1;
				if (active[i]) {
					ck_assert_int_eq(net_maxmin_var_leave(s, i, &err), MS_OK);
					net_maxmin_var_fini(s, i);
					ck_assert_int_eq(net_maxmin_var_init(s, i, f[i].link, f[i].w, f[i].n, &err), ninc[i]);
					active[i] = 0;
				} else {
					ck_assert_int_eq(net_maxmin_var_join(s, i, &err), MS_OK);
					active[i] = joined[i] = 1;
				}
			}
			n = net_maxmin_solve(s, &ids, &err);
			ck_assert_int_ge(n, 0);
			for (int k = 0; k < n; k++) {
				ck_assert_msg(ids[k] >= 0 && ids[k] < nf && active[ids[k]] && !inset[ids[k]],
					      "case %d step %d: re-solved variable %d is not in the sharing or named twice", c,
					      step, ids[k]);
				inset[ids[k]] = 1;
			}
			naive_maxmin(nf, f, active, nl, cap, want);
			for (int i = 0; i < nf; i++) {
				double got;
				if (!active[i])
					continue;
				got = net_maxmin_var_rate(s, i);
				ck_assert_msg(tu_rel(got, want[i]) < 1e-9, "case %d step %d var %d: %.17g, oracle %.17g", c,
					      step, i, got, want[i]);
				ck_assert_msg(inset[i] || !joined[i], "case %d step %d: var %d joined but was not solved", c,
					      step, i);
				ck_assert_msg(inset[i] || tu_rel(want[i], prev[i]) < 1e-9,
					      "case %d step %d: var %d moved %.17g -> %.17g outside the set", c, step, i,
					      prev[i], want[i]);
				ck_assert_msg(inset[i] || got == prev[i], "case %d step %d: var %d changed outside the set", c,
					      step, i);
				if (!joined[i]) {
					moved += inset[i];
					kept += !inset[i];
				}
				prev[i] = got;
			}
		}
		for (int i = 0; i < nf; i++)
			if (active[i])
				ck_assert_int_eq(net_maxmin_var_leave(s, i, &err), MS_OK);
		/* Nothing is left in the sharing: the last solve re-solves nothing. */
		ck_assert_int_eq(net_maxmin_solve(s, &ids, &err), 0);
		net_maxmin_destroy(s);
	}
	/* Both sides of the contract were exercised. */
	ck_assert_msg(moved > 1000 && kept > 1000, "%ld re-solved, %ld kept", moved, kept);
	gsl_rng_free(r);
}
END_TEST

/* ---- collectives on topologies --------------------------------------------------------- */

static topo_graph *small_switch_nvl(int nodes, int gpn, int domain, double nic_lat, double link_lat, double nvl_Bps)
{
	topo_spec s;
	ms_error err;
	topo_graph *g;
	memset(&s, 0, sizeof s);
	s.shape = TOPO_SINGLE_SWITCH;
	s.nodes = nodes;
	s.gpus_per_node = gpn;
	s.nvlink_domain = domain;
	s.nics_per_node = gpn;
	s.nvlink_Bps = nvl_Bps;
	s.nvlink_latency_s = 2e-6;
	s.nic_Bps = 50e9;
	s.nic_latency_s = nic_lat;
	s.link_latency_s = link_lat;
	ms_error_clear(&err);
	g = topo_graph_create(&s, NULL, &err);
	ck_assert_msg(g != NULL, "%s", err.msg);
	return g;
}

static topo_graph *small_switch(int nodes, int gpn, int domain, double nic_lat, double link_lat)
{
	return small_switch_nvl(nodes, gpn, domain, nic_lat, link_lat, 100e9);
}

static double a2a_p(topo_graph *g, net_a2a_algo algo, const net_coll_params *p, int n, const double *bytes,
		    const double *dbytes, net_a2a_result *res)
{
	ms_error err;
	net_model *m;
	int ranks[64];
	ms_error_clear(&err);
	m = net_model_create(g, TOPO_ECMP_HASH, 1, &err);
	ck_assert_ptr_nonnull(m);
	for (int i = 0; i < n; i++)
		ranks[i] = i;
	ck_assert_int_eq(net_a2a_time_params(m, algo, p, ranks, n, bytes, dbytes, res, &err), 0);
	net_model_destroy(m);
	return res->time_s;
}

static double a2a(topo_graph *g, net_a2a_algo algo, int n, const double *bytes, const double *dbytes,
		  net_a2a_result *res)
{
	return a2a_p(g, algo, NULL, n, bytes, dbytes, res);
}

START_TEST(flat_uniform)
{
	/* 2 nodes x 4 GPUs, b = 1e8 per pair. NVLink: 3 flows per port at 100 GB/s / 3:
	 * 2 us + 3 ms. Network: 4 flows per NIC at 50 GB/s / 4, route latency 2 + 1 + 1 +
	 * 2 us: 8 ms + 6 us. */
	topo_graph *g = small_switch(2, 4, 4, 4e-6, 1e-6);
	double b[64];
	net_a2a_result res;
	for (int i = 0; i < 64; i++)
		b[i] = 1e8;
	ck_assert(tu_rel(a2a(g, NET_A2A_FLAT, 8, b, NULL, &res), 8e-3 + 6e-6) < 1e-12);
	ck_assert_int_eq(res.flows, 56);
	ck_assert(tu_rel(res.class_bytes[HW_LINK_NVLINK], 8 * 3 * 1e8 * 2) < 1e-12);
	ck_assert(tu_rel(res.class_bytes[HW_LINK_NIC], 8 * 4 * 1e8 * 2) < 1e-12);
	ck_assert(tu_rel(res.class_max_bytes[HW_LINK_NIC], 4e8) < 1e-12);
	/* NIC links are busy all along but for the latency. */
	ck_assert_int_gt(res.n_hot, 0);
	ck_assert_int_eq(g->links[res.hot[0].link].cls, HW_LINK_NIC);
	ck_assert(tu_rel(res.hot[0].utilisation, 8e-3 / (8e-3 + 6e-6)) < 1e-9);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(pairwise_stages)
{
	/* 4 GPUs, each alone in its NVLink domain, one switch: every stage is one flow per
	 * NIC each way, 2 ms + 6 us, and 3 stages. */
	topo_graph *g = small_switch(1, 4, 1, 4e-6, 1e-6);
	double b[16];
	net_a2a_result res;
	for (int i = 0; i < 16; i++)
		b[i] = 1e8;
	ck_assert(tu_rel(a2a(g, NET_A2A_PAIRWISE, 4, b, NULL, &res), 3 * (2e-3 + 6e-6)) < 1e-12);
	topo_graph_destroy(g);
	/* 3 GPUs, no latency, t = b / C = 2 ms; 0 -> 1 carries 3b. Stage 1: member 2 is done
	 * at t, members 0 and 1 at 3t; stage 2 (0 -> 2, 1 -> 0, 2 -> 1) waits for them: 4t.
	 * Flat: every flow at C/2 until the b flows finish at 2t, then 0 -> 1's last 2b
	 * alone: 4t as well (NIC 0 sends 4b). */
	g = small_switch(1, 3, 1, 0, 0);
	for (int i = 0; i < 9; i++)
		b[i] = 1e8;
	b[0 * 3 + 1] = 3e8;
	ck_assert(tu_rel(a2a(g, NET_A2A_PAIRWISE, 3, b, NULL, &res), 4 * 2e-3) < 1e-12);
	ck_assert(tu_rel(a2a(g, NET_A2A_FLAT, 3, b, NULL, &res), 4 * 2e-3) < 1e-12);
	/* A pair with 0 bytes still synchronises: a zero-latency 0-byte flow. */
	b[0 * 3 + 1] = 0;
	ck_assert(tu_rel(a2a(g, NET_A2A_PAIRWISE, 3, b, NULL, &res), 2 * 2e-3) < 1e-12);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(hierarchical_relay)
{
	/* One chunk per leg is store-and-forward. 2 nodes x 2 GPUs, no network latency,
	 * b = 1e8 per pair. Member 0 sends 2b to relay GPU 2 over the network (4 ms at 50
	 * GB/s), then GPU 2 forwards b to GPU 3 over NVLink (2 us + 1 ms at 100 GB/s). With
	 * per-domain bytes of 1.5b (tokens shared by both GPUs of the node counted once):
	 * 3 ms, then the same forwarding. */
	topo_graph *g = small_switch(2, 2, 2, 0, 0);
	double b[16], db[8];
	net_a2a_result res;
	net_coll_params p;
	net_coll_params_default(&p);
	p.relay_chunk_bytes = 1e12;
	for (int i = 0; i < 16; i++)
		b[i] = 1e8;
	for (int i = 0; i < 8; i++)
		db[i] = 1.5e8;
	ck_assert(tu_rel(a2a_p(g, NET_A2A_HIERARCHICAL, &p, 4, b, NULL, &res), 5e-3 + 2e-6) < 1e-12);
	/* Network: 4 legs of 2b, each over NIC up and NIC down. */
	ck_assert(tu_rel(res.class_bytes[HW_LINK_NIC], 4 * 2e8 * 2) < 1e-12);
	ck_assert_int_eq(res.flows, 4 /* direct */ + 4 /* legs */ + 4 /* fan-out */);
	ck_assert(tu_rel(a2a_p(g, NET_A2A_HIERARCHICAL, &p, 4, b, db, &res), 4e-3 + 2e-6) < 1e-12);
	ck_assert(tu_rel(res.class_bytes[HW_LINK_NIC], 4 * 1.5e8 * 2) < 1e-12);
	/* Flat: each NIC carries 2 flows of b each way: 4 ms. */
	ck_assert(tu_rel(a2a(g, NET_A2A_FLAT, 4, b, NULL, &res), 4e-3) < 1e-12);
	/* Default chunks (8 per leg here, the cap): the forwarding overlaps the network leg. */
	ck_assert(a2a(g, NET_A2A_HIERARCHICAL, 4, b, NULL, &res) < 4.5e-3);
	ck_assert(tu_rel(res.class_bytes[HW_LINK_NIC], 4 * 2e8 * 2) < 1e-12);
	ck_assert_int_eq(res.flows, 4 + 4 * 8 + 4 * 8);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(hierarchical_pipelined_two_legs)
{
	/* Member 0 sends X = 2.9e8 bytes to GPU 3, relayed by GPU 2 (node 1, same
	 * position), in 29 chunks of 1e7; no network latency, NVLink 2 us.
	 * Network faster to fill than NVLink drains? Case 1, NIC 50 GB/s, NVLink 100: the
	 * network leg takes X / 50e9 = 5.8 ms, a forward of a chunk 2 us + 0.1 ms, done before
	 * the next chunk lands (0.2 ms later), so the last forward ends at 5.8 ms + 2 us +
	 * 0.1 ms, not 5.8 + 2.9 ms + 2 us as store-and-forward would.
	 * Case 2, NVLink 20 GB/s: chunk 0 lands at 0.2 ms, forwards take 0.5 ms each and
	 * follow back to back (only the first pays 2 us): 0.2 ms + 2 us + 14.5 ms, instead
	 * of 5.8 + 14.5 ms + 2 us. Both: max(leg) + one chunk on the other leg + latency. */
	double b[16] = {0}, X = 2.9e8;
	net_a2a_result res;
	net_coll_params p;
	topo_graph *g = small_switch(2, 2, 2, 0, 0);
	net_coll_params_default(&p);
	p.relay_chunk_bytes = 1e7;
	p.relay_max_chunks = 1000;
	b[0 * 4 + 3] = X;
	ck_assert(tu_rel(a2a_p(g, NET_A2A_HIERARCHICAL, &p, 4, b, NULL, &res), 5.8e-3 + 2e-6 + 1e-4) < 1e-12);
	ck_assert_int_eq(res.flows, 29 + 29);
	ck_assert(tu_rel(res.class_bytes[HW_LINK_NIC], 2 * X) < 1e-12);
	ck_assert(tu_rel(res.class_bytes[HW_LINK_NVLINK], 2 * X) < 1e-12);
	topo_graph_destroy(g);
	g = small_switch_nvl(2, 2, 2, 0, 0, 20e9);
	ck_assert(tu_rel(a2a_p(g, NET_A2A_HIERARCHICAL, &p, 4, b, NULL, &res), 2e-4 + 2e-6 + 14.5e-3) < 1e-12);
	/* The chunk cap: 5 chunks of 5.8e7 bytes, 1.16 ms each on the network leg. */
	p.relay_max_chunks = 5;
	ck_assert(tu_rel(a2a_p(g, NET_A2A_HIERARCHICAL, &p, 4, b, NULL, &res), 1.16e-3 + 2e-6 + 14.5e-3) < 1e-12);
	ck_assert_int_eq(res.flows, 10);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(nccl_within_a_domain)
{
	/* Up to 8 ranks in one NVLink domain: one batch, every peer at once, each send in
	 * parts that share the path as one flow would: flat's time. */
	topo_graph *g = small_switch(1, 4, 4, 0, 0);
	double b[16];
	net_a2a_result res, rf;
	for (int i = 0; i < 16; i++)
		b[i] = 2.385e8;
	ck_assert(tu_rel(a2a(g, NET_A2A_NCCL, 4, b, NULL, &res), a2a(g, NET_A2A_FLAT, 4, b, NULL, &rf)) < 1e-12);
	ck_assert(tu_rel(res.time_s, 2e-6 + 3 * 2.385e8 / 100e9) < 1e-12);
	/* Parts: 16 channels / 4 ranks = 4 to start with (enqueue.cc's "one channel per
	 * operation"), doubled while a part exceeds 32 chunks of 512 KiB (16 MiB): 59.6 MB,
	 * 29.8 MB, then 14.9 MB in 16 parts. */
	ck_assert_int_eq(res.flows, 12 * 16);
	ck_assert(tu_rel(res.class_bytes[HW_LINK_NVLINK], rf.class_bytes[HW_LINK_NVLINK]) < 1e-12);
	/* Small sends go LL, twice their bytes on the wire: 1000 bytes, one part. */
	for (int i = 0; i < 16; i++)
		b[i] = 1000;
	ck_assert(tu_rel(a2a(g, NET_A2A_NCCL, 4, b, NULL, &res), 2e-6 + 3 * 2000 / 100e9) < 1e-12);
	ck_assert_int_eq(res.flows, 12);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(nccl_bounded_channels)
{
	/* 32 GPUs, each alone in its NVLink domain, on one switch (route latency L = 6 us,
	 * NIC C = 50 GB/s), b = 2.385e7 per pair, 2 p2p channels. NCCL: groups of 1 rank,
	 * channels per peer 4 (ceil(50 / 14)) cut to 1 (1 x 32/8 > 2); round r runs on channel
	 * r mod 2 (bit-reversed base), rounds 8G .. 8G+7 in batch G. So each channel runs 4
	 * batches in turn and every member has 7 (round 0 is itself) then 8, 8, 8 sends in
	 * flight; each round is a permutation, so every NIC carries them at C / 7 or C / 8
	 * and the batches end together: 4 L + 31 b / C. Flat: L + 31 b / C; pairwise
	 * 31 (L + b / C). */
	topo_graph *g = small_switch(1, 32, 1, 4e-6, 1e-6);
	static double b[32 * 32];
	net_a2a_result res;
	net_coll_params p;
	double L = 6e-6, t = 2.385e7 / 50e9;
	net_coll_params_default(&p);
	p.nccl_channels = 2;
	for (int i = 0; i < 32 * 32; i++)
		b[i] = 2.385e7;
	ck_assert(tu_rel(a2a_p(g, NET_A2A_NCCL, &p, 32, b, NULL, &res), 4 * L + 31 * t) < 1e-9);
	ck_assert_int_eq(res.flows, 32 * 31);
	ck_assert(tu_rel(a2a(g, NET_A2A_FLAT, 32, b, NULL, &res), L + 31 * t) < 1e-9);
	ck_assert(tu_rel(a2a(g, NET_A2A_PAIRWISE, 32, b, NULL, &res), 31 * (L + t)) < 1e-9);
	/* 16 channels, one per peer: round r on channel bitreverse4(r mod 16), so rounds r
	 * and r + 16 share a channel and run one after the other: 15 sends in flight, then
	 * 16: 2 L + 31 b / C. */
	p.nccl_channels = 16;
	p.nccl_net_channels_per_peer = 1;
	ck_assert(tu_rel(a2a_p(g, NET_A2A_NCCL, &p, 32, b, NULL, &res), 2 * L + 31 * t) < 1e-9);
	/* NCCL's own channels per peer (2 here): between flat and pairwise. */
	p.nccl_net_channels_per_peer = 0;
	t = a2a_p(g, NET_A2A_NCCL, &p, 32, b, NULL, &res);
	ck_assert(t >= a2a(g, NET_A2A_FLAT, 32, b, NULL, &res) - 1e-12);
	ck_assert(t <= a2a(g, NET_A2A_PAIRWISE, 32, b, NULL, &res));
	topo_graph_destroy(g);
}
END_TEST

static double red(topo_graph *g, net_red_op op, net_red_algo algo, int n, double bytes, long *flows)
{
	ms_error err;
	net_model *m;
	int ranks[64];
	double t = -1;
	ms_error_clear(&err);
	m = net_model_create(g, TOPO_ECMP_HASH, 1, &err);
	ck_assert_ptr_nonnull(m);
	for (int i = 0; i < n; i++)
		ranks[i] = i;
	ck_assert_int_eq(net_red_time(m, op, algo, ranks, n, bytes, &t, flows, &err), 0);
	net_model_destroy(m);
	return t;
}

START_TEST(ring_reductions)
{
	/* 8 GPUs, each alone in its NVLink domain, one switch: route latency L = 6 us, NIC
	 * C = 50 GB/s; every ring step is one flow per NIC each way. All-reduce of S:
	 * 2(n-1)/n x S/C + 2(n-1) L; all-gather and reduce-scatter half the steps. */
	topo_graph *g = small_switch(1, 8, 1, 4e-6, 1e-6);
	double S = 1.2345e9, L = 6e-6, C = 50e9;
	long flows;
	ck_assert(tu_rel(red(g, NET_RED_ALLREDUCE, NET_RED_RING, 8, S, &flows), 2 * 7.0 / 8 * S / C + 14 * L) < 1e-12);
	ck_assert_int_eq(flows, 14 * 8);
	ck_assert(tu_rel(net_red_ring_time(NET_RED_ALLREDUCE, 8, S, C, L), 2 * 7.0 / 8 * S / C + 14 * L) < 1e-15);
	ck_assert(tu_rel(red(g, NET_RED_ALLGATHER, NET_RED_RING, 8, S, NULL), 7.0 / 8 * S / C + 7 * L) < 1e-12);
	ck_assert(tu_rel(red(g, NET_RED_REDUCESCATTER, NET_RED_RING, 8, S, NULL),
			 net_red_ring_time(NET_RED_REDUCESCATTER, 8, S, C, L)) < 1e-12);
	/* 5 of them (awkward n), and 1: nothing to do. */
	ck_assert(tu_rel(red(g, NET_RED_ALLREDUCE, NET_RED_RING, 5, S, NULL), 2 * 4.0 / 5 * S / C + 8 * L) < 1e-12);
	ck_assert(red(g, NET_RED_ALLREDUCE, NET_RED_RING, 1, S, &flows) == 0 && flows == 0);
	topo_graph_destroy(g);
	/* Inside one NVLink domain of 4 (100 GB/s, 2 us). */
	g = small_switch(1, 4, 4, 0, 0);
	ck_assert(tu_rel(red(g, NET_RED_ALLREDUCE, NET_RED_RING, 4, S, NULL), 2 * 3.0 / 4 * S / 100e9 + 6 * 2e-6) < 1e-12);
	topo_graph_destroy(g);
	/* 2 nodes x 4 GPUs, 4 NICs each: 4 rings of S/4, each leaving a node through its own
	 * NIC. Per step and ring S/32 bytes; a GPU's NVLink port carries 3 rings' (the fourth
	 * leaves by its NIC), a NIC one: at least 14 x 3 S/32 / 100 GB/s, and the rings only
	 * add their latencies. */
	g = small_switch(2, 4, 4, 0, 0);
	{
		double t = red(g, NET_RED_ALLREDUCE, NET_RED_RING, 8, S, &flows), lb = 14 * 3 * S / 32 / 100e9;
		ck_assert_int_eq(flows, 4 * 14 * 8);
		ck_assert(t >= lb * (1 - 1e-12));
		ck_assert_msg(t <= lb * 1.01 + 14 * 2e-6, "%g vs %g", t, lb);
	}
	topo_graph_destroy(g);
}
END_TEST

START_TEST(tree_allreduce)
{
	/* 2 GPUs, no latency: each tree sends S/2 up and S/2 down in 64 chunks, and the
	 * link each way is never idle (the first chunk up is alone, then an up and a down
	 * chunk share it, the last chunk down is alone): S / C exactly. */
	topo_graph *g = small_switch(1, 2, 1, 0, 0);
	double S = 2.385e8, C = 50e9, t;
	long flows;
	ck_assert(tu_rel(red(g, NET_RED_ALLREDUCE, NET_RED_TREE, 2, S, &flows), S / C) < 1e-9);
	ck_assert_int_eq(flows, 2 * 2 * 64);
	ck_assert(tu_rel(net_red_tree_bound(2, S, C, 0), S / C) < 1e-15);
	topo_graph_destroy(g);
	/* 8 GPUs, L = 6 us: at least 2S / C + 2 x 3 L, and within a few chunks of it. */
	g = small_switch(1, 8, 1, 4e-6, 1e-6);
	t = red(g, NET_RED_ALLREDUCE, NET_RED_TREE, 8, S, NULL);
	ck_assert(t >= net_red_tree_bound(8, S, C, 6e-6) * (1 - 1e-12));
	ck_assert_msg(t <= net_red_tree_bound(8, S, C, 6e-6) * 1.15, "tree %g, bound %g", t,
		      net_red_tree_bound(8, S, C, 6e-6));
	/* The ring moves 2(n-1)/n S per port: faster at this size. */
	ck_assert(red(g, NET_RED_ALLREDUCE, NET_RED_RING, 8, S, NULL) < t);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(self_and_empty_flows)
{
	topo_graph *g = small_switch(1, 2, 2, 0, 0);
	ms_error err;
	net_model *m;
	double fin[3] = {-1, -1, -1};
	ms_error_clear(&err);
	m = net_model_create(g, TOPO_ECMP_HASH, 1, &err);
	ck_assert_int_ge(net_model_add(m, 0.5, 0.5, 1, 1, 1e9, 0, &err), 0); /* to itself: done at once */
	ck_assert_int_ge(net_model_add(m, 0.5, 0.5, 0, 1, 0, 1, &err), 0);   /* 0 bytes: NVLink latency */
	ck_assert_int_ge(net_model_add(m, 0.5, 0.5, 0, 1, 1e8, 2, &err), 0);
	run_all(m, fin);
	ck_assert(fin[0] == 0.5);
	ck_assert(tu_rel(fin[1], 0.5 + 2e-6) < 1e-12);
	ck_assert(tu_rel(fin[2], 0.5 + 2e-6 + 1e-3) < 1e-12);
	net_model_destroy(m);
	topo_graph_destroy(g);
}
END_TEST


/*
 * Bytes per link over time (net_bins.h) against a naive oracle: random segments on 3
 * links, each bin's bytes compared with the overlap of every segment with that bin,
 * computed directly at the final width.
 */
START_TEST(bins_against_naive)
{
	enum { NSEG = 400, MAXB = 16 };
	ms_error err;
	net_bins *b = net_bins_create(3, MAXB, &err);
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	double t0[NSEG], t1[NSEG], by[NSEG], end = 0, w;
	int link[NSEG], nb;
	ck_assert_ptr_nonnull(b);
	gsl_rng_set(rng, 2385);
	for (int i = 0; i < NSEG; i++) {
		t0[i] = gsl_rng_uniform(rng) * 3.7e-4;
		t1[i] = t0[i] + gsl_rng_uniform(rng) * 1.3e-4;
		by[i] = 1 + gsl_rng_uniform(rng) * 1e6;
		link[i] = (int)gsl_rng_uniform_int(rng, 3);
		net_bins_add(b, link[i], t0[i], t1[i], by[i]);
		end = t1[i] > end ? t1[i] : end;
	}
	w = net_bins_width(b);
	nb = net_bins_used(b, end);
	ck_assert(w >= 1e-6 && nb <= MAXB && nb > MAXB / 2 && nb * w >= end);
	ck_assert(tu_rel(w / 1e-6, exp2(round(log2(w / 1e-6)))) < 1e-12); /* 1 us x 2^k */
	for (int l = 0; l < 3; l++) {
		const double *row = net_bins_row(b, l);
		double total = 0, want_total = 0;
		for (int k = 0; k < MAXB; k++) {
			double lo = k * w, hi = (k + 1) * w, want = 0;
			for (int i = 0; i < NSEG; i++)
				if (link[i] == l) {
					double a = t0[i] > lo ? t0[i] : lo, z = t1[i] < hi ? t1[i] : hi;
					if (z > a)
						want += by[i] * (z - a) / (t1[i] - t0[i]);
				}
			ck_assert_msg(fabs(row[k] - want) <= 1e-9 * (want + 1), "link %d bin %d: %.15g, naive %.15g", l, k,
				      row[k], want);
			total += row[k];
		}
		for (int i = 0; i < NSEG; i++)
			want_total += link[i] == l ? by[i] : 0;
		ck_assert(tu_rel(total, want_total) < 1e-12);
	}
	gsl_rng_free(rng);
	net_bins_destroy(b);
}
END_TEST

/*
 * The flow model's bins, worked by hand: one link of 10 B/s; flows of 30 B and 10 B start
 * at 0 and share it at 5 B/s each; the second ends at 2 s, the first runs at 10 B/s until
 * 4 s. The link is full the whole time: every bin before 4 s holds 10 x width bytes.
 */
START_TEST(bins_of_flows_by_hand)
{
	ms_error err;
	double cap = 10;
	net_model *m = net_model_create_links(1, &cap, &err);
	net_bins *b = net_bins_create(1, 128, &err);
	int l0 = 0;
	double w0 = 1;
	topo_route rt;
	const double *row;
	double w;
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(b);
	memset(&rt, 0, sizeof rt);
	rt.n = 1;
	rt.link = &l0;
	rt.weight = &w0;
	net_model_set_bins(m, b);
	ck_assert_int_ge(net_model_add_route(m, 0, 0, &rt, 30, 1, &err), 0);
	ck_assert_int_ge(net_model_add_route(m, 0, 0, &rt, 10, 2, &err), 0);
	ck_assert_int_eq(net_model_advance(m, INFINITY, NULL, NULL, &err), 2);
	w = net_bins_width(b);
	row = net_bins_row(b, 0);
	ck_assert(tu_rel(w, 1e-6 * 32768) < 1e-12); /* the first power of two with 128 bins past 4 s */
	ck_assert_int_eq(net_bins_used(b, 4.0), 123);
	for (int k = 0; k < 122; k++)
		ck_assert_msg(tu_rel(row[k], 10 * w) < 1e-9, "bin %d: %.15g B, want %.15g", k, row[k], 10 * w);
	ck_assert(tu_rel(row[122], 10 * (4 - 122 * w)) < 1e-9);
	net_model_destroy(m);
	net_bins_destroy(b);
}
END_TEST

/*
 * The batching window is a fraction of the time since the collective's start, not of
 * the clock: flows of 1, 1.1 and 3 bytes on one link of 1 B/s, started at o. Exact:
 * 1/3 each until A ends at o + 3, then B (0.1 left) and C at 1/2 until B ends at
 * o + 3.2, then C (1.9 left) alone: o + 5.1. Window 0.2: at o + 3 (3 s elapsed) the
 * events up to o + 3.6 are one batch: A at o + 3 and B at its own time under the
 * rates then, o + 3.3; the re-solve at o + 3.3 gives C, 3 - 3.3 / 3 = 1.9 left at
 * 1 B/s: o + 5.2. A window of the clock's time would have taken C (o + 9) into the
 * first batch at o = 100.
 */
START_TEST(batch_window_from_collective_start)
{
	static const double bytes[3] = {1, 1.1, 3};
	for (int k = 0; k < 2; k++) {
		double o = k ? 100 : 0, fin[3] = {0, 0, 0}, cap = 1, w0 = 1;
		int l0 = 0;
		ms_error err;
		net_model *m = net_model_create_links(1, &cap, &err);
		topo_route rt;
		ck_assert_ptr_nonnull(m);
		memset(&rt, 0, sizeof rt);
		rt.n = 1;
		rt.link = &l0;
		rt.weight = &w0;
		net_model_set_tolerance(m, 0.2);
		for (int i = 0; i < 3; i++)
			ck_assert_int_ge(net_model_add_route(m, o, o, &rt, bytes[i], (uint64_t)i, &err), 0);
		run_all(m, fin);
		ck_assert_msg(tu_rel(fin[0] - o, 3.0) < 1e-12, "A at o + %.15g", fin[0] - o);
		ck_assert_msg(tu_rel(fin[1] - o, 3.3) < 1e-12, "B at o + %.15g", fin[1] - o);
		ck_assert_msg(tu_rel(fin[2] - o, 5.2) < 1e-12, "C at o + %.15g", fin[2] - o);
		/* Exact (no window): o + 3, 3.2, 5.1. */
		net_model_set_tolerance(m, 0);
		for (int i = 0; i < 3; i++)
			ck_assert_int_ge(net_model_add_route(m, net_model_now(m), net_model_now(m), &rt, bytes[i], (uint64_t)i,
							     &err), 0);
		o = net_model_now(m);
		run_all(m, fin);
		ck_assert(tu_rel(fin[0] - o, 3.0) < 1e-12 && tu_rel(fin[1] - o, 3.2) < 1e-12 && tu_rel(fin[2] - o, 5.1) < 1e-12);
		net_model_destroy(m);
	}
}
END_TEST

Suite *network_suite(void)
{
	Suite *s = suite_create("network");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, bins_against_naive);
	tcase_add_test(tc, bins_of_flows_by_hand);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, n_flows_one_link);
	tcase_add_test(tc, processor_sharing);
	tcase_add_test(tc, latency_before_bandwidth);
	tcase_add_test(tc, parking_lot);
	tcase_add_test(tc, dumbbell);
	tcase_add_test(tc, weighted_split);
	tcase_add_test(tc, callbacks_start_flows);
	tcase_add_test(tc, components_are_independent);
	tcase_add_test(tc, static_matches_oracle);
	tcase_add_test(tc, dynamic_matches_oracle);
	tcase_add_test(tc, solver_changed_set_matches_resolve);
	tcase_add_test(tc, flat_uniform);
	tcase_add_test(tc, pairwise_stages);
	tcase_add_test(tc, hierarchical_relay);
	tcase_add_test(tc, hierarchical_pipelined_two_legs);
	tcase_add_test(tc, nccl_within_a_domain);
	tcase_add_test(tc, nccl_bounded_channels);
	tcase_add_test(tc, ring_reductions);
	tcase_add_test(tc, tree_allreduce);
	tcase_add_test(tc, self_and_empty_flows);
	tcase_add_test(tc, batch_window_from_collective_start);
	suite_add_tcase(s, tc);
	return s;
}
