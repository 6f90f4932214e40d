/*
 * check_routing.c - capacity and drops against a hand-worked example and a
 * brute-force oracle; synthetic routers: exact balance, determinism, popularity;
 * node-limited synthetic routing against a naive oracle of DeepSeek-V3's rule, its
 * span over many tokens, and the unlimited draw when the limit cannot bind; padding and
 * node limits do not depend on the thread count.
 */
#include <check.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/ms_rng.h"
#include "routing/rt_placement.h"
#include "routing/rt_router.h"
#include "sim/sim_run.h"
#include "common/ms_zipf.h"
#include "test_util.h"

/* Six tokens, top-2 over four experts, listed in position order. */
static const int32_t hx_exp[12] = {0, 1, 0, 2, 0, 1, 0, 3, 1, 0, 0, 2};
static const float hx_score[12] = {0.6f, 0.4f, 0.7f, 0.3f, 0.55f, 0.45f, 0.9f, 0.1f, 0.8f, 0.2f, 0.5f, 0.5f};

static void run_hand(double cf, scn_drop_policy pol, const uint8_t *want_keep, int64_t want_dropped)
{
	uint8_t keep[12];
	int64_t order[12], count[5];
	int64_t cap = rt_capacity(cf, 6, 2, 4);
	int64_t d = rt_apply_capacity(12, hx_exp, hx_score, 4, cap, pol, keep, order, count);
	ck_assert_int_eq(d, want_dropped);
	for (int i = 0; i < 12; i++)
		if (keep[i] != want_keep[i])
			ck_abort_msg("cf %.2f policy %d: assignment %d keep %d, want %d", cf, (int)pol, i, keep[i],
				     want_keep[i]);
}

START_TEST(capacity_formula)
{
	/* ceil(tokens x k / E x cf) */
	ck_assert_int_eq(rt_capacity(1.0, 6, 2, 4), 3);
	ck_assert_int_eq(rt_capacity(1.25, 6, 2, 4), 4);
	ck_assert_int_eq(rt_capacity(2.0, 6, 2, 4), 6);
	ck_assert_int_eq(rt_capacity(0.5, 6, 2, 4), 2);
	ck_assert_int_eq(rt_capacity(1.25, 4096, 2, 8), 1280);
	ck_assert_int_eq(rt_capacity(1.1, 1000, 8, 256), 35); /* 31.25 x 1.1 = 34.375 */
	ck_assert_int_eq(rt_capacity(0.0, 4096, 2, 8), 0);   /* dropless */
}
END_TEST

