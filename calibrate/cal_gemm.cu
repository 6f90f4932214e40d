/*
 * cal_gemm.cu - times the expert GEMMs of a SwiGLU MoE layer with cuBLAS and writes
 * the calibration profile's gemm tables (docs/profile-format.md, docs/calibrate.md).
 *
 * One expert with hidden size H and FFN size F runs three GEMMs per pass, each of
 * 2*T*H*F FLOPs for T tokens routed to it:
 *   fwd        gate: G = X.Wg^T   [T x H] x [H x F]     up: U = X.Wu^T    down: O = A.Wd^T  [T x F] x [F x H]
 *   bwd_dgrad  dA = dO.Wd         dX = dG.Wg + dU.Wu    (data gradients)
 *   bwd_wgrad  dWd = dO^T.A       dWg = dG^T.X          dWu = dU^T.X   (weight gradients, K = T)
 * Weights are stored [out x in] row-major (torch.nn.Linear), activations [T x dim]
 * row-major, so each GEMM is the cuBLAS column-major call with the transposes a
 * framework would use. A table entry is the time of all three GEMMs of one pass for
 * all E experts with T tokens each (time_us), so the simulator reads it directly.
 *
 * bf16: cublasGemmEx for one expert; for E > 1 cublasGemmGroupedBatchedEx (cuBLAS >=
 * 12.5), else cublasGemmStridedBatchedEx, else a loop of cublasGemmEx on one stream;
 * the profile names the method used. fp8 (e4m3 inputs, bf16 output, fp32
 * accumulate) needs compute capability >= 8.9 and goes through cublasLtMatmul in the
 * TN layout that FP8 GEMMs require (the layout Transformer Engine transposes into),
 * strided-batched over experts; token counts are padded to a multiple of 16 as
 * Megatron's FP8 padding does, and the entry records token_padding = 16.
 *
 * Invariants: inputs of a pass are never written by that pass, so repeating a pass
 * does not let values grow into inf/NaN (random data, not zeros: zeros run faster).
 * Buffers are sized once per table for the largest T that fits in free memory;
 * points that do not fit, or would exceed --budget-s, are skipped and noted.
 * Cost: about sum over T of (warmup + repeats) x 6 E T H F / throughput.
 */
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate/cal_cuda.h"

#define MAX_POINTS 128
#define MAX_SHAPES 16
#define MAX_EXPERT_COUNTS 16
#define MAX_TABLES 256
#define LT_WORKSPACE_BYTES (64u << 20)

enum { PASS_FWD, PASS_DGRAD, PASS_WGRAD, N_PASSES };
static const char *const pass_name[N_PASSES] = {"fwd", "bwd_dgrad", "bwd_wgrad"};

enum method {
	M_SINGLE,   /* E == 1: cublasGemmEx */
	M_GROUPED,  /* cublasGemmGroupedBatchedEx, one group of E problems */
	M_STRIDED,  /* cublasGemmStridedBatchedEx */
	M_LOOP,     /* E cublasGemmEx calls on one stream */
	M_LT_SINGLE,/* fp8, E == 1: cublasLtMatmul */
	M_LT_STRIDED/* fp8, E > 1: cublasLtMatmul with a strided batch */
};
static const char *const method_name[] = {"single", "grouped_batched", "strided_batched", "loop",
					  "lt_single", "lt_strided_batched"};

enum dtype { DT_BF16, DT_FP8 };
static const char *const dtype_name[] = {"bf16", "fp8_e4m3"};

/* Everything the run needs that comes from the command line. */
typedef struct options {
	cal_common_opts c;
	int nshapes;
	int64_t hidden[MAX_SHAPES], ffn[MAX_SHAPES];
	int nexperts;
	int64_t experts[MAX_EXPERT_COUNTS];
	int want_bf16, want_fp8;
	int want_pass[N_PASSES];
	int ntokens;
	int64_t tokens[MAX_POINTS];
	const char *group_method; /* auto | grouped | strided | loop | all */
	double mem_fraction;
} options;

/* One measured table set: one shape, expert count, dtype and method; every pass. */
typedef struct table {
	int64_t H, F, E;
	int dtype;
	int method;
	int npts;
	int64_t tokens[MAX_POINTS];
	cal_stats st[N_PASSES][MAX_POINTS];
	char note[1024];
	double est_cost; /* for ordering: cheap tables first, so savings roll over */
} table;

/* One GEMM of a pass in cuBLAS column-major terms, for expert 0; expert e's
 * matrices start stride elements further. */
typedef struct gemm_op {
	cublasOperation_t ta, tb;
	int m, n, k, lda, ldb, ldc;
	const void *A, *B;
	void *C;
	long long sA, sB, sC;
	float beta;
	const void *const *dA; /* device arrays of the E experts' pointers (grouped) */
	const void *const *dB;
	void *const *dC;
} gemm_op;

/* Device buffers of one table: [E][rows x cols] each, rows = tcap for activations. */
typedef struct buffers {
	int64_t E, H, F, tcap;
	int dtype;
	/* bf16 */
	__nv_bfloat16 *X, *O, *DX, *G, *U, *DA, *Wg, *Wu, *Wd, *dWg, *dWu, *dWd;
	/* fp8 inputs and their bf16 outputs */
	__nv_fp8_e4m3 *X8, *O8, *G8, *U8, *W8a, *W8b, *W8c;
	__nv_bfloat16 *outTF, *outTH, *outW;
	void **ptrs; /* device: [pass][op][A,B,C][E] pointer arrays for the grouped call */
} buffers;

typedef struct ctx {
	options *o;
	cal_device_info dev;
	cublasHandle_t blas;
	cublasLtHandle_t lt;
	cal_timer tm;
	void *lt_ws;
} ctx;

/* --- random data ------------------------------------------------------------------ */

__device__ static float hash_uniform(uint64_t i, uint64_t seed)
{
	uint64_t z = i * 0x9e3779b97f4a7c15ULL + seed;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f; /* [-1, 1) */
}

__global__ static void fill_bf16(__nv_bfloat16 *p, size_t n, uint64_t seed, float scale)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		p[i] = __float2bfloat16(scale * hash_uniform(i, seed));
}

