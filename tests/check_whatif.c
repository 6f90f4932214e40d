/*
 * check_whatif.c - the routing what-ifs of `moesim run` (docs/routing.md, "In moesim run"):
 *  - specialisation in the run against `trace stats --router` (rt_quality, the oracle:
 *    its own pass over the trace) on a synthetic trace with domain labels that the run
 *    replays token for token: the kept pairs by label, the load, the drops and the lost
 *    tokens of every router, from a complete ranking and from a ranking of depth 3 with
 *    /routing/logits (the scores derived from the logits), at 1 and 2 threads alike, over
 *    the run and step by step;
 *  - routers other than topk on synthetic routing against rt_policy_route on the scores
 *    the router drew (rt_router_synthetic_scores), scope by scope;
 *  - the drawn scores' law: each expert's top-2 inclusion count against the exact
 *    Plackett-Luce inclusion probabilities (tr_pl_inclusion), as topk's own draw.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing/rt_policy.h"
#include "routing/rt_quality.h"
#include "routing/rt_router.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"
#include "test_util.h"
#include "trace/tr_reader.h"
#include "trace/tr_synth.h"

enum { WI_E = 8, WI_L = 2, WI_T = 64, WI_STEPS = 2, WI_RANKS = 2, WI_D = 3 };

/* Two steps of two recorded ranks of 64 tokens, three domain labels, Zipf popularity. */
static void wi_write_trace(const char *path, int depth, int logits)
{
	tr_synth_opts o;
	ms_error err;
	tr_synth_defaults(&o);
	o.layers = WI_L;
	o.experts = WI_E;
	o.depth = depth;
	o.top_k = 2;
	o.tokens = WI_STEPS * WI_RANKS * WI_T;
	o.seed = 2385;
	o.dist = TR_DIST_ZIPF;
	o.zipf_s = 1.1;
	o.domains = WI_D;
	o.domain_skew = 0.6;
	o.steps = WI_STEPS;
	o.ranks = WI_RANKS;
	o.seq_len = 16;
	o.logits = logits;
	ms_error_clear(&err);
	if (tr_synth_write(path, 1, &o, &err) < 0)
		ck_abort_msg("%s", err.msg);
}

/* Two GPUs of one EP group, 8 experts, top-2; its MoE layers, tokens a GPU and steps are
 * the first three arguments of the format, the routing block's follow. */
#define WI_SCENARIO                                                                                      \
	"model = { hidden = 64; ffn_hidden = 128; experts = 8; top_k = 2; moe_layers = %d; heads = 4; };\n" \
	"cluster = { nodes = 1; gpus_per_node = 2; };\nparallel = { ep = 2; };\n"                           \
	"workload = { mode = \"prefill\"; tokens_per_rank = %d; seq_len = 64; steps = %d; seed = 2385; };\n"

/* GPU p replays recorded rank p, step s the trace's step s. */
static void wi_load(scn_scenario *s, const char *trace, const char *router, const char *cf, const char *scope)
{
	tu_load_textf(s, "whatif",
		      WI_SCENARIO "routing = { source = \"trace\"; trace = \"%s\"; capacity_factor = %s; "
				  "capacity_scope = \"%s\"; router = \"%s\"; bias_gamma = 0.0375; };\n",
		      WI_L, WI_T, WI_STEPS, trace, cf, scope, router);
}

