/*
 * ms_mt.c - seeding and regeneration of GSL's MT19937 stream (see ms_mt.h), and the
 * tempering of each regenerated block (gsl's mt_get, applied to all 624 words at once).
 */
#include "common/ms_mt.h"

#define UPPER 0x80000000u
#define LOWER 0x7fffffffu
#define MAGIC(y) (((y) & 1u) ? 0x9908b0dfu : 0u)

void ms_mt_seed(ms_mt19937 *m, unsigned long s)
{
	int i;
	if (s == 0)
		s = 4357; /* GSL's default seed */
	m->mt[0] = (uint32_t)(s & 0xffffffffUL);
	for (i = 1; i < MS_MT_N; i++)
		m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) + (uint32_t)i;
	m->mti = i;
}

void ms_mt_refill(ms_mt19937 *m)
{
	uint32_t *mt = m->mt, y;
	int kk;
	for (kk = 0; kk < MS_MT_N - MS_MT_M; kk++) {
		y = (mt[kk] & UPPER) | (mt[kk + 1] & LOWER);
		mt[kk] = mt[kk + MS_MT_M] ^ (y >> 1) ^ MAGIC(y);
	}
	for (; kk < MS_MT_N - 1; kk++) {
		y = (mt[kk] & UPPER) | (mt[kk + 1] & LOWER);
		mt[kk] = mt[kk + (MS_MT_M - MS_MT_N)] ^ (y >> 1) ^ MAGIC(y);
	}
	y = (mt[MS_MT_N - 1] & UPPER) | (mt[0] & LOWER);
	mt[MS_MT_N - 1] = mt[MS_MT_M - 1] ^ (y >> 1) ^ MAGIC(y);
	for (kk = 0; kk < MS_MT_N; kk++) {
		uint32_t k = m->mt[kk];
		k ^= k >> 11;
		k ^= (k << 7) & 0x9d2c5680u;
		k ^= (k << 15) & 0xefc60000u;
		k ^= k >> 18;
		m->out[kk] = k;
	}
	m->mti = 0;
}
