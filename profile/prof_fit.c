/*
 * prof_fit.c - nonlinear least squares for the cost models (see prof_fit.h).
 *
 * The solver works in normalised units, x / x_max and t / t_max, so every parameter
 * is of order one whatever the table's units (bytes up to 2^30, seconds down to
 * 1e-6); GSL's Levenberg-Marquardt is badly conditioned otherwise. Results and their
 * covariance are scaled back at the end. Cost: the roofline start scans PROF_KNEE_GRID
 * knees with a closed-form weighted fit each, O(grid x n); the refinement is a few
 * LM iterations on n <= PROF_MAX_POINTS residuals.
 */
#include "profile/prof_fit.h"

#include <float.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_vector.h>

#define PROF_KNEE_GRID 400

double prof_fit_eval(const prof_fit *f, double x)
{
	switch (f->model) {
	case PROF_MODEL_LATBW:
		return f->p[0] + f->p[1] * x;
	case PROF_MODEL_ROOFLINE:
		return f->p[0] + f->p[2] * fmax(f->p[1], x);
	default:
		break;
	}
	MS_ASSERT(0, "model %d has no formula", (int)f->model);
	return 0;
}

/* The problem in normalised units: u = x / xs, v = t / ts; q the normalised parameters. */
typedef struct problem {
	prof_model model;
	int n;
	double u[PROF_MAX_POINTS], v[PROF_MAX_POINTS];
	double q[3];     /* every parameter, fixed ones included */
	int free_idx[3]; /* free parameter k is q[free_idx[k]] */
	int nfree;
} problem;

static double model_norm(const problem *P, const double *q, double u)
{
	return P->model == PROF_MODEL_LATBW ? q[0] + q[1] * u : q[0] + q[2] * fmax(q[1], u);
}

/* d model / d q[j] at u. */
static double deriv_norm(const problem *P, const double *q, double u, int j)
{
	if (P->model == PROF_MODEL_LATBW)
		return j == 0 ? 1.0 : u;
	switch (j) {
	case 0: return 1.0;
	case 1: return q[1] > u ? q[2] : 0.0;
	default: return fmax(q[1], u);
	}
}

static void unpack(const problem *P, const gsl_vector *x, double *q)
{
	memcpy(q, P->q, sizeof P->q);
	for (int k = 0; k < P->nfree; k++)
		q[P->free_idx[k]] = gsl_vector_get(x, (size_t)k);
}

static int resid_f(const gsl_vector *x, void *data, gsl_vector *f)
{
	const problem *P = data;
	double q[3];
	unpack(P, x, q);
	for (int i = 0; i < P->n; i++)
		gsl_vector_set(f, (size_t)i, (model_norm(P, q, P->u[i]) - P->v[i]) / P->v[i]);
	return GSL_SUCCESS;
}

static int resid_df(const gsl_vector *x, void *data, gsl_matrix *J)
{
	const problem *P = data;
	double q[3];
	unpack(P, x, q);
	for (int i = 0; i < P->n; i++)
		for (int k = 0; k < P->nfree; k++)
			gsl_matrix_set(J, (size_t)i, (size_t)k, deriv_norm(P, q, P->u[i], P->free_idx[k]) / P->v[i]);
	return GSL_SUCCESS;
}

static double ssr(const problem *P, const double *q)
{
	double s = 0;
	for (int i = 0; i < P->n; i++) {
		double r = (model_norm(P, q, P->u[i]) - P->v[i]) / P->v[i];
		s += r * r;
	}
	return s;
}

/*
 * Weighted least squares of v = a + b X with weights 1 / v^2 (relative residuals).
 * With a_zero, a is held at 0. Returns 0, or -1 when the system is singular.
 */
static int wls_line(const problem *P, const double *X, int a_zero, double *a, double *b)
{
	double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, det;
	for (int i = 0; i < P->n; i++) {
		double w = 1.0 / (P->v[i] * P->v[i]);
		sw += w;
		sx += w * X[i];
		sy += w * P->v[i];
		sxx += w * X[i] * X[i];
		sxy += w * X[i] * P->v[i];
	}
	if (a_zero) {
		if (sxx <= 0)
			return -1;
		*a = 0;
		*b = sxy / sxx;
		return 0;
	}
	det = sw * sxx - sx * sx;
	if (!(fabs(det) > 1e-14 * sw * sxx))
		return -1;
	*a = (sxx * sy - sx * sxy) / det;
	*b = (sw * sxy - sx * sy) / det;
	return 0;
}