START_TEST(drops_by_hand)
{
	/* Expert 0 is asked for by all six tokens; worked out on paper in the comments. */
	/* cf 1.0, C = 3. position keeps t0 t1 t2 on expert 0. */
	static const uint8_t pos10[12] = {1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1};
	/* probs keeps t3 (.9), t1 (.7), t0 (.6) on expert 0. */
	static const uint8_t prb10[12] = {1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1};
	/* cf 1.25, C = 4: position adds t3; probs adds t2 (.55). */
	static const uint8_t pos125[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1};
	static const uint8_t prb125[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1};
	static const uint8_t all[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	/* cf 0.5, C = 2: expert 1 (t0 .4, t2 .45, t4 .8) is over capacity too. */
	static const uint8_t pos05[12] = {1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 1};
	static const uint8_t prb05[12] = {0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1};
	run_hand(1.0, SCN_DROP_POSITION, pos10, 3);
	run_hand(1.0, SCN_DROP_PROBS, prb10, 3);
	run_hand(1.25, SCN_DROP_POSITION, pos125, 2);
	run_hand(1.25, SCN_DROP_PROBS, prb125, 2);
	run_hand(2.0, SCN_DROP_POSITION, all, 0);
	run_hand(2.0, SCN_DROP_PROBS, all, 0);
	run_hand(0.5, SCN_DROP_POSITION, pos05, 5);
	run_hand(0.5, SCN_DROP_PROBS, prb05, 5);
}
END_TEST

/* Brute force: per expert, repeatedly pick the best remaining assignment. */
static int64_t oracle(int64_t n, const int32_t *ex, const float *sc, int E, int64_t cap, scn_drop_policy pol,
		      uint8_t *keep)
{
	int64_t dropped = 0;
	if (n > 0)
		memset(keep, 0, (size_t)n);
	for (int e = 0; e < E; e++) {
		for (int64_t kept = 0; kept < cap; kept++) {
			int64_t best = -1;
			for (int64_t i = 0; i < n; i++) {
				if (ex[i] != e || keep[i])
					continue;
				if (best < 0 || (pol == SCN_DROP_PROBS && sc[i] > sc[best]))
					best = i;
			}
			if (best < 0)
				break;
			keep[best] = 1;
		}
	}
	for (int64_t i = 0; i < n; i++)
		dropped += !keep[i];
	return dropped;
}

START_TEST(drops_match_brute_force)
{
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	gsl_rng_set(rng, 2385);
	for (int trial = 0; trial < 300; trial++) {
		int E = 1 + (int)gsl_rng_uniform_int(rng, 9);
		int64_t n = 1 + (int64_t)gsl_rng_uniform_int(rng, 120);
		int32_t ex[120];
		float sc[120];
		uint8_t k1[120], k2[120];
		int64_t order[120], count[11];
		int64_t cap = 1 + (int64_t)gsl_rng_uniform_int(rng, 12);
		scn_drop_policy pol = trial % 2 ? SCN_DROP_PROBS : SCN_DROP_POSITION;
		for (int64_t i = 0; i < n; i++) {
			ex[i] = (int32_t)gsl_rng_uniform_int(rng, (unsigned long)E);
			/* Few distinct scores: ties must fall back to position. */
			sc[i] = (float)gsl_rng_uniform_int(rng, 4) / 4.0f;
		}
		ck_assert_int_eq(rt_apply_capacity(n, ex, sc, E, cap, pol, k1, order, count),
				 oracle(n, ex, sc, E, cap, pol, k2));
		ck_assert_mem_eq(k1, k2, (size_t)n);
	}
	gsl_rng_free(rng);
}
END_TEST

static const char *router_cfg(char *buf, size_t len, const char *routing, int E, int k, int T, int ep)
{
	snprintf(buf, len,
		 "model = { hidden = 64; ffn_hidden = 128; experts = %d; top_k = %d; moe_layers = 2; heads = 4; };\n"
		 "cluster = { nodes = 1; gpus_per_node = %d; };\n"
		 "parallel = { ep = %d; };\n"
		 "workload = { tokens_per_rank = %d; seq_len = %d; seed = 2385; };\n"
		 "routing = { %s };\n",
		 E, k, ep, ep, T, T, routing);
	return buf;
}

static rt_router *make_router(const char *routing, int E, int k, int T, int ep)
{
	char text[2048];
	scn_scenario s;
	ms_error err;
	rt_router *r;
	ms_error_clear(&err);
	router_cfg(text, sizeof text, routing, E, k, T, ep);
	if (scn_scenario_load_text(&s, text, "test", NULL, &err) < 0)
		ck_abort_msg("%s", err.msg);
	r = rt_router_create(&s, tu_inputs(&s)->trace, &err);
	ck_assert_ptr_nonnull(r);
	return r;
}

START_TEST(balanced_is_exact)
{
	rt_router *r = make_router("distribution = \"balanced\"; capacity_factor = 1.0;", 8, 2, 96, 4);
	const rt_group_routing *g;
	ms_error err;
	ms_error_clear(&err);
	ck_assert_int_eq(rt_route_group(r, 0, 1, 0, &g, &err), MS_OK);
	for (int p = 0; p < 4; p++)
		for (int e = 0; e < 8; e++) {
			ck_assert_int_eq(g->demand[p * 8 + e], 96 * 2 / 8);
			ck_assert_int_eq(g->kept[p * 8 + e], 96 * 2 / 8);
		}
	ck_assert_int_eq(g->dropped_pairs, 0);
	ck_assert_int_eq(g->capacity, 24);
	/* placement: contiguous puts experts 2p, 2p+1 on member p; each member sends
	 * 2 x 24 pairs to each member and each slot computes 4 x 24 */
	ck_assert_int_eq(rt_router_placement(r)->slots, 2);
	ck_assert_int_eq(rt_router_placement(r)->rep_member[1][5], 2);
	ck_assert_int_eq(rt_router_placement(r)->rep_slot[1][5], 1);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(g->sent[i], 48);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(g->slot_load[i], 96);
	rt_router_destroy(r);
}
END_TEST

START_TEST(deterministic_streams)
{
	rt_router *r = make_router("distribution = \"zipf\"; zipf_s = 1.2; capacity_factor = 1.0;", 16, 4, 200, 4);
	const rt_group_routing *g;
	int32_t a[4 * 16], b[4 * 16];
	int64_t da;
	ms_error err;
	ms_error_clear(&err);
	rt_route_group(r, 3, 1, 0, &g, &err);
	memcpy(a, g->kept, sizeof a);
	da = g->dropped_pairs;
	ck_assert_int_gt(da, 0);
	rt_route_group(r, 0, 0, 0, &g, &err); /* another stream in between */
	rt_route_group(r, 3, 1, 0, &g, &err);
	memcpy(b, g->kept, sizeof b);
	ck_assert_mem_eq(a, b, sizeof a);
	ck_assert_int_eq(g->dropped_pairs, da);
	/* pairs are conserved */
	{
		int64_t sum = 0;
		for (int i = 0; i < 4 * 16; i++)
			sum += g->demand[i];
		ck_assert_int_eq(sum, 4 * 200 * 4);
	}
	rt_router_destroy(r);
}
END_TEST

START_TEST(zipf_top1_frequencies)
{
	/* With top-1, an expert's share of tokens is its popularity (1/rank^s normalised). */
	const int E = 8, T = 20000;
	const double s = 1.0;
	rt_router *r = make_router("distribution = \"zipf\"; zipf_s = 1.0; capacity_factor = \"dropless\";", E, 1, T, 1);
	const rt_group_routing *g;
	double shares[8], H = 0;
	ms_error err;
	ms_error_clear(&err);
	ck_assert_int_eq(rt_route_group(r, 0, 0, 0, &g, &err), MS_OK);
	for (int i = 1; i <= E; i++)
		H += 1.0 / pow(i, s);
	for (int e = 0; e < E; e++)
		shares[e] = (double)g->demand[e] / T;
	/* Sort shares descending and compare with 1/(i^s H) within 5 standard errors. */
	for (int i = 0; i < E; i++)
		for (int j = i + 1; j < E; j++)
			if (shares[j] > shares[i]) {
				double t = shares[i];
				shares[i] = shares[j];
				shares[j] = t;
			}
	for (int i = 0; i < E; i++) {
		double p = 1.0 / (pow(i + 1, s) * H);
		double se = sqrt(p * (1 - p) / T);
		ck_assert_msg(fabs(shares[i] - p) < 5 * se, "rank %d share %.4f, want %.4f", i, shares[i], p);
	}
	ck_assert_int_eq(g->capacity, 0);
	ck_assert_int_eq(g->dropped_pairs, 0);
	rt_router_destroy(r);
}
END_TEST

START_TEST(topk_near_experts_is_distinct)
{
	/* k > E/2 takes the Gumbel-top-k path; every token still has k distinct experts. */
	rt_router *r = make_router("distribution = \"zipf\"; capacity_factor = \"dropless\";", 6, 5, 50, 1);
	const rt_group_routing *g;
	ms_error err;
	ms_error_clear(&err);
	rt_route_group(r, 0, 0, 0, &g, &err);
	for (int e = 0; e < 6; e++)
		ck_assert_int_le(g->demand[e], 50); /* no expert twice in one token */
	ck_assert_int_eq(g->pairs, 250);
	rt_router_destroy(r);
}
END_TEST

START_TEST(eplb_by_hand)
{
	/* 4 experts with loads 10, 6, 3, 1 on 2 GPUs with 2 redundant replicas (worked in
	 * the comments): replicas go to expert 0 (10 -> 5 + 5) then expert 1 (6 -> 3 + 3);
	 * packing 5, 5, 3, 3, 3, 1 gives GPU 0 {e0, e1, e2} = 11 and GPU 1 {e0, e1, e3} = 9. */
	static const double load[4] = {10, 6, 3, 1};
	rt_placement pl;
	ms_error err;
	int64_t sent[4] = {0}, slot[6] = {0};
	static const int32_t start[5] = {0, 2, 4, 5, 6}, member[6] = {0, 1, 0, 1, 0, 1}, slotn[6] = {0, 0, 1, 1, 2, 2};
	ms_error_clear(&err);
	ck_assert_int_eq(rt_placement_init_eplb(&pl, 4, 2, 1, 2, load, &err), MS_OK);
	ck_assert_int_eq(pl.slots, 3);
	ck_assert_mem_eq(pl.rep_start[0], start, sizeof start);
	ck_assert_mem_eq(pl.rep_member[0], member, sizeof member);
	ck_assert_mem_eq(pl.rep_slot[0], slotn, sizeof slotn);
	/* 7 pairs from GPU 1 to expert 0: 4 to the replica on GPU 1 (its turn first), 3 to GPU 0 */
	rt_placement_split(&pl, 0, 0, 1, 7, sent, slot);
	ck_assert_int_eq(sent[1 * 2 + 1], 4);
	ck_assert_int_eq(sent[1 * 2 + 0], 3);
	ck_assert_int_eq(slot[1 * 3 + 0], 4);
	ck_assert_int_eq(slot[0 * 3 + 0], 3);
	rt_placement_fini(&pl);
	ck_assert_int_eq(rt_placement_init_eplb(&pl, 4, 3, 1, 1, load, &err), MS_EINVAL);
	ck_assert(strstr(err.msg, "= 5 is not a multiple of the 3 GPUs") != NULL);
}
END_TEST

START_TEST(placement_file)
{
	rt_placement pl;
	ms_error err;
	char path[256];
	tu_write_temp(path, sizeof path, "# expert gpu\n0 0\n1 0\n2 1\n3 1\n3 0   # replica of 3\n1 2 0\n");
	ms_error_clear(&err);
	ck_assert_int_eq(rt_placement_init_file(&pl, path, 4, 2, 2, &err), MS_OK);
	ck_assert_int_eq(rt_placement_replicas(&pl, 0, 3), 2);
	ck_assert_int_eq(rt_placement_replicas(&pl, 1, 2), 2); /* layer 1 adds expert 2 on GPU 0 */
	ck_assert_int_eq(rt_placement_replicas(&pl, 0, 2), 1);
	ck_assert_int_eq(rt_placement_member_slots(&pl, 0, 0), 3);
	ck_assert_int_eq(pl.slots, 4);
	rt_placement_fini(&pl);
	remove(path);

	tu_write_temp(path, sizeof path, "0 0\n1 0\n2 5\n");
	ms_error_clear(&err);
	ck_assert_int_eq(rt_placement_init_file(&pl, path, 4, 2, 1, &err), MS_EINVAL);
	ck_assert(strstr(err.msg, ":3: GPU 5 is out of range: an EP group has 2 GPUs (0 .. 1)") != NULL);
	remove(path);
	tu_write_temp(path, sizeof path, "0 0\n1 0\n2 1\n");
	ms_error_clear(&err);
	ck_assert_int_eq(rt_placement_init_file(&pl, path, 4, 2, 1, &err), MS_EINVAL);
	ck_assert(strstr(err.msg, "expert 3 of layer 0 is not placed on any GPU") != NULL);
	remove(path);
	tu_write_temp(path, sizeof path, "0 0\n0 x\n");
	ms_error_clear(&err);
	ck_assert_int_eq(rt_placement_init_file(&pl, path, 4, 2, 1, &err), MS_EINVAL);
	ck_assert(strstr(err.msg, ":2: 'x' is not an integer") != NULL);
	remove(path);
}
END_TEST

START_TEST(load_aware_evens_the_load)
{
	/* Zipf-skewed experts: EPLB with replicas must lower the busiest GPU's load. */
	rt_router *a = make_router("distribution = \"zipf\"; zipf_s = 1.2; capacity_factor = \"dropless\";", 16, 2, 2000, 4);
	rt_router *b = make_router("distribution = \"zipf\"; zipf_s = 1.2; capacity_factor = \"dropless\"; "
				   "placement = \"load_aware\"; redundant_experts = 4;", 16, 2, 2000, 4);
	const rt_group_routing *g;
	ms_error err;
	int64_t max_a = 0, max_b = 0, sum_a = 0, sum_b = 0;
	ms_error_clear(&err);
	rt_route_group(a, 0, 0, 0, &g, &err);
	for (int m = 0; m < 4; m++) {
		int64_t v = 0;
		for (int k = 0; k < g->slots; k++)
			v += g->slot_load[m * g->slots + k];
		max_a = v > max_a ? v : max_a;
		sum_a += v;
	}
	rt_route_group(b, 0, 0, 0, &g, &err);
	ck_assert_int_eq(g->slots, 5);
	for (int m = 0; m < 4; m++) {
		int64_t v = 0;
		for (int k = 0; k < g->slots; k++)
			v += g->slot_load[m * g->slots + k];
		max_b = v > max_b ? v : max_b;
		sum_b += v;
	}
	ck_assert_int_eq(sum_a, 4 * 2000 * 2);
	ck_assert_int_eq(sum_b, sum_a);
	ck_assert_msg(max_b < max_a, "load-aware max %lld, contiguous max %lld", (long long)max_b, (long long)max_a);
	ck_assert_msg((double)max_b / (sum_b / 4.0) < 1.1, "load-aware max/mean %.3f", (double)max_b / (sum_b / 4.0));
	rt_router_destroy(a);
	rt_router_destroy(b);
}
END_TEST

START_TEST(domain_dedup_for_hierarchical)
{
	/* 2 nodes x 4 GPUs, experts e on GPU e, balanced top-2: token i picks experts
	 * 2i, 2i+1 (mod 8), both on one node, so it crosses to that node once: each GPU
	 * sends 48 of its 96 tokens to each node, though it sends 96 pairs there. */
	char text[2048];
	scn_scenario sc;
	rt_router *r;
	const rt_group_routing *g;
	ms_error err;
	snprintf(text, sizeof text,
		 "model = { hidden = 64; ffn_hidden = 128; experts = 8; top_k = 2; moe_layers = 1; heads = 4; };\n"
		 "cluster = { nodes = 2; gpus_per_node = 4; };\n"
		 "network = { model = \"flow\"; alltoall = \"hierarchical\"; };\n"
		 "parallel = { ep = 8; };\n"
		 "workload = { tokens_per_rank = 96; seq_len = 96; };\n"
		 "routing = { distribution = \"balanced\"; capacity_factor = \"dropless\"; };\n");
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load_text(&sc, text, "dedup", NULL, &err), MS_OK);
	r = rt_router_create(&sc, tu_inputs(&sc)->trace, &err);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(rt_route_group(r, 0, 0, 0, &g, &err), MS_OK);
	ck_assert_int_eq(g->n_domains, 2);
	for (int p = 0; p < 8; p++) {
		int64_t to_node1 = 0;
		for (int d = 0; d < 2; d++)
			ck_assert_int_eq(g->domain_tokens[p * g->domains_max + d], 48);
		for (int j = 4; j < 8; j++)
			to_node1 += g->sent[p * 8 + j];
		ck_assert_int_eq(to_node1, 96);
	}
	rt_router_destroy(r);
}
END_TEST

