/*
 * check_profile.c - calibration profiles: interpolation against GSL's Steffen spline
 * (the oracle), fits against data made from known parameters, the reader on files
 * written exactly as calibrate/cal_profile.c writes them (tests/data/profiles/), every
 * shipped datasheet profile, every error path with its message, the writer read back,
 * nccl-tests text and JSON samples (tests/data/nccl-tests/), the compute model using a
 * profile (by hand from the tables), and the `moesim calibrate` commands in-process.
 */
#include <check.h>
#include <fcntl.h>
#include <gsl/gsl_interp.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hardware/hw_gpu.h"
#include "models/moe_model.h"
#include "profile/prof_curve.h"
#include "profile/prof_fit.h"
#include "profile/prof_internal.h"
#include "profile/prof_nccl.h"
#include "profile/prof_profile.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_inputs.h"
#include "sim/sim_run.h"
#include "test_util.h"

/* --- helpers ------------------------------------------------------------------------- */

static const char *src_dir(void)
{
	const char *src = getenv("MOESIM_SRC");
	return src ? src : ".";
}

static const char *data(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", src_dir(), rel);
	return buf;
}

#define SYN "tests/data/profiles/h100-synthetic/"
#define NCCL "tests/data/nccl-tests/"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;
	char *b;
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	ck_assert(b != NULL);
	ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = '\0';
	fclose(f);
	return b;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

/* Loads the files (NULL-terminated) as one profile; aborts the test on error. */
static prof_profile *load_ok(const char *first, ...)
{
	const char *paths[8];
	char bufs[8][1024];
	int n = 0;
	va_list ap;
	prof_profile *p = NULL;
	ms_error err;
	va_start(ap, first);
	for (const char *s = first; s && n < 8; s = va_arg(ap, const char *)) {
		paths[n] = s[0] == '/' ? s : data(bufs[n], sizeof bufs[n], s);
		n++;
	}
	va_end(ap);
	ms_error_clear(&err);
	if (prof_profile_load(&p, paths, n, &err) < 0)
		ck_abort_msg("load: %s", err.msg);
	return p;
}

/* Loads one text as a profile file and returns the error message ("" if it loaded). */
static const char *load_err(const char *text, char *msg, size_t len)
{
	char path[64];
	const char *paths[1];
	prof_profile *p = NULL;
	ms_error err;
	tu_write_temp(path, sizeof path, text);
	paths[0] = path;
	ms_error_clear(&err);
	if (prof_profile_load(&p, paths, 1, &err) == MS_OK) {
		prof_profile_destroy(p);
		snprintf(msg, len, "%s", "");
	} else {
		/* Messages name the temporary file; keep what follows its name. */
		const char *m = strstr(err.msg, path);
		snprintf(msg, len, "%s", m ? m + strlen(path) : err.msg);
	}
	unlink(path);
	return msg;
}

#define ck_contains(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "expected \"%s\" in: %s", (needle), (hay))

/* --- interpolation ------------------------------------------------------------------- */

START_TEST(steffen_matches_gsl)
{
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	gsl_rng_set(r, 2385);
	for (int trial = 0; trial < 20; trial++) {
		int n = 3 + (int)gsl_rng_uniform_int(r, 40);
		double x[64], t[64], lx[64], ly[64], md = 0;
		prof_fit f;
		prof_curve c;
		gsl_interp *g = gsl_interp_alloc(gsl_interp_steffen, (size_t)n);
		gsl_interp_accel *acc = gsl_interp_accel_alloc();
		x[0] = 1 + gsl_rng_uniform(r);
		t[0] = 1e-5 * (1 + gsl_rng_uniform(r));
		for (int i = 1; i < n; i++) {
			x[i] = x[i - 1] * (1.1 + 2 * gsl_rng_uniform(r));
			/* trials alternate monotone and non-monotone data */
			t[i] = t[i - 1] * (trial % 2 ? exp(0.8 * gsl_rng_uniform(r)) : exp(gsl_rng_uniform(r) - 0.5));
		}
		for (int i = 0; i < n; i++)
			lx[i] = log(x[i]), ly[i] = log(t[i]);
		memset(&f, 0, sizeof f);
		f.model = PROF_MODEL_LATBW;
		f.p[0] = t[0] * 0.5;
		f.p[1] = t[n - 1] / x[n - 1];
		prof_curve_init(&c, x, t, n, &f);
		gsl_interp_init(g, lx, ly, (size_t)n);
		for (int k = 0; k <= 2000; k++) {
			double v = x[0] * pow(x[n - 1] / x[0], k / 2000.0);
			double want = exp(gsl_interp_eval(g, lx, ly, fmin(log(v), lx[n - 1]), acc));
			md = fmax(md, tu_rel(prof_curve_eval(&c, v), want));
		}
		ck_assert_msg(md < 1e-12, "trial %d (n %d): differs from gsl_interp_steffen by %g", trial, n, md);
		for (int i = 0; i < n; i++)
			ck_assert_msg(tu_rel(prof_curve_eval(&c, x[i]), t[i]) < 1e-14, "point %d missed", i);
		gsl_interp_accel_free(acc);
		gsl_interp_free(g);
	}
	gsl_rng_free(r);
}
END_TEST

START_TEST(curve_monotone_and_extrapolates_with_the_fit)
{
	/* A step in the data (tile quantization) must not overshoot. */
	double x[] = {1, 2, 4, 8, 16, 32, 64, 128, 256}, t[] = {10, 10, 10, 10.2, 10.4, 30, 31, 62, 124};
	prof_fit f;
	prof_curve c;
	ms_error err;
	for (int i = 0; i < 9; i++)
		t[i] *= 1e-6;
	ms_error_clear(&err);
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_ROOFLINE, x, t, 9, &f, "t", &err), MS_OK);
	prof_curve_init(&c, x, t, 9, &f);
	for (int i = 0; i + 1 < 9; i++) {
		double prev = t[i];
		for (int k = 1; k <= 100; k++) {
			double v = x[i] * pow(x[i + 1] / x[i], k / 100.0), y = prof_curve_eval(&c, v);
			ck_assert_msg(y >= prev * (1 - 1e-12) && y <= t[i + 1] * (1 + 1e-12), "x %g: %g outside [%g, %g]", v, y,
				      t[i], t[i + 1]);
			prev = y;
		}
	}
	/* Outside: the fitted model scaled to meet the end points. */
	ck_assert(tu_rel(prof_curve_eval(&c, 1024), t[8] * prof_fit_eval(&f, 1024) / prof_fit_eval(&f, 256)) < 1e-12);
	ck_assert(tu_rel(prof_curve_eval(&c, 0.5), t[0] * prof_fit_eval(&f, 0.5) / prof_fit_eval(&f, 1)) < 1e-12);
	ck_assert(prof_curve_eval(&c, 0) == 0.0 && prof_curve_eval(&c, -3) == 0.0);
	ck_assert(tu_rel(prof_curve_xmin(&c), 1) < 1e-15 && tu_rel(prof_curve_xmax(&c), 256) < 1e-15);
}
END_TEST

/* --- fits ------------------------------------------------------------------------------ */

START_TEST(fit_latbw_exact)
{
	double x[21], t[21];
	prof_fit f;
	ms_error err;
	for (int i = 0; i < 21; i++) {
		x[i] = 1024.0 * pow(2, i);
		t[i] = 23.85e-6 + x[i] / 361.5e9;
	}
	ms_error_clear(&err);
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_LATBW, x, t, 21, &f, "t", &err), MS_OK);
	ck_assert_msg(tu_rel(f.p[0], 23.85e-6) < 1e-9, "latency %.12g", f.p[0]);
	ck_assert_msg(tu_rel(1 / f.p[1], 361.5e9) < 1e-9, "bandwidth %.12g", 1 / f.p[1]);
	ck_assert(f.rms_rel < 1e-12 && f.dof == 19 && f.fixed == 0 && f.has_resid);
}
END_TEST

START_TEST(fit_roofline_exact)
{
	/* Mixtral-shaped, 8 experts: knee at 256.8 tokens, between two ladder points. */
	const double T0 = 7.25e-6, P = 612.5e12, BW = 2.385e12, F = 6.0 * 8 * 4096 * 14336, W = 3.0 * 8 * 4096 * 14336 * 2;
	double x[40], t[40];
	int n = 0;
	prof_fit f;
	ms_error err;
	for (double v = 1; v <= 65536; v *= 1.5) {
		double xv = floor(v);
		if (n && xv <= x[n - 1])
			continue;
		x[n] = xv;
		t[n] = T0 + fmax(W / BW, F * xv / P);
		n++;
	}
	ms_error_clear(&err);
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_ROOFLINE, x, t, n, &f, "t", &err), MS_OK);
	ck_assert_msg(tu_rel(f.p[0], T0) < 1e-7, "t0 %.10g", f.p[0]);
	ck_assert_msg(tu_rel(F / f.p[2], P) < 1e-9, "peak %.10g", F / f.p[2]);
	ck_assert_msg(tu_rel(W / (f.p[1] * f.p[2]), BW) < 1e-9, "bandwidth %.10g", W / (f.p[1] * f.p[2]));
	ck_assert_msg(f.fixed == 0 && f.rms_rel < 1e-12, "fixed %u rms %g", f.fixed, f.rms_rel);
}
END_TEST

