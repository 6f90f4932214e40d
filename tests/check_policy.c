/*
 * check_policy.c - the routers of routing/rt_policy.h: each against a brute-force
 * reference (a direct count of who beats whom, no sorting, no capacity pass) on small
 * random score matrices with ties and unrecorded scores, hand-worked cases for
 * expert_choice and bpr, and DeepSeek-V3's bias update against a hand-stepped sequence;
 * the routing quality of a trace (rt_quality): topk without capacity against `trace
 * stats` itself, each step's purity and concentration against a token-by-token count of
 * the trace, the balancing units a scope makes, expert choice's exact quotas, a trace
 * with logits by hand, and the refusals.
 */
#include <check.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "routing/rt_policy.h"
#include "routing/rt_quality.h"
#include "routing/rt_router.h"
#include "trace/tr_stats.h"
#include "trace/tr_writer.h"
#include "test_util.h"

enum { NMAX = 40, EMAX = 7 };

/* Does (a, ia) come before (b, ib): larger value, then smaller index. */
static int beats(double a, long ia, double b, long ib)
{
	return a > b || (a == b && ia < ib);
}

/* The brute-force router: per pair, counts the pairs ahead of it at its expert. */
static void oracle(rt_policy_kind kind, int n, int E, const float *s, int k, int64_t cap, scn_drop_policy drop,
		   const double *bias, uint8_t *sel)
{
	int rank[NMAX][EMAX]; /* the pair's choice index in its token, -1 when not chosen */
	double prio[NMAX];
	memset(sel, 0, (size_t)n * (size_t)E);
	for (int i = 0; i < n; i++) {
		prio[i] = -INFINITY;
		for (int e = 0; e < E; e++) {
			double v = s[i * E + e] + (kind == RT_POLICY_BIAS_BALANCED ? bias[e] : 0.0);
			int ahead = 0;
			rank[i][e] = -1;
			if (!isfinite(s[i * E + e]))
				continue;
			if (s[i * E + e] > prio[i])
				prio[i] = s[i * E + e];
			for (int f = 0; f < E; f++)
				if (f != e && isfinite(s[i * E + f]) &&
				    beats(s[i * E + f] + (kind == RT_POLICY_BIAS_BALANCED ? bias[f] : 0.0), f, v, e))
					ahead++;
			if (ahead < k) {
				rank[i][e] = ahead;
				sel[i * E + e] |= RT_SEL_ROUTED;
			}
		}
	}
	for (int i = 0; i < n; i++)
		for (int e = 0; e < E; e++) {
			int ahead = 0, cand;
			if (kind == RT_POLICY_EXPERT_CHOICE)
				cand = isfinite(s[i * E + e]);
			else
				cand = rank[i][e] >= 0;
			if (!cand)
				continue;
			for (int q = 0; q < n; q++) {
				if (q == i)
					continue;
				switch (kind) {
				case RT_POLICY_EXPERT_CHOICE:
					ahead += isfinite(s[q * E + e]) && beats(s[q * E + e], q, s[i * E + e], i);
					break;
				case RT_POLICY_BPR:
					ahead += rank[q][e] >= 0 && (rank[q][e] < rank[i][e] ||
								    (rank[q][e] == rank[i][e] && beats(prio[q], q, prio[i], i)));
					break;
				default: /* topk, bias_balanced: position = (token, choice) */
					if (rank[q][e] < 0)
						break;
					if (drop == SCN_DROP_POSITION)
						ahead += q < i;
					else
						ahead += beats(s[q * E + e], q, s[i * E + e], i);
					break;
				}
			}
			if (cap <= 0 || ahead < cap)
				sel[i * E + e] |= RT_SEL_KEPT;
		}
}

