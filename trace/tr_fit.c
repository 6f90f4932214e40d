/*
 * tr_fit.c - the statistics a synthetic trace must reproduce and the fit of tr_synth's
 * parameters to them (definitions and formulas in tr_fit.h). Counting is exact (int64)
 * and ratios are formed at the end; the fit is closed-form given the solved weights.
 */
#include "trace/tr_fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trace/tr_stats.h"

void tr_fit_free(tr_fit *f)
{
	if (!f)
		return;
	free(f->shares);
	free(f->domain_shares);
	free(f->domain_mix);
	if (f->domain_names)
		for (int d = 0; d < f->domains; d++)
			free(f->domain_names[d]);
	free(f->domain_names);
	free(f->max_mean);
	free(f->repeat1);
	free(f->repeat12);
	free(f->seq_skew);
	free(f->topic_shares);
	free(f->topic_mix);
	free(f->topic_label);
	free(f->rho);
	free(f->swap);
	free(f->baseline);
	free(f->baseline12);
	free(f);
}

static int same_sequence(const tr_token *a, const tr_token *b)
{
	return a->step == b->step && a->rank == b->rank && a->sequence == b->sequence;
}

/* One layer: shares, repeat rates and per-sequence skew; ids[T k] and a counts workspace [E]. */
static void measure_layer(tr_fit *f, int l, const tr_token *tok, const int16_t *ids, int64_t *cnt, int64_t *dcnt)
{
	const int E = f->experts, k = f->top_k, D = f->domains;
	const int64_t T = f->tokens;
	int64_t r1 = 0, r12 = 0, total = 0, mx = 0, *load = cnt + E;
	double skew = 0;
	int64_t s0 = 0;
	memset(load, 0, (size_t)E * sizeof *load);
	for (int64_t t = 0; t < T; t++) {
		const int16_t *id = ids + t * k;
		for (int j = 0; j < k; j++) {
			load[id[j]]++;
			if (D > 0 && tok[t].domain >= 0 && tok[t].domain < D)
				dcnt[((size_t)l * D + tok[t].domain) * E + id[j]]++;
		}
		if (t > 0 && same_sequence(&tok[t - 1], &tok[t])) {
			const int16_t *pv = ids + (t - 1) * k;
			r1 += id[0] == pv[0];
			r12 += id[0] == pv[0] || (k > 1 && id[0] == pv[1]);
		}
		/* A sequence ends at t: its max/mean from its counts (cleared for the next). */
		if (t + 1 == T || !same_sequence(&tok[t], &tok[t + 1])) {
			int64_t smax = 0, len = t + 1 - s0;
			memset(cnt, 0, (size_t)E * sizeof *cnt);
			for (int64_t u = s0; u <= t; u++)
				for (int j = 0; j < k; j++)
					cnt[ids[u * k + j]]++;
			for (int e = 0; e < E; e++)
				smax = cnt[e] > smax ? cnt[e] : smax;
			skew += (double)smax * E / ((double)len * k);
			s0 = t + 1;
		}
	}
	for (int e = 0; e < E; e++) {
		total += load[e];
		mx = load[e] > mx ? load[e] : mx;
	}
	for (int e = 0; e < E; e++)
		f->shares[(size_t)l * E + e] = total > 0 ? (double)load[e] / (double)total : 1.0 / E;
	f->max_mean[l] = total > 0 ? (double)mx * E / (double)total : NAN;
	f->repeat1[l] = f->pairs > 0 ? (double)r1 / (double)f->pairs : NAN;
	f->repeat12[l] = f->pairs > 0 ? (double)r12 / (double)f->pairs : NAN;
	f->seq_skew[l] = f->sequences > 0 ? skew / (double)f->sequences : NAN;
}

