/*
 * check_dispatch.c - the dispatchers' bytes (sim/sim_dispatch.h) on a hand-built routing
 * of awkward shape, worked by hand below, and the costs beyond bandwidth of the analytic
 * all-to-all (network/net_alltoall.h) against a hand computation.
 *
 * The group: 4 GPUs, NVLink domains of 2 ({0, 1}, {2, 3}); hidden 256, top-2. Member 0
 * routes three tokens: t0 to two experts on GPU 1; t1 to one expert on GPU 2 and one on
 * GPU 3; t2 to two experts on GPU 3. So pairs[0] = {0, 2, 1, 3}, distinct tokens per GPU
 * gpu_tokens[0] = {0, 1, 1, 2}, per domain dom_tokens[0] = {0, 2}; nobody else sends.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "network/net_alltoall.h"
#include "sim/sim_dispatch.h"
#include "test_util.h"

static const int32_t pairs[16] = {0, 2, 1, 3};
static const int32_t gpu_tokens[16] = {0, 1, 1, 2};
static const int32_t dom_tokens[8] = {0, 2};
static const int ranks[4] = {0, 1, 2, 3};

static void wire_with(sim_wire *w, const char *dispatcher, const char *ddtype, const char *cdtype, const char *knobs)
{
	char text[1024];
	scn_scenario s;
	ms_error err;
	snprintf(text, sizeof text,
		 "model = { hidden = 256; ffn_hidden = 512; experts = 8; top_k = 2; moe_layers = 1; heads = 4;"
		 " dispatch_dtype = \"%s\"; combine_dtype = \"%s\"; };\n"
		 "cluster = { nodes = 2; gpus_per_node = 2; };\nparallel = { ep = 4; };\n"
		 "network = { dispatcher = \"%s\"; %s };\n"
		 "workload = { tokens_per_rank = 3; seq_len = 3; };\n",
		 ddtype, cdtype, dispatcher, knobs);
	ms_error_clear(&err);
	ck_assert_msg(scn_scenario_load_text(&s, text, "d.cfg", NULL, &err) == MS_OK, "%s", err.msg);
	sim_wire_init(w, &s);
}

static void wire(sim_wire *w, const char *dispatcher, const char *ddtype, const char *cdtype)
{
	wire_with(w, dispatcher, ddtype, cdtype, "");
}

/* Returns the per-pair copy's bytes; naive[0] inside domains, naive[1] across. */
static double transfers(const sim_wire *w, int to_experts, double *T, double *M)
{
	sim_counts c = {4, ranks, 2, pairs, gpu_tokens, dom_tokens, 2};
	double naive[2];
	sim_dispatch_transfers(w, to_experts, &c, T, M, naive);
	ck_assert(naive[0] == 2 * (to_experts ? w->naive_to : w->naive_back)); /* t0's two pairs stay in domain 0 */
	return naive[0] + naive[1];
}

/* T must equal want except where listed: entries (i, j, bytes). */
static void expect(const double *T, const double (*want)[3], int n)
{
	double full[16] = {0};
	for (int k = 0; k < n; k++)
		full[(int)want[k][0] * 4 + (int)want[k][1]] = want[k][2];
	for (int k = 0; k < 16; k++)
		ck_assert_msg(T[k] == full[k], "T[%d][%d] = %g, expected %g", k / 4, k % 4, T[k], full[k]);
}

START_TEST(deepep_dedups_and_relays)
{
	/* bf16: x = 512 B. To the experts, same domain: 512 + 4 (source index) + 8 x 2 (int64
	 * top-k ids) + 4 x 2 (weights) = 540; other domain: align16(512 + 8 + 8 + 8) = 544.
	 * t0 once to GPU 1 (540); t1, t2 once over the network to GPU 2, member 0's rail in
	 * domain 1 (2 x 544), which forwards t2 to GPU 3 (1 token: gpu_tokens[0][3] = 2 counts
	 * t1 and t2, both forwarded: 2 x 544). Back: same domain 512 + 4 + 8 = 524, other
	 * domain align16(512 + 8 + 8) = 528: GPU 1 -> 0 one token, GPU 3 -> relay 2 two,
	 * relay 2 -> 0 two (reduced per domain). */
	sim_wire w;
	double T[16], M[16], naive;
	static const double to[][3] = {{0, 1, 540}, {0, 2, 1088}, {2, 3, 1088}};
	static const double back[][3] = {{1, 0, 524}, {3, 2, 1056}, {2, 0, 1056}};
	wire(&w, "deepep", "bf16", "bf16");
	naive = transfers(&w, 1, T, M);
	expect(T, to, 3);
	ck_assert(naive == 6 * 512.0); /* 6 pairs off the GPU, 512 B each */
	ck_assert(M[0 * 4 + 1] == 1 && M[2 * 4 + 3] == 1 && M[0] == 0);
	ck_assert(transfers(&w, 0, T, NULL) == 6 * 512.0);
	expect(T, back, 3);
	ck_assert_int_eq(w.launches_to, 2);
	ck_assert_int_eq(w.launches_back, 1);
}
END_TEST

