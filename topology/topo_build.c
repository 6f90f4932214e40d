/*
 * topo_build.c - the switch side of the generated shapes (topo_graph.h states them):
 * one switch, fat trees of 2 or 3 tiers, rail-optimized. topo_graph_create has added
 * the GPUs, NVSwitches and NICs; each function here adds the switches and every cable
 * above the NICs, and records the shape's arithmetic (leaf ports, switch counts) in
 * the graph for `moesim topo` and the closed forms in the tests.
 *
 * Invariants: NICs are cabled to leaves in NIC order, leaves to upper tiers in leaf
 * order, so link ids (and with them routes and output) depend only on the spec. A
 * shape that does not fit the switch radix is refused with the scenario key to change.
 * Each is O(switches + cables).
 */
#include "topology/topo_build.h"

#include <math.h>

int topo__build_single_switch(topo__builder *b)
{
	topo_graph *g = b->g;
	const topo_spec *sp = &g->spec;
	if (topo__add_vertex(b, TOPO_V_SWITCH, 1, 0, "switch0") < 0)
		return b->err->code;
	g->n_leaves = 1;
	for (int n = 0; n < g->n_nics; n++)
		if (topo__add_cable(b, g->v_nic0 + n, g->v_switch0, HW_LINK_NIC, sp->nic_Bps, sp->link_latency_s) < 0)
			return b->err->code;
	return MS_OK;
}

/* Leaf ports: d down, u up, d + u <= radix, d / u <= oversubscription (closest from below). */
static void leaf_ports(const topo_spec *sp, int *d, int *u)
{
	int k = sp->switch_radix;
	double o = sp->oversubscription;
	int dd = (int)floor(k * o / (1.0 + o) + 1e-9);
	int uu;
	if (dd < 1)
		dd = 1;
	uu = (int)ceil(dd / o - 1e-9);
	if (uu < 1)
		uu = 1;
	while (dd + uu > k && dd > 1) {
		dd--;
		uu = (int)ceil(dd / o - 1e-9);
	}
	*d = dd;
	*u = uu;
}

