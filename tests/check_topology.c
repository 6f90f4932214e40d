/*
 * check_topology.c - topology shapes against counts and bisection bandwidths worked
 * out by hand, the rank arithmetic against the cables laid, routes (valid paths,
 * ECMP path counts, hashing spread and determinism, even split fractions), custom
 * files and their error messages.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario/scn_scenario.h"
#include "test_util.h"
#include "topology/topo_cluster.h"
#include "topology/topo_graph.h"
#include "topology/topo_route.h"

#define NIC_BPS 50e9 /* 400 Gb/s */

static topo_spec spec(topo_shape shape, int nodes, int gpn, int nics)
{
	topo_spec s;
	memset(&s, 0, sizeof s);
	s.shape = shape;
	s.nodes = nodes;
	s.gpus_per_node = gpn;
	s.nvlink_domain = gpn;
	s.nics_per_node = nics;
	s.nvlink_Bps = 450e9;
	s.nvlink_latency_s = 3e-6;
	s.pcie_Bps = 0;
	s.nic_Bps = NIC_BPS;
	s.nic_latency_s = 5e-6;
	s.link_latency_s = 0.5e-6;
	s.tiers = 2;
	s.oversubscription = 1;
	s.switch_radix = 8;
	return s;
}

static topo_graph *make(const topo_spec *s)
{
	ms_error err;
	topo_graph *g;
	ms_error_clear(&err);
	g = topo_graph_create(s, NULL, &err);
	if (!g)
		ck_abort_msg("topology: %s", err.msg);
	return g;
}

static int count_class(const topo_graph *g, int cls)
{
	int n = 0;
	for (int l = 0; l < g->n_links; l++)
		n += g->links[l].cls == cls;
	return n;
}

static double bisection(const topo_graph *g)
{
	ms_error err;
	ms_error_clear(&err);
	return topo_graph_bisection_Bps(g, &err);
}

static const char *data_path(char *buf, size_t len, const char *name)
{
	const char *src = getenv("MOESIM_SRC");
	snprintf(buf, len, "%s/tests/data/topologies/%s", src ? src : ".", name);
	return buf;
}

