/*
 * check_replay.c - replaying a recorded trace: drops counted by hand for a small trace
 * at capacity factors 1.0, 1.25 and 2.0, under both drop policies and both scopes; the
 * token mapping (recorded ranks, layer cycling); top-k re-chosen from the ranking;
 * node-limited routing; de-duplicated counts and padding on a hand-built routing with a
 * replica on another node; bad traces rejected with the dataset named; routing.router's
 * four routers against rt_policy_route on the same tokens in the same scope, the bias of
 * bias_balanced against a hand-stepped update, its refusals, and thread independence;
 * expert_choice's model FLOPs (those of the kept pairs) by hand.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "routing/rt_policy.h"
#include "routing/rt_router.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"
#include "test_util.h"

/*
 * Two recorded ranks of six tokens, four experts, full rankings (K = 4). Top-2 scores
 * of each token sum to 1, so renormalisation keeps them. Rank 0:
 *   t0: e0 .6  e1 .4    t1: e0 .7  e2 .3    t2: e0 .55 e1 .45
 *   t3: e0 .9  e3 .1    t4: e1 .8  e0 .2    t5: e0 .5  e2 .5
 * Rank 1:
 *   u0: e0 .7  e3 .3    u1: e2 .75 e0 .25   u2: e0 .85 e1 .15
 *   u3: e3 .65 e2 .35   u4: e0 .55 e2 .45   u5: e1 .95 e0 .05
 * Demand per expert: rank 0 {6, 3, 2, 1}, rank 1 {5, 2, 3, 2}.
 */
static const short top2[12][2] = {{0, 1}, {0, 2}, {0, 1}, {0, 3}, {1, 0}, {0, 2},
				  {0, 3}, {2, 0}, {0, 1}, {3, 2}, {0, 2}, {1, 0}};
static const float sc2[12][2] = {{.6f, .4f}, {.7f, .3f}, {.55f, .45f}, {.9f, .1f}, {.8f, .2f}, {.5f, .5f},
				 {.7f, .3f}, {.75f, .25f}, {.85f, .15f}, {.65f, .35f}, {.55f, .45f}, {.95f, .05f}};

static void write_hand_trace(const char *path)
{
	short ids[12 * 4];
	float scores[12 * 4];
	int ranks[12];
	for (int t = 0; t < 12; t++) {
		int n = 2;
		ranks[t] = t / 6;
		ids[t * 4] = top2[t][0];
		ids[t * 4 + 1] = top2[t][1];
		scores[t * 4] = sc2[t][0];
		scores[t * 4 + 1] = sc2[t][1];
		for (short e = 0; e < 4; e++) /* the rest of the ranking, lower scores */
			if (e != top2[t][0] && e != top2[t][1]) {
				ids[t * 4 + n] = e;
				scores[t * 4 + n] = 0.01f / (float)n;
				n++;
			}
	}
	tu_write_trace(path, 1, 4, 4, 12, ids, scores, ranks);
}

static const char cfg[] =
	"model = { hidden = 64; ffn_hidden = 128; experts = 4; top_k = 2; moe_layers = 1; heads = 4; };\n"
	"cluster = { nodes = 1; gpus_per_node = 2; };\n"
	"parallel = { ep = 2; };\n"
	"workload = { mode = \"prefill\"; tokens_per_rank = 6; seq_len = 6; };\n"
	"routing = { source = \"trace\"; trace = \"%s\"; capacity_factor = %s; capacity_scope = \"%s\"; "
	"drop_policy = \"%s\"; };\n";

static void load(scn_scenario *s, const char *trace, const char *cf, const char *scope, const char *policy)
{
	char text[2048];
	ms_error err;
	ms_error_clear(&err);
	snprintf(text, sizeof text, cfg, trace, cf, scope, policy);
	if (scn_scenario_load_text(s, text, "replay", NULL, &err) < 0)
		ck_abort_msg("%s", err.msg);
}

START_TEST(drops_by_hand)
{
	/* Dropped pairs, worked by hand (see the table in the comment above):
	 * rank scope, C = ceil(3 cf) per GPU: cf 1 -> 3 (rank 0 drops 3 of expert 0's 6,
	 * rank 1 drops 2 of 5) = 5; cf 1.25 -> 4: 2 + 1 = 3; cf 2 -> 6: 0.
	 * global scope, C = ceil(6 cf): expert 0 is asked 11 times: cf 1 -> 6: 5;
	 * cf 1.25 -> 8: 3; cf 2 -> 12: 0. Policies choose which pairs, not how many. */
	static const char *cfs[3] = {"1.0", "1.25", "2.0"};
	static const long long want_rank[3] = {5, 3, 0}, want_global[3] = {5, 3, 0};
	/* Expert 0's kept pairs from GPU 0 and GPU 1 in the global scope:
	 * position keeps the first C in (token, GPU) order; probs the C best scores with
	 * ties to the earlier position. cf 1: position t0 u0 t1 u1 t2 u2 -> 3 + 3; probs
	 * t3 .9, u2 .85, u0 .7, t1 .7, t0 .6, t2 .55 -> 4 + 2. cf 1.25: position adds t3, t4
	 * -> 5 + 3; probs adds u4 .55, t5 .5 -> 5 + 3. */
	static const int keep0_pos[3][2] = {{3, 3}, {5, 3}, {6, 5}}, keep0_probs[3][2] = {{4, 2}, {5, 3}, {6, 5}};
	char path[256];
	tu_write_temp(path, sizeof path, "");
	write_hand_trace(path);
	for (int c = 0; c < 3; c++)
		for (int g = 0; g < 2; g++)
			for (int pol = 0; pol < 2; pol++) {
				scn_scenario s;
				sim_result *r = NULL;
				rt_router *rt;
				const rt_group_routing *gr;
				ms_error err;
				ms_error_clear(&err);
				load(&s, path, cfs[c], g ? "global" : "rank", pol ? "probs" : "position");
				ck_assert_int_eq(sim_run_scenario(&s, 0, &r, &err), MS_OK);
				ck_assert_msg(r->dropped_pairs[0] == (g ? want_global[c] : want_rank[c]),
					      "cf %s %s %s: simulator dropped %lld", cfs[c], g ? "global" : "rank",
					      pol ? "probs" : "position", (long long)r->dropped_pairs[0]);
				ck_assert_int_eq(r->pairs[0], 24);
				sim_result_free(r);
				rt = rt_router_create(&s, tu_inputs(&s)->trace, &err);
				ck_assert_ptr_nonnull(rt);
				ck_assert_int_eq(rt_route_group(rt, 0, 0, 0, &gr, &err), MS_OK);
				if (g) {
					const int *want = pol ? keep0_probs[c] : keep0_pos[c];
					ck_assert_int_eq(gr->kept[0 * 4 + 0], want[0]);
					ck_assert_int_eq(gr->kept[1 * 4 + 0], want[1]);
				} else {
					/* rank scope: each GPU keeps min(demand, C) of each expert */
					static const int cap[3] = {3, 4, 6};
					ck_assert_int_eq(gr->kept[0 * 4 + 0], cap[c] < 6 ? cap[c] : 6);
					ck_assert_int_eq(gr->kept[1 * 4 + 0], cap[c] < 5 ? cap[c] : 5);
				}
				rt_router_destroy(rt);
			}
	remove(path);
}
END_TEST

