/*
 * rt_policy.c - the four routers of rt_policy.h over a score matrix.
 *
 * Every router reduces to a list of candidate assignments in a precedence order and
 * rt_apply_capacity (rt_router.h, checked against a brute-force oracle there), so the
 * capacity rule is written once:
 *  - topk and bias_balanced: each token's k choices, token by token, under the scenario's
 *    drop policy (probs: the C best gate scores; position: the earliest);
 *  - expert_choice: every (token, expert) pair with a recorded score under "probs": an
 *    expert keeps its C best-scored tokens, which is the expert-choice rule;
 *  - bpr: the choices listed choice-major with tokens in priority order, under
 *    "position": first come, first kept, which fills the capacity as Riquelme et al.
 *    describe.
 * The rejected alternative, a per-router selection loop, would repeat the per-expert
 * selection that rt_apply_capacity already does in O(m) per full expert.
 */
#include "routing/rt_policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "routing/rt_router.h"

struct rt_policy_ws {
	int64_t n_max;
	int experts, top_k;
	int32_t *choice;  /* [n_max][k] the token's choices, best first; -1 when it has fewer */
	int32_t *lexp;    /* [n_max * E] candidate list: expert */
	float *lscore;    /* [n_max * E] candidate list: gate score */
	int64_t *ltok;    /* [n_max * E] candidate list: token */
	uint8_t *keep;    /* [n_max * E] */
	int64_t *order;   /* [n_max * E] rt_apply_capacity's workspace */
	int64_t *count;   /* [E + 1] */
	struct prio { float p; int64_t i; } *prio; /* [n_max] bpr's token order */
};

/* The names are routing.router's (scn_router_name): one list, in one order. */
_Static_assert((int)SCN_ROUTER_TOPK == (int)RT_POLICY_TOPK && (int)SCN_ROUTER_EXPERT_CHOICE == (int)RT_POLICY_EXPERT_CHOICE &&
		       (int)SCN_ROUTER_BIAS_BALANCED == (int)RT_POLICY_BIAS_BALANCED && (int)SCN_ROUTER_BPR == (int)RT_POLICY_BPR,
	       "routing.router lists the routers in rt_policy_kind's order");

const char *rt_policy_name(rt_policy_kind kind)
{
	MS_ASSERT(kind >= RT_POLICY_TOPK && kind <= RT_POLICY_BPR, "router kind %d", (int)kind);
	return scn_router_name((scn_router)kind);
}

int rt_policy_parse(const char *name, rt_policy_kind *out)
{
	for (int i = RT_POLICY_TOPK; i <= RT_POLICY_BPR; i++)
		if (strcmp(name, scn_router_name((scn_router)i)) == 0) {
			*out = (rt_policy_kind)i;
			return 0;
		}
	return -1;
}

int rt_policy_needs_all_scores(rt_policy_kind kind)
{
	return kind == RT_POLICY_EXPERT_CHOICE || kind == RT_POLICY_BIAS_BALANCED;
}

void rt_policy_ws_destroy(rt_policy_ws *w)
{
	if (!w)
		return;
	free(w->choice);
	free(w->lexp);
	free(w->lscore);
	free(w->ltok);
	free(w->keep);
	free(w->order);
	free(w->count);
	free(w->prio);
	free(w);
}

rt_policy_ws *rt_policy_ws_create(int64_t n_max, int experts, int top_k, ms_error *err)
{
	rt_policy_ws *w;
	size_t n = n_max > 0 ? (size_t)n_max : 1, ne = n * (size_t)experts;
	MS_ASSERT(experts >= 1 && top_k >= 1 && top_k <= experts, "experts %d, top_k %d", experts, top_k);
	if (ne >= UINT32_MAX) {
		/* rt_apply_capacity orders candidates by 32-bit positions. */
		MS_ERROR(err, MS_ERANGE,
			 "a balancing unit of %zu tokens x %d experts has more than 2^32 candidate pairs: use a narrower "
			 "balancing scope",
			 n, experts);
		return NULL;
	}
	if (!(w = ms_calloc(err, 1, sizeof *w, "router workspace")))
		return NULL;
	w->n_max = (int64_t)n;
	w->experts = experts;
	w->top_k = top_k;
	w->choice = ms_malloc(err, n * (size_t)top_k * sizeof *w->choice, "router workspace");
	w->lexp = ms_malloc(err, ne * sizeof *w->lexp, "router workspace");
	w->lscore = ms_malloc(err, ne * sizeof *w->lscore, "router workspace");
	w->ltok = ms_malloc(err, ne * sizeof *w->ltok, "router workspace");
	w->keep = ms_malloc(err, ne, "router workspace");
	w->order = ms_malloc(err, ne * sizeof *w->order, "router workspace");
	w->count = ms_malloc(err, ((size_t)experts + 1) * sizeof *w->count, "router workspace");
	w->prio = ms_malloc(err, n * sizeof *w->prio, "router workspace");
	if (!w->choice || !w->lexp || !w->lscore || !w->ltok || !w->keep || !w->order || !w->count || !w->prio) {
		rt_policy_ws_destroy(w);
		return NULL;
	}
	return w;
}