START_TEST(routers_match_brute_force)
{
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	ms_error err;
	gsl_rng_set(rng, 2385);
	ms_error_clear(&err);
	for (int trial = 0; trial < 2000; trial++) {
		rt_policy_kind kind = (rt_policy_kind)(trial % 4);
		int E = 2 + (int)gsl_rng_uniform_int(rng, EMAX - 1);
		int n = 1 + (int)gsl_rng_uniform_int(rng, NMAX);
		int k = 1 + (int)gsl_rng_uniform_int(rng, (unsigned long)(E < 3 ? E : 3));
		double cf = 0.4 + 0.15 * (double)gsl_rng_uniform_int(rng, 10), bias[EMAX];
		int64_t cap = trial % 9 == 5 && kind != RT_POLICY_EXPERT_CHOICE ? 0 : rt_capacity(cf, n, k, E);
		scn_drop_policy drop = (trial / 4) % 2 ? SCN_DROP_PROBS : SCN_DROP_POSITION;
		float s[NMAX * EMAX];
		uint8_t got[NMAX * EMAX], want[NMAX * EMAX];
		int64_t kept = 0, nkept;
		rt_policy_ws *w = rt_policy_ws_create(NMAX, E, k, &err);
		ck_assert_ptr_nonnull(w);
		for (int e = 0; e < E; e++)
			bias[e] = 0.0625 * ((double)gsl_rng_uniform_int(rng, 5) - 2.0);
		for (int i = 0; i < n * E; i++) {
			/* Few distinct values (ties), and a few unrecorded scores outside expert_choice's and
			 * bias_balanced's reach (they need every score). */
			s[i] = (float)gsl_rng_uniform_int(rng, 6) * 0.125f + 0.0625f;
			if (!rt_policy_needs_all_scores(kind) && gsl_rng_uniform(rng) < 0.15)
				s[i] = -INFINITY;
		}
		nkept = rt_policy_route(w, kind, n, s, k, cap, drop, bias, got);
		oracle(kind, n, E, s, k, cap, drop, bias, want);
		for (int i = 0; i < n * E; i++) {
			kept += (want[i] & RT_SEL_KEPT) != 0;
			if (got[i] != want[i])
				ck_abort_msg("trial %d router %s n %d E %d k %d cap %lld drop %d: token %d expert %d sel %d, "
					     "brute force %d",
					     trial, rt_policy_name(kind), n, E, k, (long long)cap, (int)drop, i / E, i % E,
					     got[i], want[i]);
		}
		ck_assert_int_eq(nkept, kept);
		rt_policy_ws_destroy(w);
	}
	gsl_rng_free(rng);
}
END_TEST

/* Four tokens, three experts, top-1, capacity factor 1: C = ceil(4 / 3) = 2. */
static const float hand[12] = {0.5f, 0.3f, 0.2f, 0.6f, 0.3f, 0.1f, 0.7f, 0.2f, 0.1f, 0.4f, 0.35f, 0.25f};

START_TEST(expert_choice_by_hand)
{
	/* e0 takes t2 (0.7) and t1 (0.6); e1 takes t3 (0.35) and, of the tie at 0.3, t0 (earlier);
	 * e2 takes t3 (0.25) and t0 (0.2). Every token's own choice is e0. */
	static const uint8_t want[12] = {1, 2, 2, 3, 0, 0, 3, 0, 0, 1, 2, 2};
	uint8_t sel[12];
	ms_error err;
	rt_policy_ws *w = rt_policy_ws_create(4, 3, 1, &err);
	ck_assert_int_eq(rt_capacity(1.0, 4, 1, 3), 2);
	ck_assert_int_eq(rt_policy_route(w, RT_POLICY_EXPERT_CHOICE, 4, hand, 1, 2, SCN_DROP_POSITION, NULL, sel), 6);
	ck_assert_mem_eq(sel, want, 12);
	rt_policy_ws_destroy(w);
}
END_TEST