/* A synthetic router on nodes x gpn GPUs, EP = all of them, T tokens per GPU. */
static rt_router *make_nodes_router(const char *routing, int nodes, int gpn, int E, int k, int T)
{
	char text[2048];
	scn_scenario s;
	ms_error err;
	rt_router *r;
	snprintf(text, sizeof text,
		 "model = { hidden = 64; ffn_hidden = 128; experts = %d; top_k = %d; moe_layers = 2; heads = 4; };\n"
		 "cluster = { nodes = %d; gpus_per_node = %d; };\nparallel = { ep = %d; };\n"
		 "workload = { tokens_per_rank = %d; seq_len = %d; seed = 2385; };\nrouting = { %s };\n",
		 E, k, nodes, gpn, nodes * gpn, T, T, routing);
	ms_error_clear(&err);
	if (scn_scenario_load_text(&s, text, "nodes", NULL, &err) < 0)
		ck_abort_msg("%s", err.msg);
	r = rt_router_create(&s, NULL, &err);
	ck_assert_msg(r != NULL, "%s", err.msg);
	return r;
}

START_TEST(node_limit_matches_oracle)
{
	/* 4 nodes x 2 GPUs, 32 Zipf experts (8 per node, contiguous), top-4, M = 2. The
	 * oracle, written from the DeepSeek-V3 report (sec. 2.1.2) without the router's
	 * shortcuts: every expert's affinity p_e / X_e drawn, all sorted, node score = sum of
	 * its 2 best, the 2 best nodes, the 4 best experts on them. The router draws the
	 * same law lazily (an exponential race), so the two agree in distribution: each
	 * expert's share of tokens, and each node's share of tokens that reach it, over
	 * 64,000 tokens each, within 5 standard errors of their difference. */
	const int E = 32, k = 4, M = 2, per = 2, T = 8000;
	const double N = 8.0 * T;
	rt_router *r = make_nodes_router("distribution = \"zipf\"; zipf_s = 1.2; capacity_factor = \"dropless\"; "
					 "node_limit = 2;", 4, 2, E, k, T);
	const double *pop = rt_router_popularity(r, 1);
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	const rt_group_routing *g;
	ms_error err;
	double got[32] = {0}, want[32] = {0}, node_got[4] = {0}, node_want[4] = {0};
	ms_error_clear(&err);
	ck_assert_int_eq(rt_route_group(r, 0, 1, 0, &g, &err), MS_OK);
	ck_assert_int_eq(g->pairs, 8 * T * k);
	ck_assert_int_eq(g->n_domains, 4);
	for (int p = 0; p < 8; p++) {
		for (int e = 0; e < E; e++)
			got[e] += g->demand[p * E + e];
		for (int d = 0; d < 4; d++)
			node_got[d] += (double)g->domain_tokens[p * g->domains_max + d];
	}
	gsl_rng_set(rng, 2385);
	for (int t = 0; t < (int)N; t++) {
		double a[32], nscore[4] = {0};
		int order[32], chosen[4] = {0}, taken = 0, span[4] = {0};
		for (int e = 0; e < E; e++) {
			a[e] = pop[e] / -log(gsl_rng_uniform_pos(rng));
			order[e] = e;
		}
		for (int i = 0; i < E; i++) /* selection sort, decreasing */
			for (int j = i + 1; j < E; j++)
				if (a[order[j]] > a[order[i]]) {
					int x = order[i];
					order[i] = order[j];
					order[j] = x;
				}
		for (int n = 0; n < 4; n++)
			for (int i = 0, c = 0; i < E && c < per; i++)
				if (order[i] / 8 == n) {
					nscore[n] += a[order[i]];
					c++;
				}
		for (int m = 0; m < M; m++) {
			int best = -1;
			for (int n = 0; n < 4; n++)
				if (!chosen[n] && (best < 0 || nscore[n] > nscore[best]))
					best = n;
			chosen[best] = 1;
		}
		for (int i = 0; i < E && taken < k; i++)
			if (chosen[order[i] / 8]) {
				want[order[i]]++;
				span[order[i] / 8] = 1;
				taken++;
			}
		for (int n = 0; n < 4; n++)
			node_want[n] += span[n];
	}
	for (int e = 0; e < E; e++) {
		double f = (got[e] + want[e]) / (2 * N), se = sqrt(2 * f * (1 - f) / N);
		ck_assert_msg(fabs(got[e] - want[e]) / N < 5 * se + 1e-12, "expert %d (popularity %.3f): share %.4f, oracle %.4f",
			      e, pop[e], got[e] / N, want[e] / N);
	}
	for (int n = 0; n < 4; n++) {
		double f = (node_got[n] + node_want[n]) / (2 * N), se = sqrt(2 * f * (1 - f) / N);
		ck_assert_msg(fabs(node_got[n] - node_want[n]) / N < 5 * se, "node %d reached by %.4f of tokens, oracle %.4f",
			      n, node_got[n] / N, node_want[n] / N);
	}
	gsl_rng_free(rng);
	rt_router_destroy(r);
}
END_TEST

