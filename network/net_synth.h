/*
 * net_synth.h - synthetic skewed all-to-all byte matrices for benchmarks, tests and
 * the SimGrid cross-check (the simulator itself takes its matrices from routing/).
 *
 * One MoE dispatch among n GPUs: E experts placed contiguously (expert e on GPU
 * e / (E / n)); expert popularity Zipf, p ~ 1 / rank^s, over a random ranking; every
 * GPU routes `tokens` tokens, each to top_k distinct experts drawn by successive
 * sampling without replacement in proportion to popularity; each token-expert pair
 * moves token_bytes. Every GPU draws from its own gsl_rng stream seeded by
 * ms_stream_seed(seed, gpu, ...), so the matrix depends on the seed only.
 */
#ifndef NET_SYNTH_H
#define NET_SYNTH_H

#include <stdint.h>

#include "common/ms_error.h"

/*
 * Fills bytes (n x n, row-major; bytes[i*n + j] from GPU i to GPU j, the diagonal
 * included) and, if domain_bytes is non-NULL, domain_bytes (n x n/domain_size): the
 * bytes from GPU i to domain d counting each token once per destination domain.
 * Errors: experts not a multiple of n, top_k > experts, non-positive sizes.
 */
int net_synth_dispatch(uint64_t seed, int n, int experts, int top_k, long tokens, double zipf_s, double token_bytes,
		       int domain_size, double *bytes, double *domain_bytes, ms_error *err);

#endif
