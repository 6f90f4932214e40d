/*
 * net_maxmin.c - incremental max-min fair sharing by progressive filling (see
 * net_maxmin.h).
 *
 * State: each variable keeps its rate, whether it is frozen during a fill, and a block
 * of incidences (link, position in that link's list, fraction). Each constrained link
 * keeps the list of the variables in the sharing that cross it (variable, incidence,
 * fraction, a copy of the rate); each incidence remembers its position in that list,
 * so joining and leaving are O(links of the variable).
 *
 * Solve: the links touched by variables that joined or left are "dirty"; a BFS over
 * link -> variables -> links collects the part of their connected component whose
 * rates can change (see solve()), and progressive filling runs on it with a lazy
 * min-heap of links keyed by fair share r_l / W_l (residual capacity over the summed
 * fractions of unfrozen variables). Freezing a variable at level t on link m changes
 * m's share from r/W to (r - w t)/(W - w) >= r/W because t <= r/W, so shares only
 * grow: a popped entry whose share is stale is pushed back with the new value instead
 * of being updated.
 *
 * Time per solve: O(visited links' variables + re-solved incidences x log links);
 * memory: O(variables + incidences + links), all in pools reused across variables.
 */
#include "network/net_maxmin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "network/net_grow.h"
#include "network/net_heap.h"

#define NCLASS 31 /* incidence block sizes 1 << 2 .. 1 << 30 */

typedef struct var {
	double rate; /* B/s, from the last solve that re-solved it */
	int inc0;    /* incidence block, or the next free block when free */
	int ninc;    /* constrained links */
	int cls;     /* size class of the block (capacity 1 << cls), -1 none */
	uint8_t frozen;
} var;

/*
 * One variable in the sharing of a link. The rate is a copy of the variable's, kept
 * here so that a solve scans each link's variables sequentially (the scan that decides
 * which keep their rates dominates the cost); -1 marks one being re-solved.
 */
typedef struct lent {
	int var, inc;
	double w, rate;
} lent;

typedef struct lnk {
	double cap;
	double resid, wsum; /* solver scratch */
	lent *fl;           /* the variables in the sharing that cross it */
	int n, lcap;
	int nun;            /* unfrozen variables during a fill */
	double dthr;        /* dirty: smallest rate that left it, 0 if a variable joined it */
	uint32_t stamp;
	uint8_t dirty;
} lnk;

/* A variable's use of one constrained link: which, where in its list, what fraction. */
typedef struct incid {
	int link, pos;
	double w;
} incid;

typedef struct dseed {
	double thr;
	int link;
} dseed;

struct net_maxmin {
	int n_links;
	lnk *L;

	var *v;
	int vcap;

	incid *inc;              /* variable x constrained link, in per-variable blocks */
	int inc_len, inc_cap;
	int free_cls[NCLASS];    /* heads of free blocks, chained through inc[start].link */

	int *dirty, ndirty, dirty_cap;
	dseed *seeds;
	int nseed_cap;
	int *comp_links, ncl, cl_cap;
	int *comp_vars, ncv, cv_cap; /* what the last solve re-solved */
	net__hent *lh;            /* links by fair share (key), lazily */
	int lh_n, lh_cap;

	uint32_t gen;
	net_maxmin_stats st;
};

/* ---- creation ------------------------------------------------------------------- */

net_maxmin *net_maxmin_create(int n_links, ms_error *err)
{
	net_maxmin *s = ms_calloc(err, 1, sizeof *s, "flow model");
	if (!s)
		return NULL;
	s->n_links = n_links;
	for (int c = 0; c < NCLASS; c++)
		s->free_cls[c] = -1;
	s->L = ms_calloc(err, (size_t)n_links + 1, sizeof *s->L, "flow model links");
	if (!s->L) {
		free(s);
		return NULL;
	}
	for (int l = 0; l < n_links; l++)
		s->L[l].cap = INFINITY;
	return s;
}

void net_maxmin_destroy(net_maxmin *s)
{
	if (!s)
		return;
	for (int l = 0; l < s->n_links; l++)
		free(s->L[l].fl);
	free(s->L);
	free(s->v);
	free(s->inc);
	free(s->dirty);
	free(s->seeds);
	free(s->comp_links);
	free(s->comp_vars);
	free(s->lh);
	free(s);
}

