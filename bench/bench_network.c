/*
 * bench_network.c - the flow-level network on skewed MoE all-to-alls.
 *
 *   128 GPUs  16 nodes x 8 H100 (NVLink 450 GB/s), 2-tier fat tree of radix 64 (4 leaves,
 *             32 spines), 400 Gb/s NICs; 256 experts (2 per GPU), top-8; 16,256 flows.
 *             Flat, pairwise and hierarchical, exact; flat with a 1e-2 batching window
 *             (net_model_set_tolerance) for its error. The same case runs in SimGrid in
 *             bench/simgrid_network.cpp (make net-simgrid-bench).
 *   1024 GPUs 128 nodes x 8, rail-optimized (8 rails, radix 64: 4 leaves per rail, 32
 *             spines), 400 Gb/s NICs; 1,024 experts (1 per GPU), top-8. Hierarchical with a
 *             1e-2 window; with --full also exact hierarchical and flat with a 1e-2 window
 *             (1,046,528 flows; minutes, see docs/network.md).
 *
 * Skew: 4,096 tokens per GPU, each to top-8 experts by Zipf(1) popularity over a random
 * ranking, contiguous placement, 14,336 bytes per token-expert pair (hidden 7168, bf16),
 * seed 42 (network/net_synth.h). Wall time covers routing, the flow model and the
 * collective logic, not generating the matrix. Target (docs/network.md): one 1,024-GPU
 * skewed all-to-all in under 1 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "network/net_coll.h"
#include "network/net_synth.h"
#include "topology/topo_graph.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static topo_spec cluster(topo_shape shape, int nodes)
{
	topo_spec s;
	memset(&s, 0, sizeof s);
	s.shape = shape;
	s.nodes = nodes;
	s.gpus_per_node = 8;
	s.nvlink_domain = 8;
	s.nics_per_node = 8;
	s.nvlink_Bps = 450e9;
	s.nvlink_latency_s = 3e-6;
	s.nic_Bps = 50e9;
	s.nic_latency_s = 5e-6;
	s.link_latency_s = 0.5e-6;
	s.tiers = 2;
	s.oversubscription = 1;
	s.switch_radix = 64;
	return s;
}

typedef struct workload {
	int n;
	int *ranks;
	double *bytes, *dbytes;
} workload;

static int make_workload(workload *w, int n, int experts, ms_error *err)
{
	w->n = n;
	w->ranks = malloc((size_t)n * sizeof(int));
	w->bytes = malloc((size_t)n * n * sizeof(double));
	w->dbytes = malloc((size_t)n * (n / 8) * sizeof(double));
	if (!w->ranks || !w->bytes || !w->dbytes)
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	for (int i = 0; i < n; i++)
		w->ranks[i] = i;
	return net_synth_dispatch(42, n, experts, 8, 4096, 1.0, 7168 * 2, 8, w->bytes, w->dbytes, err);
}

static void free_workload(workload *w)
{
	free(w->ranks);
	free(w->bytes);
	free(w->dbytes);
}

/* Times one collective; returns its simulated time (< 0 on error). */
static double run(const topo_graph *g, const workload *w, net_a2a_algo algo, double tol, const char *label)
{
	ms_error err;
	net_model *m;
	net_a2a_result r;
	double t0, wall;
	ms_error_clear(&err);
	m = net_model_create(g, TOPO_ECMP_HASH, 42, &err);
	if (!m) {
		fprintf(stderr, "bench_network: %s\n", err.msg);
		return -1;
	}
	if (tol > 0)
		net_model_set_tolerance(m, tol);
	t0 = now_s();
	if (net_a2a_time(m, algo, w->ranks, w->n, w->bytes, algo == NET_A2A_HIERARCHICAL ? w->dbytes : NULL, &r,
			 &err) < 0) {
		fprintf(stderr, "bench_network: %s\n", err.msg);
		net_model_destroy(m);
		return -1;
	}
	wall = now_s() - t0;
	printf("  %-13s %-14s %9.3f ms %9ld flows %8llu solves %7.3f s wall", net_a2a_algo_name(algo), label,
	       r.time_s * 1e3, r.flows, (unsigned long long)r.solves, wall);
	if (r.n_hot > 0)
		printf("   hottest %s->%s %.0f %%", g->names[g->links[r.hot[0].link].src],
		       g->names[g->links[r.hot[0].link].dst], r.hot[0].utilisation * 100);
	printf("\n");
	net_model_destroy(m);
	return r.time_s;
}

int main(int argc, char **argv)
{
	int full = argc > 1 && strcmp(argv[1], "--full") == 0;
	ms_error err;
	workload w;
	topo_spec s;
	topo_graph *g;
	double exact, approx;
	ms_error_clear(&err);

	printf("skewed all-to-all, 128 GPUs (16 x 8), fat tree 2 tiers radix 64, 400 Gb/s NICs\n");
	s = cluster(TOPO_FAT_TREE, 16);
	g = topo_graph_create(&s, NULL, &err);
	if (!g || make_workload(&w, 128, 256, &err) < 0) {
		fprintf(stderr, "bench_network: %s\n", err.msg);
		return 1;
	}
	exact = run(g, &w, NET_A2A_FLAT, 0, "exact");
	approx = run(g, &w, NET_A2A_FLAT, 1e-2, "window 1e-2");
	run(g, &w, NET_A2A_PAIRWISE, 0, "exact");
	run(g, &w, NET_A2A_HIERARCHICAL, 0, "exact");
	if (exact > 0 && approx > 0)
		printf("  flat with a 1e-2 window: %+.3f %% against exact\n", (approx / exact - 1) * 100);
	free_workload(&w);
	topo_graph_destroy(g);

	printf("skewed all-to-all, 1,024 GPUs (128 x 8), rail-optimized radix 64, 400 Gb/s NICs\n");
	s = cluster(TOPO_RAIL, 128);
	g = topo_graph_create(&s, NULL, &err);
	if (!g || make_workload(&w, 1024, 1024, &err) < 0) {
		fprintf(stderr, "bench_network: %s\n", err.msg);
		return 1;
	}
	run(g, &w, NET_A2A_HIERARCHICAL, 1e-2, "window 1e-2");
	if (full) {
		run(g, &w, NET_A2A_HIERARCHICAL, 0, "exact");
		run(g, &w, NET_A2A_FLAT, 1e-2, "window 1e-2");
	} else {
		printf("  (flat and exact at 1,024 GPUs take minutes: bench_network --full)\n");
	}
	free_workload(&w);
	topo_graph_destroy(g);
	return 0;
}
