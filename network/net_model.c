/*
 * net_model.c - flow-level max-min sharing (see net_model.h).
 *
 * State: each flow is PENDING (paying latency, in the event heap by its joining
 * time) or ACTIVE (in the sharing, in the heap by its finishing time). A flow keeps
 * (remaining bytes, rate, t_last): its progress is integrated lazily, only when its
 * rate changes. Each constrained link keeps the list of active flows crossing it
 * (flow id, incidence index); each incidence remembers its position in that list, so
 * joining and leaving are O(links of the flow).
 *
 * Re-solve: the links touched by flows that joined or left are "dirty"; a BFS over
 * link -> flows -> links collects the part of their connected component whose rates
 * can change (see solve()), and progressive filling runs on it with a lazy min-heap
 * of links keyed by fair share r_l / W_l (residual capacity over the summed fractions
 * of unfrozen flows). Freezing a flow at level t on link m changes m's share from r/W
 * to (r - w t)/(W - w) >= r/W because t <= r/W, so shares only grow: a popped entry
 * whose share is stale is pushed back with the new value instead of being updated.
 *
 * Time per re-solve: O(visited links' flows + re-solved incidences x log links);
 * memory: O(flows + incidences + links), all in pools reused across flows.
 */
#include "network/net_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { F_FREE, F_PENDING, F_ACTIVE };

#define NCLASS 31
#define BATCH_REL 1e-9
#define BATCH_ABS 1e-15

typedef struct flow {
	double remaining; /* bytes left at t_last */
	double rate;      /* B/s (INFINITY: no constrained link) */
	double t_last;
	double bytes;
	double key;       /* heap key: joining time (pending) or finishing time (active) */
	uint64_t tag;
	uint64_t seq;     /* add order: breaks ties in the heap */
	int inc0, ninc;   /* incidence block and its used length */
	int cls;          /* size class of the block (capacity 1 << cls), -1 none */
	int hpos;         /* position in the event heap, -1 if not queued */
	uint8_t state;
	uint8_t frozen;
} flow;

/*
 * One active flow on a link. The rate is a copy of the flow's, kept here so that a
 * re-solve scans each link's flows sequentially (the scan that decides which flows
 * keep their rates dominates the cost); -1 marks a flow being re-solved.
 */
typedef struct lent {
	int flow, inc;
	double w, rate;
} lent;

typedef struct lnk {
	double cap;
	double resid, wsum; /* solver scratch */
	lent *fl;           /* the active flows crossing it */
	int n, lcap;
	int nun;            /* unfrozen flows during a fill */
	double dthr;        /* dirty: smallest rate that left it, 0 if a flow joined it */
	uint32_t stamp;
	uint8_t dirty;
} lnk;

/* A flow's use of one constrained link: which, where in its list, what fraction. */
typedef struct incid {
	int link, pos;
	double w;
} incid;

typedef struct lheap_ent {
	double share;
	int link;
} lheap_ent;

struct net_model {
	const topo_graph *g;
	topo_router *router;
	topo_route route;
	int n_links;
	lnk *L;
	double *link_bytes;

	flow *f;
	int nf, fcap, free_head; /* free flows chained through inc0 */
	size_t live;

	incid *inc;              /* flow x constrained link, in per-flow blocks */
	int inc_len, inc_cap;
	int free_cls[NCLASS];    /* heads of free blocks, chained through inc[start].link */

	struct hent *heap;
	int heap_n, heap_cap;

	int *dirty, ndirty, dirty_cap;
	struct dseed *seeds;
	int nseed_cap;
	int *comp_links, ncl, cl_cap;
	int *comp_flows, ncf, cf_cap;
	lheap_ent *lh;
	int lh_n, lh_cap;
	int *done, ndone, done_cap;

	double now;
	double tol;              /* relative batching window (net_model_set_tolerance) */
	uint64_t seq;
	uint32_t gen;
	uint64_t solves, incidences;
};

