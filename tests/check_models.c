/*
 * check_models.c - the compute model (models/) against closed forms worked by hand: the
 * datasheet table, the rates a scenario's efficiencies give, the expert GEMM, dense and
 * permute rooflines (in bf16, fp8 and fp32), decode's KV-cache read, the two errors of
 * moe_model_init, and expert times from a measured GEMM table (which table, its share
 * per expert, interpolation between its points and extrapolation beyond them).
 *
 * Everything goes through the public functions (hw_gpu_find/_at, moe_model_init and the
 * moe_*_time functions), so the tests hold when the datasheet table moves to another
 * module. The oracles are written from the datasheet numbers and the formulas of
 * moe_model.h, not from the model's own fields; the numbers are awkward (1536 x 4224,
 * 2385 tokens, efficiencies 0.615 / 0.4385 / 0.7385) so swapped factors show.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hardware/hw_gpu.h"
#include "sim/sim_inputs.h"
#include "models/moe_model.h"
#include "scenario/scn_scenario.h"
#include "test_util.h"

#define ck_contains(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "expected \"%s\" in: %s", (needle), (hay))

/* H100 SXM datasheet (2023), dense: the numbers the oracles below start from. */
#define H100_BF16 989.4e12
#define H100_FP8 1978.9e12
#define H100_TF32 494.7e12
#define H100_HBM 3.35e12
#define GEMM_EFF 0.615
#define DENSE_EFF 0.4385
#define MEM_EFF 0.7385

/* h = 1536, f = 4224, 12 heads of 128 (4 KV heads), 16 experts on 4 GPUs. */
static const char model_cfg[] =
	"model = { hidden = 1536; ffn_hidden = 4224; experts = %d; top_k = 2; moe_layers = 2;\n"
	"          heads = 12; kv_heads = 4; dtype = \"%s\"; };\n"
	"cluster = { gpu = \"%s\"; nodes = 1; gpus_per_node = 4; gemm_efficiency = 0.615;\n"
	"            dense_efficiency = 0.4385; memory_efficiency = 0.7385; profile = \"%s\"; };\n"
	"parallel = { ep = 4; };\n"
	"workload = { mode = \"%s\"; tokens_per_rank = 1000; seq_len = 2385; context_len = 3001; };\n";

typedef struct cfg {
	int experts;
	const char *dtype, *gpu, *profile, *mode;
} cfg;

static int model_init(moe_model *m, scn_scenario *s, cfg c, ms_error *err)
{
	char text[4096];
	snprintf(text, sizeof text, model_cfg, c.experts ? c.experts : 16, c.dtype ? c.dtype : "bf16",
		 c.gpu ? c.gpu : "h100-sxm", c.profile ? c.profile : "", c.mode ? c.mode : "prefill");
	ms_error_clear(err);
	if (scn_scenario_load_text(s, text, "hand", NULL, err) < 0)
		ck_abort_msg("%s", err->msg);
	return tu_model_init(m, s, err);
}

static void model_ok(moe_model *m, scn_scenario *s, cfg c)
{
	ms_error err;
	ck_assert_msg(model_init(m, s, c, &err) == MS_OK, "%s", err.msg);
}

/* --- the datasheet table ------------------------------------------------------------ */

