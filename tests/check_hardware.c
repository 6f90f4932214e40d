/*
 * check_hardware.c - the hardware module: the datasheet table and the one override
 * policy (hw_rates.h), each rule against a hand computation: datasheet x efficiency,
 * a profile's copy table over the datasheet, an explicit scenario key over a profile's
 * all-to-all fit, and the errors naming the scenario key.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hardware/hw_rates.h"
#include "profile/prof_scenario.h"
#include "test_util.h"

static const char cfg[] = "model = { hidden = 512; ffn_hidden = 1024; experts = 8; top_k = 2; moe_layers = 2;"
			  " heads = 8; dtype = \"%s\"; };\n"
			  "cluster = { gpu = \"%s\"; nodes = 1; gpus_per_node = 8; gemm_efficiency = 0.385;"
			  " dense_efficiency = 0.2385; memory_efficiency = 0.715; };\n"
			  "parallel = { ep = 8; };\n"
			  "workload = { tokens_per_rank = 256; seq_len = 256; };\n";

static void load(scn_scenario *s, const char *dtype, const char *gpu, const scn_overrides *ov)
{
	char text[2048];
	ms_error err;
	ms_error_clear(&err);
	snprintf(text, sizeof text, cfg, dtype, gpu);
	ck_assert_msg(scn_scenario_load_text(s, text, "hw.cfg", ov, &err) == MS_OK, "%s", err.msg);
}

START_TEST(datasheet_times_efficiency)
{
	scn_scenario s;
	hw_compute h;
	ms_error err;
	const hw_gpu *g = hw_gpu_find("a100-sxm");
	ck_assert_ptr_nonnull(g);
	load(&s, "bf16", "a100-sxm", NULL);
	ms_error_clear(&err);
	ck_assert_int_eq(hw_compute_resolve(&h, &s, NULL, &err), MS_OK);
	ck_assert_ptr_eq(h.gpu, g);
	ck_assert(tu_rel(h.gemm_Fps, 312e12 * 0.385) < 1e-15);
	ck_assert(tu_rel(h.dense_Fps, 312e12 * 0.2385) < 1e-15);
	ck_assert(tu_rel(h.mem_Bps, 2.039e12 * 0.715) < 1e-15);
	/* fp32 GEMMs run as TF32, attention too. */
	load(&s, "fp32", "a100-sxm", NULL);
	ck_assert_int_eq(hw_compute_resolve(&h, &s, NULL, &err), MS_OK);
	ck_assert(tu_rel(h.gemm_Fps, 156e12 * 0.385) < 1e-15);
	ck_assert(tu_rel(h.dense_Fps, 156e12 * 0.2385) < 1e-15);
	/* fp8 experts, bf16 attention (DeepSeek-V3's recipe). */
	load(&s, "fp8", "h100-sxm", NULL);
	ck_assert_int_eq(hw_compute_resolve(&h, &s, NULL, &err), MS_OK);
	ck_assert(tu_rel(h.gemm_Fps, 1978.9e12 * 0.385) < 1e-15);
	ck_assert(tu_rel(h.dense_Fps, 989.4e12 * 0.2385) < 1e-15);
}
END_TEST

START_TEST(errors_name_the_key)
{
	scn_scenario s;
	hw_compute h;
	hw_links l;
	ms_error err;
	load(&s, "fp8", "a100-sxm", NULL);
	ms_error_clear(&err);
	ck_assert_int_eq(hw_compute_resolve(&h, &s, NULL, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "hw.cfg:1: model.dtype = \"fp8\" but NVIDIA A100") != NULL, "%s", err.msg);
	load(&s, "bf16", "tpu-v9", NULL);
	ms_error_clear(&err);
	ck_assert_int_eq(hw_compute_resolve(&h, &s, NULL, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "cluster.gpu = \"tpu-v9\" is not a known GPU: choose one of h100-sxm") != NULL, "%s",
		      err.msg);
	ms_error_clear(&err);
	ck_assert_int_eq(hw_links_resolve(&l, &s, NULL, 8, 8, 8, 8, &err), MS_EINVAL);
	ck_assert_msg(strstr(err.msg, "set cluster.nvlink_GBps") != NULL, "%s", err.msg);
	/* An unknown GPU is fine for the links once NVLink is given. */
	{
		scn_overrides ov = {1, {"cluster.nvlink_GBps=238.5"}};
		load(&s, "bf16", "tpu-v9", &ov);
		ms_error_clear(&err);
		ck_assert_int_eq(hw_links_resolve(&l, &s, NULL, 8, 8, 8, 8, &err), MS_OK);
		ck_assert(tu_rel(l.nvlink_Bps, 238.5e9 * 0.82) < 1e-15); /* a line rate x network.nvlink_efficiency */
	}
}
END_TEST