static int grow_ints(int **p, int *cap, int need, ms_error *err)
{
	int nc;
	int *q;
	if (need <= *cap)
		return MS_OK;
	nc = *cap ? *cap : 256;
	while (nc < need)
		nc *= 2;
	q = realloc(*p, (size_t)nc * sizeof *q);
	if (!q)
		return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (%d entries)", nc);
	*p = q;
	*cap = nc;
	return MS_OK;
}

/* ---- event heap of flows keyed by (key, seq) ---------------------------------- */

/* Keys live in the heap itself, so sifting does not touch the flows. */
typedef struct hent {
	double key;
	uint64_t seq;
	int id;
} hent;

static inline int hless(const hent *x, const hent *y)
{
	return x->key < y->key || (x->key == y->key && x->seq < y->seq);
}

static void sift_up(net_model *m, int pos)
{
	hent e = m->heap[pos];
	while (pos > 0) {
		int parent = (pos - 1) / 2;
		if (!hless(&e, &m->heap[parent]))
			break;
		m->heap[pos] = m->heap[parent];
		m->f[m->heap[pos].id].hpos = pos;
		pos = parent;
	}
	m->heap[pos] = e;
	m->f[e.id].hpos = pos;
}

static void sift_down(net_model *m, int pos)
{
	hent e = m->heap[pos];
	int n = m->heap_n;
	for (;;) {
		int c = 2 * pos + 1;
		if (c >= n)
			break;
		if (c + 1 < n && hless(&m->heap[c + 1], &m->heap[c]))
			c++;
		if (!hless(&m->heap[c], &e))
			break;
		m->heap[pos] = m->heap[c];
		m->f[m->heap[pos].id].hpos = pos;
		pos = c;
	}
	m->heap[pos] = e;
	m->f[e.id].hpos = pos;
}

static int heap_push(net_model *m, int id, ms_error *err)
{
	if (m->heap_n == m->heap_cap) {
		int nc = m->heap_cap ? m->heap_cap * 2 : 1024;
		hent *q = realloc(m->heap, (size_t)nc * sizeof *q);
		if (!q)
			return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (event heap of %d)", nc);
		m->heap = q;
		m->heap_cap = nc;
	}
	m->heap[m->heap_n] = (hent){m->f[id].key, m->f[id].seq, id};
	sift_up(m, m->heap_n++);
	return MS_OK;
}

static void clean_top(net_model *m);

/* Pops the top (which is exact) and leaves the new top exact. */
static int heap_pop(net_model *m)
{
	int id = m->heap[0].id;
	m->f[id].hpos = -1;
	if (--m->heap_n > 0) {
		m->heap[0] = m->heap[m->heap_n];
		sift_down(m, 0);
		clean_top(m);
	}
	return id;
}

/*
 * The flow's key changed. An earlier key moves up at once (usually a level or two);
 * a later one is left in place, lazily: heap keys are lower bounds of the flows' keys,
 * and clean_top() moves a stale entry down only when it reaches the top. A re-solve
 * changes many keys, most by little, so this saves the sift-downs of flows that will
 * be re-keyed again before they come near the top.
 */
static void heap_update(net_model *m, int id)
{
	int pos = m->f[id].hpos;
	if (m->f[id].key < m->heap[pos].key) {
		m->heap[pos].key = m->f[id].key;
		sift_up(m, pos);
	}
}

/* Makes the top entry exact (every entry's key is <= its flow's key). */
static void clean_top(net_model *m)
{
	while (m->heap_n > 0 && m->heap[0].key < m->f[m->heap[0].id].key) {
		m->heap[0].key = m->f[m->heap[0].id].key;
		sift_down(m, 0);
	}
}

static inline double top_key(const net_model *m)
{
	return m->heap[0].key;
}

/* ---- pools ---------------------------------------------------------------------- */

static int block_alloc(net_model *m, int n, int *cls_out, ms_error *err)
{
	int c = 2, start;
	while ((1 << c) < n)
		c++;
	MS_ASSERT(c < NCLASS, "route of %d links", n);
	*cls_out = c;
	if (m->free_cls[c] >= 0) {
		start = m->free_cls[c];
		m->free_cls[c] = m->inc[start].link;
		return start;
	}
	start = m->inc_len;
	if (start + (1 << c) > m->inc_cap) {
		int nc = m->inc_cap ? m->inc_cap : 4096;
		while (nc < start + (1 << c))
			nc *= 2;
		incid *a = realloc(m->inc, (size_t)nc * sizeof *a);
		if (!a)
			return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (%d incidences)", nc);
		m->inc = a;
		m->inc_cap = nc;
	}
	m->inc_len += 1 << c;
	return start;
}