START_TEST(datasheet_table)
{
	const hw_gpu *h = hw_gpu_find("h100-sxm"), *a = hw_gpu_find("a100-sxm");
	int n = 0;
	ck_assert_ptr_nonnull(h);
	ck_assert(h->bf16_flops == H100_BF16 && h->fp8_flops == H100_FP8 && h->fp32_flops == H100_TF32 &&
		  h->hbm_Bps == H100_HBM && h->nvlink_Bps == 450e9);
	/* A100 SXM 80GB datasheet (2021): BF16 312, TF32 156 TFLOPS, 2,039 GB/s, no FP8. */
	ck_assert_ptr_nonnull(a);
	ck_assert(a->bf16_flops == 312e12 && a->fp32_flops == 156e12 && a->hbm_Bps == 2.039e12 && a->fp8_flops == 0);
	for (const hw_gpu *g; (g = hw_gpu_at(n)) != NULL; n++) {
		ck_assert_msg(hw_gpu_find(g->name) == g, "%s is not found by its name", g->name);
		ck_assert_msg(g->label[0] && g->citation && strlen(g->citation) > 20, "%s has no citation", g->name);
		ck_assert(g->bf16_flops > 0 && g->fp32_flops > 0 && g->hbm_Bps > 0 && g->nvlink_Bps > 0);
		/* Dense rates: TF32 at most half of BF16; FP8 twice BF16 where there is one. */
		ck_assert_msg(g->fp32_flops <= 0.5 * g->bf16_flops * 1.0001, "%s: tf32 %g, bf16 %g", g->name, g->fp32_flops,
			      g->bf16_flops);
		ck_assert_msg(g->fp8_flops == 0 || fabs(g->fp8_flops / g->bf16_flops - 2) < 1e-3, "%s: fp8 %g, bf16 %g",
			      g->name, g->fp8_flops, g->bf16_flops);
		for (int j = 0; j < n; j++)
			ck_assert_str_ne(hw_gpu_at(j)->name, g->name);
	}
	ck_assert_int_ge(n, 5);
	ck_assert_ptr_null(hw_gpu_at(n));
	ck_assert_ptr_null(hw_gpu_at(-1));
	ck_assert_ptr_null(hw_gpu_find("H100-SXM"));
	ck_assert_ptr_null(hw_gpu_find(""));
}
END_TEST

/* --- rates and rooflines -------------------------------------------------------------- */

START_TEST(rates_from_datasheet_and_efficiencies)
{
	static moe_model m;
	static scn_scenario s;
	model_ok(&m, &s, (cfg){.dtype = "bf16"});
	ck_assert(tu_rel(m.gemm_Fps, H100_BF16 * GEMM_EFF) < 1e-15 && tu_rel(m.dense_Fps, H100_BF16 * DENSE_EFF) < 1e-15 &&
		  tu_rel(m.mem_Bps, H100_HBM * MEM_EFF) < 1e-15);
	ck_assert(m.dtype_bytes == 2 && moe_row_bytes(&m) == 3072 && !m.calibrated && m.head_dim == 128);
	/* fp8: expert GEMMs at the FP8 rate on 1-byte rows; attention stays bf16. */
	model_ok(&m, &s, (cfg){.dtype = "fp8"});
	ck_assert(tu_rel(m.gemm_Fps, H100_FP8 * GEMM_EFF) < 1e-15 && tu_rel(m.dense_Fps, H100_BF16 * DENSE_EFF) < 1e-15);
	ck_assert(m.dtype_bytes == 1 && moe_row_bytes(&m) == 1536);
	/* fp32 runs as TF32, attention too; fp16 has bf16's rate and width. */
	model_ok(&m, &s, (cfg){.dtype = "fp32"});
	ck_assert(tu_rel(m.gemm_Fps, H100_TF32 * GEMM_EFF) < 1e-15 && tu_rel(m.dense_Fps, H100_TF32 * DENSE_EFF) < 1e-15);
	ck_assert(m.dtype_bytes == 4 && moe_row_bytes(&m) == 6144);
	model_ok(&m, &s, (cfg){.dtype = "fp16"});
	ck_assert(tu_rel(m.gemm_Fps, H100_BF16 * GEMM_EFF) < 1e-15 && m.dtype_bytes == 2);
	/* Another GPU: H200's 4.8 TB/s, A100's 312 TFLOPS. */
	model_ok(&m, &s, (cfg){.gpu = "h200"});
	ck_assert(tu_rel(m.mem_Bps, 4.8e12 * MEM_EFF) < 1e-15);
	model_ok(&m, &s, (cfg){.gpu = "a100-sxm", .dtype = "fp32"});
	ck_assert(tu_rel(m.gemm_Fps, 156e12 * GEMM_EFF) < 1e-15 && tu_rel(m.mem_Bps, 2.039e12 * MEM_EFF) < 1e-15);
}
END_TEST

