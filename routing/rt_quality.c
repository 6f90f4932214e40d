/*
 * rt_quality.c - a router (rt_policy.h) replayed on a trace's scores, step by step and
 * layer by layer, counting what it routed, kept and dropped (rt_quality.h), and the
 * report of `moesim trace stats --router`.
 *
 * Counting is exact (int64); ratios are formed at the end. The kept pairs go into a
 * tr_stats so that load, repeat rate, purity and concentration keep their one
 * definition (tr_stats.c): under topk without capacity the numbers are exactly those of
 * `moesim trace stats` (tested).
 */
#include "routing/rt_quality.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "routing/rt_router.h"

static const char *const scope_names[] = {"micro_batch", "rank", "group", "global"};

const char *rt_scope_name(rt_scope scope)
{
	MS_ASSERT(scope >= RT_SCOPE_MICRO_BATCH && scope <= RT_SCOPE_GLOBAL, "scope %d", (int)scope);
	return scope_names[scope];
}

int rt_scope_parse(const char *name, rt_scope *out)
{
	for (int i = 0; i < (int)(sizeof scope_names / sizeof scope_names[0]); i++)
		if (strcmp(name, scope_names[i]) == 0) {
			*out = (rt_scope)i;
			return 0;
		}
	return -1;
}

void rt_quality_opts_default(rt_quality_opts *o, const tr_info *in)
{
	memset(o, 0, sizeof *o);
	o->router = RT_POLICY_TOPK;
	o->top_k = tr_stats_default_top_k(in);
	o->capacity_factor = 0;
	o->drop = SCN_DROP_PROBS;
	o->scope = RT_SCOPE_RANK;
	o->micro_batch = 1;
	o->group_ranks = 8;
	o->gamma = RT_BIAS_GAMMA_DEEPSEEK_V3;
}

void rt_quality_free(rt_quality *q)
{
	if (!q)
		return;
	tr_stats_free(q->kept);
	free(q->routed);
	free(q->kept_pairs);
	free(q->dropped);
	free(q->lost);
	free(q->step_id);
	free(q->step_tokens);
	free(q->step_max_mean);
	free(q->step_dropped);
	free(q->step_lost);
	free(q->step_purity);
	free(q->step_purity_baseline);
	free(q->step_concentration);
	free(q->step_concentration_baseline);
	free(q->bias);
	free(q);
}

/* Refuses what the trace cannot answer, naming the file and the way out. */
static int check_opts(const tr_info *in, const rt_quality_opts *o, ms_error *err)
{
	const char *name = rt_policy_name(o->router);
	const int E = in->num_experts, full = in->depth == E || in->has_logits;
	if (rt_policy_needs_all_scores(o->router) && !full)
		return MS_ERROR(err, MS_EINVAL,
				"%s: router %s needs every expert's score, but the trace ranks only %d of its %d experts "
				"and has no /routing/logits: record it with the full ranking (depth = num_experts) or with "
				"logits, or use router topk or bpr",
				in->path, name, in->depth, E);
	if (o->router != RT_POLICY_TOPK && in->score_kind == TR_SCORE_OTHER)
		return MS_ERROR(err, MS_EINVAL,
				"%s: router %s compares scores across tokens, but the trace's score_kind is \"other\" "
				"(router-specific scores): re-record or import it with softmax or sigmoid scores, or use "
				"router topk",
				in->path, name);
	if (o->top_k < 1 || o->top_k > (rt_policy_needs_all_scores(o->router) ? E : in->depth))
		return MS_ERROR(err, MS_ERANGE, "%s: top-%d is out of range for router %s: the trace %s %d experts",
				in->path, o->top_k, name, rt_policy_needs_all_scores(o->router) ? "scores" : "ranks",
				rt_policy_needs_all_scores(o->router) ? E : in->depth);
	if (o->router == RT_POLICY_EXPERT_CHOICE && !(o->capacity_factor > 0))
		return MS_ERROR(err, MS_EINVAL,
				"router expert_choice needs a capacity factor > 0 (each expert takes capacity_factor x "
				"tokens x top_k / experts tokens); got %g",
				o->capacity_factor);
	if (o->micro_batch < 1 || o->group_ranks < 1 || !(o->gamma >= 0) || !isfinite(o->gamma))
		return MS_ERROR(err, MS_ERANGE, "micro-batch %d sequences, groups of %d ranks, gamma %g: each must be >= 1 (gamma >= 0)",
				o->micro_batch, o->group_ranks, o->gamma);
	return MS_OK;
}