/* One topic per domain label (none without labels). */
static int plain_topics(tr_fit *f, ms_error *err)
{
	const int L = f->layers, E = f->experts, D = f->domains;
	if (D == 0)
		return MS_OK;
	f->topics = D;
	f->topic_shares = ms_malloc(err, (size_t)L * D * E * sizeof *f->topic_shares, "topics");
	f->topic_mix = ms_malloc(err, (size_t)D * sizeof *f->topic_mix, "topics");
	f->topic_label = ms_malloc(err, (size_t)D * sizeof *f->topic_label, "topics");
	if (!f->topic_shares || !f->topic_mix || !f->topic_label)
		return MS_ENOMEM;
	memcpy(f->topic_shares, f->domain_shares, (size_t)L * D * E * sizeof *f->topic_shares);
	memcpy(f->topic_mix, f->domain_mix, (size_t)D * sizeof *f->topic_mix);
	for (int d = 0; d < D; d++)
		f->topic_label[d] = d;
	return MS_OK;
}

/* Squared distance between sequence s's per-layer shares (hist / (len k)) and a centre. */
static double seq_dist(const int32_t *h, double scale, const double *c, int n)
{
	double d2 = 0;
	for (int i = 0; i < n; i++) {
		double v = h[i] * scale - c[i];
		d2 += v * v;
	}
	return d2;
}

/*
 * Up to M topics per label by k-means over the sequences' per-layer shares (tr_fit.h).
 * hist[S][L][E] counts; O(rounds S M L E).
 */