/* One expert's roofline: max(n 6 h f / (peak x eff), 3 h f bytes / (HBM x eff)); none: 0. */
static double expert_by_hand(double n, double peak, double bytes)
{
	const double h = 1536, f = 4224;
	return n > 0 ? fmax(n * 6 * h * f / (peak * GEMM_EFF), 3 * h * f * bytes / (H100_HBM * MEM_EFF)) : 0;
}

START_TEST(expert_gemm_roofline)
{
	static moe_model m;
	static scn_scenario s;
	/* 2385 tokens: compute-bound; 17 and 1: the weight read (the knee is at
	 * bytes x peak x 0.615 / (2 x HBM x 0.7385) = 245.9 tokens in bf16); 0: no GEMM. */
	const int32_t tok[5] = {2385, 0, 17, 246, 1};
	const double peaks[3] = {H100_BF16, H100_FP8, H100_TF32}, bytes[3] = {2, 1, 4};
	const char *dtypes[3] = {"bf16", "fp8", "fp32"};
	for (int d = 0; d < 3; d++) {
		double want = 0, got;
		model_ok(&m, &s, (cfg){.dtype = dtypes[d], .mode = "training"});
		for (int e = 0; e < 5; e++)
			want += expert_by_hand(tok[e], peaks[d], bytes[d]);
		got = moe_expert_time(&m, tok, 5, MOE_FWD);
		ck_assert_msg(tu_rel(got, want) < 1e-12, "%s: experts %.15g s, by hand %.15g s", dtypes[d], got, want);
		ck_assert(tu_rel(moe_expert_time(&m, tok, 5, MOE_BWD), 2 * want) < 1e-12);
		/* Below the knee the time is the weight read, whatever the tokens. */
		ck_assert(moe_expert_time(&m, tok + 2, 1, MOE_FWD) == moe_expert_time(&m, tok + 4, 1, MOE_FWD));
		ck_assert(tu_rel(moe_expert_time(&m, tok + 4, 1, MOE_FWD), 3 * 1536 * 4224 * bytes[d] / (H100_HBM * MEM_EFF)) <
			  1e-12);
		ck_assert(moe_expert_time(&m, tok + 1, 1, MOE_FWD) == 0 && moe_expert_time(&m, tok, 0, MOE_BWD) == 0);
	}
	/* fp8 halves the bytes and doubles the rate: 2385 tokens take 989.4 / 1978.9 of bf16's time. */
	{
		double b16, f8;
		model_ok(&m, &s, (cfg){.dtype = "bf16"});
		b16 = moe_expert_time(&m, tok, 1, MOE_FWD);
		model_ok(&m, &s, (cfg){.dtype = "fp8"});
		f8 = moe_expert_time(&m, tok, 1, MOE_FWD);
		ck_assert(tu_rel(f8 / b16, H100_BF16 / H100_FP8) < 1e-12);
	}
}
END_TEST