__global__ static void fill_fp8(__nv_fp8_e4m3 *p, size_t n, uint64_t seed)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		p[i] = __nv_fp8_e4m3(hash_uniform(i, seed));
}

static void launch_fill_bf16(ctx *c, __nv_bfloat16 *p, size_t n, uint64_t seed, float scale)
{
	fill_bf16<<<c->dev.sm_count * 8, 256, 0, c->tm.stream>>>(p, n, seed, scale);
	CAL_CUDA_CHECK_LAUNCH();
}

static void launch_fill_fp8(ctx *c, __nv_fp8_e4m3 *p, size_t n, uint64_t seed)
{
	fill_fp8<<<c->dev.sm_count * 8, 256, 0, c->tm.stream>>>(p, n, seed);
	CAL_CUDA_CHECK_LAUNCH();
}

/* --- buffers ---------------------------------------------------------------------- */

/* Bytes one table needs: per expert a fixed part (weights) and a part per token. */
static void table_bytes(int dtype, int64_t H, int64_t F, double *fixed, double *per_token)
{
	if (dtype == DT_BF16) {
		*fixed = 6.0 * H * F * 2;              /* Wg Wu Wd and their gradients */
		*per_token = (3.0 * H + 3.0 * F) * 2;  /* X O DX, G U DA */
	} else {
		*fixed = 3.0 * H * F + 1.0 * H * F * 2; /* three fp8 weights, one bf16 dW */
		*per_token = (2.0 * H + 2.0 * F) * 1 + (1.0 * H + 1.0 * F) * 2;
	}
}

/* cudaMalloc that reports failure instead of exiting, so the caller can shrink. */
static int try_alloc(void **p, size_t bytes)
{
	cudaError_t e = cudaMalloc(p, bytes);

	if (e == cudaErrorMemoryAllocation) {
		(void)cudaGetLastError(); /* clear it: allocation failures are not sticky */
		*p = NULL;
		return -1;
	}
	CAL_CUDA_CHECK(e);
	return 0;
}

static void buffers_free(buffers *b)
{
	void *all[] = {b->X, b->O, b->DX, b->G, b->U, b->DA, b->Wg, b->Wu, b->Wd, b->dWg, b->dWu,
		       b->dWd, b->X8, b->O8, b->G8, b->U8, b->W8a, b->W8b, b->W8c, b->outTF,
		       b->outTH, b->outW, b->ptrs};

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i])
			CAL_CUDA_CHECK(cudaFree(all[i]));
	memset(b, 0, sizeof *b);
}

/* Allocates every buffer for tcap tokens per expert; returns -1 (nothing left
 * allocated) if the device runs out of memory. */
static int buffers_alloc(ctx *c, buffers *b, int dtype, int64_t E, int64_t H, int64_t F,
			 int64_t tcap)
{
	size_t th = (size_t)(E * tcap * H), tf = (size_t)(E * tcap * F), w = (size_t)(E * H * F);
	uint64_t seed = c->o->c.seed * 1000003u;
	int fail = 0;

	memset(b, 0, sizeof *b);
	b->E = E;
	b->H = H;
	b->F = F;
	b->tcap = tcap;
	b->dtype = dtype;
	if (dtype == DT_BF16) {
		struct {
			__nv_bfloat16 **p;
			size_t n;
		} a[] = {{&b->X, th}, {&b->O, th}, {&b->DX, th}, {&b->G, tf}, {&b->U, tf},
			 {&b->DA, tf}, {&b->Wg, w}, {&b->Wu, w}, {&b->Wd, w}, {&b->dWg, w},
			 {&b->dWu, w}, {&b->dWd, w}};

		for (size_t i = 0; i < sizeof a / sizeof a[0] && !fail; i++)
			fail = try_alloc((void **)a[i].p, a[i].n * sizeof(__nv_bfloat16));
		fail = fail || try_alloc((void **)&b->ptrs, (size_t)N_PASSES * 3 * 3 * E * sizeof(void *));
		if (fail) {
			buffers_free(b);
			return -1;
		}
		/* Inputs ~U(-1,1); weights scaled by 1/sqrt(fan-in) so outputs stay O(1). */
		for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
			float scale = 1.0f;

			if (a[i].p == &b->Wg || a[i].p == &b->Wu)
				scale = 1.0f / sqrtf((float)H);
			else if (a[i].p == &b->Wd)
				scale = 1.0f / sqrtf((float)F);
			launch_fill_bf16(c, *a[i].p, a[i].n, seed + i, scale);
		}
	} else {
		struct {
			__nv_fp8_e4m3 **p;
			size_t n;
		} a[] = {{&b->X8, th}, {&b->O8, th}, {&b->G8, tf}, {&b->U8, tf},
			 {&b->W8a, w}, {&b->W8b, w}, {&b->W8c, w}};
		struct {
			__nv_bfloat16 **p;
			size_t n;
		} o[] = {{&b->outTF, tf}, {&b->outTH, th}, {&b->outW, w}};

		for (size_t i = 0; i < sizeof a / sizeof a[0] && !fail; i++)
			fail = try_alloc((void **)a[i].p, a[i].n);
		for (size_t i = 0; i < sizeof o / sizeof o[0] && !fail; i++)
			fail = try_alloc((void **)o[i].p, o[i].n * sizeof(__nv_bfloat16));
		if (fail) {
			buffers_free(b);
			return -1;
		}
		for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
			launch_fill_fp8(c, *a[i].p, a[i].n, seed + i);
		for (size_t i = 0; i < sizeof o / sizeof o[0]; i++)
			launch_fill_bf16(c, *o[i].p, o[i].n, seed + 100 + i, 1.0f);
	}
	CAL_CUDA_CHECK(cudaStreamSynchronize(c->tm.stream));
	return 0;
}

/* --- the GEMMs of a pass ------------------------------------------------------------ */

/*
 * One GEMM in cuBLAS column-major terms: C[m x n] = op(A) op(B) + beta C with op(A)
 * [m x k] and op(B) [k x n], every matrix packed (leading dimension: its row count as
 * stored), expert e's matrices a stride of sA, sB, sC elements further. fp8 GEMMs are
 * all TN whatever ta and tb say: the backward passes read transposed (K-major) copies,
 * as FP8 training keeps them.
 */
