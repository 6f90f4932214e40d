/* ms_zipf.c - Zipf popularity (see ms_zipf.h). O(n) draws and O(n) pow calls. */
#include "common/ms_zipf.h"

#include <math.h>

#include <gsl/gsl_randist.h>

void ms_zipf_popularity(gsl_rng *rng, int n, double s, size_t *perm, double *p)
{
	for (int i = 0; i < n; i++)
		perm[i] = (size_t)i;
	gsl_ran_shuffle(rng, perm, (size_t)n, sizeof *perm);
	for (int i = 0; i < n; i++)
		p[perm[i]] = 1.0 / pow(i + 1.0, s);
}