START_TEST(run_specialisation_against_trace_stats)
{
	/* router, capacity factor, run scope, trace stats scope. The run's topk drops by its
	 * k scores renormalised (rt_router.c), trace stats' by the raw ones, so topk is held
	 * dropless; bias_balanced at the global scope, where both update the bias once a step
	 * (the run's one group is the whole step). */
	static const struct { const char *router, *cf, *scope; double q_cf; rt_scope q_scope; } cases[] = {
		{"topk", "\"dropless\"", "rank", 0, RT_SCOPE_RANK},
		{"topk", "\"dropless\"", "global", 0, RT_SCOPE_GLOBAL},
		{"bpr", "1.0", "rank", 1.0, RT_SCOPE_RANK},
		{"expert_choice", "1.0", "rank", 1.0, RT_SCOPE_RANK},
		{"expert_choice", "1.25", "global", 1.25, RT_SCOPE_GLOBAL},
		{"bias_balanced", "1.0", "global", 1.0, RT_SCOPE_GLOBAL},
	};
	for (int logits = 0; logits < 2; logits++) {
		char path[256];
		tu_write_temp(path, sizeof path, "");
		/* a complete ranking, or depth 3 < E with the logits the others need */
		wi_write_trace(path, logits ? 3 : WI_E, logits);
		for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
			scn_scenario s;
			sim_result *r[2] = {NULL, NULL};
			tr_reader *rd;
			rt_quality *q = NULL;
			rt_quality_opts o;
			ms_error err;
			int64_t q_dropped = 0, q_lost = 0, dropped = 0, lost = 0;
			ms_error_clear(&err);
			wi_load(&s, path, cases[c].router, cases[c].cf, cases[c].scope);
			for (int th = 0; th < 2; th++) {
				ck_assert_msg(sim_run_scenario(&s, th + 1, &r[th], &err) == MS_OK, "%s: %s", cases[c].router, err.msg);
				ck_assert_ptr_nonnull(r[th]->kept_labels);
			}
			ck_assert_int_eq(r[0]->microbatches, 1);
			rd = tr_open(path, &err);
			ck_assert_ptr_nonnull(rd);
			rt_quality_opts_default(&o, tr_get_info(rd));
			ck_assert_int_eq(rt_policy_parse(cases[c].router, &o.router), 0);
			o.top_k = 2;
			o.capacity_factor = cases[c].q_cf;
			o.scope = cases[c].q_scope;
			o.gamma = 0.0375;
			ck_assert_msg(rt_quality_compute(rd, &o, &q, &err) == MS_OK, "%s", err.msg);
			{
				const tr_stats *a = q->kept, *b = r[0]->kept_labels;
				ck_assert_int_eq(b->domains, WI_D);
				ck_assert_int_eq(b->layers, WI_L);
				/* every count, so purity, concentration and their baselines follow */
				ck_assert_msg(memcmp(a->load, b->load, WI_L * WI_E * sizeof *a->load) == 0, "%s %s: kept load differs",
					      cases[c].router, logits ? "logits" : "ranking");
				ck_assert_msg(memcmp(a->domain_load, b->domain_load, WI_L * WI_D * WI_E * sizeof *a->domain_load) == 0,
					      "%s %s: kept pairs by label differ", cases[c].router, logits ? "logits" : "ranking");
				ck_assert(memcmp(a->domain_tokens, b->domain_tokens, WI_D * sizeof *a->domain_tokens) == 0);
				for (int l = 0; l < WI_L; l++) {
					tr_layer_summary x, y;
					tr_stats_summary(a, l, &x);
					tr_stats_summary(b, l, &y);
					ck_assert(x.purity == y.purity && x.concentration == y.concentration);
					ck_assert(x.purity_baseline == y.purity_baseline);
					ck_assert(x.concentration_baseline == y.concentration_baseline);
					/* a measured specialisation, not a blind one */
					ck_assert_msg(y.purity > y.purity_baseline, "layer %d purity %g, blind %g", l, y.purity,
						      y.purity_baseline);
					q_dropped += q->dropped[l];
					q_lost += q->lost[l];
				}
			}
			for (int st = 0; st < WI_STEPS; st++) {
				dropped += r[0]->dropped_pairs[st];
				lost += r[0]->dropped_tokens[st];
			}
			ck_assert_msg(dropped == q_dropped && lost == q_lost, "%s: run dropped %lld, lost %lld; trace stats %lld, %lld",
				      cases[c].router, (long long)dropped, (long long)lost, (long long)q_dropped, (long long)q_lost);
			/* Per (step, layer): the lost tokens, the kept load's max/mean and the step's own
			 * specialisation, the same counts so the same numbers; the steps differ. */
			ck_assert_int_eq(q->steps, WI_STEPS);
			for (int st = 0; st < WI_STEPS; st++)
				for (int l = 0; l < WI_L; l++) {
					const size_t at = (size_t)st * WI_L + l, SL = WI_STEPS * WI_L;
					const double *sp = r[0]->step_specialisation;
					const int64_t *k = r[0]->expert_kept + at * WI_E;
					int64_t sum = 0, mx = 0;
					for (int e = 0; e < WI_E; e++) {
						sum += k[e];
						mx = k[e] > mx ? k[e] : mx;
					}
					ck_assert_msg(r[0]->layer_dropped_tokens[at] == q->step_lost[at], "%s step %d layer %d: lost %lld, want %lld",
						      cases[c].router, st, l, (long long)r[0]->layer_dropped_tokens[at], (long long)q->step_lost[at]);
					ck_assert_msg(r[0]->layer_dropped_pairs[at] == q->step_dropped[at], "%s step %d layer %d: dropped %lld, want %lld",
						      cases[c].router, st, l, (long long)r[0]->layer_dropped_pairs[at], (long long)q->step_dropped[at]);
					ck_assert_double_eq_tol((double)mx * WI_E / (double)sum, q->step_max_mean[at], 1e-12);
					ck_assert_msg(sp[at] == q->step_purity[at] && sp[SL + at] == q->step_purity_baseline[at] &&
							      sp[2 * SL + at] == q->step_concentration[at] &&
							      sp[3 * SL + at] == q->step_concentration_baseline[at],
						      "%s step %d layer %d: purity %g (%g), concentration %g (%g); trace stats %g (%g), %g (%g)",
						      cases[c].router, st, l, sp[at], sp[SL + at], sp[2 * SL + at], sp[3 * SL + at],
						      q->step_purity[at], q->step_purity_baseline[at], q->step_concentration[at],
						      q->step_concentration_baseline[at]);
					if (st > 0)
						ck_assert(sp[at] != sp[at - WI_L] || sp[2 * SL + at] != sp[2 * SL + at - WI_L]);
				}
			ck_assert(memcmp(r[0]->step_specialisation, r[1]->step_specialisation,
					 4 * WI_STEPS * WI_L * sizeof(double)) == 0);
			ck_assert(memcmp(r[0]->layer_dropped_tokens, r[1]->layer_dropped_tokens,
					 WI_STEPS * WI_L * sizeof(int64_t)) == 0);
			ck_assert(memcmp(r[0]->layer_dropped_pairs, r[1]->layer_dropped_pairs,
					 WI_STEPS * WI_L * sizeof(int64_t)) == 0);
			if (strcmp(cases[c].router, "topk") != 0)
				ck_assert_int_gt(q_dropped, 0); /* capacity binds: the routers differ */
			/* Thread counts: the same counts. */
			ck_assert(memcmp(r[0]->kept_labels->domain_load, r[1]->kept_labels->domain_load,
					 WI_L * WI_D * WI_E * sizeof(int64_t)) == 0);
			ck_assert(memcmp(r[0]->kept_labels->domain_tokens, r[1]->kept_labels->domain_tokens,
					 WI_D * sizeof(int64_t)) == 0);
			rt_quality_free(q);
			tr_close(rd);
			sim_result_free(r[0]);
			sim_result_free(r[1]);
		}
		remove(path);
	}
}
END_TEST

