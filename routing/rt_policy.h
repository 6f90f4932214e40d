/*
 * rt_policy.h - routers as pure functions: from the scores n tokens give E experts to
 * the token-expert pairs each token is routed to and the pairs kept under the expert
 * capacity. Four routers (routing.router, docs/routing.md):
 *
 *  - topk: each token its k best-scored experts; an expert over capacity keeps C pairs
 *    by the drop policy (Megatron-Core: probs or position). What the replay does today.
 *  - expert_choice: each expert takes its C best-scored tokens (Zhou et al. 2022,
 *    "Mixture-of-Experts with Expert Choice Routing", sec. 3.1: C = n c / E with c the
 *    capacity factor, here Megatron's ceil(c n k / E) so that c means the same as for
 *    the other routers); a token may get any number of experts, none included.
 *  - bias_balanced: DeepSeek-V3's auxiliary-loss-free balancing (DeepSeek-AI 2024,
 *    "DeepSeek-V3 Technical Report", sec. 2.1.2, eq. 16): each expert has a bias b_e
 *    used for selection only, top-k of s + b; the gate stays s. After each balancing
 *    scope the bias moves by gamma against the load error: b_e -= gamma if the expert
 *    was overloaded (more than the mean of the scope's selections), += gamma if
 *    underloaded (rt_bias_update). Capacity, when set, then drops as topk does, by s.
 *  - bpr: batch-prioritised routing (Riquelme et al. 2021, "Scaling Vision with Sparse
 *    Mixture of Experts", sec. 4.1): tokens are ordered by priority (their largest
 *    score), and the capacity is filled choice by choice: every token's first choice in
 *    priority order, then every second choice, ...; an assignment to a full expert is
 *    dropped. Without capacity it is topk.
 *
 * Scores: score[i * E + e] of token i for expert e; -INFINITY (or NaN) marks a score the
 * trace did not record, never selected. Finite scores must be >= 0 (softmax or sigmoid).
 * Ties between equal scores go to the lower expert id and the earlier token.
 *
 * Output: sel[i * E + e], RT_SEL_ROUTED when e is among token i's k choices (for
 * expert_choice, which has no choices, the token's k best-scored experts: what it lost
 * is measured against them), RT_SEL_KEPT when the pair is computed. Pure: no state, no
 * randomness; the workspace is the caller's (rt_policy_ws, sized once).
 * Cost: O(n E k) selection plus capacity O(n k + sum over full experts m log m);
 * expert_choice O(n E) on average (quickselect per expert).
 */
#ifndef RT_POLICY_H
#define RT_POLICY_H

#include <stdint.h>

#include "common/ms_error.h"
#include "scenario/scn_scenario.h"

typedef enum { RT_POLICY_TOPK, RT_POLICY_EXPERT_CHOICE, RT_POLICY_BIAS_BALANCED, RT_POLICY_BPR } rt_policy_kind;

enum { RT_SEL_ROUTED = 1u, RT_SEL_KEPT = 2u };

/* "topk", "expert_choice", "bias_balanced", "bpr". */
const char *rt_policy_name(rt_policy_kind kind);

/* 0 and *out set for a known name, else -1. */
int rt_policy_parse(const char *name, rt_policy_kind *out);

/* 1 when the router needs every expert's score (expert_choice, bias_balanced), not only a ranking of top_k. */
int rt_policy_needs_all_scores(rt_policy_kind kind);

/* DeepSeek-V3's bias update speed for the first 14.3T tokens (report, sec. 4.2, "bias update speed"). */
#define RT_BIAS_GAMMA_DEEPSEEK_V3 0.001

typedef struct rt_policy_ws rt_policy_ws;

/* A workspace for up to n_max tokens of `experts` experts and top_k choices; NULL with
 * MS_ERANGE when n_max x experts reaches 2^32, or MS_ENOMEM. */
rt_policy_ws *rt_policy_ws_create(int64_t n_max, int experts, int top_k, ms_error *err);
void rt_policy_ws_destroy(rt_policy_ws *w);

/*
 * Routes n <= n_max tokens (scores[n * E]) with top_k choices and capacity C per expert
 * (0: dropless; expert_choice needs C > 0). drop applies to topk and bias_balanced;
 * bias[E] to bias_balanced only (else ignored, may be NULL). Writes sel[n * E] and
 * returns the kept pairs (>= 0).
 */
int64_t rt_policy_route(rt_policy_ws *w, rt_policy_kind kind, int64_t n, const float *scores, int top_k,
			int64_t capacity, scn_drop_policy drop, const double *bias, uint8_t *sel);

/*
 * DeepSeek-V3's update (sec. 2.1.2) after one balancing scope: load[e] = pairs routed to
 * e in the scope, mean = their sum / E; b_e -= gamma when load[e] > mean, += gamma when
 * load[e] < mean, unchanged when equal.
 */
void rt_bias_update(double *bias, const int64_t *load, int experts, double gamma);

#endif
