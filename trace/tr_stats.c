/*
 * tr_stats.c - load and specialisation statistics of a trace (definitions in tr_stats.h
 * and docs/trace-tools.md). Counting is exact (int64); ratios are formed at the end.
 */
#include "trace/tr_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tr_stats_default_top_k(const tr_info *in)
{
	if (in->top_k > 0)
		return in->top_k;
	return in->depth < 2 ? in->depth : 2;
}

void tr_stats_free(tr_stats *s)
{
	if (!s)
		return;
	free(s->load);
	free(s->first);
	free(s->repeats);
	free(s->domain_tokens);
	free(s->domain_load);
	free(s);
}

int tr_stats_compute(tr_reader *r, int top_k, tr_stats **out, ms_error *err)
{
	const tr_info *in = tr_get_info(r);
	const int L = in->num_layers, E = in->num_experts, D = in->has_domain ? in->num_domains : 0, k = top_k;
	int64_t block = in->chunk_tokens > 0 ? in->chunk_tokens : TR_CHUNK_TOKENS;
	tr_stats *s;
	int16_t *ids = NULL, *prev_first = NULL;
	tr_token *tok = NULL, prev;
	int have_prev = 0, rc = MS_OK;
	*out = NULL;
	if (k < 1 || k > in->depth)
		return MS_ERROR(err, MS_ERANGE, "%s: top-%d is out of range: the trace records depth %d", in->path, k, in->depth);
	if (block > in->num_tokens)
		block = in->num_tokens > 0 ? in->num_tokens : 1;
	s = ms_calloc(err, 1, sizeof *s, "trace statistics");
	if (!s)
		return MS_ENOMEM;
	s->layers = L;
	s->experts = E;
	s->top_k = k;
	s->domains = D;
	s->tokens = in->num_tokens;
	s->load = ms_calloc(err, (size_t)L * (size_t)E, sizeof *s->load, "expert loads");
	s->first = ms_calloc(err, (size_t)L * (size_t)E, sizeof *s->first, "first choices");
	s->repeats = ms_calloc(err, (size_t)L, sizeof *s->repeats, "repeat counts");
	s->domain_tokens = ms_calloc(err, D > 0 ? (size_t)D : 1, sizeof *s->domain_tokens, "domain counts");
	s->domain_load = D > 0 ? ms_calloc(err, (size_t)L * (size_t)D * (size_t)E, sizeof *s->domain_load, "domain loads") : NULL;
	ids = ms_malloc(err, (size_t)block * (size_t)k * sizeof *ids, "trace block");
	tok = ms_malloc(err, (size_t)block * sizeof *tok, "token block");
	prev_first = ms_calloc(err, (size_t)L, sizeof *prev_first, "previous choices");
	if (!s->load || !s->first || !s->repeats || !s->domain_tokens || (D > 0 && !s->domain_load) || !ids || !tok ||
	    !prev_first) {
		rc = MS_ENOMEM;
		goto out;
	}
	memset(&prev, 0, sizeof prev);
	for (int64_t t0 = 0; t0 < in->num_tokens; t0 += block) {
		int64_t n = in->num_tokens - t0 < block ? in->num_tokens - t0 : block;
		if ((rc = tr_read_tokens(r, t0, n, tok, err)) < 0)
			goto out;
		for (int64_t i = 0; i < n; i++)
			if (D > 0 && tok[i].domain >= 0 && tok[i].domain < D)
				s->domain_tokens[tok[i].domain]++;
		for (int l = 0; l < L; l++) {
			int64_t *load = s->load + (size_t)l * E, *first = s->first + (size_t)l * E;
			int64_t *dl = D > 0 ? s->domain_load + (size_t)l * D * E : NULL;
			const tr_token *p = have_prev ? &prev : NULL;
			int16_t pf = prev_first[l];
			if ((rc = tr_read_routing_topk(r, l, t0, n, k, ids, NULL, err)) < 0)
				goto out;
			for (int64_t i = 0; i < n; i++) {
				const int16_t *id = ids + i * k;
				const tr_token *tk = &tok[i];
				int d = tk->domain;
				for (int j = 0; j < k; j++) {
					if (id[j] < 0 || id[j] >= E) {
						rc = MS_ERROR(err, MS_EFORMAT,
							      "%s: /routing/expert_ids[%d, %lld, %d] = %d is out of range: num_experts = %d "
							      "(run moesim trace validate)",
							      in->path, l, (long long)(t0 + i), j, id[j], E);
						goto out;
					}
					load[id[j]]++;
					if (dl && d >= 0 && d < D)
						dl[(size_t)d * E + id[j]]++;
				}
				first[id[0]]++;
				if (p && p->step == tk->step && p->rank == tk->rank && p->sequence == tk->sequence) {
					if (l == 0)
						s->seq_pairs++;
					if (pf == id[0])
						s->repeats[l]++;
				}
				p = tk;
				pf = id[0];
			}
			prev_first[l] = pf;
		}
		prev = tok[n - 1];
		have_prev = 1;
	}
out:
	free(ids);
	free(tok);
	free(prev_first);
	if (rc < 0) {
		tr_stats_free(s);
		return rc;
	}
	*out = s;
	return MS_OK;
}