START_TEST(mapping_and_topk)
{
	/* Recorded rank 1's tokens go to simulated rank 1; top-1 re-chosen from the ranking. */
	char path[256], text[2048];
	scn_scenario s;
	rt_router *rt;
	const rt_group_routing *gr;
	ms_error err;
	scn_overrides ov = {1, {"routing.top_k=1"}};
	tu_write_temp(path, sizeof path, "");
	write_hand_trace(path);
	snprintf(text, sizeof text, cfg, path, "\"dropless\"", "rank", "probs");
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load_text(&s, text, "replay", &ov, &err), MS_OK);
	rt = rt_router_create(&s, tu_inputs(&s)->trace, &err);
	ck_assert_ptr_nonnull(rt);
	ck_assert_int_eq(rt_route_group(rt, 0, 0, 0, &gr, &err), MS_OK);
	/* rank 0 first choices: e0 x5, e1 x1; rank 1: e0 x3, e2 x1, e3 x1, e1 x1 */
	ck_assert_int_eq(gr->demand[0], 5);
	ck_assert_int_eq(gr->demand[1], 1);
	ck_assert_int_eq(gr->demand[4 + 0], 3);
	ck_assert_int_eq(gr->demand[4 + 1], 1);
	ck_assert_int_eq(gr->demand[4 + 2], 1);
	ck_assert_int_eq(gr->demand[4 + 3], 1);
	rt_router_destroy(rt);
	remove(path);
}
END_TEST

START_TEST(node_limited)
{
	/* 2 nodes x 1 GPU, experts 0-1 on node 0, 2-3 on node 1, node_limit 1: each token keeps
	 * its experts on the node with the best top-1 score (ceil(2/1) = 2 best per node).
	 * t1: e0 .7 e2 .3 e1/e3 small -> node 0 (.7 + .005) beats node 1 (.3 + .01/3): e0, e1. */
	char path[256], text[2048];
	scn_scenario s;
	rt_router *rt;
	const rt_group_routing *gr;
	ms_error err;
	int64_t total = 0;
	tu_write_temp(path, sizeof path, "");
	write_hand_trace(path);
	snprintf(text, sizeof text,
		 "model = { hidden = 64; ffn_hidden = 128; experts = 4; top_k = 2; moe_layers = 1; heads = 4; };\n"
		 "cluster = { nodes = 2; gpus_per_node = 1; };\nparallel = { ep = 2; };\n"
		 "workload = { mode = \"prefill\"; tokens_per_rank = 6; seq_len = 6; };\n"
		 "routing = { source = \"trace\"; trace = \"%s\"; capacity_factor = \"dropless\"; node_limit = 1; };\n",
		 path);
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load_text(&s, text, "replay", NULL, &err), MS_OK);
	rt = rt_router_create(&s, tu_inputs(&s)->trace, &err);
	ck_assert_ptr_nonnull(rt);
	ck_assert_int_eq(rt_route_group(rt, 0, 0, 0, &gr, &err), MS_OK);
	/* Every token's two experts are on one node (one GPU here), so the pairs a GPU sends
	 * to the other come in whole tokens. */
	for (int i = 0; i < 4; i++)
		total += gr->sent[i];
	ck_assert_int_eq(total, 24);
	ck_assert_int_eq(gr->sent[0 * 2 + 1] % 2, 0);
	ck_assert_int_eq(gr->sent[1 * 2 + 0] % 2, 0);
	/* Rank 0's tokens all pick node 0: t1 (.7 + .005 against .3 + .0033), t3 (.9 against .1),
	 * t5 (.5 + .005 against .5 + .0033), the others have both choices there already. */
	ck_assert_int_eq(gr->sent[0 * 2 + 0], 12);
	rt_router_destroy(rt);
	remove(path);
}
END_TEST