/* Fits v = a + b X with a >= 0 (held at 0 when the free fit is negative). */
static int fit_line_nonneg(const problem *P, const double *X, double *a, double *b, int *a_fixed)
{
	*a_fixed = 0;
	if (wls_line(P, X, 0, a, b) == 0 && *a >= 0)
		return 0;
	*a_fixed = 1;
	return wls_line(P, X, 1, a, b);
}

/* The starting point: closed forms, with the fixed bits they imply. */
static int start_point(problem *P, unsigned *fixed)
{
	double X[PROF_MAX_POINTS];
	int a_fixed;
	*fixed = 0;
	if (P->model == PROF_MODEL_LATBW) {
		if (fit_line_nonneg(P, P->u, &P->q[0], &P->q[1], &a_fixed) < 0 || !(P->q[1] > 0))
			return -1;
		if (a_fixed)
			*fixed |= PROF_FIX_T0;
		P->q[2] = 0;
		return 0;
	}
	{
		/* For every knee k on a log grid from the first point to the last (and at every
		 * point), t = t0 + c max(k, u) is linear in (t0, c): keep the best. */
		double best = DBL_MAX, umin = P->u[0];
		int found = 0;
		for (int g = 0; g <= PROF_KNEE_GRID + P->n; g++) {
			double k, a, b, q[3], s;
			if (g <= PROF_KNEE_GRID)
				k = umin * pow(1.0 / umin, (double)g / PROF_KNEE_GRID);
			else
				k = P->u[g - PROF_KNEE_GRID - 1];
			if (g == PROF_KNEE_GRID)
				k = 1.0;
			for (int i = 0; i < P->n; i++)
				X[i] = fmax(k, P->u[i]);
			if (k >= 1.0) {
				/* Every point memory-bound: only t0 + c k is determined; hold t0 at 0. */
				if (wls_line(P, X, 1, &a, &b) < 0)
					continue;
				a_fixed = 1;
			} else if (fit_line_nonneg(P, X, &a, &b, &a_fixed) < 0) {
				continue;
			}
			if (!(b > 0))
				continue;
			q[0] = a, q[1] = k, q[2] = b;
			s = ssr(P, q);
			if (s < best * (1 - 1e-12)) {
				best = s;
				memcpy(P->q, q, sizeof q);
				*fixed = (a_fixed ? PROF_FIX_T0 : 0u) | (k <= umin || k >= 1.0 ? PROF_FIX_KNEE : 0u);
				found = 1;
			}
		}
		return found ? 0 : -1;
	}
}

static int valid(const problem *P, const double *q)
{
	if (P->model == PROF_MODEL_LATBW)
		return q[0] >= 0 && q[1] > 0 && isfinite(q[0]) && isfinite(q[1]);
	return q[0] >= 0 && q[2] > 0 && q[1] >= P->u[0] && q[1] <= 1.0 && isfinite(q[0]) && isfinite(q[1]) &&
	       isfinite(q[2]);
}

/* The free parameters of P under the fixed bits (LM needs no more than n of them:
 * with two points the roofline's knee, then its t0, are held too). */
static void set_free(problem *P, unsigned *fixed)
{
	for (;;) {
		P->nfree = 0;
		for (int j = 0; j < (P->model == PROF_MODEL_LATBW ? 2 : 3); j++) {
			unsigned bit = j == 0 ? PROF_FIX_T0 : j == 1 && P->model == PROF_MODEL_ROOFLINE ? PROF_FIX_KNEE : 0u;
			if (!(*fixed & bit))
				P->free_idx[P->nfree++] = j;
		}
		if (P->nfree <= P->n)
			return;
		*fixed |= P->model == PROF_MODEL_ROOFLINE && !(*fixed & PROF_FIX_KNEE) ? PROF_FIX_KNEE : PROF_FIX_T0;
	}
}