static void block_free(net_model *m, int start, int cls)
{
	if (cls < 0)
		return;
	m->inc[start].link = m->free_cls[cls];
	m->free_cls[cls] = start;
}

static int flow_alloc(net_model *m, ms_error *err)
{
	int id;
	if (m->free_head >= 0) {
		id = m->free_head;
		m->free_head = m->f[id].inc0;
		return id;
	}
	if (m->nf == m->fcap) {
		int nc = m->fcap ? m->fcap * 2 : 1024;
		flow *q = realloc(m->f, (size_t)nc * sizeof *q);
		if (!q)
			return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (%d flows)", nc);
		m->f = q;
		m->fcap = nc;
	}
	return m->nf++;
}

static void flow_release(net_model *m, int id)
{
	flow *f = &m->f[id];
	block_free(m, f->inc0, f->cls);
	f->state = F_FREE;
	f->cls = -1;
	f->inc0 = m->free_head;
	m->free_head = id;
	m->live--;
}

/* ---- creation ------------------------------------------------------------------- */

static net_model *model_alloc(int n_links, ms_error *err)
{
	net_model *m = ms_calloc(err, 1, sizeof *m, "flow model");
	if (!m)
		return NULL;
	m->n_links = n_links;
	m->free_head = -1;
	m->tol = BATCH_REL;
	for (int c = 0; c < NCLASS; c++)
		m->free_cls[c] = -1;
	m->L = ms_calloc(err, (size_t)n_links + 1, sizeof *m->L, "flow model links");
	m->link_bytes = ms_calloc(err, (size_t)n_links + 1, sizeof(double), "flow model links");
	if (!m->L || !m->link_bytes) {
		net_model_destroy(m);
		return NULL;
	}
	topo_route_init(&m->route);
	return m;
}

net_model *net_model_create(const topo_graph *g, topo_ecmp ecmp, uint64_t seed, ms_error *err)
{
	net_model *m = model_alloc(g->n_links, err);
	if (!m)
		return NULL;
	m->g = g;
	for (int l = 0; l < g->n_links; l++)
		m->L[l].cap = g->links[l].bw_Bps;
	m->router = topo_router_create(g, ecmp, seed, err);
	if (!m->router) {
		net_model_destroy(m);
		return NULL;
	}
	return m;
}

net_model *net_model_create_links(int n_links, const double *bw_Bps, ms_error *err)
{
	net_model *m = model_alloc(n_links, err);
	if (!m)
		return NULL;
	for (int l = 0; l < n_links; l++)
		m->L[l].cap = bw_Bps[l];
	return m;
}

void net_model_destroy(net_model *m)
{
	if (!m)
		return;
	if (m->L)
		for (int l = 0; l < m->n_links; l++)
			free(m->L[l].fl);
	free(m->L);
	free(m->link_bytes);
	free(m->f);
	free(m->inc);
	free(m->heap);
	free(m->dirty);
	free(m->seeds);
	free(m->comp_links);
	free(m->comp_flows);
	free(m->lh);
	free(m->done);
	topo_route_fini(&m->route);
	topo_router_destroy(m->router);
	free(m);
}

/* ---- adding flows --------------------------------------------------------------- */

