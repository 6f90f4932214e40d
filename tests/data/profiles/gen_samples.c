/*
 * gen_samples.c - writes the SYNTHETIC measured profiles in tests/data/profiles/h100-synthetic/
 * through calibrate's own profile writer (calibrate/cal_profile.c), calling it in the
 * exact order cal_gemm.cu, cal_copy.cu, cal_alltoall.c and cal_device.c do, so the
 * files have the structure, key order, typing and formatting of real program output.
 * The numbers are NOT measurements: no GPU was available when they were made. They
 * come from the models below with stated parameters (H100-SXM-like magnitudes), tile
 * quantization ripples and seeded per-repetition noise, summarised with the programs'
 * statistics (cal_stats_compute: median, p10, p90, min, max of 20 repetitions).
 * tests/check_profile.c fits them and checks that the parameters come back.
 *
 * Build and run from the repository root (host C only, no CUDA):
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -I. -o /tmp/gen_samples tests/data/profiles/gen_samples.c \
 *      calibrate/cal_profile.c calibrate/cal_util.c -lm
 *   /tmp/gen_samples tests/data/profiles/h100-synthetic
 *
 * Models (times in microseconds):
 *   gemm      t(n) = t0 + max(W / BW, F n_q / P),  n_q = n + 0.15 (ceil(n/128) 128 - n)
 *             (W weight bytes 3 E H F b, F FLOPs per token 6 E H F; fp8 pads n to 16)
 *   copy      t(B) = lat + B / bw
 *   permute   t(r) = lat + r bytes_per_row / bw
 *   alltoall  t(S) = lat + S / algbw_max
 * and every repetition is multiplied by exp(0.015 g) with g standard normal.
 */
#include "calibrate/cal_profile.h"
#include "calibrate/cal_util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPEATS 20
#define WARMUP 3
#define MAXP 64

static uint64_t rng_state = 2385;