/* Levenberg-Marquardt from P->q over the free parameters: the solver's position in q
 * (P->q is left as it was). Returns 0, or -1 when the solver failed. */
static int lm(const problem *P, double *q)
{
	gsl_multifit_nlinear_parameters params = gsl_multifit_nlinear_default_parameters();
	gsl_multifit_nlinear_fdf fdf;
	gsl_multifit_nlinear_workspace *w;
	gsl_vector *x0;
	int info, rc = -1;
	memcpy(q, P->q, sizeof P->q);
	if (P->nfree == 0)
		return 0;
	fdf.f = resid_f;
	fdf.df = resid_df;
	fdf.fvv = NULL;
	fdf.n = (size_t)P->n;
	fdf.p = (size_t)P->nfree;
	/* GSL's callbacks take void *; they only read the problem. */
	fdf.params = (void *)(uintptr_t)P;
	params.trs = gsl_multifit_nlinear_trs_lm;
	w = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &params, (size_t)P->n, (size_t)P->nfree);
	x0 = gsl_vector_alloc((size_t)P->nfree);
	if (w && x0) {
		int r;
		for (int k = 0; k < P->nfree; k++)
			gsl_vector_set(x0, (size_t)k, P->q[P->free_idx[k]]);
		r = gsl_multifit_nlinear_init(x0, &fdf, w);
		if (r == GSL_SUCCESS)
			r = gsl_multifit_nlinear_driver(200, 1e-14, 1e-14, 0.0, NULL, NULL, &info, w);
		if (r == GSL_SUCCESS || r == GSL_EMAXITER) {
			unpack(P, gsl_multifit_nlinear_position(w), q);
			rc = 0;
		}
	}
	gsl_vector_free(x0);
	gsl_multifit_nlinear_free(w);
	return rc;
}

/* (J^T J)^-1 of the free parameters at P->q, normalised units, in cov. */
static void covariance(const problem *P, double cov[3][3])
{
	gsl_matrix *J, *C;
	memset(cov, 0, sizeof(double) * 9);
	if (P->nfree == 0)
		return;
	J = gsl_matrix_alloc((size_t)P->n, (size_t)P->nfree);
	C = gsl_matrix_alloc((size_t)P->nfree, (size_t)P->nfree);
	if (J && C) {
		gsl_vector_view x;
		double xb[3];
		for (int k = 0; k < P->nfree; k++)
			xb[k] = P->q[P->free_idx[k]];
		x = gsl_vector_view_array(xb, (size_t)P->nfree);
		resid_df(&x.vector, (void *)(uintptr_t)P, J);
		if (gsl_multifit_nlinear_covar(J, 1e-12, C) == GSL_SUCCESS)
			for (int a = 0; a < P->nfree; a++)
				for (int b = 0; b < P->nfree; b++)
					cov[a][b] = gsl_matrix_get(C, (size_t)a, (size_t)b);
	}
	gsl_matrix_free(C);
	gsl_matrix_free(J);
}

/*
 * Refines the start in P->q. A parameter that LM drives out of its physical range
 * (t0 < 0, knee outside the table) is held at the edge and the rest fitted again;
 * a solution worse than the start is not kept.
 */
static void refine(problem *P, unsigned *fixed)
{
	double start[3], s0 = ssr(P, P->q), q[3];
	memcpy(start, P->q, sizeof start);
	for (int attempt = 0; attempt < 4; attempt++) {
		unsigned more = 0;
		set_free(P, fixed);
		if (lm(P, q) < 0)
			break;
		if (q[0] < 0) {
			more |= PROF_FIX_T0;
			P->q[0] = 0;
		}
		if (P->model == PROF_MODEL_ROOFLINE && (q[1] < P->u[0] || q[1] > 1.0)) {
			more |= PROF_FIX_KNEE;
			P->q[1] = q[1] < P->u[0] ? P->u[0] : 1.0;
			if (q[1] > 1.0)
				more |= PROF_FIX_T0, P->q[0] = 0;
		}
		if (more && !(more & ~*fixed))
			break; /* nothing left to hold: keep the start */
		if (more) {
			*fixed |= more;
			continue;
		}
		if (valid(P, q) && ssr(P, q) <= s0 * (1 + 1e-9))
			memcpy(P->q, q, sizeof q);
		return;
	}
	if (!valid(P, P->q))
		memcpy(P->q, start, sizeof start);
	set_free(P, fixed);
}

