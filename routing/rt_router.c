/*
 * rt_router.c - synthetic routing, capacity and placement (see rt_router.h).
 *
 * Synthetic top-k: experts are drawn one after another in proportion to the layer's
 * popularity, redrawing a repeat (successive sampling, i.e. Plackett-Luce, the same law
 * as Gumbel-top-k), using a Walker alias table per layer (Vose 1991) so a draw is two
 * 32-bit outputs of the stream's gsl_rng_mt19937 (drawn through common/ms_mt.h, the
 * same outputs inline: gsl_rng_get's indirect call per output was a quarter of the
 * time): one picks the column by Lemire's multiply-shift, one the coin. When top_k > experts / 2 repeats become common and we
 * fall back to Gumbel-top-k over all experts. Synthetic gate scores are geometric: one
 * uniform r per token, score_j proportional to r^j, normalised to sum 1 (decreasing
 * along the ranking, and cheap); they only rank tokens for the "probs" drop policy;
 * recorded traces carry real scores.
 *
 * Popularity: uniform; Zipf(s) over a random permutation of the experts drawn once per
 * layer (so each layer has its own hot experts, stable across steps); balanced: token
 * i (counted across the group) takes experts i*k .. i*k+k-1 modulo E.
 *
 * Node-limited synthetic routing needs scores beyond the k drawn: each token's
 * affinities are a_e = p_e / X_e, X_e ~ Exp(1), i.e. exp(log p_e + G_e) with G_e Gumbel
 * (the Gumbel-top-k keys above, exponentiated: softmax-like scores whose top-k is the
 * Plackett-Luce draw). Only the largest few per node matter, so they are drawn lazily,
 * in decreasing order, as an exponential race per node (node_arrival): O(nodes x
 * ceil(k / M) + k) draws per token instead of E. Drawing all E affinities and sorting
 * them (the test's oracle, the same law) took 7x the unlimited router's time on
 * deepseek-v3-2048 (E = 256); the race takes 4.5x with M = 4, 10x with M = 1. The
 * node scores' choice is the replay's code (node_choose).
 *
 * De-duplicated counts (gpu_tokens, domain_tokens) are taken in the pass over the kept
 * pairs after capacity, O(1) per pair with stamps (about 10 % of the run on
 * deepseek-v3-2048, a routing-bound benchmark).
 */
#include "routing/rt_router.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_mt.h"
#include "common/ms_rng.h"
#include "common/ms_zipf.h"
#include "routing/rt_placement.h"
#include "routing/rt_policy.h"
#include "routing/rt_trace.h"
#include "topology/topo_rank.h"

struct rt_router {
	int P, E, k, layers;
	int64_t T;
	uint64_t seed;
	int groups;
	scn_distribution dist;
	double cf;
	scn_capacity_scope scope;
	scn_drop_policy policy;
	scn_placement placement_kind;
	uint32_t **alias_cut;       /* per layer, zipf only: coin thresholds (scaled to 2^32) */
	int32_t **alias_other;      /* per layer, zipf only: the alias of each column */
	double **popularity;        /* per layer */
	int owns_tables;            /* 0 in a clone: tables, placement and trace are shared */
	int64_t scope_pairs, scope_tokens;
	gsl_rng *rng;      /* for the popularity draw (gsl_randist) */
	ms_mt19937 mt;     /* the members' streams: gsl_rng_mt19937's, inline (common/ms_mt.h) */
	/* workspaces, sized for the scope (T*k pairs per rank, or P*T*k for global) */
	int32_t *ids;      /* [P*T*k] member-major: ids[(p*T + t)*k + j] */
	float *scores;
	int32_t *sc_exp;   /* capacity input in position order */
	float *sc_score;
	int64_t *sc_src;   /* index into ids for each position-ordered assignment */
	uint8_t *keep;
	int64_t *order;
	int64_t *count;
	double *gumbel;
	uint32_t *chosen_at; /* [E] the draw's stamp of the token that chose the expert */
	uint32_t draw_stamp;
	rt_placement placement;
	/* trace replay */
	rt_trace *trace;
	int depth;          /* recorded ranking depth K */
	int16_t *rank_ids;  /* [T * K] one member's recorded rankings */
	float *rank_scores;
	int node_limit;     /* M, 0 = none */
	int gpus_per_node;
	int stage_ranks;    /* GPUs per pipeline stage */
	int etp;            /* expert tensor parallelism: EP members are etp ranks apart */
	int *node_of_member; /* [P] node index of each member, relative to the group's first */
	int n_nodes;        /* nodes an EP group spans */
	double *node_score; /* [n_nodes] workspace */
	int domain_size;    /* GPUs per NVLink domain */
	int n_dom_max;      /* domains an EP group spans at most */
	int *dom_of_member; /* [P] domain of each member, relative to the group's first */
	int *node_pick;     /* [2 * n_nodes] */
	int group_nodes;    /* nodes the current group spans */
	int pad;            /* routing.pad_to_capacity */
	double *cand_sc;    /* [max(K, E)] a token's chosen scores before renormalising */
	/* synthetic node limit, shared tables (per layer, experts grouped by the member of
	 * their first replica): */
	int32_t **mem_start;  /* [layers][P + 2] */
	int32_t **mem_expert; /* [layers][E] */
	/* ... and workspaces, for the group and layer being routed: */
	int32_t *node_cut_other; /* [E] alias of each node's slice of mem_expert, local index */
	uint32_t *node_cut;      /* [E] */
	double *node_total;      /* [n_nodes] popularity on node i */
	int32_t *ntop_id;   /* [n_nodes][k] each node's first arrivals */
	double *ntop_t;     /* their arrival times, increasing */
	int *ntop_n;        /* [n_nodes] */
	int *node_first;    /* [n_nodes + 1] members of node i: node_first[i] .. node_first[i + 1] - 1 */
	double *node_rate;  /* [n_nodes] this layer: popularity on node i; remaining rate in a token */
	double *node_t;     /* [n_nodes] time of node i's last arrival in a token */
	int *node_left;     /* [n_nodes] experts not yet drawn */
	int *node_count;    /* [n_nodes] experts (first replicas) on node i */
	int64_t *stamp;     /* [E] the token that drew expert e; stamp_now is the current one */
	int64_t stamp_now;
	int32_t *rep_next;  /* [P][E] kept pairs so far from member p to expert e (replica choice) */
	int32_t **only_member; /* shared, [layers][E]: the member of an expert with one replica, else -1 */
	int64_t *gpu_seen;  /* [P] the last token counted at member j (a stamp) */
	int64_t *dom_seen;  /* [n_dom_max] the same per domain */
	int64_t seen_now;
	/* routing.router other than topk (replay only; rt_router.h, "Routers"): */
	rt_policy_kind kind;
	double gamma;
	rt_policy_ws *pws;  /* for one capacity scope's tokens */
	float *pscores;     /* [scope_tokens][E] the scope's scores (recorded, or drawn: synth_scores) */
	uint8_t *psel;      /* [scope_tokens][E] rt_policy_route's selections */
	float *rank_mat;    /* [T][E] one member's score matrix, before it is interleaved (group scope) */
	/* the trace's domain labels (rt_router.h, "Specialisation"): */
	int labels;         /* D, 0 when the routing has no labels (synthetic, or a trace without) */
	int16_t *tok_label; /* [P][T] topk: each member's tokens' labels */
	int16_t *plabel;    /* [scope_tokens] other routers: the scope's rows' labels */
	double *bias;       /* shared, [bias_steps][layers][E]: bias_balanced's bias used at each step */
	int bias_steps, bias_samples; /* steps planned; routings per step (router step = step x samples + sample) */
	rt_group_routing out;
};

int64_t rt_capacity(double capacity_factor, int64_t tokens, int top_k, int experts)
{
	if (capacity_factor <= 0)
		return 0;
	/* Megatron-Core: math.ceil((num_tokens / num_experts) * capacity_factor), num_tokens
	 * counting token-expert pairs. */
	return (int64_t)ceil((double)(tokens * top_k) / experts * capacity_factor);
}