void net_maxmin_set_capacity(net_maxmin *s, int link, double bw_Bps)
{
	MS_ASSERT(link >= 0 && link < s->n_links && s->L[link].n == 0, "capacity of link %d of %d", link, s->n_links);
	s->L[link].cap = bw_Bps;
}

double net_maxmin_capacity(const net_maxmin *s, int link)
{
	return s->L[link].cap;
}

int net_maxmin_n_links(const net_maxmin *s)
{
	return s->n_links;
}

/* ---- incidence blocks ------------------------------------------------------------ */

static int block_alloc(net_maxmin *s, int n, int *cls_out, ms_error *err)
{
	int c = 2, start;
	while ((1 << c) < n)
		c++;
	MS_ASSERT(c < NCLASS, "route of %d links", n);
	*cls_out = c;
	if (s->free_cls[c] >= 0) {
		start = s->free_cls[c];
		s->free_cls[c] = s->inc[start].link;
		return start;
	}
	start = s->inc_len;
	if (net__grow(&s->inc, &s->inc_cap, start + (1 << c), sizeof *s->inc, 4096, "incidences", err) < 0)
		return err->code;
	s->inc_len += 1 << c;
	return start;
}

static void block_free(net_maxmin *s, int start, int cls)
{
	if (cls < 0)
		return;
	s->inc[start].link = s->free_cls[cls];
	s->free_cls[cls] = start;
}

/* ---- variables ------------------------------------------------------------------- */

int net_maxmin_var_init(net_maxmin *s, int id, const int *link, const double *w, int n, ms_error *err)
{
	int nc = 0, start = 0, cls = -1;
	var *x;
	MS_ASSERT(id >= 0, "variable %d", id);
	if (net__grow(&s->v, &s->vcap, id + 1, sizeof *s->v, 1024, "variables", err) < 0)
		return err->code;
	for (int i = 0; i < n; i++) {
		MS_ASSERT(link[i] >= 0 && link[i] < s->n_links, "link %d of %d", link[i], s->n_links);
		nc += isfinite(s->L[link[i]].cap) && w[i] > 0;
	}
	if (nc > 0 && (start = block_alloc(s, nc, &cls, err)) < 0)
		return start;
	x = &s->v[id];
	x->inc0 = start;
	x->cls = cls;
	x->ninc = 0;
	x->rate = 0;
	x->frozen = 0;
	for (int i = 0; i < n; i++)
		if (isfinite(s->L[link[i]].cap) && w[i] > 0) {
			s->inc[start + x->ninc].link = link[i];
			s->inc[start + x->ninc].w = w[i];
			x->ninc++;
		}
	return x->ninc;
}

void net_maxmin_var_fini(net_maxmin *s, int id)
{
	var *x = &s->v[id];
	block_free(s, x->inc0, x->cls);
	x->cls = -1;
	x->ninc = 0;
}

int net_maxmin_var_nlinks(const net_maxmin *s, int id)
{
	return s->v[id].ninc;
}

int net_maxmin_var_link(const net_maxmin *s, int id, int i, double *w)
{
	const incid *c = &s->inc[s->v[id].inc0 + i];
	*w = c->w;
	return c->link;
}

double net_maxmin_var_rate(const net_maxmin *s, int id)
{
	return s->v[id].rate;
}

/* Link l changed: a variable of rate thr left it (thr = 0: a variable joined it). */
static int mark_dirty(net_maxmin *s, int l, double thr, ms_error *err)
{
	if (s->L[l].dirty) {
		if (thr < s->L[l].dthr)
			s->L[l].dthr = thr;
		return MS_OK;
	}
	if (net__grow(&s->dirty, &s->dirty_cap, s->ndirty + 1, sizeof *s->dirty, 256, "dirty links", err) < 0)
		return err->code;
	s->L[l].dirty = 1;
	s->L[l].dthr = thr;
	s->dirty[s->ndirty++] = l;
	return MS_OK;
}

int net_maxmin_var_join(net_maxmin *s, int id, ms_error *err)
{
	var *x = &s->v[id];
	MS_ASSERT(x->ninc > 0, "variable %d joins without a constrained link", id);
	x->rate = 0;
	x->frozen = 0;
	for (int i = 0; i < x->ninc; i++) {
		int inc = x->inc0 + i, l = s->inc[inc].link;
		lnk *k = &s->L[l];
		if (net__grow(&k->fl, &k->lcap, k->n + 1, sizeof *k->fl, 8, "link list", err) < 0)
			return err->code;
		k->fl[k->n] = (lent){id, inc, s->inc[inc].w, 0.0};
		s->inc[inc].pos = k->n++;
		if (mark_dirty(s, l, 0.0, err) < 0)
			return err->code;
	}
	return MS_OK;
}

