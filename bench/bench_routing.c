/*
 * bench_routing.c - the router alone (issue 13, item 2: >= 100 M decisions per
 * CPU-second): rt_route_group over the layers of one 64-GPU EP group of the
 * DeepSeek-V3-shaped scenario (256 experts, top-8, 4,096 tokens per GPU), synthetic
 * (Zipf 0.6; with node-limited routing M = 4) and trace replay (the tiny 4-domain trace,
 * 8 experts, top-2), on one thread. A decision is one token-expert choice; rates are per
 * CPU-second of this process (the machine is shared). Run from the repository root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "routing/rt_router.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_inputs.h"

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *only; /* argv[1]: run only the cases whose label contains it */

static int bench(const char *path, const char *label, const scn_overrides *ov, int layers)
{
	scn_scenario *s = malloc(sizeof *s);
	sim_inputs in;
	rt_router *r = NULL;
	ms_error err;
	double best = 0, decisions = 0;
	int rc = 1;
	if (only && !strstr(label, only)) {
		free(s);
		return 0;
	}
	ms_error_clear(&err);
	if (!s || scn_scenario_load(s, path, ov, &err) < 0 || sim_inputs_open(&in, s, NULL, &err) < 0) {
		fprintf(stderr, "bench_routing: %s\n", err.msg);
		free(s);
		return 1;
	}
	r = rt_router_create(s, in.trace, &err);
	if (!r)
		goto out;
	for (int rep = 0; rep < 3; rep++) {
		double t0 = cpu_s(), t;
		decisions = 0;
		for (int l = 0; l < layers; l++) {
			const rt_group_routing *g;
			if (rt_route_group(r, rep, l, 0, &g, &err) < 0)
				goto out;
			decisions += (double)g->tokens * s->routing.top_k;
		}
		t = cpu_s() - t0;
		if (decisions / t > best)
			best = decisions / t;
	}
	printf("  %-52s %7.1f M decisions per CPU-second (%.0f M decisions)\n", label, best / 1e6, decisions / 1e6);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "bench_routing: %s\n", err.msg);
	rt_router_destroy(r);
	sim_inputs_close(&in);
	free(s);
	return rc;
}

int main(int argc, char **argv)
{
	scn_overrides zipf = {1, {"cluster.nodes=8"}};
	scn_overrides limited = {2, {"cluster.nodes=8", "routing.node_limit=4"}};
	scn_overrides trace = {0, {NULL}};
	int rc = 0;
	only = argc > 1 ? argv[1] : NULL;
	printf("router alone, one thread, one EP group per layer:\n");
	rc |= bench("scenarios/deepseek-v3-2048.cfg", "synthetic zipf 0.6, 64 GPUs, E 256, top-8, 8 layers", &zipf, 8);
	rc |= bench("scenarios/deepseek-v3-2048.cfg", "synthetic, node limit M = 4", &limited, 2);
	rc |= bench(NULL, "replay, default scenario's trace (E 8, top-2, EP 8)", &trace, 32);
	return rc;
}
