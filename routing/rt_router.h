/*
 * rt_router.h - who sends which tokens to which expert: synthetic router decisions,
 * expert capacity and token drops, and expert placement, for one EP group at a time.
 *
 * For one (step, layer, EP group) the router draws every member GPU's tokens' top-k
 * experts and gate scores, applies the capacity (Megatron-Core's formula, before the
 * exchange) and returns, per source member and expert, the token-expert pairs routed
 * (demand) and kept, and, through the placement (rt_placement.h), the pairs each
 * member sends to each other member and the load of every expert replica.
 *
 * Determinism: member p of group g at (step, layer) draws from its own gsl_rng stream
 * seeded by ms_stream_seed(seed, step, layer, g * ep + p), so results do not depend on
 * the order groups are routed in.
 *
 * Capacity (Megatron-Core, moe_utils.get_capacity): C = ceil(tokens x top_k / experts
 * x capacity_factor), tokens counted over the scope (one GPU's tokens, or the whole
 * group's). An expert over capacity keeps C pairs: under "probs" the highest gate
 * scores (ties: earlier position), under "position" the earliest positions. In the
 * global scope, positions are ordered by token index and then by member, so every
 * member's first token precedes any member's second.
 *
 * Node-limited routing (routing.node_limit = M, DeepSeek-V3 sec. 2.1.2): a token's
 * experts come from at most M nodes, the M whose experts' best ceil(k / M) scores sum
 * highest. Replay takes the scores from the recorded ranking; synthetic routing draws an
 * affinity per expert, exp(log p_e + G_e) with G_e Gumbel(0, 1) (top-k of these is the
 * same Plackett-Luce law as the unlimited draw), so no trace is needed. When M is at
 * least the nodes the group spans the limit cannot bind and the draw is the unlimited one.
 *
 * Routers (routing.router, routing/rt_policy.h, docs/routing.md): topk is the code above,
 * unchanged. The others route a score matrix through rt_policy_route over the same
 * capacity scope, one member's tokens or the group's in the same position order: replay
 * takes the trace's scores (expert_choice and bias_balanced every expert's, from a
 * complete ranking or /routing/logits; rt_trace refuses a trace with neither), synthetic
 * routing draws every expert's score per token (rt_router_synthetic_scores). bias_balanced's bias is
 * one vector per layer, the same for every group: the bias of step s + 1 is step s's
 * updated by rt_bias_update from the load step s routed over every group and sample of
 * the stage. So that steps can still be routed in parallel and in any order, it is
 * computed up front by rt_router_plan_bias (a serial pass routing every step once more)
 * and only read afterwards.
 *
 * Specialisation: when a replayed trace has domain labels, every routing also counts the
 * kept pairs by the label of their token (label_kept) and the tokens of each label
 * (label_tokens), from which the run measures purity and concentration (trace/tr_stats.h)
 * on what the router kept.
 *
 * Padding (routing.pad_to_capacity, Megatron-Core's moe_pad_expert_input_to_capacity):
 * rank scope: every member sends every expert a buffer of C rows whatever it kept, so
 * sent[p][j] is C x the experts on j and every expert computes P x C rows; global scope:
 * every expert computes its C rows, assembled at the receiver from the kept pairs (sent
 * unchanged). Replicas take shares of a buffer as they take shares of pairs.
 */
#ifndef RT_ROUTER_H
#define RT_ROUTER_H

#include <stdint.h>

#include "common/ms_error.h"
#include "routing/rt_trace.h"
#include "scenario/scn_scenario.h"

typedef struct rt_group_routing {
	int members;         /* P: GPUs in the EP group */
	int experts;         /* E */
	int32_t *demand;     /* [P][E] token-expert pairs routed from member p to expert e */
	int32_t *kept;       /* [P][E] the same after capacity drops */
	int64_t pairs;       /* token-expert pairs routed */
	int64_t dropped_pairs;
	int64_t tokens;      /* tokens routed */
	int64_t dropped_tokens; /* tokens that lost every choice */
	int64_t capacity;    /* per expert over the scope; 0 when dropless */
	int slots;           /* expert replicas per member (placement) */
	int padded;          /* 1 when sent and slot_load count capacity-sized buffers (see above) */
	int64_t *sent;       /* [P][P] kept pairs (or padded rows) sent from member i to member j, placement applied */
	int64_t *slot_load;  /* [P][slots] kept pairs (or padded rows) each replica slot computes */
	/*
	 * De-duplicated counts for dispatchers that send a token once per destination:
	 * a token counts once at each GPU (domain) where at least one of its kept pairs
	 * lands; a replicated expert's pairs land where rt_placement_split puts them (from
	 * each source, its n-th pair to the expert goes to the (n mod r)-th replica in the
	 * split's order). So gpu_tokens[p][j] <= sent[p][j], and domain_tokens[p][d] is at
	 * most the sum of gpu_tokens[p][j] over the members j of domain d. When the exchange
	 * is padded (rank scope), buffers are per expert and nothing is shared:
	 * gpu_tokens = sent and domain_tokens sums sent over the domain's members.
	 */
	int64_t *gpu_tokens; /* [P][P] distinct tokens member p sends to member j (a token with several experts on j counted once) */
	int n_domains;       /* NVLink domains the group spans, in member order */
	int domains_max;     /* row stride of domain_tokens */
	int64_t *domain_tokens; /* [P][domains_max] distinct tokens member p sends to each domain */
	/* the trace's domain labels (not NVLink domains; see "Specialisation" above) */
	int labels;             /* D, 0 when the tokens have none (then both arrays are NULL) */
	int32_t *label_kept;    /* [D][E] kept pairs of the group's tokens labelled d, to expert e */
	int64_t *label_tokens;  /* [D] the group's tokens labelled d */
} rt_group_routing;