/* Is token b the start of a new balancing unit after token a (same step)? */
static int new_unit(const rt_quality_opts *o, const tr_token *a, const tr_token *b, int *seqs)
{
	switch (o->scope) {
	case RT_SCOPE_GLOBAL:
		return 0;
	case RT_SCOPE_GROUP:
		return a->rank / o->group_ranks != b->rank / o->group_ranks;
	case RT_SCOPE_RANK:
		return a->rank != b->rank;
	case RT_SCOPE_MICRO_BATCH:
		if (a->rank != b->rank) {
			*seqs = 1;
			return 1;
		}
		if (a->sequence != b->sequence && ++*seqs > o->micro_batch) {
			*seqs = 1;
			return 1;
		}
		return 0;
	}
	return 0;
}

/*
 * The score matrix of tokens [t0, t0 + n) of one layer: the first k listed for topk and
 * bpr (so topk routes exactly the recorded choices), every expert's for the others, from
 * a full ranking or the logits (tr_read_score_matrix).
 */
static int fill_scores(tr_reader *r, const rt_quality_opts *o, int layer, int64_t t0, int64_t n, int16_t *ids,
		       float *sc, float *mat, ms_error *err)
{
	const int E = tr_get_info(r)->num_experts;
	return tr_read_score_matrix(r, layer, t0, n, rt_policy_needs_all_scores(o->router) ? E : o->top_k, mat, ids, sc,
				    err);
}

typedef struct work {
	tr_token *tok;   /* [T] */
	int16_t *ids;    /* [u_max K] (u_max: the largest balancing unit) */
	float *sc;       /* [u_max K] */
	float *mat;      /* [u_max E] one unit's scores */
	uint8_t *sel;    /* [u_max E] */
	int64_t *ustart; /* [n_max + 1] unit starts of a step, relative */
	int64_t *uload;  /* [E] the unit's routed load (bias update) */
	int64_t *sload;  /* [E] the step's kept load */
	int64_t *slabel; /* [D][E] the step's kept pairs by their token's label (D > 0) */
	int64_t *stoks;  /* [D] the step's tokens of each label */
	rt_policy_ws *ws;
} work;

/* Routes layer l of the step starting at token a, unit by unit (w->ustart), and counts into q at step index si. */
static int route_step_layer(tr_reader *r, const rt_quality_opts *o, rt_quality *q, work *w, int si, int l,
			    int64_t a, int64_t units, ms_error *err)
{
	const int E = q->experts, D = q->kept->domains, k = o->top_k, L = q->layers;
	tr_stats *ks = q->kept;
	int64_t *load = ks->load + (size_t)l * E, *first = ks->first + (size_t)l * E;
	int64_t *dl = D > 0 ? ks->domain_load + (size_t)l * D * E : NULL, sum = 0, mx = 0;
	double *bias = q->bias + (size_t)l * E;
	int prev_first = -1, rc;
	memset(w->sload, 0, (size_t)E * sizeof *w->sload);
	if (D > 0)
		memset(w->slabel, 0, (size_t)D * E * sizeof *w->slabel);
	for (int64_t u = 0; u < units; u++) {
		int64_t u0 = w->ustart[u], m = w->ustart[u + 1] - u0;
		int64_t cap = rt_capacity(o->capacity_factor, m, k, E);
		const float *mat = w->mat;
		/* One unit's scores at a time: memory follows the largest unit, not the largest step. */
		if ((rc = fill_scores(r, o, l, a + u0, m, w->ids, w->sc, w->mat, err)) < 0)
			return rc;
		if (cap > q->capacity_max)
			q->capacity_max = cap;
		rt_policy_route(w->ws, o->router, m, mat, k, cap, o->drop, bias, w->sel);
		memset(w->uload, 0, (size_t)E * sizeof *w->uload);
		for (int64_t i = 0; i < m; i++) {
			const uint8_t *s = w->sel + i * E;
			const tr_token *tk = &w->tok[a + u0 + i];
			int best = -1, d = tk->domain;
			for (int e = 0; e < E; e++) {
				if (s[e] & RT_SEL_ROUTED) {
					q->routed[l]++;
					w->uload[e]++;
					if (!(s[e] & RT_SEL_KEPT)) {
						q->dropped[l]++;
						q->step_dropped[(size_t)si * L + l]++;
					}
				}
				if (!(s[e] & RT_SEL_KEPT))
					continue;
				q->kept_pairs[l]++;
				load[e]++;
				w->sload[e]++;
				if (dl && d >= 0 && d < D) {
					dl[(size_t)d * E + e]++;
					w->slabel[(size_t)d * E + e]++;
				}
				if (best < 0 || mat[i * E + e] > mat[i * E + best])
					best = e;
			}
			if (best < 0) {
				q->lost[l]++;
				q->step_lost[(size_t)si * L + l]++;
			} else {
				first[best]++;
			}
			/* Pairs of consecutive tokens of one sequence (never across steps: a starts a step). */
			if (u0 + i > 0) {
				const tr_token *p = &w->tok[a + u0 + i - 1];
				if (p->rank == tk->rank && p->sequence == tk->sequence) {
					if (l == 0)
						ks->seq_pairs++;
					if (best >= 0 && best == prev_first)
						ks->repeats[l]++;
				}
			}
			prev_first = best;
		}
		if (o->router == RT_POLICY_BIAS_BALANCED)
			rt_bias_update(bias, w->uload, E, o->gamma);
	}
	for (int e = 0; e < E; e++) {
		sum += w->sload[e];
		mx = w->sload[e] > mx ? w->sload[e] : mx;
	}
	q->step_max_mean[(size_t)si * L + l] = sum > 0 ? (double)mx * E / (double)sum : NAN;
	{
		/* The step's own counts, by tr_stats' definitions (exact integers, ratios at the end). */
		tr_layer_summary ls;
		size_t at = (size_t)si * L + l;
		tr_stats_specialisation(E, D, ks->top_k, w->sload, w->slabel, w->stoks, &ls);
		q->step_purity[at] = ls.purity;
		q->step_purity_baseline[at] = ls.purity_baseline;
		q->step_concentration[at] = ls.concentration;
		q->step_concentration_baseline[at] = ls.concentration_baseline;
	}
	return MS_OK;
}

