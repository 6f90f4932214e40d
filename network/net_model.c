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
 * link -> flows -> links collects their connected component, and progressive filling
 * runs on it with a lazy min-heap of links keyed by fair share r_l / W_l (residual
 * capacity over the summed fractions of unfrozen flows). Freezing a flow at level t
 * on link m changes m's share from r/W to (r - w t)/(W - w) >= r/W because t <= r/W,
 * so shares only grow: a popped entry whose share is stale is pushed back with the
 * new value instead of being updated in place.
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
	uint32_t stamp;
	uint8_t dirty;
} lnk;

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

	int *inc_link, *inc_pos;
	double *inc_w;
	int inc_len, inc_cap;
	int free_cls[NCLASS];    /* heads of free blocks, chained through inc_link[start] */

	int *heap, heap_n, heap_cap;

	int *dirty, ndirty, dirty_cap;
	int *comp_links, ncl, cl_cap;
	int *comp_flows, ncf, cf_cap;
	lheap_ent *lh;
	int lh_n, lh_cap;
	int *done, ndone, done_cap;

	double now;
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

static inline int hless(const net_model *m, int a, int b)
{
	const flow *x = &m->f[a], *y = &m->f[b];
	return x->key < y->key || (x->key == y->key && x->seq < y->seq);
}

static void hset(net_model *m, int pos, int id)
{
	m->heap[pos] = id;
	m->f[id].hpos = pos;
}

static void sift_up(net_model *m, int pos)
{
	int id = m->heap[pos];
	while (pos > 0) {
		int parent = (pos - 1) / 2;
		if (!hless(m, id, m->heap[parent]))
			break;
		hset(m, pos, m->heap[parent]);
		pos = parent;
	}
	hset(m, pos, id);
}

static void sift_down(net_model *m, int pos)
{
	int id = m->heap[pos], n = m->heap_n;
	for (;;) {
		int c = 2 * pos + 1;
		if (c >= n)
			break;
		if (c + 1 < n && hless(m, m->heap[c + 1], m->heap[c]))
			c++;
		if (!hless(m, m->heap[c], id))
			break;
		hset(m, pos, m->heap[c]);
		pos = c;
	}
	hset(m, pos, id);
}

static int heap_push(net_model *m, int id, ms_error *err)
{
	if (grow_ints(&m->heap, &m->heap_cap, m->heap_n + 1, err) < 0)
		return err->code;
	m->heap[m->heap_n++] = id;
	sift_up(m, m->heap_n - 1);
	return MS_OK;
}

static int heap_pop(net_model *m)
{
	int id = m->heap[0];
	m->f[id].hpos = -1;
	if (--m->heap_n > 0) {
		m->heap[0] = m->heap[m->heap_n];
		m->f[m->heap[0]].hpos = 0;
		sift_down(m, 0);
	}
	return id;
}

static void heap_update(net_model *m, int id)
{
	int pos = m->f[id].hpos;
	if (pos > 0 && hless(m, id, m->heap[(pos - 1) / 2]))
		sift_up(m, pos);
	else
		sift_down(m, pos);
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
		m->free_cls[c] = m->inc_link[start];
		return start;
	}
	start = m->inc_len;
	if (start + (1 << c) > m->inc_cap) {
		int nc = m->inc_cap ? m->inc_cap : 4096;
		while (nc < start + (1 << c))
			nc *= 2;
		int *a = realloc(m->inc_link, (size_t)nc * sizeof *a);
		if (!a)
			return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (%d incidences)", nc);
		m->inc_link = a;
		a = realloc(m->inc_pos, (size_t)nc * sizeof *a);
		if (!a)
			return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (%d incidences)", nc);
		m->inc_pos = a;
		double *w = realloc(m->inc_w, (size_t)nc * sizeof *w);
		if (!w)
			return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (%d incidences)", nc);
		m->inc_w = w;
		m->inc_cap = nc;
	}
	m->inc_len += 1 << c;
	return start;
}