int rt_alias_build(const double *weights, int n, uint32_t *cut, int32_t *other, ms_error *err)
{
	/* Vose's method: split columns into under- and over-full, pair them off. */
	double sum = 0, *scaled = ms_calloc(err, (size_t)n, sizeof *scaled, "alias table");
	int *small = ms_calloc(err, (size_t)n, sizeof *small, "alias table");
	int *large = ms_calloc(err, (size_t)n, sizeof *large, "alias table");
	int ns = 0, nl = 0;
	if (!scaled || !small || !large) {
		free(scaled);
		free(small);
		free(large);
		return MS_ENOMEM;
	}
	for (int i = 0; i < n; i++)
		sum += weights[i];
	for (int i = 0; i < n; i++) {
		scaled[i] = weights[i] * n / sum;
		if (scaled[i] < 1.0)
			small[ns++] = i;
		else
			large[nl++] = i;
	}
	while (ns > 0 && nl > 0) {
		int s = small[--ns], l = large[--nl];
		cut[s] = scaled[s] >= 1.0 ? UINT32_MAX : (uint32_t)(scaled[s] * 4294967296.0);
		other[s] = l;
		scaled[l] -= 1.0 - scaled[s];
		if (scaled[l] < 1.0)
			small[ns++] = l;
		else
			large[nl++] = l;
	}
	/* Leftovers are full columns (up to rounding). */
	while (nl > 0) {
		int l = large[--nl];
		cut[l] = UINT32_MAX;
		other[l] = l;
	}
	while (ns > 0) {
		int s = small[--ns];
		cut[s] = UINT32_MAX;
		other[s] = s;
	}
	free(scaled);
	free(small);
	free(large);
	return MS_OK;
}

static inline uint32_t draw_u32(ms_mt19937 *mt)
{
	return ms_mt_get(mt);
}

/* A 32-bit output u scaled to [0, n) by Lemire's multiply-shift (bias below n / 2^32). */
static inline int scale_below(uint32_t u, int n)
{
	return (int)(((uint64_t)u * (uint64_t)n) >> 32);
}

static inline int draw_below(ms_mt19937 *mt, int n)
{
	return scale_below(draw_u32(mt), n);
}

static void destroy_tables(rt_router *r)
{
	for (int l = 0; l < r->layers; l++) {
		if (r->alias_cut)
			free(r->alias_cut[l]);
		if (r->alias_other)
			free(r->alias_other[l]);
		if (r->popularity)
			free(r->popularity[l]);
	}
	free(r->alias_cut);
	free(r->alias_other);
	free(r->popularity);
	for (int l = 0; l < r->layers && r->only_member; l++)
		free(r->only_member[l]);
	free(r->only_member);
	for (int l = 0; l < r->layers && r->mem_start; l++) {
		free(r->mem_start[l]);
		if (r->mem_expert)
			free(r->mem_expert[l]);
	}
	free(r->mem_start);
	free(r->mem_expert);
}

void rt_router_destroy(rt_router *r)
{
	if (!r)
		return;
	if (r->owns_tables) {
		destroy_tables(r);
		free(r->bias);
		rt_placement_fini(&r->placement);
	}
	if (r->rng)
		gsl_rng_free(r->rng);
	free(r->ids);
	free(r->scores);
	free(r->sc_exp);
	free(r->sc_score);
	free(r->sc_src);
	free(r->keep);
	free(r->order);
	free(r->count);
	free(r->gumbel);
	free(r->chosen_at);
	free(r->out.demand);
	free(r->out.kept);
	free(r->out.sent);
	free(r->out.slot_load);
	free(r->rank_ids);
	free(r->rank_scores);
	free(r->node_of_member);
	free(r->node_score);
	free(r->node_pick);
	free(r->dom_of_member);
	free(r->out.domain_tokens);
	free(r->out.gpu_tokens);
	free(r->cand_sc);
	free(r->ntop_id);
	free(r->ntop_t);
	free(r->ntop_n);
	free(r->node_first);
	free(r->node_rate);
	free(r->node_t);
	free(r->node_left);
	free(r->node_count);
	free(r->stamp);
	free(r->rep_next);
	free(r->gpu_seen);
	free(r->dom_seen);
	free(r->node_cut_other);
	free(r->node_cut);
	free(r->node_total);
	rt_policy_ws_destroy(r->pws);
	free(r->pscores);
	free(r->psel);
	free(r->rank_mat);
	free(r->tok_label);
	free(r->plabel);
	free(r->out.label_kept);
	free(r->out.label_tokens);
	free(r);
}

/* Builds the placement the scenario asks for; load-aware uses the expected loads. */
static int init_placement(rt_router *r, const scn_scenario *s, ms_error *err)
{
	switch (r->placement_kind) {
	case SCN_PLACE_CONTIGUOUS:
	case SCN_PLACE_ROUND_ROBIN:
		return rt_placement_init_static(&r->placement, r->E, r->P, r->layers,
						r->placement_kind == SCN_PLACE_ROUND_ROBIN, err);
	case SCN_PLACE_FILE: {
		char path[SCN_PATH_MAX];
		if (scn_resolve_path(s, "routing.placement_file", s->routing.placement_file, path, sizeof path, err) < 0)
			return err->code;
		return rt_placement_init_file(&r->placement, path, r->E, r->P, r->layers, err);
	}
	case SCN_PLACE_LOAD_AWARE: {
		double *load = ms_calloc(err, (size_t)r->layers * r->E, sizeof *load, "expert loads");
		int rc;
		if (!load)
			return MS_ENOMEM;
		if (r->trace) {
			if (rt_trace_layer_loads(r->trace, r->k, load, err) < 0) {
				free(load);
				return err->code;
			}
		} else {
			for (int l = 0; l < r->layers; l++)
				for (int e = 0; e < r->E; e++)
					load[(size_t)l * r->E + e] = r->popularity[l][e];
		}
		rc = rt_placement_init_eplb(&r->placement, r->E, r->P, r->layers, s->routing.redundant_experts, load, err);
		free(load);
		return rc;
	}
	}
	return MS_ERROR(err, MS_EINVAL, "unknown placement");
}

/* The per-thread part: random stream aside, every buffer a routing call writes.
 * sim/sim_estimate.c mirrors these sizes for the up-front estimate of a run. */