int net_model_add_route(net_model *m, double now, const topo_route *rt, double bytes, uint64_t tag, ms_error *err)
{
	int id, nc = 0, start = 0, cls = -1;
	flow *f;
	/* A batch ends at its last event, which may lie up to the window after the time the
	 * caller advanced to; a flow added in between joins at the model's time. */
	MS_ASSERT(m->tol > BATCH_REL || now >= m->now - (m->tol * fabs(m->now) + BATCH_ABS) - 1e-12 * (1 + fabs(m->now)),
		  "flow added at %.17g before the model's time %.17g", now, m->now);
	if (now < m->now)
		now = m->now;
	MS_ASSERT(bytes >= 0 && isfinite(bytes), "flow of %g bytes", bytes);
	for (int i = 0; i < rt->n; i++) {
		MS_ASSERT(rt->link[i] >= 0 && rt->link[i] < m->n_links, "link %d of %d", rt->link[i], m->n_links);
		nc += isfinite(m->L[rt->link[i]].cap) && rt->weight[i] > 0;
	}
	if ((id = flow_alloc(m, err)) < 0)
		return id;
	if (nc > 0 && (start = block_alloc(m, nc, &cls, err)) < 0) {
		/* Put the flow back; nothing else was touched. */
		m->f[id].state = F_FREE;
		m->f[id].cls = -1;
		m->f[id].inc0 = m->free_head;
		m->free_head = id;
		return start;
	}
	f = &m->f[id];
	f->inc0 = start;
	f->cls = cls;
	f->ninc = 0;
	for (int i = 0; i < rt->n; i++) {
		int l = rt->link[i];
		m->link_bytes[l] += rt->weight[i] * bytes;
		if (isfinite(m->L[l].cap) && rt->weight[i] > 0) {
			m->inc[start + f->ninc].link = l;
			m->inc[start + f->ninc].w = rt->weight[i];
			f->ninc++;
		}
	}
	f->bytes = f->remaining = bytes;
	f->rate = 0;
	f->t_last = now;
	f->key = now + rt->latency_s;
	f->tag = tag;
	f->seq = m->seq++;
	f->frozen = 0;
	f->state = F_PENDING;
	f->hpos = -1;
	m->live++;
	if (heap_push(m, id, err) < 0) {
		flow_release(m, id);
		return err->code;
	}
	return id;
}

int net_model_add(net_model *m, double now, int src, int dst, double bytes, uint64_t tag, ms_error *err)
{
	MS_ASSERT(m->router, "net_model_add needs a model created over a topology");
	if (topo_router_route(m->router, src, dst, &m->route, err) < 0)
		return err->code;
	return net_model_add_route(m, now, &m->route, bytes, tag, err);
}

/* ---- joining and leaving the sharing --------------------------------------------- */

/* Link l changed: a flow of rate thr left it (thr = 0: a flow joined it). */
static int mark_dirty(net_model *m, int l, double thr, ms_error *err)
{
	if (m->L[l].dirty) {
		if (thr < m->L[l].dthr)
			m->L[l].dthr = thr;
		return MS_OK;
	}
	if (grow_ints(&m->dirty, &m->dirty_cap, m->ndirty + 1, err) < 0)
		return err->code;
	m->L[l].dirty = 1;
	m->L[l].dthr = thr;
	m->dirty[m->ndirty++] = l;
	return MS_OK;
}

static int join(net_model *m, int id, ms_error *err)
{
	flow *f = &m->f[id];
	for (int i = 0; i < f->ninc; i++) {
		int inc = f->inc0 + i, l = m->inc[inc].link;
		lnk *k = &m->L[l];
		if (k->n == k->lcap) {
			int nc = k->lcap ? k->lcap * 2 : 8;
			lent *q = realloc(k->fl, (size_t)nc * sizeof *q);
			if (!q)
				return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (link list of %d)", nc);
			k->fl = q;
			k->lcap = nc;
		}
		k->fl[k->n] = (lent){id, inc, m->inc[inc].w, 0.0};
		m->inc[inc].pos = k->n++;
		if (mark_dirty(m, l, 0.0, err) < 0)
			return err->code;
		f = &m->f[id];
	}
	return MS_OK;
}

static int leave(net_model *m, int id, ms_error *err)
{
	const flow *f = &m->f[id];
	for (int i = 0; i < f->ninc; i++) {
		int inc = f->inc0 + i, l = m->inc[inc].link, pos = m->inc[inc].pos;
		lnk *k = &m->L[l];
		int last = --k->n;
		if (pos != last) {
			k->fl[pos] = k->fl[last];
			m->inc[k->fl[pos].inc].pos = pos;
		}
		if (mark_dirty(m, l, f->rate, err) < 0)
			return err->code;
	}
	return MS_OK;
}