START_TEST(bpr_by_hand)
{
	/* Every token's choice is e0, C = 2. topk by position keeps t0 and t1; bpr keeps the two
	 * highest priorities, t2 (0.7) and t1 (0.6). */
	static const uint8_t pos[12] = {3, 0, 0, 3, 0, 0, 1, 0, 0, 1, 0, 0};
	static const uint8_t bpr[12] = {1, 0, 0, 3, 0, 0, 3, 0, 0, 1, 0, 0};
	uint8_t sel[12];
	ms_error err;
	rt_policy_ws *w = rt_policy_ws_create(4, 3, 2, &err);
	ck_assert_int_eq(rt_policy_route(w, RT_POLICY_TOPK, 4, hand, 1, 2, SCN_DROP_POSITION, NULL, sel), 2);
	ck_assert_mem_eq(sel, pos, 12);
	ck_assert_int_eq(rt_policy_route(w, RT_POLICY_BPR, 4, hand, 1, 2, SCN_DROP_POSITION, NULL, sel), 2);
	ck_assert_mem_eq(sel, bpr, 12);
	/* Top-2, C = 3 (ceil(8 / 3)): first choices e0 x4, second e1 x4 (t3: e1 0.35). bpr fills e0 with
	 * t2, t1, t0 (priority) and drops t3's e0; e1 with t2, t1, t0 and drops t3's e1: t3 loses both. */
	ck_assert_int_eq(rt_policy_route(w, RT_POLICY_BPR, 4, hand, 2, 3, SCN_DROP_POSITION, NULL, sel), 6);
	for (int i = 0; i < 3; i++)
		ck_assert(sel[i * 3] == 3 && sel[i * 3 + 1] == 3 && sel[i * 3 + 2] == 0);
	ck_assert(sel[9] == 1 && sel[10] == 1 && sel[11] == 0);
	rt_policy_ws_destroy(w);
}
END_TEST

START_TEST(bias_update_hand_stepped)
{
	/* Four tokens, three experts, top-1, gamma 0.03, dropless; each step routes with the bias,
	 * then updates it from the step's load (worked by hand):
	 *   step 1, b = ( 0,     0,    0   ): choices e0 e0 e0 e0, load (4,0,0) -> b = (-0.03, 0.03, 0.03)
	 *   step 2:                            e0 e1 e0 e1, load (2,2,0) -> b = (-0.06, 0,    0.06)
	 *   step 3:                            e0 e1 e0 e1, load (2,2,0) -> b = (-0.09,-0.03, 0.09)
	 *   step 4:                            e0 e1 e0 e2, load (2,1,1) -> b = (-0.12, 0,    0.12) */
	static const float s[12] = {0.50f, 0.30f, 0.20f, 0.45f, 0.40f, 0.15f,
				    0.60f, 0.25f, 0.15f, 0.38f, 0.36f, 0.26f};
	static const int choice[4][4] = {{0, 0, 0, 0}, {0, 1, 0, 1}, {0, 1, 0, 1}, {0, 1, 0, 2}};
	static const double want[4][3] = {{-0.03, 0.03, 0.03}, {-0.06, 0, 0.06}, {-0.09, -0.03, 0.09}, {-0.12, 0, 0.12}};
	double b[3] = {0, 0, 0};
	uint8_t sel[12];
	ms_error err;
	rt_policy_ws *w = rt_policy_ws_create(4, 3, 1, &err);
	for (int step = 0; step < 4; step++) {
		int64_t load[3] = {0, 0, 0};
		ck_assert_int_eq(rt_policy_route(w, RT_POLICY_BIAS_BALANCED, 4, s, 1, 0, SCN_DROP_PROBS, b, sel), 4);
		for (int i = 0; i < 4; i++)
			for (int e = 0; e < 3; e++)
				if (sel[i * 3 + e] & RT_SEL_ROUTED) {
					ck_assert_msg(e == choice[step][i], "step %d token %d chose e%d, want e%d", step + 1, i, e,
						      choice[step][i]);
					ck_assert_int_eq(sel[i * 3 + e], RT_SEL_ROUTED | RT_SEL_KEPT);
					load[e]++;
				}
		rt_bias_update(b, load, 3, 0.03);
		for (int e = 0; e < 3; e++)
			ck_assert_double_eq_tol(b[e], want[step][e], 1e-12);
	}
	/* Equal load leaves the bias alone. */
	{
		int64_t even[3] = {5, 5, 5};
		rt_bias_update(b, even, 3, 0.03);
		ck_assert_double_eq_tol(b[0], -0.12, 1e-12);
	}
	/* The bias selects but does not gate: with capacity 1 on e0 (top-1, probs), t2 (0.60) keeps its
	 * place over t0 (0.50) whatever the bias. */
	{
		double big[3] = {0.5, -1, -1};
		ck_assert_int_eq(rt_policy_route(w, RT_POLICY_BIAS_BALANCED, 4, s, 1, 1, SCN_DROP_PROBS, big, sel), 1);
		ck_assert_int_eq(sel[6], RT_SEL_ROUTED | RT_SEL_KEPT);
		ck_assert_int_eq(sel[0], RT_SEL_ROUTED);
	}
	rt_policy_ws_destroy(w);
}
END_TEST