static void block_free(net_model *m, int start, int cls)
{
	if (cls < 0)
		return;
	m->inc_link[start] = m->free_cls[cls];
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
	free(m->inc_link);
	free(m->inc_pos);
	free(m->inc_w);
	free(m->heap);
	free(m->dirty);
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
	MS_ASSERT(now >= m->now - 1e-12 * (1 + fabs(m->now)), "flow added at %.17g before the model's time %.17g", now,
		  m->now);
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
			m->inc_link[start + f->ninc] = l;
			m->inc_w[start + f->ninc] = rt->weight[i];
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

static int mark_dirty(net_model *m, int l, ms_error *err)
{
	if (m->L[l].dirty)
		return MS_OK;
	if (grow_ints(&m->dirty, &m->dirty_cap, m->ndirty + 1, err) < 0)
		return err->code;
	m->L[l].dirty = 1;
	m->dirty[m->ndirty++] = l;
	return MS_OK;
}

static int join(net_model *m, int id, ms_error *err)
{
	flow *f = &m->f[id];
	for (int i = 0; i < f->ninc; i++) {
		int inc = f->inc0 + i, l = m->inc_link[inc];
		lnk *k = &m->L[l];
		if (k->n == k->lcap) {
			int nc = k->lcap ? k->lcap * 2 : 8;
			lent *q = realloc(k->fl, (size_t)nc * sizeof *q);
			if (!q)
				return MS_ERROR(err, MS_ENOMEM, "out of memory in the flow model (link list of %d)", nc);
			k->fl = q;
			k->lcap = nc;
		}
		k->fl[k->n] = (lent){id, inc, m->inc_w[inc], 0.0};
		m->inc_pos[inc] = k->n++;
		if (mark_dirty(m, l, err) < 0)
			return err->code;
		f = &m->f[id];
	}
	return MS_OK;
}

static int leave(net_model *m, int id, ms_error *err)
{
	const flow *f = &m->f[id];
	for (int i = 0; i < f->ninc; i++) {
		int inc = f->inc0 + i, l = m->inc_link[inc], pos = m->inc_pos[inc];
		lnk *k = &m->L[l];
		int last = --k->n;
		if (pos != last) {
			k->fl[pos] = k->fl[last];
			m->inc_pos[k->fl[pos].inc] = pos;
		}
		if (mark_dirty(m, l, err) < 0)
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
 * Collects the flows whose rates may change and the links they cross, and prepares
 * each link for the fill: flows with a rate below thr keep it (they are "fixed" and
 * only reduce the link's residual capacity); the others are re-solved. The BFS runs
 * from the dirty links through re-solved flows only. See solve() for why this is exact.
 */
static int collect_component(net_model *m, double T, double thr, ms_error *err)
{
	uint32_t gen = m->gen;
	m->ncl = m->ncf = 0;
	for (int d = 0; d < m->ndirty; d++) {
		int l = m->dirty[d];
		m->L[l].dirty = 0;
		if (m->L[l].stamp == gen || m->L[l].n == 0)
			continue;
		m->L[l].stamp = gen;
		if (grow_ints(&m->comp_links, &m->cl_cap, m->ncl + 1, err) < 0)
			return err->code;
		m->comp_links[m->ncl++] = l;
	}
	m->ndirty = 0;
	for (int q = 0; q < m->ncl; q++) {
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
				int inc = f->inc0 + j, l2 = m->inc_link[inc];
				m->L[l2].fl[m->inc_pos[inc]].rate = -1;
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
	}
	return MS_OK;
}

/*
 * Progressive filling over what collect_component gathered. thr > 0 only when the
 * batch removed flows and added none: then flows with rates below the smallest
 * removed rate x keep their rates exactly. (Filling levels below x is the same with
 * and without the removed flows: a link on a removed flow's path cannot saturate
 * below x, or the flow would have frozen there; taking the flow away only lowers
 * those links' load. So the same links saturate at the same levels below x.) Among
 * the rest, only those connected to the removed flows' links through other such
 * flows can change; the others' fill sees the same residuals as before.
 */
static int solve(net_model *m, double T, double thr, ms_error *err)
{
	double fill;
	if (++m->gen == 0) {
		for (int l = 0; l < m->n_links; l++)
			m->L[l].stamp = 0;
		m->gen = 1;
	}
	if (collect_component(m, T, thr, err) < 0)
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
	fill = thr;
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
				lnk *k2 = &m->L[m->inc_link[inc]];
				double w = m->inc_w[inc];
				k2->fl[m->inc_pos[inc]].rate = level;
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
	return m->heap_n ? m->f[m->heap[0]].key : INFINITY;
}

long net_model_advance(net_model *m, double t, net_done_fn done_fn, void *ctx, ms_error *err)
{
	long finished = 0;
	while (m->heap_n > 0 && m->f[m->heap[0]].key <= t) {
		double T = m->f[m->heap[0]].key;
		double horizon = T + T * BATCH_REL + BATCH_ABS;
		double thr = INFINITY; /* smallest rate that left; 0 once a flow joins */
		MS_ASSERT(isfinite(T), "event at time %g", T);
		while (m->heap_n > 0 && m->f[m->heap[0]].key <= horizon) {
			m->ndone = 0;
			while (m->heap_n > 0 && m->f[m->heap[0]].key <= horizon) {
				int id = heap_pop(m);
				flow *f = &m->f[id];
				if (f->state == F_PENDING && f->ninc > 0 && f->bytes > 0) {
					f->state = F_ACTIVE;
					f->t_last = T;
					f->rate = 0;
					f->frozen = 0;
					thr = 0;
					if (join(m, id, err) < 0)
						return err->code;
					continue;
				}
				if (f->state == F_ACTIVE) {
					if (f->rate < thr)
						thr = f->rate;
					if (leave(m, id, err) < 0)
						return err->code;
				}
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
					done_fn(ctx, T, m->f[id].tag);
			}
		}
		if (solve(m, T, thr * (1 - 1e-9), err) < 0)
			return err->code;
		m->now = T;
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

void net_model_reset(net_model *m)
{
	MS_ASSERT(m->live == 0, "reset with %zu flows in flight", m->live);
	m->now = 0;
	memset(m->link_bytes, 0, (size_t)m->n_links * sizeof(double));
}