/*
 * A hand-built routing for the de-duplicated counts and padding: 2 nodes x 2 GPUs, EP 4,
 * 8 experts, top-3, 3 tokens per GPU. Experts 2m, 2m+1 on member m, and expert 0 also
 * on member 3 (another node): from source p, expert 0's n-th pair goes to the replica
 * with i = n mod 2 in the split's order (p + i) mod 2, i.e. member 0 for p even and n
 * even, ... Worked token by token ("m" = member the pair lands on; domain = node):
 *   p0 t0 {0 1 5} -> m0 m0 m2   t1 {0 6 7} -> m3 m3 m3   t2 {2 3 4} -> m1 m1 m2
 *   p1 t0 {3 2 0} -> m1 m1 m3   t1 {7 6 5} -> m3 m3 m2   t2 {0 4 1} -> m0 m2 m0
 *   p2 t0 {4 5 6} -> m2 m2 m3   t1 {0 2 6} -> m0 m1 m3   t2 {0 3 7} -> m3 m1 m3
 *   p3 t0 {0 1 2} -> m3 m0 m1   t1 {0 7 5} -> m0 m3 m2   t2 {0 4 6} -> m3 m2 m3
 * (p3 sends expert 0 three pairs: the split gives its first replica in order, member 3,
 * two and member 0 one, as the tokens do.)
 */
static const short dd_ids[12][3] = {{0, 1, 5}, {0, 6, 7}, {2, 3, 4}, {3, 2, 0}, {7, 6, 5}, {0, 4, 1},
				    {4, 5, 6}, {0, 2, 6}, {0, 3, 7}, {0, 1, 2}, {0, 7, 5}, {0, 4, 6}};

static void dd_load(scn_scenario *s, char *trace, char *placement, const char *routing)
{
	short ids[36];
	float scores[36];
	int ranks[12];
	char text[4096];
	ms_error err;
	for (int t = 0; t < 12; t++) {
		ranks[t] = t / 3;
		for (int j = 0; j < 3; j++) {
			ids[t * 3 + j] = dd_ids[t][j];
			scores[t * 3 + j] = 0.5f - 0.15f * (float)j;
		}
	}
	tu_write_temp(trace, 256, "");
	tu_write_trace(trace, 1, 8, 3, 12, ids, scores, ranks);
	tu_write_temp(placement, 256, "0 0\n1 0\n2 1\n3 1\n4 2\n5 2\n6 3\n7 3\n0 3\n");
	snprintf(text, sizeof text,
		 "model = { hidden = 64; ffn_hidden = 128; experts = 8; top_k = 3; moe_layers = 1; heads = 4; };\n"
		 "cluster = { nodes = 2; gpus_per_node = 2; };\nparallel = { ep = 4; };\n"
		 "workload = { mode = \"prefill\"; tokens_per_rank = 3; seq_len = 3; };\n"
		 "routing = { source = \"trace\"; trace = \"%s\"; placement = \"file\"; placement_file = \"%s\"; %s };\n",
		 trace, placement, routing);
	ms_error_clear(&err);
	if (scn_scenario_load_text(s, text, "dedup", NULL, &err) < 0)
		ck_abort_msg("%s", err.msg);
}

static rt_router *dd_route(const scn_scenario *s, const rt_group_routing **gr)
{
	ms_error err;
	rt_router *rt;
	ms_error_clear(&err);
	rt = rt_router_create(s, tu_inputs(s)->trace, &err);
	ck_assert_msg(rt != NULL, "%s", err.msg);
	ck_assert_int_eq(rt_route_group(rt, 0, 0, 0, gr, &err), MS_OK);
	return rt;
}

START_TEST(dedup_counts_by_hand)
{
	/* From the table above: pairs, distinct tokens per GPU and per node. */
	static const int64_t sent[16] = {2, 2, 2, 3, 2, 2, 2, 3, 1, 2, 2, 4, 2, 1, 2, 4};
	static const int64_t gpu[16] = {1, 1, 2, 1, 1, 1, 2, 2, 1, 2, 1, 3, 2, 1, 2, 3};
	static const int64_t dom[8] = {2, 3, 2, 3, 2, 3, 2, 3};
	char trace[256], placement[256];
	scn_scenario s;
	const rt_group_routing *gr;
	rt_router *rt;
	dd_load(&s, trace, placement, "capacity_factor = \"dropless\";");
	rt = dd_route(&s, &gr);
	ck_assert_int_eq(gr->padded, 0);
	ck_assert_int_eq(gr->n_domains, 2);
	ck_assert_int_eq(gr->domains_max, 3); /* the most 4 consecutive ranks can span, not this group's 2 */
	for (int i = 0; i < 16; i++) {
		ck_assert_msg(gr->sent[i] == sent[i], "sent[%d][%d] = %lld, want %lld", i / 4, i % 4,
			      (long long)gr->sent[i], (long long)sent[i]);
		ck_assert_msg(gr->gpu_tokens[i] == gpu[i], "gpu_tokens[%d][%d] = %lld, want %lld", i / 4, i % 4,
			      (long long)gr->gpu_tokens[i], (long long)gpu[i]);
	}
	for (int i = 0; i < 8; i++)
		ck_assert_msg(gr->domain_tokens[i / 2 * 3 + i % 2] == dom[i], "domain_tokens[%d][%d] = %lld, want %lld",
			      i / 2, i % 2, (long long)gr->domain_tokens[i / 2 * 3 + i % 2], (long long)dom[i]);
	rt_router_destroy(rt);
	remove(trace);
	remove(placement);
}
END_TEST