/* ---- progressive filling on the dirty components ---------------------------------- */

static inline int lh_less(const lheap_ent *a, const lheap_ent *b)
{
	return a->share < b->share || (a->share == b->share && a->link < b->link);
}

static int lh_push(net_model *m, double share, int link, ms_error *err)
{
	int pos;
	if (m->lh_n == m->lh_cap) {
		int nc = m->lh_cap ? m->lh_cap * 2 : 1024;
		lheap_ent *q = realloc(m->lh, (size_t)nc * sizeof *q);
		if (!q)
			return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (solver heap)");
		m->lh = q;
		m->lh_cap = nc;
	}
	pos = m->lh_n++;
	lheap_ent e = {share, link};
	while (pos > 0) {
		int parent = (pos - 1) / 2;
		if (!lh_less(&e, &m->lh[parent]))
			break;
		m->lh[pos] = m->lh[parent];
		pos = parent;
	}
	m->lh[pos] = e;
	return MS_OK;
}

static lheap_ent lh_pop(net_model *m)
{
	lheap_ent top = m->lh[0], e;
	int pos = 0, n = --m->lh_n;
	if (n == 0)
		return top;
	e = m->lh[n];
	for (;;) {
		int c = 2 * pos + 1;
		if (c >= n)
			break;
		if (c + 1 < n && lh_less(&m->lh[c + 1], &m->lh[c]))
			c++;
		if (!lh_less(&m->lh[c], &e))
			break;
		m->lh[pos] = m->lh[c];
		pos = c;
	}
	m->lh[pos] = e;
	return top;
}

/*
 * Collecting what a re-solve recomputes. gather() prepares link q of comp_links for
 * the fill: flows with a rate below thr keep it (they are "fixed" and only reduce the
 * link's residual capacity); the others are re-solved, and the links they cross are
 * queued. The BFS runs from the dirty links through re-solved flows only. See solve()
 * for why this is exact.
 */
static int gather(net_model *m, int q, double T, double thr, uint32_t gen, ms_error *err)
{
	lnk *k = &m->L[m->comp_links[q]];
	double fixed = 0, wsum = 0;
	int nun = 0, fresh = 0;
	m->incidences += (uint64_t)k->n;
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
	/* ...then collect the flows seen here first (rate >= thr, not yet -1). */
	for (int i = 0; fresh && i < k->n; i++) {
		const lent *e = &k->fl[i];
		int id;
		flow *f;
		if (e->rate < thr)
			continue;
		id = e->flow;
		f = &m->f[id];
		if (grow_ints(&m->comp_flows, &m->cf_cap, m->ncf + 1, err) < 0 ||
		    grow_ints(&m->comp_links, &m->cl_cap, m->ncl + f->ninc, err) < 0)
			return err->code;
		m->comp_flows[m->ncf++] = id;
		/* Integrate its progress at the old rate before the fill changes it. */
		if (f->rate > 0 && T > f->t_last) {
			f->remaining -= f->rate * (T - f->t_last);
			if (f->remaining < 0)
				f->remaining = 0;
		}
		f->t_last = T;
		f->frozen = 0;
		for (int j = 0; j < f->ninc; j++) {
			const incid *ic = &m->inc[f->inc0 + j];
			int l2 = ic->link;
			m->L[l2].fl[ic->pos].rate = -1;
			if (m->L[l2].stamp != gen) {
				m->L[l2].stamp = gen;
				m->comp_links[m->ncl++] = l2;
			}
		}
		k = &m->L[m->comp_links[q]];
	}
	k->resid = k->cap - fixed;
	k->wsum = wsum;
	k->nun = nun;
	return MS_OK;
}

typedef struct dseed {
	double thr;
	int link;
} dseed;

static int cmp_seed(const void *a, const void *b)
{
	const dseed *x = a, *y = b;
	if (x->thr != y->thr)
		return x->thr < y->thr ? -1 : 1;
	return (x->link > y->link) - (x->link < y->link);
}

