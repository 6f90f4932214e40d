/*
 * rt_router.c - synthetic routing, capacity and placement (see rt_router.h).
 *
 * Synthetic top-k: experts are drawn one after another in proportion to the layer's
 * popularity, redrawing a repeat (successive sampling, i.e. Plackett-Luce, the same law
 * as Gumbel-top-k), using a Walker alias table per layer (gsl_ran_discrete) so a draw
 * is O(1). When top_k > experts / 2 repeats become common and we fall back to
 * Gumbel-top-k over all experts. Synthetic gate scores are k exponential(1) draws sorted
 * in decreasing order and normalised to sum 1: they only rank tokens for the "probs"
 * drop policy; recorded traces carry real scores.
 *
 * Popularity: uniform; Zipf(s) over a random permutation of the experts drawn once per
 * layer (so each layer has its own hot experts, stable across steps); balanced: token
 * i (counted across the group) takes experts i*k .. i*k+k-1 modulo E.
 */
#include "routing/rt_router.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_rng.h"

struct rt_router {
	int P, E, k, layers;
	int64_t T;
	uint64_t seed;
	int groups;
	scn_distribution dist;
	double cf;
	scn_capacity_scope scope;
	scn_drop_policy policy;
	scn_placement placement;
	gsl_ran_discrete_t **alias; /* per layer, zipf only */
	double **popularity;        /* per layer */
	gsl_rng *rng;
	/* workspaces, sized for the scope (T*k pairs per rank, or P*T*k for global) */
	int64_t cap_pairs;
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

static void destroy_tables(rt_router *r)
{
	for (int l = 0; r->alias && l < r->layers; l++)
		if (r->alias[l])
			gsl_ran_discrete_free(r->alias[l]);
	for (int l = 0; r->popularity && l < r->layers; l++)
		free(r->popularity[l]);
	free(r->alias);
	free(r->popularity);
}

void rt_router_destroy(rt_router *r)
{
	if (!r)
		return;
	destroy_tables(r);
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
	free(r);
}

rt_router *rt_router_create(const scn_scenario *s, ms_error *err)
{
	rt_router *r = ms_calloc(err, 1, sizeof *r, "router");
	int64_t pairs_rank, pairs_group, scope_pairs, scope_tokens;
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
	r->placement = s->routing.placement;
	pairs_rank = r->T * r->k;
	pairs_group = pairs_rank * r->P;
	scope_pairs = r->scope == SCN_SCOPE_GLOBAL ? pairs_group : pairs_rank;
	scope_tokens = r->scope == SCN_SCOPE_GLOBAL ? r->T * r->P : r->T;
	r->rng = gsl_rng_alloc(gsl_rng_mt19937);
	if (!r->rng) {
		MS_ERROR(err, MS_ENOMEM, "out of memory allocating the router's random stream");
		goto fail;
	}
	r->alias = ms_calloc(err, (size_t)r->layers, sizeof *r->alias, "router tables");
	r->popularity = ms_calloc(err, (size_t)r->layers, sizeof *r->popularity, "router tables");
	if (!r->alias || !r->popularity)
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
			for (int e = 0; e < r->E; e++)
				perm[e] = (size_t)e;
			gsl_rng_set(r->rng, ms_stream_seed(r->seed, 0xB0B, (uint64_t)l, 0, 0));
			gsl_ran_shuffle(r->rng, perm, (size_t)r->E, sizeof *perm);
			for (int e = 0; e < r->E; e++)
				p[perm[e]] = 1.0 / pow((double)(e + 1), s->routing.zipf_s);
			free(perm);
			r->alias[l] = gsl_ran_discrete_preproc((size_t)r->E, p);
			if (!r->alias[l]) {
				MS_ERROR(err, MS_ENOMEM, "out of memory building the expert popularity table");
				goto fail;
			}
		} else {
			for (int e = 0; e < r->E; e++)
				p[e] = 1.0;
		}
	}
	r->ids = ms_calloc(err, (size_t)pairs_group, sizeof *r->ids, "routing decisions");
	r->scores = ms_calloc(err, (size_t)pairs_group, sizeof *r->scores, "routing scores");
	r->sc_exp = ms_calloc(err, (size_t)scope_pairs, sizeof *r->sc_exp, "capacity workspace");
	r->sc_score = ms_calloc(err, (size_t)scope_pairs, sizeof *r->sc_score, "capacity workspace");
	r->sc_src = ms_calloc(err, (size_t)scope_pairs, sizeof *r->sc_src, "capacity workspace");
	r->keep = ms_calloc(err, (size_t)scope_pairs, sizeof *r->keep, "capacity workspace");
	r->order = ms_calloc(err, (size_t)scope_pairs, sizeof *r->order, "capacity workspace");
	r->count = ms_calloc(err, (size_t)r->E + 1, sizeof *r->count, "capacity workspace");
	r->tok_kept = ms_calloc(err, (size_t)scope_tokens, sizeof *r->tok_kept, "capacity workspace");
	r->gumbel = ms_calloc(err, (size_t)r->E, sizeof *r->gumbel, "router workspace");
	r->out.demand = ms_calloc(err, (size_t)r->P * (size_t)r->E, sizeof(int32_t), "routing matrix");
	r->out.kept = ms_calloc(err, (size_t)r->P * (size_t)r->E, sizeof(int32_t), "routing matrix");
	if (!r->ids || !r->scores || !r->sc_exp || !r->sc_score || !r->sc_src || !r->keep || !r->order ||
	    !r->count || !r->tok_kept || !r->gumbel || !r->out.demand || !r->out.kept)
		goto fail;
	r->out.members = r->P;
	r->out.experts = r->E;
	return r;
