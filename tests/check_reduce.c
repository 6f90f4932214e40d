/*
 * check_reduce.c - the analytic reductions, gathers and sends on the cluster
 * (net_red_analytic_time, net_p2p_analytic_time) against the closed forms on identical
 * links and against the flow model (net_red_time, one net_model_add flow) on the same
 * topology: one NVLink domain, two nodes of 8 GPUs on a fat tree, strided DP groups,
 * two rings behind one NIC, and a scenario's cluster with its link efficiencies.
 *
 * Tolerances. The ring: the flow model's ring is at most the analytic time (every
 * flow's max-min rate is at least its port's rate over the flows the port carries) and
 * at least the busiest port's bytes; on these layouts every port carries the same flows
 * through each whole step, so the two are equal up to the flow model's batching window
 * (1e-9 relative). The tree: the analytic time is the bandwidth bound plus the latency
 * of the deepest path up and down; the flow model sends each tree's S / 2 in K = 64
 * chunks (S >= 64 MiB), so its busiest port idles about one chunk stage before its first
 * chunk and after its last: within 2 / K = 3.1 % above; and never below the bandwidth
 * term alone (analytic - latency_s). The send: one flow pays its route's latency and its
 * bytes at the slower of its links, exactly the analytic time when the network's hops
 * have no latency of their own; with network.link_latency_us the flow model adds it per
 * switch hop (topo_cluster does not hold it).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "network/net_model.h"
#include "network/net_reduce.h"
#include "scenario/scn_scenario.h"
#include "test_util.h"
#include "topology/topo_cluster.h"
#include "topology/topo_graph.h"

#define NV_BPS 369e9  /* 450 GB/s x nvlink_efficiency 0.82 */
#define NIC_BPS 48e9  /* 50 GB/s x nic_efficiency 0.96 */
#define NV_LAT 3e-6
#define NIC_LAT 5e-6
#define S_BIG 268435459.0 /* 2^28 + 3 bytes: 64 chunks per tree */
#define TREE_K 64

/* A two-tier fat tree of radix 8 at 1:1 (4 NICs per leaf), even ECMP, and the
 * cluster view of the same machine. */
typedef struct machine {
	topo_graph *g;
	topo_cluster t;
	net_model *m;
} machine;

static void machine_open(machine *x, int nodes, int gpn, int nics, int domain, double nv_Bps, double link_lat)
{
	topo_spec s;
	ms_error err;
	memset(&s, 0, sizeof s);
	s.shape = TOPO_FAT_TREE;
	s.tiers = 2;
	s.oversubscription = 1;
	s.switch_radix = 8;
	s.nodes = nodes;
	s.gpus_per_node = gpn;
	s.nvlink_domain = domain;
	s.nics_per_node = nics;
	s.nvlink_Bps = nv_Bps;
	s.nvlink_latency_s = NV_LAT;
	s.nic_Bps = NIC_BPS;
	s.nic_latency_s = NIC_LAT;
	s.link_latency_s = link_lat;
	ms_error_clear(&err);
	x->g = topo_graph_create(&s, NULL, &err);
	ck_assert_msg(x->g != NULL, "%s", err.msg);
	x->m = net_model_create(x->g, TOPO_ECMP_EVEN, 1, &err);
	ck_assert_ptr_nonnull(x->m);
	memset(&x->t, 0, sizeof x->t);
	x->t.nodes = nodes;
	x->t.gpus_per_node = gpn;
	x->t.nics_per_node = nics;
	x->t.world = nodes * gpn;
	x->t.domain_size = domain;
	x->t.links.nvlink_Bps = nv_Bps;
	x->t.links.nvlink_latency_s = NV_LAT;
	x->t.links.nic_Bps = NIC_BPS;
	x->t.links.nic_latency_s = NIC_LAT;
}

static void machine_close(machine *x)
{
	net_model_destroy(x->m);
	topo_graph_destroy(x->g);
}

static double analytic(const topo_cluster *t, net_red_op op, net_red_algo algo, const int *ranks, int n, double S,
		       const net_costs *costs, net_red_analytic_stats *st)
{
	ms_error err;
	net_red_analytic *a;
	double time;
	ms_error_clear(&err);
	a = net_red_analytic_create(t, n, &err);
	ck_assert_msg(a != NULL, "%s", err.msg);
	time = net_red_analytic_time(a, op, algo, ranks, n, S, costs, st);
	net_red_analytic_destroy(a);
	return time;
}

