/*
 * tr_stats.c - load and specialisation statistics of a trace (definitions in tr_stats.h
 * and docs/trace-tools.md), and their report, the output of `moesim trace stats`.
 * Counting is exact (int64); ratios are formed at the end. The report's layout is
 * what scripts may parse (the CSV above all): a change to it is a change of the CLI.
 */
#include "trace/tr_stats.h"

#include <math.h>
#include <stdio.h>
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

tr_stats *tr_stats_create(int layers, int experts, int top_k, int domains, ms_error *err)
{
	const int L = layers, E = experts, D = domains;
	tr_stats *s = ms_calloc(err, 1, sizeof *s, "trace statistics");
	if (!s)
		return NULL;
	s->layers = L;
	s->experts = E;
	s->top_k = top_k;
	s->domains = D;
	s->load = ms_calloc(err, (size_t)L * (size_t)E, sizeof *s->load, "expert loads");
	s->first = ms_calloc(err, (size_t)L * (size_t)E, sizeof *s->first, "first choices");
	s->repeats = ms_calloc(err, (size_t)L, sizeof *s->repeats, "repeat counts");
	s->domain_tokens = ms_calloc(err, D > 0 ? (size_t)D : 1, sizeof *s->domain_tokens, "domain counts");
	s->domain_load = D > 0 ? ms_calloc(err, (size_t)L * (size_t)D * (size_t)E, sizeof *s->domain_load, "domain loads") : NULL;
	if (!s->load || !s->first || !s->repeats || !s->domain_tokens || (D > 0 && !s->domain_load)) {
		tr_stats_free(s);
		return NULL;
	}
	return s;
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
	if (!(s = tr_stats_create(L, E, k, D, err)))
		return MS_ENOMEM;
	s->tokens = in->num_tokens;
	ids = ms_malloc(err, (size_t)block * (size_t)k * sizeof *ids, "trace block");
	tok = ms_malloc(err, (size_t)block * sizeof *tok, "token block");
	prev_first = ms_calloc(err, (size_t)L, sizeof *prev_first, "previous choices");
	if (!ids || !tok || !prev_first) {
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
	double mean, var = 0, indep = 0;
	int64_t mx = 0, mn = INT64_MAX, counted = 0;
	/* The mean of what was counted: T k for a trace (ids are distinct per token), the kept
	 * pairs when a router's result is counted (rt_quality). */
	for (int e = 0; e < E; e++)
		counted += load[e];
	mean = (double)counted / E;
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
	tr_stats_specialisation(E, D, s->top_k, load, D > 0 ? s->domain_load + (size_t)layer * D * E : NULL,
				s->domain_tokens, o);
}

void tr_stats_specialisation(int E, int D, int top_k, const int64_t *load, const int64_t *c,
			     const int64_t *domain_tokens, tr_layer_summary *o)
{
	o->purity = o->purity_baseline = o->concentration = o->concentration_baseline = NAN;
	if (D > 0) {
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
			conc += top_sum(c + (size_t)d * E, E, top_k);
			dmax = domain_tokens[d] > dmax ? domain_tokens[d] : dmax;
			dsum += domain_tokens[d];
		}
		if (total > 0) {
			int64_t lsum = 0;
			for (int e = 0; e < E; e++)
				lsum += load[e];
			o->purity = (double)pure / (double)total;
			o->concentration = (double)conc / (double)total;
			o->concentration_baseline = lsum > 0 ? (double)top_sum(load, E, top_k) / (double)lsum : NAN;
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

/* ---- the report ---- */

/* A ratio with three decimals, or "-" when undefined. */
static void fmt_num(char *buf, size_t n, double v)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.3f", v);
}

static const char *plural(long long n)
{
	return n == 1 ? "" : "s";
}

static void print_csv(FILE *f, const tr_stats *s)
{
	fprintf(f, "layer,max_over_mean,min_over_mean,cv,repeat_rate,repeat_independent,purity,purity_baseline,"
		   "concentration,concentration_baseline\n");
	for (int l = 0; l < s->layers; l++) {
		tr_layer_summary o;
		tr_stats_summary(s, l, &o);
		fprintf(f, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", l, o.max_mean, o.min_mean, o.cv, o.repeat_rate,
			o.repeat_independent, o.purity, o.purity_baseline, o.concentration, o.concentration_baseline);
	}
}

/* The table: one row per layer, and their mean when there is more than one. */
static void print_table(FILE *f, const tr_stats *s, const tr_info *in)
{
	const int top_k = s->top_k;
	double sum[8] = {0};
	fprintf(f, "%s: %d layer%s x %lld tokens, %d experts; load over each token's first %d ranked expert%s%s\n",
		in->path, s->layers, plural(s->layers), (long long)s->tokens, s->experts, top_k, plural(top_k),
		in->top_k > 0 ? (top_k == in->top_k ? " (the model's top_k)" : "") : "");
	fprintf(f, "%lld consecutive token pairs within sequences\n\n", (long long)s->seq_pairs);
	fprintf(f, "layer  max/mean  min/mean     cv   repeat (indep)");
	if (s->domains > 0)
		fprintf(f, "   purity (blind)   concentr. (blind)");
	fprintf(f, "\n");
	for (int l = 0; l < s->layers; l++) {
		tr_layer_summary o;
		char a[16], b[16], c[16], d[16];
		tr_stats_summary(s, l, &o);
		fmt_num(a, sizeof a, o.repeat_rate);
		fmt_num(b, sizeof b, o.repeat_independent);
		fprintf(f, "%5d  %8.3f  %8.3f  %5.3f  %7s (%5s)", l, o.max_mean, o.min_mean, o.cv, a, b);
		if (s->domains > 0) {
			fmt_num(a, sizeof a, o.purity);
			fmt_num(b, sizeof b, o.purity_baseline);
			fmt_num(c, sizeof c, o.concentration);
			fmt_num(d, sizeof d, o.concentration_baseline);
			fprintf(f, "   %6s (%5s)   %9s (%5s)", a, b, c, d);
		}
		fprintf(f, "\n");
		sum[0] += o.max_mean;
		sum[1] += o.min_mean;
		sum[2] += o.cv;
		sum[3] += o.repeat_rate;
		sum[4] += o.repeat_independent;
		sum[5] += o.purity;
		sum[6] += o.concentration;
	}
	if (s->layers > 1) {
		char a[16], b[16];
		fmt_num(a, sizeof a, sum[3] / s->layers);
		fmt_num(b, sizeof b, sum[4] / s->layers);
		fprintf(f, " mean  %8.3f  %8.3f  %5.3f  %7s (%5s)", sum[0] / s->layers, sum[1] / s->layers, sum[2] / s->layers,
			a, b);
		if (s->domains > 0) {
			fmt_num(a, sizeof a, sum[5] / s->layers);
			fmt_num(b, sizeof b, sum[6] / s->layers);
			fprintf(f, "   %6s          %9s", a, b);
		}
		fprintf(f, "\n");
	}
}

static void print_per_expert(FILE *f, const tr_stats *s, const tr_info *in)
{
	fprintf(f, "\nper expert: load share of the layer's assignments");
	if (s->domains > 0)
		fprintf(f, ", purity and dominant domain");
	fprintf(f, "\n");
	for (int l = 0; l < s->layers; l++) {
		int64_t tot = 0;
		for (int e = 0; e < s->experts; e++)
			tot += s->load[(size_t)l * s->experts + e];
		fprintf(f, "layer %d:\n", l);
		for (int e = 0; e < s->experts; e++) {
			int dom;
			double p = tr_stats_expert_purity(s, l, e, &dom);
			fprintf(f, "  e%-4d %6.4f", e, tot > 0 ? (double)s->load[(size_t)l * s->experts + e] / (double)tot : 0.0);
			if (s->domains > 0 && !isnan(p))
				fprintf(f, "  purity %.3f (%s)", p, in->domain_names[dom]);
			fprintf(f, "\n");
		}
	}
}

static void print_per_domain(FILE *f, const tr_stats *s, const tr_info *in)
{
	const int top_k = s->top_k;
	if (s->domains == 0) {
		fprintf(f, "\n(no domain labels in this trace)\n");
		return;
	}
	fprintf(f, "\nper domain: tokens; per layer the concentration and the %d most used expert%s\n", top_k,
		plural(top_k));
	for (int d = 0; d < s->domains; d++) {
		fprintf(f, "%s (%lld tokens):\n", in->domain_names[d], (long long)s->domain_tokens[d]);
		for (int l = 0; l < s->layers; l++) {
			const int64_t *c = s->domain_load + ((size_t)l * s->domains + d) * s->experts;
			char used[TR_MAX_EXPERTS / 8 + 1];
			memset(used, 0, sizeof used);
			fprintf(f, "  layer %-3d %.3f  experts", l, tr_stats_domain_concentration(s, l, d));
			/* The top_k most used, most first (ties: the lower id), by repeated maxima. */
			for (int q = 0; q < top_k && q < s->experts; q++) {
				int best = -1;
				for (int e = 0; e < s->experts; e++)
					if (!(used[e / 8] & (1 << (e % 8))) && (best < 0 || c[e] > c[best]))
						best = e;
				used[best / 8] |= (char)(1 << (best % 8));
				fprintf(f, " e%d", best);
			}
			fprintf(f, "\n");
		}
	}
}

int tr_stats_print(FILE *f, const tr_stats *s, const tr_info *in, unsigned flags, ms_error *err)
{
	if (flags & TR_STATS_CSV) {
		print_csv(f, s);
	} else {
		print_table(f, s, in);
		if (flags & TR_STATS_PER_EXPERT)
			print_per_expert(f, s, in);
		if (flags & TR_STATS_PER_DOMAIN)
			print_per_domain(f, s, in);
	}
	if (fflush(f) != 0 || ferror(f))
		return MS_ERROR(err, MS_EIO, "writing the statistics of %s failed", in->path);
	return MS_OK;
}