int rt_quality_compute(tr_reader *r, const rt_quality_opts *o, rt_quality **out, ms_error *err)
{
	const tr_info *in = tr_get_info(r);
	const int L = in->num_layers, E = in->num_experts, K = in->depth, D = in->has_domain ? in->num_domains : 0;
	const int64_t T = in->num_tokens;
	rt_quality *q;
	work w;
	int64_t n_max = 1, u_max = 1;
	int S = 0, rc, unit_seqs = 1;
	*out = NULL;
	if ((rc = check_opts(in, o, err)) < 0)
		return rc;
	memset(&w, 0, sizeof w);
	if (!(q = ms_calloc(err, 1, sizeof *q, "routing quality")))
		return MS_ENOMEM;
	q->layers = L;
	q->experts = E;
	q->tokens = T;
	w.tok = ms_malloc(err, (T > 0 ? (size_t)T : 1) * sizeof *w.tok, "token metadata");
	if (!w.tok) {
		rc = MS_ENOMEM;
		goto out;
	}
	if (T > 0 && (rc = tr_read_tokens(r, 0, T, w.tok, err)) < 0)
		goto out;
	/* Steps: runs of equal step (the format keeps a step's tokens contiguous); units within
	 * them by the scope (the same rule as the routing pass below). */
	for (int64_t i = 0, a = 0, u = 0; i < T; i++) {
		if (i > 0 && w.tok[i].step == w.tok[i - 1].step && new_unit(o, &w.tok[i - 1], &w.tok[i], &unit_seqs))
			u = i;
		u_max = i + 1 - u > u_max ? i + 1 - u : u_max;
		if (i + 1 == T || w.tok[i + 1].step != w.tok[i].step) {
			S++;
			n_max = i + 1 - a > n_max ? i + 1 - a : n_max;
			a = u = i + 1;
			unit_seqs = 1;
		}
	}
	q->steps = S;
	q->kept = tr_stats_create(L, E, o->top_k, D, err);
	q->routed = ms_calloc(err, (size_t)L, sizeof *q->routed, "routing quality");
	q->kept_pairs = ms_calloc(err, (size_t)L, sizeof *q->kept_pairs, "routing quality");
	q->dropped = ms_calloc(err, (size_t)L, sizeof *q->dropped, "routing quality");
	q->lost = ms_calloc(err, (size_t)L, sizeof *q->lost, "routing quality");
	q->step_id = ms_calloc(err, S > 0 ? (size_t)S : 1, sizeof *q->step_id, "routing quality");
	q->step_tokens = ms_calloc(err, S > 0 ? (size_t)S : 1, sizeof *q->step_tokens, "routing quality");
	q->step_max_mean = ms_calloc(err, (S > 0 ? (size_t)S : 1) * (size_t)L, sizeof *q->step_max_mean, "routing quality");
	q->step_dropped = ms_calloc(err, (S > 0 ? (size_t)S : 1) * (size_t)L, sizeof *q->step_dropped, "routing quality");
	q->step_lost = ms_calloc(err, (S > 0 ? (size_t)S : 1) * (size_t)L, sizeof *q->step_lost, "routing quality");
	q->step_purity = ms_calloc(err, (S > 0 ? (size_t)S : 1) * (size_t)L, sizeof *q->step_purity, "routing quality");
	q->step_purity_baseline = ms_calloc(err, (S > 0 ? (size_t)S : 1) * (size_t)L, sizeof *q->step_purity_baseline,
					    "routing quality");
	q->step_concentration = ms_calloc(err, (S > 0 ? (size_t)S : 1) * (size_t)L, sizeof *q->step_concentration,
					  "routing quality");
	q->step_concentration_baseline = ms_calloc(err, (S > 0 ? (size_t)S : 1) * (size_t)L,
						   sizeof *q->step_concentration_baseline, "routing quality");
	q->bias = ms_calloc(err, (size_t)L * (size_t)E, sizeof *q->bias, "router bias");
	w.ids = ms_malloc(err, (size_t)u_max * (size_t)K * sizeof *w.ids, "trace block");
	w.sc = ms_malloc(err, (size_t)u_max * (size_t)K * sizeof *w.sc, "trace block");
	w.mat = ms_malloc(err, (size_t)u_max * (size_t)E * sizeof *w.mat, "score matrix");
	w.sel = ms_malloc(err, (size_t)u_max * (size_t)E, "router selections");
	w.ustart = ms_malloc(err, ((size_t)n_max + 1) * sizeof *w.ustart, "balancing units");
	w.uload = ms_malloc(err, (size_t)E * sizeof *w.uload, "unit load");
	w.sload = ms_malloc(err, (size_t)E * sizeof *w.sload, "step load");
	w.slabel = ms_malloc(err, ((size_t)D * E + 1) * sizeof *w.slabel, "step label counts");
	w.stoks = ms_malloc(err, ((size_t)D + 1) * sizeof *w.stoks, "step label counts");
	w.ws = rt_policy_ws_create(u_max, E, o->top_k, err);
	if (!q->kept || !q->routed || !q->kept_pairs || !q->dropped || !q->lost || !q->step_id || !q->step_tokens ||
	    !q->step_max_mean || !q->step_dropped || !q->step_lost || !q->step_purity || !q->step_purity_baseline ||
	    !q->step_concentration || !q->step_concentration_baseline || !q->bias || !w.ids || !w.sc || !w.mat ||
	    !w.sel || !w.ustart || !w.uload || !w.sload || !w.slabel || !w.stoks || !w.ws) {
		rc = err->code < 0 ? err->code : MS_ENOMEM;
		goto out;
	}
	q->kept->tokens = T;
	for (int64_t i = 0; i < T; i++)
		if (D > 0 && w.tok[i].domain >= 0 && w.tok[i].domain < D)
			q->kept->domain_tokens[w.tok[i].domain]++;
	for (int64_t a = 0, si = 0; a < T; si++) {
		int64_t n = 1, units = 1;
		int seqs = 1;
		w.ustart[0] = 0;
		while (a + n < T && w.tok[a + n].step == w.tok[a].step) {
			if (new_unit(o, &w.tok[a + n - 1], &w.tok[a + n], &seqs))
				w.ustart[units++] = n;
			n++;
		}
		w.ustart[units] = n;
		q->units += units;
		q->step_id[si] = w.tok[a].step;
		q->step_tokens[si] = n;
		memset(w.stoks, 0, ((size_t)D + 1) * sizeof *w.stoks);
		for (int64_t i = a; i < a + n; i++)
			if (w.tok[i].domain >= 0 && w.tok[i].domain < D)
				w.stoks[w.tok[i].domain]++;
		for (int l = 0; l < L; l++)
			if ((rc = route_step_layer(r, o, q, &w, (int)si, l, a, units, err)) < 0)
				goto out;
		a += n;
	}
	rc = MS_OK;
out:
	free(w.tok);
	free(w.ids);
	free(w.sc);
	free(w.mat);
	free(w.sel);
	free(w.ustart);
	free(w.uload);
	free(w.sload);
	free(w.slabel);
	free(w.stoks);
	rt_policy_ws_destroy(w.ws);
	if (rc < 0) {
		rt_quality_free(q);
		return rc;
	}
	*out = q;
	return MS_OK;
}