START_TEST(dense_roofline)
{
	static moe_model m;
	static scn_scenario s;
	const double h = 1536, H = 12, Hkv = 4, d = 128, E = 16;
	const double proj = 2 * h * (H * d + 2 * Hkv * d) + 2 * H * d * h, router = 2 * h * E;
	const double weights = (h * (H * d + 2 * Hkv * d) + H * d * h + h * E) * 2;
	const double dense = H100_BF16 * DENSE_EFF, mem = H100_HBM * MEM_EFF;
	/* Prefill and training attend to (2385 + 1) / 2 = 1193 positions. */
	double flops = 1000 * (proj + 4 * H * d * 1193 + router), want;
	model_ok(&m, &s, (cfg){.mode = "prefill"});
	ck_assert(tu_rel(moe_dense_flops(&m, 1000), flops) < 1e-15);
	want = fmax(flops / dense, weights / mem);
	ck_assert(want == flops / dense); /* 1000 tokens: compute-bound */
	ck_assert_msg(tu_rel(moe_dense_time(&m, 1000, MOE_FWD), want) < 1e-12, "dense %.15g, by hand %.15g",
		      moe_dense_time(&m, 1000, MOE_FWD), want);
	ck_assert(tu_rel(moe_dense_time(&m, 1000, MOE_BWD), 2 * want) < 1e-12);
	/* 10 tokens: the weight read. */
	ck_assert(tu_rel(moe_dense_time(&m, 10, MOE_FWD), weights / mem) < 1e-12);
	ck_assert(moe_dense_time(&m, 0, MOE_FWD) == 0);
	model_ok(&m, &s, (cfg){.mode = "training"});
	ck_assert(tu_rel(moe_dense_flops(&m, 1000), flops) < 1e-15);
	/* Decode: each of 64 tokens attends to context_len = 3001 positions and reads their
	 * K and V (2 x 4 heads x 128 x 2 bytes each), 393 MB: memory-bound. */
	model_ok(&m, &s, (cfg){.mode = "decode"});
	flops = 64 * (proj + 4 * H * d * 3001 + router);
	ck_assert(tu_rel(moe_dense_flops(&m, 64), flops) < 1e-15);
	want = (weights + 64 * 2 * Hkv * d * 3001 * 2) / mem;
	ck_assert(want > flops / dense);
	ck_assert_msg(tu_rel(moe_dense_time(&m, 64, MOE_FWD), want) < 1e-12, "decode %.15g, by hand %.15g",
		      moe_dense_time(&m, 64, MOE_FWD), want);
	/* fp8 experts leave attention at the bf16 rate (but its weights are 1 byte). */
	model_ok(&m, &s, (cfg){.dtype = "fp8"});
	ck_assert(tu_rel(moe_dense_time(&m, 1000, MOE_FWD), (1000 * (proj + 4 * H * d * 1193 + router)) / dense) < 1e-12);
}
END_TEST

START_TEST(permute_roofline)
{
	static moe_model m;
	static scn_scenario s;
	/* Each row read and written once: 2 x 2385 rows x 1536 x bytes / (HBM x 0.7385). */
	const char *dtypes[3] = {"bf16", "fp8", "fp32"};
	const double bytes[3] = {2, 1, 4};
	for (int d = 0; d < 3; d++) {
		double want = 2 * 2385 * 1536 * bytes[d] / (H100_HBM * MEM_EFF);
		model_ok(&m, &s, (cfg){.dtype = dtypes[d]});
		ck_assert_msg(tu_rel(moe_permute_time(&m, 2385), want) < 1e-12, "%s: permute %.15g, by hand %.15g", dtypes[d],
			      moe_permute_time(&m, 2385), want);
		ck_assert(moe_unpermute_time(&m, 2385) == moe_permute_time(&m, 2385));
		ck_assert(moe_permute_time(&m, 0) == 0 && moe_unpermute_time(&m, 0) == 0);
	}
}
END_TEST

START_TEST(init_errors)
{
	static moe_model m;
	static scn_scenario s;
	ms_error err;
	ck_assert_int_eq(model_init(&m, &s, (cfg){.gpu = "v100"}, &err), MS_EINVAL);
	ck_assert_str_eq(err.msg,
			 "hand:3: cluster.gpu = \"v100\" is not a known GPU: choose one of h100-sxm, h800, h200, a100-sxm, b200");
	ck_assert_int_eq(model_init(&m, &s, (cfg){.gpu = "a100-sxm", .dtype = "fp8"}, &err), MS_EINVAL);
	ck_assert_str_eq(err.msg, "hand:2: model.dtype = \"fp8\" but NVIDIA A100 SXM4 80GB has no FP8 tensor cores; use bf16");
	/* bf16 on the same GPU is fine */
	ck_assert_int_eq(model_init(&m, &s, (cfg){.gpu = "a100-sxm"}, &err), MS_OK);
}
END_TEST

/* --- measured GEMM tables ------------------------------------------------------------- */