START_TEST(fit_noisy_within_errors)
{
	/* 2 % log-normal noise (seeded): the true values lie within 4 standard errors. */
	const double T0 = 40e-6, P = 580e12, BW = 2.9e12, F = 6.0 * 7168 * 2048, W = 3.0 * 7168 * 2048 * 2;
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	double x[40], t[40], xb[21], tb[21];
	int n = 0;
	prof_fit f;
	ms_error err;
	gsl_rng_set(r, 2385);
	for (double v = 1; v <= 65536; v *= 1.4) {
		double xv = floor(v);
		if (n && xv <= x[n - 1])
			continue;
		x[n] = xv;
		t[n] = (T0 + fmax(W / BW, F * xv / P)) * exp(0.02 * gsl_ran_gaussian(r, 1));
		n++;
	}
	ms_error_clear(&err);
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_ROOFLINE, x, t, n, &f, "t", &err), MS_OK);
	ck_assert_msg(fabs(f.p[0] - T0) < 4 * f.se[0], "t0 %g +- %g, true %g", f.p[0], f.se[0], T0);
	ck_assert_msg(fabs(f.p[2] - F / P) < 4 * f.se[2], "c %g +- %g, true %g", f.p[2], f.se[2], F / P);
	ck_assert_msg(tu_rel(F / f.p[2], P) < 0.02 && tu_rel(W / (f.p[1] * f.p[2]), BW) < 0.03, "P %g BW %g", F / f.p[2],
		      W / (f.p[1] * f.p[2]));
	ck_assert(f.rms_rel > 0.01 && f.rms_rel < 0.03 && f.dof == n - 3);
	for (int i = 0; i < 21; i++) {
		xb[i] = 1024.0 * pow(2, i);
		tb[i] = (23.85e-6 + xb[i] / 361.5e9) * exp(0.02 * gsl_ran_gaussian(r, 1));
	}
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_LATBW, xb, tb, 21, &f, "t", &err), MS_OK);
	ck_assert_msg(fabs(f.p[0] - 23.85e-6) < 4 * f.se[0], "latency %g +- %g", f.p[0], f.se[0]);
	ck_assert_msg(fabs(f.p[1] - 1 / 361.5e9) < 4 * f.se[1], "s/B %g +- %g", f.p[1], f.se[1]);
	gsl_rng_free(r);
}
END_TEST

START_TEST(fit_degenerate_tables_hold_parameters)
{
	double x[12], t[12];
	prof_fit f;
	ms_error err;
	ms_error_clear(&err);
	/* Only compute-bound points (knee 200 below the table): the knee is held at the
	 * first point, so below the table the time stays at the first point's. */
	for (int i = 0; i < 12; i++) {
		x[i] = 1024.0 * pow(2, i / 2.0);
		t[i] = 10e-6 + 2e-9 * fmax(200, x[i]);
	}
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_ROOFLINE, x, t, 12, &f, "t", &err), MS_OK);
	ck_assert_msg(f.fixed & PROF_FIX_KNEE, "fixed %u", f.fixed);
	ck_assert(tu_rel(f.p[1], 1024) < 1e-12 && f.se[1] == 0 && f.rms_rel < 1e-9);
	ck_assert(tu_rel(prof_fit_eval(&f, 10), t[0]) < 1e-9);
	/* Only memory-bound points: t0 and the knee are held, time grows past the table. */
	for (int i = 0; i < 12; i++) {
		x[i] = 1 + i;
		t[i] = 500e-6;
	}
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_ROOFLINE, x, t, 12, &f, "t", &err), MS_OK);
	ck_assert_msg((f.fixed & (PROF_FIX_KNEE | PROF_FIX_T0)) == (PROF_FIX_KNEE | PROF_FIX_T0), "fixed %u", f.fixed);
	ck_assert(tu_rel(prof_fit_eval(&f, 24), 1000e-6) < 1e-9);
	/* A latency the data says is negative is held at 0. */
	for (int i = 0; i < 12; i++) {
		x[i] = 1024.0 * (i + 1);
		t[i] = x[i] * 1e-9 * (1 + 0.01 * i);
	}
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_LATBW, x, t, 12, &f, "t", &err), MS_OK);
	ck_assert(f.fixed == PROF_FIX_T0 && f.p[0] == 0 && f.se[0] == 0 && f.p[1] > 0);
	/* Two points: exact, no degrees of freedom; the knee is held. */
	x[0] = 1000, x[1] = 3000, t[0] = 10e-6 + 1e-9 * x[0], t[1] = 10e-6 + 1e-9 * x[1];
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_ROOFLINE, x, t, 2, &f, "t", &err), MS_OK);
	ck_assert_msg(f.dof == 0 && f.rms_rel < 1e-9 && (f.fixed & PROF_FIX_KNEE), "dof %d rms %g fixed %u", f.dof, f.rms_rel,
		      f.fixed);
	/* Time falling with size cannot be fitted. */
	t[0] = 5e-3, t[1] = 4e-3, t[2] = 3e-3;
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_LATBW, x, t, 3, &f, "a.cfg:3: copy", &err), MS_EINVAL);
	ck_contains(err.msg, "a.cfg:3: copy: the time does not grow with size");
}
END_TEST

/* --- reading profiles ------------------------------------------------------------------ */

START_TEST(shipped_datasheet_profiles_load)
{
	static const struct {
		const char *file, *gpu;
	} ship[] = {{"h100-sxm.cfg", "h100-sxm"}, {"h800.cfg", "h800"}, {"a100-sxm.cfg", "a100-sxm"},
		    {"b200.cfg", "b200"},         {"h200-sxm.cfg", "h200"}};
	for (size_t i = 0; i < sizeof ship / sizeof ship[0]; i++) {
		char rel[128], full[1024];
		config_t cfg;
		const char *s;
		prof_profile *p;
		const prof_gpu *g;
		const hw_gpu *m = hw_gpu_find(ship[i].gpu);
		snprintf(rel, sizeof rel, "calibrate/profiles/%s", ship[i].file);
		p = load_ok(rel, NULL);
		g = prof_profile_gpu(p);
		ck_assert_msg(prof_profile_is_datasheet(p) && g->has_peaks && prof_profile_ntables(p) == 0, "%s", rel);
		/* The shipped profile and the built-in table agree. */
		ck_assert_msg(m && tu_rel(g->bf16_Fps, m->bf16_flops) < 1e-3 && tu_rel(g->fp8_Fps, m->fp8_flops) < 1e-3 &&
				      tu_rel(g->hbm_Bps, m->hbm_Bps) < 1e-3 && tu_rel(g->nvlink_Bps, m->nvlink_Bps) < 1e-3,
			      "%s disagrees with hw_gpu %s", rel, ship[i].gpu);
		prof_profile_destroy(p);
		/* It states its source. */
		config_init(&cfg);
		ck_assert(config_read_file(&cfg, data(full, sizeof full, rel)));
		ck_assert(config_lookup_string(&cfg, "profile.source", &s) && strcmp(s, "datasheet") == 0);
		ck_assert(config_lookup_string(&cfg, "profile.provenance.citation", &s) && strlen(s) > 40);
		config_destroy(&cfg);
	}
}
END_TEST

START_TEST(reads_calibration_program_output)
{
	/* Files written by calibrate/cal_profile.c in the order of the programs. */
	prof_profile *p = load_ok(SYN "gemm.cfg", SYN "copy.cfg", SYN "alltoall.cfg", NULL);
	int count[PROF_NKINDS] = {0};
	const prof_table *t;
	ck_assert_int_eq(prof_profile_ntables(p), 19);
	for (int i = 0; i < prof_profile_ntables(p); i++) {
		t = prof_profile_table(p, i);
		count[t->kind]++;
		ck_assert(t->fit.model != PROF_MODEL_NONE && !t->fit_read && t->n >= 3);
	}
	ck_assert(count[PROF_GEMM] == 10 && count[PROF_COPY] == 1 && count[PROF_GATHER] == 3 && count[PROF_UNPERMUTE] == 3 &&
		  count[PROF_ALLTOALL] == 1 && count[PROF_ALLTOALLV] == 1);
	t = prof_profile_find_gemm(p, "bf16", 4096, 14336, PROF_FWD, 1);
	ck_assert(t && t->experts == 1 && t->n == 32 && t->x[0] == 1 && t->x[31] == 65536 && t->line == 34);
	ck_assert(tu_rel(t->t_s[0], 130.3654e-6) < 1e-12 && strcmp(t->method, "single") == 0);
	t = prof_profile_find(p, PROF_COPY);
	ck_assert(t && t->n == 21 && t->x[20] == 1073741824.0);
	prof_profile_destroy(p);
}
END_TEST