START_TEST(names_round_trip)
{
	rt_policy_kind k;
	for (int i = RT_POLICY_TOPK; i <= RT_POLICY_BPR; i++) {
		ck_assert_int_eq(rt_policy_parse(rt_policy_name((rt_policy_kind)i), &k), 0);
		ck_assert_int_eq((int)k, i);
	}
	ck_assert_int_eq(rt_policy_parse("top_k", &k), -1);
}
END_TEST

static tr_reader *open_src(const char *rel)
{
	char path[4096];
	const char *src = getenv("MOESIM_SRC");
	ms_error err;
	tr_reader *r;
	snprintf(path, sizeof path, "%s/%s", src && *src ? src : ".", rel);
	ms_error_clear(&err);
	r = tr_open(path, &err);
	ck_assert_msg(r != NULL, "%s", err.msg);
	return r;
}

static const char *tiny = "scenarios/traces/tiny-moe-4dom.h5";

START_TEST(quality_topk_is_trace_stats)
{
	tr_reader *r = open_src(tiny);
	const tr_info *in = tr_get_info(r);
	rt_quality_opts o;
	rt_quality *q;
	tr_stats *s;
	ms_error err;
	const size_t LE = (size_t)in->num_layers * in->num_experts;
	rt_quality_opts_default(&o, in);
	ck_assert_int_eq(rt_quality_compute(r, &o, &q, &err), MS_OK);
	ck_assert_int_eq(tr_stats_compute(r, o.top_k, &s, &err), MS_OK);
	ck_assert_mem_eq(q->kept->load, s->load, LE * sizeof *s->load);
	ck_assert_mem_eq(q->kept->first, s->first, LE * sizeof *s->first);
	ck_assert_mem_eq(q->kept->repeats, s->repeats, (size_t)in->num_layers * sizeof *s->repeats);
	ck_assert_mem_eq(q->kept->domain_load, s->domain_load, LE * (size_t)in->num_domains * sizeof *s->domain_load);
	ck_assert_int_eq(q->kept->seq_pairs, s->seq_pairs);
	for (int l = 0; l < in->num_layers; l++) {
		ck_assert_int_eq(q->dropped[l], 0);
		ck_assert_int_eq(q->lost[l], 0);
		ck_assert_int_eq(q->kept_pairs[l], in->num_tokens * o.top_k);
	}
	tr_stats_free(s);
	rt_quality_free(q);
	tr_close(r);
}
END_TEST

static int desc_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The sum of the k largest of v[0..n) by sorting a copy (tr_stats.c selects by repeated maxima). */
static int64_t sorted_top(const int64_t *v, int n, int k)
{
	int64_t c[64], sum = 0;
	ck_assert_int_le(n, 64);
	memcpy(c, v, (size_t)n * sizeof *c);
	qsort(c, (size_t)n, sizeof *c, desc_i64);
	for (int i = 0; i < k && i < n; i++)
		sum += c[i];
	return sum;
}