static double flow(machine *x, net_red_op op, net_red_algo algo, const int *ranks, int n, double S)
{
	ms_error err;
	double time = -1;
	ms_error_clear(&err);
	ck_assert_msg(net_red_time(x->m, op, algo, ranks, n, S, &time, NULL, &err) == MS_OK, "%s", err.msg);
	return time;
}

/* The ring on x: analytic and flow equal to the batching window; returns the time. */
static double ring_agrees(machine *x, net_red_op op, const int *ranks, int n, double S, net_red_analytic_stats *st)
{
	double ta = analytic(&x->t, op, NET_RED_RING, ranks, n, S, NULL, st), tf = flow(x, op, NET_RED_RING, ranks, n, S);
	ck_assert_msg(tu_rel(tf, ta) < 1e-9, "%s ring of %d: flow %.12g, analytic %.12g", net_red_op_name(op), n, tf, ta);
	return ta;
}

/* The tree on x: the flow model within [analytic - latency, analytic (1 + 2 / K)]. */
static void tree_agrees(machine *x, const int *ranks, int n, double S)
{
	net_red_analytic_stats st;
	double ta = analytic(&x->t, NET_RED_ALLREDUCE, NET_RED_TREE, ranks, n, S, NULL, &st);
	double tf = flow(x, NET_RED_ALLREDUCE, NET_RED_TREE, ranks, n, S);
	ck_assert_msg(tf >= (ta - st.latency_s) * (1 - 1e-12) && tf <= ta * (1 + 2.0 / TREE_K),
		      "tree of %d: flow %.12g, analytic %.12g (latency %g)", n, tf, ta, st.latency_s);
}

START_TEST(ring_one_domain_closed_form)
{
	/* 6 of the 8 GPUs of one NVLink domain, S = 7,340,033 bytes (not a multiple of 6):
	 * one ring, one flow per port and step: steps x (a_nv + S / (6 B_nv)), as
	 * net_red_ring_time, for the three operations; the flow model the same. */
	static const int ranks[6] = {0, 1, 2, 3, 4, 5}, shuffled[6] = {5, 2, 0, 4, 1, 3};
	const double S = 7340033;
	const net_red_op ops[3] = {NET_RED_ALLREDUCE, NET_RED_ALLGATHER, NET_RED_REDUCESCATTER};
	net_red_analytic_stats st;
	net_costs costs = {3.1e-6, 2, 0.5e-6, 0};
	machine x;
	machine_open(&x, 1, 8, 8, 8, NV_BPS, 0);
	for (int k = 0; k < 3; k++) {
		double want = net_red_ring_time(ops[k], 6, S, NV_BPS, NV_LAT);
		ck_assert(tu_rel(analytic(&x.t, ops[k], NET_RED_RING, ranks, 6, S, NULL, &st), want) < 1e-15);
		ck_assert(st.rings == 1 && st.rho_nvlink == 1 && st.nic_s == 0 && st.overhead_s == 0);
		ck_assert_int_eq(st.steps, ops[k] == NET_RED_ALLREDUCE ? 10 : 5);
		ck_assert(tu_rel(ring_agrees(&x, ops[k], shuffled, 6, S, &st), want) < 1e-15);
		/* Two launches; no per-peer cost for a ring. */
		ck_assert(tu_rel(analytic(&x.t, ops[k], NET_RED_RING, ranks, 6, S, &costs, &st), want + 6.2e-6) < 1e-15);
		ck_assert(tu_rel(st.overhead_s, 6.2e-6) < 1e-15);
	}
	/* The tree on identical links is net_red_tree_bound. */
	ck_assert(tu_rel(analytic(&x.t, NET_RED_ALLREDUCE, NET_RED_TREE, ranks, 6, S, NULL, &st),
			 net_red_tree_bound(6, S, NV_BPS, NV_LAT)) < 1e-15);
	ck_assert(tu_rel(analytic(&x.t, NET_RED_ALLREDUCE, NET_RED_TREE, ranks, 2, S, NULL, &st),
			 net_red_tree_bound(2, S, NV_BPS, NV_LAT)) < 1e-15);
	/* Nothing to do: one member, or no bytes (NCCL returns at once for a count of 0). */
	ck_assert(analytic(&x.t, NET_RED_ALLREDUCE, NET_RED_RING, ranks, 1, S, &costs, &st) == 0);
	ck_assert(analytic(&x.t, NET_RED_ALLREDUCE, NET_RED_TREE, ranks, 6, 0, &costs, &st) == 0);
	machine_close(&x);
}
END_TEST