int net_maxmin_var_leave(net_maxmin *s, int id, ms_error *err)
{
	const var *x = &s->v[id];
	for (int i = 0; i < x->ninc; i++) {
		int inc = x->inc0 + i, l = s->inc[inc].link, pos = s->inc[inc].pos;
		lnk *k = &s->L[l];
		int last = --k->n;
		if (pos != last) {
			k->fl[pos] = k->fl[last];
			s->inc[k->fl[pos].inc].pos = pos;
		}
		if (mark_dirty(s, l, x->rate, err) < 0)
			return err->code;
	}
	return MS_OK;
}

/* ---- the lazy heap of links by fair share ------------------------------------------ */

/* Entries are (share, link, link): links break ties in share. */
static int lh_push(net_maxmin *s, double share, int link, ms_error *err)
{
	if (net__grow(&s->lh, &s->lh_cap, s->lh_n + 1, sizeof *s->lh, 1024, "solver heap", err) < 0)
		return err->code;
	s->lh[s->lh_n] = (net__hent){share, (uint64_t)link, link};
	net__heap_sift_up(s->lh, s->lh_n++, NULL);
	return MS_OK;
}

static net__hent lh_pop(net_maxmin *s)
{
	net__hent top = s->lh[0];
	if (--s->lh_n > 0) {
		s->lh[0] = s->lh[s->lh_n];
		net__heap_sift_down(s->lh, s->lh_n, 0, NULL);
	}
	return top;
}

/* ---- progressive filling on the dirty components ---------------------------------- */

/*
 * Collecting what a solve recomputes. gather() prepares link q of comp_links for the
 * fill: variables with a rate below thr keep it (they are "fixed" and only reduce the
 * link's residual capacity); the others are re-solved, and the links they cross are
 * queued. The BFS runs from the dirty links through re-solved variables only. See
 * solve() for why this is exact.
 */
static int gather(net_maxmin *s, int q, double thr, uint32_t gen, ms_error *err)
{
	lnk *k = &s->L[s->comp_links[q]];
	double fixed = 0, wsum = 0;
	int nun = 0, fresh = 0;
	s->st.incidences += (uint64_t)k->n;
	/* A tight pass first (no calls, so the sums stay in registers)... */
	for (int i = 0; i < k->n; i++) {
		const lent *e = &k->fl[i];
		if (e->rate >= 0 && e->rate < thr) {
			fixed += e->w * e->rate;
		} else {
			wsum += e->w;
			nun++;
			fresh |= e->rate >= 0;
		}
	}
	/* ...then collect the variables seen here first (rate >= thr, not yet -1). */
	for (int i = 0; fresh && i < k->n; i++) {
		const lent *e = &k->fl[i];
		int id;
		var *x;
		if (e->rate < thr)
			continue;
		id = e->var;
		x = &s->v[id];
		if (net__grow(&s->comp_vars, &s->cv_cap, s->ncv + 1, sizeof *s->comp_vars, 256, "component", err) < 0 ||
		    net__grow(&s->comp_links, &s->cl_cap, s->ncl + x->ninc, sizeof *s->comp_links, 256, "component",
			      err) < 0)
			return err->code;
		s->comp_vars[s->ncv++] = id;
		x->frozen = 0;
		for (int j = 0; j < x->ninc; j++) {
			const incid *ic = &s->inc[x->inc0 + j];
			int l2 = ic->link;
			s->L[l2].fl[ic->pos].rate = -1;
			if (s->L[l2].stamp != gen) {
				s->L[l2].stamp = gen;
				s->comp_links[s->ncl++] = l2;
			}
		}
		k = &s->L[s->comp_links[q]];
	}
	k->resid = k->cap - fixed;
	k->wsum = wsum;
	k->nun = nun;
	return MS_OK;
}

static int cmp_seed(const void *a, const void *b)
{
	const dseed *x = a, *y = b;
	if (x->thr != y->thr)
		return x->thr < y->thr ? -1 : 1;
	return (x->link > y->link) - (x->link < y->link);
}