static void set_op(gemm_op *g, int fp8, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n,
		   int64_t k, const void *A, long long sA, const void *B, long long sB, void *C, long long sC,
		   float beta)
{
	memset(g, 0, sizeof *g);
	if (fp8) {
		ta = CUBLAS_OP_T;
		tb = CUBLAS_OP_N;
	}
	g->ta = ta;
	g->tb = tb;
	g->m = (int)m;
	g->n = (int)n;
	g->k = (int)k;
	g->A = A;
	g->lda = (int)(ta == CUBLAS_OP_N ? m : k);
	g->sA = sA;
	g->B = B;
	g->ldb = (int)(tb == CUBLAS_OP_N ? k : n);
	g->sB = sB;
	g->C = C;
	g->ldc = (int)m;
	g->sC = sC;
	g->beta = beta;
}

/*
 * The three GEMMs of pass for T tokens per expert (see the file comment for the
 * algebra; for fp8, T is the token count rounded up to a multiple of 16). Column-major
 * view: a row-major [R x C] matrix is a column-major [C x R] one with leading
 * dimension C. The fp8 GEMMs read the fp8 copies and write bf16 scratch outputs.
 */
static void ops(const buffers *b, int pass, int64_t T, gemm_op g[3])
{
	const int64_t H = b->H, F = b->F;
	const long long sTH = (long long)(b->tcap * H), sTF = (long long)(b->tcap * F),
			sW = (long long)(H * F);
	const cublasOperation_t N = CUBLAS_OP_N, Tr = CUBLAS_OP_T;
	const int q = b->dtype == DT_FP8;
#define PICK(bf16, fp8) (q ? (void *)(fp8) : (void *)(bf16))

	switch (pass) {
	case PASS_FWD:
		set_op(&g[0], q, Tr, N, F, T, H, PICK(b->Wg, b->W8a), sW, PICK(b->X, b->X8), sTH,
		       PICK(b->G, b->outTF), sTF, 0.0f);
		set_op(&g[1], q, Tr, N, F, T, H, PICK(b->Wu, b->W8b), sW, PICK(b->X, b->X8), sTH,
		       PICK(b->U, b->outTF), sTF, 0.0f);
		set_op(&g[2], q, Tr, N, H, T, F, PICK(b->Wd, b->W8c), sW, PICK(b->G, b->G8), sTF,
		       PICK(b->O, b->outTH), sTH, 0.0f);
		break;
	case PASS_DGRAD:
		set_op(&g[0], q, N, N, F, T, H, PICK(b->Wd, b->W8c), sW, PICK(b->O, b->O8), sTH,
		       PICK(b->DA, b->outTF), sTF, 0.0f);
		set_op(&g[1], q, N, N, H, T, F, PICK(b->Wg, b->W8a), sW, PICK(b->G, b->G8), sTF,
		       PICK(b->DX, b->outTH), sTH, 0.0f);
		set_op(&g[2], q, N, N, H, T, F, PICK(b->Wu, b->W8b), sW, PICK(b->U, b->U8), sTF,
		       PICK(b->DX, b->outTH), sTH, 1.0f);
		break;
	default:
		set_op(&g[0], q, N, Tr, H, F, T, PICK(b->X, b->X8), sTH, PICK(b->G, b->G8), sTF,
		       PICK(b->dWg, b->outW), sW, 0.0f);
		set_op(&g[1], q, N, Tr, H, F, T, PICK(b->X, b->X8), sTH, PICK(b->U, b->U8), sTF,
		       PICK(b->dWu, b->outW), sW, 0.0f);
		set_op(&g[2], q, N, Tr, F, H, T, PICK(b->G, b->G8), sTF, PICK(b->O, b->O8), sTH,
		       PICK(b->dWd, b->outW), sW, 0.0f);
		break;
	}
#undef PICK
	/* The grouped bf16 call reads the experts' pointers from device arrays. */
	for (int i = 0; i < 3 && !q; i++) {
		void *const *base = (void *const *)b->ptrs + ((size_t)pass * 3 + i) * 3 * b->E;

		g[i].dA = (const void *const *)base;
		g[i].dB = (const void *const *)(base + b->E);
		g[i].dC = base + 2 * b->E;
	}
}

/* Fills the device pointer arrays that cublasGemmGroupedBatchedEx reads. The copy
 * goes on our stream and is waited for: a plain cudaMemcpy from pageable memory may
 * return before the data lands, and our non-blocking stream would not wait for it. */
static void upload_pointer_arrays(ctx *c, buffers *b)
{
	size_t n = (size_t)N_PASSES * 3 * 3 * b->E;
	const void **h = (const void **)malloc(n * sizeof(void *));

	if (!h)
		cal_die(CAL_EXIT_FAIL, "out of host memory");
	for (int pass = 0; pass < N_PASSES; pass++) {
		gemm_op g[3];

		ops(b, pass, 1, g);
		for (int i = 0; i < 3; i++) {
			const void **base = h + ((size_t)pass * 3 + i) * 3 * b->E;

			for (int64_t e = 0; e < b->E; e++) {
				base[e] = (const char *)g[i].A + 2 * g[i].sA * e;
				base[b->E + e] = (const char *)g[i].B + 2 * g[i].sB * e;
				base[2 * b->E + e] = (const char *)g[i].C + 2 * g[i].sC * e;
			}
		}
	}
	CAL_CUDA_CHECK(cudaMemcpyAsync(b->ptrs, h, n * sizeof(void *), cudaMemcpyHostToDevice,
				       c->tm.stream));
	CAL_CUDA_CHECK(cudaStreamSynchronize(c->tm.stream));
	free(h);
}

/* Issues one bf16 GEMM for all experts; returns the cuBLAS status (no exit), so the
 * caller can probe whether a method is supported. */