START_TEST(fits_recover_generating_parameters)
{
	/* gen_samples.c's parameters; the tables carry ripples and 1.5 % noise. */
	static const struct {
		int H, F, E;
		prof_pass pass;
		double P, BW;
	} want[] = {{4096, 14336, 1, PROF_FWD, 700, 2900},      {4096, 14336, 8, PROF_FWD, 660, 3000},
		    {4096, 14336, 8, PROF_BWD_WGRAD, 590, 2800}, {7168, 2048, 8, PROF_BWD_DGRAD, 560, 2900}};
	prof_profile *p = load_ok(SYN "gemm.cfg", SYN "copy.cfg", SYN "alltoall.cfg", NULL);
	double sc;
	const prof_table *t;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		double c, k;
		t = prof_profile_find_gemm(p, "bf16", want[i].H, want[i].F, want[i].pass, want[i].E);
		ck_assert(t && t->experts == want[i].E);
		c = t->fit.p[2], k = t->fit.p[1];
		ck_assert_msg(tu_rel(prof_table_flops_per_token(t) / c / 1e12, want[i].P) < 0.01, "table %zu: peak %g", i,
			      prof_table_flops_per_token(t) / c / 1e12);
		ck_assert_msg(tu_rel(prof_table_weight_bytes(t) / (c * k) / 1e9, want[i].BW) < 0.04, "table %zu: BW %g", i,
			      prof_table_weight_bytes(t) / (c * k) / 1e9);
		ck_assert(t->fit.rms_rel < 0.01);
	}
	t = prof_profile_find_alltoall(p, PROF_INTRA_NODE, 8, &sc);
	ck_assert(t && sc == 1.0 && tu_rel(t->fit.p[0], 23.85e-6) < 0.01 && tu_rel(1 / t->fit.p[1], 361.5e9) < 0.01);
	t = prof_profile_find(p, PROF_COPY);
	ck_assert(tu_rel(t->fit.p[0], 6.5e-6) < 0.01 && tu_rel(1 / t->fit.p[1], 1450e9) < 0.01);
	t = prof_profile_find_permute(p, PROF_GATHER, 7168, 1);
	ck_assert(t->hidden == 7168 && tu_rel(prof_table_bytes_per_x(t) / t->fit.p[1], 2400e9) < 0.01);
	prof_profile_destroy(p);
}
END_TEST

START_TEST(lookups)
{
	prof_profile *p = load_ok(SYN "gemm.cfg", SYN "copy.cfg", SYN "alltoall.cfg", NULL);
	char buf[512];
	double sc;
	/* experts: equal, else the largest below, else the smallest above */
	ck_assert_int_eq(prof_profile_find_gemm(p, "bf16", 4096, 14336, PROF_FWD, 8)->experts, 8);
	ck_assert_int_eq(prof_profile_find_gemm(p, "bf16", 4096, 14336, PROF_FWD, 4)->experts, 1);
	ck_assert_int_eq(prof_profile_find_gemm(p, "bf16", 4096, 14336, PROF_FWD, 32)->experts, 8);
	ck_assert_int_eq(prof_profile_find_gemm(p, "bf16", 7168, 2048, PROF_FWD, 1)->experts, 8);
	ck_assert(prof_profile_find_gemm(p, "fp8_e4m3", 7168, 2048, PROF_BWD_DGRAD, 8) == NULL);
	ck_assert(prof_profile_find_gemm(p, "bf16", 5120, 14336, PROF_FWD, 8) == NULL);
	prof_profile_gemm_shapes(p, buf, sizeof buf);
	ck_assert_str_eq(buf, "bf16 4096x14336 (experts 1, 8; fwd, bwd_dgrad, bwd_wgrad); bf16 7168x2048 (experts 8; fwd, "
			      "bwd_dgrad, bwd_wgrad); fp8_e4m3 7168x2048 (experts 8; fwd)");
	/* permutes: nearest row width (log distance), then top-k */
	ck_assert_int_eq(prof_profile_find_permute(p, PROF_GATHER, 5120, 1)->hidden, 4096);
	ck_assert_int_eq(prof_profile_find_permute(p, PROF_UNPERMUTE, 6144, 8)->hidden, 7168);
	/* all-to-all: another rank count converts at equal bytes per link */
	ck_assert_int_eq(prof_profile_find_alltoall(p, PROF_INTRA_NODE, 16, &sc)->ranks, 8);
	ck_assert(tu_rel(sc, (15.0 / 16) / (7.0 / 8)) < 1e-15);
	ck_assert(prof_profile_find_alltoall(p, PROF_INTER_NODE, 16, &sc) == NULL);
	prof_profile_destroy(p);
}
END_TEST

/* A minimal valid measured profile with one gemm table, into which tests splice errors. */
static const char gemm_head[] = "profile = {\n"
				"  name = \"t\";\n"
				"  source = \"measured\";\n"
				"  program = \"cal_gemm\";\n"
				"  provenance = { gpu = \"G\"; };\n"
				"  gemm = (\n"
				"    {\n"
				"      dtype = \"bf16\"; hidden = 64; ffn = 128; experts = 2; pass = \"fwd\";\n";

static const char *with_table(char *buf, size_t len, const char *table_tail)
{
	snprintf(buf, len, "%s%s\n    }\n  );\n};\n", gemm_head, table_tail);
	return buf;
}