START_TEST(padding_by_hand)
{
	/* cf 1.0. Rank scope: C = ceil(3 x 3 / 8) = 2 per source and expert, expert 0's 2
	 * split 1 + 1 over its replicas: member 0 receives e0 1 + e1 2 = 3 rows from every
	 * source, members 1 and 2 4, member 3 e0 1 + e6 2 + e7 2 = 5 (16 = C x E per source);
	 * each replica of e0 computes 4 x 1, every other expert 4 x 2. Buffers are per
	 * expert: gpu_tokens = sent, per node 3 + 4 = 7 and 4 + 5 = 9.
	 * Global scope: C = ceil(12 x 3 / 8) = 5 per expert, expert 0's split 3 (member 0,
	 * first in order) + 2 (member 3); the exchange carries the kept pairs as without
	 * padding. */
	static const int64_t rank_row[4] = {3, 4, 4, 5}, rank_slots[12] = {4, 8, 0, 8, 8, 0, 8, 8, 0, 4, 8, 8};
	static const int64_t glob_slots[12] = {3, 5, 0, 5, 5, 0, 5, 5, 0, 2, 5, 5};
	char trace[256], placement[256];
	scn_scenario s;
	const rt_group_routing *gr;
	rt_router *rt, *plain;
	dd_load(&s, trace, placement, "capacity_factor = 1.0; pad_to_capacity = true;");
	rt = dd_route(&s, &gr);
	ck_assert_int_eq(gr->padded, 1);
	ck_assert_int_eq(gr->capacity, 2);
	ck_assert_int_eq(gr->slots, 3);
	ck_assert_int_eq(gr->dropped_pairs, 1); /* p3's third pair to expert 0: padding drops as capacity does */
	for (int p = 0; p < 4; p++) {
		for (int j = 0; j < 4; j++) {
			ck_assert_int_eq(gr->sent[p * 4 + j], rank_row[j]);
			ck_assert_int_eq(gr->gpu_tokens[p * 4 + j], rank_row[j]);
		}
		ck_assert_int_eq(gr->domain_tokens[p * 3 + 0], 7);
		ck_assert_int_eq(gr->domain_tokens[p * 3 + 1], 9);
		ck_assert_int_eq(gr->domain_tokens[p * 3 + 2], 0);
	}
	for (int i = 0; i < 12; i++)
		ck_assert_msg(gr->slot_load[i] == rank_slots[i], "rank slot_load[%d] = %lld, want %lld", i,
			      (long long)gr->slot_load[i], (long long)rank_slots[i]);
	rt_router_destroy(rt);
	remove(trace);
	remove(placement);

	dd_load(&s, trace, placement, "capacity_factor = 1.0; capacity_scope = \"global\"; pad_to_capacity = true;");
	rt = dd_route(&s, &gr);
	ck_assert_int_eq(gr->capacity, 5);
	for (int i = 0; i < 12; i++)
		ck_assert_msg(gr->slot_load[i] == glob_slots[i], "global slot_load[%d] = %lld, want %lld", i,
			      (long long)gr->slot_load[i], (long long)glob_slots[i]);
	{
		const rt_group_routing *gp;
		scn_scenario s2;
		char t2[256], p2[256];
		dd_load(&s2, t2, p2, "capacity_factor = 1.0; capacity_scope = \"global\";");
		plain = dd_route(&s2, &gp);
		/* expert 0 is asked 9 times for 5 places: 4 dropped, padded or not */
		ck_assert_int_eq(gr->dropped_pairs, 4);
		ck_assert_int_eq(gp->dropped_pairs, 4);
		ck_assert_mem_eq(gr->sent, gp->sent, 16 * sizeof(int64_t));
		ck_assert_mem_eq(gr->gpu_tokens, gp->gpu_tokens, 16 * sizeof(int64_t));
		ck_assert_mem_eq(gr->domain_tokens, gp->domain_tokens, 12 * sizeof(int64_t));
		rt_router_destroy(plain);
		remove(t2);
		remove(p2);
	}
	rt_router_destroy(rt);
	remove(trace);
	remove(placement);
}
END_TEST

START_TEST(bad_traces)
{
	char path[256], text[2048];
	scn_scenario s;
	sim_result *r = NULL;
	ms_error err;
	short ids[12 * 4];
	float scores[12 * 4];
	for (int i = 0; i < 48; i++) {
		ids[i] = (short)(i % 4);
		scores[i] = 0.25f;
	}
	tu_write_temp(path, sizeof path, "");
	/* wrong expert count */
	tu_write_trace(path, 1, 8, 4, 12, ids, scores, NULL);
	load(&s, path, "1.0", "rank", "probs");
	ms_error_clear(&err);
	ck_assert_int_lt(sim_run_scenario(&s, 0, &r, &err), 0);
	ck_assert_msg(strstr(err.msg, "has 8 experts per layer but model.experts = 4") != NULL, "%s", err.msg);
	/* an id out of range */
	ids[5 * 4 + 1] = 7;
	tu_write_trace(path, 1, 4, 4, 12, ids, scores, NULL);
	ms_error_clear(&err);
	ck_assert_int_lt(sim_run_scenario(&s, 0, &r, &err), 0);
	ck_assert_msg(strstr(err.msg, "/routing/expert_ids[0, 5, 1] = 7 is out of range: num_experts = 4") != NULL, "%s",
		      err.msg);
	/* a score that is not finite: refused as `trace validate` refuses it (issue 18) */
	ids[5 * 4 + 1] = 1;
	scores[7 * 4 + 2] = NAN;
	tu_write_trace(path, 1, 4, 4, 12, ids, scores, NULL);
	ms_error_clear(&err);
	ck_assert_int_lt(sim_run_scenario(&s, 0, &r, &err), 0);
	ck_assert_msg(strstr(err.msg, "/routing/scores[0, 7, 2] = nan is not finite") != NULL, "%s", err.msg);
	scores[7 * 4 + 2] = INFINITY;
	tu_write_trace(path, 1, 4, 4, 12, ids, scores, NULL);
	ms_error_clear(&err);
	ck_assert_int_lt(sim_run_scenario(&s, 0, &r, &err), 0);
	ck_assert_msg(strstr(err.msg, "/routing/scores[0, 7, 2] = inf is not finite") != NULL, "%s", err.msg);
	scores[7 * 4 + 2] = 0.25f;
	/* not HDF5 at all */
	tu_write_temp(path, sizeof path, "this is not a trace\n");
	load(&s, path, "1.0", "rank", "probs");
	ms_error_clear(&err);
	ck_assert_int_lt(sim_run_scenario(&s, 0, &r, &err), 0);
	ck_assert_msg(strstr(err.msg, "not an HDF5 file, or truncated or corrupt") != NULL, "%s", err.msg);
	remove(path);
	/* missing file */
	snprintf(text, sizeof text, "%s.missing", path);
	load(&s, text, "1.0", "rank", "probs");
	ms_error_clear(&err);
	ck_assert_int_lt(sim_run_scenario(&s, 0, &r, &err), 0);
	ck_assert_msg(strstr(err.msg, "routing.trace: ") && strstr(err.msg, "No such file or directory"), "%s", err.msg);
}
END_TEST

