/*
 * prof_curve.c - Steffen interpolation in log-log space, fitted model outside
 * (see prof_curve.h).
 *
 * Invariant: prof_curve_eval returns finite values >= 0, equal to the measured time at
 * every table point (to rounding of exp(log t)), and is non-decreasing wherever the
 * table is.
 */
#include "profile/prof_curve.h"

#include <math.h>
#include <string.h>

/* +1 or -1 with the sign of v, +1 for 0 (GSL's steffen_copysign(1, v)). */
static double sign1(double v)
{
	return v < 0 ? -1.0 : 1.0;
}

void prof_curve_init(prof_curve *c, const double *x, const double *t, int n, const prof_fit *f)
{
	int i;
	MS_ASSERT(n >= 2 && n <= PROF_MAX_POINTS, "n = %d", n);
	MS_ASSERT(f->model == PROF_MODEL_LATBW || f->model == PROF_MODEL_ROOFLINE, "model %d", (int)f->model);
	memset(c, 0, sizeof *c);
	c->n = n;
	for (i = 0; i < n; i++) {
		MS_ASSERT(x[i] > 0 && t[i] > 0 && (i == 0 || x[i] > x[i - 1]), "point %d: x %g t %g", i, x[i], t[i]);
		c->lx[i] = log(x[i]);
		c->ly[i] = log(t[i]);
	}
	/* Steffen 1990, eq. 11: the slope at an inner point is the smaller of the secants
	 * and half the parabola's slope, zero at a local extremum. Ends: the secant. */
	c->d[0] = (c->ly[1] - c->ly[0]) / (c->lx[1] - c->lx[0]);
	for (i = 1; i < n - 1; i++) {
		double h0 = c->lx[i] - c->lx[i - 1], h1 = c->lx[i + 1] - c->lx[i];
		double s0 = (c->ly[i] - c->ly[i - 1]) / h0, s1 = (c->ly[i + 1] - c->ly[i]) / h1;
		double p = (s0 * h1 + s1 * h0) / (h0 + h1);
		c->d[i] = (sign1(s0) + sign1(s1)) * fmin(fabs(s0), fmin(fabs(s1), 0.5 * fabs(p)));
	}
	c->d[n - 1] = (c->ly[n - 1] - c->ly[n - 2]) / (c->lx[n - 1] - c->lx[n - 2]);
	c->model = f->model;
	memcpy(c->p, f->p, sizeof c->p);
	c->lo_scale = t[0] / prof_fit_eval(f, x[0]);
	c->hi_scale = t[n - 1] / prof_fit_eval(f, x[n - 1]);
	MS_ASSERT(isfinite(c->lo_scale) && c->lo_scale > 0 && isfinite(c->hi_scale) && c->hi_scale > 0,
		  "fit gives f(x0) = %g, f(xn) = %g", prof_fit_eval(f, x[0]), prof_fit_eval(f, x[n - 1]));
}

static double model_at(const prof_curve *c, double x)
{
	prof_fit f;
	f.model = c->model;
	memcpy(f.p, c->p, sizeof f.p);
	return prof_fit_eval(&f, x);
}

double prof_curve_eval(const prof_curve *c, double x)
{
	double lx, h, s, dx, a, b;
	int lo = 0, hi = c->n - 1;
	if (!(x > 0))
		return 0.0;
	lx = log(x);
	if (lx <= c->lx[0])
		return lx == c->lx[0] ? exp(c->ly[0]) : c->lo_scale * model_at(c, x);
	if (lx >= c->lx[hi])
		return lx == c->lx[hi] ? exp(c->ly[hi]) : c->hi_scale * model_at(c, x);
	while (hi - lo > 1) {
		int mid = (lo + hi) / 2;
		if (c->lx[mid] <= lx)
			lo = mid;
		else
			hi = mid;
	}
	/* Cubic Hermite on [lx_lo, lx_hi] (GSL's coefficients a, b, c, d). */
	h = c->lx[hi] - c->lx[lo];
	s = (c->ly[hi] - c->ly[lo]) / h;
	a = (c->d[lo] + c->d[hi] - 2.0 * s) / (h * h);
	b = (3.0 * s - 2.0 * c->d[lo] - c->d[hi]) / h;
	dx = lx - c->lx[lo];
	return exp(c->ly[lo] + dx * (c->d[lo] + dx * (b + dx * a)));
}

double prof_curve_xmin(const prof_curve *c)
{
	return exp(c->lx[0]);
}

double prof_curve_xmax(const prof_curve *c)
{
	return exp(c->lx[c->n - 1]);
}