START_TEST(ring_two_nodes)
{
	/* 2 nodes x 8 GPUs, a NIC per GPU, all 16: R = 8 rings of S / 8, b = S / 128 per
	 * step; every GPU is one ring's exit, so its NVLink port carries 7 rings and its NIC
	 * one: step = max(a_nv + 7 b / B_nv, a_nic + b / B_nic), the NIC's here. */
	int ranks[16];
	net_red_analytic_stats st;
	double b = S_BIG / 128, step = NIC_LAT + b / NIC_BPS;
	machine x;
	for (int i = 0; i < 16; i++)
		ranks[i] = i;
	machine_open(&x, 2, 8, 8, 8, NV_BPS, 0);
	ck_assert(tu_rel(ring_agrees(&x, NET_RED_ALLREDUCE, ranks, 16, S_BIG, &st), 30 * step) < 1e-12);
	ck_assert(st.rings == 8 && st.rho_nvlink == 7 && st.rho_nic == 1);
	ck_assert(tu_rel(st.nvlink_s, NV_LAT + 7 * b / NV_BPS) < 1e-15);
	ck_assert(tu_rel(ring_agrees(&x, NET_RED_ALLGATHER, ranks, 16, S_BIG, &st), 15 * step) < 1e-12);
	ck_assert(tu_rel(ring_agrees(&x, NET_RED_REDUCESCATTER, ranks, 16, S_BIG, &st), 15 * step) < 1e-12);
	ring_agrees(&x, NET_RED_ALLREDUCE, ranks, 16, 7340033, &st);
	machine_close(&x);
	/* NVLink at 100 GB/s: the NVLink ports are the bottleneck (7 b / 100 GB/s). */
	machine_open(&x, 2, 8, 8, 8, 100e9, 0);
	ck_assert(tu_rel(ring_agrees(&x, NET_RED_ALLREDUCE, ranks, 16, S_BIG, &st), 30 * (NV_LAT + 7 * b / 100e9)) <
		  1e-12);
	ring_agrees(&x, NET_RED_REDUCESCATTER, ranks, 16, S_BIG, &st);
	machine_close(&x);
	/* 4 NICs (2 GPUs each): R = 4 rings of S / 4, leaving by GPUs 7, 1, 3, 5, one per
	 * NIC; the other GPUs' NVLink ports carry all 4 rings. */
	machine_open(&x, 2, 8, 4, 8, NV_BPS, 0);
	b = S_BIG / 64;
	ck_assert(tu_rel(ring_agrees(&x, NET_RED_ALLREDUCE, ranks, 16, S_BIG, &st),
			 30 * fmax(NV_LAT + 4 * b / NV_BPS, NIC_LAT + b / NIC_BPS)) < 1e-12);
	ck_assert(st.rings == 4 && st.rho_nvlink == 4 && st.rho_nic == 1);
	/* Members 0, 1 and 8, 9 behind one NIC each: R = 2, both rings leave node 0 by
	 * NIC 0 (GPUs 1 and 0), so that NIC carries 2 of b = S / 8. */
	{
		static const int pairs[4] = {0, 1, 8, 9};
		b = S_BIG / 8;
		ck_assert(tu_rel(ring_agrees(&x, NET_RED_ALLREDUCE, pairs, 4, S_BIG, &st), 6 * (NIC_LAT + 2 * b / NIC_BPS)) <
			  1e-12);
		ck_assert(st.rings == 2 && st.rho_nic == 2 && st.rho_nvlink == 1);
	}
	machine_close(&x);
}
END_TEST

START_TEST(ring_strided_groups)
{
	/* A DP group of one GPU per node, ranks 0, 8, 16, 24 of 4 nodes x 8: one ring, every
	 * hop over a NIC: steps x (a_nic + S / (4 B_nic)). */
	static const int dp[4] = {0, 8, 16, 24}, dp2[8] = {0, 4, 8, 12, 16, 20, 24, 28};
	net_red_analytic_stats st;
	machine x;
	machine_open(&x, 4, 8, 8, 8, NV_BPS, 0);
	ck_assert(tu_rel(ring_agrees(&x, NET_RED_ALLREDUCE, dp, 4, S_BIG, &st), 6 * (NIC_LAT + S_BIG / 4 / NIC_BPS)) <
		  1e-12);
	ck_assert(st.rings == 1 && st.rho_nic == 1 && st.nvlink_s == 0);
	ck_assert(tu_rel(ring_agrees(&x, NET_RED_ALLGATHER, dp, 4, S_BIG, &st), 3 * (NIC_LAT + S_BIG / 4 / NIC_BPS)) <
		  1e-12);
	ring_agrees(&x, NET_RED_REDUCESCATTER, dp, 4, S_BIG, &st);
	/* Two per node (stride 4): R = 2 rings, each member the exit of one. */
	ck_assert(tu_rel(ring_agrees(&x, NET_RED_ALLREDUCE, dp2, 8, S_BIG, &st),
			 14 * fmax(NV_LAT + S_BIG / 16 / NV_BPS, NIC_LAT + S_BIG / 16 / NIC_BPS)) < 1e-12);
	ck_assert(st.rings == 2 && st.rho_nic == 1 && st.rho_nvlink == 1);
	machine_close(&x);
}
END_TEST