typedef struct rt_router rt_router;

/*
 * The rank of member p of EP group g, as Megatron-Core's expert grid places it
 * (parallel_state.py, order tp-ep-dp-pp with tp = etp): a pipeline stage holds
 * stage_ranks consecutive ranks and stage_ranks / ep of the groups; local group j of a
 * stage is (expert-data-parallel index j / etp, expert-TP index j mod etp), its members
 * etp ranks apart. With etp = 1: g x ep + p.
 */
static inline int rt_ep_member_rank(int g, int p, int ep, int etp, int stage_ranks)
{
	int gs = stage_ranks / ep, j = g % gs;
	return (g / gs) * stage_ranks + (j / etp) * ep * etp + j % etp + p * etp;
}

/* A router for scenario s. trace: the run's opened trace when routing.source = "trace"
 * (else NULL), borrowed: it must outlive the router and its clones. */
rt_router *rt_router_create(const scn_scenario *s, rt_trace *trace, ms_error *err);
void rt_router_destroy(rt_router *r);

/*
 * A router for another thread: it shares src's read-only tables (popularity, placement,
 * trace) and has its own workspaces and random stream. Destroy clones before src.
 * Routing the same (step, layer, group) through any clone gives the same result.
 */
rt_router *rt_router_clone(const rt_router *src, ms_error *err);

/* Routes EP group `group` for (step, layer) into out (whose arrays the router owns;
 * they stay valid until the next call). */
int rt_route_group(rt_router *r, int step, int layer, int group, const rt_group_routing **out, ms_error *err);

/*
 * bias_balanced only (else nothing to do): the bias of each of `steps` steps, routing
 * step s as the router's steps s x samples .. s x samples + samples - 1 (sim_plan.c's
 * numbering). Call on the router rt_router_create gave, before cloning it; clones share
 * the table. Step 0's bias is zero.
 */
int rt_router_plan_bias(rt_router *r, int steps, int samples, ms_error *err);

/* The bias bias_balanced used at step `step` in `layer` (E values), or NULL when none was planned. */
const double *rt_router_bias(const rt_router *r, int step, int layer);

/*
 * Synthetic routing's score matrix of member p of group g at (step, layer): mat[T][E], every
 * expert's score, drawn as `moesim trace synth` draws them (rt_router.c says how, and how
 * it relates to topk's draws). What routers other than topk route; exposed for tests.
 */
void rt_router_synthetic_scores(rt_router *r, int step, int layer, int group, int p, float *mat);

/* The placement of experts on the members of every EP group (the same for all groups). */
const struct rt_placement *rt_router_placement(const rt_router *r);

/* The expert popularity of a layer (E weights, not normalised) synthetic routing draws from. */
const double *rt_router_popularity(const rt_router *r, int layer);

/* Capacity per expert for a scope of `tokens` tokens (Megatron-Core formula); 0 when dropless. */
int64_t rt_capacity(double capacity_factor, int64_t tokens, int top_k, int experts);

/*
 * Applies capacity to n token-expert assignments listed in position order (expert
 * experts[i] with gate score scores[i]). Sets keep[i] to 1 or 0 and returns the number
 * dropped. Workspaces: order[n], count[experts_n + 1]. Exposed for tests (checked
 * against a brute-force oracle). O(n + sum over full experts of m log m).
 */
int64_t rt_apply_capacity(int64_t n, const int32_t *experts, const float *scores, int experts_n, int64_t capacity,
			  scn_drop_policy policy, uint8_t *keep, int64_t *order, int64_t *count);

/*
 * Builds a Walker alias table for n weights (Vose 1991): column i is kept when a
 * uniform 32-bit draw is below cut[i], else replaced by other[i]. Exposed for tests.
 */
int rt_alias_build(const double *weights, int n, uint32_t *cut, int32_t *other, ms_error *err);

#endif