/* The policy's ranks: a measured copy beats the datasheet; an explicit key beats a fit. */
START_TEST(profile_overrides_in_order)
{
	char src[2048], list[4200];
	const char *root = getenv("MOESIM_SRC") ? getenv("MOESIM_SRC") : ".";
	scn_scenario s;
	prof_profile *p = NULL;
	hw_compute h;
	hw_links l, l0;
	ms_error err;
	double scale, fit_Bps;
	const prof_table *copy, *a;
	snprintf(src, sizeof src, "%s/tests/data/profiles/h100-synthetic", root);
	snprintf(list, sizeof list, "cluster.profile=%s/copy.cfg,%s/alltoall.cfg", src, src);
	{
		scn_overrides ov = {1, {list}};
		load(&s, "bf16", "h100-sxm", &ov);
	}
	ms_error_clear(&err);
	ck_assert_msg(prof_profile_load_scenario(&s, &p, &err) == MS_OK, "%s", err.msg);
	ck_assert_int_eq(hw_compute_resolve(&h, &s, p, &err), MS_OK);
	copy = prof_profile_find(p, PROF_COPY);
	ck_assert_ptr_nonnull(copy);
	{
		double best = 0;
		for (int i = 0; i < copy->n; i++)
			best = fmax(best, copy->x[i] / copy->t_s[i]);
		ck_assert(tu_rel(h.mem_Bps, 2.0 * best) < 1e-15); /* not 3.35e12 x 0.715 */
	}
	ck_assert_int_eq(hw_links_resolve(&l, &s, p, 8, 8, 8, 8, &err), MS_OK);
	a = prof_profile_find_alltoall(p, PROF_INTRA_NODE, 8, &scale);
	ck_assert_ptr_nonnull(a);
	ck_assert(l.calibrated_nvlink);
	fit_Bps = 1.0 / a->fit.p[1] * (a->ranks - 1) / a->ranks;
	ck_assert(tu_rel(l.nvlink_Bps, fit_Bps) < 1e-15);
	ck_assert(tu_rel(l.nvlink_latency_s, a->fit.p[0]) < 1e-15);
	ck_assert(fabs(a->fit.p[0] - 2.385e-6) > 1e-9); /* so the override below is visible */
	ck_assert_int_eq(hw_links_resolve(&l0, &s, NULL, 8, 8, 8, 8, &err), MS_OK);
	ck_assert(tu_rel(l0.nvlink_Bps, 450e9 * 0.82) < 1e-15 && !l0.calibrated_nvlink);
	prof_profile_destroy(p);
	{
		scn_overrides ov = {2, {list, "cluster.nvlink_latency_us=2.385"}};
		load(&s, "bf16", "h100-sxm", &ov);
	}
	ck_assert_msg(prof_profile_load_scenario(&s, &p, &err) == MS_OK, "%s", err.msg);
	ck_assert_int_eq(hw_links_resolve(&l, &s, p, 8, 8, 8, 8, &err), MS_OK);
	ck_assert(tu_rel(l.nvlink_latency_s, 2.385e-6) < 1e-15); /* the explicit key wins */
	ck_assert(tu_rel(l.nvlink_Bps, fit_Bps) < 1e-15); /* the rate still from the fit */
	prof_profile_destroy(p);
}
END_TEST

Suite *hardware_suite(void)
{
	Suite *s = suite_create("hardware");
	TCase *tc = tcase_create("rates");
	tcase_add_test(tc, datasheet_times_efficiency);
	tcase_add_test(tc, errors_name_the_key);
	tcase_add_test(tc, profile_overrides_in_order);
	suite_add_tcase(s, tc);
	return s;
}