START_TEST(node_limit_span_over_many_tokens)
{
	/* Zipf experts on 4 nodes x 2 GPUs, top-8 of 64, one token per GPU over 200 (step,
	 * layer) pairs: with node_limit = 2 no token's kept experts span more than 2 nodes
	 * (its distinct nodes are its nonzero domain_tokens), while unlimited most span more. */
	rt_router *lim = make_nodes_router("distribution = \"zipf\"; zipf_s = 0.9; capacity_factor = \"dropless\"; "
					   "node_limit = 2;", 4, 2, 64, 8, 1);
	rt_router *free_r = make_nodes_router("distribution = \"zipf\"; zipf_s = 0.9; capacity_factor = \"dropless\";",
					      4, 2, 64, 8, 1);
	const rt_group_routing *g;
	ms_error err;
	int over = 0, total = 0;
	ms_error_clear(&err);
	for (int step = 0; step < 100; step++)
		for (int layer = 0; layer < 2; layer++) {
			ck_assert_int_eq(rt_route_group(lim, step, layer, 0, &g, &err), MS_OK);
			ck_assert_int_eq(g->pairs, 8 * 8);
			for (int p = 0; p < 8; p++) {
				int nodes = 0;
				for (int d = 0; d < g->n_domains; d++)
					nodes += g->domain_tokens[p * g->domains_max + d] > 0;
				ck_assert_msg(nodes <= 2, "step %d layer %d member %d spans %d nodes", step, layer, p, nodes);
			}
			ck_assert_int_eq(rt_route_group(free_r, step, layer, 0, &g, &err), MS_OK);
			for (int p = 0; p < 8; p++) {
				int nodes = 0;
				for (int d = 0; d < g->n_domains; d++)
					nodes += g->domain_tokens[p * g->domains_max + d] > 0;
				over += nodes > 2;
				total++;
			}
		}
	ck_assert_msg(over > total / 2, "unlimited: %d of %d tokens span more than 2 nodes", over, total);
	rt_router_destroy(lim);
	rt_router_destroy(free_r);
}
END_TEST