static cublasStatus_t gemm_bf16(ctx *c, const gemm_op *g, int method, int64_t E)
{
	const float alpha = 1.0f;
	const cudaDataType_t bf = CUDA_R_16BF;
	cublasStatus_t s = CUBLAS_STATUS_SUCCESS;

	switch (method) {
	case M_GROUPED: {
#if CUBLAS_VERSION >= 120500
		cublasOperation_t ta[1] = {g->ta}, tb[1] = {g->tb};
		int m[1] = {g->m}, n[1] = {g->n}, k[1] = {g->k};
		int lda[1] = {g->lda}, ldb[1] = {g->ldb}, ldc[1] = {g->ldc};
		int group_size[1] = {(int)E};
		float al[1] = {alpha}, be[1] = {g->beta};

		s = cublasGemmGroupedBatchedEx(c->blas, ta, tb, m, n, k, al, g->dA, bf, lda, g->dB,
					       bf, ldb, be, g->dC, bf, ldc, 1, group_size,
					       CUBLAS_COMPUTE_32F);
#else
		s = CUBLAS_STATUS_NOT_SUPPORTED;
#endif
		break;
	}
	case M_STRIDED:
		s = cublasGemmStridedBatchedEx(c->blas, g->ta, g->tb, g->m, g->n, g->k, &alpha, g->A,
					       bf, g->lda, g->sA, g->B, bf, g->ldb, g->sB, &g->beta,
					       g->C, bf, g->ldc, g->sC, (int)E, CUBLAS_COMPUTE_32F,
					       CUBLAS_GEMM_DEFAULT);
		break;
	default: /* M_SINGLE, M_LOOP */
		for (int64_t e = 0; e < E && s == CUBLAS_STATUS_SUCCESS; e++)
			s = cublasGemmEx(c->blas, g->ta, g->tb, g->m, g->n, g->k, &alpha,
					 (const char *)g->A + 2 * g->sA * e, bf, g->lda,
					 (const char *)g->B + 2 * g->sB * e, bf, g->ldb, &g->beta,
					 (char *)g->C + 2 * g->sC * e, bf, g->ldc, CUBLAS_COMPUTE_32F,
					 CUBLAS_GEMM_DEFAULT);
		break;
	}
	return s;
}

/* A planned cublasLt fp8 GEMM: descriptors and the heuristic's algorithm. */
typedef struct lt_plan {
	cublasLtMatmulDesc_t desc;
	cublasLtMatrixLayout_t a, b, cd;
	cublasLtMatmulAlgo_t algo;
	int ok;
} lt_plan;

static void lt_plan_destroy(lt_plan *p)
{
	if (p->cd)
		CAL_CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->cd));
	if (p->b)
		CAL_CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->b));
	if (p->a)
		CAL_CUBLAS_CHECK(cublasLtMatrixLayoutDestroy(p->a));
	if (p->desc)
		CAL_CUBLAS_CHECK(cublasLtMatmulDescDestroy(p->desc));
	memset(p, 0, sizeof *p);
}

static void lt_batch(cublasLtMatrixLayout_t l, int64_t E, long long stride)
{
	int32_t count = (int32_t)E;
	int64_t off = stride;

	CAL_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
							  &count, sizeof count));
	CAL_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
		l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &off, sizeof off));
}

/* Plans g for fp8; p->ok = 0 (and a reason in why) when cuBLASLt has no algorithm. */
static void lt_plan_make(ctx *c, const gemm_op *g, int64_t E, int fast_accum, lt_plan *p,
			 char *why, size_t whylen)
{
	cublasOperation_t ta = g->ta, tb = g->tb;
	int8_t fa = (int8_t)fast_accum;
	cublasLtMatmulPreference_t pref;
	cublasLtMatmulHeuristicResult_t res;
	int found = 0;
	uint64_t ws = LT_WORKSPACE_BYTES;
	cublasStatus_t s;

	memset(p, 0, sizeof *p);
	CAL_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	CAL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta,
							sizeof ta));
	CAL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb,
							sizeof tb));
	CAL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM,
							&fa, sizeof fa));
	/* Stored shapes: A is k x m (transposed), B is k x n, C/D are m x n. */
	CAL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_8F_E4M3, g->k, g->m, g->lda));
	CAL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_8F_E4M3, g->k, g->n, g->ldb));
	CAL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->cd, CUDA_R_16BF, g->m, g->n, g->ldc));
	if (E > 1) {
		lt_batch(p->a, E, g->sA);
		lt_batch(p->b, E, g->sB);
		lt_batch(p->cd, E, g->sC);
	}
	CAL_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
	CAL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
		pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
	s = cublasLtMatmulAlgoGetHeuristic(c->lt, p->desc, p->a, p->b, p->cd, p->cd, pref, 1, &res,
					   &found);
	CAL_CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
	if (s != CUBLAS_STATUS_SUCCESS || found < 1) {
		snprintf(why, whylen, "cublasLtMatmulAlgoGetHeuristic(m=%d n=%d k=%d): %s", g->m,
			 g->n, g->k, s == CUBLAS_STATUS_SUCCESS ? "no algorithm" : cublasGetStatusName(s));
		return;
	}
	p->algo = res.algo;
	p->ok = 1;
}

static cublasStatus_t gemm_fp8(ctx *c, const gemm_op *g, const lt_plan *p)
{
	const float alpha = 1.0f;

	return cublasLtMatmul(c->lt, p->desc, &alpha, g->A, p->a, g->B, p->b, &g->beta, g->C,
			      p->cd, g->C, p->cd, &p->algo, c->lt_ws, LT_WORKSPACE_BYTES, c->tm.stream);
}

/* --- timing ------------------------------------------------------------------------ */

/* State of one point (T) of one table: the three GEMMs of every pass, planned. */
typedef struct point {
	gemm_op g[N_PASSES][3];
	lt_plan plan[N_PASSES][3];
} point;

/* Issues the three GEMMs of a pass; returns the first failing status (the rest are
 * not issued), so a shape the library rejects can be skipped rather than fatal. */
static cublasStatus_t try_pass(ctx *c, const table *t, point *pt, int pass)
{
	cublasStatus_t s = CUBLAS_STATUS_SUCCESS;

	for (int i = 0; i < 3 && s == CUBLAS_STATUS_SUCCESS; i++) {
		if (t->dtype == DT_FP8)
			s = gemm_fp8(c, &pt->g[pass][i], &pt->plan[pass][i]);
		else
			s = gemm_bf16(c, &pt->g[pass][i], t->method, t->E);
	}
	return s;
}

