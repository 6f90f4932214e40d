/*
 * cmd_topo.c - `moesim topo`: what the scenario's network is. Prints GPU, NIC,
 * switch and link counts, each link class with its capacity, the bisection bandwidth
 * (max-flow between the halves of the nodes, docs/network.md), and a sample route
 * between GPUs on different nodes; writes Graphviz DOT with --dot, an atomic output
 * (common/ms_file.h) that an existing file does not give way to without --force.
 * Errors are one line on stderr; exit 1 for bad input, 2 for bad usage.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/ms_file.h"
#include "profile/prof_scenario.h"
#include "scenario/scn_scenario.h"
#include "topology/topo_graph.h"
#include "topology/topo_route.h"

static const char usage_topo[] =
	"usage: moesim topo [SCENARIO] [--set section.key=value]... [--dot FILE [--force]]\n"
	"\n"
	"Builds the network of SCENARIO (without one, the built-in default) and prints its GPUs,\n"
	"NICs, switches and links per class with their capacities, the bisection bandwidth and a\n"
	"sample route between two GPUs on different nodes (docs/network.md).\n"
	"\n"
	"  --set K=V    override one scenario value, e.g. --set network.topology=rail (repeatable)\n"
	"  --dot FILE   also write the graph as Graphviz DOT to FILE ('-' for standard output)\n"
	"  --force      overwrite FILE if it exists\n";

static void fmt_Bps(char *buf, size_t len, double bps)
{
	if (!isfinite(bps))
		snprintf(buf, len, "unconstrained");
	else if (bps >= 1e12)
		snprintf(buf, len, "%.4g TB/s", bps / 1e12);
	else
		snprintf(buf, len, "%.4g GB/s", bps / 1e9);
}

static int write_dot(const topo_graph *g, const char *path, int force)
{
	ms_file f;
	ms_error err;
	if (strcmp(path, "-") == 0) {
		topo_graph_write_dot(g, stdout);
		return 0;
	}
	ms_error_clear(&err);
	if (ms_file_open(&f, path, force, &err) == MS_OK) {
		topo_graph_write_dot(g, ms_file_stream(&f));
		if (ms_file_commit(&f, &err) == MS_OK)
			return 0;
	}
	fprintf(stderr, "moesim: %s\n", err.msg);
	return CLI_EXIT_BAD_INPUT;
}

static void print_shape(const topo_graph *g)
{
	const topo_spec *sp = &g->spec;
	switch (sp->shape) {
	case TOPO_SINGLE_SWITCH: printf("  shape        one switch\n"); break;
	case TOPO_FAT_TREE:
		printf("  shape        fat tree, %d tiers, radix %d; leaves %d down : %d up (oversubscription %.3g:1)\n",
		       sp->tiers, sp->switch_radix, g->leaf_down, g->leaf_up, (double)g->leaf_down / g->leaf_up);
		break;
	case TOPO_RAIL:
		printf("  shape        rail-optimized, %d rails, radix %d; leaves %d down : %d up (oversubscription %.3g:1)\n",
		       sp->nics_per_node, sp->switch_radix, g->leaf_down, g->leaf_up, (double)g->leaf_down / g->leaf_up);
		break;
	case TOPO_CUSTOM: printf("  shape        custom, from %s\n", g->file_path); break;
	}
}

static void print_classes(const topo_graph *g)
{
	printf("  links        %d directed (%d cables)\n", g->n_links, g->n_links / 2);
	for (int c = 0; c < HW_LINK_COUNT; c++) {
		int n = 0;
		double lo = INFINITY, hi = 0, lat_lo = INFINITY, lat_hi = 0;
		char a[32], b[32];
		for (int l = 0; l < g->n_links; l++) {
			const topo_link *k = &g->links[l];
			if (k->cls != c)
				continue;
			n++;
			lo = fmin(lo, k->bw_Bps);
			hi = fmax(hi, k->bw_Bps);
			lat_lo = fmin(lat_lo, k->latency_s);
			lat_hi = fmax(lat_hi, k->latency_s);
		}
		if (!n)
			continue;
		fmt_Bps(a, sizeof a, lo);
		fmt_Bps(b, sizeof b, hi);
		if (lo == hi && lat_lo == lat_hi)
			printf("    %-8s %7d x %s, %.3g us per hop\n", hw_link_class_name(c), n, a, lat_lo * 1e6);
		else
			printf("    %-8s %7d x %s .. %s, %.3g .. %.3g us per hop\n", hw_link_class_name(c), n, a, b,
			       lat_lo * 1e6, lat_hi * 1e6);
	}
}

static int print_route(const topo_graph *g, uint64_t seed)
{
	ms_error err;
	topo_router *r;
	topo_route rt;
	int a = 0, b = g->world - 1;
	double paths;
	ms_error_clear(&err);
	if (g->spec.nodes < 2) {
		printf("  route        (one node: nothing crosses the network)\n");
		return 0;
	}
	r = topo_router_create(g, TOPO_ECMP_HASH, seed, &err);
	if (!r) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return CLI_EXIT_BAD_INPUT;
	}
	topo_route_init(&rt);
	if (topo_router_route(r, a, b, &rt, &err) < 0 || (paths = topo_router_count_paths(r, a, b, &err)) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		topo_route_fini(&rt);
		topo_router_destroy(r);
		return CLI_EXIT_BAD_INPUT;
	}
	printf("  route        gpu%d (node 0) -> gpu%d (node %d): %d hops, %.3g us, %.0f equal-cost path%s; hashed:\n"
	       "               %s",
	       a, b, g->spec.nodes - 1, rt.hops, rt.latency_s * 1e6, paths, paths == 1 ? "" : "s", g->names[a]);
	for (int i = 0; i < rt.n; i++)
		printf(" > %s", g->names[g->links[rt.link[i]].dst]);
	printf("\n");
	topo_route_fini(&rt);
	topo_router_destroy(r);
	return 0;
}

int cli_cmd_topo(int argc, char **argv)
{
	cli_args a;
	scn_scenario *s;
	topo_graph *g;
	prof_profile *profile = NULL;
	ms_error err;
	double bis;
	char buf[32];
	int rc = cli_parse_args(argc, argv, &a, CLI_ALLOW_DOT, usage_topo);
	if (rc)
		return rc;
	if (a.help) {
		fputs(usage_topo, stdout);
		return 0;
	}
	ms_error_clear(&err);
	/* Refuse an existing DOT file before building anything. */
	if (a.dot && strcmp(a.dot, "-") != 0 && ms_file_check(a.dot, a.force, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return CLI_EXIT_BAD_INPUT;
	}
	s = malloc(sizeof *s);
	if (!s) {
		fprintf(stderr, "moesim: out of memory\n");
		return CLI_EXIT_BAD_INPUT;
	}
	ms_error_clear(&err);
	if (scn_scenario_load(s, a.scenario, &a.ov, &err) < 0 ||
	    (s->cluster.profile[0] && prof_profile_load_scenario(s, &profile, &err) < 0) ||
	    !(g = topo_graph_from_scenario(s, profile, &err))) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		prof_profile_destroy(profile);
		free(s);
		return CLI_EXIT_BAD_INPUT;
	}
	prof_profile_destroy(profile); /* the graph keeps what it needs */
	bis = topo_graph_bisection_Bps(g, &err);
	if (bis < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	printf("moesim topo: %s\n", s->source);
	print_shape(g);
	printf("  GPUs         %d (%d nodes x %d); NVLink domains of %d GPU%s", g->world, g->spec.nodes,
	       g->spec.gpus_per_node, g->domain_size, g->domain_size == 1 ? "" : "s");
	fmt_Bps(buf, sizeof buf, g->spec.nvlink_Bps);
	if (g->domain_size > 1)
		printf(" (%d NVSwitch, %s per GPU)\n", g->n_domains, buf);
	else
		printf(" (no NVLink)\n");
	fmt_Bps(buf, sizeof buf, g->spec.nic_Bps);
	printf("  NICs         %d (%d per node) x %s (%.4g Gb/s)\n", g->n_nics, g->spec.nics_per_node, buf,
	       g->spec.nic_Bps * 8 / 1e9);
	printf("  switches     %d", g->n_switches);
	if (g->n_cores)
		printf(" (%d leaves, %d aggregation in %d pods, %d core)", g->n_leaves, g->n_spines, g->n_pods,
		       g->n_cores);
	else if (g->n_spines && g->spec.shape != TOPO_CUSTOM)
		printf(" (%d leaves, %d spines)", g->n_leaves, g->n_spines);
	else if (g->n_leaves && g->spec.shape != TOPO_CUSTOM)
		printf(" (%d leaf)", g->n_leaves);
	printf("\n");
	print_classes(g);
	fmt_Bps(buf, sizeof buf, bis);
	if (g->spec.nodes >= 2)
		printf("  bisection    %s one way, nodes 0-%d to %d-%d (max-flow); %.4g GB/s per GPU of a half\n", buf,
		       g->spec.nodes / 2 - 1, g->spec.nodes / 2, g->spec.nodes - 1,
		       bis / 1e9 / (g->spec.nodes / 2 * g->spec.gpus_per_node));
	else
		printf("  bisection    (one node)\n");
	if ((rc = print_route(g, s->workload.seed)) == 0 && a.dot)
		rc = write_dot(g, a.dot, a.force);
done:
	topo_graph_destroy(g);
	free(s);
	return rc;
}
