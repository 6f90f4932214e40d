/*
 * cal_copy.cu - times on-GPU data movement of an MoE layer and writes the profile's
 * copy{} and permute() tables (docs/profile-format.md, docs/calibrate.md):
 *
 *   copy       cudaMemcpyAsync device-to-device, 1 KiB .. 1 GiB (powers of two).
 *   gather     the dispatch permutation: out[i] = in[idx[i]] for rows of `hidden`
 *              bf16 values, idx a random permutation of the rows.
 *   unpermute  the combine after the experts: for each token t,
 *              out[t] = sum_j w[t][j] * in[map[t*k + j]] over its top-k expert rows,
 *              fp32 accumulation, bf16 result. This is the gather form of the
 *              scatter-add unpermute (same arithmetic and bytes, no atomics), as fused
 *              MoE unpermute kernels compute it.
 *
 * The kernels move 16-byte vectors (8 bf16), one thread block per row at a time, so
 * they need hidden % 8 == 0; they are a simple, good implementation, not the fastest
 * possible one, which is what the simulator should assume of a framework's kernel.
 * Indices and weights come from a SplitMix64 stream seeded by --seed, so two runs time
 * the same access pattern. Each timed repetition starts with L2 overwritten (unless
 * --no-l2-flush), as after the expert GEMMs the data is in HBM.
 * Cost: a few seconds; dominated by the 1 GiB copies and the largest permutes.
 */
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate/cal_cuda.h"
#include "common/ms_rng.h"

#define MAX_POINTS 128
#define MAX_HIDDEN 16

typedef struct options {
	cal_common_opts c;
	int nhidden;
	int64_t hidden[MAX_HIDDEN];
	int64_t rows_max;
	int topk;
} options;

/* One table: x values (bytes or rows) and the statistics of each. */
typedef struct series {
	int n;
	int64_t x[MAX_POINTS];
	cal_stats st[MAX_POINTS];
	double bytes_moved[MAX_POINTS];
} series;

typedef struct ctx {
	options *o;
	cal_device_info dev;
	cal_timer tm;
	double t0;
	int budget_hit;
} ctx;

/* --- kernels ----------------------------------------------------------------------- */

__global__ static void gather_rows(const uint4 *__restrict__ in, uint4 *__restrict__ out,
				   const int32_t *__restrict__ idx, int64_t rows, int vecs)
{
	for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
		const uint4 *src = in + (int64_t)idx[r] * vecs;
		uint4 *dst = out + r * vecs;

		for (int v = threadIdx.x; v < vecs; v += blockDim.x)
			dst[v] = src[v];
	}
}

__global__ static void unpermute_rows(const uint4 *__restrict__ in, uint4 *__restrict__ out,
				      const int32_t *__restrict__ map, const float *__restrict__ w,
				      int64_t tokens, int topk, int vecs)
{
	for (int64_t t = blockIdx.x; t < tokens; t += gridDim.x) {
		for (int v = threadIdx.x; v < vecs; v += blockDim.x) {
			float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
			uint4 res;
			__nv_bfloat162 *rh = (__nv_bfloat162 *)&res;

			for (int j = 0; j < topk; j++) {
				int64_t r = map[t * topk + j];
				float wj = w[t * topk + j];
				uint4 q = in[r * vecs + v];
				const __nv_bfloat162 *h = (const __nv_bfloat162 *)&q;

				for (int e = 0; e < 4; e++) {
					float2 f = __bfloat1622float2(h[e]);

					acc[2 * e] += wj * f.x;
					acc[2 * e + 1] += wj * f.y;
				}
			}
			for (int e = 0; e < 4; e++)
				rh[e] = __floats2bfloat162_rn(acc[2 * e], acc[2 * e + 1]);
			out[t * vecs + v] = res;
		}
	}
}

__global__ static void fill_bytes(uint32_t *p, size_t n_words, uint32_t seed)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n_words;
	     i += (size_t)gridDim.x * blockDim.x) {
		/* bf16 pairs with exponents near 1.0 and random mantissas: finite values. */
		uint32_t h = (uint32_t)(i * 2654435761u) ^ seed;

		p[i] = 0x3f803f80u | (h & 0x007f007fu);
	}
}

/* --- timing ------------------------------------------------------------------------ */

/* What one timed operation needs; op() enqueues it on c->tm.stream. */
typedef struct job {
	void (*op)(ctx *c, const struct job *j);
	const void *src;
	void *dst;
	size_t bytes;
	const int32_t *idx;
	const float *w;
	int64_t rows;
	int vecs;
	int topk;
} job;

static void op_memcpy(ctx *c, const job *j)
{
	CAL_CUDA_CHECK(cudaMemcpyAsync(j->dst, j->src, j->bytes, cudaMemcpyDeviceToDevice, c->tm.stream));
}