/*
 * Writes a profile of bf16 1536 x 4224 tables that are exact power laws, t = c n:
 * experts 1 (fwd only), experts 3 (fwd, bwd_dgrad, bwd_wgrad) and experts 8 (fwd), each
 * row the time of all its experts. A power law is a straight line in log-log space, so
 * the interpolant is exact between the points; the fitted roofline has no plateau (the
 * knee held at the first point), so beyond the last point the time keeps growing as n
 * and below the first it stays at the first point's.
 */
static const double pts[5] = {64, 256, 1024, 2385, 4096};
#define C1 2.385e-6 /* seconds per token, 1 expert */
#define C3 1.5e-6   /* seconds per token and expert, 3 experts at once */
#define C8 1.0e-6   /* 8 experts at once */

static void gemm_table(FILE *f, int experts, const char *pass, double c, int last)
{
	fprintf(f, "    { dtype = \"bf16\"; hidden = 1536; ffn = 4224; experts = %d; pass = \"%s\"; method = \"%s\";\n"
		   "      gemms = 3; token_padding = 1; l2_flush = true; repeats = 20; warmup = 3;\n      tokens = [",
		experts, pass, experts == 1 ? "single" : "grouped_batched");
	for (int i = 0; i < 5; i++)
		fprintf(f, "%s%d", i ? ", " : "", (int)pts[i]);
	fprintf(f, "];\n      time_us = [");
	for (int i = 0; i < 5; i++)
		fprintf(f, "%s%.17e", i ? ", " : "", experts * c * pts[i] * 1e6); /* always a float */
	fprintf(f, "]; }%s\n", last ? "" : ",");
}

/* all: the five tables above; else only the experts-1 forward table. */
static void write_power_profile(char *path, size_t len, int all)
{
	FILE *f;
	tu_write_temp(path, len, "");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "profile = { name = \"power law\"; source = \"measured\"; program = \"cal_gemm\";\n"
		   "  provenance = { gpu = \"NVIDIA H100 80GB HBM3\"; date = \"2026-01-01T00:00:00Z\"; command = \"check_models\"; };\n"
		   "  gpu = { name = \"NVIDIA H100 80GB HBM3\"; cc = \"9.0\"; hbm_GiB = 79.18; hbm_GBps = 3352.32; };\n"
		   "  gemm = (\n");
	gemm_table(f, 1, "fwd", C1, !all);
	if (all) {
		gemm_table(f, 3, "fwd", C3, 0);
		gemm_table(f, 3, "bwd_dgrad", 2 * C3, 0);
		gemm_table(f, 3, "bwd_wgrad", 2.5 * C3, 0);
		gemm_table(f, 8, "fwd", C8, 1);
	}
	fprintf(f, "  );\n};\n");
	fclose(f);
}