START_TEST(node_limit_at_node_count_is_unlimited)
{
	/* M >= the nodes a group spans cannot bind: the draw is the unlimited one, exactly. */
	static const char *limits[2] = {"node_limit = 4;", "node_limit = 9;"};
	rt_router *base = make_nodes_router("distribution = \"zipf\"; zipf_s = 1.1; capacity_factor = 1.1;", 4, 2, 32,
					    6, 300);
	for (int c = 0; c < 2; c++) {
		char routing[256];
		rt_router *r;
		const rt_group_routing *a, *b;
		ms_error err;
		snprintf(routing, sizeof routing, "distribution = \"zipf\"; zipf_s = 1.1; capacity_factor = 1.1; %s",
			 limits[c]);
		r = make_nodes_router(routing, 4, 2, 32, 6, 300);
		ms_error_clear(&err);
		ck_assert_int_eq(rt_route_group(base, 2, 1, 0, &a, &err), MS_OK);
		ck_assert_int_eq(rt_route_group(r, 2, 1, 0, &b, &err), MS_OK);
		ck_assert_mem_eq(a->demand, b->demand, 8 * 32 * sizeof(int32_t));
		ck_assert_mem_eq(a->kept, b->kept, 8 * 32 * sizeof(int32_t));
		ck_assert_mem_eq(a->sent, b->sent, 8 * 8 * sizeof(int64_t));
		ck_assert_mem_eq(a->gpu_tokens, b->gpu_tokens, 8 * 8 * sizeof(int64_t));
		ck_assert_int_gt(a->dropped_pairs, 0);
		rt_router_destroy(r);
	}
	rt_router_destroy(base);
}
END_TEST