static int grid_for(const ctx *c, int64_t rows)
{
	int64_t g = (int64_t)c->dev.sm_count * 16;

	return (int)(rows < g ? rows : g);
}

static void op_gather(ctx *c, const job *j)
{
	gather_rows<<<grid_for(c, j->rows), 128, 0, c->tm.stream>>>((const uint4 *)j->src,
								 (uint4 *)j->dst, j->idx, j->rows,
								 j->vecs);
	CAL_CUDA_CHECK_LAUNCH();
}

static void op_unpermute(ctx *c, const job *j)
{
	int64_t tokens = j->rows / j->topk;

	unpermute_rows<<<grid_for(c, tokens), 128, 0, c->tm.stream>>>(
		(const uint4 *)j->src, (uint4 *)j->dst, j->idx, j->w, tokens, j->topk, j->vecs);
	CAL_CUDA_CHECK_LAUNCH();
}

/* A job bound to its context, for cal_timer_measure. */
typedef struct bound_job {
	ctx *c;
	const job *j;
} bound_job;

static void run_job(void *arg)
{
	const bound_job *b = (const bound_job *)arg;

	b->j->op(b->c, b->j);
}

/* Times j: warm-up, then R repetitions between events, each after an L2 flush. */
static void time_job(ctx *c, const job *j, cal_stats *st)
{
	bound_job b = {c, j};

	cal_timer_measure(&c->tm, run_job, &b, 0, st);
}

static int over_budget(ctx *c)
{
	if (c->o->c.budget_s > 0 && cal_now_s() - c->t0 > c->o->c.budget_s) {
		if (!c->budget_hit)
			printf("# time budget of %.0f s reached; remaining points skipped\n",
			       c->o->c.budget_s);
		c->budget_hit = 1;
	}
	return c->budget_hit;
}

static double GBps(double bytes, double us)
{
	return us > 0 ? bytes / (us * 1e-6) / 1e9 : 0.0;
}

static void measure_copy(ctx *c, series *s)
{
	options *o = c->o;
	int64_t sizes[MAX_POINTS];
	int n = cal_ladder_pow2(o->c.bytes_min, o->c.bytes_max, sizes, MAX_POINTS);
	void *src, *dst;
	job j;

	if (n > MAX_POINTS)
		n = MAX_POINTS;
	memset(s, 0, sizeof *s);
	if (n < 1)
		return;
	CAL_CUDA_CHECK(cudaMalloc(&src, (size_t)sizes[n - 1]));
	CAL_CUDA_CHECK(cudaMalloc(&dst, (size_t)sizes[n - 1]));
	CAL_CUDA_CHECK(cudaMemsetAsync(src, 0x3f, (size_t)sizes[n - 1], c->tm.stream));
	printf("\n# copy: cudaMemcpyAsync device-to-device\n%14s | %12s %-24s %9s\n", "bytes", "time us",
	       "(p10..p90)", "GB/s");
	for (int i = 0; i < n && !over_budget(c); i++) {
		cal_stats *st = &s->st[s->n];

		memset(&j, 0, sizeof j);
		j.op = op_memcpy;
		j.src = src;
		j.dst = dst;
		j.bytes = (size_t)sizes[i];
		time_job(c, &j, st);
		s->x[s->n] = sizes[i];
		s->bytes_moved[s->n] = (double)sizes[i];
		printf("%14lld | %12.2f (%10.2f..%10.2f) %9.1f\n", (long long)sizes[i], st->median,
		       st->p10, st->p90, GBps((double)sizes[i], st->median));
		s->n++;
	}
	CAL_CUDA_CHECK(cudaFree(src));
	CAL_CUDA_CHECK(cudaFree(dst));
}