static int alloc_workspace(rt_router *r, ms_error *err)
{
	int64_t pairs_group = r->T * r->k * r->P;
	if (!r->rng && !(r->rng = gsl_rng_alloc(gsl_rng_mt19937)))
		return MS_ERROR(err, MS_ENOMEM, "out of memory allocating the router's random stream");
	r->ids = ms_calloc(err, (size_t)pairs_group, sizeof *r->ids, "routing decisions");
	r->scores = ms_calloc(err, (size_t)pairs_group, sizeof *r->scores, "routing scores");
	r->sc_exp = ms_calloc(err, (size_t)r->scope_pairs, sizeof *r->sc_exp, "capacity workspace");
	r->sc_score = ms_calloc(err, (size_t)r->scope_pairs, sizeof *r->sc_score, "capacity workspace");
	r->sc_src = ms_calloc(err, (size_t)r->scope_pairs, sizeof *r->sc_src, "capacity workspace");
	r->keep = ms_calloc(err, (size_t)r->scope_pairs, sizeof *r->keep, "capacity workspace");
	r->order = ms_calloc(err, (size_t)r->scope_pairs, sizeof *r->order, "capacity workspace");
	r->count = ms_calloc(err, (size_t)r->E + 1, sizeof *r->count, "capacity workspace");
	r->gumbel = ms_calloc(err, (size_t)r->E, sizeof *r->gumbel, "router workspace");
	r->chosen_at = ms_calloc(err, (size_t)r->E, sizeof *r->chosen_at, "router workspace");
	r->draw_stamp = 0;
	r->out.demand = ms_calloc(err, (size_t)r->P * (size_t)r->E, sizeof(int32_t), "routing matrix");
	r->out.kept = ms_calloc(err, (size_t)r->P * (size_t)r->E, sizeof(int32_t), "routing matrix");
	r->node_of_member = ms_calloc(err, (size_t)r->P, sizeof *r->node_of_member, "node map");
	r->node_score = ms_calloc(err, (size_t)r->n_nodes, sizeof *r->node_score, "node map");
	r->node_pick = ms_calloc(err, (size_t)r->n_nodes * 2, sizeof *r->node_pick, "node map");
	r->out.sent = ms_calloc(err, (size_t)r->P * (size_t)r->P, sizeof(int64_t), "routing matrix");
	r->dom_of_member = ms_calloc(err, (size_t)r->P, sizeof *r->dom_of_member, "domain map");
	r->out.domain_tokens = ms_calloc(err, (size_t)r->P * (size_t)r->n_dom_max, sizeof(int64_t), "domain counts");
	r->out.domains_max = r->n_dom_max;
	r->out.gpu_tokens = ms_calloc(err, (size_t)r->P * (size_t)r->P, sizeof(int64_t), "routing matrix");
	r->cand_sc = ms_calloc(err, (size_t)(r->depth > r->E ? r->depth : r->E), sizeof *r->cand_sc, "node limit");
	r->ntop_id = ms_calloc(err, (size_t)r->n_nodes * (size_t)r->k, sizeof *r->ntop_id, "node limit");
	r->ntop_t = ms_calloc(err, (size_t)r->n_nodes * (size_t)r->k, sizeof *r->ntop_t, "node limit");
	r->ntop_n = ms_calloc(err, (size_t)r->n_nodes, sizeof *r->ntop_n, "node limit");
	r->node_first = ms_calloc(err, (size_t)r->n_nodes + 1, sizeof *r->node_first, "node limit");
	r->node_rate = ms_calloc(err, (size_t)r->n_nodes, sizeof *r->node_rate, "node limit");
	r->node_t = ms_calloc(err, (size_t)r->n_nodes, sizeof *r->node_t, "node limit");
	r->node_left = ms_calloc(err, (size_t)r->n_nodes, sizeof *r->node_left, "node limit");
	r->node_count = ms_calloc(err, (size_t)r->n_nodes, sizeof *r->node_count, "node limit");
	r->stamp = ms_calloc(err, (size_t)r->E, sizeof *r->stamp, "node limit");
	r->stamp_now = 0;
	r->node_cut = ms_calloc(err, (size_t)r->E, sizeof *r->node_cut, "node limit");
	r->node_cut_other = ms_calloc(err, (size_t)r->E, sizeof *r->node_cut_other, "node limit");
	r->node_total = ms_calloc(err, (size_t)r->n_nodes, sizeof *r->node_total, "node limit");
	r->gpu_seen = ms_calloc(err, (size_t)r->P, sizeof *r->gpu_seen, "token counts");
	r->dom_seen = ms_calloc(err, (size_t)r->n_dom_max, sizeof *r->dom_seen, "token counts");
	r->seen_now = 0;
	if (!r->node_cut || !r->node_cut_other || !r->node_total || !r->gpu_seen || !r->dom_seen)
		return MS_ENOMEM;
	if (!r->ntop_t || !r->node_first || !r->node_rate || !r->node_t || !r->node_left || !r->node_count || !r->stamp)
		return MS_ENOMEM;
	r->rep_next = ms_calloc(err, (size_t)r->P * (size_t)r->E, sizeof *r->rep_next, "replica choice");
	if (!r->dom_of_member || !r->out.domain_tokens || !r->out.gpu_tokens || !r->cand_sc ||
	    !r->ntop_id || !r->ntop_n || !r->rep_next)
		return MS_ENOMEM;
	r->out.slot_load = ms_calloc(err, (size_t)r->P * (size_t)r->placement.slots, sizeof(int64_t), "expert loads");
	if (!r->ids || !r->scores || !r->sc_exp || !r->sc_score || !r->sc_src || !r->keep || !r->order ||
	    !r->count || !r->gumbel || !r->chosen_at || !r->out.demand || !r->out.kept || !r->node_of_member ||
	    !r->node_score || !r->node_pick || !r->out.sent || !r->out.slot_load)
		return MS_ENOMEM;
	if (r->trace) {
		r->rank_ids = ms_calloc(err, (size_t)(r->T * r->depth), sizeof *r->rank_ids, "trace rankings");
		r->rank_scores = ms_calloc(err, (size_t)(r->T * r->depth), sizeof *r->rank_scores, "trace rankings");
		if (!r->rank_ids || !r->rank_scores)
			return MS_ENOMEM;
	}
	if (r->kind != RT_POLICY_TOPK) {
		size_t ne = (size_t)r->scope_tokens * (size_t)r->E;
		if (!(r->pws = rt_policy_ws_create(r->scope_tokens, r->E, r->k, err)))
			return err->code;
		r->pscores = ms_calloc(err, ne, sizeof *r->pscores, "router scores");
		r->psel = ms_calloc(err, ne, sizeof *r->psel, "router selections");
		r->rank_mat = ms_calloc(err, (size_t)r->T * (size_t)r->E, sizeof *r->rank_mat, "router scores");
		if (!r->pscores || !r->psel || !r->rank_mat)
			return MS_ENOMEM;
	}
	r->out.labels = r->labels;
	if (r->labels > 0) {
		r->out.label_kept = ms_calloc(err, (size_t)r->labels * (size_t)r->E, sizeof *r->out.label_kept, "label counts");
		r->out.label_tokens = ms_calloc(err, (size_t)r->labels, sizeof *r->out.label_tokens, "label counts");
		r->tok_label = ms_calloc(err, (size_t)r->P * (size_t)r->T, sizeof *r->tok_label, "token labels");
		r->plabel = ms_calloc(err, (size_t)r->scope_tokens, sizeof *r->plabel, "token labels");
		if (!r->out.label_kept || !r->out.label_tokens || !r->tok_label || !r->plabel)
			return MS_ENOMEM;
	}
	r->out.members = r->P;
	r->out.experts = r->E;
	r->out.slots = r->placement.slots;
	return MS_OK;
}

rt_router *rt_router_clone(const rt_router *src, ms_error *err)
{
	rt_router *r = ms_malloc(err, sizeof *r, "router");
	if (!r)
		return NULL;
	*r = *src;
	r->owns_tables = 0;
	r->rng = NULL;
	r->ids = NULL;
	r->scores = NULL;
	r->sc_exp = NULL;
	r->sc_score = NULL;
	r->sc_src = NULL;
	r->keep = NULL;
	r->order = NULL;
	r->count = NULL;
	r->gumbel = NULL;
	r->chosen_at = NULL;
	r->rank_ids = NULL;
	r->rank_scores = NULL;
	r->node_of_member = NULL;
	r->node_score = NULL;
	r->node_pick = NULL;
	r->dom_of_member = NULL;
	r->cand_sc = NULL;
	r->ntop_id = NULL;
	r->ntop_t = NULL;
	r->ntop_n = NULL;
	r->node_first = NULL;
	r->node_rate = NULL;
	r->node_t = NULL;
	r->node_left = NULL;
	r->node_count = NULL;
	r->stamp = NULL;
	r->rep_next = NULL;
	r->gpu_seen = NULL;
	r->dom_seen = NULL;
	r->node_cut = NULL;
	r->node_cut_other = NULL;
	r->node_total = NULL;
	r->pws = NULL;
	r->pscores = NULL;
	r->psel = NULL;
	r->rank_mat = NULL;
	r->tok_label = NULL;
	r->plabel = NULL;
	memset(&r->out, 0, sizeof r->out);
	if (alloc_workspace(r, err) < 0) {
		rt_router_destroy(r);
		return NULL;
	}
	return r;
}

/* The member holding expert e's first replica in layer l. */
static inline int expert_member(const rt_router *r, int l, int e)
{
	return r->placement.rep_member[l][r->placement.rep_start[l][e]];
}

/*
 * For the synthetic node limit: per layer, the experts grouped by the member of their
 * first replica (the member, and so the node, an expert counts at), in increasing
 * order within a member. A node's experts are then one slice (its members are
 * consecutive).
 */
static int init_member_tables(rt_router *r, ms_error *err)
{
	int P = r->P, E = r->E;
	r->mem_start = ms_calloc(err, (size_t)r->layers, sizeof *r->mem_start, "node limit");
	r->mem_expert = ms_calloc(err, (size_t)r->layers, sizeof *r->mem_expert, "node limit");
	if (!r->mem_start || !r->mem_expert)
		return MS_ENOMEM;
	for (int l = 0; l < r->layers; l++) {
		int32_t *start = r->mem_start[l] = ms_calloc(err, (size_t)P + 2, sizeof *start, "node limit");
		int32_t *ex = r->mem_expert[l] = ms_calloc(err, (size_t)E, sizeof *ex, "node limit");
		if (!start || !ex)
			return MS_ENOMEM;
		/* a counting sort; start[m + 1] is member m's fill position until the end */
		for (int e = 0; e < E; e++)
			start[expert_member(r, l, e) + 2]++;
		for (int m = 0; m < P; m++)
			start[m + 2] += start[m + 1];
		for (int e = 0; e < E; e++)
			ex[start[expert_member(r, l, e) + 1]++] = e;
	}
	return MS_OK;
}

