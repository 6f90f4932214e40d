/*
 * tr_fit.h - what a synthetic trace must reproduce of a recorded one, and the synthesis
 * parameters that reproduce it (`moesim trace synth --match TRACE`, docs/routing.md).
 *
 * Measured per layer l over each token's first k ranked experts (k = the trace's top_k):
 *  - shares f[l][e] of the layer's assignments (max/mean = E max_e f);
 *  - repeat rates over the pairs of consecutive tokens of one sequence: r1, the share
 *    whose first choice is the same expert; r12, the share whose first choice is one of
 *    the previous token's first two (= r1 at k = 1);
 *  - per-sequence skew: the mean over sequences of max_e n_s[e] / (len_s k / E), the load
 *    max/mean inside one sequence (1 for perfectly even routing; short sequences are
 *    lumpy even when routing is independent, so compare like with like);
 *  - with domain labels, the shares per (layer, domain) and the share of sequences of
 *    each domain (a sequence's domain is its first token's).
 *
 * Fit (tr_fit_solve): the synthesis of tr_synth.h with topics (one per domain label, or
 * several per label, see tr_fit_measure): each topic's weights solved for its measured
 * shares (so every layer's load matches as a mixture), sequences drawn from the topics in
 * the measured proportions and labelled with their topic's domain (the topic mixture
 * carries the per-sequence skew), and a per-layer copy probability
 *     rho[l] = (r1[l] - b[l]) / (1 - b[l]),  b[l] = sum_d mix_d sum_e p1[l][d][e]^2,
 * with p1 the first-choice probabilities of the solved weights (the repeat rate that
 * independent draws within a sequence of one domain give), so that the model's r1 equals
 * the trace's: r1 = rho + (1 - rho) b. With k >= 2 a second per-layer parameter, swap:
 * a token copies the previous ranking with its first two swapped (the previous second
 * choice becomes the first), so that r12 is fitted too. With u = 1 - rho - swap the
 * fresh draws and b12 = sum_d mix_d sum_e p1[l][d][e] pi2[l][d][e] (pi2: inclusion in
 * the first two),
 *     r1 = rho + u b,  r12 = rho + swap + u b12   =>   u = (1 - r12) / (1 - b12),
 *     rho = r1 - u b,  swap = 1 - rho - u
 * (approximate: the previous token's first choice is taken as distributed like a fresh
 * one). When that gives swap < 0 (the trace's r12 is below what copies imply) swap is 0
 * and rho = (r1 - b) / (1 - b). Without labels there is one topic (the layer shares) and
 * per-sequence skew beyond the repeats is not modelled.
 *
 * Memory: the token metadata (24 bytes a token) and one layer's ids (2 k bytes a token).
 */
#ifndef TR_FIT_H
#define TR_FIT_H

#include <stdint.h>
#include <stdio.h>

#include "common/ms_error.h"
#include "trace/tr_reader.h"
#include "trace/tr_synth.h"

typedef struct tr_fit {
	int layers, experts, top_k, depth, domains;
	int64_t tokens, sequences, pairs; /* pairs: consecutive token pairs within sequences */
	int steps, ranks, seq_len;        /* the trace's steps and ranks; mean tokens per sequence (rounded) */
	double *shares;        /* [L][E] */
	double *domain_shares; /* [L][D][E]; NULL without labels */
	double *domain_mix;    /* [D] share of sequences per domain; NULL without labels */
	char **domain_names;   /* [D] */
	double *max_mean;      /* [L] */
	double *repeat1;       /* [L] r1 (NaN without pairs) */
	double *repeat12;      /* [L] r12 */
	double *seq_skew;      /* [L] */
	int topics;            /* topics of the synthesis: 0 (none: the layer shares), else per_domain x max(D, 1) at most */
	double *topic_shares;  /* [L][topics][E] */
	double *topic_mix;     /* [topics] share of sequences */
	int *topic_label;      /* [topics] the domain label of each topic (0 without labels) */
	double *rho;           /* [L] the fitted copy probability (tr_fit_solve) */
	double *swap;          /* [L] the fitted probability of a copy with the first two swapped */
	double *baseline;      /* [L] b[l] of the fitted weights */
	double *baseline12;    /* [L] b12[l]: a fresh first choice among the previous token's first two */
} tr_fit;

/*
 * Measures r (top_k in 1..depth; 0: the trace's default) and forms the topics: with
 * per_domain = 1 one per domain label (none without labels); with per_domain = M > 1 the
 * sequences of each label (all sequences without labels) are clustered into up to M
 * topics by k-means (Lloyd 1982) on their per-layer expert shares, farthest-point seeded
 * from the label's first sequence (deterministic), 30 rounds; each topic's shares are its
 * sequences' pooled counts. *out is freed with tr_fit_free.
 */
int tr_fit_measure(tr_reader *r, int top_k, int per_domain, tr_fit **out, ms_error *err);
void tr_fit_free(tr_fit *f);

/* Fills f->rho and f->baseline (solving the weights as tr_synth_write will). */
int tr_fit_solve(tr_fit *f, ms_error *err);

/*
 * Synthesis options that reproduce f (after tr_fit_solve): its layers, experts, depth,
 * top_k, tokens, steps, ranks, mean sequence length, the shares as a table, the domains
 * with their shares and mixture, rho per layer. They point into f (valid while f lives);
 * seed and the rest keep tr_synth_defaults.
 */
void tr_fit_synth_opts(const tr_fit *f, tr_synth_opts *o);

/* The report of `trace synth --match`: per layer src's statistics beside syn's (the
 * synthetic trace measured back), the fitted rho and b, the worst relative errors. */
int tr_fit_print(FILE *out, const tr_fit *src, const tr_fit *syn, const char *src_path, const char *syn_path,
		 ms_error *err);

#endif