double rt_quality_step_max_mean(const rt_quality *q, int layer)
{
	double sum = 0;
	int n = 0;
	for (int s = 0; s < q->steps; s++) {
		double v = q->step_max_mean[(size_t)s * q->layers + layer];
		if (!isnan(v)) {
			sum += v;
			n++;
		}
	}
	return n > 0 ? sum / n : NAN;
}

/* ---- the report ---- */

static double ratio(int64_t a, int64_t b)
{
	return b > 0 ? (double)a / (double)b : NAN;
}

static void fmt3(char *buf, size_t n, double v)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.3f", v);
}

/* One layer's numbers, in the table's and the CSV's order. */
typedef struct row {
	double max_mean, step_max_mean, dropped, lost, pairs_per_token, repeat, indep, purity, purity_blind, conc,
		conc_blind;
} row;

static void layer_row(const rt_quality *q, int l, row *o)
{
	tr_layer_summary s;
	tr_stats_summary(q->kept, l, &s);
	o->max_mean = s.max_mean;
	o->step_max_mean = rt_quality_step_max_mean(q, l);
	o->dropped = ratio(q->dropped[l], q->routed[l]);
	o->lost = ratio(q->lost[l], q->tokens);
	o->pairs_per_token = ratio(q->kept_pairs[l], q->tokens);
	o->repeat = s.repeat_rate;
	o->indep = s.repeat_independent;
	o->purity = s.purity;
	o->purity_blind = s.purity_baseline;
	o->conc = s.concentration;
	o->conc_blind = s.concentration_baseline;
}