rt_router *rt_router_create(const scn_scenario *s, rt_trace *trace, ms_error *err)
{
	rt_router *r = ms_calloc(err, 1, sizeof *r, "router");
	if (!r)
		return NULL;
	r->P = s->parallel.ep;
	r->E = s->model.experts;
	r->k = s->routing.top_k;
	r->layers = s->model.moe_layers;
	r->T = s->workload.tokens_per_rank;
	r->seed = s->workload.seed;
	r->groups = scn_world(s) / r->P;
	r->stage_ranks = scn_world(s) / s->parallel.pp;
	r->etp = s->parallel.etp;
	r->dist = s->routing.distribution;
	r->cf = s->routing.capacity_factor;
	r->scope = s->routing.capacity_scope;
	r->policy = s->routing.drop_policy;
	r->placement_kind = s->routing.placement;
	r->owns_tables = 1;
	r->scope_pairs = r->scope == SCN_SCOPE_GLOBAL ? r->T * r->k * r->P : r->T * r->k;
	r->scope_tokens = r->scope == SCN_SCOPE_GLOBAL ? r->T * r->P : r->T;
	r->rng = gsl_rng_alloc(gsl_rng_mt19937);
	if (!r->rng) {
		MS_ERROR(err, MS_ENOMEM, "out of memory allocating the router's random stream");
		goto fail;
	}
	r->alias_cut = ms_calloc(err, (size_t)r->layers, sizeof *r->alias_cut, "router tables");
	r->alias_other = ms_calloc(err, (size_t)r->layers, sizeof *r->alias_other, "router tables");
	r->popularity = ms_calloc(err, (size_t)r->layers, sizeof *r->popularity, "router tables");
	if (!r->alias_cut || !r->alias_other || !r->popularity)
		goto fail;
	for (int l = 0; l < r->layers; l++) {
		double *p = ms_calloc(err, (size_t)r->E, sizeof *p, "expert popularity");
		if (!p)
			goto fail;
		r->popularity[l] = p;
		if (r->dist == SCN_DIST_ZIPF) {
			size_t *perm = ms_calloc(err, (size_t)r->E, sizeof *perm, "expert permutation");
			if (!perm)
				goto fail;
			gsl_rng_set(r->rng, ms_stream_seed(r->seed, 0xB0B, (uint64_t)l, 0, 0));
			ms_zipf_popularity(r->rng, r->E, s->routing.zipf_s, perm, p);
			free(perm);
			r->alias_cut[l] = ms_calloc(err, (size_t)r->E, sizeof(uint32_t), "alias table");
			r->alias_other[l] = ms_calloc(err, (size_t)r->E, sizeof(int32_t), "alias table");
			if (!r->alias_cut[l] || !r->alias_other[l] ||
			    rt_alias_build(p, r->E, r->alias_cut[l], r->alias_other[l], err) < 0)
				goto fail;
		} else {
			for (int e = 0; e < r->E; e++)
				p[e] = 1.0;
		}
	}
	r->out.members = r->P;
	r->out.experts = r->E;
	r->node_limit = s->routing.node_limit;
	r->gpus_per_node = s->cluster.gpus_per_node;
	MS_ASSERT((trace != NULL) == (s->routing.source == SCN_SRC_TRACE), "routing.source %d with trace %p",
		  (int)s->routing.source, (void *)trace);
	if (trace) {
		r->trace = trace;
		r->depth = rt_trace_depth(r->trace);
		r->labels = rt_trace_labels(r->trace);
	}
	/* An EP group of P consecutive ranks spans at most this many nodes (and domains). */
	r->n_nodes = topo_rank_span_max((r->P - 1) * s->parallel.etp + 1, r->gpus_per_node);
	r->domain_size = topo_rank_domain_size(s->network.nvlink_domain, r->gpus_per_node);
	r->n_dom_max = topo_rank_span_max((r->P - 1) * s->parallel.etp + 1, r->domain_size);
	r->pad = s->routing.pad_to_capacity;
	r->kind = (rt_policy_kind)s->routing.router;
	r->gamma = s->routing.bias_gamma;
	/* scn_scenario refuses these; the trace's scores are checked by rt_trace_open. */
	MS_ASSERT(r->kind == RT_POLICY_TOPK || r->node_limit == 0, "router %d with node_limit %d", (int)r->kind,
		  r->node_limit);
	MS_ASSERT(!rt_policy_needs_all_scores(r->kind) || !trace || rt_trace_all_scores(trace),
		  "router %d on a ranking of depth %d of %d without logits", (int)r->kind, r->depth, r->E);
	MS_ASSERT(r->kind != RT_POLICY_EXPERT_CHOICE || r->cf > 0, "expert_choice with capacity factor %g", r->cf);
	MS_ASSERT(!r->pad || r->cf > 0, "padding with capacity factor %g", r->cf);
	if (init_placement(r, s, err) < 0)
		goto fail;
	if (r->node_limit > 0 && !trace && r->dist != SCN_DIST_BALANCED && init_member_tables(r, err) < 0)
		goto fail;
	r->only_member = ms_calloc(err, (size_t)r->layers, sizeof *r->only_member, "placement");
	if (!r->only_member)
		goto fail;
	for (int l = 0; l < r->layers; l++) {
		const int32_t *rs = r->placement.rep_start[l];
		if (!(r->only_member[l] = ms_calloc(err, (size_t)r->E, sizeof **r->only_member, "placement")))
			goto fail;
		for (int e = 0; e < r->E; e++)
			r->only_member[l][e] = rs[e + 1] - rs[e] == 1 ? r->placement.rep_member[l][rs[e]] : -1;
	}
	if (alloc_workspace(r, err) < 0)
		goto fail;
	return r;
fail:
	rt_router_destroy(r);
	return NULL;
}

const rt_placement *rt_router_placement(const rt_router *r)
{
	return &r->placement;
}

const double *rt_router_popularity(const rt_router *r, int layer)
{
	return r->popularity[layer];
}

/* Draws one token's k experts (distinct) and scores. */
static void draw_token(rt_router *r, int layer, int32_t *ids, float *scores)
{
	int k = r->k, E = r->E;
	double w, sum, rr;
	if (2 * k <= E) {
		const uint32_t *cut = r->alias_cut[layer];
		const int32_t *other = r->alias_other[layer];
		/* Successive sampling without replacement: each choice from the popularity
		 * restricted to the experts not yet chosen. Rejection (redraw a duplicate) is
		 * exact and O(1) per try while the chosen experts hold little mass; when they
		 * hold almost all of it (a steep Zipf: zipf_s near 10), tries would grow
		 * without bound, so after REJECT_TRIES the choice is drawn exactly from the
		 * remaining mass by inverse CDF, O(E). The accepted draw of a rejection loop
		 * does not depend on how many tries it took, so the law is exact either way. */
		enum { REJECT_TRIES = 32 };
		const double *pop = r->popularity[layer];
		const int zipf = r->dist == SCN_DIST_ZIPF;
		uint32_t *chosen = r->chosen_at, stamp;
		/* The generator's cursor in a local (a store to ids could otherwise be the cursor,
		 * reloaded after each), and "chosen already" as one comparison with the token's
		 * stamp instead of a search of its earlier choices (issue 13, docs/benchmarks.md). */
		int pos = r->mt.mti;
		if (++r->draw_stamp == 0) {
			memset(chosen, 0, (size_t)E * sizeof *chosen);
			r->draw_stamp = 1;
		}
		stamp = r->draw_stamp;
		for (int j = 0; j < k; j++) {
			int e = -1, dup = 1;
			for (int t = 0; t < REJECT_TRIES && dup; t++) {
				e = scale_below(ms_mt_next(&r->mt, &pos), E);
				if (zipf && ms_mt_next(&r->mt, &pos) >= cut[e])
					e = other[e];
				dup = chosen[e] == stamp;
			}
			if (dup) {
				double rest = 0, u;
				for (int x = 0; x < E; x++)
					rest += chosen[x] == stamp ? 0.0 : pop[x];
				r->mt.mti = pos;
				u = ms_mt_uniform(&r->mt) * rest;
				pos = r->mt.mti;
				for (int x = 0; x < E; x++) {
					if (chosen[x] == stamp)
						continue;
					e = x;
					if ((u -= pop[x]) < 0)
						break;
				}
			}
			chosen[e] = stamp;
			ids[j] = e;
		}
		r->mt.mti = pos;
	} else {
		/* Gumbel-top-k: argmax over log p_e + G_e, k times without replacement. */
		for (int e = 0; e < E; e++)
			r->gumbel[e] = log(r->popularity[layer][e]) - log(-log(ms_mt_uniform_pos(&r->mt)));
		for (int j = 0; j < k; j++) {
			int best = 0;
			for (int e = 1; e < E; e++)
				if (r->gumbel[e] > r->gumbel[best])
					best = e;
			ids[j] = best;
			r->gumbel[best] = -INFINITY;
		}
	}
	rr = ms_mt_uniform_pos(&r->mt);
	w = 1.0;
	sum = 0;
	for (int j = 0; j < k; j++) {
		sum += w;
		w *= rr;
	}
	w = 1.0;
	for (int j = 0; j < k; j++) {
		scores[j] = (float)(w / sum);
		w *= rr;
	}
}