START_TEST(dedup_bounds_on_synthetic)
{
	/* Zipf top-6 of 32 on 4 nodes x 2 GPUs, capacity 1.05 (some drops): a token counts
	 * once per GPU and node it reaches, so gpu_tokens <= sent, each node's tokens lie
	 * between its busiest GPU's and the sum over its GPUs, and a member's tokens over all
	 * GPUs lie between its tokens that kept a pair and its kept pairs. */
	rt_router *r = make_nodes_router("distribution = \"zipf\"; zipf_s = 1.0; capacity_factor = 1.05;", 4, 2, 32, 6,
					 257);
	const rt_group_routing *g;
	ms_error err;
	int64_t shared = 0;
	ms_error_clear(&err);
	ck_assert_int_eq(rt_route_group(r, 0, 0, 0, &g, &err), MS_OK);
	ck_assert_int_gt(g->dropped_pairs, 0);
	for (int p = 0; p < 8; p++) {
		int64_t gsum = 0, ssum = 0;
		for (int j = 0; j < 8; j++) {
			ck_assert_int_le(g->gpu_tokens[p * 8 + j], g->sent[p * 8 + j]);
			ck_assert_int_le(g->gpu_tokens[p * 8 + j], 257);
			gsum += g->gpu_tokens[p * 8 + j];
			ssum += g->sent[p * 8 + j];
			shared += g->sent[p * 8 + j] - g->gpu_tokens[p * 8 + j];
		}
		ck_assert_int_le(gsum, ssum);
		for (int d = 0; d < 4; d++) {
			int64_t a = g->gpu_tokens[p * 8 + 2 * d], b = g->gpu_tokens[p * 8 + 2 * d + 1];
			int64_t v = g->domain_tokens[p * g->domains_max + d];
			ck_assert_int_ge(v, a > b ? a : b);
			ck_assert_int_le(v, a + b);
		}
	}
	ck_assert_int_gt(shared, 0); /* some tokens do take two experts on one GPU */
	rt_router_destroy(r);
}
END_TEST