static int cluster_topics(tr_fit *f, const tr_token *tok, const int32_t *hist, int M, ms_error *err)
{
	const int L = f->layers, E = f->experts, D = f->domains, G = D > 0 ? D : 1, n = L * E;
	const int64_t S = f->sequences, T = f->tokens;
	int64_t *len = ms_calloc(err, (size_t)S, sizeof *len, "topics"), *members = NULL;
	int *group = ms_calloc(err, (size_t)S, sizeof *group, "topics"), *assign = NULL, *tg = NULL;
	double *centre = NULL, *mind = NULL;
	int64_t *count = NULL;
	int rc = MS_ENOMEM, K = 0;
	if (!len || !group)
		goto out;
	for (int64_t t = 0, s = -1; t < T; t++) {
		if (t == 0 || !same_sequence(&tok[t - 1], &tok[t])) {
			s++;
			group[s] = D > 0 && tok[t].domain >= 0 && tok[t].domain < D ? tok[t].domain : 0;
		}
		len[s]++;
	}
	assign = ms_malloc(err, (size_t)S * sizeof *assign, "topics");
	tg = ms_malloc(err, (size_t)G * M * sizeof *tg, "topics");
	centre = ms_calloc(err, (size_t)G * M * n, sizeof *centre, "topics");
	mind = ms_malloc(err, (size_t)S * sizeof *mind, "topics");
	members = ms_calloc(err, (size_t)G * M, sizeof *members, "topics");
	if (!assign || !tg || !centre || !mind || !members)
		goto out;
	for (int g = 0; g < G; g++) {
		/* Farthest-point seeds within the label: its first sequence, then the sequence
		 * farthest from every seed so far (ties: the earlier). */
		int m = 0, first = K;
		for (int64_t s = 0; s < S && m == 0; s++)
			if (group[s] == g) {
				for (int i = 0; i < n; i++)
					centre[(size_t)K * n + i] = hist[(size_t)s * n + i] / (double)(len[s] * f->top_k);
				tg[K++] = g;
				m = 1;
			}
		if (m == 0)
			continue;
		for (int64_t s = 0; s < S; s++)
			if (group[s] == g)
				mind[s] = seq_dist(hist + (size_t)s * n, 1.0 / (double)(len[s] * f->top_k), centre + (size_t)first * n, n);
		while (m < M) {
			int64_t best = -1;
			for (int64_t s = 0; s < S; s++)
				if (group[s] == g && mind[s] > 0 && (best < 0 || mind[s] > mind[best]))
					best = s;
			if (best < 0)
				break; /* fewer distinct sequences than M */
			for (int i = 0; i < n; i++)
				centre[(size_t)K * n + i] = hist[(size_t)best * n + i] / (double)(len[best] * f->top_k);
			for (int64_t s = 0; s < S; s++)
				if (group[s] == g) {
					double d = seq_dist(hist + (size_t)s * n, 1.0 / (double)(len[s] * f->top_k),
							    centre + (size_t)K * n, n);
					mind[s] = d < mind[s] ? d : mind[s];
				}
			tg[K++] = g;
			m++;
		}
	}
	for (int round = 0; round < 30; round++) {
		int moved = 0;
		for (int64_t s = 0; s < S; s++) {
			int best = -1;
			double bd = 0;
			for (int c = 0; c < K; c++)
				if (tg[c] == group[s]) {
					double d = seq_dist(hist + (size_t)s * n, 1.0 / (double)(len[s] * f->top_k), centre + (size_t)c * n, n);
					if (best < 0 || d < bd) {
						best = c;
						bd = d;
					}
				}
			moved += round == 0 || assign[s] != best;
			assign[s] = best;
		}
		if (!moved)
			break;
		memset(centre, 0, (size_t)K * n * sizeof *centre);
		memset(members, 0, (size_t)K * sizeof *members);
		for (int64_t s = 0; s < S; s++) {
			members[assign[s]]++;
			for (int i = 0; i < n; i++)
				centre[(size_t)assign[s] * n + i] += hist[(size_t)s * n + i] / (double)(len[s] * f->top_k);
		}
		for (int c = 0; c < K; c++)
			for (int i = 0; members[c] > 0 && i < n; i++)
				centre[(size_t)c * n + i] /= (double)members[c];
	}
	/* Topics: the clusters that kept sequences, their pooled counts and sequence shares. */
	count = ms_calloc(err, (size_t)K * n, sizeof *count, "topics");
	f->topic_shares = ms_calloc(err, (size_t)L * K * E, sizeof *f->topic_shares, "topics");
	f->topic_mix = ms_calloc(err, (size_t)K, sizeof *f->topic_mix, "topics");
	f->topic_label = ms_calloc(err, (size_t)K, sizeof *f->topic_label, "topics");
	if (!count || !f->topic_shares || !f->topic_mix || !f->topic_label)
		goto out;
	memset(members, 0, (size_t)K * sizeof *members);
	for (int64_t s = 0; s < S; s++) {
		members[assign[s]]++;
		for (int i = 0; i < n; i++)
			count[(size_t)assign[s] * n + i] += hist[(size_t)s * n + i];
	}
	f->topics = 0;
	for (int c = 0; c < K; c++) {
		const int q = f->topics;
		if (members[c] == 0)
			continue;
		f->topic_mix[q] = (double)members[c] / (double)S;
		f->topic_label[q] = tg[c];
		for (int l = 0; l < L; l++) {
			int64_t sum = 0;
			for (int e = 0; e < E; e++)
				sum += count[(size_t)c * n + l * E + e];
			for (int e = 0; e < E; e++)
				f->topic_shares[((size_t)l * K + q) * E + e] = (double)count[(size_t)c * n + l * E + e] / (double)sum;
		}
		f->topics++;
	}
	/* Compact [L][K][E] to [L][topics][E]. */
	for (int l = 0; l < L; l++)
		memmove(f->topic_shares + (size_t)l * f->topics * E, f->topic_shares + (size_t)l * K * E,
			(size_t)f->topics * E * sizeof *f->topic_shares);
	rc = MS_OK;
out:
	free(len);
	free(group);
	free(assign);
	free(tg);
	free(centre);
	free(mind);
	free(members);
	free(count);
	return rc;
}