static void run_pass(ctx *c, const table *t, point *pt, int pass)
{
	CAL_CUBLAS_CHECK(try_pass(c, t, pt, pass));
}

/* A pass bound to its context, for cal_timer_measure. */
typedef struct bound_pass {
	ctx *c;
	const table *t;
	point *pt;
	int pass;
} bound_pass;

static void run_bound_pass(void *arg)
{
	const bound_pass *b = (const bound_pass *)arg;

	run_pass(b->c, b->t, b->pt, b->pass);
}

/*
 * Times one pass: one checked run (returns its failing status, nothing timed, if
 * cuBLAS rejects the shape), the rest of the warm-up, then R repetitions each between
 * two events, after overwriting L2. Fills *st with microseconds.
 */
static cublasStatus_t time_pass(ctx *c, const table *t, point *pt, int pass, cal_stats *st)
{
	bound_pass b = {c, t, pt, pass};
	cublasStatus_t s = try_pass(c, t, pt, pass);

	if (s != CUBLAS_STATUS_SUCCESS)
		return s;
	cal_timer_measure(&c->tm, run_bound_pass, &b, 1, st);
	return CUBLAS_STATUS_SUCCESS;
}

static int64_t round16(int64_t t)
{
	return (t + 15) / 16 * 16;
}

static void note_add(table *t, const char *fmt, ...) CAL_PRINTF(2, 3);

static void note_add(table *t, const char *fmt, ...)
{
	size_t used = strlen(t->note);
	va_list ap;

	if (used && used + 2 < sizeof t->note) {
		strcat(t->note, "; ");
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(t->note + used, sizeof t->note - used, fmt, ap);
	va_end(ap);
}

static double tflops(const table *t, int64_t T, double us)
{
	return us > 0 ? 6.0 * (double)t->E * (double)T * t->H * t->F / (us * 1e-6) / 1e12 : 0.0;
}

/* Measures one table set. budget_s is this table's share of the wall-clock budget
 * (0 = unlimited). */
static void measure_table(ctx *c, table *t, double budget_s)
{
	options *o = c->o;
	double fixed, per_tok, usable, t0 = cal_now_s(), last_cost = 0.0;
	int64_t last_T = 0, tmax_wanted = 0, tcap;
	size_t free_b = 0, total_b = 0;
	buffers b;
	point pt;

	for (int i = 0; i < o->ntokens; i++)
		if (o->tokens[i] > tmax_wanted)
			tmax_wanted = o->tokens[i];
	if (t->dtype == DT_FP8)
		tmax_wanted = round16(tmax_wanted);

	/* Size the buffers for the largest T that fits in a fraction of the free memory
	 * (the L2 flush buffer and the Lt workspace are already allocated), less 256 MiB
	 * for cuBLAS's own needs. */
	CAL_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
	table_bytes(t->dtype, t->H, t->F, &fixed, &per_tok);
	usable = (double)free_b * o->mem_fraction - 256.0 * (1 << 20);
	tcap = (int64_t)floor((usable - t->E * fixed) / (t->E * per_tok));
	if (t->dtype == DT_FP8)
		tcap = tcap / 16 * 16;
	if (tcap > tmax_wanted)
		tcap = tmax_wanted;
	if (tcap < 1) {
		note_add(t, "skipped: the weights alone need %.1f GiB, %.1f GiB usable",
			 t->E * fixed / 1073741824.0, usable / 1073741824.0);
		printf("# %s\n", t->note);
		return;
	}
	while (buffers_alloc(c, &b, t->dtype, t->E, t->H, t->F, tcap) != 0) {
		tcap = t->dtype == DT_FP8 ? tcap / 32 * 16 : tcap / 2;
		if (tcap < 1) {
			note_add(t, "skipped: cudaMalloc failed even for one token per expert");
			printf("# %s\n", t->note);
			return;
		}
	}
	if (tcap < tmax_wanted)
		note_add(t, "tokens above %lld skipped: %.1f GiB of device memory usable "
			 "(%.0f MiB per token for %lld experts)",
			 (long long)tcap, usable / 1073741824.0, t->E * per_tok / 1048576.0,
			 (long long)t->E);
	if (t->dtype == DT_BF16 && t->method == M_GROUPED)
		upload_pointer_arrays(c, &b);

	printf("\n# gemm %s H=%lld F=%lld experts=%lld method=%s%s\n", dtype_name[t->dtype],
	       (long long)t->H, (long long)t->F, (long long)t->E, method_name[t->method],
	       t->dtype == DT_FP8 ? " (tokens padded to 16)" : "");
	printf("%8s", "tokens");
	for (int p = 0; p < N_PASSES; p++)
		if (o->want_pass[p])
			printf(" | %12s %-22s %7s", pass_name[p], "us (p10..p90)", "TFLOP/s");
	printf("\n");

	for (int i = 0; i < o->ntokens; i++) {
		int64_t T = o->tokens[i], Tr = t->dtype == DT_FP8 ? round16(T) : T;
		double now = cal_now_s(), est, pt0;
		int ok = 1;
		char why[256] = "";

		if (Tr > tcap)
			break; /* noted above */
		/* Cost of this point, extrapolated from the last one by the token ratio. */
		est = last_T ? last_cost * (double)T / (double)last_T : 0.0;
		if (budget_s > 0 && now - t0 + est > budget_s) {
			note_add(t, "tokens from %lld on skipped: time budget (%.0f s for this table)",
				 (long long)T, budget_s);
			printf("# %s\n", "time budget reached; larger token counts skipped");
			break;
		}
		pt0 = now;
		memset(&pt, 0, sizeof pt);
		for (int p = 0; p < N_PASSES && ok; p++) {
			if (!o->want_pass[p])
				continue;
			if (t->dtype == DT_FP8) {
				ops(&b, p, Tr, pt.g[p]);
				for (int k = 0; k < 3 && ok; k++) {
					lt_plan_make(c, &pt.g[p][k], t->E, p == PASS_FWD,
						     &pt.plan[p][k], why, sizeof why);
					ok = pt.plan[p][k].ok;
				}
			} else {
				ops(&b, p, T, pt.g[p]);
			}
		}
		if (!ok) {
			note_add(t, "tokens=%lld skipped: %s", (long long)T, why);
			printf("# tokens=%lld skipped: %s\n", (long long)T, why);
		} else {
			int n = t->npts;
			cublasStatus_t bad = CUBLAS_STATUS_SUCCESS;

			printf("%8lld", (long long)T);
			for (int p = 0; p < N_PASSES && bad == CUBLAS_STATUS_SUCCESS; p++) {
				cal_stats *s = &t->st[p][n];

				if (!o->want_pass[p])
					continue;
				bad = time_pass(c, t, &pt, p, s);
				if (bad != CUBLAS_STATUS_SUCCESS) {
					note_add(t, "tokens=%lld skipped: %s returned %s for pass %s",
						 (long long)T, t->dtype == DT_FP8 ? "cublasLtMatmul" : method_name[t->method],
						 cublasGetStatusName(bad), pass_name[p]);
					printf(" | %s: %s", pass_name[p], cublasGetStatusName(bad));
					break;
				}
				printf(" | %12.2f (%9.2f..%9.2f) %7.1f", s->median, s->p10, s->p90,
				       tflops(t, T, s->median));
				fflush(stdout);
			}
			printf("\n");
			if (bad == CUBLAS_STATUS_SUCCESS) {
				t->tokens[n] = T;
				t->npts++;
			}
		}
		for (int p = 0; p < N_PASSES; p++)
			for (int k = 0; k < 3; k++)
				lt_plan_destroy(&pt.plan[p][k]);
		last_cost = cal_now_s() - pt0;
		last_T = T;
	}
	buffers_free(&b);
}

/* Picks the method for a bf16 table with E > 1 under --group-method auto: the
 * first of grouped, strided, loop that cuBLAS accepts for a small probe. */
static int probe_method(ctx *c, int64_t E, int64_t H, int64_t F, char *note, size_t notelen)
{
	buffers b;
	gemm_op g[3];
	int methods[] = {M_GROUPED, M_STRIDED};

	note[0] = '\0';
	if (buffers_alloc(c, &b, DT_BF16, E, H, F, 16) != 0)
		return M_LOOP;
	upload_pointer_arrays(c, &b);
	ops(&b, PASS_FWD, 16, g);
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		cublasStatus_t s = gemm_bf16(c, &g[0], methods[i], E);

		if (s == CUBLAS_STATUS_SUCCESS) {
			CAL_CUDA_CHECK(cudaStreamSynchronize(c->tm.stream));
			buffers_free(&b);
			return methods[i];
		}
		snprintf(note + strlen(note), notelen - strlen(note), "%s%s returned %s",
			 note[0] ? "; " : "", method_name[methods[i]], cublasGetStatusName(s));
	}
	buffers_free(&b);
	return M_LOOP;
}

