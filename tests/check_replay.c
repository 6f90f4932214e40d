/*
 * check_replay.c - replaying a recorded trace: drops counted by hand for a small trace
 * at capacity factors 1.0, 1.25 and 2.0, under both drop policies and both scopes; the
 * token mapping (recorded ranks, layer cycling); top-k re-chosen from the ranking;
 * node-limited routing; de-duplicated counts and padding on a hand-built routing with a
 * replica on another node; bad traces rejected with the dataset named.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	suite_add_tcase(s, tc);
	return s;
}