fail:
	rt_router_destroy(r);
	return NULL;
}

int rt_expert_member(const rt_router *r, int e)
{
	return r->placement == SCN_PLACE_CONTIGUOUS ? e / (r->E / r->P) : e % r->P;
}

int rt_expert_local(const rt_router *r, int e)
{
	return r->placement == SCN_PLACE_CONTIGUOUS ? e % (r->E / r->P) : e / r->P;
}

static int cmp_desc_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x < y) - (x > y);
}

/* Draws one token's k experts (distinct) and scores. */
static void draw_token(rt_router *r, int layer, int32_t *ids, float *scores)
{
	double w[64], sum = 0;
	int k = r->k, E = r->E;
	if (2 * k <= E) {
		for (int j = 0; j < k; j++) {
			int e, dup;
			do {
				e = r->dist == SCN_DIST_ZIPF ? (int)gsl_ran_discrete(r->rng, r->alias[layer])
							     : (int)gsl_rng_uniform_int(r->rng, (unsigned long)E);
				dup = 0;
				for (int i = 0; i < j; i++)
					dup |= ids[i] == e;
			} while (dup);
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
	for (int j = 0; j < k; j++) {
		w[j] = gsl_ran_exponential(r->rng, 1.0);
		sum += w[j];
	}
	qsort(w, (size_t)k, sizeof w[0], cmp_desc_double);
	for (int j = 0; j < k; j++)
		scores[j] = (float)(w[j] / sum);
}

/* Fills ids/scores for member p of group g. */
static void draw_member(rt_router *r, int step, int layer, int group, int p)
{
	int32_t *ids = r->ids + (size_t)p * (size_t)(r->T * r->k);
	float *scores = r->scores + (size_t)p * (size_t)(r->T * r->k);
	if (r->dist == SCN_DIST_BALANCED) {
		for (int64_t t = 0; t < r->T; t++) {
			int64_t gi = (int64_t)p * r->T + t;
			for (int j = 0; j < r->k; j++) {
				ids[t * r->k + j] = (int32_t)((gi * r->k + j) % r->E);
				scores[t * r->k + j] = 1.0f / (float)r->k;
			}
		}
		return;
	}
	gsl_rng_set(r->rng, ms_stream_seed(r->seed, (uint64_t)step, (uint64_t)layer,
					   (uint64_t)group * (uint64_t)r->P + (uint64_t)p, 0));
	for (int64_t t = 0; t < r->T; t++)
		draw_token(r, layer, ids + t * r->k, scores + t * r->k);
}

/* Position-ordered key comparison for probs: higher score first, then earlier position. */
static const float *g_cmp_scores;
static int cmp_probs(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	float sx = g_cmp_scores[x], sy = g_cmp_scores[y];
	if (sx != sy)
		return sx < sy ? 1 : -1;
	return (x > y) - (x < y);
}

int64_t rt_apply_capacity(int64_t n, const int32_t *experts, const float *scores, int experts_n, int64_t capacity,
			  scn_drop_policy policy, uint8_t *keep, int64_t *order, int64_t *count)
{
	int64_t dropped = 0;
	for (int64_t i = 0; i < n; i++)
		keep[i] = 1;
	if (capacity <= 0)
		return 0;
	/* Stable counting sort by expert: each expert's slice stays in position order. */
	memset(count, 0, (size_t)(experts_n + 1) * sizeof *count);
	for (int64_t i = 0; i < n; i++)
		count[experts[i] + 1]++;
	for (int e = 0; e < experts_n; e++)
		count[e + 1] += count[e];
	for (int64_t i = 0; i < n; i++)
		order[count[experts[i]]++] = i;
	/* count[e] is now the end of slice e; its start is count[e-1] (0 for e = 0). */
	for (int e = 0; e < experts_n; e++) {
		int64_t start = e ? count[e - 1] : 0, end = count[e], m = end - start;
		if (m <= capacity)
			continue;
		if (policy == SCN_DROP_PROBS) {
			/* qsort is not reentrant-safe with a static key, but the router is single-threaded. */
			g_cmp_scores = scores;
			qsort(order + start, (size_t)m, sizeof *order, cmp_probs);
		}
		for (int64_t i = start + capacity; i < end; i++) {
			keep[order[i]] = 0;
			dropped++;
		}
	}
	return dropped;
}

/* Runs capacity over the scope's assignments (already in sc_* in position order). */
static void drop_scope(rt_router *r, int64_t n, int64_t scope_tokens, int64_t tokens_for_capacity)
{
	rt_group_routing *o = &r->out;
	int64_t cap = rt_capacity(r->cf, tokens_for_capacity, r->k, r->E);
	o->capacity = cap;
	o->dropped_pairs += rt_apply_capacity(n, r->sc_exp, r->sc_score, r->E, cap, r->policy, r->keep, r->order, r->count);
	memset(r->tok_kept, 0, (size_t)scope_tokens);
	for (int64_t i = 0; i < n; i++) {
		int64_t src = r->sc_src[i];
		int p = (int)(src / (r->T * r->k));
		int e = r->sc_exp[i];
		o->demand[(size_t)p * r->E + e]++;
		if (r->keep[i]) {
			o->kept[(size_t)p * r->E + e]++;
			r->tok_kept[i / r->k] = 1;
		}
	}
	for (int64_t t = 0; t < scope_tokens; t++)
		o->dropped_tokens += !r->tok_kept[t];
}

int rt_route_group(rt_router *r, int step, int layer, int group, const rt_group_routing **out, ms_error *err)
{
	rt_group_routing *o = &r->out;
	int64_t Tk = r->T * r->k;
	(void)err;
	memset(o->demand, 0, (size_t)r->P * (size_t)r->E * sizeof(int32_t));
	memset(o->kept, 0, (size_t)r->P * (size_t)r->E * sizeof(int32_t));
	o->pairs = Tk * r->P;
	o->tokens = r->T * r->P;
	o->dropped_pairs = 0;
	o->dropped_tokens = 0;
	for (int p = 0; p < r->P; p++)
		draw_member(r, step, layer, group, p);
	if (r->scope == SCN_SCOPE_RANK) {
		for (int p = 0; p < r->P; p++) {
			for (int64_t i = 0; i < Tk; i++) {
				int64_t src = (int64_t)p * Tk + i;
				r->sc_exp[i] = r->ids[src];
				r->sc_score[i] = r->scores[src];
				r->sc_src[i] = src;
			}
			drop_scope(r, Tk, r->T, r->T);
		}
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
		drop_scope(r, Tk * r->P, r->T * r->P, r->T * r->P);
	}
	*out = o;
	return MS_OK;
}