/* --- profile ----------------------------------------------------------------------- */

static void write_profile(ctx *c, table *tables, int ntables, const char *command,
			  const cal_versions *v)
{
	options *o = c->o;
	cal_profile *p = cal_profile_start(&o->c, &c->dev, v, command, "cal_gemm");
	ms_cfgw *w = cal_profile_writer(p);

	ms_cfgw_list_begin(w, "gemm");
	for (int i = 0; i < ntables; i++) {
		table *t = &tables[i];

		for (int pass = 0; pass < N_PASSES; pass++) {
			double tf[MAX_POINTS];

			if (!o->want_pass[pass])
				continue;
			if (t->npts == 0) {
				char line[1200];

				snprintf(line, sizeof line, "no points for %s H=%lld F=%lld experts=%lld %s: %s",
					 dtype_name[t->dtype], (long long)t->H, (long long)t->F,
					 (long long)t->E, pass_name[pass], t->note);
				ms_cfgw_comment(w, line);
				continue;
			}
			for (int k = 0; k < t->npts; k++)
				tf[k] = tflops(t, t->tokens[k], t->st[pass][k].median);
			ms_cfgw_group_begin(w, NULL);
			ms_cfgw_str(w, "dtype", dtype_name[t->dtype]);
			ms_cfgw_int(w, "hidden", t->H);
			ms_cfgw_int(w, "ffn", t->F);
			ms_cfgw_int(w, "experts", t->E);
			ms_cfgw_str(w, "pass", pass_name[pass]);
			ms_cfgw_str(w, "method", method_name[t->method]);
			ms_cfgw_int(w, "gemms", 3);
			ms_cfgw_int(w, "token_padding", t->dtype == DT_FP8 ? 16 : 1);
			ms_cfgw_bool(w, "l2_flush", c->tm.flush != NULL);
			ms_cfgw_int(w, "repeats", o->c.repeats);
			ms_cfgw_int(w, "warmup", o->c.warmup);
			ms_cfgw_int_array(w, "tokens", t->tokens, t->npts, 0);
			cal_profile_stats(w, t->st[pass], t->npts);
			ms_cfgw_float_array(w, "tflops", tf, t->npts);
			if (t->note[0])
				ms_cfgw_str(w, "note", t->note);
			ms_cfgw_group_end(w);
		}
	}
	ms_cfgw_list_end(w);
	cal_profile_finish(p, &o->c, 0);
}