static int collect_component(net_maxmin *s, ms_error *err)
{
	uint32_t gen = s->gen;
	int q = 0;
	s->ncl = s->ncv = 0;
	/* Seeds by increasing threshold: a region reached from a lower threshold contains
	 * whatever a higher one would reach from inside it (more variables count as
	 * re-solved), so each region is gathered once, with the lowest threshold among its
	 * seeds. */
	if (net__grow(&s->seeds, &s->nseed_cap, s->ndirty, sizeof *s->seeds, 256, "dirty links", err) < 0)
		return err->code;
	for (int d = 0; d < s->ndirty; d++) {
		s->seeds[d].thr = s->L[s->dirty[d]].dthr;
		s->seeds[d].link = s->dirty[d];
		s->L[s->dirty[d]].dirty = 0;
	}
	if (s->ndirty > 1)
		qsort(s->seeds, (size_t)s->ndirty, sizeof *s->seeds, cmp_seed);
	for (int d = 0; d < s->ndirty; d++) {
		int l = s->seeds[d].link;
		double thr = s->seeds[d].thr * (1 - 1e-9);
		if (s->L[l].stamp == gen || s->L[l].n == 0)
			continue;
		s->L[l].stamp = gen;
		if (net__grow(&s->comp_links, &s->cl_cap, s->ncl + 1, sizeof *s->comp_links, 256, "component", err) < 0)
			return err->code;
		s->comp_links[s->ncl++] = l;
		for (; q < s->ncl; q++) {
			if (gather(s, q, thr, gen, err) < 0)
				return err->code;
		}
	}
	s->ndirty = 0;
	return MS_OK;
}

/*
 * Progressive filling over what collect_component gathered. A dirty link's threshold
 * is the smallest rate of the variables that left it (0 if one joined it). When
 * variables only leave, those with rates below the smallest departed rate x keep their
 * rates exactly: filling levels below x is the same with and without the departed
 * variables (a link on a departed variable's path cannot saturate below x, or the
 * variable would have frozen there; taking it away only lowers those links' load, so
 * the same links saturate at the same levels below x). Among the rest, only variables
 * connected to the dirty links through other such variables can change; the others'
 * fill sees the same residuals as before. Regions gathered from different thresholds
 * are disjoint.
 */
int net_maxmin_solve(net_maxmin *s, const int **ids, ms_error *err)
{
	double fill;
	if (++s->gen == 0) {
		for (int l = 0; l < s->n_links; l++)
			s->L[l].stamp = 0;
		s->gen = 1;
	}
	if (collect_component(s, err) < 0)
		return err->code;
	*ids = s->comp_vars;
	if (s->ncv == 0)
		return 0;
	s->st.solves++;
	s->st.resolved += (uint64_t)s->ncv;
	s->lh_n = 0;
	for (int q = 0; q < s->ncl; q++) {
		int l = s->comp_links[q];
		lnk *k = &s->L[l];
		if (k->nun > 0 && lh_push(s, k->resid / k->wsum, l, err) < 0)
			return err->code;
	}
	fill = 0;
	while (s->lh_n > 0) {
		net__hent e = lh_pop(s);
		lnk *k = &s->L[e.id];
		double level;
		if (k->nun == 0)
			continue;
		level = k->resid / k->wsum;
		if (level > e.key) {
			if (lh_push(s, level, e.id, err) < 0)
				return err->code;
			continue;
		}
		/* Rounding can only pull a level below the fill reached so far. */
		if (level < fill)
			level = fill;
		fill = level;
		/* k saturates at this level: every unfrozen variable on it freezes there. */
		for (int i = 0; i < k->n; i++) {
			var *x;
			if (k->fl[i].rate >= 0)
				continue; /* fixed, or frozen earlier */
			x = &s->v[k->fl[i].var];
			x->frozen = 1;
			s->st.changed += fabs(x->rate - level) > 1e-12 * level;
			x->rate = level;
			for (int j = 0; j < x->ninc; j++) {
				const incid *ic = &s->inc[x->inc0 + j];
				lnk *k2 = &s->L[ic->link];
				double w = ic->w;
				k2->fl[ic->pos].rate = level;
				k2->resid -= w * level;
				k2->wsum -= w;
				k2->nun--;
			}
		}
	}
	for (int i = 0; i < s->ncv; i++)
		MS_ASSERT(s->v[s->comp_vars[i]].frozen, "variable %d left unfrozen by the fill", s->comp_vars[i]);
	return s->ncv;
}

void net_maxmin_counters(const net_maxmin *s, net_maxmin_stats *out)
{
	*out = s->st;
}