int tr_fit_measure(tr_reader *r, int top_k, int per_domain, tr_fit **out, ms_error *err)
{
	const tr_info *in = tr_get_info(r);
	const int L = in->num_layers, E = in->num_experts, D = in->has_domain ? in->num_domains : 0;
	const int64_t T = in->num_tokens;
	const int k = top_k > 0 ? top_k : tr_stats_default_top_k(in);
	tr_fit *f;
	tr_token *tok = NULL;
	int16_t *ids = NULL;
	int64_t *cnt = NULL, *dcnt = NULL, *dseq = NULL, *seq_of = NULL;
	int32_t *hist = NULL;
	int rc = MS_ENOMEM, max_rank = 0;
	*out = NULL;
	if (k < 1 || k > in->depth)
		return MS_ERROR(err, MS_ERANGE, "%s: top-%d is out of range: the trace records depth %d", in->path, k, in->depth);
	if (per_domain < 1 || per_domain > 4096)
		return MS_ERROR(err, MS_ERANGE, "%d topics per domain: must be in 1..4096", per_domain);
	if (T < 2)
		return MS_ERROR(err, MS_EINVAL, "%s: %lld tokens: a fit needs at least 2 (consecutive tokens of a sequence)",
				in->path, (long long)T);
	if (!(f = ms_calloc(err, 1, sizeof *f, "trace fit")))
		return MS_ENOMEM;
	f->layers = L;
	f->experts = E;
	f->top_k = k;
	f->depth = in->depth;
	f->domains = D;
	f->tokens = T;
	f->shares = ms_calloc(err, (size_t)L * E, sizeof *f->shares, "trace fit");
	f->max_mean = ms_calloc(err, (size_t)L, sizeof *f->max_mean, "trace fit");
	f->repeat1 = ms_calloc(err, (size_t)L, sizeof *f->repeat1, "trace fit");
	f->repeat12 = ms_calloc(err, (size_t)L, sizeof *f->repeat12, "trace fit");
	f->seq_skew = ms_calloc(err, (size_t)L, sizeof *f->seq_skew, "trace fit");
	f->rho = ms_calloc(err, (size_t)L, sizeof *f->rho, "trace fit");
	f->swap = ms_calloc(err, (size_t)L, sizeof *f->swap, "trace fit");
	f->baseline = ms_calloc(err, (size_t)L, sizeof *f->baseline, "trace fit");
	f->baseline12 = ms_calloc(err, (size_t)L, sizeof *f->baseline12, "trace fit");
	tok = ms_malloc(err, (size_t)T * sizeof *tok, "token metadata");
	ids = ms_malloc(err, (size_t)T * (size_t)k * sizeof *ids, "layer ids");
	cnt = ms_calloc(err, 2 * (size_t)E, sizeof *cnt, "counts");
	if (D > 0) {
		f->domain_shares = ms_calloc(err, (size_t)L * D * E, sizeof *f->domain_shares, "trace fit");
		f->domain_mix = ms_calloc(err, (size_t)D, sizeof *f->domain_mix, "trace fit");
		f->domain_names = ms_calloc(err, (size_t)D, sizeof *f->domain_names, "trace fit");
		dcnt = ms_calloc(err, (size_t)L * D * E, sizeof *dcnt, "domain counts");
		dseq = ms_calloc(err, (size_t)D, sizeof *dseq, "domain counts");
		if (!f->domain_shares || !f->domain_mix || !f->domain_names || !dcnt || !dseq)
			goto out;
		for (int d = 0; d < D; d++)
			if (!(f->domain_names[d] = strdup(in->domain_names[d])))
				goto out;
	}
	if (!f->shares || !f->max_mean || !f->repeat1 || !f->repeat12 || !f->seq_skew || !f->rho || !f->swap ||
	    !f->baseline || !f->baseline12 || !tok || !ids || !cnt)
		goto out;
	if ((rc = tr_read_tokens(r, 0, T, tok, err)) < 0)
		goto out;
	for (int64_t t = 0; t < T; t++) {
		max_rank = tok[t].rank > max_rank ? tok[t].rank : max_rank;
		if (t == 0 || tok[t].step != tok[t - 1].step)
			f->steps++;
		if (t > 0 && same_sequence(&tok[t - 1], &tok[t])) {
			f->pairs++;
		} else {
			f->sequences++;
			if (D > 0 && tok[t].domain >= 0 && tok[t].domain < D)
				dseq[tok[t].domain]++;
		}
	}
	f->ranks = max_rank + 1;
	f->seq_len = (int)((T + f->sequences / 2) / f->sequences);
	if (per_domain > 1) {
		seq_of = ms_malloc(err, (size_t)T * sizeof *seq_of, "sequence index");
		hist = ms_calloc(err, (size_t)f->sequences * L * E, sizeof *hist, "sequence histograms");
		if (!seq_of || !hist) {
			rc = MS_ENOMEM;
			goto out;
		}
		for (int64_t t = 0, s = -1; t < T; t++) {
			if (t == 0 || !same_sequence(&tok[t - 1], &tok[t]))
				s++;
			seq_of[t] = s;
		}
	}
	for (int l = 0; l < L; l++) {
		if ((rc = tr_read_routing_topk(r, l, 0, T, k, ids, NULL, err)) < 0)
			goto out;
		for (int64_t i = 0; i < T * k; i++)
			if (ids[i] < 0 || ids[i] >= E) {
				rc = MS_ERROR(err, MS_EFORMAT,
					      "%s: /routing/expert_ids[%d, %lld, %d] = %d is out of range: num_experts = %d "
					      "(run moesim trace validate)",
					      in->path, l, (long long)(i / k), (int)(i % k), ids[i], E);
				goto out;
			}
		measure_layer(f, l, tok, ids, cnt, dcnt);
		if (hist)
			for (int64_t i = 0; i < T * k; i++)
				hist[((size_t)seq_of[i / k] * L + l) * E + ids[i]]++;
	}
	for (int d = 0; d < D; d++) {
		f->domain_mix[d] = (double)dseq[d] / (double)f->sequences;
		for (int l = 0; l < L; l++) {
			const int64_t *c = dcnt + ((size_t)l * D + d) * E;
			double *s = f->domain_shares + ((size_t)l * D + d) * E;
			int64_t sum = 0;
			for (int e = 0; e < E; e++)
				sum += c[e];
			/* A domain with no tokens keeps the layer's shares (it is never drawn: mix 0). */
			for (int e = 0; e < E; e++)
				s[e] = sum > 0 ? (double)c[e] / (double)sum : f->shares[(size_t)l * E + e];
		}
	}
	rc = hist ? cluster_topics(f, tok, hist, per_domain, err) : plain_topics(f, err);
out:
	free(tok);
	free(ids);
	free(cnt);
	free(dcnt);
	free(dseq);
	free(seq_of);
	free(hist);
	if (rc < 0) {
		tr_fit_free(f);
		return rc;
	}
	*out = f;
	return MS_OK;
}

