/*
 * ms_mt.h - GSL's gsl_rng_mt19937 stream, inline, for hot loops.
 *
 * The same generator as gsl_rng_mt19937 (Matsumoto and Nishimura 1998, MT19937 with
 * GSL's seeding: a seed of 0 means 4357, then Knuth's multiplier 1812433253), output
 * for output: seeding one with s gives exactly what gsl_rng_set(r, s) followed by
 * gsl_rng_get, gsl_rng_uniform and gsl_rng_uniform_pos give (tested against GSL over
 * many seeds, tests/check_common.c). So a module that draws through it keeps the
 * scenario's gsl_rng streams bit for bit; it only avoids gsl_rng_get's indirect call
 * per output, which was a quarter of synthetic routing's time (docs/benchmarks.md).
 * Anything else (distributions from gsl_randist) still takes a gsl_rng.
 */
#ifndef MS_MT_H
#define MS_MT_H

#include <stdint.h>

#define MS_MT_N 624
#define MS_MT_M 397

/* out[] holds the current block's outputs, tempered all at once by the refill (one
 * loop the compiler vectorises, instead of four dependent shifts per call). */
typedef struct ms_mt19937 {
	uint32_t mt[MS_MT_N];
	uint32_t out[MS_MT_N];
	int mti;
} ms_mt19937;

/* gsl_rng_set(r, s) for gsl_rng_mt19937. */
void ms_mt_seed(ms_mt19937 *m, unsigned long s);

/* Regenerates the 624 words (internal to ms_mt_get). */
void ms_mt_refill(ms_mt19937 *m);

/* gsl_rng_get: the next 32-bit output. */
static inline uint32_t ms_mt_get(ms_mt19937 *m)
{
	if (m->mti >= MS_MT_N)
		ms_mt_refill(m);
	return m->out[m->mti++];
}

/*
 * ms_mt_get through a cursor the caller keeps in a local (start it at m->mti, store it
 * back before any other call on m): the same outputs, but the position stays in a
 * register across a hot loop whose stores the compiler cannot tell apart from m->mti.
 */
static inline uint32_t ms_mt_next(ms_mt19937 *m, int *pos)
{
	if (*pos >= MS_MT_N) {
		ms_mt_refill(m);
		*pos = 0;
	}
	return m->out[(*pos)++];
}

/* gsl_rng_uniform: [0, 1). */
static inline double ms_mt_uniform(ms_mt19937 *m)
{
	return ms_mt_get(m) / 4294967296.0;
}

/* gsl_rng_uniform_pos: (0, 1), redrawing a 0. */
static inline double ms_mt_uniform_pos(ms_mt19937 *m)
{
	double x;
	do
		x = ms_mt_uniform(m);
	while (x == 0);
	return x;
}

#endif