START_TEST(quality_step_specialisation_brute_force)
{
	/* topk without capacity keeps the recorded top-k, so each (step, layer)'s purity and
	 * concentration follow from the trace alone: counted here token by token from the
	 * recorded ids and labels, ratios by the definitions (docs/trace-tools.md), the top-k
	 * sums by sorting. Every step, every layer, equal to rounding. */
	tr_reader *r = open_src(tiny);
	const tr_info *in = tr_get_info(r);
	const int L = in->num_layers, E = in->num_experts, K = in->depth, D = in->num_domains;
	const int64_t T = in->num_tokens;
	rt_quality_opts o;
	rt_quality *q;
	ms_error err;
	tr_token *tok = malloc((size_t)T * sizeof *tok);
	int16_t *ids = malloc((size_t)T * K * sizeof *ids);
	int64_t *c = malloc((size_t)D * E * sizeof *c), load[64], dtok[16];
	int distinct = 0;
	ck_assert(tok && ids && c && E <= 64 && D <= 16 && D > 1);
	rt_quality_opts_default(&o, in);
	ck_assert_int_eq(rt_quality_compute(r, &o, &q, &err), MS_OK);
	ck_assert_int_eq(tr_read_tokens(r, 0, T, tok, &err), MS_OK);
	ck_assert_int_gt(q->steps, 1);
	for (int l = 0; l < L; l++) {
		ck_assert_int_eq(tr_read_routing(r, l, 0, T, ids, NULL, &err), MS_OK);
		for (int64_t a = 0, si = 0; a < T; si++) {
			int64_t b = a, total = 0, pure = 0, conc = 0, dmax = 0;
			double want[4], got[4];
			tr_layer_summary s;
			memset(c, 0, (size_t)D * E * sizeof *c);
			memset(load, 0, sizeof load);
			memset(dtok, 0, sizeof dtok);
			for (; b < T && tok[b].step == tok[a].step; b++) {
				ck_assert(tok[b].domain >= 0 && tok[b].domain < D);
				dtok[tok[b].domain]++;
				for (int j = 0; j < o.top_k; j++) {
					c[(size_t)tok[b].domain * E + ids[b * K + j]]++;
					load[ids[b * K + j]]++;
					total++;
				}
			}
			for (int e = 0; e < E; e++) {
				int64_t best = 0;
				for (int d = 0; d < D; d++)
					best = c[(size_t)d * E + e] > best ? c[(size_t)d * E + e] : best;
				pure += best;
			}
			for (int d = 0; d < D; d++) {
				conc += sorted_top(c + (size_t)d * E, E, o.top_k);
				dmax = dtok[d] > dmax ? dtok[d] : dmax;
			}
			want[0] = (double)pure / (double)total;
			want[1] = (double)dmax / (double)(b - a);
			want[2] = (double)conc / (double)total;
			want[3] = (double)sorted_top(load, E, o.top_k) / (double)total;
			ck_assert_int_eq(q->step_id[si], tok[a].step);
			got[0] = q->step_purity[si * L + l];
			got[1] = q->step_purity_baseline[si * L + l];
			got[2] = q->step_concentration[si * L + l];
			got[3] = q->step_concentration_baseline[si * L + l];
			for (int i = 0; i < 4; i++)
				ck_assert_msg(fabs(got[i] - want[i]) < 1e-12, "step %lld layer %d figure %d: %.9f, want %.9f",
					      (long long)si, l, i, got[i], want[i]);
			/* the step's own counts, not the run's */
			tr_stats_summary(q->kept, l, &s);
			distinct += got[0] != s.purity;
			a = b;
		}
	}
	ck_assert_int_gt(distinct, 0);
	free(tok);
	free(ids);
	free(c);
	rt_quality_free(q);
	tr_close(r);
}
END_TEST

