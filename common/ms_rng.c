/* ms_rng.c - stream seed derivation and Zipf popularity (see ms_rng.h). */
#include "ms_rng.h"

#include <math.h>

#include <gsl/gsl_randist.h>

uint64_t ms_mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

uint64_t ms_stream_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t h = ms_mix64(seed);
	h = ms_mix64(h ^ a);
	h = ms_mix64(h ^ b);
	h = ms_mix64(h ^ c);
	h = ms_mix64(h ^ d);
	return h;
}

void ms_zipf_popularity(gsl_rng *rng, int n, double s, size_t *perm, double *p)
{
	for (int i = 0; i < n; i++)
		perm[i] = (size_t)i;
	gsl_ran_shuffle(rng, perm, (size_t)n, sizeof *perm);
	for (int i = 0; i < n; i++)
		p[perm[i]] = 1.0 / pow(i + 1.0, s);
}