/* --- command line ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cal_gemm [options]\n"
		"Times the three SwiGLU expert GEMMs (forward, data-gradient and weight-gradient\n"
		"passes) with cuBLAS for a ladder of tokens per expert and writes a moesim\n"
		"calibration profile (docs/calibrate.md).\n\n"
		"  --shapes LIST     HIDDENxFFN,... (default 4096x14336,7168x2048,1024x2816:\n"
		"                    Mixtral-8x7B, DeepSeek-V3 expert, a small expert)\n"
		"  --hidden H --ffn F   one shape instead of --shapes\n"
		"  --experts LIST    experts per GEMM batch (default 1,8)\n"
		"  --dtype D         bf16, fp8 or all (default all; fp8 needs compute capability >= 8.9)\n"
		"  --passes LIST     fwd,bwd_dgrad,bwd_wgrad (default all three)\n"
		"  --tokens LIST     tokens per expert (default 1,2,3,4,6,8,12,...,49152,65536)\n"
		"  --tokens-max N    cap of the default ladder (default 65536)\n"
		"  --group-method M  for experts > 1 in bf16: auto (grouped, else strided, else loop),\n"
		"                    grouped, strided, loop or all (one table per method)\n"
		"  --mem-fraction X  fraction of free device memory to use (default 0.90)\n"
		"%s", cal_common_usage);
}

enum { OPT_SHAPES = 1, OPT_HIDDEN, OPT_FFN, OPT_EXPERTS, OPT_DTYPE, OPT_PASSES, OPT_TOKENS,
       OPT_TOKENS_MAX, OPT_GROUP, OPT_MEMFRAC };

static void parse_shapes(options *o, const char *arg)
{
	char buf[1024], *save = NULL, *tok;

	if (strlen(arg) >= sizeof buf)
		cal_die(CAL_EXIT_USAGE, "--shapes: list too long");
	strcpy(buf, arg);
	o->nshapes = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *x = strchr(tok, 'x');

		if (!x)
			x = strchr(tok, 'X');
		if (!x || o->nshapes >= MAX_SHAPES)
			cal_die(CAL_EXIT_USAGE,
				"--shapes '%s': expected up to %d HIDDENxFFN pairs such as 4096x14336",
				arg, MAX_SHAPES);
		*x = '\0';
		o->hidden[o->nshapes] = cal_arg_int("shapes (hidden)", tok, 16, 1 << 20);
		o->ffn[o->nshapes] = cal_arg_int("shapes (ffn)", x + 1, 16, 1 << 20);
		o->nshapes++;
	}
	if (o->nshapes == 0)
		cal_die(CAL_EXIT_USAGE, "--shapes '%s': no shape given", arg);
}

/* What the command line gives that is checked once the options are all read. */
typedef struct args {
	options *o;
	int64_t hidden, ffn, tokens_max;
	const char *tokens_arg;
} args;

static void own_option(void *data, int code, const char *arg)
{
	args *a = (args *)data;
	options *o = a->o;

	switch (code) {
	case OPT_SHAPES:
		parse_shapes(o, arg);
		break;
	case OPT_HIDDEN:
		a->hidden = cal_arg_int("hidden", arg, 16, 1 << 20);
		break;
	case OPT_FFN:
		a->ffn = cal_arg_int("ffn", arg, 16, 1 << 20);
		break;
	case OPT_EXPERTS:
		o->nexperts = cal_arg_size_list("experts", arg, o->experts, MAX_EXPERT_COUNTS);
		for (int i = 0; i < o->nexperts; i++)
			if (o->experts[i] < 1 || o->experts[i] > 4096)
				cal_die(CAL_EXIT_USAGE, "--experts '%s': each count must be 1..4096", arg);
		break;
	case OPT_DTYPE:
		o->want_bf16 = !strcmp(arg, "bf16") || !strcmp(arg, "all");
		o->want_fp8 = !strcmp(arg, "fp8") || !strcmp(arg, "fp8_e4m3") || !strcmp(arg, "all");
		if (!o->want_bf16 && !o->want_fp8)
			cal_die(CAL_EXIT_USAGE, "--dtype '%s': expected bf16, fp8 or all", arg);
		break;
	case OPT_PASSES: {
		char buf[256], *save = NULL;

		snprintf(buf, sizeof buf, "%s", arg);
		memset(o->want_pass, 0, sizeof o->want_pass);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			int found = 0;

			for (int p = 0; p < N_PASSES; p++)
				if (!strcmp(t, pass_name[p]))
					o->want_pass[p] = found = 1;
			if (!found)
				cal_die(CAL_EXIT_USAGE, "--passes: unknown pass '%s' (expected fwd, bwd_dgrad, bwd_wgrad)", t);
		}
		break;
	}
	case OPT_TOKENS:
		a->tokens_arg = arg;
		break;
	case OPT_TOKENS_MAX:
		a->tokens_max = cal_arg_int("tokens-max", arg, 1, 1 << 24);
		break;
	case OPT_GROUP:
		if (strcmp(arg, "auto") && strcmp(arg, "grouped") && strcmp(arg, "strided") && strcmp(arg, "loop") &&
		    strcmp(arg, "all"))
			cal_die(CAL_EXIT_USAGE, "--group-method '%s': expected auto, grouped, strided, loop or all", arg);
		o->group_method = arg;
		break;
	case OPT_MEMFRAC:
		o->mem_fraction = cal_arg_double("mem-fraction", arg, 0.05, 0.99);
		break;
	default:
		cal_die(CAL_EXIT_USAGE, "unhandled option (see --help)");
	}
}

static void parse_args(options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"shapes", 1, NULL, OPT_SHAPES},   {"hidden", 1, NULL, OPT_HIDDEN},
		{"ffn", 1, NULL, OPT_FFN},         {"experts", 1, NULL, OPT_EXPERTS},
		{"dtype", 1, NULL, OPT_DTYPE},     {"passes", 1, NULL, OPT_PASSES},
		{"tokens", 1, NULL, OPT_TOKENS},   {"tokens-max", 1, NULL, OPT_TOKENS_MAX},
		{"group-method", 1, NULL, OPT_GROUP}, {"mem-fraction", 1, NULL, OPT_MEMFRAC},
		{NULL, 0, NULL, 0}};
	args a = {o, 0, 0, 65536, NULL};
	int64_t hidden, ffn, tokens_max;
	const char *tokens_arg;

	memset(o, 0, sizeof *o);
	parse_shapes(o, "4096x14336,7168x2048,1024x2816");
	o->nexperts = 2;
	o->experts[0] = 1;
	o->experts[1] = 8;
	o->want_bf16 = o->want_fp8 = 1;
	for (int p = 0; p < N_PASSES; p++)
		o->want_pass[p] = 1;
	o->group_method = "auto";
	o->mem_fraction = 0.90;
	cal_options_parse(argc, argv, longopts, own_option, &a, &o->c, "cal_gemm.cfg", 0, usage);
	hidden = a.hidden;
	ffn = a.ffn;
	tokens_max = a.tokens_max;
	tokens_arg = a.tokens_arg;
	if ((hidden > 0) != (ffn > 0))
		cal_die(CAL_EXIT_USAGE, "--hidden and --ffn go together (or use --shapes HxF)");
	if (hidden > 0) {
		o->nshapes = 1;
		o->hidden[0] = hidden;
		o->ffn[0] = ffn;
	}
	if (tokens_arg) {
		o->ntokens = cal_arg_size_list("tokens", tokens_arg, o->tokens, MAX_POINTS);
		for (int i = 0; i < o->ntokens; i++)
			if (o->tokens[i] < 1 || o->tokens[i] > (1 << 24) || (i && o->tokens[i] <= o->tokens[i - 1]))
				cal_die(CAL_EXIT_USAGE, "--tokens '%s': values must increase and lie in 1..16777216",
					tokens_arg);
	} else {
		o->ntokens = cal_ladder_pow2_mid(1, tokens_max, o->tokens, MAX_POINTS);
		if (o->ntokens > MAX_POINTS)
			o->ntokens = MAX_POINTS;
	}
	for (int s = 0; s < o->nshapes; s++)
		if (o->hidden[s] % 16 || o->ffn[s] % 16)
			cal_die(CAL_EXIT_USAGE,
				"shape %lldx%lld: hidden and ffn must be multiples of 16 (tensor-core and FP8 alignment)",
				(long long)o->hidden[s], (long long)o->ffn[s]);
}