static void print_row(FILE *f, const char *label, const row *o, int domains)
{
	char a[16], b[16], c[16], d[16], m[16], sm[16], dr[16], lo[16], pp[16];
	fmt3(m, sizeof m, o->max_mean);
	fmt3(sm, sizeof sm, o->step_max_mean);
	fmt3(dr, sizeof dr, 100 * o->dropped);
	fmt3(lo, sizeof lo, 100 * o->lost);
	fmt3(pp, sizeof pp, o->pairs_per_token);
	fmt3(a, sizeof a, o->repeat);
	fmt3(b, sizeof b, o->indep);
	fprintf(f, "%5s  %8s  %8s  %6s %%  %6s %%  %5s  %7s (%5s)", label, m, sm, dr, lo, pp, a, b);
	if (domains > 0) {
		fmt3(a, sizeof a, o->purity);
		fmt3(b, sizeof b, o->purity_blind);
		fmt3(c, sizeof c, o->conc);
		fmt3(d, sizeof d, o->conc_blind);
		fprintf(f, "   %6s (%5s)   %9s (%5s)", a, b, c, d);
	}
	fprintf(f, "\n");
}

int rt_quality_print(FILE *f, const rt_quality *q, const rt_quality_opts *o, const tr_info *in, int per_step,
		     int csv, ms_error *err)
{
	const int L = q->layers, D = q->kept->domains;
	if (csv && per_step) {
		fprintf(f, "step,layer,tokens,max_over_mean,dropped_pairs,lost_tokens,purity,purity_baseline,concentration,"
			   "concentration_baseline\n");
		for (int s = 0; s < q->steps; s++)
			for (int l = 0; l < L; l++) {
				size_t at = (size_t)s * L + l;
				fprintf(f, "%d,%d,%lld,%.6f,%lld,%lld,%.6f,%.6f,%.6f,%.6f\n", q->step_id[s], l,
					(long long)q->step_tokens[s], q->step_max_mean[at], (long long)q->step_dropped[at],
					(long long)q->step_lost[at], q->step_purity[at], q->step_purity_baseline[at],
					q->step_concentration[at], q->step_concentration_baseline[at]);
			}
	} else if (csv) {
		fprintf(f, "layer,max_over_mean,step_max_over_mean,dropped_share,lost_share,kept_pairs_per_token,"
			   "repeat_rate,repeat_independent,purity,purity_baseline,concentration,concentration_baseline\n");
		for (int l = 0; l < L; l++) {
			row x;
			layer_row(q, l, &x);
			fprintf(f, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", l, x.max_mean,
				x.step_max_mean, x.dropped, x.lost, x.pairs_per_token, x.repeat, x.indep, x.purity,
				x.purity_blind, x.conc, x.conc_blind);
		}
	} else {
		row mean;
		char cap[64];
		memset(&mean, 0, sizeof mean);
		if (o->capacity_factor > 0)
			snprintf(cap, sizeof cap, "capacity factor %g (at most %lld pairs per expert)", o->capacity_factor,
				 (long long)q->capacity_max);
		else
			snprintf(cap, sizeof cap, "dropless");
		fprintf(f, "%s: router %s, top-%d, %s, %s scope", in->path, rt_policy_name(o->router), o->top_k, cap,
			rt_scope_name(o->scope));
		if (o->scope == RT_SCOPE_MICRO_BATCH)
			fprintf(f, " (%d sequence%s)", o->micro_batch, o->micro_batch == 1 ? "" : "s");
		if (o->scope == RT_SCOPE_GROUP)
			fprintf(f, " (%d ranks)", o->group_ranks);
		if (o->capacity_factor > 0 && (o->router == RT_POLICY_TOPK || o->router == RT_POLICY_BIAS_BALANCED))
			fprintf(f, ", drop by %s", o->drop == SCN_DROP_PROBS ? "probs" : "position");
		if (o->router == RT_POLICY_BIAS_BALANCED)
			fprintf(f, ", gamma %g", o->gamma);
		fprintf(f, "\n%d layer%s x %lld tokens in %d step%s, %lld balancing units per layer; counted on the kept pairs\n\n",
			L, L == 1 ? "" : "s", (long long)q->tokens, q->steps, q->steps == 1 ? "" : "s",
			(long long)(q->units));
		fprintf(f, "layer  max/mean  step m/m    dropped       lost  pairs   repeat (indep)");
		if (D > 0)
			fprintf(f, "   purity (blind)   concentr. (blind)");
		fprintf(f, "\n");
		for (int l = 0; l < L; l++) {
			row x;
			char label[16];
			layer_row(q, l, &x);
			snprintf(label, sizeof label, "%d", l);
			print_row(f, label, &x, D);
			mean.max_mean += x.max_mean / L;
			mean.step_max_mean += x.step_max_mean / L;
			mean.dropped += x.dropped / L;
			mean.lost += x.lost / L;
			mean.pairs_per_token += x.pairs_per_token / L;
			mean.repeat += x.repeat / L;
			mean.indep += x.indep / L;
			mean.purity += x.purity / L;
			mean.purity_blind += x.purity_blind / L;
			mean.conc += x.conc / L;
			mean.conc_blind += x.conc_blind / L;
		}
		if (L > 1)
			print_row(f, "mean", &mean, D);
		if (o->router == RT_POLICY_BIAS_BALANCED) {
			fprintf(f, "\nfinal bias per layer (selection only):\n");
			for (int l = 0; l < L; l++) {
				fprintf(f, "  layer %-3d", l);
				for (int e = 0; e < q->experts; e++)
					fprintf(f, " %+.4f", q->bias[(size_t)l * q->experts + e]);
				fprintf(f, "\n");
			}
		}
		if (per_step) {
			fprintf(f, "\nper step (mean over layers): tokens, max/mean of the step's kept load, dropped, lost%s\n",
				D > 0 ? ", purity, concentration" : "");
			for (int s = 0; s < q->steps; s++) {
				double mm = 0, dr = 0, lo = 0, pu = 0, co = 0;
				for (int l = 0; l < L; l++) {
					mm += q->step_max_mean[(size_t)s * L + l] / L;
					dr += (double)q->step_dropped[(size_t)s * L + l] / L;
					lo += (double)q->step_lost[(size_t)s * L + l] / L;
					pu += q->step_purity[(size_t)s * L + l] / L;
					co += q->step_concentration[(size_t)s * L + l] / L;
				}
				fprintf(f, "  step %-5d %8lld  %8.3f  %10.1f  %10.1f", q->step_id[s], (long long)q->step_tokens[s],
					mm, dr, lo);
				if (D > 0) {
					char a[16], b[16];
					fmt3(a, sizeof a, pu);
					fmt3(b, sizeof b, co);
					fprintf(f, "  %6s  %6s", a, b);
				}
				fprintf(f, "\n");
			}
		}
	}
	if (fflush(f) != 0 || ferror(f))
		return MS_ERROR(err, MS_EIO, "writing the routing quality of %s failed", in->path);
	return MS_OK;
}