START_TEST(logits_refusal_and_no_labels)
{
	/* Depth 3 without logits: expert_choice refused naming the trace and the fix; a trace
	 * without labels gives no specialisation (kept_labels NULL). */
	tr_synth_opts o;
	char path[256], want[512];
	scn_scenario s;
	sim_inputs in;
	sim_result *r = NULL;
	ms_error err;
	tr_synth_defaults(&o);
	o.layers = WI_L;
	o.experts = WI_E;
	o.depth = 3;
	o.top_k = 2;
	o.tokens = WI_STEPS * WI_RANKS * WI_T;
	o.steps = WI_STEPS;
	o.ranks = WI_RANKS;
	ms_error_clear(&err);
	tu_write_temp(path, sizeof path, "");
	ck_assert_int_eq(tr_synth_write(path, 1, &o, &err), MS_OK);
	wi_load(&s, path, "expert_choice", "1.0", "rank");
	ck_assert_int_eq(sim_inputs_open(&in, &s, NULL, &err), MS_EINVAL);
	snprintf(want, sizeof want,
		 "the trace %s ranks only 3 of its 8 experts per token and has no /routing/logits: record it with the "
		 "full ranking (depth = num_experts) or with logits",
		 path);
	ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
	wi_load(&s, path, "bpr", "1.0", "rank");
	ck_assert_msg(sim_run_scenario(&s, 1, &r, &err) == MS_OK, "%s", err.msg);
	ck_assert_ptr_null(r->kept_labels);
	ck_assert_ptr_null(r->step_specialisation);
	sim_result_free(r);
	remove(path);
}
END_TEST

