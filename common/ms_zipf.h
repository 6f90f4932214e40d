/*
 * ms_zipf.h - Zipf popularity (Zipf 1949) over n items, the one implementation the
 * router, the trace synthesiser and the synthetic all-to-all share. Apart from
 * ms_rng.h because it draws from a gsl_rng (the calibration programs use ms_rng.h
 * without GSL).
 */
#ifndef MS_ZIPF_H
#define MS_ZIPF_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

/*
 * Item perm[i] gets weight 1 / (i + 1)^s, where perm is a uniformly random permutation
 * drawn from rng (gsl_ran_shuffle), so the popular items differ per stream. p[n]
 * receives the unnormalised weights; perm[n] is a caller-provided workspace.
 */
void ms_zipf_popularity(gsl_rng *rng, int n, double s, size_t *perm, double *p);

#endif
