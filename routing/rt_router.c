/*
 * rt_router.c - synthetic routing, capacity and placement (see rt_router.h).
 *
 * Synthetic top-k: experts are drawn one after another in proportion to the layer's
 * popularity, redrawing a repeat (successive sampling, i.e. Plackett-Luce, the same law
 * as Gumbel-top-k), using a Walker alias table per layer (Vose 1991) so a draw is two
 * 32-bit outputs of the stream's gsl_rng (mt19937): one picks the column by Lemire's
 * multiply-shift, one the coin. When top_k > experts / 2 repeats become common and we
 * fall back to Gumbel-top-k over all experts. Synthetic gate scores are geometric: one
 * uniform r per token, score_j proportional to r^j, normalised to sum 1 (decreasing
 * along the ranking, and cheap); they only rank tokens for the "probs" drop policy;
 * recorded traces carry real scores.
 *
 * Popularity: uniform; Zipf(s) over a random permutation of the experts drawn once per
 * layer (so each layer has its own hot experts, stable across steps); balanced: token
 * i (counted across the group) takes experts i*k .. i*k+k-1 modulo E.
 *
 * Node-limited synthetic routing needs a score for every expert, not only the k drawn:
 * each token draws affinities a_e = p_e / X_e, X_e ~ Exp(1), i.e. exp(log p_e + G_e)
 * with G_e Gumbel (the Gumbel-top-k keys above, exponentiated, so softmax-like scores
 * whose top-k is the Plackett-Luce draw). Per node the best k are kept by insertion
 * (O(E) per token, as the Gumbel draw; a full sort of E would be O(E log E)); the node
 * scores and the node choice are the replay's code (node_choose).
 *
 * De-duplicated counts (gpu_tokens, domain_tokens) are one pass over the scope's kept
 * pairs after capacity, O(pairs x k) with k <= 64 distinct destinations per token.
 */
#include "routing/rt_router.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_rng.h"
#include "common/ms_zipf.h"
#include "routing/rt_placement.h"
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
	gsl_rng *rng;
	/* workspaces, sized for the scope (T*k pairs per rank, or P*T*k for global) */
	int32_t *ids;      /* [P*T*k] member-major: ids[(p*T + t)*k + j] */
	float *scores;
	int32_t *sc_exp;   /* capacity input in position order */
	float *sc_score;
	int64_t *sc_src;   /* index into ids for each position-ordered assignment */
	uint8_t *keep;
	int64_t *order;
	int64_t *count;
	uint8_t *tok_kept; /* per token of the scope: any choice kept */
	double *gumbel;
	rt_placement placement;
	/* trace replay */
	rt_trace *trace;
	int depth;          /* recorded ranking depth K */
	int16_t *rank_ids;  /* [T * K] one member's recorded rankings */
	float *rank_scores;
	int node_limit;     /* M, 0 = none */
	int gpus_per_node;
	int *node_of_member; /* [P] node index of each member, relative to the group's first */
	int n_nodes;        /* nodes an EP group spans */
	double *node_score; /* [n_nodes] workspace */
	int domain_size;    /* GPUs per NVLink domain */
	int n_dom_max;      /* domains an EP group spans at most */
	int *dom_of_member; /* [P] domain of each member, relative to the group's first */
	int *node_pick;     /* [2 * n_nodes] */
	int group_nodes;    /* nodes the current group spans */
	int pad;            /* routing.pad_to_capacity */
	int32_t *cand_id;   /* [max(K, E)] a token's candidates, in ranking order */
	double *cand_sc;
	int32_t *ntop_id;   /* [n_nodes][k] synthetic node limit: each node's best k experts */
	double *ntop_a;     /* their affinities, decreasing (ties: lower expert first) */
	int *ntop_n;        /* [n_nodes] */
	int32_t *rep_next;  /* [P][E] kept pairs so far from member p to expert e (replica choice) */
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

static inline uint32_t draw_u32(gsl_rng *rng)
{
	return (uint32_t)gsl_rng_get(rng);
}

/* A uniform integer in [0, n) by Lemire's multiply-shift (bias below n / 2^32). */
static inline int draw_below(gsl_rng *rng, int n)
{
	return (int)(((uint64_t)draw_u32(rng) * (uint64_t)n) >> 32);
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
}