static void collect_warning(void *ctx, const char *msg)
{
	char *buf = ctx;
	strncat(buf, msg, 1000 - strlen(buf));
	strncat(buf, "|", 1000 - strlen(buf));
}

START_TEST(cycling_and_relative_paths)
{
	/* A 1-layer trace under a 3-layer model replays its layer in every layer; a second
	 * step past the stream's end starts it again; the trace path is taken from the
	 * scenario file's directory. */
	char dir[256], trace[512], cfgpath[512];
	FILE *f;
	scn_scenario s;
	rt_router *rt;
	const rt_group_routing *gr;
	int32_t first[8];
	ms_error err;
	tu_temp_dir(dir, sizeof dir);
	snprintf(trace, sizeof trace, "%s/hand.h5", dir);
	write_hand_trace(trace);
	snprintf(cfgpath, sizeof cfgpath, "%s/run.cfg", dir);
	f = fopen(cfgpath, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "model = { hidden = 64; ffn_hidden = 128; experts = 4; top_k = 2; moe_layers = 3; heads = 4; };\n"
		   "cluster = { nodes = 1; gpus_per_node = 2; };\nparallel = { ep = 2; };\n"
		   "workload = { mode = \"prefill\"; tokens_per_rank = 6; seq_len = 6; steps = 2; };\n"
		   "routing = { source = \"trace\"; trace = \"hand.h5\"; capacity_factor = \"dropless\"; };\n");
	fclose(f);
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load(&s, cfgpath, NULL, &err), MS_OK);
	rt = rt_router_create(&s, tu_inputs(&s)->trace, &err);
	ck_assert_msg(rt != NULL, "%s", err.msg);
	ck_assert_int_eq(rt_route_group(rt, 0, 0, 0, &gr, &err), MS_OK);
	memcpy(first, gr->demand, sizeof first);
	ck_assert_int_eq(first[0], 6); /* rank 0's expert 0, as in drops_by_hand */
	ck_assert_int_eq(rt_route_group(rt, 0, 2, 0, &gr, &err), MS_OK);
	ck_assert_mem_eq(gr->demand, first, sizeof first);
	ck_assert_int_eq(rt_route_group(rt, 1, 1, 0, &gr, &err), MS_OK);
	ck_assert_mem_eq(gr->demand, first, sizeof first);
	rt_router_destroy(rt);
	{
		/* Both cases warn, through the channel the caller gives (the library prints
		 * nothing itself). */
		char said[1024] = "";
		ms_warn w = {collect_warning, said};
		sim_inputs in;
		ck_assert_int_eq(sim_inputs_open(&in, &s, &w, &err), MS_OK);
		sim_inputs_close(&in);
		ck_assert_msg(strstr(said, "hand.h5 has 1 MoE layers, the model 3: layer l replays trace layer l mod 1|"),
			      "%s", said);
		ck_assert_msg(strstr(said, "tokens are reused from the start|"), "%s", said);
	}
	remove(trace);
	remove(cfgpath);
	rmdir(dir);
}
END_TEST

/*
 * routing.router: a trace of two recorded ranks x 48 tokens, 8 experts, full rankings,
 * scores from a fixed generator with experts 0, 3 and 6 three times as likely to score
 * high (so capacity binds and the bias has something to balance). The run replays
 * 16 tokens a GPU a step, 3 steps, on one EP group of 2 GPUs: member p's token t at
 * step s is recorded rank p's token 16 s + t (rt_trace.h).
 */
enum { RR_E = 8, RR_TR = 48, RR_T = 16, RR_STEPS = 3 };
static float rr_score[2][RR_TR][RR_E];

static void rr_write_trace(const char *path)
{
	static short ids[2 * RR_TR * RR_E];
	static float scores[2 * RR_TR * RR_E];
	int ranks[2 * RR_TR];
	uint32_t x = 2385;
	for (int p = 0; p < 2; p++)
		for (int t = 0; t < RR_TR; t++) {
			int i = p * RR_TR + t;
			double sum = 0, raw[RR_E];
			ranks[i] = p;
			for (int e = 0; e < RR_E; e++) {
				x = x * 1664525u + 1013904223u;
				raw[e] = ((x >> 8) + 0.5) / 16777216.0 * (e % 3 == 0 ? 3.0 : 1.0);
				sum += raw[e];
			}
			for (int e = 0; e < RR_E; e++)
				rr_score[p][t][e] = (float)(raw[e] / sum);
			/* the ranking: experts by score, best first */
			for (int j = 0; j < RR_E; j++) {
				int best = -1;
				for (int e = 0; e < RR_E; e++) {
					int taken = 0;
					for (int q = 0; q < j; q++)
						taken |= ids[i * RR_E + q] == e;
					if (!taken && (best < 0 || rr_score[p][t][e] > rr_score[p][t][best]))
						best = e;
				}
				ids[i * RR_E + j] = (short)best;
				scores[i * RR_E + j] = rr_score[p][t][best];
			}
		}
	tu_write_trace(path, 1, RR_E, RR_E, 2 * RR_TR, ids, scores, ranks);
}