START_TEST(single_switch_counts)
{
	topo_spec s = spec(TOPO_SINGLE_SWITCH, 3, 4, 2);
	topo_graph *g = make(&s);
	/* 12 GPUs, 3 NVSwitches, 6 NICs, 1 switch; cables: 12 NVLink, 12 PCIe, 6 NIC. */
	ck_assert_int_eq(g->world, 12);
	ck_assert_int_eq(g->n_vertices, 12 + 3 + 6 + 1);
	ck_assert_int_eq(g->n_switches, 1);
	ck_assert_int_eq(g->n_links, 2 * (12 + 12 + 6));
	ck_assert_int_eq(count_class(g, HW_LINK_NVLINK), 24);
	ck_assert_int_eq(count_class(g, HW_LINK_NIC), 12);
	/* GPU 5 is local GPU 1 of node 1: NIC 1 * 2 + 1 / 2 = 2. */
	ck_assert_int_eq(topo_graph_nic_of(g, 5), 2);
	/* Halves: node 0 (2 NICs) against nodes 1 and 2: 2 NICs x 50 GB/s. */
	ck_assert(tu_rel(bisection(g), 2 * NIC_BPS) < 1e-12);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(fat_tree_two_tiers)
{
	/* Radix 8 at 1:1: leaves of 4 down + 4 up; 16 NICs -> 4 leaves, 4 spines. */
	topo_spec s = spec(TOPO_FAT_TREE, 4, 4, 4);
	topo_graph *g = make(&s);
	ck_assert_int_eq(g->leaf_down, 4);
	ck_assert_int_eq(g->leaf_up, 4);
	ck_assert_int_eq(g->n_leaves, 4);
	ck_assert_int_eq(g->n_spines, 4);
	ck_assert_int_eq(g->n_switches, 8);
	ck_assert_int_eq(count_class(g, HW_LINK_TIER1), 2 * 16);
	ck_assert_int_eq(g->n_links, 2 * (16 + 16 + 16 + 16));
	/* Full bisection: 8 NICs each side. */
	ck_assert(tu_rel(bisection(g), 8 * NIC_BPS) < 1e-12);
	topo_graph_destroy(g);

	/* 3:1 at radix 8: 6 down, 2 up; 16 NICs -> leaves of NICs 0-5, 6-11, 12-15; 2 spines.
	 * Half A is NICs 0-7. Leaf 0 (six A NICs) reaches B only through its 2 uplinks
	 * (2 C); leaf 1's two A NICs reach its four B NICs directly (2 C); so 4 C. */
	s.oversubscription = 3;
	g = make(&s);
	ck_assert_int_eq(g->leaf_down, 6);
	ck_assert_int_eq(g->leaf_up, 2);
	ck_assert_int_eq(g->n_leaves, 3);
	ck_assert_int_eq(g->n_spines, 2);
	ck_assert(tu_rel(bisection(g), 4 * NIC_BPS) < 1e-12);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(fat_tree_three_tiers)
{
	/* The classic k = 4 fat tree: 16 NICs, 8 edge, 8 aggregation, 4 core switches. */
	topo_spec s = spec(TOPO_FAT_TREE, 8, 2, 2);
	topo_graph *g;
	s.switch_radix = 4;
	s.tiers = 3;
	g = make(&s);
	ck_assert_int_eq(g->n_leaves, 8);
	ck_assert_int_eq(g->n_pods, 4);
	ck_assert_int_eq(g->n_spines, 8);
	ck_assert_int_eq(g->n_cores, 4);
	ck_assert_int_eq(count_class(g, HW_LINK_TIER1), 2 * 16);
	ck_assert_int_eq(count_class(g, HW_LINK_TIER2), 2 * 16);
	ck_assert(tu_rel(bisection(g), 8 * NIC_BPS) < 1e-12);
	{
		/* Inter-pod: 2 aggregation x 2 core = 4 paths; same pod, other leaf: 2. */
		ms_error err;
		topo_router *r;
		ms_error_clear(&err);
		r = topo_router_create(g, TOPO_ECMP_EVEN, 1, &err);
		ck_assert_ptr_nonnull(r);
		ck_assert(topo_router_count_paths(r, 0, 15, &err) == 4);
		ck_assert(topo_router_count_paths(r, 0, 2, &err) == 2);
		ck_assert(topo_router_count_paths(r, 0, 1, &err) == 1);
		topo_router_destroy(r);
	}
	topo_graph_destroy(g);
	/* Radix 4 with 2 tiers holds at most 8 NICs. */
	{
		ms_error err;
		ms_error_clear(&err);
		s.tiers = 2;
		ck_assert_ptr_null(topo_graph_create(&s, NULL, &err));
		ck_assert_ptr_nonnull(strstr(err.msg, "holds at most 8 NICs"));
	}
}
END_TEST

START_TEST(rail_counts)
{
	/* 4 nodes x 4 GPUs, 4 rails; radix 8: one leaf per rail, 4 spines. */
	topo_spec s = spec(TOPO_RAIL, 4, 4, 4);
	topo_graph *g = make(&s);
	ck_assert_int_eq(g->n_leaves, 4);
	ck_assert_int_eq(g->n_spines, 4);
	ck_assert_int_eq(g->n_switches, 8);
	/* NIC 6 (node 1, rail 2) hangs from rail 2's leaf. */
	{
		int v = g->v_nic0 + 6;
		for (int i = g->out_start[v]; i < g->out_start[v + 1]; i++) {
			const topo_link *l = &g->links[g->out_link[i]];
			if (l->cls == HW_LINK_NIC)
				ck_assert_str_eq(g->names[l->dst], "rail2.0");
		}
	}
	/* Every A NIC reaches a B NIC on its own rail: 8 NICs x C. */
	ck_assert(tu_rel(bisection(g), 8 * NIC_BPS) < 1e-12);
	{
		/* Same rail: NIC -> rail leaf -> NIC, 1 path of 4 hops with PCIe; across
		 * rails: through any of the 4 spines. */
		ms_error err;
		topo_router *r;
		topo_route rt;
		ms_error_clear(&err);
		r = topo_router_create(g, TOPO_ECMP_HASH, 7, &err);
		topo_route_init(&rt);
		ck_assert_int_eq(topo_router_route(r, 1, 5, &rt, &err), 0);
		ck_assert_int_eq(rt.hops, 4);
		ck_assert(topo_router_count_paths(r, 1, 6, &err) == 4);
		ck_assert_int_eq(topo_router_route(r, 1, 6, &rt, &err), 0);
		ck_assert_int_eq(rt.hops, 6);
		/* 2.5 us of NICs + 4 network hops of 0.5 us */
		ck_assert(tu_rel(rt.latency_s, 5e-6 + 4 * 0.5e-6) < 1e-12);
		topo_route_fini(&rt);
		topo_router_destroy(r);
	}
	topo_graph_destroy(g);
}
END_TEST

/* A route must be a path from src's GPU vertex to dst's. */
static void check_path(const topo_graph *g, const topo_route *rt, int src, int dst)
{
	int at = src;
	for (int i = 0; i < rt->n; i++) {
		const topo_link *l = &g->links[rt->link[i]];
		ck_assert_int_eq(l->src, at);
		ck_assert(rt->weight[i] == 1.0);
		at = l->dst;
		if (i < rt->n - 1)
			ck_assert(g->v[at].kind != TOPO_V_GPU);
	}
	ck_assert_int_eq(at, dst);
	ck_assert_int_eq(rt->hops, rt->n);
}

START_TEST(hash_routes_are_paths_and_spread)
{
	topo_spec s = spec(TOPO_FAT_TREE, 8, 4, 4); /* 32 NICs: 8 leaves of 4, 4 spines */
	topo_graph *g = make(&s);
	ms_error err;
	topo_router *r, *r2;
	topo_route rt, rt2;
	int used[64] = {0};
	ms_error_clear(&err);
	r = topo_router_create(g, TOPO_ECMP_HASH, 2385, &err);
	r2 = topo_router_create(g, TOPO_ECMP_HASH, 2385, &err);
	topo_route_init(&rt);
	topo_route_init(&rt2);
	for (int a = 0; a < g->world; a++)
		for (int b = 0; b < g->world; b++) {
			ck_assert_int_eq(topo_router_route(r, a, b, &rt, &err), 0);
			if (a == b) {
				ck_assert_int_eq(rt.n, 0);
				continue;
			}
			check_path(g, &rt, a, b);
			/* Same pair, another router with the same seed, routed in another order: same path. */
			ck_assert_int_eq(topo_router_route(r2, b, a, &rt2, &err), 0);
			ck_assert_int_eq(topo_router_route(r2, a, b, &rt2, &err), 0);
			ck_assert_int_eq(rt2.n, rt.n);
			for (int i = 0; i < rt.n; i++)
				ck_assert_int_eq(rt.link[i], rt2.link[i]);
			/* NVLink inside a node; across nodes (one leaf per node): PCIe, NIC, leaf -> spine,
			 * spine -> leaf, NIC, PCIe. */
			ck_assert_int_eq(rt.n, a / 4 == b / 4 ? 2 : 6);
			for (int i = 0; i < rt.n; i++)
				if (g->links[rt.link[i]].cls == HW_LINK_TIER1 && g->v[g->links[rt.link[i]].dst].tier == 2)
					used[g->v[g->links[rt.link[i]].dst].index]++;
		}
	/* Hashing spreads pairs over all 4 spines, each within 20 % of even. */
	{
		int total = used[0] + used[1] + used[2] + used[3];
		for (int j = 0; j < 4; j++)
			ck_assert_msg(fabs(used[j] - total / 4.0) < 0.2 * total / 4.0, "spine %d carries %d of %d paths", j,
				      used[j], total);
	}
	topo_route_fini(&rt);
	topo_route_fini(&rt2);
	topo_router_destroy(r);
	topo_router_destroy(r2);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(even_split_fractions)
{
	topo_spec s = spec(TOPO_FAT_TREE, 8, 2, 2);
	topo_graph *g;
	ms_error err;
	topo_router *r;
	topo_route rt;
	double up = 0, core = 0;
	s.switch_radix = 4;
	s.tiers = 3;
	g = make(&s);
	ms_error_clear(&err);
	r = topo_router_create(g, TOPO_ECMP_EVEN, 0, &err);
	topo_route_init(&rt);
	ck_assert_int_eq(topo_router_route(r, 0, 15, &rt, &err), 0);
	/* PCIe, NIC, 2 leaf->agg, 4 agg->core, 4 core->agg, 2 agg->leaf, NIC, PCIe. */
	ck_assert_int_eq(rt.n, 1 + 1 + 2 + 4 + 4 + 2 + 1 + 1);
	ck_assert_int_eq(rt.hops, 8);
	for (int i = 0; i < rt.n; i++) {
		const topo_link *l = &g->links[rt.link[i]];
		if (l->cls == HW_LINK_TIER1 && g->v[l->src].tier == 1) {
			ck_assert(fabs(rt.weight[i] - 0.5) < 1e-15);
			up += rt.weight[i];
		}
		if (l->cls == HW_LINK_TIER2 && g->v[l->src].tier == 2) {
			ck_assert(fabs(rt.weight[i] - 0.25) < 1e-15);
			core += rt.weight[i];
		}
	}
	ck_assert(fabs(up - 1) < 1e-15 && fabs(core - 1) < 1e-15);
	/* Every path has the same latency: the weighted sum is that latency. */
	ck_assert(tu_rel(rt.latency_s, 5e-6 + 6 * 0.5e-6) < 1e-12);
	topo_route_fini(&rt);
	topo_router_destroy(r);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(nvlink_domain_spanning_nodes)
{
	/* NVL-style domain of 8 GPUs over 2 nodes of 4: GPU 0 -> GPU 6 stays on NVLink. */
	topo_spec s = spec(TOPO_SINGLE_SWITCH, 4, 4, 4);
	topo_graph *g;
	ms_error err;
	topo_router *r;
	topo_route rt;
	s.nvlink_domain = 8;
	g = make(&s);
	ck_assert_int_eq(g->n_domains, 2);
	ms_error_clear(&err);
	r = topo_router_create(g, TOPO_ECMP_HASH, 0, &err);
	topo_route_init(&rt);
	ck_assert_int_eq(topo_router_route(r, 0, 6, &rt, &err), 0);
	ck_assert_int_eq(rt.n, 2);
	ck_assert_int_eq(g->links[rt.link[0]].cls, HW_LINK_NVLINK);
	ck_assert(tu_rel(rt.latency_s, 3e-6) < 1e-12);
	ck_assert_int_eq(topo_router_route(r, 0, 8, &rt, &err), 0);
	ck_assert_int_eq(rt.n, 4);
	/* The halves (nodes 0-1 and 2-3) are whole domains: 8 NICs cross. */
	ck_assert(tu_rel(bisection(g), 8 * NIC_BPS) < 1e-12);
	topo_route_fini(&rt);
	topo_router_destroy(r);
	topo_graph_destroy(g);
	/* Domains must tile nodes. */
	s.nvlink_domain = 6;
	ms_error_clear(&err);
	ck_assert_ptr_null(topo_graph_create(&s, NULL, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "network.nvlink_domain = 6"));
}
END_TEST

/*
 * The rank arithmetic (topo_rank.h) as both views use it, against the cables the
 * builder laid: rank r's PCIe cable ends at the NIC topo_graph_nic_of and
 * topo_nic_of name, its NVLink cable at its domain's NVSwitch. The expected NIC is
 * counted out, not computed: each node's GPUs fill its NICs in order, gpn / nics each.
 */
START_TEST(rank_arithmetic_matches_cables)
{
	static const int shapes[][4] = {/* nodes, gpus per node, NICs per node, NVLink domain */
					{3, 4, 2, 4}, {2, 8, 8, 8}, {4, 4, 1, 2}, {4, 4, 4, 8}, {2, 6, 3, 3}, {5, 1, 1, 1}};
	for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
		topo_spec s = spec(TOPO_SINGLE_SWITCH, shapes[k][0], shapes[k][1], shapes[k][2]);
		topo_cluster c;
		topo_graph *g;
		int per_nic = shapes[k][1] / shapes[k][2], r = 0;
		s.nvlink_domain = shapes[k][3];
		g = make(&s);
		memset(&c, 0, sizeof c);
		c.nodes = shapes[k][0];
		c.gpus_per_node = shapes[k][1];
		c.nics_per_node = shapes[k][2];
		c.domain_size = topo_rank_domain_size(shapes[k][3], shapes[k][1]);
		ck_assert_int_eq(topo_rank_domain_size(0, shapes[k][1]), shapes[k][1]);
		for (int node = 0, nic = 0; node < c.nodes; node++)
			for (int n = 0; n < c.nics_per_node; n++, nic++)
				for (int j = 0; j < per_nic; j++, r++) {
					int cable_nic = g->links[g->pcie_up[r]].dst - g->v_nic0;
					ck_assert_int_eq(cable_nic, nic);
					ck_assert_int_eq(topo_graph_nic_of(g, r), nic);
					ck_assert_int_eq(topo_nic_of(&c, r), nic);
					ck_assert_int_eq(topo_node_of(&c, r), node);
					ck_assert_int_eq(topo_domain_of(&c, r), topo_graph_domain_of(g, r));
					if (g->gpu_up[r] >= 0)
						ck_assert_int_eq(g->links[g->gpu_up[r]].dst - g->v_nvswitch0,
								 topo_graph_domain_of(g, r));
					else
						ck_assert_int_eq(g->domain_size, 1);
				}
		ck_assert_int_eq(r, g->world);
		topo_graph_destroy(g);
	}
}
END_TEST

START_TEST(custom_files)
{
	char path[1024];
	topo_spec s = spec(TOPO_CUSTOM, 4, 2, 2);
	topo_graph *g;
	ms_error err;
	topo_router *r;
	topo_route rt;
	s.file = data_path(path, sizeof path, "dumbbell.txt");
	g = make(&s);
	ck_assert_int_eq(g->n_switches, 2);
	ck_assert_int_eq(count_class(g, HW_LINK_CUSTOM), 2);
	/* The one cable between the halves, 12.5 GB/s. */
	ck_assert(tu_rel(bisection(g), 12.5e9) < 1e-12);
	ms_error_clear(&err);
	r = topo_router_create(g, TOPO_ECMP_HASH, 0, &err);
	topo_route_init(&rt);
	ck_assert_int_eq(topo_router_route(r, 0, 7, &rt, &err), 0);
	check_path(g, &rt, 0, 7);
	ck_assert_int_eq(rt.n, 5);
	ck_assert(tu_rel(rt.latency_s, 5e-6 + 0.5e-6 + 1e-6 + 0.5e-6) < 1e-12);
	topo_router_destroy(r);
	topo_graph_destroy(g);

	snprintf(path, sizeof path, "%s/scenarios/topologies/ring.txt", getenv("MOESIM_SRC") ? getenv("MOESIM_SRC") : ".");
	s.file = path;
	g = make(&s);
	ms_error_clear(&err);
	r = topo_router_create(g, TOPO_ECMP_EVEN, 0, &err);
	/* s0 -> s2 both ways round the ring. */
	ck_assert(topo_router_count_paths(r, 0, 4, &err) == 2);
	ck_assert(topo_router_count_paths(r, 0, 2, &err) == 1);
	topo_route_fini(&rt);
	topo_router_destroy(r);
	topo_graph_destroy(g);
}
END_TEST

START_TEST(custom_file_errors)
{
	static const struct {
		const char *file, *msg;
	} cases[] = {
		{"bad-keyword.txt", "bad-keyword.txt:3: unknown keyword 'lnk'"},
		{"bad-capacity.txt", "bad-capacity.txt:3: capacity 'fast' is not a positive number of Gb/s"},
		{"bad-node.txt", "bad-node.txt:3: 'b' is neither a NIC (nic0 .. nic1) nor a declared switch"},
		{"bad-duplicate.txt", "bad-duplicate.txt:2: switch 'a' declared twice (first at line 1)"},
		{"bad-nic-range.txt", "bad-nic-range.txt:3: nic99 is out of range: the cluster has 2 NICs"},
		{"bad-unreachable.txt", "bad-unreachable.txt: nic0 cannot reach nic1"},
		{"bad-fields.txt", "bad-fields.txt:2: 'link' takes 4 values"},
		{"bad-latency.txt", "bad-latency.txt:2: latency '-2' is not a number of microseconds >= 0"},
		{"bad-unlinked.txt", "bad-unlinked.txt: nic1 has no link"},
		{"no-such-file.txt", "cannot read topology file"},
	};
	char path[1024];
	topo_spec s = spec(TOPO_CUSTOM, 1, 2, 2);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ms_error err;
		ms_error_clear(&err);
		s.file = data_path(path, sizeof path, cases[i].file);
		ck_assert_ptr_null(topo_graph_create(&s, NULL, &err));
		ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "%s: got '%s', want '%s'", cases[i].file, err.msg,
			      cases[i].msg);
		ck_assert(strchr(err.msg, '\n') == NULL);
	}
}
END_TEST

static const char base_scn[] =
	"model = { hidden = 64; ffn_hidden = 128; experts = 16; top_k = 2; moe_layers = 1; heads = 4; };\n"
	"cluster = { nodes = 4; gpus_per_node = 4; nic_Gbps = 400.0; };\n"
	"parallel = { ep = 16; };\n"
	"workload = { tokens_per_rank = 64; seq_len = 64; };\n";

START_TEST(from_scenario)
{
	scn_scenario *sc = malloc(sizeof *sc);
	scn_overrides ov = {3, {"network.topology=rail", "network.switch_radix=8", "network.pcie_GBps=64"}};
	ms_error err;
	topo_graph *g;
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load_text(sc, base_scn, "t.cfg", &ov, &err), 0);
	g = topo_graph_from_scenario(sc, NULL, &err);
	ck_assert_msg(g != NULL, "%s", err.msg);
	ck_assert_int_eq(g->spec.shape, TOPO_RAIL);
	ck_assert_int_eq(g->n_nics, 16);
	ck_assert(tu_rel(g->spec.nic_Bps, 50e9 * 0.96) < 1e-12); /* line rate x network.nic_efficiency */
	ck_assert(tu_rel(g->links[g->pcie_up[3]].bw_Bps, 64e9) < 1e-12);
	ck_assert(tu_rel(g->spec.nvlink_Bps, 450e9 * 0.82) < 1e-12); /* H100 SXM datasheet x nvlink_efficiency */
	topo_graph_destroy(g);
	/* A custom topology needs a file; the message names the scenario. */
	ov.n = 1;
	ov.items[0] = "network.topology=custom";
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load_text(sc, base_scn, "t.cfg", &ov, &err), 0);
	ck_assert_ptr_null(topo_graph_from_scenario(sc, NULL, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "needs network.file"));
	/* A radix too small for a 2-tier tree names the key. */
	ov.n = 2;
	ov.items[0] = "network.topology=fat_tree";
	ov.items[1] = "network.switch_radix=4";
	ms_error_clear(&err);
	ck_assert_int_eq(scn_scenario_load_text(sc, base_scn, "t.cfg", &ov, &err), 0);
	ck_assert_ptr_null(topo_graph_from_scenario(sc, NULL, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "--set network.switch_radix=4"));
	ck_assert_ptr_nonnull(strstr(err.msg, "set network.tiers = 3"));
	free(sc);
}
END_TEST

Suite *topology_suite(void)
{
	Suite *s = suite_create("topology");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, single_switch_counts);
	tcase_add_test(tc, fat_tree_two_tiers);
	tcase_add_test(tc, fat_tree_three_tiers);
	tcase_add_test(tc, rail_counts);
	tcase_add_test(tc, hash_routes_are_paths_and_spread);
	tcase_add_test(tc, even_split_fractions);
	tcase_add_test(tc, nvlink_domain_spanning_nodes);
	tcase_add_test(tc, rank_arithmetic_matches_cables);
	tcase_add_test(tc, custom_files);
	tcase_add_test(tc, custom_file_errors);
	tcase_add_test(tc, from_scenario);
	suite_add_tcase(s, tc);
	return s;
}
