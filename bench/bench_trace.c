/*
 * bench_trace.c - replay throughput of the trace reader: stream token-layer decisions
 * from an HDF5 trace on disk, the way the replay reads them.
 *
 * Writes a synthetic trace of 2,000,000 tokens x 8 MoE layers, 8 experts, ranking depth 2
 * (top-2), zipf routing, to /tmp (or argv[1]) unless it is already there, then reads it
 * back three ways, best of 3 each (the file is in the page cache after the first pass):
 *   - layer-major, one chunk (65,536 tokens) per read, ids and scores;
 *   - token-major, 16,384-token blocks through every layer (a replay step's pattern),
 *     ids and scores: the chunk cache must keep each layer's chunk;
 *   - layer-major, ids only (replays with the position drop policy or dropless).
 * A decision is one token's ranking in one layer (K = 2 ids and scores). Reported: wall
 * time and decisions/s, and decisions per CPU-second (all threads: the reader decodes
 * chunks ahead on a helper thread per dataset, see trace/tr_chunk.h).
 * MOESIM_TRACE_HDF5_READ=1 measures HDF5's own read path instead.
 * Target (docs/trace-tools.md): >= 50 M token-layer decisions/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trace/tr_reader.h"
#include "trace/tr_synth.h"

#define TOKENS 2000000
#define LAYERS 8

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of every thread of the process (the reader decodes on helper threads). */
static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Whether path already holds the benchmark trace. */
static int have_trace(const char *path)
{
	ms_error err;
	tr_reader *r;
	int ok;
	ms_error_clear(&err);
	r = tr_open(path, &err);
	if (!r)
		return 0;
	ok = tr_get_info(r)->num_tokens == TOKENS && tr_get_info(r)->num_layers == LAYERS && tr_get_info(r)->depth == 2 &&
	     strcmp(tr_get_info(r)->model, "bench_trace") == 0;
	tr_close(r);
	return ok;
}

/* Streams the whole trace; mode 0 layer-major, 1 token-major; scores or not. Wall
 * seconds; *cpu gets the CPU seconds. */
static double stream(const char *path, int mode, int with_scores, int64_t block, long long *check, double *cpu)
{
	ms_error err;
	tr_reader *r;
	const tr_info *in;
	int16_t *ids;
	float *sc;
	double t0, t1, c0;
	long long sum = 0;
	ms_error_clear(&err);
	r = tr_open(path, &err);
	if (!r) {
		fprintf(stderr, "bench_trace: %s\n", err.msg);
		exit(1);
	}
	in = tr_get_info(r);
	ids = malloc((size_t)block * in->depth * sizeof *ids);
	sc = malloc((size_t)block * in->depth * sizeof *sc);
	t0 = now_s();
	c0 = cpu_s();
	for (int outer = 0; outer < (mode == 0 ? in->num_layers : (int)((in->num_tokens + block - 1) / block)); outer++) {
		for (int inner = 0; inner < (mode == 0 ? (int)((in->num_tokens + block - 1) / block) : in->num_layers); inner++) {
			int l = mode == 0 ? outer : inner;
			int64_t t = (int64_t)(mode == 0 ? inner : outer) * block;
			int64_t n = in->num_tokens - t < block ? in->num_tokens - t : block;
			if (tr_read_routing(r, l, t, n, ids, with_scores ? sc : NULL, &err) < 0) {
				fprintf(stderr, "bench_trace: %s\n", err.msg);
				exit(1);
			}
			/* Touch what was read, as a replay would. */
			for (int64_t i = 0; i < n * in->depth; i += 64)
				sum += ids[i] + (with_scores ? (long long)(sc[i] * 8) : 0);
		}
	}
	t1 = now_s();
	*cpu = cpu_s() - c0;
	*check = sum;
	free(ids);
	free(sc);
	tr_close(r);
	return t1 - t0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/tmp/moesim-bench-trace.h5";
	const double decisions = (double)TOKENS * LAYERS;
	const char *hdf5_read = getenv("MOESIM_TRACE_HDF5_READ");
	static const struct {
		const char *label;
		int mode, scores;
		int64_t block;
	} runs[] = {
		{"layer-major, 65536-token blocks, ids + scores", 0, 1, 65536},
		{"token-major, 16384-token blocks, ids + scores", 1, 1, 16384},
		{"layer-major, 65536-token blocks, ids only", 0, 0, 65536},
	};
	if (hdf5_read && *hdf5_read && strcmp(hdf5_read, "0") != 0)
		tr_use_own_decoder(0);
	if (!have_trace(path)) {
		tr_synth_opts o;
		ms_error err;
		double t0 = now_s();
		tr_synth_defaults(&o);
		o.layers = LAYERS;
		o.experts = 8;
		o.depth = 2;
		o.top_k = 2;
		o.tokens = TOKENS;
		o.dist = TR_DIST_ZIPF;
		o.ranks = 8;
		o.seq_len = 4096;
		o.model = "bench_trace";
		ms_error_clear(&err);
		if (tr_synth_write(path, 1, &o, &err) < 0) {
			fprintf(stderr, "bench_trace: %s\n", err.msg);
			return 1;
		}
		printf("wrote %s: %d tokens x %d layers, top-2 of 8 experts, in %.2f s (%.1f M decisions/s synthesised)\n",
		       path, TOKENS, LAYERS, now_s() - t0, decisions / (now_s() - t0) / 1e6);
	}
	printf("trace replay throughput (%d tokens x %d layers = %.0f M decisions; best of 3):\n", TOKENS, LAYERS,
	       decisions / 1e6);
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		double best = 1e30, best_cpu = 1e30, cpu;
		long long check = 0;
		for (int rep = 0; rep < 3; rep++) {
			double s = stream(path, runs[i].mode, runs[i].scores, runs[i].block, &check, &cpu);
			best = s < best ? s : best;
			best_cpu = cpu < best_cpu ? cpu : best_cpu;
		}
		printf("  %-48s %7.3f s  %7.1f M decisions/s  (%.1f M per CPU-second)\n", runs[i].label, best,
		       decisions / best / 1e6, decisions / best_cpu / 1e6);
	}
	return 0;
}