static void rr_load(scn_scenario *s, const char *trace, const char *router, const char *scope)
{
	tu_load_textf(s, "routers",
		      "model = { hidden = 64; ffn_hidden = 128; experts = 8; top_k = 2; moe_layers = 1; heads = 4; };\n"
		      "cluster = { nodes = 1; gpus_per_node = 2; };\n"
		      "parallel = { ep = 2; };\n"
		      "workload = { mode = \"prefill\"; tokens_per_rank = 16; seq_len = 16; steps = 3; };\n"
		      "routing = { source = \"trace\"; trace = \"%s\"; capacity_factor = 1.0; capacity_scope = \"%s\"; "
		      "router = \"%s\"; bias_gamma = 0.0375; };\n",
		      trace, scope, router);
}

typedef struct rr_want {
	int64_t demand[2][RR_E], kept[2][RR_E], load[RR_E];
	int64_t pairs, dropped, lost;
} rr_want;

/* The oracle: rt_policy_route over the scope's tokens, built from the generator's scores. */
static void rr_oracle(rt_policy_kind kind, int global, int step, const double *bias, rr_want *w)
{
	static float m[2 * RR_T * RR_E];
	static uint8_t sel[2 * RR_T * RR_E];
	ms_error err;
	rt_policy_ws *ws;
	ms_error_clear(&err);
	ws = rt_policy_ws_create(2 * RR_T, RR_E, 2, &err);
	ck_assert_ptr_nonnull(ws);
	memset(w, 0, sizeof *w);
	for (int scope = 0; scope < (global ? 1 : 2); scope++) {
		int n = global ? 2 * RR_T : RR_T;
		for (int i = 0; i < n; i++) {
			int p = global ? i % 2 : scope, t = global ? i / 2 : i;
			memcpy(m + i * RR_E, rr_score[p][step * RR_T + t], sizeof rr_score[0][0]);
			if (kind == RT_POLICY_TOPK) {
				/* The run's topk drops by the token's k recorded scores renormalised to
				 * sum 1 (rt_router.c pick_topk, unchanged): the same matrix here. */
				float *row = m + i * RR_E;
				int a = 0, b = -1;
				for (int e = 1; e < RR_E; e++)
					if (row[e] > row[a])
						a = e;
				for (int e = 0; e < RR_E; e++)
					if (e != a && (b < 0 || row[e] > row[b]))
						b = e;
				for (int e = 0; e < RR_E; e++)
					if (e != a && e != b)
						row[e] = -INFINITY;
				{
					float sa = row[a], sb = row[b];
					double sum = (double)sa + (double)sb;
					row[a] = (float)(sa / sum);
					row[b] = (float)(sb / sum);
				}
			}
		}
		rt_policy_route(ws, kind, n, m, 2, rt_capacity(1.0, n, 2, RR_E), SCN_DROP_PROBS, bias, sel);
		for (int i = 0; i < n; i++) {
			int p = global ? i % 2 : scope, any = 0;
			for (int e = 0; e < RR_E; e++) {
				uint8_t v = sel[i * RR_E + e];
				if (v & RT_SEL_ROUTED) {
					w->pairs++;
					w->demand[p][e]++;
					w->load[e]++;
					w->dropped += !(v & RT_SEL_KEPT);
				}
				if (v & RT_SEL_KEPT) {
					w->kept[p][e]++;
					any = 1;
				}
			}
			w->lost += !any;
		}
	}
	rt_policy_ws_destroy(ws);
}