/* --- main -------------------------------------------------------------------------- */

static int cmp_cost(const void *a, const void *b)
{
	double x = ((const table *)a)->est_cost, y = ((const table *)b)->est_cost;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static options o;
	static table tables[MAX_TABLES];
	ctx c;
	int ntables = 0, fp8_ok;
	char cublas_v[32], lt_v[32];
	cal_versions v = {cublas_v, lt_v, NULL};
	char *command;
	int ver = 0;
	double t0 = cal_now_s();

	cal_set_progname("cal_gemm");
	parse_args(&o, argc, argv);
	command = cal_program_begin(&o.c, 1, argc, argv, NULL);

	memset(&c, 0, sizeof c);
	c.o = &o;
	CAL_CUDA_CHECK(cudaSetDevice(o.c.device));
	cal_device_query(o.c.device, &c.dev);
	cal_timer_init(&c.tm, &o.c, &c.dev);
	CAL_CUBLAS_CHECK(cublasCreate(&c.blas));
	CAL_CUBLAS_CHECK(cublasSetStream(c.blas, c.tm.stream));
	CAL_CUBLAS_CHECK(cublasLtCreate(&c.lt));
	CAL_CUBLAS_CHECK(cublasGetVersion(c.blas, &ver));
	cal_version_string_mmp(ver, cublas_v, sizeof cublas_v);
	cal_version_string_mmp((long)cublasLtGetVersion(), lt_v, sizeof lt_v);
	CAL_CUDA_CHECK(cudaMalloc(&c.lt_ws, LT_WORKSPACE_BYTES));

	cal_device_print(&c.dev, &v);
	fp8_ok = c.dev.cc_major * 10 + c.dev.cc_minor >= 89;
	if (o.want_fp8 && !fp8_ok)
		printf("# fp8 skipped: FP8 tensor cores need compute capability 8.9 or newer, this GPU is %d.%d\n",
		       c.dev.cc_major, c.dev.cc_minor);

	/* The table sets, cheapest first so unused budget rolls over to the big ones. */
	for (int s = 0; s < o.nshapes; s++) {
		for (int e = 0; e < o.nexperts; e++) {
			for (int d = 0; d < 2; d++) {
				int methods[4], nm = 0;

				if ((d == DT_BF16 && !o.want_bf16) || (d == DT_FP8 && (!o.want_fp8 || !fp8_ok)))
					continue;
				if (d == DT_FP8)
					methods[nm++] = o.experts[e] > 1 ? M_LT_STRIDED : M_LT_SINGLE;
				else if (o.experts[e] == 1)
					methods[nm++] = M_SINGLE;
				else if (!strcmp(o.group_method, "auto"))
					methods[nm++] = -1; /* probed below */
				else if (!strcmp(o.group_method, "grouped"))
					methods[nm++] = M_GROUPED;
				else if (!strcmp(o.group_method, "strided"))
					methods[nm++] = M_STRIDED;
				else if (!strcmp(o.group_method, "loop"))
					methods[nm++] = M_LOOP;
				else {
#if CUBLAS_VERSION >= 120500
					methods[nm++] = M_GROUPED;
#endif
					methods[nm++] = M_STRIDED;
					methods[nm++] = M_LOOP;
				}
				for (int m = 0; m < nm; m++) {
					table *t;

					if (ntables >= MAX_TABLES)
						cal_die(CAL_EXIT_USAGE, "too many tables (at most %d)", MAX_TABLES);
					t = &tables[ntables++];
					memset(t, 0, sizeof *t);
					t->H = o.hidden[s];
					t->F = o.ffn[s];
					t->E = o.experts[e];
					t->dtype = d;
					t->method = methods[m];
					t->est_cost = (double)t->E * t->H * t->F * (d == DT_FP8 ? 0.5 : 1.0);
				}
			}
		}
	}
	qsort(tables, (size_t)ntables, sizeof tables[0], cmp_cost);
	for (int i = 0; i < ntables; i++) {
		table *t = &tables[i];
		double share = 0.0;

		if (t->method < 0) {
			char why[512];

			t->method = probe_method(&c, t->E, t->H, t->F, why, sizeof why);
			if (why[0])
				note_add(t, "method %s chosen because %s", method_name[t->method], why);
		}
		if (o.c.budget_s > 0) {
			double left = o.c.budget_s - (cal_now_s() - t0);

			share = left > 0 ? left / (ntables - i) : 1e-9;
		}
		measure_table(&c, t, share);
	}

	write_profile(&c, tables, ntables, command, &v);

	CAL_CUDA_CHECK(cudaFree(c.lt_ws));
	CAL_CUBLAS_CHECK(cublasLtDestroy(c.lt));
	CAL_CUBLAS_CHECK(cublasDestroy(c.blas));
	cal_timer_fini(&c.tm);
	free(command);
	printf("# cal_gemm done in %.1f s\n", cal_now_s() - t0);
	return CAL_EXIT_OK;
}