void tr_fit_synth_opts(const tr_fit *f, tr_synth_opts *o)
{
	tr_synth_defaults(o);
	o->layers = f->layers;
	o->experts = f->experts;
	o->depth = f->depth;
	o->top_k = f->top_k;
	o->tokens = f->tokens;
	o->steps = f->steps;
	o->ranks = f->ranks;
	o->seq_len = f->seq_len;
	o->dist = TR_DIST_TABLE;
	o->table = f->shares;
	o->layer_correlation = f->rho;
	o->layer_swap = f->top_k >= 2 ? f->swap : NULL;
	if (f->topics > 0) {
		o->domains = f->topics;
		o->domain_table = f->topic_shares;
		o->domain_mix = f->topic_mix;
		if (f->topics != f->domains) {
			/* Several topics a label (or topics without labels): write the labels. */
			o->topic_label = f->topic_label;
			o->labels = f->domains;
		}
		o->domain_names = (const char *const *)f->domain_names;
	}
}

int tr_fit_solve(tr_fit *f, ms_error *err)
{
	const int L = f->layers, E = f->experts, DD = f->topics > 0 ? f->topics : 1;
	tr_synth_opts o;
	double *w = ms_malloc(err, (size_t)L * DD * E * sizeof *w, "fitted weights");
	int rc;
	if (!w)
		return MS_ENOMEM;
	double *pi2 = ms_malloc(err, (size_t)E * sizeof *pi2, "fitted weights");
	if (!pi2) {
		free(w);
		return MS_ENOMEM;
	}
	tr_fit_synth_opts(f, &o);
	o.layer_correlation = o.layer_swap = NULL; /* not yet known; the weights do not depend on them */
	if ((rc = tr_synth_weights(&o, w, NULL, err)) < 0)
		goto out;
	for (int l = 0; l < L; l++) {
		double b = 0, b12 = 0, r1 = f->repeat1[l], r12 = f->repeat12[l];
		/* The first-choice probabilities of Plackett-Luce weights are the weights (normalised). */
		for (int d = 0; d < DD; d++) {
			const double *wd = w + ((size_t)l * DD + d) * E, m = f->topics > 0 ? f->topic_mix[d] : 1.0;
			if ((rc = tr_pl_inclusion(wd, E, E < 2 ? E : 2, pi2, err)) < 0)
				goto out;
			for (int e = 0; e < E; e++) {
				b += m * wd[e] * wd[e];
				b12 += m * wd[e] * pi2[e];
			}
		}
		f->baseline[l] = b;
		f->baseline12[l] = b12;
		f->rho[l] = f->swap[l] = 0;
		if (isnan(r1) || b >= 1)
			continue;
		if (f->top_k >= 2 && !isnan(r12) && b12 < 1) {
			double u = (1 - r12) / (1 - b12), rho = r1 - u * b;
			if (u > 0 && u <= 1 && rho >= 0 && 1 - rho - u >= 0) {
				f->rho[l] = rho;
				f->swap[l] = 1 - rho - u;
				continue;
			}
		}
		f->rho[l] = fmin(fmax((r1 - b) / (1 - b), 0.0), 0.999);
	}
	rc = MS_OK;
out:
	free(pi2);
	free(w);
	return rc;
}