START_TEST(routers_against_policy)
{
	char path[256];
	tu_write_temp(path, sizeof path, "");
	rr_write_trace(path);
	for (int kind = 0; kind < 4; kind++)
		for (int global = 0; global < 2; global++) {
			scn_scenario s;
			sim_result *r = NULL;
			rt_router *rt;
			const rt_group_routing *gr;
			ms_error err;
			double bias[RR_STEPS][RR_E] = {{0}};
			int64_t dropped_total = 0;
			ms_error_clear(&err);
			rr_load(&s, path, rt_policy_name((rt_policy_kind)kind), global ? "global" : "rank");
			ck_assert_int_eq(s.routing.router, kind);
			rt = rt_router_create(&s, tu_inputs(&s)->trace, &err);
			ck_assert_ptr_nonnull(rt);
			ck_assert_int_eq(rt_router_plan_bias(rt, RR_STEPS, 1, &err), MS_OK);
			for (int st = 0; st < RR_STEPS; st++) {
				rr_want w;
				rr_oracle((rt_policy_kind)kind, global, st, kind == RT_POLICY_BIAS_BALANCED ? bias[st] : NULL, &w);
				ck_assert_int_eq(rt_route_group(rt, st, 0, 0, &gr, &err), MS_OK);
				ck_assert_msg(gr->dropped_pairs == w.dropped && gr->pairs == w.pairs && gr->dropped_tokens == w.lost,
					      "%s %s step %d: dropped %lld of %lld, lost %lld; rt_policy: %lld of %lld, %lld",
					      rt_policy_name((rt_policy_kind)kind), global ? "global" : "rank", st, (long long)gr->dropped_pairs,
					      (long long)gr->pairs, (long long)gr->dropped_tokens, (long long)w.dropped,
					      (long long)w.pairs, (long long)w.lost);
				for (int p = 0; p < 2; p++)
					for (int e = 0; e < RR_E; e++) {
						ck_assert_int_eq(gr->demand[p * RR_E + e], w.demand[p][e]);
						ck_assert_int_eq(gr->kept[p * RR_E + e], w.kept[p][e]);
					}
				dropped_total += w.dropped;
				if (kind == RT_POLICY_BIAS_BALANCED && st == 2) {
					/* the bias changes what is routed, so the comparison above used it */
					rr_want unbiased;
					rr_oracle(RT_POLICY_BIAS_BALANCED, global, st, NULL, &unbiased);
					ck_assert_msg(memcmp(unbiased.demand, w.demand, sizeof w.demand) != 0,
						      "the bias of step 2 changed no choice");
				}
				if (kind == RT_POLICY_BIAS_BALANCED) {
					/* The bias the router used is the hand-stepped one (DeepSeek-V3, sec.
					 * 2.1.2): from the step's routed load over the group, -gamma above
					 * the mean, +gamma below. */
					const double *got = rt_router_bias(rt, st, 0);
					int64_t sum = 0;
					ck_assert_ptr_nonnull(got);
					for (int e = 0; e < RR_E; e++)
						ck_assert_msg(fabs(got[e] - bias[st][e]) < 1e-12, "step %d expert %d: bias %.17g, by hand %.17g",
							      st, e, got[e], bias[st][e]);
					for (int e = 0; e < RR_E; e++)
						sum += w.load[e];
					for (int e = 0; st + 1 < RR_STEPS && e < RR_E; e++)
						bias[st + 1][e] = bias[st][e] + (w.load[e] * RR_E > sum   ? -0.0375
										 : w.load[e] * RR_E < sum ? 0.0375
													  : 0.0);
				}
			}
			if (kind == RT_POLICY_BIAS_BALANCED) {
				/* after two steps the bias has moved, and by multiples of gamma */
				int moved = 0;
				for (int e = 0; e < RR_E; e++)
					moved += bias[2][e] != 0;
				ck_assert_int_gt(moved, 0);
			} else {
				ck_assert_ptr_null(rt_router_bias(rt, 0, 0));
			}
			rt_router_destroy(rt);
			/* The run routes the same, at 1 and 2 threads alike. */
			for (int threads = 1; threads <= 2; threads++) {
				int64_t run_dropped = 0;
				ck_assert_int_eq(sim_run_scenario(&s, threads, &r, &err), MS_OK);
				for (int st = 0; st < RR_STEPS; st++)
					run_dropped += r->dropped_pairs[st];
				ck_assert_msg(run_dropped == dropped_total, "%s %s, %d threads: the run dropped %lld, rt_policy %lld",
					      rt_policy_name((rt_policy_kind)kind), global ? "global" : "rank", threads, (long long)run_dropped,
					      (long long)dropped_total);
				sim_result_free(r);
			}
		}
	remove(path);
}
END_TEST

START_TEST(router_refusals)
{
	/* A ranking shallower than the experts: bias_balanced and expert_choice refused with
	 * the trace named and the fix, topk and bpr accepted. */
	static short ids[4 * 3];
	static float scores[4 * 3];
	char path[256], want[512];
	for (int t = 0; t < 4; t++)
		for (int j = 0; j < 3; j++) {
			ids[t * 3 + j] = (short)((t + j) % RR_E);
			scores[t * 3 + j] = 0.5f / (float)(j + 1);
		}
	tu_write_temp(path, sizeof path, "");
	tu_write_trace(path, 1, RR_E, 3, 4, ids, scores, NULL);
	for (int kind = 0; kind < 4; kind++) {
		scn_scenario s;
		sim_inputs in;
		ms_error err;
		int rc;
		ms_error_clear(&err);
		rr_load(&s, path, rt_policy_name((rt_policy_kind)kind), "rank");
		rc = sim_inputs_open(&in, &s, NULL, &err);
		if (rt_policy_needs_all_scores((rt_policy_kind)kind)) {
			ck_assert_int_eq(rc, MS_EINVAL);
			snprintf(want, sizeof want,
				 "routing.router = \"%s\" needs every expert's score, but the trace %s ranks only 3 of its 8 "
				 "experts per token and has no /routing/logits: record it with the full ranking (depth = "
				 "num_experts) or with logits, or use routing.router = \"topk\" or \"bpr\"",
				 rt_policy_name((rt_policy_kind)kind), path);
			ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
		} else {
			ck_assert_msg(rc == MS_OK, "%s: %s", rt_policy_name((rt_policy_kind)kind), err.msg);
			sim_inputs_close(&in);
		}
	}
	remove(path);
	{
		/* Balanced synthetic routing has no scores for a router to compare: refused, as is
		 * expert choice without a capacity and a node limit under another router. */
		static const struct { const char *set, *msg; } bad[] = {
			{"routing.router=bpr", "routing.router = \"bpr\" compares router scores, but routing.distribution = "
					       "\"balanced\" fixes every token's experts and has no scores; use distribution = "
					       "\"uniform\" or \"zipf\", replay a trace (routing.source = \"trace\"), or use "
					       "routing.router = \"topk\""},
			{"routing.router=sideways", "routing.router = \"sideways\" is not allowed: choose one of "
						    "topk|expert_choice|bias_balanced|bpr"},
		};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			scn_scenario s;
			ms_error err;
			scn_overrides ov = {3, {"routing.source=synthetic", "routing.distribution=balanced", bad[i].set}};
			ms_error_clear(&err);
			ck_assert_int_eq(scn_scenario_load_text(&s, scn_default_text, "default", &ov, &err), MS_EINVAL);
			ck_assert_msg(strstr(err.msg, bad[i].msg), "%s", err.msg);
		}
	}
	{
		char tpath[256], text[1024];
		scn_scenario s;
		ms_error err;
		scn_overrides ec = {1, {"routing.router=expert_choice"}}, nl = {2, {"routing.router=bpr", "routing.node_limit=1"}};
		tu_write_temp(tpath, sizeof tpath, "");
		rr_write_trace(tpath);
		snprintf(text, sizeof text,
			 "model = { hidden = 64; ffn_hidden = 128; experts = 8; top_k = 2; moe_layers = 1; heads = 4; };\n"
			 "cluster = { nodes = 1; gpus_per_node = 2; };\nparallel = { ep = 2; };\n"
			 "workload = { mode = \"prefill\"; tokens_per_rank = 16; seq_len = 16; };\n"
			 "routing = { source = \"trace\"; trace = \"%s\"; capacity_factor = \"dropless\"; };\n",
			 tpath);
		ms_error_clear(&err);
		ck_assert_int_eq(scn_scenario_load_text(&s, text, "routers", &ec, &err), MS_EINVAL);
		ck_assert_msg(strstr(err.msg, "routing.router = \"expert_choice\" needs a numeric routing.capacity_factor"),
			      "%s", err.msg);
		ms_error_clear(&err);
		ck_assert_int_eq(scn_scenario_load_text(&s, text, "routers", &nl, &err), MS_EINVAL);
		ck_assert_msg(strstr(err.msg, "routing.router = \"bpr\" does not apply routing.node_limit = 1"), "%s", err.msg);
		remove(tpath);
	}
}
END_TEST