START_TEST(expert_time_from_measured_tables)
{
	static moe_model m;
	static scn_scenario s;
	char prof[64], fwd_only[64];
	ms_error err;
	/* 1000 and 100 lie between points, 8192 beyond the last, 10 below the first. */
	const int32_t tok[5] = {1000, 0, 100, 8192, 10};
	const double per[5] = {1000, 0, 100, 8192, 64}; /* what each costs, in tokens of the power law */
	double want;
	write_power_profile(prof, sizeof prof, 1);
	write_power_profile(fwd_only, sizeof fwd_only, 0);
	/* 16 experts on 4 GPUs: 4 local, the nearest table below is experts 3; each expert is
	 * charged a third of a row, c3 n. */
	model_ok(&m, &s, (cfg){.experts = 16, .profile = prof, .mode = "training"});
	ck_assert(m.calibrated && m.gemm_tables && m.gemm_experts[PROF_FWD] == 3);
	want = 0;
	for (int e = 0; e < 5; e++)
		want += C3 * per[e];
	ck_assert_msg(tu_rel(moe_expert_time(&m, tok, 5, MOE_FWD), want) < 1e-9, "fwd %.15g, by hand %.15g",
		      moe_expert_time(&m, tok, 5, MOE_FWD), want);
	/* Backward: bwd_dgrad + bwd_wgrad = (2 + 2.5) x the forward. */
	ck_assert_msg(tu_rel(moe_expert_time(&m, tok, 5, MOE_BWD), 4.5 * want) < 1e-9, "bwd %.15g, by hand %.15g",
		      moe_expert_time(&m, tok, 5, MOE_BWD), 4.5 * want);
	/* At a measured point, the measurement. */
	ck_assert(tu_rel(moe_expert_time(&m, (const int32_t[]){2385}, 1, MOE_FWD), C3 * 2385) < 1e-12);
	/* fp16 uses the bf16 tables (same tensor rate and width). */
	model_ok(&m, &s, (cfg){.experts = 16, .dtype = "fp16", .profile = prof, .mode = "training"});
	ck_assert(m.gemm_tables && tu_rel(moe_expert_time(&m, tok, 5, MOE_FWD), want) < 1e-9);
	/* 8 experts on 4 GPUs: 2 local, nearest below is experts 1: c1 n each. */
	model_ok(&m, &s, (cfg){.experts = 8, .profile = prof});
	ck_assert(m.gemm_experts[PROF_FWD] == 1);
	ck_assert(tu_rel(moe_expert_time(&m, tok, 1, MOE_FWD), C1 * 1000) < 1e-9);
	/* 64 experts on 4 GPUs: 16 local, experts 8: c8 n each. */
	model_ok(&m, &s, (cfg){.experts = 64, .profile = prof});
	ck_assert(m.gemm_experts[PROF_FWD] == 8);
	ck_assert(tu_rel(moe_expert_time(&m, tok + 2, 1, MOE_FWD), C8 * 100) < 1e-9);
	/* Each pass picks its own table: 4 experts on 4 GPUs, 1 local: forward from experts 1,
	 * backward from experts 3 (none below). */
	model_ok(&m, &s, (cfg){.experts = 4, .profile = prof, .mode = "training"});
	ck_assert(m.gemm_experts[PROF_FWD] == 1 && m.gemm_experts[PROF_BWD_DGRAD] == 3 && m.gemm_experts[PROF_BWD_WGRAD] == 3);
	ck_assert(tu_rel(moe_expert_time(&m, tok, 1, MOE_FWD), C1 * 1000) < 1e-9);
	ck_assert(tu_rel(moe_expert_time(&m, tok, 1, MOE_BWD), 4.5 * C3 * 1000) < 1e-9);
	/* Training without backward tables is an error; prefill needs none. */
	ck_assert_int_eq(model_init(&m, &s, (cfg){.experts = 4, .profile = fwd_only, .mode = "training"}, &err), MS_EINVAL);
	ck_contains(err.msg, "has no bf16 gemm table for hidden 1536 x ffn 4224, pass bwd_dgrad (the model's dtype and "
			     "shape, training); it has: bf16 1536x4224");
	model_ok(&m, &s, (cfg){.experts = 4, .profile = fwd_only, .mode = "prefill"});
	ck_assert(tu_rel(moe_expert_time(&m, tok + 3, 1, MOE_FWD), C1 * 8192) < 1e-9);
	/* fp8 has no table at all. */
	ck_assert_int_eq(model_init(&m, &s, (cfg){.experts = 16, .dtype = "fp8", .profile = prof}, &err), MS_EINVAL);
	ck_contains(err.msg, "has no fp8_e4m3 gemm table for hidden 1536 x ffn 4224, pass fwd");
	unlink(prof);
	unlink(fwd_only);
}
END_TEST

Suite *models_suite(void)
{
	Suite *s = suite_create("models");
	TCase *tc = tcase_create("roofline");
	tcase_add_test(tc, datasheet_table);
	tcase_add_test(tc, rates_from_datasheet_and_efficiencies);
	tcase_add_test(tc, expert_gemm_roofline);
	tcase_add_test(tc, dense_roofline);
	tcase_add_test(tc, permute_roofline);
	tcase_add_test(tc, init_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("measured");
	tcase_add_test(tc, expert_time_from_measured_tables);
	suite_add_tcase(s, tc);
	return s;
}