/* Synthetic routing, zipf popularity, three steps of `tokens` a GPU. */
static void wi_load_synth(scn_scenario *s, const char *router, const char *scope, int tokens, const char *cf)
{
	tu_load_textf(s, "synthetic",
		      WI_SCENARIO "routing = { source = \"synthetic\"; distribution = \"zipf\"; zipf_s = 1.3; "
				  "capacity_factor = %s; capacity_scope = \"%s\"; router = \"%s\"; bias_gamma = 0.0375; };\n",
		      1, tokens, 3, cf, scope, router);
}

START_TEST(synthetic_routers_against_policy)
{
	enum { T = 16, P = 2 };
	static float mat[P][T * WI_E], m[P * T * WI_E];
	static uint8_t sel[P * T * WI_E];
	for (int kind = RT_POLICY_EXPERT_CHOICE; kind <= RT_POLICY_BPR; kind++)
		for (int global = 0; global < 2; global++) {
			scn_scenario s;
			rt_router *rt, *draw;
			rt_policy_ws *ws;
			ms_error err;
			int64_t run_dropped = 0, want_dropped = 0;
			sim_result *r = NULL;
			ms_error_clear(&err);
			wi_load_synth(&s, rt_policy_name((rt_policy_kind)kind), global ? "global" : "rank", T, "1.0");
			rt = rt_router_create(&s, NULL, &err);
			ck_assert_ptr_nonnull(rt);
			ck_assert_int_eq(rt_router_plan_bias(rt, 3, 1, &err), MS_OK);
			draw = rt_router_clone(rt, &err);
			ck_assert_ptr_nonnull(draw);
			ws = rt_policy_ws_create(P * T, WI_E, 2, &err);
			ck_assert_ptr_nonnull(ws);
			for (int st = 0; st < 3; st++) {
				const rt_group_routing *gr;
				const double *bias = kind == RT_POLICY_BIAS_BALANCED ? rt_router_bias(rt, st, 0) : NULL;
				int64_t demand[P][WI_E] = {{0}}, kept[P][WI_E] = {{0}}, pairs = 0, dropped = 0, lost = 0;
				ck_assert_int_eq(rt_route_group(rt, st, 0, 0, &gr, &err), MS_OK);
				for (int p = 0; p < P; p++)
					rt_router_synthetic_scores(draw, st, 0, 0, p, mat[p]);
				/* the oracle: rt_policy_route over each scope, tokens in the run's position order */
				for (int scope = 0; scope < (global ? 1 : P); scope++) {
					int n = global ? P * T : T;
					for (int i = 0; i < n; i++) {
						int p = global ? i % P : scope, t = global ? i / P : i;
						memcpy(m + i * WI_E, mat[p] + t * WI_E, WI_E * sizeof *m);
					}
					rt_policy_route(ws, (rt_policy_kind)kind, n, m, 2, rt_capacity(1.0, n, 2, WI_E), SCN_DROP_PROBS, bias,
							sel);
					for (int i = 0; i < n; i++) {
						int p = global ? i % P : scope, any = 0;
						for (int e = 0; e < WI_E; e++) {
							uint8_t v = sel[i * WI_E + e];
							if (v & RT_SEL_ROUTED) {
								pairs++;
								demand[p][e]++;
								dropped += !(v & RT_SEL_KEPT);
							}
							if (v & RT_SEL_KEPT) {
								kept[p][e]++;
								any = 1;
							}
						}
						lost += !any;
					}
				}
				ck_assert_msg(gr->pairs == pairs && gr->dropped_pairs == dropped && gr->dropped_tokens == lost,
					      "%s %s step %d: %lld/%lld/%lld against %lld/%lld/%lld", rt_policy_name((rt_policy_kind)kind),
					      global ? "global" : "rank", st, (long long)gr->pairs, (long long)gr->dropped_pairs,
					      (long long)gr->dropped_tokens, (long long)pairs, (long long)dropped, (long long)lost);
				for (int p = 0; p < P; p++)
					for (int e = 0; e < WI_E; e++) {
						ck_assert_int_eq(gr->demand[p * WI_E + e], demand[p][e]);
						ck_assert_int_eq(gr->kept[p * WI_E + e], kept[p][e]);
					}
				want_dropped += dropped;
			}
			ck_assert_int_gt(want_dropped, 0);
			rt_policy_ws_destroy(ws);
			rt_router_destroy(draw);
			rt_router_destroy(rt);
			/* and the run, at 1 and 2 threads */
			for (int th = 1; th <= 2; th++) {
				run_dropped = 0;
				ck_assert_int_eq(sim_run_scenario(&s, th, &r, &err), MS_OK);
				for (int st = 0; st < 3; st++)
					run_dropped += r->dropped_pairs[st];
				ck_assert_int_eq(run_dropped, want_dropped);
				sim_result_free(r);
			}
		}
}
END_TEST

