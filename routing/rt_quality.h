/*
 * rt_quality.h - routing quality of a router replayed on a recorded trace's scores, for
 * `moesim trace stats --router` (docs/routing.md): per layer and per (step, layer), the
 * load max/mean, the pairs dropped, the tokens that lost every choice, and the trace
 * statistics of tr_stats.h counted on what the router kept (repeat rate per layer;
 * purity and concentration per layer and per (step, layer)).
 *
 * Scores: every expert's score comes from the recorded ranking when it is complete
 * (depth = E) or from /routing/logits (softmax or sigmoid, as score_kind says); a ranking
 * of depth K < E without logits gives the K listed scores, enough for topk and bpr but
 * not for expert_choice or bias_balanced (refused, naming the file and the fix).
 *
 * Balancing scope (the token set over which balance is counted; Qiu et al. 2025, "Demons
 * in the Detail: On Implementing Load Balancing Loss for Training Specialized
 * Mixture-of-Expert Models", arXiv 2501.11873, compare micro-batch with global-batch
 * balancing): the capacity, expert choice's per-expert quota and
 * the bias update are computed over one unit of a step's tokens:
 *   micro_batch  `micro_batch` consecutive sequences of one recorded rank;
 *   rank         the tokens of one recorded rank (one GPU's batch);
 *   group        the tokens of `group_ranks` consecutive recorded ranks (an EP group);
 *   global       all the step's tokens (the global batch).
 * bias_balanced keeps one bias vector per layer for the whole trace, updated after every
 * unit in trace order from that unit's routed load (global scope: once per step, as
 * DeepSeek-V3 does).
 *
 * Memory: the token metadata of the whole trace (24 bytes a token) and one balancing
 * unit's scores of one layer (O(n_unit E)). Time: O(T L E k) plus the trace's reads.
 */
#ifndef RT_QUALITY_H
#define RT_QUALITY_H

#include <stdint.h>
#include <stdio.h>

#include "common/ms_error.h"
#include "routing/rt_policy.h"
#include "trace/tr_reader.h"
#include "trace/tr_stats.h"

typedef enum { RT_SCOPE_MICRO_BATCH, RT_SCOPE_RANK, RT_SCOPE_GROUP, RT_SCOPE_GLOBAL } rt_scope;

/* "micro_batch", "rank", "group", "global"; parse returns 0 or -1. */
const char *rt_scope_name(rt_scope scope);
int rt_scope_parse(const char *name, rt_scope *out);

typedef struct rt_quality_opts {
	rt_policy_kind router;
	int top_k;               /* 1..E (<= depth unless every score is known) */
	double capacity_factor;  /* <= 0: dropless (not for expert_choice) */
	scn_drop_policy drop;    /* topk and bias_balanced */
	rt_scope scope;
	int micro_batch;         /* sequences per micro-batch (micro_batch scope), >= 1 */
	int group_ranks;         /* recorded ranks per group (group scope), >= 1 */
	double gamma;            /* bias_balanced's update speed */
} rt_quality_opts;

/* Defaults: topk at the trace's default k, dropless, probs, rank scope, micro-batches of
 * one sequence, groups of 8 ranks, gamma RT_BIAS_GAMMA_DEEPSEEK_V3. */
void rt_quality_opts_default(rt_quality_opts *o, const tr_info *in);

typedef struct rt_quality {
	int layers, experts, steps;
	int64_t tokens, units;   /* units: balancing scopes routed per layer */
	int64_t capacity_max;    /* the largest capacity of a unit (0 dropless) */
	tr_stats *kept;          /* trace statistics over the kept pairs; first = each token's best-scored kept expert */
	int64_t *routed;         /* [L] pairs the tokens chose (expert_choice: each token's top_k by score) */
	int64_t *kept_pairs;     /* [L] */
	int64_t *dropped;        /* [L] chosen pairs not kept */
	int64_t *lost;           /* [L] tokens with no kept pair */
	int32_t *step_id;        /* [S] the trace's step numbers */
	int64_t *step_tokens;    /* [S] */
	double *step_max_mean;   /* [S][L] max over experts / mean of the step's kept load */
	int64_t *step_dropped;   /* [S][L] */
	int64_t *step_lost;      /* [S][L] */
	/* [S][L] tr_stats' specialisation of the step's kept pairs (NaN without domain labels) */
	double *step_purity, *step_purity_baseline, *step_concentration, *step_concentration_baseline;
	double *bias;            /* [L][E] bias_balanced's final bias, else zeros */
} rt_quality;

/* One pass over the trace under o. *out is freed with rt_quality_free. */
int rt_quality_compute(tr_reader *r, const rt_quality_opts *o, rt_quality **out, ms_error *err);
void rt_quality_free(rt_quality *q);

/* Mean over steps of the step's max/mean in layer l. */
double rt_quality_step_max_mean(const rt_quality *q, int layer);

/* The report of `moesim trace stats --router` (per_step: also one row per step; csv:
 * CSV, one row per layer, or per (step, layer) with per_step). MS_EIO on a failed write. */
int rt_quality_print(FILE *f, const rt_quality *q, const rt_quality_opts *o, const tr_info *in, int per_step,
		     int csv, ms_error *err);

#endif
