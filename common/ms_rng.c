/* ms_rng.c - stream seed derivation (see ms_rng.h). */
#include "ms_rng.h"

/* The golden-ratio increment of SplitMix64 (Steele, Lea, Flood 2014). */
#define GAMMA 0x9E3779B97F4A7C15ull

uint64_t ms_mix64(uint64_t x)
{
	x += GAMMA;
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

uint64_t ms_splitmix64(uint64_t *state)
{
	uint64_t x = *state;
	*state += GAMMA;
	return ms_mix64(x);
}