/*
 * The node choice of node-limited routing (DeepSeek-V3, sec. 2.1.2), shared by replay
 * and synthetic routing: from r->node_score (each node's sum of its best ceil(k / M)
 * scores) marks the M best nodes in allowed[] (ties: the lower node).
 */
static void node_choose(rt_router *r, int M, int *allowed)
{
	for (int i = 0; i < r->n_nodes; i++)
		allowed[i] = 0;
	for (int m = 0; m < M; m++) {
		int best = -1;
		for (int i = 0; i < r->n_nodes; i++)
			if (!allowed[i] && (best < 0 || r->node_score[i] > r->node_score[best]))
				best = i;
		allowed[best] = 1;
	}
}

/* The token's n chosen experts' scores renormalised to sum 1; slots n .. k - 1 empty (id -1). */
static void finish_choice(int k, int n, const double *sc, int32_t *ids, float *scores)
{
	double sum = 0;
	for (int j = 0; j < n; j++)
		sum += sc[j];
	for (int j = 0; j < n; j++)
		scores[j] = sum > 0 ? (float)(sc[j] / sum) : 1.0f / (float)n;
	for (int j = n; j < k; j++) {
		ids[j] = -1;
		scores[j] = 0;
	}
}

/*
 * Chooses a token's k experts from its recorded ranking (rid, rsc, depth K): the first
 * k, or under a node limit M, the first k among the experts on the token's best M
 * nodes, a node's score being the sum of its ceil(k / M) best recorded scores
 * (DeepSeek-V3, sec. 2.1.2). Scores are renormalised over the chosen experts. If the
 * recorded ranking runs out under the limit, the remaining slots get id -1 (no pair).
 */
static void pick_topk(rt_router *r, int layer, const int16_t *rid, const float *rsc, int32_t *ids, float *scores)
{
	int K = r->depth, k = r->k, n = 0, M = r->node_limit;
	int *allowed = NULL;
	double *sc = r->cand_sc;
	if (M > 0 && M < r->n_nodes) {
		int per = (k + M - 1) / M, *taken = r->node_pick + r->n_nodes;
		allowed = r->node_pick;
		for (int i = 0; i < r->n_nodes; i++) {
			r->node_score[i] = 0;
			taken[i] = 0;
		}
		for (int j = 0; j < K; j++) {
			int node = r->node_of_member[expert_member(r, layer, rid[j])];
			if (taken[node] < per) {
				r->node_score[node] += rsc[j];
				taken[node]++;
			}
		}
		node_choose(r, M, allowed);
	}
	for (int j = 0; j < K && n < k; j++) {
		if (allowed && !allowed[r->node_of_member[expert_member(r, layer, rid[j])]])
			continue;
		ids[n] = rid[j];
		sc[n] = rsc[j];
		n++;
	}
	finish_choice(k, n, sc, ids, scores);
}

/*
 * The next arrival on node n of a synthetic token's exponential race: every expert e
 * not yet drawn rings at rate p_e, so the next one rings after Exp(1) / (their summed
 * rate) and is e with probability p_e / that sum (memorylessness). Expert e's arrival
 * time t_e = X_e / p_e, X_e ~ Exp(1), is 1 / a_e: drawing the arrivals in order is
 * drawing the affinities in decreasing order, without drawing the other experts'. The
 * expert comes from the node's alias table (built per group and layer), redrawn if
 * already drawn; after 32 redraws (only when drawn experts hold nearly all of the
 * node's popularity) a scan over the rest, which is the same law. Returns 0 when the
 * node has no expert left.
 */
static int node_arrival(rt_router *r, int layer, int n)
{
	const int32_t *ex = r->mem_expert[layer];
	const double *pop = r->popularity[layer];
	int lo = r->mem_start[layer][r->node_first[n]], cnt = r->node_count[n], e = -1, c = r->ntop_n[n];
	double rate;
	if (r->node_left[n] == 0)
		return 0;
	rate = r->node_rate[n];
	if (!(rate > 0)) { /* rounding ate the remainder: sum it exactly */
		rate = 0;
		for (int i = lo; i < lo + cnt; i++)
			rate += r->stamp[ex[i]] == r->stamp_now ? 0 : pop[ex[i]];
	}
	r->node_t[n] += -log(ms_mt_uniform_pos(&r->mt)) / rate;
	for (int tries = 0; tries < 32 && e < 0; tries++) {
		int i = lo + draw_below(&r->mt, cnt);
		if (draw_u32(&r->mt) >= r->node_cut[i])
			i = lo + r->node_cut_other[i];
		if (r->stamp[ex[i]] != r->stamp_now)
			e = ex[i];
	}
	if (e < 0) {
		double u = ms_mt_uniform(&r->mt) * rate;
		for (int i = lo; i < lo + cnt; i++) {
			if (r->stamp[ex[i]] == r->stamp_now)
				continue;
			e = ex[i]; /* the last one left if rounding leaves u over */
			if ((u -= pop[ex[i]]) < 0)
				break;
		}
	}
	r->stamp[e] = r->stamp_now;
	r->node_rate[n] = rate - pop[e];
	r->node_left[n]--;
	r->ntop_id[(size_t)n * r->k + c] = e;
	r->ntop_t[(size_t)n * r->k + c] = r->node_t[n];
	r->ntop_n[n] = c + 1;
	return 1;
}

/*
 * A synthetic token under a node limit M smaller than the nodes the group spans:
 * affinities a_e = p_e / X_e, X_e ~ Exp(1) (exp of the Gumbel-top-k key log p_e + G_e),
 * drawn lazily in decreasing order per node by the race above. A node's score is the sum
 * of its ceil(k / M) largest, the M best nodes are chosen (node_choose, shared with
 * replay), and the token takes the k largest affinities on them (a merge of the chosen
 * nodes' races, extended as needed; ties in time, of probability 0, to the lower node).
 * Gate scores are those affinities renormalised. O(nodes x ceil(k / M) + k) draws.
 */
static void draw_token_limited(rt_router *r, int layer, int32_t *ids, float *scores)
{
	int k = r->k, M = r->node_limit, per = (k + M - 1) / M, n = 0;
	int *allowed = r->node_pick, *head = r->node_pick + r->n_nodes;
	r->stamp_now++;
	for (int i = 0; i < r->n_nodes; i++) {
		r->node_rate[i] = r->node_total[i];
		r->node_t[i] = 0;
		r->node_left[i] = r->node_count[i];
		r->ntop_n[i] = 0;
		r->node_score[i] = 0;
		for (int j = 0; j < per && node_arrival(r, layer, i); j++)
			r->node_score[i] += 1.0 / r->ntop_t[(size_t)i * k + j];
	}
	node_choose(r, M, allowed);
	for (int i = 0; i < r->n_nodes; i++)
		head[i] = 0;
	for (; n < k; n++) {
		int best = -1;
		for (int i = 0; i < r->n_nodes; i++) {
			if (!allowed[i] || (head[i] == r->ntop_n[i] && !node_arrival(r, layer, i)))
				continue;
			if (best < 0 || r->ntop_t[(size_t)i * k + head[i]] < r->ntop_t[(size_t)best * k + head[best]])
				best = i;
		}
		if (best < 0)
			break; /* fewer than k experts on the chosen nodes */
		ids[n] = r->ntop_id[(size_t)best * k + head[best]];
		r->cand_sc[n] = 1.0 / r->ntop_t[(size_t)best * k + head[best]];
		head[best]++;
	}
	finish_choice(k, n, r->cand_sc, ids, scores);
}