int topo__build_tree(topo__builder *b, const scn_scenario *s)
{
	topo_graph *g = b->g;
	const topo_spec *sp = &g->spec;
	int k = sp->switch_radix, N = g->n_nics, d, u;
	double bw = sp->nic_Bps, lat = sp->link_latency_s;
	int L, leaf0;
	leaf_ports(sp, &d, &u);
	g->leaf_down = d;
	g->leaf_up = u;
	L = (N + d - 1) / d;
	if (sp->shape == TOPO_FAT_TREE && sp->tiers == 2 && L > k)
		return topo__spec_error(b->err, s, "network.switch_radix",
				"a 2-tier fat tree of radix %d holds at most %d NICs (%d leaves of %d down ports at "
				"oversubscription %g); the cluster has %d NICs: set network.tiers = 3 or a larger "
				"network.switch_radix",
				k, k * d, k, d, sp->oversubscription, N);
	if (sp->shape == TOPO_FAT_TREE && sp->tiers == 3 && (L + k / 2 - 1) / (k / 2) > k)
		return topo__spec_error(b->err, s, "network.switch_radix",
				"a 3-tier fat tree of radix %d holds at most %d NICs; the cluster has %d NICs: use a "
				"larger network.switch_radix",
				k, k * (k / 2) * d, N);
	g->n_leaves = L;
	leaf0 = g->n_vertices;
	for (int l = 0; l < L; l++)
		if (topo__add_vertex(b, TOPO_V_SWITCH, 1, l, "leaf%d", l) < 0)
			return b->err->code;
	for (int n = 0; n < N; n++)
		if (topo__add_cable(b, g->v_nic0 + n, leaf0 + n / d, HW_LINK_NIC, bw, lat) < 0)
			return b->err->code;
	if (L == 1)
		return MS_OK; /* one leaf holds every NIC: no upper tier */
	if (sp->tiers == 2 || (L + k / 2 - 1) / (k / 2) == 1) {
		int sp0 = g->n_vertices;
		int three = sp->tiers == 3;
		g->n_spines = u;
		g->n_pods = three ? 1 : 0;
		for (int j = 0; j < u; j++)
			if ((three ? topo__add_vertex(b, TOPO_V_SWITCH, 2, j, "agg0.%d", j)
				   : topo__add_vertex(b, TOPO_V_SWITCH, 2, j, "spine%d", j)) < 0)
				return b->err->code;
		for (int l = 0; l < L; l++)
			for (int j = 0; j < u; j++)
				if (topo__add_cable(b, leaf0 + l, sp0 + j, HW_LINK_TIER1, bw, lat) < 0)
					return b->err->code;
		return MS_OK;
	}
	{
		/* Three tiers: pods of k/2 leaves and u aggregation switches; core c joins
		 * aggregation switch c / (k/2) of every pod. */
		int P = k / 2, pods = (L + P - 1) / P, agg0 = g->n_vertices, core0, C = u * P;
		g->n_pods = pods;
		g->n_spines = pods * u;
		for (int p = 0; p < pods; p++)
			for (int j = 0; j < u; j++)
				if (topo__add_vertex(b, TOPO_V_SWITCH, 2, p * u + j, "agg%d.%d", p, j) < 0)
					return b->err->code;
		core0 = g->n_vertices;
		g->n_cores = C;
		for (int c = 0; c < C; c++)
			if (topo__add_vertex(b, TOPO_V_SWITCH, 3, c, "core%d", c) < 0)
				return b->err->code;
		for (int l = 0; l < L; l++)
			for (int j = 0; j < u; j++)
				if (topo__add_cable(b, leaf0 + l, agg0 + (l / P) * u + j, HW_LINK_TIER1, bw, lat) < 0)
					return b->err->code;
		for (int p = 0; p < pods; p++)
			for (int c = 0; c < C; c++)
				if (topo__add_cable(b, agg0 + p * u + c / P, core0 + c, HW_LINK_TIER2, bw, lat) < 0)
					return b->err->code;
	}
	return MS_OK;
}

int topo__build_rail(topo__builder *b, const scn_scenario *s)
{
	topo_graph *g = b->g;
	const topo_spec *sp = &g->spec;
	int k = sp->switch_radix, R = sp->nics_per_node, nodes = sp->nodes, d, u, Lr, leaf0, sp0;
	double bw = sp->nic_Bps, lat = sp->link_latency_s;
	leaf_ports(sp, &d, &u);
	g->leaf_down = d;
	g->leaf_up = u;
	Lr = (nodes + d - 1) / d;
	if (R * Lr > 1 && R * Lr > k)
		return topo__spec_error(b->err, s, "network.switch_radix",
				"a rail-optimized network of %d rails x %d leaves per rail needs spines of at least "
				"%d ports, but network.switch_radix = %d",
				R, Lr, R * Lr, k);
	g->n_leaves = R * Lr;
	leaf0 = g->n_vertices;
	for (int r = 0; r < R; r++)
		for (int j = 0; j < Lr; j++)
			if (topo__add_vertex(b, TOPO_V_SWITCH, 1, r * Lr + j, "rail%d.%d", r, j) < 0)
				return b->err->code;
	for (int n = 0; n < g->n_nics; n++) {
		int node = n / R, r = n % R;
		if (topo__add_cable(b, g->v_nic0 + n, leaf0 + r * Lr + node / d, HW_LINK_NIC, bw, lat) < 0)
			return b->err->code;
	}
	if (R * Lr == 1)
		return MS_OK;
	sp0 = g->n_vertices;
	g->n_spines = u;
	for (int j = 0; j < u; j++)
		if (topo__add_vertex(b, TOPO_V_SWITCH, 2, j, "spine%d", j) < 0)
			return b->err->code;
	for (int l = 0; l < R * Lr; l++)
		for (int j = 0; j < u; j++)
			if (topo__add_cable(b, leaf0 + l, sp0 + j, HW_LINK_TIER1, bw, lat) < 0)
				return b->err->code;
	return MS_OK;
}
