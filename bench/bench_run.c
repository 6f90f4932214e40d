/*
 * bench_run.c - whole-run speed: wall time, events/s, routing decisions/s and peak
 * memory of sim_run on shipped scenarios, from the default to the 2,048-GPU DeepSeek-V3
 * training step (target: < 30 s and < 4 GiB on one core, analytic and flow-level;
 * docs/benchmarks.md).
 * Run from the repository root (make bench does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bench_threads(const char *path, const char *label, const scn_overrides *ov, int threads)
{
	scn_scenario *s = malloc(sizeof *s);
	sim_result *r = NULL;
	ms_error err;
	double t0, t1, decisions;
	struct rusage ru;
	ms_error_clear(&err);
	if (!s || scn_scenario_load(s, path, ov, &err) < 0 || (t0 = now_s(), sim_run_scenario(s, threads, &r, &err)) < 0) {
		fprintf(stderr, "bench_run: %s\n", err.msg);
		free(s);
		return 1;
	}
	t1 = now_s();
	getrusage(RUSAGE_SELF, &ru);
	/* each routing sample routes one pipeline stage's GPUs per layer */
	decisions = (double)scn_world(s) / s->parallel.pp * (double)s->workload.tokens_per_rank *
		    (s->model.moe_layers + s->model.mtp_layers) * s->routing.top_k * s->workload.steps *
		    s->workload.routed_microbatches;
	printf("  %-44s %6d GPUs  %8.2f s  %8.2f M events/s  %7.1f M decisions/s  peak RSS %6.0f MiB\n", label,
	       scn_world(s), t1 - t0, (double)r->events / (t1 - t0) / 1e6, decisions / (t1 - t0) / 1e6,
	       ru.ru_maxrss / 1024.0);
	sim_result_free(r);
	free(s);
	return 0;
}

static int bench(const char *path, const char *label, const scn_overrides *ov)
{
	return bench_threads(path, label, ov, 0);
}

int main(void)
{
	scn_overrides none = {0, {NULL}};
	scn_overrides ds256 = {1, {"cluster.nodes=32"}};
	int rc = 0;
	printf("whole runs (wall time of sim_run; decisions = token-expert routing choices):\n");
	rc |= bench(NULL, "default (Mixtral-8x7B, 32 GPUs, 1 step)", &none);
	rc |= bench("scenarios/deepseek-v3-2048.cfg", "DeepSeek-V3-shaped, 1 step, 32 nodes", &ds256);
	rc |= bench("scenarios/deepseek-v3-2048.cfg", "DeepSeek-V3-shaped, 1 step, 256 nodes", &none);
	/* Issue 11's targets: one training step of the DeepSeek-V3 layout (PP 16, EP 64, DP 128,
	 * 120 micro-batches) on one core, analytic and flow-level; the flow-level step is
	 * measured on 2 of its 120 micro-batches (docs/benchmarks.md extrapolates). */
	{
		scn_overrides flow2 = {2, {"network.model=flow", "workload.global_batch=256"}};
		rc |= bench_threads("scenarios/deepseek-v3-train.cfg", "DeepSeek-V3 training step, analytic, 1 thread",
				    &none, 1);
		rc |= bench_threads("scenarios/deepseek-v3-train.cfg",
				    "DeepSeek-V3, flow, 2 of 120 micro-batches, 1 thread", &flow2, 1);
	}
	return rc;
}