START_TEST(threads_do_not_change_limits_or_padding)
{
	/* 4 EP groups of 2 nodes, node-limited to 1 and padded, routed on 1 and on 3 threads. */
	static const char cfg[] =
		"model = { hidden = 256; ffn_hidden = 512; experts = 16; top_k = 4; moe_layers = 3; heads = 4; };\n"
		"cluster = { nodes = 8; gpus_per_node = 2; };\n"
		"parallel = { ep = 4; };\n"
		"network = { alltoall = \"hierarchical\"; };\n"
		"workload = { tokens_per_rank = 384; seq_len = 384; steps = 2; seed = 2385; };\n"
		"routing = { distribution = \"zipf\"; zipf_s = 1.1; capacity_factor = 1.1; node_limit = 1; "
		"pad_to_capacity = true; };\n";
	scn_scenario s;
	sim_result *a = NULL, *b = NULL;
	ms_error err;
	size_t nph;
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load_text(&s, cfg, "threads", NULL, &err), MS_OK);
	ck_assert_msg(sim_run_scenario(&s, 1, &a, &err) == MS_OK, "%s", err.msg);
	ck_assert_msg(sim_run_scenario(&s, 3, &b, &err) == MS_OK, "%s", err.msg);
	nph = (size_t)a->passes * a->layers * a->world * SIM_NPHASES;
	ck_assert_mem_eq(a->phase_s, b->phase_s, nph * sizeof(double));
	ck_assert_mem_eq(a->step_time_s, b->step_time_s, 2 * sizeof(double));
	ck_assert_mem_eq(a->expert_demand, b->expert_demand, (size_t)a->layers * a->experts * sizeof(double));
	ck_assert_mem_eq(a->rank_load, b->rank_load, (size_t)a->layers * a->world * sizeof(double));
	ck_assert_mem_eq(a->dropped_pairs, b->dropped_pairs, 2 * sizeof(int64_t));
	ck_assert(a->nvlink_bytes == b->nvlink_bytes && a->nic_bytes == b->nic_bytes);
	/* padded: every GPU computes P x C = 4 x ceil(384 x 4 / 16 x 1.1) = 4 x 106 rows per expert
	 * slot, 4 slots, in every layer and step */
	for (int l = 0; l < a->layers; l++)
		for (int rk = 0; rk < a->world; rk++)
			ck_assert_msg(a->rank_load[(size_t)l * a->world + rk] == 4 * 4 * 106.0, "layer %d rank %d load %g", l,
				      rk, a->rank_load[(size_t)l * a->world + rk]);
	sim_result_free(a);
	sim_result_free(b);
}
END_TEST