static int collect_component(net_model *m, double T, ms_error *err)
{
	uint32_t gen = m->gen;
	int q = 0;
	m->ncl = m->ncf = 0;
	/* Seeds by increasing threshold: a region reached from a lower threshold contains
	 * whatever a higher one would reach from inside it (more flows count as re-solved),
	 * so each region is gathered once, with the lowest threshold among its seeds. */
	if (m->nseed_cap < m->ndirty) {
		dseed *q2 = realloc(m->seeds, (size_t)m->dirty_cap * sizeof *q2);
		if (!q2)
			return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (%d dirty links)", m->ndirty);
		m->seeds = q2;
		m->nseed_cap = m->dirty_cap;
	}
	for (int d = 0; d < m->ndirty; d++) {
		m->seeds[d].thr = m->L[m->dirty[d]].dthr;
		m->seeds[d].link = m->dirty[d];
		m->L[m->dirty[d]].dirty = 0;
	}
	if (m->ndirty > 1)
		qsort(m->seeds, (size_t)m->ndirty, sizeof *m->seeds, cmp_seed);
	for (int d = 0; d < m->ndirty; d++) {
		int l = m->seeds[d].link;
		double thr = m->seeds[d].thr * (1 - 1e-9);
		if (m->L[l].stamp == gen || m->L[l].n == 0)
			continue;
		m->L[l].stamp = gen;
		if (grow_ints(&m->comp_links, &m->cl_cap, m->ncl + 1, err) < 0)
			return err->code;
		m->comp_links[m->ncl++] = l;
		for (; q < m->ncl; q++) {
			if (gather(m, q, T, thr, gen, err) < 0)
				return err->code;
		}
	}
	m->ndirty = 0;
	return MS_OK;
}

/*
 * Progressive filling over what collect_component gathered. A dirty link's threshold
 * is the smallest rate of the flows that left it (0 if a flow joined it). When flows
 * only leave, flows with rates below the smallest departed rate x keep their rates
 * exactly: filling levels below x is the same with and without the departed flows (a
 * link on a departed flow's path cannot saturate below x, or the flow would have
 * frozen there; taking the flow away only lowers those links' load, so the same links
 * saturate at the same levels below x). Among the rest, only flows connected to the
 * dirty links through other such flows can change; the others' fill sees the same
 * residuals as before. Regions gathered from different thresholds are disjoint.
 */
static int solve(net_model *m, double T, ms_error *err)
{
	double fill;
	if (++m->gen == 0) {
		for (int l = 0; l < m->n_links; l++)
			m->L[l].stamp = 0;
		m->gen = 1;
	}
	if (collect_component(m, T, err) < 0)
		return err->code;
	if (m->ncf == 0)
		return MS_OK;
	m->solves++;
	m->lh_n = 0;
	for (int q = 0; q < m->ncl; q++) {
		int l = m->comp_links[q];
		lnk *k = &m->L[l];
		if (k->nun > 0 && lh_push(m, k->resid / k->wsum, l, err) < 0)
			return err->code;
	}
	fill = 0;
	while (m->lh_n > 0) {
		lheap_ent e = lh_pop(m);
		lnk *k = &m->L[e.link];
		double level;
		if (k->nun == 0)
			continue;
		level = k->resid / k->wsum;
		if (level > e.share) {
			if (lh_push(m, level, e.link, err) < 0)
				return err->code;
			continue;
		}
		/* Rounding can only pull a level below the fill reached so far. */
		if (level < fill)
			level = fill;
		fill = level;
		/* k saturates at this level: every unfrozen flow on it freezes there. */
		for (int i = 0; i < k->n; i++) {
			flow *f;
			if (k->fl[i].rate >= 0)
				continue; /* fixed, or frozen earlier */
			f = &m->f[k->fl[i].flow];
			f->frozen = 1;
			f->rate = level;
			for (int j = 0; j < f->ninc; j++) {
				int inc = f->inc0 + j;
				const incid *ic = &m->inc[inc];
				lnk *k2 = &m->L[ic->link];
				double w = ic->w;
				k2->fl[ic->pos].rate = level;
				k2->resid -= w * level;
				k2->wsum -= w;
				k2->nun--;
			}
		}
	}
	for (int i = 0; i < m->ncf; i++) {
		int id = m->comp_flows[i];
		flow *f = &m->f[id];
		MS_ASSERT(f->frozen, "flow %d left unfrozen by the fill", id);
		f->key = f->rate > 0 ? T + f->remaining / f->rate : INFINITY;
		if (f->hpos < 0) {
			/* It has just joined (its joining event was popped). */
			if (heap_push(m, id, err) < 0)
				return err->code;
		} else {
			heap_update(m, id);
		}
	}
	return MS_OK;
}

