/*
 * net_synth.c - skewed dispatch matrices (see net_synth.h). O(n x tokens x top_k)
 * draws from a Walker alias table (gsl_ran_discrete), duplicates rejected.
 */
#include "network/net_synth.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_rng.h"
#include "common/ms_zipf.h"

int net_synth_dispatch(uint64_t seed, int n, int experts, int top_k, long tokens, double zipf_s, double token_bytes,
		       int domain_size, double *bytes, double *domain_bytes, ms_error *err)
{
	int per_gpu, nd, rc = MS_OK;
	double *pop = NULL;
	size_t *perm = NULL;
	int *chosen = NULL, *dom_seen = NULL;
	gsl_rng *r = NULL;
	gsl_ran_discrete_t *alias = NULL;
	if (n < 1 || experts < n || experts % n != 0)
		return MS_ERROR(err, MS_EINVAL, "synthetic all-to-all: %d experts cannot be placed evenly on %d GPUs",
				experts, n);
	if (top_k < 1 || top_k > experts || tokens < 0 || !(token_bytes > 0) || zipf_s < 0)
		return MS_ERROR(err, MS_EINVAL, "synthetic all-to-all: top_k %d of %d experts, %ld tokens, %g bytes each",
				top_k, experts, tokens, token_bytes);
	if (domain_size < 1 || n % domain_size != 0)
		return MS_ERROR(err, MS_EINVAL, "synthetic all-to-all: domain size %d does not divide %d GPUs",
				domain_size, n);
	per_gpu = experts / n;
	nd = n / domain_size;
	pop = ms_calloc(err, (size_t)experts, sizeof(double), "synthetic popularity");
	perm = ms_calloc(err, (size_t)experts, sizeof *perm, "synthetic popularity");
	chosen = ms_calloc(err, (size_t)top_k, sizeof(int), "synthetic popularity");
	dom_seen = ms_calloc(err, (size_t)nd, sizeof(int), "synthetic popularity");
	r = gsl_rng_alloc(gsl_rng_mt19937);
	if (!pop || !perm || !chosen || !dom_seen || !r) {
		rc = MS_ERROR(err, MS_ENOMEM, "out of memory for a synthetic all-to-all");
		goto done;
	}
	/* The ranking: a random permutation of experts, drawn from the seed's own stream. */
	gsl_rng_set(r, ms_stream_seed(seed, 0x706f70u, 0, 0, 0));
	ms_zipf_popularity(r, experts, zipf_s, perm, pop);
	alias = gsl_ran_discrete_preproc((size_t)experts, pop);
	if (!alias) {
		rc = MS_ERROR(err, MS_ENOMEM, "out of memory for a synthetic all-to-all");
		goto done;
	}
	memset(bytes, 0, (size_t)n * n * sizeof(double));
	if (domain_bytes)
		memset(domain_bytes, 0, (size_t)n * nd * sizeof(double));
	for (int i = 0; i < n; i++) {
		double *row = bytes + (size_t)i * n;
		gsl_rng_set(r, ms_stream_seed(seed, 0x746f6bu, (uint64_t)i, 0, 0));
		for (long t = 0; t < tokens; t++) {
			for (int k = 0; k < top_k; k++) {
				int e, dup;
				do {
					e = (int)gsl_ran_discrete(r, alias);
					dup = 0;
					for (int q = 0; q < k; q++)
						dup |= chosen[q] == e;
				} while (dup);
				chosen[k] = e;
				row[e / per_gpu] += token_bytes;
				if (domain_bytes) {
					int d = (e / per_gpu) / domain_size;
					/* dom_seen holds the last token (+1) that reached domain d. */
					if (dom_seen[d] != (int)(t + 1)) {
						dom_seen[d] = (int)(t + 1);
						domain_bytes[(size_t)i * nd + d] += token_bytes;
					}
				}
			}
		}
		memset(dom_seen, 0, (size_t)nd * sizeof(int));
	}
done:
	if (alias)
		gsl_ran_discrete_free(alias);
	if (r)
		gsl_rng_free(r);
	free(pop);
	free(perm);
	free(chosen);
	free(dom_seen);
	return rc;
}