/* xorshift64*, then Box-Muller: reproducible on every platform. */
static double uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return ((rng_state * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static double gauss(void)
{
	double u = uniform(), v = uniform();
	return sqrt(-2.0 * log(u > 1e-300 ? u : 1e-300)) * cos(6.283185307179586 * v);
}

/* The programs' summary of REPEATS noisy repetitions of time us. */
static void measure(double us, cal_stats *st)
{
	double s[REPEATS];
	for (int i = 0; i < REPEATS; i++)
		s[i] = us * exp(0.015 * gauss());
	cal_stats_compute(s, REPEATS, st);
}

/* cal_device_write_head for a made-up H100 SXM5 (cal_device.c, same calls in order). */
static void head(cal_profile *p, const char *program, const char *command, int cublas, int nccl)
{
	cal_profile_str(p, "name", "SYNTHETIC H100-like profile (tests/data/profiles/gen_samples.c; not a measurement)");
	cal_profile_str(p, "source", "measured");
	cal_profile_str(p, "program", program);
	cal_profile_group_begin(p, "provenance");
	cal_profile_str(p, "gpu", "NVIDIA H100 80GB HBM3");
	cal_profile_str(p, "cc", "9.0");
	cal_profile_int(p, "sm_count", 132);
	cal_profile_str(p, "pci_bus_id", "0000:00:00.0");
	cal_profile_str(p, "uuid", "GPU-00000000-0000-0000-0000-000000000000");
	cal_profile_bool(p, "ecc", 1);
	cal_profile_str(p, "driver", "synthetic");
	cal_profile_str(p, "driver_cuda", "13.0");
	cal_profile_str(p, "cuda_runtime", "13.0");
	if (cublas) {
		cal_profile_str(p, "cublas", "13.1.0");
		cal_profile_str(p, "cublaslt", "13.1.0");
	}
	if (nccl)
		cal_profile_str(p, "nccl", "2.28.9");
	cal_profile_int(p, "sm_clock_MHz", 1980);
	cal_profile_int(p, "mem_clock_MHz", 2619);
	cal_profile_str(p, "date", "2026-01-01T00:00:00Z");
	cal_profile_str(p, "host", "synthetic");
	cal_profile_str(p, "command", command);
	cal_profile_group_end(p);
	cal_profile_group_begin(p, "gpu");
	cal_profile_str(p, "name", "NVIDIA H100 80GB HBM3");
	cal_profile_str(p, "cc", "9.0");
	cal_profile_int(p, "sm_count", 132);
	cal_profile_float(p, "hbm_GiB", 79.18);
	cal_profile_float(p, "hbm_GBps", 3352.32);
	cal_profile_float(p, "l2_MiB", 50.0);
	cal_profile_int(p, "mem_bus_bits", 5120);
	cal_profile_group_end(p);
}

static void commit(cal_profile *p)
{
	char err[512];
	if (cal_profile_commit(p, err, sizeof err) != 0) {
		fprintf(stderr, "gen_samples: %s\n", err);
		exit(1);
	}
}

static cal_profile *open_out(const char *dir, const char *name)
{
	char path[1024], err[512];
	cal_profile *p;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	p = cal_profile_open(path, 1, err, sizeof err);
	if (!p) {
		fprintf(stderr, "gen_samples: %s\n", err);
		exit(1);
	}
	return p;
}

/* One gemm shape: its generating parameters per pass. */
typedef struct shape {
	const char *dtype, *method;
	int64_t H, F, E;
	double t0_us, P_TFLOPs[3], BW_GBps[3];
	int npasses;
	int64_t tokens_max;
	const char *note;
} shape;

static const char *const pass_name[3] = {"fwd", "bwd_dgrad", "bwd_wgrad"};

static void gemm_table(cal_profile *p, const shape *s, int pass)
{
	int64_t tokens[MAXP];
	double med[MAXP], p10[MAXP], p90[MAXP], mn[MAXP], mx[MAXP], tf[MAXP];
	int n = cal_ladder_pow2_mid(1, s->tokens_max, tokens, MAXP);
	int pad = strcmp(s->dtype, "bf16") == 0 ? 1 : 16, b = pad == 1 ? 2 : 1;
	double W = 3.0 * s->E * s->H * s->F * b, Fl = 6.0 * s->E * s->H * s->F;
	for (int k = 0; k < n; k++) {
		double nt = (double)((tokens[k] + pad - 1) / pad * pad);
		double nq = nt + 0.15 * (ceil(nt / 128.0) * 128.0 - nt);
		double us = s->t0_us + fmax(W / (s->BW_GBps[pass] * 1e3), Fl * nq / (s->P_TFLOPs[pass] * 1e6));
		cal_stats st;
		measure(us, &st);
		med[k] = st.median, p10[k] = st.p10, p90[k] = st.p90, mn[k] = st.min, mx[k] = st.max;
		tf[k] = 6.0 * (double)s->E * (double)tokens[k] * s->H * s->F / (med[k] * 1e-6) / 1e12;
	}
	cal_profile_group_begin(p, NULL);
	cal_profile_str(p, "dtype", s->dtype);
	cal_profile_int(p, "hidden", s->H);
	cal_profile_int(p, "ffn", s->F);
	cal_profile_int(p, "experts", s->E);
	cal_profile_str(p, "pass", pass_name[pass]);
	cal_profile_str(p, "method", s->method);
	cal_profile_int(p, "gemms", 3);
	cal_profile_int(p, "token_padding", pad);
	cal_profile_bool(p, "l2_flush", 1);
	cal_profile_int(p, "repeats", REPEATS);
	cal_profile_int(p, "warmup", WARMUP);
	cal_profile_int_array(p, "tokens", tokens, n, 0);
	cal_profile_float_array(p, "time_us", med, n);
	cal_profile_float_array(p, "p10_us", p10, n);
	cal_profile_float_array(p, "p90_us", p90, n);
	cal_profile_float_array(p, "min_us", mn, n);
	cal_profile_float_array(p, "max_us", mx, n);
	cal_profile_float_array(p, "tflops", tf, n);
	if (s->note)
		cal_profile_str(p, "note", s->note);
	cal_profile_group_end(p);
}

static void write_gemm(const char *dir)
{
	/* Generating parameters; check_profile.c expects the fits to recover them. */
	static const shape shapes[] = {
		{"bf16", "single", 4096, 14336, 1, 9.0, {700, 640, 610}, {2900, 2850, 2700}, 3, 65536, NULL},
		{"bf16", "grouped_batched", 4096, 14336, 8, 18.0, {660, 610, 590}, {3000, 2950, 2800}, 3, 65536, NULL},
		{"bf16", "grouped_batched", 7168, 2048, 8, 14.0, {600, 560, 540}, {2950, 2900, 2750}, 3, 32768,
		 "tokens above 32768 skipped: the time budget (--budget-s) ran out"},
		{"fp8_e4m3", "lt_strided_batched", 7168, 2048, 8, 16.0, {1150, 0, 0}, {2950, 0, 0}, 1, 32768, NULL},
	};
	cal_profile *p = open_out(dir, "gemm.cfg");
	cal_profile_comment(p, "moesim calibration profile written by cal_gemm (docs/profile-format.md)");
	cal_profile_group_begin(p, "profile");
	head(p, "cal_gemm",
	     "tests/data/profiles/gen_samples (SYNTHETIC; shapes as cal_gemm --shapes 4096x14336,7168x2048 --experts 1,8)", 1,
	     0);
	cal_profile_list_begin(p, "gemm");
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
		for (int pass = 0; pass < shapes[i].npasses; pass++)
			gemm_table(p, &shapes[i], pass);
	cal_profile_comment(p, "no points for fp8_e4m3 H=4096 F=14336 experts=8 fwd: no cuBLASLt algorithm for this layout");
	cal_profile_list_end(p);
	cal_profile_group_end(p);
	commit(p);
}

static void series(cal_profile *p, const char *xkey, const int64_t *x, int n, int x64, double lat_us, double bw_GBps,
		   double bytes_per_x, const char *bwkey)
{
	double med[MAXP], p10[MAXP], p90[MAXP], mn[MAXP], mx[MAXP], bw[MAXP];
	for (int k = 0; k < n; k++) {
		cal_stats st;
		measure(lat_us + (double)x[k] * bytes_per_x / (bw_GBps * 1e3), &st);
		med[k] = st.median, p10[k] = st.p10, p90[k] = st.p90, mn[k] = st.min, mx[k] = st.max;
		bw[k] = (double)x[k] * bytes_per_x / (med[k] * 1e-6) / 1e9;
	}
	cal_profile_int_array(p, xkey, x, n, x64);
	cal_profile_float_array(p, "time_us", med, n);
	cal_profile_float_array(p, "p10_us", p10, n);
	cal_profile_float_array(p, "p90_us", p90, n);
	cal_profile_float_array(p, "min_us", mn, n);
	cal_profile_float_array(p, "max_us", mx, n);
	if (bwkey)
		cal_profile_float_array(p, bwkey, bw, n);
}

static void write_copy(const char *dir)
{
	static const int64_t hidden[] = {4096, 7168, 1024};
	int64_t bytes[MAXP], rows[MAXP];
	int nb = cal_ladder_pow2(1024, 1LL << 30, bytes, MAXP), nr = cal_ladder_pow2_mid(1, 262144, rows, MAXP);
	cal_profile *p = open_out(dir, "copy.cfg");
	cal_profile_comment(p, "moesim calibration profile written by cal_copy (docs/profile-format.md)");
	cal_profile_group_begin(p, "profile");
	head(p, "cal_copy", "tests/data/profiles/gen_samples (SYNTHETIC; as cal_copy --topk 2)", 0, 0);
	cal_profile_group_begin(p, "copy");
	cal_profile_str(p, "method", "cudaMemcpyAsync_d2d");
	cal_profile_bool(p, "l2_flush", 1);
	cal_profile_int(p, "repeats", REPEATS);
	cal_profile_int(p, "warmup", WARMUP);
	series(p, "bytes", bytes, nb, 1, 6.5, 1450.0, 1.0, "GBps");
	cal_profile_group_end(p);
	cal_profile_list_begin(p, "permute");
	for (int h = 0; h < 3; h++)
		for (int k = 0; k < 2; k++) {
			double row = 2.0 * (double)hidden[h];
			cal_profile_group_begin(p, NULL);
			cal_profile_str(p, "op", k == 0 ? "gather" : "unpermute");
			cal_profile_str(p, "dtype", "bf16");
			cal_profile_int(p, "hidden", hidden[h]);
			cal_profile_int(p, "topk", k == 0 ? 1 : 2);
			cal_profile_bool(p, "l2_flush", 1);
			cal_profile_int(p, "repeats", REPEATS);
			cal_profile_int(p, "warmup", WARMUP);
			if (k == 0) {
				series(p, "rows", rows, nr, 0, 4.0, 2400.0, 2.0 * row, "GBps");
			} else {
				/* unpermute: only multiples of topk rows */
				int64_t r2[MAXP];
				int n2 = 0;
				for (int i = 0; i < nr; i++)
					if (rows[i] % 2 == 0)
						r2[n2++] = rows[i];
				series(p, "rows", r2, n2, 0, 5.0, 2100.0, 1.5 * row, "GBps");
			}
			cal_profile_group_end(p);
		}
	cal_profile_list_end(p);
	cal_profile_group_end(p);
	commit(p);
}

static void write_alltoall(const char *dir)
{
	int64_t bytes[MAXP], total[MAXP], m[64], vb[3], vt[3];
	static const double scale[3] = {0.25, 1.0, 4.0};
	int nb = cal_ladder_pow2(1024, 1LL << 30, bytes, MAXP), nr = 8;
	double med[MAXP], alg[MAXP], bus[MAXP];
	cal_profile *p = open_out(dir, "alltoall.cfg");
	int64_t busiest = 0, sum = 0;
	for (int i = 0; i < nb; i++)
		total[i] = bytes[i] * nr;
	/* run_all.sh's skewed matrix: rank i sends (1 + (3i + 5j) mod 7) MiB to rank j */
	for (int i = 0; i < nr; i++)
		for (int j = 0; j < nr; j++)
			m[i * nr + j] = (1 + (3 * i + 5 * j) % 7) << 20;
	for (int i = 0; i < nr; i++) {
		int64_t s = 0, r = 0;
		for (int j = 0; j < nr; j++)
			s += m[i * nr + j], r += m[j * nr + i], sum += m[i * nr + j];
		busiest = s > busiest ? s : busiest;
		busiest = r > busiest ? r : busiest;
	}
	cal_profile_comment(p, "moesim calibration profile written by cal_alltoall (docs/profile-format.md)");
	cal_profile_group_begin(p, "profile");
	head(p, "cal_alltoall",
	     "tests/data/profiles/gen_samples (SYNTHETIC; as cal_alltoall --matrix alltoall_matrix.txt --scales 0.25,1,4)", 0,
	     1);
	cal_profile_list_begin(p, "alltoall");
	cal_profile_group_begin(p, NULL);
	cal_profile_str(p, "scope", "intra_node");
	cal_profile_int(p, "ranks", nr);
	cal_profile_int(p, "nodes", 1);
	cal_profile_str(p, "method", "nccl_grouped_send_recv");
	cal_profile_int(p, "repeats", REPEATS);
	cal_profile_int(p, "warmup", WARMUP);
	for (int i = 0; i < nb; i++) {
		cal_stats st;
		measure(23.85 + (double)bytes[i] / (361.5e3), &st);
		med[i] = st.median;
		alg[i] = (double)bytes[i] / (med[i] * 1e-6) / 1e9;
		bus[i] = alg[i] * (nr - 1) / nr;
	}
	{
		/* write_series of cal_alltoall.c, same arrays in the same order */
		double p10[MAXP], p90[MAXP], mn[MAXP], mx[MAXP];
		for (int i = 0; i < nb; i++)
			p10[i] = med[i] * 0.98, p90[i] = med[i] * 1.03, mn[i] = med[i] * 0.97, mx[i] = med[i] * 1.08;
		cal_profile_int_array(p, "bytes", bytes, nb, 1);
		cal_profile_int_array(p, "total_bytes", total, nb, 1);
		cal_profile_float_array(p, "time_us", med, nb);
		cal_profile_float_array(p, "p10_us", p10, nb);
		cal_profile_float_array(p, "p90_us", p90, nb);
		cal_profile_float_array(p, "min_us", mn, nb);
		cal_profile_float_array(p, "max_us", mx, nb);
		cal_profile_float_array(p, "algbw_GBps", alg, nb);
		cal_profile_float_array(p, "busbw_GBps", bus, nb);
	}
	cal_profile_group_end(p);
	cal_profile_list_end(p);
	cal_profile_list_begin(p, "alltoallv");
	cal_profile_group_begin(p, NULL);
	cal_profile_str(p, "scope", "intra_node");
	cal_profile_int(p, "ranks", nr);
	cal_profile_int(p, "nodes", 1);
	cal_profile_str(p, "method", "nccl_grouped_send_recv");
	cal_profile_int(p, "repeats", REPEATS);
	cal_profile_int(p, "warmup", WARMUP);
	cal_profile_str(p, "matrix_file", "alltoall_matrix.txt");
	cal_profile_int_array(p, "matrix", m, nr * nr, 1);
	cal_profile_float_array(p, "scale", scale, 3);
	for (int i = 0; i < 3; i++) {
		cal_stats st;
		vb[i] = (int64_t)(busiest * scale[i]);
		vt[i] = (int64_t)(sum * scale[i]);
		measure(26.0 + (double)vb[i] / 330.0e3, &st);
		med[i] = st.median;
		alg[i] = (double)vb[i] / (med[i] * 1e-6) / 1e9;
		bus[i] = alg[i] * (nr - 1) / nr;
	}
	{
		double p10[3], p90[3], mn[3], mx[3];
		for (int i = 0; i < 3; i++)
			p10[i] = med[i] * 0.98, p90[i] = med[i] * 1.03, mn[i] = med[i] * 0.97, mx[i] = med[i] * 1.08;
		cal_profile_int_array(p, "bytes", vb, 3, 1);
		cal_profile_int_array(p, "total_bytes", vt, 3, 1);
		cal_profile_float_array(p, "time_us", med, 3);
		cal_profile_float_array(p, "p10_us", p10, 3);
		cal_profile_float_array(p, "p90_us", p90, 3);
		cal_profile_float_array(p, "min_us", mn, 3);
		cal_profile_float_array(p, "max_us", mx, 3);
		cal_profile_float_array(p, "algbw_GBps", alg, 3);
		cal_profile_float_array(p, "busbw_GBps", bus, 3);
	}
	cal_profile_group_end(p);
	cal_profile_list_end(p);
	cal_profile_group_end(p);
	commit(p);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_samples DIR\n");
		return 2;
	}
	cal_set_progname("gen_samples");
	write_gemm(argv[1]);
	write_copy(argv[1]);
	write_alltoall(argv[1]);
	return 0;
}