START_TEST(quality_scopes_and_quotas)
{
	/* The tiny trace: 16 steps x 4 ranks x 4 sequences of 128 tokens. */
	static const struct { rt_scope scope; int mb, gr; int64_t units; } want[] = {
		{RT_SCOPE_GLOBAL, 1, 8, 16},      {RT_SCOPE_RANK, 1, 8, 64},       {RT_SCOPE_GROUP, 1, 2, 32},
		{RT_SCOPE_GROUP, 1, 3, 32},       {RT_SCOPE_MICRO_BATCH, 1, 8, 256}, {RT_SCOPE_MICRO_BATCH, 3, 8, 128},
	};
	tr_reader *r = open_src(tiny);
	const tr_info *in = tr_get_info(r);
	ms_error err;
	for (size_t c = 0; c < sizeof want / sizeof want[0]; c++) {
		rt_quality_opts o;
		rt_quality *q;
		rt_quality_opts_default(&o, in);
		o.router = RT_POLICY_EXPERT_CHOICE;
		o.capacity_factor = 1.0;
		o.scope = want[c].scope;
		o.micro_batch = want[c].mb;
		o.group_ranks = want[c].gr;
		ck_assert_msg(rt_quality_compute(r, &o, &q, &err) == MS_OK, "%s", err.msg);
		ck_assert_msg(q->units == want[c].units, "scope %s (%d, %d): %lld units, want %lld",
			      rt_scope_name(o.scope), o.micro_batch, o.group_ranks, (long long)q->units,
			      (long long)want[c].units);
		/* Every expert fills its quota exactly when units divide evenly (all but 3-sequence
		 * micro-batches and 3-rank groups): E x ceil(n k / E) = n k pairs. */
		if (want[c].mb != 3 && want[c].gr != 3)
			for (int l = 0; l < in->num_layers; l++) {
				tr_layer_summary s;
				ck_assert_int_eq(q->kept_pairs[l], in->num_tokens * o.top_k);
				tr_stats_summary(q->kept, l, &s);
				ck_assert_double_eq_tol(s.max_mean, 1.0, 1e-12);
			}
		rt_quality_free(q);
	}
	tr_close(r);
}
END_TEST

/* A trace of `hand` (4 tokens, 3 experts) at depth 1 with logits log(score): 2 steps x 2 ranks,
 * each rank one sequence of the four tokens. */
static void write_hand_trace(const char *path)
{
	tr_meta m;
	tr_writer *w;
	ms_error err;
	int16_t ids[16];
	float sc[16], lg[48];
	tr_token tok[16];
	memset(&m, 0, sizeof m);
	m.num_layers = 1;
	m.num_experts = 3;
	m.depth = 1;
	m.top_k = 1;
	m.score_kind = TR_SCORE_SOFTMAX;
	m.has_logits = 1;
	for (int i = 0; i < 16; i++) {
		const float *h = hand + (i % 4) * 3;
		ids[i] = 0; /* e0 is every token's best */
		sc[i] = h[0];
		for (int e = 0; e < 3; e++)
			lg[i * 3 + e] = logf(h[e]);
		tok[i] = (tr_token){.sequence = i / 4, .step = i / 8, .position = i % 4, .rank = (i / 4) % 2, .domain = -1};
	}
	ms_error_clear(&err);
	w = tr_writer_create(path, 1, &m, &err);
	ck_assert_msg(w != NULL, "%s", err.msg);
	ck_assert_msg(tr_writer_append(w, 16, ids, sc, lg, tok, &err) == MS_OK, "%s", err.msg);
	ck_assert_msg(tr_writer_finish(w, &err) == MS_OK, "%s", err.msg);
}