/* The rank of member p of EP group g (rt_router.h). */
static int member_rank(const rt_router *r, int g, int p)
{
	return rt_ep_member_rank(g, p, r->P, r->etp, r->stage_ranks);
}

/* Fills ids/scores for member p of group g. */
static int draw_member(rt_router *r, int step, int layer, int group, int p, ms_error *err)
{
	int32_t *ids = r->ids + (size_t)p * (size_t)(r->T * r->k);
	float *scores = r->scores + (size_t)p * (size_t)(r->T * r->k);
	if (r->trace) {
		int64_t K = r->depth;
		/* A layer is routed by one pipeline stage's GPUs: their ranks within the stage share
		 * the trace's streams (rt_trace.h). */
		if (rt_trace_fetch(r->trace, step, layer, member_rank(r, group, p) % r->stage_ranks, r->rank_ids, r->rank_scores,
				   r->tok_label ? r->tok_label + (size_t)p * r->T : NULL, err) < 0)
			return err->code;
		for (int64_t t = 0; t < r->T; t++)
			pick_topk(r, layer, r->rank_ids + t * K, r->rank_scores + t * K, ids + t * r->k, scores + t * r->k);
		return MS_OK;
	}
	if (r->dist == SCN_DIST_BALANCED) {
		for (int64_t t = 0; t < r->T; t++) {
			int64_t gi = (int64_t)p * r->T + t;
			for (int j = 0; j < r->k; j++) {
				ids[t * r->k + j] = (int32_t)((gi * r->k + j) % r->E);
				scores[t * r->k + j] = 1.0f / (float)r->k;
			}
		}
		return MS_OK;
	}
	ms_mt_seed(&r->mt, ms_stream_seed(r->seed, (uint64_t)step, (uint64_t)layer,
					   (uint64_t)group * (uint64_t)r->P + (uint64_t)p, 0));
	if (r->node_limit > 0 && r->node_limit < r->group_nodes) {
		for (int64_t t = 0; t < r->T; t++)
			draw_token_limited(r, layer, ids + t * r->k, scores + t * r->k);
		return MS_OK;
	}
	for (int64_t t = 0; t < r->T; t++)
		draw_token(r, layer, ids + t * r->k, scores + t * r->k);
	return MS_OK;
}

/*
 * Moves the m smallest of keys[0..n) to the front (any order): quickselect with
 * median-of-three pivots, O(n) on average.
 */
static void select_smallest(uint64_t *keys, int64_t n, int64_t m)
{
	int64_t lo = 0, hi = n - 1;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
		uint64_t a = keys[lo], b = keys[mid], c = keys[hi], pivot;
		pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
		while (i <= j) {
			while (keys[i] < pivot)
				i++;
			while (keys[j] > pivot)
				j--;
			if (i <= j) {
				uint64_t t = keys[i];
				keys[i++] = keys[j];
				keys[j--] = t;
			}
		}
		if (m - 1 <= j)
			hi = j;
		else if (m - 1 >= i)
			lo = i;
		else
			break;
	}
}

static inline uint32_t float_bits(float f)
{
	union { float f; uint32_t u; } v;
	v.f = f > 0 ? f : 0.0f; /* scores are >= 0; -0.0 and NaN never reach here */
	return v.u;
}

int64_t rt_apply_capacity(int64_t n, const int32_t *experts, const float *scores, int experts_n, int64_t capacity,
			  scn_drop_policy policy, uint8_t *keep, int64_t *order, int64_t *count)
{
	int64_t dropped = 0;
	for (int64_t i = 0; i < n; i++)
		keep[i] = experts[i] >= 0; /* -1: an empty slot (node-limited ranking ran out) */
	if (capacity <= 0)
		return 0;
	memset(count, 0, (size_t)(experts_n + 1) * sizeof *count);
	if (policy == SCN_DROP_POSITION) {
		/* First come, first kept: one pass. */
		for (int64_t i = 0; i < n; i++)
			if (experts[i] >= 0 && count[experts[i]]++ >= capacity) {
				keep[i] = 0;
				dropped++;
			}
		return dropped;
	}
	/* probs: a stable counting sort puts each expert's assignments in one slice of order;
	 * an over-full expert keeps the capacity smallest keys, where a key orders by score
	 * descending, then position (index) ascending. */
	for (int64_t i = 0; i < n; i++)
		if (experts[i] >= 0)
			count[experts[i] + 1]++;
	for (int e = 0; e < experts_n; e++)
		count[e + 1] += count[e];
	for (int64_t i = 0; i < n; i++)
		if (experts[i] >= 0)
			order[count[experts[i]]++] = i;
	/* count[e] is now the end of slice e; its start is count[e - 1] (0 for e = 0). */
	for (int e = 0; e < experts_n; e++) {
		int64_t start = e ? count[e - 1] : 0, m = count[e] - start;
		uint64_t *keys = (uint64_t *)(order + start);
		if (m <= capacity)
			continue;
		for (int64_t j = 0; j < m; j++) {
			uint64_t i = (uint64_t)order[start + j];
			keys[j] = (uint64_t)(UINT32_MAX - float_bits(scores[i])) << 32 | i;
		}
		select_smallest(keys, m, capacity);
		for (int64_t j = capacity; j < m; j++) {
			keep[keys[j] & UINT32_MAX] = 0;
			dropped++;
		}
	}
	return dropped;
}

/*
 * The de-duplicated counts, one kept pair at a time (from drop_scope's pass): each token
 * counted once at every member and every NVLink domain where one of its kept pairs
 * lands. `now` is a stamp unique to the token, so "seen already" is one comparison
 * instead of a search of the token's earlier pairs. A replicated expert's n-th kept pair
 * from member p goes to the replica rt_placement_split gives its (n mod r)-th share, so
 * these counts agree with sent pair for pair.
 */
static inline void count_pair(rt_router *r, const int32_t *only, const int32_t *rs, const int32_t *rm, int p, int e,
			      int64_t now)
{
	rt_group_routing *o = &r->out;
	int m = only[e], d;
	if (m < 0) {
		int reps = rs[e + 1] - rs[e], n = r->rep_next[(size_t)p * r->E + e]++;
		m = rm[rs[e] + (p + n % reps) % reps];
	}
	if (r->gpu_seen[m] != now) {
		r->gpu_seen[m] = now;
		o->gpu_tokens[(size_t)p * r->P + m]++;
	}
	d = r->dom_of_member[m];
	if (r->dom_seen[d] != now) {
		r->dom_seen[d] = now;
		o->domain_tokens[(size_t)p * r->n_dom_max + d]++;
	}
}

/* The row of out.label_kept for a token of label d (counting the token), or NULL when it has none. */
static inline int32_t *label_row(rt_router *r, int d)
{
	if (d < 0 || d >= r->labels)
		return NULL;
	r->out.label_tokens[d]++;
	return r->out.label_kept + (size_t)d * r->E;
}

/*
 * Runs capacity over one scope: n assignments in position order, exp[i] and score[i],
 * src[i] their index in ids (NULL: the scope is member `member`'s own, src = i).
 */