START_TEST(deepep_fp8_dispatch_carries_scales)
{
	/* fp8: x = 256 B plus 2 float32 scales (8 B): same domain 256 + 8 + 4 + 16 + 8 = 292,
	 * other domain align16(256 + 8 + 8 + 8 + 8) = 288; combine stays bf16. */
	sim_wire w;
	double T[16];
	static const double to[][3] = {{0, 1, 292}, {0, 2, 576}, {2, 3, 576}};
	wire(&w, "deepep", "fp8", "bf16");
	ck_assert(transfers(&w, 1, T, NULL) == 6 * 264.0); /* per pair: x 256 + scales 8 */
	expect(T, to, 3);
}
END_TEST

START_TEST(megatron_and_low_latency_copy_every_pair)
{
	sim_wire w;
	double T[16], M[16];
	/* Megatron: x + its float32 probability (the second all-to-all): 516 per pair; back 512. */
	static const double mto[][3] = {{0, 1, 1032}, {0, 2, 516}, {0, 3, 1548}};
	static const double mback[][3] = {{1, 0, 1024}, {2, 0, 512}, {3, 0, 1536}};
	/* DeepEP low latency, fp8: 16 (index and reserved ints) + 256 + 8 = 280 per selection;
	 * back bf16 512 + 4 x 256 / 128 = 520; one message per selection. */
	static const double lto[][3] = {{0, 1, 560}, {0, 2, 280}, {0, 3, 840}};
	static const double lback[][3] = {{1, 0, 1040}, {2, 0, 520}, {3, 0, 1560}};
	wire(&w, "megatron", "bf16", "bf16");
	transfers(&w, 1, T, M);
	expect(T, mto, 3);
	ck_assert(M[3] == 1.0);
	transfers(&w, 0, T, NULL);
	expect(T, mback, 3);
	ck_assert_int_eq(w.launches_to, 2);
	wire(&w, "deepep_ll", "fp8", "bf16");
	transfers(&w, 1, T, M);
	expect(T, lto, 3);
	ck_assert(M[3] == 3.0 && M[1] == 2.0 && M[2] == 1.0);
	transfers(&w, 0, T, M);
	expect(T, lback, 3);
	ck_assert(M[3 * 4 + 0] == 3.0);
}
END_TEST

START_TEST(knobs_apart_from_the_presets)
{
	/* DeepEP's format, de-duplicated per GPU only (no relay): t1 once to GPU 2, t1 and t2
	 * once each to GPU 3, directly over the network (544 B each); Megatron's format with
	 * combine summed per GPU: one 512 B row per (token, GPU) back. */
	sim_wire w;
	double T[16];
	static const double to[][3] = {{0, 1, 540}, {0, 2, 544}, {0, 3, 1088}};
	static const double back[][3] = {{1, 0, 512}, {2, 0, 512}, {3, 0, 1024}};
	wire_with(&w, "deepep", "bf16", "bf16", "dedup = \"gpu\";");
	transfers(&w, 1, T, NULL);
	expect(T, to, 3);
	wire_with(&w, "megatron", "bf16", "bf16", "combine_reduce = \"gpu\";");
	transfers(&w, 0, T, NULL);
	expect(T, back, 3);
}
END_TEST

