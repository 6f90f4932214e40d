/*
 * tr_synth.h - synthetic router traces (`moesim trace synth`), in the same format as
 * recorded ones, so the replay, `trace stats` and the tests can run on known routing.
 *
 * Model (docs/trace-tools.md, "Synthetic traces"): each layer l (and domain d) has
 * sampling weights w[l][d][e]. A token's ranking is the Plackett-Luce ranking of the
 * experts under w (successive sampling without replacement), drawn exactly with the
 * exponential race: X_e ~ Exp(1), key_e = w_e / X_e, experts sorted by key, best first
 * (equivalently Gumbel-top-k of log w: log key_e = log w_e + Gumbel). The recorded scores
 * are softmax(log key) over all E experts, i.e. key_e / sum key; /routing/logits (with
 * --logits) holds log key, so scores are consistent with logits and non-increasing.
 *
 * Weights: uniform; zipf (w ~ 1/rank^s, ranks a random permutation per layer); dirichlet
 * (w ~ Dirichlet(alpha) per layer); table (w solved so that every expert's SELECTION
 * frequency at top_k equals the table's share: tr_pl_solve). With match_selection, zipf
 * and dirichlet popularities are also taken as selection shares and solved for.
 * Domains: D labels, one per sequence; w[l][d] = (1 - skew) w[l] + skew q[l][d], q uniform
 * over the experts whose home is d (home(e) = pi_l(e) mod D, pi_l a random permutation).
 * With a domain table (fitted by tr_fit.h) each domain's weights are solved for its own
 * measured selection shares, and a sequence's domain is drawn from domain_mix.
 * Correlation rho (or rho[l] per layer): a token other than the first of its sequence repeats the previous
 * token's ranking and scores with probability rho (independently per layer), else draws
 * afresh; the first-choice repeat rate is then rho + (1 - rho) sum_e f_e^2.
 *
 * Determinism: layer l of token block b (TR_CHUNK_TOKENS tokens) draws from a gsl_rng
 * (mt19937) seeded by ms_stream_seed(seed, 0x5E7, l, b, 0); weights from streams of their
 * own; so the bytes depend only on the options.
 */
#ifndef TR_SYNTH_H
#define TR_SYNTH_H

#include <stdint.h>

#include "common/ms_error.h"

typedef enum tr_dist { TR_DIST_UNIFORM, TR_DIST_ZIPF, TR_DIST_DIRICHLET, TR_DIST_TABLE } tr_dist;

/* Parses "uniform", "zipf", "dirichlet", "table"; 0 or -1. */
int tr_dist_parse(const char *s, tr_dist *out);
const char *tr_dist_name(tr_dist d);

typedef struct tr_synth_opts {
	int layers, experts, depth; /* L, E, K */
	int top_k;                  /* k <= K: written as attribute top_k; the k table matching targets */
	int64_t tokens;             /* T */
	uint64_t seed;
	tr_dist dist;
	double zipf_s;              /* zipf exponent s >= 0 */
	double alpha;               /* Dirichlet concentration > 0 */
	const double *table;        /* TABLE: [L][E] shares of the top-k assignments (each layer sums to 1) */
	int match_selection;        /* zipf, dirichlet: solve so that selection shares equal the popularity */
	double correlation;         /* rho in [0, 1] */
	int domains;                /* D in 0..E */
	double domain_skew;         /* in [0, 1] */
	/* Fitted models (trace/tr_fit.h, `trace synth --match`); NULL keeps the options above. */
	const double *layer_correlation; /* [L] rho per layer, instead of correlation */
	const double *layer_swap;        /* [L] probability that a token repeats the previous ranking with its
					  * first two swapped (rho + swap <= 1; NULL: never) */
	const double *domain_table;      /* [L][D][E] selection shares of each domain (sum 1 per (l, d)), solved
					  * for as a table, instead of home experts and domain_skew */
	const double *domain_mix;        /* [D] probability of each domain for a sequence, instead of uniform */
	const int *topic_label;          /* [D] the label written for each of the D topics above, < labels;
					  * NULL: the topic is the label */
	int labels;                      /* with topic_label: labels written (0: no /tokens/domain) */
	const char *const *domain_names; /* [D, or labels with topic_label] labels, instead of domain0.. */
	int steps, ranks;           /* token metadata: T split evenly over steps, then ranks */
	int seq_len;                /* tokens per sequence (the last of a rank may be shorter) */
	int logits;                 /* write /routing/logits */
	const char *model;          /* NULL: "synthetic" */
	const char *created;        /* NULL: TR_CREATED_UNKNOWN */
} tr_synth_opts;

/* Options with the documented defaults (uniform, 1 step, 1 rank, seq_len 1024, seed 1...). */
void tr_synth_defaults(tr_synth_opts *o);

/* Checks the options; MS_EINVAL with a message naming the option. */
int tr_synth_check(const tr_synth_opts *o, ms_error *err);

/*
 * The sampling weights: w[(l * max(D, 1) + d) * E + e], normalised to sum 1 per (l, d).
 * Also the layer popularity before domain mixing when pop is non-NULL: pop[l * E + e].
 */
int tr_synth_weights(const tr_synth_opts *o, double *w, double *pop, ms_error *err);

/*
 * What tr_synth_write will write, before it starts: *bytes, the file before compression
 * (ids int16 and scores float32 [L][T][K], logits float32 [L][T][E] with --logits, the
 * token metadata step, position, rank int32 and domain int16 [T], and the weights), an
 * upper bound (gzip keeps about 60 % of uniform routing, far less of skewed or
 * correlated routing: measured in docs/trace-tools.md); *time_s, roughly, on one thread
 * (the exponential race draws E keys per token and layer, about 2e7 a second). O(1).
 */
void tr_synth_estimate(const tr_synth_opts *o, double *bytes, double *time_s);

/* Writes the trace (complete or absent; see tr_writer.h). */
int tr_synth_write(const char *path, int force, const tr_synth_opts *o, ms_error *err);

/*
 * Plackett-Luce inclusion probabilities: pi[e] = P(e is among the first k experts drawn
 * by successive sampling without replacement with weights w[0..n)). Exact for k = 1, 2
 * and k >= n; otherwise by quadrature of the exponential-race integral
 * pi_e = int_0^inf w_e exp(-w_e t) P(fewer than k others arrived by t) dt (w normalised),
 * relative error below 1e-9 in the tests. sum_e pi_e = k. O(n k^2) per quadrature node.
 */
int tr_pl_inclusion(const double *w, int n, int k, double *pi, ms_error *err);

/*
 * Solves for weights w (normalised) whose inclusion probabilities at top-k equal target
 * (target[e] in [0, 1], sum = k) by the fixed-point iteration w_e <- w_e target_e / pi_e(w)
 * (multiplicative, like iterative proportional fitting). Stops when every
 * |pi_e - target_e| <= tol (1e-9 default when tol <= 0) or after max_iter rounds; returns
 * the rounds used (>= 0), or MS_EINVAL when a target is above 1 (an expert is chosen at
 * most once per token) or fewer than k targets are positive.
 */
int tr_pl_solve(const double *target, int n, int k, double *w, double tol, int max_iter, double *max_err,
		ms_error *err);

/*
 * Loads an expert popularity table: CSV lines `layer,expert,value` (header line and
 * `#` comments allowed), every (layer, expert) of 0..L-1 x 0..E-1 exactly once, values
 * >= 0 (counts or fractions; each layer is normalised to sum 1). *shares is [L][E],
 * freed by the caller.
 */
int tr_table_load(const char *path, int *layers, int *experts, double **shares, ms_error *err);

#endif