static void drop_scope(rt_router *r, int layer, int64_t n, const int32_t *exp, const float *score,
		       const int64_t *src, int member, int64_t scope_tokens)
{
	rt_group_routing *o = &r->out;
	int64_t cap = rt_capacity(r->cf, scope_tokens, r->k, r->E), base = r->seen_now + 1;
	const int32_t *rs = r->placement.rep_start[layer], *rm = r->placement.rep_member[layer];
	const int32_t *only = r->only_member[layer];
	MS_ASSERT(n == scope_tokens * r->k, "%lld assignments for %lld tokens of top-%d", (long long)n,
		  (long long)scope_tokens, r->k);
	o->capacity = cap;
	r->seen_now += scope_tokens; /* stamps base + t for the scope's tokens t */
	o->dropped_pairs += rt_apply_capacity(n, exp, score, r->E, cap, r->policy, r->keep, r->order, r->count);
	/* Token by token (assignment i is choice j of scope token t = i / k), so no division
	 * per pair: it was a tenth of synthetic routing's time. */
	if (!src) {
		int32_t *demand = o->demand + (size_t)member * r->E, *kept = o->kept + (size_t)member * r->E;
		for (int64_t t = 0, i = 0; t < scope_tokens; t++) {
			uint8_t any = 0;
			int32_t *lab = r->labels ? label_row(r, r->tok_label[(size_t)member * r->T + t]) : NULL;
			for (int j = 0; j < r->k; j++, i++) {
				int e = exp[i];
				if (e < 0)
					continue;
				demand[e]++;
				kept[e] += r->keep[i];
				any |= r->keep[i];
				o->pairs++;
				if (r->keep[i]) {
					count_pair(r, only, rs, rm, member, e, base + t);
					if (lab)
						lab[e]++;
				}
			}
			o->dropped_tokens += !any;
		}
	} else {
		const int64_t Tk = r->T * r->k;
		for (int64_t t = 0, i = 0; t < scope_tokens; t++) {
			uint8_t any = 0;
			/* the token's k assignments are consecutive: the first one's source names it */
			int32_t *lab = r->labels ? label_row(r, r->tok_label[src[i] / r->k]) : NULL;
			for (int j = 0; j < r->k; j++, i++) {
				int e = exp[i], p = (int)(src[i] / Tk);
				if (e < 0)
					continue;
				o->pairs++;
				o->demand[(size_t)p * r->E + e]++;
				o->kept[(size_t)p * r->E + e] += r->keep[i];
				any |= r->keep[i];
				if (r->keep[i]) {
					count_pair(r, only, rs, rm, p, e, base + t);
					if (lab)
						lab[e]++;
				}
			}
			o->dropped_tokens += !any;
		}
	}
}

/*
 * routing.pad_to_capacity: replaces the kept pairs by capacity-sized buffers (see
 * rt_router.h; Megatron-Core, token_dispatcher.py, MoEAlltoAllTokenDispatcher.preprocess
 * with drop_and_pad). Rank scope: member p sends every expert C rows, so sent, slot_load
 * and the de-duplicated counts are per-expert buffers. Global scope: each expert
 * computes its C rows; the exchange keeps the kept pairs.
 */
static void pad_buffers(rt_router *r, int layer)
{
	rt_group_routing *o = &r->out;
	int64_t C = o->capacity;
	memset(o->slot_load, 0, (size_t)r->P * (size_t)o->slots * sizeof *o->slot_load);
	if (r->scope == SCN_SCOPE_GLOBAL) {
		for (int e = 0; e < r->E; e++)
			rt_placement_split(&r->placement, layer, e, 0, C, NULL, o->slot_load);
		return;
	}
	memset(o->sent, 0, (size_t)r->P * (size_t)r->P * sizeof *o->sent);
	for (int p = 0; p < r->P; p++)
		for (int e = 0; e < r->E; e++)
			rt_placement_split(&r->placement, layer, e, p, C, o->sent, o->slot_load);
	memcpy(o->gpu_tokens, o->sent, (size_t)r->P * (size_t)r->P * sizeof *o->sent);
	memset(o->domain_tokens, 0, (size_t)r->P * r->n_dom_max * sizeof *o->domain_tokens);
	for (int p = 0; p < r->P; p++)
		for (int j = 0; j < r->P; j++)
			o->domain_tokens[(size_t)p * r->n_dom_max + r->dom_of_member[j]] += o->sent[(size_t)p * r->P + j];
}

/* topk: the recorded (or drawn) choices of every member, then capacity per scope. */
static int route_topk(rt_router *r, int step, int layer, int group, ms_error *err)
{
	int64_t Tk = r->T * r->k;
	for (int p = 0; p < r->P; p++)
		if (draw_member(r, step, layer, group, p, err) < 0)
			return err->code;
	if (r->scope == SCN_SCOPE_RANK) {
		for (int p = 0; p < r->P; p++)
			drop_scope(r, layer, Tk, r->ids + (size_t)p * Tk, r->scores + (size_t)p * Tk, NULL, p, r->T);
	} else {
		/* Position order: token index, then member; so assignment i belongs to scope token i / k. */
		int64_t i = 0;
		for (int64_t t = 0; t < r->T; t++)
			for (int p = 0; p < r->P; p++)
				for (int j = 0; j < r->k; j++, i++) {
					int64_t src = (int64_t)p * Tk + t * r->k + j;
					r->sc_exp[i] = r->ids[src];
					r->sc_score[i] = r->scores[src];
					r->sc_src[i] = src;
				}
		drop_scope(r, layer, Tk * r->P, r->sc_exp, r->sc_score, r->sc_src, 0, r->T * r->P);
	}
	return MS_OK;
}

/*
 * A router other than topk over one capacity scope of n tokens whose scores are in
 * r->pscores (scope token i of member `member`, or of member i mod P when member < 0: the
 * group scope lists token index, then member, as drop_scope's positions do). The pairs
 * routed are the router's choices (expert_choice: each token's k best-scored experts,
 * what its loss is measured against), the pairs kept its selections under the scope's
 * capacity; so under expert_choice an expert may keep pairs no token chose, and kept
 * can exceed demand for that expert.
 */
static void policy_scope(rt_router *r, int layer, int64_t n, int member, const double *bias)
{
	rt_group_routing *o = &r->out;
	const int E = r->E;
	const int32_t *rs = r->placement.rep_start[layer], *rm = r->placement.rep_member[layer];
	const int32_t *only = r->only_member[layer];
	int64_t cap = rt_capacity(r->cf, n, r->k, E), base = r->seen_now + 1;
	o->capacity = cap;
	r->seen_now += n;
	rt_policy_route(r->pws, r->kind, n, r->pscores, r->k, cap, r->policy, bias, r->psel);
	for (int64_t i = 0; i < n; i++) {
		const uint8_t *sel = r->psel + (size_t)i * E;
		int p = member >= 0 ? member : (int)(i % r->P), any = 0;
		int32_t *lab = r->labels ? label_row(r, r->plabel[i]) : NULL;
		for (int e = 0; e < E; e++) {
			if (sel[e] & RT_SEL_ROUTED) {
				o->pairs++;
				o->demand[(size_t)p * E + e]++;
				o->dropped_pairs += !(sel[e] & RT_SEL_KEPT);
			}
			if (sel[e] & RT_SEL_KEPT) {
				o->kept[(size_t)p * E + e]++;
				any = 1;
				count_pair(r, only, rs, rm, p, e, base + i);
				if (lab)
					lab[e]++;
			}
		}
		o->dropped_tokens += !any;
	}
}

/*
 * Synthetic routing's score matrix for routers other than topk: member p's T tokens, every
 * expert's score, from the model `moesim trace synth` records (trace/tr_synth.h): keys
 * key_e = p_e / X_e with X_e ~ Exp(1) and p the layer's popularity (the exponential race,
 * the Plackett-Luce law of the successive sampling draw_token does), scores
 * softmax(log key) = key_e / sum key. So a token's experts ranked by score have the law of
 * topk's synthetic draw, but not the same draws: draw_token's alias sampling reads the
 * stream differently, and topk keeps its own outputs. From member p's stream, as
 * draw_member. (balanced routing has no scores: the scenario refuses it here.)
 */
void rt_router_synthetic_scores(rt_router *r, int step, int layer, int group, int p, float *mat)
{
	const int E = r->E;
	const double *pop = r->popularity[layer];
	MS_ASSERT(r->dist != SCN_DIST_BALANCED, "synthetic scores of distribution %d (balanced is refused)", (int)r->dist);
	ms_mt_seed(&r->mt, ms_stream_seed(r->seed, (uint64_t)step, (uint64_t)layer,
					   (uint64_t)group * (uint64_t)r->P + (uint64_t)p, 0));
	for (int64_t t = 0; t < r->T; t++) {
		float *row = mat + (size_t)t * E;
		double sum = 0, *key = r->gumbel; /* as scratch */
		for (int e = 0; e < E; e++) {
			key[e] = pop[e] / -log(ms_mt_uniform_pos(&r->mt));
			sum += key[e];
		}
		for (int e = 0; e < E; e++)
			row[e] = (float)(key[e] / sum);
	}
}