/* Measures gather and unpermute for one hidden size. */
static void measure_permute(ctx *c, int64_t hidden, series *gather, series *unperm)
{
	options *o = c->o;
	int64_t rows_list[MAX_POINTS], rmax;
	int n = cal_ladder_pow2_mid(1, o->rows_max, rows_list, MAX_POINTS);
	size_t row_bytes = (size_t)hidden * 2;
	int32_t *h_idx;
	float *h_w;
	int32_t *d_idx;
	float *d_w;
	void *in, *out;
	uint64_t st;

	if (n > MAX_POINTS)
		n = MAX_POINTS;
	memset(gather, 0, sizeof *gather);
	memset(unperm, 0, sizeof *unperm);
	if (n < 1)
		return;
	rmax = rows_list[n - 1];
	h_idx = (int32_t *)malloc((size_t)rmax * sizeof *h_idx);
	h_w = (float *)malloc((size_t)rmax * sizeof *h_w);
	if (!h_idx || !h_w)
		cal_die(CAL_EXIT_FAIL, "out of host memory");
	CAL_CUDA_CHECK(cudaMalloc(&in, (size_t)rmax * row_bytes));
	CAL_CUDA_CHECK(cudaMalloc(&out, (size_t)rmax * row_bytes));
	CAL_CUDA_CHECK(cudaMalloc((void **)&d_idx, (size_t)rmax * sizeof *d_idx));
	CAL_CUDA_CHECK(cudaMalloc((void **)&d_w, (size_t)rmax * sizeof *d_w));
	fill_bytes<<<c->dev.sm_count * 8, 256, 0, c->tm.stream>>>((uint32_t *)in, (size_t)rmax * row_bytes / 4,
								  (uint32_t)o->c.seed);
	CAL_CUDA_CHECK_LAUNCH();

	printf("\n# permute: hidden=%lld bf16, gather out[i] = in[idx[i]] and unpermute (top-%d weighted combine)\n",
	       (long long)hidden, o->topk);
	printf("%10s | %12s %-24s %9s | %12s %-24s %9s\n", "rows", "gather us", "(p10..p90)", "GB/s",
	       "unpermute us", "(p10..p90)", "GB/s");
	for (int i = 0; i < n && !over_budget(c); i++) {
		int64_t rows = rows_list[i];
		job j;
		cal_stats *sg = &gather->st[gather->n];
		double moved = 2.0 * (double)rows * (double)row_bytes;

		/* A fresh permutation per row count, from the seeded stream. */
		st = o->c.seed * 0x100000001b3ULL + (uint64_t)rows;
		cal_random_permutation(h_idx, rows, ms_splitmix64(&st));
		for (int64_t r = 0; r < rows; r++)
			h_w[r] = (float)((ms_splitmix64(&st) >> 11) * (1.0 / 9007199254740992.0));
		CAL_CUDA_CHECK(cudaMemcpyAsync(d_idx, h_idx, (size_t)rows * sizeof *d_idx,
					       cudaMemcpyHostToDevice, c->tm.stream));
		CAL_CUDA_CHECK(cudaMemcpyAsync(d_w, h_w, (size_t)rows * sizeof *d_w,
					       cudaMemcpyHostToDevice, c->tm.stream));

		memset(&j, 0, sizeof j);
		j.op = op_gather;
		j.src = in;
		j.dst = out;
		j.idx = d_idx;
		j.rows = rows;
		j.vecs = (int)(hidden / 8);
		time_job(c, &j, sg);
		gather->x[gather->n] = rows;
		gather->bytes_moved[gather->n] = moved;
		gather->n++;
		printf("%10lld | %12.2f (%10.2f..%10.2f) %9.1f", (long long)rows, sg->median, sg->p10,
		       sg->p90, GBps(moved, sg->median));

		if (rows % o->topk == 0) {
			cal_stats *su = &unperm->st[unperm->n];
			double moved_u = ((double)rows + (double)(rows / o->topk)) * (double)row_bytes;

			j.op = op_unpermute;
			j.w = d_w;
			j.topk = o->topk;
			time_job(c, &j, su);
			unperm->x[unperm->n] = rows;
			unperm->bytes_moved[unperm->n] = moved_u;
			unperm->n++;
			printf(" | %12.2f (%10.2f..%10.2f) %9.1f", su->median, su->p10, su->p90,
			       GBps(moved_u, su->median));
		}
		printf("\n");
	}
	CAL_CUDA_CHECK(cudaStreamSynchronize(c->tm.stream));
	CAL_CUDA_CHECK(cudaFree(in));
	CAL_CUDA_CHECK(cudaFree(out));
	CAL_CUDA_CHECK(cudaFree(d_idx));
	CAL_CUDA_CHECK(cudaFree(d_w));
	free(h_idx);
	free(h_w);
}

/* --- profile ----------------------------------------------------------------------- */

static void write_series(ms_cfgw *w, const series *s, const char *xkey, int x64)
{
	static double bw[MAX_POINTS];

	for (int i = 0; i < s->n; i++)
		bw[i] = GBps(s->bytes_moved[i], s->st[i].median);
	ms_cfgw_int_array(w, xkey, s->x, s->n, x64);
	cal_profile_stats(w, s->st, s->n);
	ms_cfgw_float_array(w, "GBps", bw, s->n);
}

