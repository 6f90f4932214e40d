/*
 * prof_fit.h - the two cost models fitted to measured tables, by nonlinear least
 * squares on relative residuals (GSL's gsl_multifit_nlinear, Levenberg-Marquardt).
 *
 * latency + size / bandwidth (PROF_MODEL_LATBW), for all-to-all, copies and permutes:
 *     t(x) = p[0] + p[1] * x
 *   p[0] the latency in seconds, p[1] seconds per unit of x (bytes or rows). This is
 *   Hockney's alpha-beta model (R. W. Hockney, "The communication challenge for MPP:
 *   Intel Paragon and Meiko CS-2", Parallel Computing 20(3), 1994), the form nccl-tests'
 *   doc/PERFORMANCE.md describes ("overhead + size / bw").
 *
 * roofline with a launch latency (PROF_MODEL_ROOFLINE), for expert GEMMs:
 *     t(n) = p[0] + p[2] * max(p[1], n)
 *   n tokens per expert; p[0] = t0, the launch latency; p[2] = c, seconds per token once
 *   compute-bound (c = FLOPs per token / achieved peak FLOP/s); p[1] = the knee in
 *   tokens, below which the time is the weight read from HBM, p[2] * p[1] = weight
 *   bytes / achieved bandwidth. It is the roofline of S. Williams, A. Waterman and
 *   D. Patterson ("Roofline: an insightful visual performance model for multicore
 *   architectures", CACM 52(4), 2009): attainable FLOP/s = min(peak, intensity x
 *   bandwidth), with intensity growing in proportion to n because the weights are read
 *   once whatever n is. Its achieved efficiency is min(1, n / knee) x peak.
 *   The rejected alternative, a Hockney n_1/2 efficiency t0 + F n / (P n / (n + n_1/2)),
 *   is affine in n, t0 + F (n + n_1/2) / P, so t0 and n_1/2 trade off exactly and
 *   cannot both be fitted.
 *
 * Fitting minimises sum ((f(x_i) - t_i) / t_i)^2: tables span five decades of time and
 * the simulator needs every point to a few percent, not the largest ones to a few
 * microseconds. The start comes from a closed form (weighted linear least squares; for
 * the roofline, for every knee on a fine grid), so the result does not depend on a
 * guess. A parameter the table cannot determine is held fixed, with the reason in
 * `fixed` and a standard error of 0: t0 < 0 (held at 0), a knee at or below the first
 * point (no memory-bound plateau measured: held at the first point, so below the table
 * the time stays at the first point's), a knee at the last point (nothing compute-bound
 * measured: t0 held at 0 and the knee at the last point).
 *
 * Standard errors are sqrt(diag(s^2 (J^T J)^-1)), s^2 = residual sum of squares / dof,
 * from gsl_multifit_nlinear_covar at the solution.
 */
#ifndef PROF_FIT_H
#define PROF_FIT_H

#include "common/ms_error.h"

typedef enum { PROF_MODEL_NONE = 0, PROF_MODEL_LATBW = 1, PROF_MODEL_ROOFLINE = 2 } prof_model;

/* Bits of prof_fit.fixed. */
enum { PROF_FIX_T0 = 1u << 0, PROF_FIX_KNEE = 1u << 1 };

/* Most points a table may have (the calibration programs write at most about 40). */
#define PROF_MAX_POINTS 256

typedef struct prof_fit {
	prof_model model;
	double p[3];      /* parameters as above, SI units (seconds, tokens, bytes or rows) */
	double se[3];     /* their standard errors; 0 when fixed or when dof = 0 */
	double cov[3][3]; /* their covariance (SI units; rows and columns of fixed ones 0) */
	unsigned fixed;   /* PROF_FIX_* bits */
	int points;       /* table points fitted */
	int dof;          /* points - free parameters */
	double rms_rel;   /* root mean square of the relative residuals */
	double max_rel;   /* largest |relative residual| */
	double resid_rel[PROF_MAX_POINTS]; /* (f(x_i) - t_i) / t_i; only when fitted here */
	int has_resid;    /* 1 when resid_rel holds the residuals (fitted, not read) */
} prof_fit;

/* The model's time at x (x >= 0). */
double prof_fit_eval(const prof_fit *f, double x);

/*
 * Fits model to the n points (x strictly increasing, > 0; t > 0; 2 <= n <=
 * PROF_MAX_POINTS). what names the table in messages ("gemm.cfg:42: gemm[3]").
 * Returns MS_OK, or MS_EINVAL when the table cannot be described by the model (time
 * falling with size). Leaves GSL's error handler as it found it.
 */
int prof_fit_table(prof_model model, const double *x, const double *t, int n, prof_fit *out, const char *what,
		   ms_error *err);

/* Fills the residual statistics of f against the points (used after reading a fit). */
void prof_fit_residuals(prof_fit *f, const double *x, const double *t, int n);

#endif