/* A recorded score: finite (unrecorded ones are -INFINITY or NaN). */
static inline int recorded(float s)
{
	return isfinite(s);
}

/*
 * Token i's k best experts by score + bias (bias may be NULL), best first, ties to the
 * lower id, by repeated maxima (k is small); -1 past the recorded experts.
 */
static void choose(const float *s, const double *bias, int E, int k, int32_t *out)
{
	for (int j = 0; j < k; j++) {
		int best = -1;
		double bv = 0;
		for (int e = 0; e < E; e++) {
			double v;
			int taken = 0;
			if (!recorded(s[e]))
				continue;
			for (int q = 0; q < j && !taken; q++)
				taken = out[q] == e;
			if (taken)
				continue;
			v = (double)s[e] + (bias ? bias[e] : 0.0);
			if (best < 0 || v > bv) {
				best = e;
				bv = v;
			}
		}
		out[j] = best;
	}
}

/* bpr's order: larger priority first, then the earlier token. */
static int by_priority(const void *a, const void *b)
{
	const struct prio *x = a, *y = b;
	if (x->p != y->p)
		return x->p > y->p ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

int64_t rt_policy_route(rt_policy_ws *w, rt_policy_kind kind, int64_t n, const float *scores, int top_k,
			int64_t capacity, scn_drop_policy drop, const double *bias, uint8_t *sel)
{
	const int E = w->experts, k = top_k;
	int64_t m = 0, kept = 0;
	MS_ASSERT(n >= 0 && n <= w->n_max && k >= 1 && k <= w->top_k, "n %lld of %lld, k %d of %d", (long long)n,
		  (long long)w->n_max, k, w->top_k);
	MS_ASSERT(kind != RT_POLICY_EXPERT_CHOICE || capacity > 0, "expert_choice without a capacity");
	memset(sel, 0, (size_t)n * (size_t)E);
	for (int64_t i = 0; i < n; i++) {
		int32_t *c = w->choice + i * k;
		choose(scores + i * E, kind == RT_POLICY_BIAS_BALANCED ? bias : NULL, E, k, c);
		for (int j = 0; j < k; j++)
			if (c[j] >= 0)
				sel[i * E + c[j]] |= RT_SEL_ROUTED;
	}
	switch (kind) {
	case RT_POLICY_TOPK:
	case RT_POLICY_BIAS_BALANCED:
		for (int64_t i = 0; i < n; i++)
			for (int j = 0; j < k; j++, m++) {
				int32_t e = w->choice[i * k + j];
				w->lexp[m] = e;
				w->lscore[m] = e >= 0 ? scores[i * E + e] : 0.0f;
				w->ltok[m] = i;
			}
		rt_apply_capacity(m, w->lexp, w->lscore, E, capacity, drop, w->keep, w->order, w->count);
		break;
	case RT_POLICY_EXPERT_CHOICE:
		for (int64_t i = 0; i < n; i++)
			for (int e = 0; e < E; e++, m++) {
				float s = scores[i * E + e];
				w->lexp[m] = recorded(s) ? e : -1;
				w->lscore[m] = recorded(s) ? s : 0.0f;
				w->ltok[m] = i;
			}
		rt_apply_capacity(m, w->lexp, w->lscore, E, capacity, SCN_DROP_PROBS, w->keep, w->order, w->count);
		break;
	case RT_POLICY_BPR:
		for (int64_t i = 0; i < n; i++) {
			int32_t e = w->choice[i * k];
			w->prio[i].p = e >= 0 ? scores[i * E + e] : -INFINITY;
			w->prio[i].i = i;
		}
		qsort(w->prio, (size_t)n, sizeof *w->prio, by_priority);
		for (int j = 0; j < k; j++)
			for (int64_t q = 0; q < n; q++, m++) {
				int64_t i = w->prio[q].i;
				w->lexp[m] = w->choice[i * k + j];
				w->lscore[m] = 0.0f;
				w->ltok[m] = i;
			}
		rt_apply_capacity(m, w->lexp, w->lscore, E, capacity, SCN_DROP_POSITION, w->keep, w->order, w->count);
		break;
	}
	for (int64_t q = 0; q < m; q++)
		if (w->keep[q]) {
			sel[w->ltok[q] * E + w->lexp[q]] |= RT_SEL_KEPT;
			kept++;
		}
	return kept;
}

void rt_bias_update(double *bias, const int64_t *load, int experts, double gamma)
{
	int64_t sum = 0;
	for (int e = 0; e < experts; e++)
		sum += load[e];
	/* Compare load[e] * E with the sum, exactly in integers, rather than against a rounded mean. */
	for (int e = 0; e < experts; e++) {
		int64_t v = load[e] * experts;
		if (v > sum)
			bias[e] -= gamma;
		else if (v < sum)
			bias[e] += gamma;
	}
}