START_TEST(quality_from_logits_by_hand)
{
	char dir[4096], path[4200];
	tr_reader *r;
	rt_quality_opts o;
	rt_quality *q;
	ms_error err;
	snprintf(path, sizeof path, "%s/hand.h5", tu_temp_dir(dir, sizeof dir));
	write_hand_trace(path);
	ms_error_clear(&err);
	ck_assert_ptr_nonnull(r = tr_open(path, &err));
	rt_quality_opts_default(&o, tr_get_info(r));
	o.router = RT_POLICY_EXPERT_CHOICE;
	o.capacity_factor = 1.0;
	/* Rank scope: each unit is expert_choice_by_hand: 6 pairs kept, t0's and t3's own choice
	 * (e0) not, nobody lost; 4 units. */
	ck_assert_msg(rt_quality_compute(r, &o, &q, &err) == MS_OK, "%s", err.msg);
	ck_assert_int_eq(q->units, 4);
	ck_assert_int_eq(q->kept_pairs[0], 24);
	ck_assert_int_eq(q->routed[0], 16);
	ck_assert_int_eq(q->dropped[0], 8);
	ck_assert_int_eq(q->lost[0], 0);
	rt_quality_free(q);
	/* Global scope: 8 tokens a unit, C = ceil(8 / 3) = 3. e0 takes both t2s (0.7) and rank 0's
	 * t1 (0.6, earlier); e1 both t3s (0.35) and rank 0's t0 (first of the 0.3s); e2 both t3s
	 * (0.25) and rank 0's t0 (0.2). Rank 1's t0 and t1 get nothing: 2 lost a step; dropped:
	 * e0 of both t0s, both t3s and rank 1's t1 = 5 a step. */
	o.scope = RT_SCOPE_GLOBAL;
	ck_assert_msg(rt_quality_compute(r, &o, &q, &err) == MS_OK, "%s", err.msg);
	ck_assert_int_eq(q->units, 2);
	ck_assert_int_eq(q->kept_pairs[0], 18);
	ck_assert_int_eq(q->lost[0], 4);
	ck_assert_int_eq(q->dropped[0], 10);
	rt_quality_free(q);
	/* bpr needs only the ranking: depth 1 is enough; topk at top-2 is not. */
	o.router = RT_POLICY_BPR;
	ck_assert_int_eq(rt_quality_compute(r, &o, &q, &err), MS_OK);
	rt_quality_free(q);
	o.router = RT_POLICY_TOPK;
	o.top_k = 2;
	ms_error_clear(&err);
	ck_assert_int_eq(rt_quality_compute(r, &o, &q, &err), MS_ERANGE);
	ck_assert_ptr_null(q);
	ck_assert_ptr_nonnull(strstr(err.msg, "top-2 is out of range for router topk"));
	tr_close(r);
	remove(path);
}
END_TEST

START_TEST(quality_refusals)
{
	tr_reader *r = open_src(tiny);
	rt_quality_opts o;
	rt_quality *q;
	ms_error err;
	rt_quality_opts_default(&o, tr_get_info(r));
	o.router = RT_POLICY_EXPERT_CHOICE;
	ms_error_clear(&err);
	ck_assert_int_eq(rt_quality_compute(r, &o, &q, &err), MS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "expert_choice needs a capacity factor > 0"));
	o.capacity_factor = 1.25;
	o.micro_batch = 0;
	ms_error_clear(&err);
	ck_assert_int_eq(rt_quality_compute(r, &o, &q, &err), MS_ERANGE);
	ck_assert_ptr_nonnull(strstr(err.msg, "micro-batch 0 sequences"));
	tr_close(r);
}
END_TEST

Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("routers");
	tcase_add_test(tc, routers_match_brute_force);
	tcase_add_test(tc, expert_choice_by_hand);
	tcase_add_test(tc, bpr_by_hand);
	tcase_add_test(tc, bias_update_hand_stepped);
	tcase_add_test(tc, names_round_trip);
	suite_add_tcase(s, tc);
	tc = tcase_create("quality");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, quality_topk_is_trace_stats);
	tcase_add_test(tc, quality_step_specialisation_brute_force);
	tcase_add_test(tc, quality_scopes_and_quotas);
	tcase_add_test(tc, quality_from_logits_by_hand);
	tcase_add_test(tc, quality_refusals);
	suite_add_tcase(s, tc);
	return s;
}