START_TEST(analytic_costs_by_hand)
{
	/* 2 nodes x 2 GPUs, NVLink 123.45 GB/s, NIC 40 Gb/s = 5 GB/s, latencies 3 and 5 us.
	 * Member 0 sends 1e6 B to 1 (NVLink) and 2e6 B to 3 (NIC); member 2 sends 1.5e6 B to 0.
	 * NVLink term 1e6 / 123.45e9 + 3e-6; NIC term: NIC 0 sends 2e6 and receives 1.5e6, so
	 * 2e6 / 5e9 + 5e-6 = 405e-6. Costs: 2 launches x 4.5 us, member 0's 2 peers x 1.25 us;
	 * messages 7 (to 3) and 11 (2 -> 0) at 0.01 M/s: NIC 0 handles max(7, 11) = 11 -> 1.1 ms
	 * floor, above the NIC term. */
	char text[1024];
	scn_scenario s;
	topo_cluster t;
	ms_error err;
	net_alltoall *a;
	net_alltoall_stats st;
	double B[16] = {0}, M[16] = {0};
	net_costs c = {4.5e-6, 2, 1.25e-6, 0.0};
	snprintf(text, sizeof text,
		 "model = { hidden = 256; ffn_hidden = 512; experts = 8; top_k = 2; moe_layers = 1; heads = 4; };\n"
		 "cluster = { nodes = 2; gpus_per_node = 2; nvlink_GBps = 123.45; nic_Gbps = 40.0; };\n"
		 "network = { nvlink_efficiency = 1.0; nic_efficiency = 1.0; };\n"
		 "parallel = { ep = 4; };\nworkload = { tokens_per_rank = 3; seq_len = 3; };\n");
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load_text(&s, text, "c.cfg", NULL, &err), MS_OK);
	ck_assert_int_eq(topo_cluster_init(&t, &s, NULL, &err), MS_OK);
	a = net_alltoall_create(&t, 4, &err);
	B[0 * 4 + 1] = 1e6;
	B[0 * 4 + 3] = 2e6;
	B[2 * 4 + 0] = 1.5e6;
	M[0 * 4 + 3] = 7;
	M[2 * 4 + 0] = 11;
	net_alltoall_time(a, ranks, 4, B, M, NULL, &st);
	ck_assert(tu_rel(st.time_s, 2e6 / 5e9 + 5e-6) < 1e-12);
	ck_assert(st.overhead_s == 0 && st.msg_floor_s == 0);
	net_alltoall_time(a, ranks, 4, B, M, &c, &st);
	ck_assert(tu_rel(st.overhead_s, 2 * 4.5e-6 + 2 * 1.25e-6) < 1e-12);
	ck_assert(tu_rel(st.time_s, 2 * 4.5e-6 + 2 * 1.25e-6 + 2e6 / 5e9 + 5e-6) < 1e-12);
	c.nic_message_rate = 0.01e6;
	net_alltoall_time(a, ranks, 4, B, M, &c, &st);
	ck_assert(tu_rel(st.msg_floor_s, 11 / 0.01e6) < 1e-12);
	ck_assert(tu_rel(st.time_s, 2 * 4.5e-6 + 2 * 1.25e-6 + 11 / 0.01e6) < 1e-12);
	/* network.nic_efficiency scales the NIC's line rate: 0.8385 x 5 GB/s. */
	{
		scn_overrides ov = {1, {"network.nic_efficiency=0.8385"}};
		ck_assert_int_eq(scn_scenario_load_text(&s, text, "c.cfg", &ov, &err), MS_OK);
		ck_assert_int_eq(topo_cluster_init(&t, &s, NULL, &err), MS_OK);
		ck_assert(tu_rel(t.links.nic_Bps, 0.8385 * 5e9) < 1e-12);
		ck_assert(tu_rel(t.links.nvlink_Bps, 123.45e9) < 1e-12);
	}
	net_alltoall_destroy(a);
}
END_TEST

Suite *dispatch_suite(void)
{
	Suite *s = suite_create("dispatch");
	TCase *tc = tcase_create("bytes");
	tcase_add_test(tc, deepep_dedups_and_relays);
	tcase_add_test(tc, deepep_fp8_dispatch_carries_scales);
	tcase_add_test(tc, megatron_and_low_latency_copy_every_pair);
	tcase_add_test(tc, knobs_apart_from_the_presets);
	tcase_add_test(tc, analytic_costs_by_hand);
	suite_add_tcase(s, tc);
	return s;
}
