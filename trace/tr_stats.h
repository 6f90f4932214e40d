/*
 * tr_stats.h - what a router trace says about load and specialisation, for `moesim trace
 * stats` (definitions with formulas in docs/trace-tools.md, "Statistics").
 *
 * Over the first k ranked experts of every token (k = top_k):
 *  - load n[l][e]: tokens of layer l that chose expert e; mean = sum_e n[l][e] / E (= T k / E);
 *    max/mean, min/mean, and the coefficient of variation (population standard deviation
 *    over experts / mean);
 *  - repeat rate: of the pairs of consecutive tokens of one sequence (adjacent in the file
 *    with equal step, rank and sequence), the share whose first choice is the same expert;
 *    compared with sum_e f_e^2 (f = first-choice shares), the rate if consecutive tokens
 *    chose independently;
 *  - with domain labels, c[l][d][e] (assignments from domain d to expert e):
 *    purity of expert e = max_d c[d][e] / sum_d c[d][e]; layer purity = the load-weighted
 *    mean, sum_e max_d c[d][e] / sum c (domain-blind routing gives about the largest
 *    domain's token share);
 *    concentration of domain d = the share of d's assignments taken by d's k most used
 *    experts; layer concentration = sum_d (that top-k sum) / sum c (baseline: the share of
 *    the layer's k most used experts overall, what domain-blind routing gives).
 *
 * One streaming pass, blocks of one chunk: memory O(L (E + D E)), independent of T.
 * tr_stats_print writes the report of `moesim trace stats` (table or CSV).
 */
#ifndef TR_STATS_H
#define TR_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "common/ms_error.h"
#include "trace/tr_reader.h"

typedef struct tr_stats {
	int layers, experts, top_k, domains;
	int64_t tokens;
	int64_t seq_pairs;      /* consecutive token pairs within one sequence */
	int64_t *load;          /* [L][E] */
	int64_t *first;         /* [L][E] first choices */
	int64_t *repeats;       /* [L] pairs whose first choice repeats */
	int64_t *domain_tokens; /* [D] */
	int64_t *domain_load;   /* [L][D][E]; NULL without domains */
} tr_stats;

typedef struct tr_layer_summary {
	double max_mean, min_mean, cv;
	double repeat_rate;         /* NaN when the trace has no consecutive pair */
	double repeat_independent;  /* sum_e f_e^2 */
	double purity, purity_baseline;               /* NaN without domains */
	double concentration, concentration_baseline; /* NaN without domains */
} tr_layer_summary;

/* The default k: the trace's top_k attribute when present, else min(2, depth). */
int tr_stats_default_top_k(const tr_info *in);

/* Empty statistics (every count 0, tokens 0) for a caller that counts itself (routing/rt_quality);
 * NULL on allocation failure. Freed with tr_stats_free. */
tr_stats *tr_stats_create(int layers, int experts, int top_k, int domains, ms_error *err);

/* One pass over the trace. top_k in 1..depth. *out is freed with tr_stats_free. */
int tr_stats_compute(tr_reader *r, int top_k, tr_stats **out, ms_error *err);
void tr_stats_free(tr_stats *s);

void tr_stats_summary(const tr_stats *s, int layer, tr_layer_summary *o);

/*
 * The four specialisation fields of o (purity, concentration and their baselines; the
 * others untouched) from one layer's counts, as tr_stats_summary computes them: load[E]
 * kept pairs per expert, domain_load[D][E] pairs by their token's label, domain_tokens[D]
 * tokens per label. For callers that keep such counts per step (rt_quality, the run).
 * All NaN when D = 0 (then domain_load and domain_tokens may be NULL).
 */
void tr_stats_specialisation(int experts, int domains, int top_k, const int64_t *load, const int64_t *domain_load,
			     const int64_t *domain_tokens, tr_layer_summary *o);

/* Purity of one expert (NaN when it has no assignments); *dominant its dominant domain. */
double tr_stats_expert_purity(const tr_stats *s, int layer, int expert, int *dominant);

/* Concentration of one domain (NaN when it has no tokens). */
double tr_stats_domain_concentration(const tr_stats *s, int layer, int domain);

/* What tr_stats_print adds to the table (flags; TR_STATS_CSV replaces the table). */
enum {
	TR_STATS_PER_EXPERT = 1u << 0, /* each expert's load share, purity and dominant domain */
	TR_STATS_PER_DOMAIN = 1u << 1, /* each domain's concentration and its top_k experts */
	TR_STATS_CSV = 1u << 2         /* one CSV row per layer instead of the table */
};

/*
 * Writes the report of `moesim trace stats` for s, computed from the trace described by in
 * (its path, top_k and domain names are printed): a header, one row per layer (and their
 * mean), then the sections flags ask for. MS_EIO when writing to f fails.
 */
int tr_stats_print(FILE *f, const tr_stats *s, const tr_info *in, unsigned flags, ms_error *err);

#endif