void prof_fit_residuals(prof_fit *f, const double *x, const double *t, int n)
{
	double s = 0, mx = 0;
	MS_ASSERT(n >= 1 && n <= PROF_MAX_POINTS, "n = %d", n);
	for (int i = 0; i < n; i++) {
		double r = (prof_fit_eval(f, x[i]) - t[i]) / t[i];
		f->resid_rel[i] = r;
		s += r * r;
		mx = fmax(mx, fabs(r));
	}
	f->points = n;
	f->rms_rel = sqrt(s / n);
	f->max_rel = mx;
	f->has_resid = 1;
}

int prof_fit_table(prof_model model, const double *x, const double *t, int n, prof_fit *out, const char *what,
		   ms_error *err)
{
	problem P;
	double cov[3][3], xs, ts, scale[3], s2;
	unsigned fixed;
	gsl_error_handler_t *old;
	MS_ASSERT(model == PROF_MODEL_LATBW || model == PROF_MODEL_ROOFLINE, "model %d", (int)model);
	MS_ASSERT(n >= 2 && n <= PROF_MAX_POINTS, "n = %d", n);
	memset(out, 0, sizeof *out);
	memset(&P, 0, sizeof P);
	P.model = model;
	P.n = n;
	xs = x[n - 1];
	ts = 0;
	for (int i = 0; i < n; i++)
		ts = fmax(ts, t[i]);
	for (int i = 0; i < n; i++) {
		MS_ASSERT(x[i] > 0 && t[i] > 0 && (i == 0 || x[i] > x[i - 1]), "point %d: x %g t %g", i, x[i], t[i]);
		P.u[i] = x[i] / xs;
		P.v[i] = t[i] / ts;
	}
	if (start_point(&P, &fixed) < 0)
		return MS_ERROR(err, MS_EINVAL,
				"%s: the time does not grow with %s, so %s cannot describe it (check the table)", what,
				model == PROF_MODEL_ROOFLINE ? "tokens" : "size",
				model == PROF_MODEL_ROOFLINE ? "t0 + max(weights / bandwidth, FLOPs / peak)"
							     : "latency + size / bandwidth");
	if (model == PROF_MODEL_ROOFLINE && P.q[1] >= 1.0)
		fixed |= PROF_FIX_T0 | PROF_FIX_KNEE;
	else if (model == PROF_MODEL_ROOFLINE && P.q[1] <= P.u[0])
		fixed |= PROF_FIX_KNEE;
	else
		fixed &= ~(unsigned)PROF_FIX_T0; /* the start's clamp is only a start */
	if (model == PROF_MODEL_LATBW)
		fixed = 0;
	old = gsl_set_error_handler_off();
	refine(&P, &fixed);
	covariance(&P, cov);
	gsl_set_error_handler(old);

	/* Back to SI units: LATBW (a, b): a ts, b ts / xs; ROOFLINE (t0, k, c): t0 ts, k xs, c ts / xs. */
	if (model == PROF_MODEL_LATBW) {
		scale[0] = ts, scale[1] = ts / xs, scale[2] = 0;
	} else {
		scale[0] = ts, scale[1] = xs, scale[2] = ts / xs;
	}
	out->model = model;
	out->fixed = fixed;
	for (int j = 0; j < 3; j++)
		out->p[j] = P.q[j] * scale[j];
	out->dof = n - P.nfree;
	s2 = out->dof > 0 ? ssr(&P, P.q) / out->dof : 0.0;
	for (int k = 0; k < P.nfree; k++) {
		int j = P.free_idx[k];
		for (int l = 0; l < P.nfree; l++) {
			int i = P.free_idx[l];
			out->cov[j][i] = cov[k][l] * s2 * scale[j] * scale[i];
		}
		out->se[j] = sqrt(fmax(0.0, out->cov[j][j]));
	}
	prof_fit_residuals(out, x, t, n);
	return MS_OK;
}
