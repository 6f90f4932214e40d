/*
 * prof_curve.h - one measured cost table as a function of size: monotone interpolation
 * between the measured points, the fitted model beyond them.
 *
 * Inside [x_0, x_{n-1}] the curve is Steffen's monotone cubic Hermite interpolant
 * (M. Steffen, "A simple method for monotonic interpolation in one dimension",
 * Astron. Astrophys. 239, 443, 1990; the method of GSL's gsl_interp_steffen, whose end
 * slopes it also uses) through the points in log(x)-log(t) space. It passes through
 * every point, is continuous in slope, and between two points stays between their
 * values: no overshoot, no spurious minimum. Log-log because tables span five decades
 * and power laws (t ~ n) are straight lines there.
 *
 * Outside the table the fitted model (prof_fit.h) gives the shape, scaled to meet the
 * end point, so the curve stays continuous and monotone:
 *     t(x) = t_end * f(x) / f(x_end)   for x < x_0 (end 0) or x > x_{n-1} (end n-1).
 * The cubic is never extrapolated.
 *
 * A curve is a plain value with no heap storage, so a cost model can embed it with no
 * _fini (about 6 KiB at PROF_MAX_POINTS). Evaluation is O(log n).
 */
#ifndef PROF_CURVE_H
#define PROF_CURVE_H

#include "profile/prof_fit.h"

typedef struct prof_curve {
	int n;
	double lx[PROF_MAX_POINTS]; /* log x */
	double ly[PROF_MAX_POINTS]; /* log t (t in seconds) */
	double d[PROF_MAX_POINTS];  /* Steffen slopes d log t / d log x */
	prof_model model;           /* the fitted model used outside the table */
	double p[3];                /* its parameters (prof_fit.h) */
	double lo_scale, hi_scale;  /* t_0 / f(x_0) and t_{n-1} / f(x_{n-1}) */
} prof_curve;

/*
 * Builds the curve of n points (x strictly increasing, > 0; t > 0, seconds;
 * 2 <= n <= PROF_MAX_POINTS) with the fitted model f. The points and f must be valid:
 * the profile reader has checked them.
 */
void prof_curve_init(prof_curve *c, const double *x, const double *t, int n, const prof_fit *f);

/* Seconds at x; 0 for x <= 0 (no work, no time). */
double prof_curve_eval(const prof_curve *c, double x);

/* The table's range. */
double prof_curve_xmin(const prof_curve *c);
double prof_curve_xmax(const prof_curve *c);

#endif