START_TEST(tree_against_flow)
{
	/* The tree on one domain, on 2 x 8 and on the strided groups, at S = 2^28 + 3
	 * (64 chunks per tree): see the header for the tolerance. */
	static const int dp[4] = {0, 8, 16, 24}, dp2[8] = {0, 4, 8, 12, 16, 20, 24, 28};
	int ranks[16];
	net_red_analytic_stats st;
	machine x;
	for (int i = 0; i < 16; i++)
		ranks[i] = i;
	machine_open(&x, 1, 8, 8, 8, NV_BPS, 0);
	tree_agrees(&x, ranks, 8, S_BIG);
	tree_agrees(&x, ranks, 6, S_BIG);
	machine_close(&x);
	machine_open(&x, 2, 8, 8, 8, NV_BPS, 0);
	tree_agrees(&x, ranks, 16, S_BIG);
	/* Inter-node edges at the NIC's rate: the NIC term is the bottleneck. */
	analytic(&x.t, NET_RED_ALLREDUCE, NET_RED_TREE, ranks, 16, S_BIG, NULL, &st);
	ck_assert(st.nic_s > st.nvlink_s && st.rings == 2);
	machine_close(&x);
	machine_open(&x, 4, 8, 8, 8, NV_BPS, 0);
	tree_agrees(&x, dp, 4, S_BIG);
	tree_agrees(&x, dp2, 8, S_BIG);
	/* Every edge of dp's trees crosses nodes: no NVLink term; member 1 is inner in tree 0
	 * (children 3) and a leaf in tree 1 (member 3 - p at position p): 1.5 S through its
	 * NIC, the most; the deepest path is 2 NIC edges. */
	analytic(&x.t, NET_RED_ALLREDUCE, NET_RED_TREE, dp, 4, S_BIG, NULL, &st);
	ck_assert(st.nvlink_s == 0 && tu_rel(st.nic_s, 1.5 * S_BIG / NIC_BPS) < 1e-15);
	ck_assert(tu_rel(st.latency_s, 4 * NIC_LAT) < 1e-15);
	machine_close(&x);
}
END_TEST

typedef struct one_flow {
	double end;
	uint64_t tag;
} one_flow;

static void one_done(void *ctx, double t, uint64_t tag)
{
	one_flow *o = ctx;
	o->end = t;
	o->tag = tag;
}

/* One send as the flow model runs it: one flow on the route, tagged. */
static double p2p_flow(machine *x, int src, int dst, double bytes)
{
	ms_error err;
	one_flow o = {-1, 0};
	ms_error_clear(&err);
	net_model_reset(x->m);
	ck_assert_int_ge(net_model_add(x->m, 0.0, 0.0, src, dst, bytes, 42, &err), 0);
	ck_assert_int_eq(net_model_advance(x->m, INFINITY, one_done, &o, &err), 1);
	ck_assert(o.tag == 42);
	return o.end;
}