START_TEST(synthetic_scores_law)
{
	/* A token's two best drawn scores are a Plackett-Luce top-2 of the layer's popularity,
	 * as topk's synthetic draw is: both inclusion counts within 5 standard deviations of
	 * N pi_e, pi from tr_pl_inclusion (exact at k = 2). N = 3 steps x 2 GPUs x 4096. */
	enum { T = 4096, P = 2 };
	static float mat[T * WI_E];
	scn_scenario s;
	rt_router *rt;
	ms_error err;
	double pop[WI_E], pi[WI_E], n_tok = 3.0 * P * T;
	int64_t drawn[WI_E] = {0}, topk[WI_E] = {0};
	ms_error_clear(&err);
	wi_load_synth(&s, "topk", "rank", T, "\"dropless\"");
	rt = rt_router_create(&s, NULL, &err);
	ck_assert_ptr_nonnull(rt);
	memcpy(pop, rt_router_popularity(rt, 0), sizeof pop);
	ck_assert_int_eq(tr_pl_inclusion(pop, WI_E, 2, pi, &err), MS_OK);
	for (int st = 0; st < 3; st++) {
		const rt_group_routing *gr;
		ck_assert_int_eq(rt_route_group(rt, st, 0, 0, &gr, &err), MS_OK);
		for (int p = 0; p < P; p++) {
			for (int e = 0; e < WI_E; e++)
				topk[e] += gr->demand[p * WI_E + e];
			rt_router_synthetic_scores(rt, st, 0, 0, p, mat);
			for (int t = 0; t < T; t++) {
				const float *row = mat + t * WI_E;
				int a = 0, b = -1;
				double sum = 0;
				for (int e = 0; e < WI_E; e++) {
					sum += row[e];
					a = row[e] > row[a] ? e : a;
				}
				ck_assert(fabs(sum - 1.0) < 1e-5); /* softmax of log key: sums to 1 */
				for (int e = 0; e < WI_E; e++)
					if (e != a && (b < 0 || row[e] > row[b]))
						b = e;
				drawn[a]++;
				drawn[b]++;
			}
		}
	}
	for (int e = 0; e < WI_E; e++) {
		double mean = n_tok * pi[e], sd = sqrt(n_tok * pi[e] * (1.0 - pi[e]));
		ck_assert_msg(fabs((double)drawn[e] - mean) < 5 * sd, "expert %d: drawn scores %lld, expected %.1f +- %.1f", e,
			      (long long)drawn[e], mean, sd);
		ck_assert_msg(fabs((double)topk[e] - mean) < 5 * sd, "expert %d: topk draw %lld, expected %.1f +- %.1f", e,
			      (long long)topk[e], mean, sd);
	}
	/* Zipf 1.3 over 8 experts: the hottest is chosen far above the mean k / E = 0.25 */
	{
		double mx = 0;
		for (int e = 0; e < WI_E; e++)
			mx = pi[e] > mx ? pi[e] : mx;
		ck_assert(mx > 0.5);
	}
	rt_router_destroy(rt);
}
END_TEST

Suite *whatif_suite(void)
{
	Suite *s = suite_create("whatif");
	TCase *tc = tcase_create("run");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, run_specialisation_against_trace_stats);
	tcase_add_test(tc, logits_refusal_and_no_labels);
	tcase_add_test(tc, synthetic_routers_against_policy);
	tcase_add_test(tc, synthetic_scores_law);
	suite_add_tcase(s, tc);
	return s;
}