/*
 * Member p's scores (recorded, or drawn) as rows of r->pscores, `stride` rows apart from row
 * `first`, and its tokens' labels in r->plabel.
 */
static int fetch_scores(rt_router *r, int step, int layer, int group, int p, int64_t first, int64_t stride,
			ms_error *err)
{
	const int E = r->E;
	float *mat = stride == 1 ? r->pscores + (size_t)first * E : r->rank_mat;
	int16_t *lab = r->tok_label ? r->tok_label + (size_t)p * r->T : NULL;
	if (!r->trace)
		rt_router_synthetic_scores(r, step, layer, group, p, mat);
	else if (rt_trace_fetch_matrix(r->trace, step, layer, member_rank(r, group, p) % r->stage_ranks,
					rt_policy_needs_all_scores(r->kind), mat, lab, err) < 0)
		return err->code;
	for (int64_t t = 0; lab && t < r->T; t++)
		r->plabel[first + t * stride] = lab[t];
	if (stride != 1)
		for (int64_t t = 0; t < r->T; t++)
			memcpy(r->pscores + (size_t)(first + t * stride) * E, mat + (size_t)t * E, (size_t)E * sizeof *mat);
	return MS_OK;
}

/* Routes the group under r->kind, scope by scope (rank: each member's tokens; global: the group's). */
static int policy_group(rt_router *r, int step, int layer, int group, ms_error *err)
{
	const double *bias = NULL;
	if (r->kind == RT_POLICY_BIAS_BALANCED) {
		int s = step / r->bias_samples;
		MS_ASSERT(r->bias && s < r->bias_steps, "bias_balanced at router step %d without a planned bias (%d steps)",
			  step, r->bias_steps);
		bias = r->bias + ((size_t)s * r->layers + layer) * r->E;
	}
	if (r->scope == SCN_SCOPE_RANK) {
		for (int p = 0; p < r->P; p++) {
			if (fetch_scores(r, step, layer, group, p, 0, 1, err) < 0)
				return err->code;
			policy_scope(r, layer, r->T, p, bias);
		}
		return MS_OK;
	}
	for (int p = 0; p < r->P; p++)
		if (fetch_scores(r, step, layer, group, p, p, r->P, err) < 0)
			return err->code;
	policy_scope(r, layer, r->T * r->P, -1, bias);
	return MS_OK;
}

int rt_router_plan_bias(rt_router *r, int steps, int samples, ms_error *err)
{
	const int E = r->E, L = r->layers, groups = r->stage_ranks / r->P;
	int64_t *load;
	MS_ASSERT(r->owns_tables && steps >= 1 && samples >= 1, "planning the bias of a clone, or of %d steps x %d", steps,
		  samples);
	if (r->kind != RT_POLICY_BIAS_BALANCED)
		return MS_OK;
	free(r->bias);
	r->bias = ms_calloc(err, (size_t)steps * L * E, sizeof *r->bias, "router bias");
	load = ms_calloc(err, (size_t)E, sizeof *load, "router bias");
	if (!r->bias || !load) {
		free(load);
		return MS_ENOMEM;
	}
	r->bias_steps = steps;
	r->bias_samples = samples;
	for (int s = 0; s + 1 < steps; s++)
		for (int l = 0; l < L; l++) {
			const rt_group_routing *o;
			memset(load, 0, (size_t)E * sizeof *load);
			for (int smp = 0; smp < samples; smp++)
				for (int g = 0; g < groups; g++) {
					if (rt_route_group(r, s * samples + smp, l, g, &o, err) < 0) {
						free(load);
						return err->code;
					}
					for (int p = 0; p < r->P; p++)
						for (int e = 0; e < E; e++)
							load[e] += o->demand[(size_t)p * E + e];
				}
			memcpy(r->bias + ((size_t)(s + 1) * L + l) * E, r->bias + ((size_t)s * L + l) * E, (size_t)E * sizeof *r->bias);
			rt_bias_update(r->bias + ((size_t)(s + 1) * L + l) * E, load, E, r->gamma);
		}
	free(load);
	return MS_OK;
}

const double *rt_router_bias(const rt_router *r, int step, int layer)
{
	if (!r->bias || step < 0 || step >= r->bias_steps)
		return NULL;
	return r->bias + ((size_t)step * r->layers + layer) * r->E;
}

int rt_route_group(rt_router *r, int step, int layer, int group, const rt_group_routing **out, ms_error *err)
{
	rt_group_routing *o = &r->out;
	memset(o->demand, 0, (size_t)r->P * (size_t)r->E * sizeof(int32_t));
	memset(o->kept, 0, (size_t)r->P * (size_t)r->E * sizeof(int32_t));
	o->pairs = 0;
	o->tokens = r->T * r->P;
	o->dropped_pairs = 0;
	o->dropped_tokens = 0;
	for (int p = 0; p < r->P; p++) {
		int rank = member_rank(r, group, p), first = member_rank(r, group, 0);
		r->node_of_member[p] = rank / r->gpus_per_node - first / r->gpus_per_node;
		r->dom_of_member[p] = rank / r->domain_size - first / r->domain_size;
	}
	o->n_domains = r->dom_of_member[r->P - 1] + 1;
	r->group_nodes = r->node_of_member[r->P - 1] + 1;
	if (r->mem_start) {
		/* nodes as member ranges, and their experts (first replicas), for this group */
		for (int i = 0; i <= r->n_nodes; i++)
			r->node_first[i] = r->P;
		for (int p = r->P - 1; p >= 0; p--)
			r->node_first[r->node_of_member[p]] = p;
		for (int i = r->n_nodes - 1; i >= 0; i--)
			if (r->node_first[i] > r->node_first[i + 1])
				r->node_first[i] = r->node_first[i + 1];
		for (int i = 0; i < r->n_nodes; i++) {
			const int32_t *ms = r->mem_start[layer], *ex = r->mem_expert[layer];
			int lo = ms[r->node_first[i]], cnt = ms[r->node_first[i + 1]] - lo;
			r->node_count[i] = cnt;
			r->node_total[i] = 0;
			for (int j = 0; j < cnt; j++) {
				r->gumbel[j] = r->popularity[layer][ex[lo + j]]; /* as scratch */
				r->node_total[i] += r->gumbel[j];
			}
			if (cnt > 0 && rt_alias_build(r->gumbel, cnt, r->node_cut + lo, r->node_cut_other + lo, err) < 0)
				return err->code;
		}
	}
	o->padded = r->pad;
	memset(o->domain_tokens, 0, (size_t)r->P * r->n_dom_max * sizeof *o->domain_tokens);
	memset(o->gpu_tokens, 0, (size_t)r->P * (size_t)r->P * sizeof *o->gpu_tokens);
	memset(r->rep_next, 0, (size_t)r->P * (size_t)r->E * sizeof *r->rep_next);
	if (r->labels) {
		memset(o->label_kept, 0, (size_t)r->labels * (size_t)r->E * sizeof *o->label_kept);
		memset(o->label_tokens, 0, (size_t)r->labels * sizeof *o->label_tokens);
	}
	if (r->kind != RT_POLICY_TOPK) {
		if (policy_group(r, step, layer, group, err) < 0)
			return err->code;
	} else if (route_topk(r, step, layer, group, err) < 0) {
		return err->code;
	}
	memset(o->sent, 0, (size_t)r->P * (size_t)r->P * sizeof *o->sent);
	memset(o->slot_load, 0, (size_t)r->P * (size_t)o->slots * sizeof *o->slot_load);
	for (int p = 0; p < r->P; p++)
		for (int e = 0; e < r->E; e++)
			rt_placement_split(&r->placement, layer, e, p, o->kept[(size_t)p * r->E + e], o->sent, o->slot_load);
	if (r->pad)
		pad_buffers(r, layer);
	*out = o;
	return MS_OK;
}