/* Sum of the k largest of v[0..n). */
static int64_t top_sum(const int64_t *v, int n, int k)
{
	/* k is small (top-k); a partial selection by repeated maxima keeps this allocation-free. */
	int64_t sum = 0, bound = INT64_MAX;
	int taken = 0;
	while (taken < k) {
		int64_t best = -1;
		int count = 0;
		for (int e = 0; e < n; e++)
			if (v[e] < bound && v[e] > best)
				best = v[e];
		if (best < 0)
			break;
		for (int e = 0; e < n; e++)
			count += v[e] == best;
		for (int c = 0; c < count && taken < k; c++, taken++)
			sum += best;
		bound = best;
	}
	return sum;
}

void tr_stats_summary(const tr_stats *s, int layer, tr_layer_summary *o)
{
	const int E = s->experts, D = s->domains;
	const int64_t *load = s->load + (size_t)layer * E, *first = s->first + (size_t)layer * E;
	double mean = (double)s->tokens * s->top_k / E, var = 0, indep = 0;
	int64_t mx = 0, mn = INT64_MAX;
	for (int e = 0; e < E; e++) {
		mx = load[e] > mx ? load[e] : mx;
		mn = load[e] < mn ? load[e] : mn;
		var += ((double)load[e] - mean) * ((double)load[e] - mean);
		if (s->tokens > 0)
			indep += ((double)first[e] / (double)s->tokens) * ((double)first[e] / (double)s->tokens);
	}
	var /= E;
	o->max_mean = mean > 0 ? (double)mx / mean : NAN;
	o->min_mean = mean > 0 ? (double)mn / mean : NAN;
	o->cv = mean > 0 ? sqrt(var) / mean : NAN;
	o->repeat_rate = s->seq_pairs > 0 ? (double)s->repeats[layer] / (double)s->seq_pairs : NAN;
	o->repeat_independent = s->tokens > 0 ? indep : NAN;
	o->purity = o->purity_baseline = o->concentration = o->concentration_baseline = NAN;
	if (D > 0) {
		const int64_t *c = s->domain_load + (size_t)layer * D * E;
		int64_t total = 0, pure = 0, conc = 0, dmax = 0, dsum = 0;
		for (int e = 0; e < E; e++) {
			int64_t best = 0;
			for (int d = 0; d < D; d++) {
				best = c[(size_t)d * E + e] > best ? c[(size_t)d * E + e] : best;
				total += c[(size_t)d * E + e];
			}
			pure += best;
		}
		for (int d = 0; d < D; d++) {
			conc += top_sum(c + (size_t)d * E, E, s->top_k);
			dmax = s->domain_tokens[d] > dmax ? s->domain_tokens[d] : dmax;
			dsum += s->domain_tokens[d];
		}
		if (total > 0) {
			int64_t lsum = 0;
			for (int e = 0; e < E; e++)
				lsum += load[e];
			o->purity = (double)pure / (double)total;
			o->concentration = (double)conc / (double)total;
			o->concentration_baseline = lsum > 0 ? (double)top_sum(load, E, s->top_k) / (double)lsum : NAN;
		}
		o->purity_baseline = dsum > 0 ? (double)dmax / (double)dsum : NAN;
	}
}

double tr_stats_expert_purity(const tr_stats *s, int layer, int expert, int *dominant)
{
	const int E = s->experts, D = s->domains;
	int64_t best = -1, sum = 0;
	*dominant = -1;
	if (D == 0)
		return NAN;
	for (int d = 0; d < D; d++) {
		int64_t v = s->domain_load[((size_t)layer * D + d) * E + expert];
		sum += v;
		if (v > best) {
			best = v;
			*dominant = d;
		}
	}
	return sum > 0 ? (double)best / (double)sum : NAN;
}

double tr_stats_domain_concentration(const tr_stats *s, int layer, int domain)
{
	const int E = s->experts, D = s->domains;
	const int64_t *c;
	int64_t sum = 0;
	if (D == 0)
		return NAN;
	c = s->domain_load + ((size_t)layer * D + domain) * E;
	for (int e = 0; e < E; e++)
		sum += c[e];
	return sum > 0 ? (double)top_sum(c, E, s->top_k) / (double)sum : NAN;
}