START_TEST(reader_errors_name_file_line_and_key)
{
	char text[4096], msg[1024];
	static const struct {
		const char *tail, *want;
	} cases[] = {
		{"tokens = [1, 2, 3, 4];\n      time_us = [1.0, 2.0, 3.0];", ":10: gemm[0].time_us has 3 values but tokens has 4"},
		{"tokens = [1, 2, 3];\n      time_us = [1.0, 2.0, 3.0];\n      p10_us = [1.0, 2.0];",
		 ":11: gemm[0].p10_us has 2 values but tokens has 3"},
		{"tokens = [1, 4, 4];\n      time_us = [1.0, 2.0, 3.0];", ":9: gemm[0].tokens must increase strictly: tokens[2] = 4 after 4"},
		{"tokens = [1, 2, 3];\n      time_us = [1.0, -2.0, 3.0];", ":10: gemm[0].time_us[1] = -2 must be a time > 0"},
		{"tokens = [0, 2, 3];\n      time_us = [1.0, 2.0, 3.0];", ":9: gemm[0].tokens[0] = 0 must be > 0"},
		{"tokens = [1];\n      time_us = [1.0];", ":7: gemm[0] has 1 point; at least 2 are needed"},
		{"tokens = [1.5, 2.0];\n      time_us = [1.0, 2.0];", ":9: gemm[0].tokens[0] must be an integer, not a number"},
		{"time_us = [1.0, 2.0];", ":7: gemm[0].tokens is missing"},
		{"tokens = [1, 2];\n      time_us = [1.0, 2.0];\n      fit = { model = \"latency_bandwidth\"; };",
		 ":11: gemm[0].fit.model = \"latency_bandwidth\" but a gemm table is fitted with \"roofline\""},
		{"tokens = [1, 2];\n      time_us = [1.0, 2.0];\n      fit = { model = \"roofline\"; t0_us = 1.0; peak_TFLOPs = 100.0; };",
		 ":11: gemm[0].fit.weight_GBps is missing"},
		{"tokens = [1, 2];\n      time_us = [1.0, 2.0];\n      fit = { model = \"roofline\"; t0_us = 1.0; peak_TFLOPs = -1.0; "
		 "weight_GBps = 1.0; };",
		 ":11: gemm[0].fit.peak_TFLOPs = -1 must be > 0"},
		{"tokens = [1, 2];\n      time_us = [1.0, 2.0];\n      min_us = [1.0, 1e999];", ":11: min_us = inf is not a finite number"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		load_err(with_table(text, sizeof text, cases[i].tail), msg, sizeof msg);
		ck_assert_msg(strncmp(msg, cases[i].want, strlen(cases[i].want)) == 0, "case %zu: got '%s', want '%s'", i, msg,
			      cases[i].want);
	}
	/* Keys of the table itself. */
	snprintf(text, sizeof text, "%s", gemm_head);
	{
		static const struct {
			const char *from, *to, *want;
		} swaps[] = {
			{"hidden = 64;", "hidden = \"64\";", ":8: gemm[0].hidden must be an integer, not a string"},
			{"hidden = 64;", "hidden = 0;", ":8: gemm[0].hidden = 0 is out of range (1 .. 16777216)"},
			{"pass = \"fwd\";", "pass = \"bwd\";", ":7: gemm[0].pass = \"bwd\": expected \"fwd\", \"bwd_dgrad\" or \"bwd_wgrad\""},
			{"dtype = \"bf16\";", "dtype = \"int4\";", ":7: gemm[0].dtype = \"int4\": expected"},
			{"experts = 2;", "", ":7: gemm[0].experts is missing"},
			{"source = \"measured\";", "source = \"guess\";", ":3: profile.source = \"guess\": expected \"measured\" or \"datasheet\""},
			{"program = \"cal_gemm\";", "programme = \"x\";", ":4: profile.programme is not a profile key"},
			{"provenance = { gpu = \"G\"; };", "", ":1: profile.provenance is missing"},
			{"provenance = { gpu = \"G\"; };", "provenance = { gpu = \"G\"; };\n  gpu = { peak_bf16_TFLOPs = 1.0; };",
			 ":6: gpu.peak_bf16_TFLOPs in a measured profile"},
			{"gemm = (", "alltoall = { };\n  gemm = (", ":6: profile.alltoall must be a list ( { ... }, ... ), not a group"},
		};
		for (size_t i = 0; i < sizeof swaps / sizeof swaps[0]; i++) {
			char t2[4096], *at;
			with_table(text, sizeof text, "tokens = [1, 2];\n      time_us = [1.0, 2.0];");
			at = strstr(text, swaps[i].from);
			ck_assert(at != NULL);
			snprintf(t2, sizeof t2, "%.*s%s%s", (int)(at - text), text, swaps[i].to, at + strlen(swaps[i].from));
			load_err(t2, msg, sizeof msg);
			ck_assert_msg(strncmp(msg, swaps[i].want, strlen(swaps[i].want)) == 0, "swap %zu: got '%s', want '%s'", i,
				      msg, swaps[i].want);
		}
	}
	/* Whole-file errors. */
	ck_assert_str_eq(load_err("profile = { name = \"x\"\n", msg, sizeof msg), ":2: syntax error");
	ck_assert_str_eq(load_err("scenario = { };\n", msg, sizeof msg), ":1: not a calibration profile: no 'profile = { ... };' group");
	ck_contains(load_err("profile = { name = \"x\"; source = \"measured\"; provenance = { }; };\n", msg, sizeof msg),
		    "a measured profile with no table");
	ck_contains(load_err("profile = { name = \"x\"; source = \"datasheet\"; provenance = { citation = \"\"; }; };\n", msg,
			     sizeof msg),
		    "provenance.citation is empty");
	ck_contains(load_err("profile = { name = \"x\"; source = \"datasheet\"; provenance = { citation = \"NVIDIA datasheet\"; };\n"
			     "  gpu = { peak_bf16_TFLOPs = 1.0; peak_fp8_TFLOPs = 0.0; peak_tf32_TFLOPs = 1.0; hbm_GBps = 1.0; };\n"
			     "  copy = { bytes = [1L, 2L]; time_us = [1.0, 2.0]; };\n};\n",
			     msg, sizeof msg),
		    ":3: profile.copy in a datasheet profile");
	ck_contains(load_err("profile = { name = \"x\"; source = \"datasheet\"; provenance = { citation = \"NVIDIA datasheet\"; };\n"
			     "  gpu = { peak_bf16_TFLOPs = 1.0; peak_tf32_TFLOPs = 1.0; hbm_GBps = 1.0; }; };\n",
			     msg, sizeof msg),
		    ":2: gpu.peak_fp8_TFLOPs is missing");
	{
		prof_profile *p = NULL;
		ms_error err;
		const char *paths[1] = {"/nonexistent/dir/p.cfg"};
		ms_error_clear(&err);
		ck_assert_int_eq(prof_profile_load(&p, paths, 1, &err), MS_EIO);
		ck_assert_str_eq(err.msg, "cannot read profile '/nonexistent/dir/p.cfg': No such file or directory");
		ck_assert(p == NULL);
	}
}
END_TEST

START_TEST(merging_rules)
{
	char a[1024], b[1024], c[1024], text[4096];
	const char *paths[3];
	prof_profile *p = NULL;
	ms_error err;
	/* The same table twice. */
	paths[0] = data(a, sizeof a, SYN "gemm.cfg");
	paths[1] = data(b, sizeof b, SYN "gemm.cfg");
	ms_error_clear(&err);
	ck_assert_int_eq(prof_profile_load(&p, paths, 2, &err), MS_EINVAL);
	ck_contains(err.msg, "gemm.cfg:34: gemm[0] measures the same as");
	/* Another GPU. */
	{
		char *gpu;
		with_table(text, sizeof text, "tokens = [1, 2];\n      time_us = [1.0, 2.0];");
		gpu = strstr(text, "gpu = \"G\"");
		tu_write_temp(c, sizeof c, "");
		{
			char out[4096];
			snprintf(out, sizeof out, "%.*sgpu = \"NVIDIA A100-SXM4-80GB\"%s", (int)(gpu - text), text, gpu + 9);
			spit(c, out);
		}
	}
	paths[1] = c;
	ms_error_clear(&err);
	ck_assert_int_eq(prof_profile_load(&p, paths, 2, &err), MS_EINVAL);
	ck_contains(err.msg, ":5: provenance.gpu = \"NVIDIA A100-SXM4-80GB\" but");
	ck_contains(err.msg, "has \"NVIDIA H100 80GB HBM3\": the files were measured on different GPUs");
	unlink(c);
	/* Two datasheets. */
	paths[0] = data(a, sizeof a, "calibrate/profiles/h100-sxm.cfg");
	paths[1] = data(b, sizeof b, "calibrate/profiles/h800.cfg");
	ms_error_clear(&err);
	ck_assert_int_eq(prof_profile_load(&p, paths, 2, &err), MS_EINVAL);
	ck_contains(err.msg, "are both datasheet profiles; give one");
	/* A datasheet and measured tables together: peaks plus tables. */
	paths[1] = data(b, sizeof b, SYN "gemm.cfg");
	ms_error_clear(&err);
	ck_assert_int_eq(prof_profile_load(&p, paths, 2, &err), MS_OK);
	ck_assert(prof_profile_gpu(p)->has_peaks && prof_profile_ntables(p) == 10 && !prof_profile_is_datasheet(p));
	prof_profile_destroy(p);
}
END_TEST

START_TEST(writer_round_trip)
{
	prof_profile *p = load_ok(SYN "gemm.cfg", SYN "copy.cfg", SYN "alltoall.cfg", NULL), *q;
	char path[64], buf[48];
	FILE *f;
	ms_error err;
	config_t cfg;
	const config_setting_t *s;
	ms_error_clear(&err);
	ck_assert_int_eq(prof_profile_fit_all(p, &err), MS_OK);
	tu_write_temp(path, sizeof path, "");
	f = fopen(path, "w");
	ck_assert_int_eq(prof_profile_write(p, f, "merged", "moesim calibrate fit x", &err), MS_OK);
	fclose(f);
	q = load_ok(path, NULL);
	ck_assert_int_eq(prof_profile_ntables(q), prof_profile_ntables(p));
	for (int i = 0; i < prof_profile_ntables(p); i++) {
		const prof_table *a = prof_profile_table(p, i), *b = NULL;
		prof_curve ca, cb;
		/* the writer groups by kind; find the same table */
		for (int j = 0; j < prof_profile_ntables(q) && !b; j++) {
			const prof_table *t = prof_profile_table(q, j);
			if (t->kind == a->kind && t->hidden == a->hidden && t->ffn == a->ffn && t->experts == a->experts &&
			    t->pass == a->pass && t->topk == a->topk && strcmp(t->dtype, a->dtype) == 0 && t->n == a->n)
				b = t;
		}
		ck_assert(b != NULL && b->fit_read && b->fit.model == a->fit.model);
		for (int k = 0; k < a->n; k++)
			ck_assert(a->x[k] == b->x[k] && a->t_s[k] == b->t_s[k]);
		for (int k = 0; k < 3; k++)
			ck_assert_msg(tu_rel(a->fit.p[k], b->fit.p[k]) < 1e-6 || fabs(a->fit.p[k]) < 1e-300, "table %d p%d %g %g",
				      i, k, a->fit.p[k], b->fit.p[k]);
		prof_table_curve(a, &ca);
		prof_table_curve(b, &cb);
		for (double v = a->x[0] / 4; v < a->x[a->n - 1] * 4; v *= 1.7)
			ck_assert(tu_rel(prof_curve_eval(&ca, v), prof_curve_eval(&cb, v)) < 1e-6);
	}
	ck_assert_str_eq(prof_profile_name(q), "merged");
	prof_profile_destroy(q);
	/* Types as the calibration programs write them. */
	config_init(&cfg);
	ck_assert(config_read_file(&cfg, path));
	s = config_lookup(&cfg, "profile.copy.bytes");
	ck_assert(s && config_setting_type(config_setting_get_elem(s, 0)) == CONFIG_TYPE_INT64);
	s = config_lookup(&cfg, "profile.gemm");
	s = config_setting_get_member(config_setting_get_elem(s, 0), "fit");
	ck_assert(s && config_setting_type(config_setting_get_member(s, "peak_TFLOPs")) == CONFIG_TYPE_FLOAT);
	ck_assert(config_setting_length(config_setting_get_member(s, "residual_rel")) == 32);
	ck_assert(config_lookup(&cfg, "profile.inputs.[2].provenance.command") != NULL);
	config_destroy(&cfg);
	unlink(path);
	prof_profile_destroy(p);
	ms_cfgw_format_float(12.0, 0, buf, sizeof buf);
	ck_assert_str_eq(buf, "12.0");
	ms_cfgw_format_float(1e9, 0, buf, sizeof buf);
	ck_assert_str_eq(buf, "1.0e+09");
	ms_cfgw_format_float(2.385, 0, buf, sizeof buf);
	ck_assert_str_eq(buf, "2.385");
	ms_cfgw_format_float(0.1 + 0.2, 0, buf, sizeof buf);
	ck_assert_str_eq(buf, "0.30000000000000004");
	ms_cfgw_format_float(612.53456789, 4, buf, sizeof buf);
	ck_assert_str_eq(buf, "612.5");
	ck_assert(ms_cfgw_format_float(INFINITY, 0, buf, sizeof buf) == 1 && strcmp(buf, "0.0") == 0);
}
END_TEST

/* --- nccl-tests ------------------------------------------------------------------------ */

static int nccl_read(const char *rel, int ranks, int scope, int in_place, prof_nccl *r, ms_error *err)
{
	char path[1024];
	prof_nccl_opts o = {ranks, scope, in_place, 0};
	ms_error_clear(err);
	return prof_nccl_read(rel[0] == '/' ? rel : data(path, sizeof path, rel), &o, r, err);
}

START_TEST(nccl_text_and_json)
{
	static prof_nccl t, j, w;
	ms_error err;
	prof_fit f;
	double x[PROF_MAX_POINTS], s[PROF_MAX_POINTS];
	ck_assert_msg(nccl_read(NCCL "alltoall_h100x8.txt", 0, -1, 0, &t, &err) == MS_OK, "%s", err.msg);
	ck_assert(!t.json && t.ranks == 8 && t.nodes == 1 && t.scope == PROF_INTRA_NODE && t.n == 21);
	ck_assert_str_eq(t.program, "alltoall_perf");
	ck_assert_str_eq(t.version, "2.17.1");
	ck_assert_str_eq(t.nccl, "2.26.3");
	ck_assert_str_eq(t.gpu, "NVIDIA H100 80GB HBM3");
	ck_assert_str_eq(t.hosts, "dgx-h100-07");
	ck_assert(t.iters == 20 && t.warmup == 5 && t.bytes[0] == 1024 && t.time_us[0] == 28.26 && t.bytes[20] == 1073741824.0);
	ck_assert_msg(nccl_read(NCCL "alltoall_h100x8.json", 0, -1, 0, &j, &err) == MS_OK, "%s", err.msg);
	ck_assert(j.json && j.ranks == 8 && j.nodes == 1 && j.scope == PROF_INTRA_NODE && j.n == 21);
	ck_assert_str_eq(j.program, "alltoall_perf");
	ck_assert_str_eq(j.nccl, "2.26.3");
	ck_assert_str_eq(j.gpu, "NVIDIA H100 80GB HBM3");
	ck_assert_str_eq(j.date, "2026-01-01 00:00:00");
	ck_contains(j.command, "./build/alltoall_perf -b 1K -e 1G");
	/* Same run: the text rounds to 2 decimals (3 significant digits at most sizes). */
	for (int i = 0; i < 21; i++)
		ck_assert_msg(j.bytes[i] == t.bytes[i] && fabs(j.time_us[i] - t.time_us[i]) <= 0.005 + 0.0005 * j.time_us[i],
			      "size %g: json %g text %g", j.bytes[i], j.time_us[i], t.time_us[i]);
	/* The generating latency and bandwidth come back (2 % noise). */
	for (int i = 0; i < j.n; i++)
		x[i] = j.bytes[i], s[i] = j.time_us[i] * 1e-6;
	ck_assert_int_eq(prof_fit_table(PROF_MODEL_LATBW, x, s, j.n, &f, "j", &err), MS_OK);
	ck_assert_msg(tu_rel(f.p[0], 28.5e-6) < 0.03 && tu_rel(1 / f.p[1], 400e9) < 0.03, "lat %g bw %g", f.p[0], 1 / f.p[1]);
	/* Two hosts, the older layout, MPI noise in the table. */
	ck_assert_msg(nccl_read(NCCL "alltoall_2node.txt", 0, -1, 0, &w, &err) == MS_OK, "%s", err.msg);
	ck_assert(w.ranks == 16 && w.nodes == 2 && w.scope == PROF_INTER_NODE && w.n == 11 && !w.program[0]);
	ck_assert_str_eq(w.hosts, "node-a, node-b");
	/* Older still: no root column, and alltoall rows print nothing under redop. */
	ck_assert_msg(nccl_read(NCCL "alltoall_v100_no_redop.txt", 0, -1, 0, &w, &err) == MS_OK, "%s", err.msg);
	ck_assert(w.ranks == 2 && w.nodes == 2 && w.scope == PROF_INTER_NODE && w.n == 2);
	ck_assert(w.bytes[1] == 536870912.0 && w.time_us[1] == 47512.4);
	/* In-place columns. */
	ck_assert_int_eq(nccl_read(NCCL "alltoall_h100x8.txt", 0, -1, 1, &w, &err), MS_OK);
	ck_assert(w.time_us[0] == 27.50 && strcmp(w.columns, "in_place") == 0);
	ck_assert_int_eq(nccl_read(NCCL "alltoall_h100x8.json", 8, PROF_INTRA_NODE, 1, &w, &err), MS_OK);
	ck_assert(fabs(w.time_us[0] - 27.504885) < 1e-9);
}
END_TEST

START_TEST(nccl_errors)
{
	static prof_nccl r;
	ms_error err;
	char path[64];
	char *txt;
	/* Malformed samples. */
	ck_assert_int_eq(nccl_read(NCCL "alltoall_truncated.txt", 0, -1, 0, &r, &err), MS_EFORMAT);
	ck_contains(err.msg, "alltoall_truncated.txt:28: 6 fields, but the column header on line 17 has 13");
	ck_assert_int_eq(nccl_read(NCCL "alltoall_wrong.txt", 0, -1, 0, &r, &err), MS_EFORMAT);
	ck_contains(err.msg, "alltoall_wrong.txt:25: #wrong = 12: nccl-tests found wrong results at 65536 bytes");
	ck_assert_int_eq(nccl_read(NCCL "alltoall_truncated.json", 0, -1, 0, &r, &err), MS_EFORMAT);
	ck_contains(err.msg, "alltoall_truncated.json:1:4561: expected ',' or '}' in an object, but the file ends");
	ck_assert_int_eq(nccl_read(NCCL "all_reduce_h100x8.txt", 0, -1, 0, &r, &err), MS_EINVAL);
	ck_contains(err.msg, "all_reduce_h100x8.txt:2: this is the output of all_reduce_perf");
	/* The same without its program line: caught by nccl-tests' busbw rule. */
	txt = slurp(data(path, sizeof path, NCCL "all_reduce_h100x8.txt"));
	{
		char *l2 = strchr(txt, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
		memmove(l2, l3, strlen(l3) + 1);
		tu_write_temp(path, sizeof path, txt);
	}
	ck_assert_int_eq(nccl_read(path, 0, -1, 0, &r, &err), MS_EINVAL);
	ck_contains(err.msg, ":23: busbw 2.37 = 1.756 x algbw 1.35, but an all-to-all of 8 ranks has busbw = algbw x (n-1)/n = 0.875");
	unlink(path);
	free(txt);
	/* No device list: ranks and scope must be given, and agree when the file has them. */
	txt = slurp(data(path, sizeof path, NCCL "alltoall_h100x8.txt"));
	{
		char *out = malloc(strlen(txt) + 1), *o = out;
		for (char *line = txt; *line;) {
			char *nl = strchr(line, '\n');
			size_t n = nl ? (size_t)(nl - line + 1) : strlen(line);
			if (strncmp(line, "#  Rank", 7) != 0) {
				memcpy(o, line, n);
				o += n;
			}
			line += n;
		}
		*o = '\0';
		tu_write_temp(path, sizeof path, out);
		free(out);
	}
	ck_assert_int_eq(nccl_read(path, 0, -1, 0, &r, &err), MS_EINVAL);
	ck_contains(err.msg, "lists no devices ('#  Rank ...' lines): give --ranks N");
	ck_assert_int_eq(nccl_read(path, 8, -1, 0, &r, &err), MS_EINVAL);
	ck_contains(err.msg, "lists no hosts, so the scope is unknown: give --scope");
	ck_assert_int_eq(nccl_read(path, 8, PROF_INTRA_NODE, 0, &r, &err), MS_OK);
	ck_assert(r.ranks == 8 && r.scope == PROF_INTRA_NODE && r.nodes == 1);
	unlink(path);
	free(txt);
	ck_assert_int_eq(nccl_read(NCCL "alltoall_h100x8.txt", 16, -1, 0, &r, &err), MS_EINVAL);
	ck_contains(err.msg, "--ranks 16, but ");
	ck_contains(err.msg, "alltoall_h100x8.txt:13 lists 8 ranks");
	ck_assert_int_eq(nccl_read(NCCL "alltoall_2node.txt", 0, PROF_INTRA_NODE, 0, &r, &err), MS_EINVAL);
	ck_contains(err.msg, "--scope intra_node, but ");
	ck_contains(err.msg, "lists 2 hosts (node-a, node-b)");
	/* Hand-made breakages. */
	{
		static const struct {
			const char *text, *want;
		} bad[] = {
			{"", "is empty"},
			{"hello\n", "no column header"},
			{"#  size count type redop root time algbw busbw #wrong time algbw busbw #wrong\n"
			 "  1024  32  float  none  -1  abc  0.04  0.03  0  27.50  0.04  0.03  N/A\n",
			 ":2: time 'abc' is not a number >= 0"},
			{"  1024  32  float  none  -1  28.2  0.04  0.03  0  27.50  0.04  0.03  N/A\n", ":1: a result line before the column header"},
			{"#  size count type redop root time algbw busbw #wrong time algbw busbw #wrong\n"
			 "  1024  32  float  none  -1  28.2  0.04  0.03  0  27.50  0.04  0.03  N/A\n",
			 ":2: no '# Avg bus bandwidth' line after the results: the output is truncated"},
			{"#  size count type redop root time algbw busbw #wrong time algbw busbw #wrong\n# Out of bounds values : 3 FAILED\n",
			 ":2: nccl-tests reports out-of-bounds values (FAILED)"},
			{"{\"results\": [{\"size\": 1024, \"out_of_place\": {\"time\": \"nan\", \"alg_bw\": 0.1, \"bus_bw\": 0.1}}]}",
			 ":1:54: results[0].out_of_place.time is \"nan\": nccl-tests could not time it"},
			{"{\"results\": [{\"size\": 1024, \"out_of_place\": null}]}", ":1:45: results[0].out_of_place is null (use --in-place"},
			{"{\"config\": {}}", ":1:1: no \"results\" list"},
			{"{\"results\": [], \"out_of_bounds\": {\"count\": 2, \"okay\": \"false\"}}",
			 ":1:55: nccl-tests reports out-of-bounds values"},
			{"{\"results\": [1, 2,]}", ":1:19: expected a value, found ']'"},
			{"{\"a\": \"x\\qy\"}", ":1:9: an unknown escape in a string"},
			{"[1] [2]", ":1:5: text after the end of the JSON value"},
			/* Found by fuzzing (tests/fuzz/regress/nccl/): size x ranks overflowed int64. */
			{"{\"results\": [{\"size\": 1024, \"out_of_place\": {\"time\": 28.2, \"alg_bw\": 0.04, \"bus_bw\": 0.03}},\n"
			 "{\"size\": 5362147483648870400, \"out_of_place\": {\"time\": 28.2, \"alg_bw\": 0.04, \"bus_bw\": 0.03}}]}",
			 ":2: size 5.3621474836488704e+18 bytes is out of range: size x 8 ranks must stay below 2^62 bytes"},
		};
		for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			tu_write_temp(path, sizeof path, bad[i].text);
			ck_assert_msg(nccl_read(path, 8, PROF_INTRA_NODE, 0, &r, &err) < 0, "case %zu accepted", i);
			ck_assert_msg(strstr(err.msg, bad[i].want) != NULL, "case %zu: got '%s', want '%s'", i, err.msg, bad[i].want);
			unlink(path);
		}
	}
}
END_TEST

START_TEST(nccl_merges_repeated_sizes_and_writes_a_profile)
{
	static prof_nccl r;
	ms_error err;
	char path[64], out[64], src[1024];
	char *txt = slurp(data(src, sizeof src, NCCL "alltoall_h100x8.txt"));
	char *rows = strstr(txt, "        1024"), *foot = strstr(txt, "# Out of bounds"), *all;
	size_t nr = (size_t)(foot - rows);
	prof_profile *p;
	const prof_table *t;
	FILE *f;
	/* -d all prints every size once per type: same sizes again, 3 x slower as "half". */
	all = malloc(strlen(txt) + 2 * nr + 1);
	memcpy(all, txt, (size_t)(foot - txt));
	memcpy(all + (foot - txt), rows, nr);
	memcpy(all + (foot - txt) + nr, rows, nr);
	strcpy(all + (foot - txt) + 2 * nr, foot);
	tu_write_temp(path, sizeof path, all);
	ck_assert_int_eq(nccl_read(path, 0, -1, 0, &r, &err), MS_OK);
	ck_assert(r.n == 21 && r.rows[0] == 3 && r.time_us[0] == 28.26);
	/* Written, it reads back as a profile, and merges with the GPU's gemm tables. */
	tu_write_temp(out, sizeof out, "");
	f = fopen(out, "w");
	ck_assert_int_eq(prof_nccl_write(&r, f, path, "moesim calibrate import-nccl-tests x", &err), MS_OK);
	fclose(f);
	p = load_ok(out, SYN "gemm.cfg", NULL);
	t = prof_profile_table(p, 0);
	ck_assert(t->kind == PROF_ALLTOALL && t->ranks == 8 && t->scope == PROF_INTRA_NODE && t->n == 21 &&
		  tu_rel(t->t_s[3], r.time_us[3] * 1e-6) < 1e-15);
	ck_assert(prof_profile_ntables(p) == 11);
	prof_profile_destroy(p);
	unlink(out);
	unlink(path);
	free(all);
	free(txt);
}
END_TEST

/* --- the compute model with a profile --------------------------------------------------- */

static const char model_cfg[] = "model = { hidden = 4096; ffn_hidden = 14336; experts = %d; top_k = 2; moe_layers = 2;\n"
				"          heads = 32; kv_heads = 8; dtype = \"%s\"; };\n"
				"cluster = { gpu = \"h100-sxm\"; nodes = 1; gpus_per_node = 8; profile = \"%s\"; };\n"
				"parallel = { ep = 8; };\n"
				"workload = { mode = \"%s\"; tokens_per_rank = 2048; seq_len = 2048; steps = 1; };\n"
				"routing = { distribution = \"balanced\"; capacity_factor = 1.0; };\n";

static int model_with(moe_model *m, scn_scenario *s, int experts, const char *dtype, const char *profile,
		      const char *mode, ms_error *err)
{
	char text[4096];
	snprintf(text, sizeof text, model_cfg, experts, dtype, profile, mode);
	ms_error_clear(err);
	if (scn_scenario_load_text(s, text, "hand", NULL, err) < 0)
		ck_abort_msg("%s", err->msg);
	return tu_model_init(m, s, err);
}

/* The index of x value v in table t. */
static int x_index(const prof_table *t, double v)
{
	for (int i = 0; i < t->n; i++)
		if (t->x[i] == v)
			return i;
	ck_abort_msg("%g is not a point of the table", v);
	return -1;
}

/* The measured time of a table at one of its points. */
static double table_at(const prof_profile *p, int hidden, int ffn, prof_pass pass, int experts, double tokens)
{
	const prof_table *t = prof_profile_find_gemm(p, "bf16", hidden, ffn, pass, experts);
	ck_assert(t && t->experts == experts);
	for (int i = 0; i < t->n; i++)
		if (t->x[i] == tokens)
			return t->t_s[i];
	ck_abort_msg("%g tokens is not a table point", tokens);
	return 0;
}

START_TEST(model_uses_measured_tables)
{
	static moe_model m, m0;
	static scn_scenario s;
	char prof[2200], g[1024], c[1024];
	ms_error err;
	prof_profile *p = load_ok(SYN "gemm.cfg", SYN "copy.cfg", NULL);
	const int32_t one[1] = {4096}, eight[8] = {256, 256, 256, 256, 256, 256, 256, 256}, skew[8] = {512, 0, 96, 4096, 1, 0, 0, 3};
	double want;
	snprintf(prof, sizeof prof, "%s,%s", data(g, sizeof g, SYN "gemm.cfg"), data(c, sizeof c, SYN "copy.cfg"));
	/* 8 experts on 8 GPUs: one local expert, the experts = 1 tables. */
	ck_assert_msg(model_with(&m, &s, 8, "bf16", prof, "training", &err) == MS_OK, "%s", err.msg);
	ck_assert(m.calibrated && m.gemm_tables && m.gemm_experts[PROF_FWD] == 1);
	ck_assert(tu_rel(moe_expert_time(&m, one, 1, MOE_FWD), table_at(p, 4096, 14336, PROF_FWD, 1, 4096)) < 1e-12);
	want = table_at(p, 4096, 14336, PROF_BWD_DGRAD, 1, 4096) + table_at(p, 4096, 14336, PROF_BWD_WGRAD, 1, 4096);
	ck_assert(tu_rel(moe_expert_time(&m, one, 1, MOE_BWD), want) < 1e-12);
	/* 64 experts on 8 GPUs: eight local experts, the grouped tables, 1/8 of a row each. */
	ck_assert_msg(model_with(&m, &s, 64, "bf16", prof, "training", &err) == MS_OK, "%s", err.msg);
	ck_assert(m.gemm_experts[PROF_FWD] == 8 && m.gemm_experts[PROF_BWD_WGRAD] == 8);
	ck_assert(tu_rel(moe_expert_time(&m, eight, 8, MOE_FWD), table_at(p, 4096, 14336, PROF_FWD, 8, 256)) < 1e-12);
	/* Uneven loads: each expert at its own count; none, no time. */
	want = 0;
	for (int e = 0; e < 8; e++)
		if (skew[e] > 0)
			want += table_at(p, 4096, 14336, PROF_FWD, 8, skew[e]) / 8;
	ck_assert(tu_rel(moe_expert_time(&m, skew, 8, MOE_FWD), want) < 1e-12);
	/* Permutes from the gather/unpermute tables (hidden 4096, top-2: exact matches). */
	{
		const prof_table *gt = prof_profile_find_permute(p, PROF_GATHER, 4096, 1);
		const prof_table *ut = prof_profile_find_permute(p, PROF_UNPERMUTE, 4096, 2);
		ck_assert(tu_rel(moe_permute_time(&m, 1024), gt->t_s[x_index(gt, 1024)]) < 1e-12);
		ck_assert(tu_rel(moe_unpermute_time(&m, 1024), ut->t_s[x_index(ut, 1024)]) < 1e-12);
		/* The copy table's best rate is the achieved HBM rate. */
		ck_assert(tu_rel(m.mem_Bps, 2 * 1073741824.0 / prof_profile_find(p, PROF_COPY)->t_s[20]) < 1e-12);
	}
	/* The dense part stays FLOPs x efficiency (same rates as without a profile). */
	ck_assert(model_with(&m0, &s, 64, "bf16", "", "training", &err) == MS_OK);
	ck_assert(m.dense_Fps == m0.dense_Fps && !m0.calibrated);
	ck_assert(moe_permute_time(&m0, 1024) == moe_unpermute_time(&m0, 1024));
	prof_profile_destroy(p);
}
END_TEST

START_TEST(model_profile_errors_and_fallbacks)
{
	static moe_model m;
	static scn_scenario s;
	char g[1024], d[1024], prof[2200], path[64];
	ms_error err;
	/* fp8: only a forward table for 7168x2048; this model is 4096x14336 anyway. */
	ck_assert_int_eq(model_with(&m, &s, 8, "fp8", data(g, sizeof g, SYN "gemm.cfg"), "prefill", &err), MS_EINVAL);
	ck_contains(err.msg, "hand:3: cluster.profile: ");
	ck_contains(err.msg, "has no fp8_e4m3 gemm table for hidden 4096 x ffn 14336, pass fwd (the model's dtype and shape); it "
			     "has: bf16 4096x14336 (experts 1, 8; fwd, bwd_dgrad, bwd_wgrad); bf16 7168x2048");
	ck_contains(err.msg, "Measure it: cal_gemm --hidden 4096 --ffn 14336 --experts 1 --dtype fp8");
	/* A missing file, named with where the key was set. */
	ck_assert_int_eq(model_with(&m, &s, 8, "bf16", "/nonexistent/p.cfg", "training", &err), MS_EIO);
	ck_assert_str_eq(err.msg, "hand:3: cluster.profile: cannot read profile '/nonexistent/p.cfg': No such file or directory");
	/* A datasheet profile: its peaks replace the table's, efficiencies still apply. */
	tu_write_temp(path, sizeof path,
		      "profile = { name = \"slow\"; source = \"datasheet\"; provenance = { citation = \"made up for a test\"; };\n"
		      "  gpu = { peak_bf16_TFLOPs = 238.5; peak_fp8_TFLOPs = 0.0; peak_tf32_TFLOPs = 119.0; hbm_GBps = 1234.5; }; };\n");
	ck_assert_msg(model_with(&m, &s, 8, "bf16", path, "training", &err) == MS_OK, "%s", err.msg);
	ck_assert(!m.gemm_tables && tu_rel(m.gemm_Fps, 238.5e12 * s.cluster.gemm_efficiency) < 1e-15 &&
		  tu_rel(m.mem_Bps, 1234.5e9 * s.cluster.memory_efficiency) < 1e-15 &&
		  tu_rel(m.dense_Fps, 238.5e12 * s.cluster.dense_efficiency) < 1e-15);
	ck_assert_int_eq(model_with(&m, &s, 8, "fp8", path, "training", &err), MS_EINVAL);
	ck_contains(err.msg, "gives gpu.peak_fp8_TFLOPs = 0 (no FP8 tensor cores)");
	/* Datasheet peaks + measured tables: the tables win for experts, peaks for attention. */
	snprintf(prof, sizeof prof, "%s,%s", path, data(g, sizeof g, SYN "gemm.cfg"));
	ck_assert_msg(model_with(&m, &s, 8, "bf16", prof, "training", &err) == MS_OK, "%s", err.msg);
	ck_assert(m.gemm_tables && tu_rel(m.dense_Fps, 238.5e12 * s.cluster.dense_efficiency) < 1e-15);
	unlink(path);
	/* Only a copy table: permutes are copies of the same bytes. */
	ck_assert_msg(model_with(&m, &s, 8, "bf16", data(d, sizeof d, SYN "copy.cfg"), "training", &err) == MS_OK, "%s",
		      err.msg);
	ck_assert(!m.gemm_tables && m.gather_table);
	{
		/* Without its permute tables: a copy of 4096 x 2 bytes per row. */
		char t2[64];
		char *txt = slurp(d), *cut = strstr(txt, "  permute = (");
		char *end = strstr(cut, "\n  );\n");
		memmove(cut, end + 6, strlen(end + 6) + 1);
		tu_write_temp(t2, sizeof t2, txt);
		ck_assert_msg(model_with(&m, &s, 8, "bf16", t2, "training", &err) == MS_OK, "%s", err.msg);
		{
			prof_profile *p = load_ok(t2, NULL);
			prof_curve c;
			prof_table_curve(prof_profile_find(p, PROF_COPY), &c);
			ck_assert(tu_rel(moe_permute_time(&m, 1000), prof_curve_eval(&c, 1000 * 8192.0)) < 1e-12);
			ck_assert(tu_rel(moe_unpermute_time(&m, 1000), prof_curve_eval(&c, 1000 * 8192.0 * 0.75)) < 1e-12);
			prof_profile_destroy(p);
		}
		unlink(t2);
		free(txt);
	}
}
END_TEST

START_TEST(relative_profile_path_from_the_scenario_directory)
{
	static moe_model m;
	static scn_scenario s;
	char dir[64], path[128], src[1024], text[4096];
	char *gemm = slurp(data(src, sizeof src, SYN "gemm.cfg"));
	ms_error err;
	tu_temp_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/gemm.cfg", dir);
	spit(path, gemm);
	snprintf(text, sizeof text, model_cfg, 8, "bf16", "gemm.cfg", "training");
	snprintf(path, sizeof path, "%s/run.cfg", dir);
	spit(path, text);
	ms_error_clear(&err);
	ck_assert_msg(scn_scenario_load(&s, path, NULL, &err) == MS_OK, "%s", err.msg);
	ck_assert_msg(moe_model_init(&m, &s, tu_inputs(&s)->profile, &err) == MS_OK, "%s", err.msg);
	ck_assert(m.gemm_tables);
	unlink(path);
	snprintf(path, sizeof path, "%s/gemm.cfg", dir);
	unlink(path);
	rmdir(dir);
	free(gemm);
}
END_TEST

START_TEST(run_with_profile_by_hand)
{
	/* Balanced routing, 8 experts on 8 GPUs, top-2, 2048 tokens per GPU: every expert
	 * gets 8 x 2048 x 2 / 8 = 4096 tokens, a table point, so the expert phase is the
	 * measured time itself; each GPU gathers 4096 rows (a gather table point). */
	static scn_scenario s;
	char text[4096], g[1024], c[1024], prof[2200];
	sim_result *r = NULL;
	ms_error err;
	prof_profile *p = load_ok(SYN "gemm.cfg", SYN "copy.cfg", NULL);
	const prof_table *gt = prof_profile_find_permute(p, PROF_GATHER, 4096, 1);
	snprintf(prof, sizeof prof, "%s,%s", data(g, sizeof g, SYN "gemm.cfg"), data(c, sizeof c, SYN "copy.cfg"));
	snprintf(text, sizeof text, model_cfg, 8, "bf16", prof, "training");
	ms_error_clear(&err);
	ck_assert(scn_scenario_load_text(&s, text, "hand", NULL, &err) == MS_OK);
	ck_assert_msg(sim_run_scenario(&s, 0, &r, &err) == MS_OK, "%s", err.msg);
	int gi = x_index(gt, 4096);
	for (int rank = 0; rank < 8; rank++)
		for (int l = 0; l < 2; l++) {
			double fe = r->phase_s[sim_phase_index(r, 0, l, rank, SIM_PH_EXPERT)];
			double be = r->phase_s[sim_phase_index(r, 1, l, rank, SIM_PH_EXPERT)];
			double pe = r->phase_s[sim_phase_index(r, 0, l, rank, SIM_PH_PERMUTE)];
			ck_assert_msg(tu_rel(fe, table_at(p, 4096, 14336, PROF_FWD, 1, 4096)) < 1e-9, "fwd expert %g", fe);
			ck_assert(tu_rel(be, table_at(p, 4096, 14336, PROF_BWD_DGRAD, 1, 4096) +
						   table_at(p, 4096, 14336, PROF_BWD_WGRAD, 1, 4096)) < 1e-9);
			ck_assert_msg(tu_rel(pe, gt->t_s[gi]) < 1e-9, "permute %g, table %g", pe, gt->t_s[gi]);
		}
	sim_result_free(r);
	prof_profile_destroy(p);
}
END_TEST

/* --- the command line, in-process ------------------------------------------------------- */

/* Runs cli_main with stdout and stderr captured into out (truncated to len). */
static int run_cli(char *out, size_t len, int argc, const char **argv)
{
	char path[64];
	int saved[2], fd, rc;
	FILE *f;
	size_t n;
	tu_write_temp(path, sizeof path, "");
	fflush(stdout);
	fflush(stderr);
	saved[0] = dup(1);
	saved[1] = dup(2);
	fd = open(path, O_WRONLY | O_TRUNC);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	rc = cli_main(argc, (char **)(uintptr_t)argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved[0], 1);
	dup2(saved[1], 2);
	close(saved[0]);
	close(saved[1]);
	f = fopen(path, "r");
	n = fread(out, 1, len - 1, f);
	out[n] = '\0';
	fclose(f);
	unlink(path);
	return rc;
}

START_TEST(cli_calibrate_commands)
{
	char dir[64], outp[128], a2a[128], g[1024], c[1024], n1[1024], n2[1024], log[16384];
	struct stat st;
	tu_temp_dir(dir, sizeof dir);
	snprintf(outp, sizeof outp, "%s/h100.cfg", dir);
	snprintf(a2a, sizeof a2a, "%s/a2a.cfg", dir);
	data(g, sizeof g, SYN "gemm.cfg");
	data(c, sizeof c, SYN "copy.cfg");
	data(n1, sizeof n1, NCCL "alltoall_h100x8.json");
	data(n2, sizeof n2, NCCL "alltoall_truncated.txt");
	{
		const char *argv[] = {"moesim", "calibrate", "import-nccl-tests", n1, "-o", a2a};
		ck_assert_msg(run_cli(log, sizeof log, 6, argv) == 0, "%s", log);
		ck_contains(log, "21 sizes, 1024 .. 1073741824 bytes per rank, 8 ranks on 1 node (intra_node)");
		ck_assert(run_cli(log, sizeof log, 6, argv) == 1);
		ck_contains(log, "exists; pass --force to overwrite it");
	}
	{
		const char *argv[] = {"moesim", "calibrate", "fit", g, c, a2a, "-o", outp};
		ck_assert_msg(run_cli(log, sizeof log, 8, argv) == 0, "%s", log);
		ck_contains(log, "gemm bf16 4096x14336 E=8 fwd");
		ck_contains(log, "alltoall intra_node 8 ranks");
		ck_assert(stat(outp, &st) == 0);
	}
	{
		/* The fitted profile runs a scenario. */
		char set[300];
		const char *argv[] = {"moesim", "run", "--set", set, "--set", "workload.steps=1", "-q"};
		snprintf(set, sizeof set, "cluster.profile=%s", outp);
		ck_assert_msg(run_cli(log, sizeof log, 7, argv) == 0, "%s", log);
	}
	{
		const char *argv[] = {"moesim", "calibrate", "import-nccl-tests", n2, "-o", outp, "--force"};
		ck_assert(run_cli(log, sizeof log, 7, argv) == 1);
		ck_contains(log, "moesim: ");
		ck_contains(log, "alltoall_truncated.txt:28: 6 fields");
	}
	{
		const char *argv[] = {"moesim", "calibrate", "fit", g};
		ck_assert(run_cli(log, sizeof log, 4, argv) == 2);
		ck_contains(log, "calibrate fit needs -o OUT.cfg");
	}
	{
		const char *argv[] = {"moesim", "calibrate", "frobnicate"};
		ck_assert(run_cli(log, sizeof log, 3, argv) == 2);
		ck_contains(log, "unknown calibrate command 'frobnicate'");
	}
	{
		const char *argv[] = {"moesim", "calibrate", "import-nccl-tests", n1, "--scope", "rack"};
		ck_assert(run_cli(log, sizeof log, 6, argv) == 2);
		ck_contains(log, "--scope rack: expected intra_node or inter_node");
	}
	unlink(outp);
	unlink(a2a);
	/* nothing half-written left behind */
	{
		char tmpglob[160];
		snprintf(tmpglob, sizeof tmpglob, "%s/h100.cfg.tmp.%ld", dir, (long)getpid());
		ck_assert(stat(tmpglob, &st) != 0);
	}
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

Suite *profile_suite(void)
{
	Suite *s = suite_create("profile");
	TCase *tc = tcase_create("profile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, steffen_matches_gsl);
	tcase_add_test(tc, curve_monotone_and_extrapolates_with_the_fit);
	tcase_add_test(tc, fit_latbw_exact);
	tcase_add_test(tc, fit_roofline_exact);
	tcase_add_test(tc, fit_noisy_within_errors);
	tcase_add_test(tc, fit_degenerate_tables_hold_parameters);
	tcase_add_test(tc, shipped_datasheet_profiles_load);
	tcase_add_test(tc, reads_calibration_program_output);
	tcase_add_test(tc, fits_recover_generating_parameters);
	tcase_add_test(tc, lookups);
	tcase_add_test(tc, reader_errors_name_file_line_and_key);
	tcase_add_test(tc, merging_rules);
	tcase_add_test(tc, writer_round_trip);
	tcase_add_test(tc, nccl_text_and_json);
	tcase_add_test(tc, nccl_errors);
	tcase_add_test(tc, nccl_merges_repeated_sizes_and_writes_a_profile);
	tcase_add_test(tc, model_uses_measured_tables);
	tcase_add_test(tc, model_profile_errors_and_fallbacks);
	tcase_add_test(tc, relative_profile_path_from_the_scenario_directory);
	tcase_add_test(tc, run_with_profile_by_hand);
	tcase_add_test(tc, cli_calibrate_commands);
	suite_add_tcase(s, tc);
	return s;
}