void rt_router_destroy(rt_router *r)
{
	if (!r)
		return;
	if (r->owns_tables) {
		destroy_tables(r);
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
	free(r->tok_kept);
	free(r->gumbel);
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
	free(r->cand_id);
	free(r->cand_sc);
	free(r->ntop_id);
	free(r->ntop_a);
	free(r->ntop_n);
	free(r->rep_next);
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

/* The per-thread part: random stream aside, every buffer a routing call writes. */
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
	r->tok_kept = ms_calloc(err, (size_t)r->scope_tokens, sizeof *r->tok_kept, "capacity workspace");
	r->gumbel = ms_calloc(err, (size_t)r->E, sizeof *r->gumbel, "router workspace");
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
	r->cand_id = ms_calloc(err, (size_t)(r->depth > r->E ? r->depth : r->E), sizeof *r->cand_id, "node limit");
	r->cand_sc = ms_calloc(err, (size_t)(r->depth > r->E ? r->depth : r->E), sizeof *r->cand_sc, "node limit");
	r->ntop_id = ms_calloc(err, (size_t)r->n_nodes * (size_t)r->k, sizeof *r->ntop_id, "node limit");
	r->ntop_a = ms_calloc(err, (size_t)r->n_nodes * (size_t)r->k, sizeof *r->ntop_a, "node limit");
	r->ntop_n = ms_calloc(err, (size_t)r->n_nodes, sizeof *r->ntop_n, "node limit");
	r->rep_next = ms_calloc(err, (size_t)r->P * (size_t)r->E, sizeof *r->rep_next, "replica choice");
	if (!r->dom_of_member || !r->out.domain_tokens || !r->out.gpu_tokens || !r->cand_id || !r->cand_sc ||
	    !r->ntop_id || !r->ntop_a || !r->ntop_n || !r->rep_next)
		return MS_ENOMEM;
	r->out.slot_load = ms_calloc(err, (size_t)r->P * (size_t)r->placement.slots, sizeof(int64_t), "expert loads");
	if (!r->ids || !r->scores || !r->sc_exp || !r->sc_score || !r->sc_src || !r->keep || !r->order ||
	    !r->count || !r->tok_kept || !r->gumbel || !r->out.demand || !r->out.kept || !r->node_of_member ||
	    !r->node_score || !r->node_pick || !r->out.sent || !r->out.slot_load)
		return MS_ENOMEM;
	if (r->trace) {
		r->rank_ids = ms_calloc(err, (size_t)(r->T * r->depth), sizeof *r->rank_ids, "trace rankings");
		r->rank_scores = ms_calloc(err, (size_t)(r->T * r->depth), sizeof *r->rank_scores, "trace rankings");
		if (!r->rank_ids || !r->rank_scores)
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
	r->tok_kept = NULL;
	r->gumbel = NULL;
	r->rank_ids = NULL;
	r->rank_scores = NULL;
	r->node_of_member = NULL;
	r->node_score = NULL;
	r->node_pick = NULL;
	r->dom_of_member = NULL;
	r->cand_id = NULL;
	r->cand_sc = NULL;
	r->ntop_id = NULL;
	r->ntop_a = NULL;
	r->ntop_n = NULL;
	r->rep_next = NULL;
	memset(&r->out, 0, sizeof r->out);
	if (alloc_workspace(r, err) < 0) {
		rt_router_destroy(r);
		return NULL;
	}
	return r;
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
	}
	/* An EP group of P consecutive ranks spans at most this many nodes (and domains). */
	r->n_nodes = topo_rank_span_max(r->P, r->gpus_per_node);
	r->domain_size = topo_rank_domain_size(s->network.nvlink_domain, r->gpus_per_node);
	r->n_dom_max = topo_rank_span_max(r->P, r->domain_size);
	r->pad = s->routing.pad_to_capacity;
	MS_ASSERT(!r->pad || r->cf > 0, "padding with capacity factor %g", r->cf);
	if (init_placement(r, s, err) < 0)
		goto fail;
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
		for (int j = 0; j < k; j++) {
			int e = -1, dup = 1;
			for (int t = 0; t < REJECT_TRIES && dup; t++) {
				e = draw_below(r->rng, E);
				if (r->dist == SCN_DIST_ZIPF && draw_u32(r->rng) >= cut[e])
					e = other[e];
				dup = 0;
				for (int i = 0; i < j; i++)
					dup |= ids[i] == e;
			}
			if (dup) {
				double rest = 0, u;
				for (int x = 0; x < E; x++) {
					int taken = 0;
					for (int i = 0; i < j; i++)
						taken |= ids[i] == x;
					rest += taken ? 0.0 : pop[x];
				}
				u = gsl_rng_uniform(r->rng) * rest;
				for (int x = 0; x < E; x++) {
					int taken = 0;
					for (int i = 0; i < j; i++)
						taken |= ids[i] == x;
					if (taken)
						continue;
					e = x;
					if ((u -= pop[x]) < 0)
						break;
				}
			}
			ids[j] = e;
		}
	} else {
		/* Gumbel-top-k: argmax over log p_e + G_e, k times without replacement. */
		for (int e = 0; e < E; e++)
			r->gumbel[e] = log(r->popularity[layer][e]) - log(-log(gsl_rng_uniform_pos(r->rng)));
		for (int j = 0; j < k; j++) {
			int best = 0;
			for (int e = 1; e < E; e++)
				if (r->gumbel[e] > r->gumbel[best])
					best = e;
			ids[j] = best;
			r->gumbel[best] = -INFINITY;
		}
	}
	rr = gsl_rng_uniform_pos(r->rng);
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

/* The member holding expert e's first replica in layer l. */
static inline int expert_member(const rt_router *r, int l, int e)
{
	return r->placement.rep_member[l][r->placement.rep_start[l][e]];
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
 * A synthetic token under a node limit M smaller than the nodes the group spans:
 * affinities a_e = p_e / X_e (X_e ~ Exp(1): exp of the Gumbel-top-k key log p_e + G_e,
 * drawn from the same uniforms as the Gumbel path), each node's best k kept in
 * decreasing order, node scores the sums of each node's best ceil(k / M), then the
 * k best experts on the M chosen nodes. Gate scores are their affinities renormalised.
 */
static void draw_token_limited(rt_router *r, int layer, int32_t *ids, float *scores)
{
	int k = r->k, E = r->E, M = r->node_limit, per = (k + M - 1) / M, n = 0;
	const double *pop = r->popularity[layer];
	int *allowed = r->node_pick;
	for (int i = 0; i < r->n_nodes; i++)
		r->ntop_n[i] = 0;
	for (int e = 0; e < E; e++) {
		double a = pop[e] / -log(gsl_rng_uniform_pos(r->rng));
		int node = r->node_of_member[expert_member(r, layer, e)], c = r->ntop_n[node], j;
		int32_t *tid = r->ntop_id + (size_t)node * k;
		double *ta = r->ntop_a + (size_t)node * k;
		if (c == k && a <= ta[k - 1])
			continue; /* ties keep the lower expert, seen first */
		j = c < k ? c++ : k - 1;
		for (; j > 0 && ta[j - 1] < a; j--) {
			ta[j] = ta[j - 1];
			tid[j] = tid[j - 1];
		}
		ta[j] = a;
		tid[j] = e;
		r->ntop_n[node] = c;
	}
	for (int i = 0; i < r->n_nodes; i++) {
		r->node_score[i] = 0;
		for (int j = 0; j < per && j < r->ntop_n[i]; j++)
			r->node_score[i] += r->ntop_a[(size_t)i * k + j];
	}
	node_choose(r, M, allowed);
	/* Merge the chosen nodes' lists: k times the best head (ties: lower expert). */
	{
		int *head = r->node_pick + r->n_nodes;
		for (int i = 0; i < r->n_nodes; i++)
			head[i] = 0;
		for (; n < k; n++) {
			int best = -1;
			for (int i = 0; i < r->n_nodes; i++) {
				const double *ta = r->ntop_a + (size_t)i * k;
				const int32_t *tid = r->ntop_id + (size_t)i * k;
				if (!allowed[i] || head[i] >= r->ntop_n[i])
					continue;
				if (best < 0 || ta[head[i]] > r->ntop_a[(size_t)best * k + head[best]] ||
				    (ta[head[i]] == r->ntop_a[(size_t)best * k + head[best]] &&
				     tid[head[i]] < r->ntop_id[(size_t)best * k + head[best]]))
					best = i;
			}
			if (best < 0)
				break; /* fewer than k experts on the chosen nodes */
			ids[n] = r->ntop_id[(size_t)best * k + head[best]];
			r->cand_sc[n] = r->ntop_a[(size_t)best * k + head[best]];
			head[best]++;
		}
	}
	finish_choice(k, n, r->cand_sc, ids, scores);
}

/* Fills ids/scores for member p of group g. */
static int draw_member(rt_router *r, int step, int layer, int group, int p, ms_error *err)
{
	int32_t *ids = r->ids + (size_t)p * (size_t)(r->T * r->k);
	float *scores = r->scores + (size_t)p * (size_t)(r->T * r->k);
	if (r->trace) {
		int64_t K = r->depth;
		if (rt_trace_fetch(r->trace, step, layer, group * r->P + p, r->rank_ids, r->rank_scores, err) < 0)
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
	gsl_rng_set(r->rng, ms_stream_seed(r->seed, (uint64_t)step, (uint64_t)layer,
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
 * The de-duplicated counts of one scope after capacity: each token counted once at
 * every member and every NVLink domain where one of its kept pairs lands. A
 * replicated expert's n-th kept pair from member p goes to the replica rt_placement_split
 * gives its (n mod r)-th share, so these counts agree with sent pair for pair.
 * src: as in drop_scope.
 */
static void count_tokens(rt_router *r, int layer, int64_t scope_tokens, const int32_t *exp, const int64_t *src,
			 int member)
{
	rt_group_routing *o = &r->out;
	const int32_t *rs = r->placement.rep_start[layer], *rm = r->placement.rep_member[layer];
	for (int64_t t = 0; t < scope_tokens; t++) {
		int gpus[64], doms[64], ng = 0, nd = 0;
		int p = src ? (int)(src[t * r->k] / (r->T * r->k)) : member;
		for (int j = 0; j < r->k; j++) {
			int64_t i = t * r->k + j;
			int e, m, d, reps, dup = 0;
			if (exp[i] < 0 || !r->keep[i])
				continue;
			e = exp[i];
			reps = rs[e + 1] - rs[e];
			if (reps == 1) {
				m = rm[rs[e]];
			} else {
				int n = r->rep_next[(size_t)p * r->E + e]++;
				m = rm[rs[e] + (p + n % reps) % reps];
			}
			for (int q = 0; q < ng; q++)
				dup |= gpus[q] == m;
			if (!dup)
				gpus[ng++] = m;
			d = r->dom_of_member[m];
			dup = 0;
			for (int q = 0; q < nd; q++)
				dup |= doms[q] == d;
			if (!dup)
				doms[nd++] = d;
		}
		for (int q = 0; q < ng; q++)
			o->gpu_tokens[(size_t)p * r->P + gpus[q]]++;
		for (int q = 0; q < nd; q++)
			o->domain_tokens[(size_t)p * r->n_dom_max + doms[q]]++;
	}
}

/*
 * Runs capacity over one scope: n assignments in position order, exp[i] and score[i],
 * src[i] their index in ids (NULL: the scope is member `member`'s own, src = i).
 */
static void drop_scope(rt_router *r, int layer, int64_t n, const int32_t *exp, const float *score,
		       const int64_t *src, int member, int64_t scope_tokens)
{
	rt_group_routing *o = &r->out;
	int64_t cap = rt_capacity(r->cf, scope_tokens, r->k, r->E);
	o->capacity = cap;
	o->dropped_pairs += rt_apply_capacity(n, exp, score, r->E, cap, r->policy, r->keep, r->order, r->count);
	memset(r->tok_kept, 0, (size_t)scope_tokens);
	if (!src) {
		int32_t *demand = o->demand + (size_t)member * r->E, *kept = o->kept + (size_t)member * r->E;
		for (int64_t i = 0; i < n; i++) {
			if (exp[i] < 0)
				continue;
			demand[exp[i]]++;
			kept[exp[i]] += r->keep[i];
			r->tok_kept[i / r->k] |= r->keep[i];
			o->pairs++;
		}
	} else {
		for (int64_t i = 0; i < n; i++) {
			int p = (int)(src[i] / (r->T * r->k));
			if (exp[i] < 0)
				continue;
			o->pairs++;
			o->demand[(size_t)p * r->E + exp[i]]++;
			o->kept[(size_t)p * r->E + exp[i]] += r->keep[i];
			r->tok_kept[i / r->k] |= r->keep[i];
		}
	}
	for (int64_t t = 0; t < scope_tokens; t++)
		o->dropped_tokens += !r->tok_kept[t];
	count_tokens(r, layer, scope_tokens, exp, src, member);
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

int rt_route_group(rt_router *r, int step, int layer, int group, const rt_group_routing **out, ms_error *err)
{
	rt_group_routing *o = &r->out;
	int64_t Tk = r->T * r->k;
	memset(o->demand, 0, (size_t)r->P * (size_t)r->E * sizeof(int32_t));
	memset(o->kept, 0, (size_t)r->P * (size_t)r->E * sizeof(int32_t));
	o->pairs = 0;
	o->tokens = r->T * r->P;
	o->dropped_pairs = 0;
	o->dropped_tokens = 0;
	for (int p = 0; p < r->P; p++) {
		r->node_of_member[p] = (group * r->P + p) / r->gpus_per_node - (group * r->P) / r->gpus_per_node;
		r->dom_of_member[p] = (group * r->P + p) / r->domain_size - (group * r->P) / r->domain_size;
	}
	o->n_domains = r->dom_of_member[r->P - 1] + 1;
	r->group_nodes = r->node_of_member[r->P - 1] + 1;
	o->padded = r->pad;
	memset(o->domain_tokens, 0, (size_t)r->P * r->n_dom_max * sizeof *o->domain_tokens);
	memset(o->gpu_tokens, 0, (size_t)r->P * (size_t)r->P * sizeof *o->gpu_tokens);
	memset(r->rep_next, 0, (size_t)r->P * (size_t)r->E * sizeof *r->rep_next);
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
