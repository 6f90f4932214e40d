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

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One SplitMix64 step: a bijective 64-bit mixer. */
uint64_t ms_mix64(uint64_t x);

/* Derives a stream seed from a base seed and up to four stream coordinates. */
uint64_t ms_stream_seed(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/*
 * The SplitMix64 generator itself: returns the next value of the sequence that
 * *state seeds and advances *state. For the calibration programs' permutations and
 * weights (plain C, no gsl), where a fixed --seed must give the same access pattern.
 */
uint64_t ms_splitmix64(uint64_t *state);

#ifdef __cplusplus
}
#endif

#endif