/* |a - b| / |a|, or NaN when a is 0 or either is undefined. */
static double rel_err(double a, double b)
{
	return isnan(a) || isnan(b) || a == 0 ? NAN : fabs(a - b) / fabs(a);
}

int tr_fit_print(FILE *out, const tr_fit *src, const tr_fit *syn, const char *src_path, const char *syn_path,
		 ms_error *err)
{
	const int L = src->layers;
	double worst[4] = {0, 0, 0, 0}, sum[8] = {0};
	int wl[4] = {0, 0, 0, 0};
	MS_ASSERT(syn->layers == L, "layers %d vs %d", syn->layers, L);
	fprintf(out, "fit of %s (%d layers, %d experts, top-%d, %lld tokens, %lld sequences, %d domain%s):\n", src_path, L,
		src->experts, src->top_k, (long long)src->tokens, (long long)src->sequences, src->domains,
		src->domains == 1 ? "" : "s");
	fprintf(out, "the trace, then the synthetic one (%s); rho: the fitted copy probability, swap: a copy with the first\n"
		     "two swapped, b: the independent repeat rate\n\n",
		syn_path);
	fprintf(out, "layer   max/mean          repeat 1st        repeat 1st|2nd    seq. skew          rho   swap      b\n");
	for (int l = 0; l < L; l++) {
		const double a[4] = {src->max_mean[l], src->repeat1[l], src->repeat12[l], src->seq_skew[l]};
		const double b[4] = {syn->max_mean[l], syn->repeat1[l], syn->repeat12[l], syn->seq_skew[l]};
		fprintf(out, "%5d", l);
		for (int i = 0; i < 4; i++) {
			double e = rel_err(a[i], b[i]);
			fprintf(out, "   %6.3f %6.3f   ", a[i], b[i]);
			if (!isnan(e) && e > worst[i]) {
				worst[i] = e;
				wl[i] = l;
			}
			sum[2 * i] += a[i] / L;
			sum[2 * i + 1] += b[i] / L;
		}
		fprintf(out, "%6.3f %6.3f  %5.3f\n", src->rho[l], src->swap[l], src->baseline[l]);
	}
	if (L > 1) {
		fprintf(out, " mean");
		for (int i = 0; i < 4; i++)
			fprintf(out, "   %6.3f %6.3f   ", sum[2 * i], sum[2 * i + 1]);
		fprintf(out, "\n");
	}
	fprintf(out, "\nworst relative error: max/mean %.2f %% (layer %d), repeat 1st %.2f %% (layer %d), repeat 1st|2nd "
		     "%.2f %% (layer %d), seq. skew %.2f %% (layer %d)\n",
		100 * worst[0], wl[0], 100 * worst[1], wl[1], 100 * worst[2], wl[2], 100 * worst[3], wl[3]);
	if (fflush(out) != 0 || ferror(out))
		return MS_ERROR(err, MS_EIO, "writing the fit report failed");
	return MS_OK;
}
