/*
 * ms_rng.h - deterministic random streams derived from the scenario seed.
 *
 * All randomness comes from seeded gsl_rng streams. A stream is named by a tuple of
 * integers (for example: seed, step, layer, EP group) hashed with SplitMix64
 * (Steele, Lea, Flood 2014), so a result never depends on the order in which loops
 * visit streams, and adding a stream does not shift the others.
 */
#ifndef MS_RNG_H
#define MS_RNG_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>

/* One SplitMix64 step: a bijective 64-bit mixer. */
uint64_t ms_mix64(uint64_t x);

/* Derives a stream seed from a base seed and up to four stream coordinates. */
uint64_t ms_stream_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/*
 * Zipf popularity over n items (Zipf 1949): item perm[i] gets weight 1 / (i + 1)^s,
 * where perm is a uniformly random permutation drawn from rng (gsl_ran_shuffle), so
 * the popular items differ per stream. p[n] receives the unnormalised weights; perm[n]
 * is a caller-provided workspace. The one implementation the router, the trace
 * synthesiser and the synthetic all-to-all share.
 */
void ms_zipf_popularity(gsl_rng *rng, int n, double s, size_t *perm, double *p);

#endif