/*
 * A steep Zipf (zipf_s = 10, the key's maximum): drawing the k-th distinct expert by
 * rejection alone would take about 8x longer per unit of zipf_s (issue 18's hang); the
 * router then draws the choice exactly from the remaining mass. The law must stay the
 * successive-sampling (Plackett-Luce) one: each expert's inclusion frequency is held
 * against an independent Gumbel-top-k sampler of the same popularity, within 5 sigma.
 * (Check's per-test timeout catches a return of the hang.)
 */
START_TEST(steep_zipf_draws_in_bounded_time_and_exact_law)
{
	enum { E = 16, K = 8, T = 4000, P = 4 };
	rt_router *r = make_router("distribution = \"zipf\"; zipf_s = 10.0; capacity_factor = \"dropless\";", E, K, T, P);
	const rt_group_routing *g;
	ms_error err;
	double pop[E], freq[E] = {0}, oracle[E] = {0}, key[E];
	size_t perm[E];
	gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
	ms_error_clear(&err);
	ck_assert_int_eq(rt_route_group(r, 0, 0, 0, &g, &err), MS_OK);
	for (int p = 0; p < P; p++) {
		int64_t total = 0;
		for (int e = 0; e < E; e++) {
			int32_t d = g->demand[p * E + e];
			ck_assert_msg(d <= T, "member %d: expert %d chosen %d times by %d tokens", p, e, d, T);
			freq[e] += d;
			total += d;
		}
		ck_assert_int_eq(total, (int64_t)T * K);
	}
	/* The router's layer-0 popularity (ms_stream_seed(seed, 0xB0B, layer, 0, 0)). */
	gsl_rng_set(rng, ms_stream_seed(2385, 0xB0B, 0, 0, 0));
	ms_zipf_popularity(rng, E, 10.0, perm, pop);
	gsl_rng_set(rng, 90125);
	for (int t = 0; t < P * T; t++) {
		for (int e = 0; e < E; e++)
			key[e] = log(pop[e]) - log(-log(gsl_rng_uniform_pos(rng)));
		for (int j = 0; j < K; j++) {
			int best = 0;
			for (int e = 1; e < E; e++)
				if (key[e] > key[best])
					best = e;
			oracle[best] += 1;
			key[best] = -INFINITY;
		}
	}
	for (int e = 0; e < E; e++) {
		double a = freq[e] / (P * T), b = oracle[e] / (P * T), q = (a + b) / 2;
		double sd = sqrt(2 * q * (1 - q) / (P * T));
		ck_assert_msg(fabs(a - b) <= 5 * sd + 1e-3, "expert %d: router %.4f, oracle %.4f", e, a, b);
	}
	gsl_rng_free(rng);
	rt_router_destroy(r);
}
END_TEST

Suite *routing_suite(void)
{
	Suite *s = suite_create("routing");
	TCase *tc = tcase_create("capacity");
	tcase_add_test(tc, capacity_formula);
	tcase_add_test(tc, drops_by_hand);
	tcase_add_test(tc, drops_match_brute_force);
	tcase_add_test(tc, balanced_is_exact);
	tcase_add_test(tc, deterministic_streams);
	tcase_add_test(tc, zipf_top1_frequencies);
	tcase_add_test(tc, topk_near_experts_is_distinct);
	tcase_add_test(tc, eplb_by_hand);
	tcase_add_test(tc, placement_file);
	tcase_add_test(tc, load_aware_evens_the_load);
	tcase_add_test(tc, domain_dedup_for_hierarchical);
	tcase_add_test(tc, node_limit_matches_oracle);
	tcase_add_test(tc, node_limit_span_over_many_tokens);
	tcase_add_test(tc, node_limit_at_node_count_is_unlimited);
	tcase_add_test(tc, dedup_bounds_on_synthetic);
	tcase_add_test(tc, threads_do_not_change_limits_or_padding);
	tcase_add_test(tc, steep_zipf_draws_in_bounded_time_and_exact_law);
	suite_add_tcase(s, tc);
	return s;
}