START_TEST(expert_choice_model_flops)
{
	/* The hand trace (above): 2 GPUs x 6 tokens, 4 experts, top-2, one MoE layer, prefill.
	 * topk dropless computes the 24 routed pairs. expert_choice, rank scope, C = ceil(cf
	 * x 6 x 2 / 4) per GPU: cf 2 -> 6, every expert takes all 6 tokens of each GPU, 48 pairs;
	 * cf 1.25 -> 4, 32 pairs. The experts' model FLOPs follow the kept pairs: one pair is
	 * 6 h f = 6 x 64 x 128 = 49,152 FLOPs, so the model FLOPs exceed topk's by 24 x 49,152
	 * = 1,179,648 and 8 x 49,152 = 393,216. (Counting routed minus dropped, as before,
	 * would give less than topk's.) */
	static const struct { const char *cf; long long kept; double extra; } cases[] = {
		{"2.0", 48, 1179648.0},
		{"1.25", 32, 393216.0},
	};
	char path[256], text[2048];
	scn_scenario s;
	sim_result *r = NULL;
	ms_error err;
	double base;
	static const char ec_cfg[] =
		"model = { hidden = 64; ffn_hidden = 128; experts = 4; top_k = 2; moe_layers = 1; heads = 4; };\n"
		"cluster = { nodes = 1; gpus_per_node = 2; };\n"
		"parallel = { ep = 2; };\n"
		"workload = { mode = \"prefill\"; tokens_per_rank = 6; seq_len = 6; };\n"
		"routing = { source = \"trace\"; trace = \"%s\"; capacity_factor = %s; router = \"%s\"; };\n";
	tu_write_temp(path, sizeof path, "");
	write_hand_trace(path);
	ms_error_clear(&err);
	snprintf(text, sizeof text, ec_cfg, path, "\"dropless\"", "topk");
	ck_assert_int_eq(scn_scenario_load_text(&s, text, "flops", NULL, &err), MS_OK);
	ck_assert_int_eq(sim_run_scenario(&s, 1, &r, &err), MS_OK);
	ck_assert_int_eq(r->pairs[0], 24);
	base = r->model_flops_per_step;
	sim_result_free(r);
	for (int c = 0; c < 2; c++) {
		long long kept = 0;
		snprintf(text, sizeof text, ec_cfg, path, cases[c].cf, "expert_choice");
		ck_assert_int_eq(scn_scenario_load_text(&s, text, "flops", NULL, &err), MS_OK);
		ck_assert_int_eq(sim_run_scenario(&s, 1, &r, &err), MS_OK);
		for (int e = 0; e < 4; e++)
			kept += r->expert_kept[e];
		ck_assert_int_eq(kept, cases[c].kept);
		ck_assert_int_eq(r->pairs[0], 24);
		ck_assert_msg(fabs(r->model_flops_per_step - base - cases[c].extra) < 1e-6 * base,
			      "cf %s: model FLOPs %.17g, topk dropless %.17g: %.17g more, by hand %.17g", cases[c].cf,
			      r->model_flops_per_step, base, r->model_flops_per_step - base, cases[c].extra);
		sim_result_free(r);
	}
	remove(path);
}
END_TEST

Suite *replay_suite(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("trace");
	tcase_add_test(tc, drops_by_hand);
	tcase_add_test(tc, mapping_and_topk);
	tcase_add_test(tc, node_limited);
	tcase_add_test(tc, dedup_counts_by_hand);
	tcase_add_test(tc, padding_by_hand);
	tcase_add_test(tc, bad_traces);
	tcase_add_test(tc, cycling_and_relative_paths);
	tcase_add_test(tc, routers_against_policy);
	tcase_add_test(tc, router_refusals);
	tcase_add_test(tc, expert_choice_model_flops);
	suite_add_tcase(s, tc);
	return s;
}