static void write_profile(ctx *c, const series *copy, const series *gath, const series *unp,
			  const char *command)
{
	options *o = c->o;
	cal_profile *p = cal_profile_start(&o->c, &c->dev, NULL, command, "cal_copy");
	ms_cfgw *w = cal_profile_writer(p);

	ms_cfgw_group_begin(w, "copy");
	ms_cfgw_str(w, "method", "cudaMemcpyAsync_d2d");
	ms_cfgw_bool(w, "l2_flush", c->tm.flush != NULL);
	ms_cfgw_int(w, "repeats", o->c.repeats);
	ms_cfgw_int(w, "warmup", o->c.warmup);
	write_series(w, copy, "bytes", 1);
	ms_cfgw_group_end(w);

	ms_cfgw_list_begin(w, "permute");
	for (int h = 0; h < o->nhidden; h++) {
		for (int k = 0; k < 2; k++) {
			const series *s = k == 0 ? &gath[h] : &unp[h];

			if (s->n == 0)
				continue;
			ms_cfgw_group_begin(w, NULL);
			ms_cfgw_str(w, "op", k == 0 ? "gather" : "unpermute");
			ms_cfgw_str(w, "dtype", "bf16");
			ms_cfgw_int(w, "hidden", o->hidden[h]);
			ms_cfgw_int(w, "topk", k == 0 ? 1 : o->topk);
			ms_cfgw_bool(w, "l2_flush", c->tm.flush != NULL);
			ms_cfgw_int(w, "repeats", o->c.repeats);
			ms_cfgw_int(w, "warmup", o->c.warmup);
			write_series(w, s, "rows", 0);
			ms_cfgw_group_end(w);
		}
	}
	ms_cfgw_list_end(w);
	cal_profile_finish(p, &o->c, c->budget_hit);
}

/* --- command line ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cal_copy [options]\n"
		"Times device-to-device copies and the MoE permute (gather) and unpermute\n"
		"(weighted top-k combine) kernels and writes a moesim calibration profile\n"
		"(docs/calibrate.md).\n\n"
		"  --bytes-min B     smallest copy (default 1K; K, M, G are powers of 1024)\n"
		"  --bytes-max B     largest copy (default 1G)\n"
		"  --hidden LIST     row widths in bf16 elements, multiples of 8 (default 4096,7168,1024)\n"
		"  --rows-max N      largest number of rows permuted (default 262144)\n"
		"  --topk K          experts combined per token in the unpermute (default 2)\n"
		"%s", cal_common_usage);
}

enum { OPT_HIDDEN = 1, OPT_ROWS_MAX, OPT_TOPK };

/* The command line's --hidden list, checked once the options are all read. */
typedef struct args {
	options *o;
	const char *hidden_arg;
} args;

static void own_option(void *data, int code, const char *arg)
{
	args *a = (args *)data;
	options *o = a->o;

	switch (code) {
	case OPT_HIDDEN:
		a->hidden_arg = arg;
		break;
	case OPT_ROWS_MAX:
		o->rows_max = cal_arg_int("rows-max", arg, 1, INT32_MAX);
		break;
	case OPT_TOPK:
		o->topk = (int)cal_arg_int("topk", arg, 1, 64);
		break;
	default:
		cal_die(CAL_EXIT_USAGE, "unhandled option (see --help)");
	}
}

static void parse_args(options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"hidden", 1, NULL, OPT_HIDDEN},       {"rows-max", 1, NULL, OPT_ROWS_MAX},
		{"topk", 1, NULL, OPT_TOPK},           {NULL, 0, NULL, 0}};
	args a = {o, "4096,7168,1024"};

	memset(o, 0, sizeof *o);
	o->rows_max = 262144;
	o->topk = 2;
	cal_options_parse(argc, argv, longopts, own_option, &a, &o->c, "cal_copy.cfg", CAL_OPTS_BYTES,
			  usage);
	o->nhidden = cal_arg_size_list("hidden", a.hidden_arg, o->hidden, MAX_HIDDEN);
	for (int i = 0; i < o->nhidden; i++)
		if (o->hidden[i] < 8 || o->hidden[i] % 8 || o->hidden[i] > (1 << 20))
			cal_die(CAL_EXIT_USAGE,
				"--hidden %lld: must be a multiple of 8 from 8 to 1048576 (rows move as 16-byte vectors of bf16)",
				(long long)o->hidden[i]);
}

int main(int argc, char **argv)
{
	static options o;
	static series copy, gath[MAX_HIDDEN], unp[MAX_HIDDEN];
	ctx c;
	char *command;

	cal_set_progname("cal_copy");
	parse_args(&o, argc, argv);
	command = cal_program_begin(&o.c, 1, argc, argv, NULL);

	memset(&c, 0, sizeof c);
	c.o = &o;
	c.t0 = cal_now_s();
	CAL_CUDA_CHECK(cudaSetDevice(o.c.device));
	cal_device_query(o.c.device, &c.dev);
	cal_timer_init(&c.tm, &o.c, &c.dev);
	cal_device_print(&c.dev, NULL);

	measure_copy(&c, &copy);
	for (int h = 0; h < o.nhidden; h++)
		measure_permute(&c, o.hidden[h], &gath[h], &unp[h]);
	write_profile(&c, &copy, gath, unp, command);

	cal_timer_fini(&c.tm);
	free(command);
	printf("# cal_copy done in %.1f s\n", cal_now_s() - c.t0);
	return CAL_EXIT_OK;
}