START_TEST(p2p_against_one_flow)
{
	/* Inside a node: a_nv + S / B_nv; across: a_nic + S / B_nic; the flow the same. */
	const double S = 7340033;
	net_costs costs = {3.1e-6, 1, 0.5e-6, 0};
	machine x;
	machine_open(&x, 2, 8, 8, 8, NV_BPS, 0);
	ck_assert(tu_rel(net_p2p_analytic_time(&x.t, 3, 5, S, NULL), NV_LAT + S / NV_BPS) < 1e-15);
	ck_assert(tu_rel(net_p2p_analytic_time(&x.t, 3, 13, S, NULL), NIC_LAT + S / NIC_BPS) < 1e-15);
	ck_assert(tu_rel(p2p_flow(&x, 3, 5, S), net_p2p_analytic_time(&x.t, 3, 5, S, NULL)) < 1e-12);
	ck_assert(tu_rel(p2p_flow(&x, 3, 13, S), net_p2p_analytic_time(&x.t, 3, 13, S, NULL)) < 1e-12);
	/* One launch and one peer's issue; nothing to a GPU itself or of no bytes. */
	ck_assert(tu_rel(net_p2p_analytic_time(&x.t, 3, 13, S, &costs), 3.6e-6 + NIC_LAT + S / NIC_BPS) < 1e-15);
	ck_assert(net_p2p_analytic_time(&x.t, 4, 4, S, &costs) == 0 && net_p2p_analytic_time(&x.t, 4, 5, 0, &costs) == 0);
	machine_close(&x);
	/* With 0.5 us per network hop: NIC 3 (leaf 0) to NIC 13 (leaf 3) crosses a spine,
	 * 4 hops, so the flow takes 2 us more than the cluster view. */
	machine_open(&x, 2, 8, 8, 8, NV_BPS, 0.5e-6);
	ck_assert(tu_rel(p2p_flow(&x, 3, 13, S), net_p2p_analytic_time(&x.t, 3, 13, S, NULL) + 2e-6) < 1e-12);
	machine_close(&x);
}
END_TEST

START_TEST(scenario_cluster_rates)
{
	/* A scenario's cluster: H100 NVLink 450 GB/s x 0.82 and 400 Gb/s NICs x 0.96, as
	 * hw_rates resolves them for both models; 2 nodes x 8 on a radix-8 fat tree, even
	 * ECMP, no per-hop latency: the 16-GPU ring all-reduce is NIC-bound and both models
	 * agree; 3.1 us for the launch. */
	static const char text[] =
		"model = { hidden = 256; ffn_hidden = 512; experts = 16; top_k = 2; moe_layers = 1; heads = 4; };\n"
		"cluster = { nodes = 2; gpus_per_node = 8; gpu = \"h100-sxm\"; nvlink_GBps = 450.0; };\n"
		"network = { topology = \"fat_tree\"; switch_radix = 8; ecmp = \"even\"; link_latency_us = 0.0; };\n"
		"parallel = { ep = 16; };\nworkload = { tokens_per_rank = 3; seq_len = 3; };\n";
	scn_scenario s;
	topo_cluster t;
	topo_graph *g;
	net_model *m;
	ms_error err;
	int ranks[16];
	double tf, ta, b = S_BIG / 128;
	net_costs costs = {3.1e-6, 1, 0, 0};
	net_red_analytic_stats st;
	for (int i = 0; i < 16; i++)
		ranks[i] = i;
	ms_error_clear(&err);
	ck_assert_msg(scn_scenario_load_text(&s, text, "r.cfg", NULL, &err) == MS_OK, "%s", err.msg);
	ck_assert_int_eq(topo_cluster_init(&t, &s, NULL, &err), MS_OK);
	ck_assert(tu_rel(t.links.nvlink_Bps, 450e9 * 0.82) < 1e-12 && tu_rel(t.links.nic_Bps, 50e9 * 0.96) < 1e-12);
	g = topo_graph_from_scenario(&s, NULL, &err);
	ck_assert_msg(g != NULL, "%s", err.msg);
	m = net_model_create(g, TOPO_ECMP_EVEN, 1, &err);
	ck_assert_ptr_nonnull(m);
	ta = analytic(&t, NET_RED_ALLREDUCE, NET_RED_RING, ranks, 16, S_BIG, &costs, &st);
	ck_assert(tu_rel(ta, 3.1e-6 + 30 * (t.links.nic_latency_s + b / t.links.nic_Bps)) < 1e-12);
	ck_assert_int_eq(net_red_time(m, NET_RED_ALLREDUCE, NET_RED_RING, ranks, 16, S_BIG, &tf, NULL, &err), MS_OK);
	ck_assert_msg(tu_rel(tf + 3.1e-6, ta) < 1e-9, "flow %.12g + launch, analytic %.12g", tf, ta);
	net_model_destroy(m);
	topo_graph_destroy(g);
}
END_TEST

Suite *reduce_suite(void)
{
	Suite *s = suite_create("reduce");
	TCase *tc = tcase_create("analytic");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, ring_one_domain_closed_form);
	tcase_add_test(tc, ring_two_nodes);
	tcase_add_test(tc, ring_strided_groups);
	tcase_add_test(tc, tree_against_flow);
	tcase_add_test(tc, p2p_against_one_flow);
	tcase_add_test(tc, scenario_cluster_rates);
	suite_add_tcase(s, tc);
	return s;
}