/* ---- advancing time --------------------------------------------------------------- */

double net_model_next_time(const net_model *m)
{
	return m->heap_n ? top_key(m) : INFINITY;
}

long net_model_advance(net_model *m, double t, net_done_fn done_fn, void *ctx, ms_error *err)
{
	long finished = 0;
	clean_top(m);
	while (m->heap_n > 0 && top_key(m) <= t) {
		double T = top_key(m);
		double horizon = T + T * m->tol + BATCH_ABS;
		double Tb = T;         /* the batch's last event: the re-solve happens then */
		MS_ASSERT(isfinite(T), "event at time %g", T);
		while (m->heap_n > 0 && top_key(m) <= horizon) {
			m->ndone = 0;
			while (m->heap_n > 0 && top_key(m) <= horizon) {
				int id = heap_pop(m);
				flow *f = &m->f[id];
				if (f->key > Tb)
					Tb = f->key;
				if (f->state == F_PENDING && f->ninc > 0 && f->bytes > 0) {
					f->state = F_ACTIVE;
					f->t_last = T; /* reset to Tb by the re-solve */
					f->rate = 0;
					f->frozen = 0;
					if (join(m, id, err) < 0)
						return err->code;
					continue;
				}
				if (f->state == F_ACTIVE && leave(m, id, err) < 0)
					return err->code;
				if (grow_ints(&m->done, &m->done_cap, m->ndone + 1, err) < 0)
					return err->code;
				m->done[m->ndone++] = id;
			}
			/* Release first, so callbacks may add flows that reuse the ids. */
			for (int i = 0; i < m->ndone; i++) {
				int id = m->done[i];
				m->done[i] = -1;
				flow_release(m, id);
				finished++;
				if (done_fn)
					done_fn(ctx, m->f[id].key, m->f[id].tag);
			}
		}
		if (solve(m, Tb, err) < 0)
			return err->code;
		clean_top(m);
		m->now = Tb;
	}
	if (isfinite(t) && t > m->now)
		m->now = t;
	return finished;
}

/* ---- queries ------------------------------------------------------------------------ */

size_t net_model_flows(const net_model *m)
{
	return m->live;
}

double net_model_now(const net_model *m)
{
	return m->now;
}

double net_model_rate(const net_model *m, int id)
{
	MS_ASSERT(id >= 0 && id < m->nf && m->f[id].state != F_FREE, "flow %d is not live", id);
	return m->f[id].state == F_ACTIVE ? m->f[id].rate : 0.0;
}

const double *net_model_link_bytes(const net_model *m)
{
	return m->link_bytes;
}

int net_model_n_links(const net_model *m)
{
	return m->n_links;
}

double net_model_link_capacity(const net_model *m, int link)
{
	return m->L[link].cap;
}

const topo_graph *net_model_graph(const net_model *m)
{
	return m->g;
}

topo_router *net_model_router(net_model *m)
{
	return m->router;
}

void net_model_counters(const net_model *m, uint64_t *solves, uint64_t *incidences)
{
	*solves = m->solves;
	*incidences = m->incidences;
}

void net_model_set_tolerance(net_model *m, double rel)
{
	MS_ASSERT(rel >= 0 && rel < 1, "tolerance %g", rel);
	m->tol = rel > BATCH_REL ? rel : BATCH_REL;
}

void net_model_reset(net_model *m)
{
	MS_ASSERT(m->live == 0, "reset with %zu flows in flight", m->live);
	m->now = 0;
	memset(m->link_bytes, 0, (size_t)m->n_links * sizeof(double));
}
