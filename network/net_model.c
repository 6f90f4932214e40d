/*
 * net_model.c - the flow layer of the flow-level network (see net_model.h): flows,
 * their latency, the event heap, the batching window and the pools. The bandwidth
 * sharing itself is net_maxmin.c's; this file tells it which flows join and leave and
 * turns the rates it hands back into finishing times.
 *
 * State: each flow is PENDING (paying latency, in the event heap by its joining
 * time) or ACTIVE (in the sharing, in the heap by its finishing time). A flow keeps
 * (remaining bytes, rate, t_last): its progress is integrated lazily, only when the
 * solver re-solves it, at the rate it had until then. Invariant: an active flow's
 * rate here equals its variable's rate in the solver between re-solves (both are 0
 * from joining until the first re-solve), so that integration uses the old rate.
 * A flow's id is its solver variable's id.
 *
 * Events: a binary heap (net_heap.h) of (key, seq, flow id), with each flow's
 * position kept beside the flows; keys in the heap are lower bounds of the flows'
 * keys, made exact when they reach the top, so a re-solve that moves many finishing
 * times later costs no sift-downs until needed. Ties in key are broken by add order
 * (seq), so runs are deterministic.
 *
 * Time: adding a flow O(route + log F); handling an event O(links of the flow + log
 * F) plus one re-solve per batch (net_maxmin.h); memory O(flows + links), in pools
 * reused across flows.
 */
#include "network/net_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "network/net_bins.h"
#include "network/net_grow.h"
#include "network/net_heap.h"
#include "network/net_maxmin.h"

enum { F_FREE, F_PENDING, F_ACTIVE };

#define BATCH_REL 1e-9
#define BATCH_ABS 1e-15

typedef struct flow {
	double remaining; /* bytes left at t_last */
	double rate;      /* B/s (INFINITY: no constrained link), as of t_last */
	double t_last;
	double bytes;
	double key;       /* heap key: joining time (pending) or finishing time (active) */
	double origin;    /* when its collective started (the batching window's base) */
	uint64_t tag;
	uint64_t seq;     /* add order: breaks ties in the heap */
	/* with bins: progress since acc_t0 not yet in the bins, all inside acc_t0's bin */
	double acc_t0, acc_bytes;
	int ninc;         /* links that constrain it (0: it never joins the sharing) */
	int next_free;    /* free flows: the next one */
	uint8_t state;
} flow;

struct net_model {
	const topo_graph *g;
	topo_router *router;
	topo_route route;
	int n_links;
	net_maxmin *mm;
	double *link_bytes;

	flow *f;
	int nf, fcap, free_head;
	size_t live;

	net__hent *heap;         /* keys live in the heap itself, so sifting does not touch the flows */
	int heap_n, heap_cap;
	int *hpos, hpos_cap;     /* per flow: its position in the heap, -1 if not queued */

	int *done, ndone, done_cap;

	double now;
	double tol;              /* relative batching window (net_model_set_tolerance) */
	net_bins *bins;          /* NULL, or where links' bytes over time go */
	uint64_t seq;
};

/* ---- event heap of flows keyed by (key, seq) ---------------------------------- */

static int heap_push(net_model *m, int id, ms_error *err)
{
	if (net__grow(&m->heap, &m->heap_cap, m->heap_n + 1, sizeof *m->heap, 1024, "event heap", err) < 0)
		return err->code;
	m->heap[m->heap_n] = (net__hent){m->f[id].key, m->f[id].seq, id};
	net__heap_sift_up(m->heap, m->heap_n++, m->hpos);
	return MS_OK;
}

static void clean_top(net_model *m);

/* Pops the top (which is exact) and leaves the new top exact. */
static int heap_pop(net_model *m)
{
	int id = m->heap[0].id;
	m->hpos[id] = -1;
	if (--m->heap_n > 0) {
		m->heap[0] = m->heap[m->heap_n];
		net__heap_sift_down(m->heap, m->heap_n, 0, m->hpos);
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
	int pos = m->hpos[id];
	if (m->f[id].key < m->heap[pos].key) {
		m->heap[pos].key = m->f[id].key;
		net__heap_sift_up(m->heap, pos, m->hpos);
	}
}

/* Makes the top entry exact (every entry's key is <= its flow's key). */
static void clean_top(net_model *m)
{
	while (m->heap_n > 0 && m->heap[0].key < m->f[m->heap[0].id].key) {
		m->heap[0].key = m->f[m->heap[0].id].key;
		net__heap_sift_down(m->heap, m->heap_n, 0, m->hpos);
	}
}

static inline double top_key(const net_model *m)
{
	return m->heap[0].key;
}

/* ---- the flow pool ----------------------------------------------------------------- */

static int flow_alloc(net_model *m, ms_error *err)
{
	int id;
	if (m->free_head >= 0) {
		id = m->free_head;
		m->free_head = m->f[id].next_free;
		return id;
	}
	if (net__grow(&m->f, &m->fcap, m->nf + 1, sizeof *m->f, 1024, "flows", err) < 0 ||
	    net__grow(&m->hpos, &m->hpos_cap, m->nf + 1, sizeof *m->hpos, 1024, "flows", err) < 0)
		return err->code;
	return m->nf++;
}

/* Puts a flow back on the free list (its solver variable already given back). */
static void flow_unalloc(net_model *m, int id)
{
	m->f[id].state = F_FREE;
	m->f[id].next_free = m->free_head;
	m->free_head = id;
}

static void flow_release(net_model *m, int id)
{
	net_maxmin_var_fini(m->mm, id);
	flow_unalloc(m, id);
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
	m->tol = 0;
	topo_route_init(&m->route);
	m->mm = net_maxmin_create(n_links, err);
	m->link_bytes = ms_calloc(err, (size_t)n_links + 1, sizeof(double), "flow model links");
	if (!m->mm || !m->link_bytes) {
		net_model_destroy(m);
		return NULL;
	}
	return m;
}

net_model *net_model_create(const topo_graph *g, topo_ecmp ecmp, uint64_t seed, ms_error *err)
{
	net_model *m = model_alloc(g->n_links, err);
	if (!m)
		return NULL;
	m->g = g;
	for (int l = 0; l < g->n_links; l++)
		net_maxmin_set_capacity(m->mm, l, g->links[l].bw_Bps);
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
		net_maxmin_set_capacity(m->mm, l, bw_Bps[l]);
	return m;
}

void net_model_destroy(net_model *m)
{
	if (!m)
		return;
	net_maxmin_destroy(m->mm);
	free(m->link_bytes);
	free(m->f);
	free(m->heap);
	free(m->hpos);
	free(m->done);
	topo_route_fini(&m->route);
	topo_router_destroy(m->router);
	free(m);
}

/* ---- adding flows --------------------------------------------------------------- */

int net_model_add_route(net_model *m, double now, double origin, const topo_route *rt, double bytes, uint64_t tag,
			ms_error *err)
{
	int id, nc;
	flow *f;
	/* A batch ends at its last event, which may lie up to the window after the time the
	 * caller advanced to; a flow added in between joins at the model's time. */
	MS_ASSERT(m->tol > 0 || now >= m->now - (BATCH_REL * fabs(m->now) + BATCH_ABS) - 1e-12 * (1 + fabs(m->now)),
		  "flow added at %.17g before the model's time %.17g", now, m->now);
	MS_ASSERT(origin <= now, "flow of origin %.17g added at %.17g", origin, now);
	if (now < m->now)
		now = m->now;
	MS_ASSERT(bytes >= 0 && isfinite(bytes), "flow of %g bytes", bytes);
	if ((id = flow_alloc(m, err)) < 0)
		return id;
	if ((nc = net_maxmin_var_init(m->mm, id, rt->link, rt->weight, rt->n, err)) < 0) {
		flow_unalloc(m, id); /* nothing else was touched */
		return nc;
	}
	for (int i = 0; i < rt->n; i++)
		m->link_bytes[rt->link[i]] += rt->weight[i] * bytes;
	f = &m->f[id];
	f->ninc = nc;
	f->bytes = f->remaining = bytes;
	f->acc_bytes = 0;
	f->rate = 0;
	f->t_last = now;
	f->key = now + rt->latency_s;
	f->tag = tag;
	f->origin = origin;
	f->seq = m->seq++;
	f->state = F_PENDING;
	m->hpos[id] = -1;
	m->live++;
	if (heap_push(m, id, err) < 0) {
		flow_release(m, id);
		return err->code;
	}
	return id;
}

int net_model_add(net_model *m, double now, double origin, int src, int dst, double bytes, uint64_t tag,
		  ms_error *err)
{
	MS_ASSERT(m->router, "net_model_add needs a model created over a topology");
	if (topo_router_route(m->router, src, dst, &m->route, err) < 0)
		return err->code;
	return net_model_add_route(m, now, origin, &m->route, bytes, tag, err);
}

/* ---- re-solving and advancing time ------------------------------------------------ */

/*
 * Flow id carried `bytes` from t0 to t1 (at one rate) over its constrained links: into
 * the bins. Progress inside one bin is gathered in the flow (acc_*) and added once,
 * when the flow leaves that bin or finishes, so a flow re-solved many times inside a
 * bin costs one addition per link, not one per re-solve (callgrind, the default
 * scenario with -o: the binning is 6 % of the instructions, 20 % when every re-solve
 * added to the bins).
 */
static void bin_links(net_model *m, int id, double t0, double t1, double bytes, int at)
{
	int n = net_maxmin_var_nlinks(m->mm, id);
	for (int i = 0; i < n; i++) {
		double w;
		int l = net_maxmin_var_link(m->mm, id, i, &w);
		if (at)
			net_bins_add_at(m->bins, l, t0, w * bytes);
		else
			net_bins_add(m->bins, l, t0, t1, w * bytes);
	}
}

static void bin_flush(net_model *m, int id)
{
	flow *f = &m->f[id];
	if (f->acc_bytes > 0)
		bin_links(m, id, f->acc_t0, f->acc_t0, f->acc_bytes, 1);
	f->acc_bytes = 0;
}

static void bin_segment(net_model *m, int id, double t0, double t1, double rate)
{
	flow *f = &m->f[id];
	double bytes = rate * (t1 - t0);
	if (!(rate > 0) || !isfinite(rate) || !(t1 > t0))
		return;
	if (f->acc_bytes > 0 && net_bins_same(m->bins, f->acc_t0, t1)) {
		f->acc_bytes += bytes;
		return;
	}
	bin_flush(m, id);
	if (net_bins_same(m->bins, t0, t1)) {
		f->acc_t0 = t0;
		f->acc_bytes = bytes;
		return;
	}
	bin_links(m, id, t0, t1, bytes, 0);
}

void net_model_set_bins(net_model *m, net_bins *b)
{
	m->bins = b;
}

/*
 * Re-solves the sharing at time T and re-keys the flows the solver re-solved: each
 * first integrates its progress since t_last at the rate it had, then takes its new
 * rate and finishing time. Flows the solver did not re-solve keep their rates, so
 * their keys stay exact.
 */
static int resolve(net_model *m, double T, ms_error *err)
{
	const int *ids;
	int n = net_maxmin_solve(m->mm, &ids, err);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		int id = ids[i];
		flow *f = &m->f[id];
		if (f->rate > 0 && T > f->t_last) {
			if (m->bins)
				bin_segment(m, id, f->t_last, T, f->rate < f->remaining / (T - f->t_last) ? f->rate
													     : f->remaining / (T - f->t_last));
			f->remaining -= f->rate * (T - f->t_last);
			if (f->remaining < 0)
				f->remaining = 0;
		}
		f->t_last = T;
		f->rate = net_maxmin_var_rate(m->mm, id);
		f->key = f->rate > 0 ? T + f->remaining / f->rate : INFINITY;
		if (m->hpos[id] < 0) {
			/* It has just joined (its joining event was popped). */
			if (heap_push(m, id, err) < 0)
				return err->code;
		} else {
			heap_update(m, id);
		}
	}
	return MS_OK;
}

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
		double T0 = m->f[m->heap[0].id].origin;
		double horizon = T + fmax(T * BATCH_REL, m->tol * (T - T0)) + BATCH_ABS;
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
					if (net_maxmin_var_join(m->mm, id, err) < 0)
						return err->code;
					continue;
				}
				if (f->state == F_ACTIVE && m->bins) {
					bin_segment(m, id, f->t_last, f->key, f->rate);
					bin_flush(m, id);
				}
				if (f->state == F_ACTIVE && net_maxmin_var_leave(m->mm, id, err) < 0)
					return err->code;
				if (net__grow(&m->done, &m->done_cap, m->ndone + 1, sizeof *m->done, 256, "finished flows",
					      err) < 0)
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
		if (resolve(m, Tb, err) < 0)
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
	return net_maxmin_capacity(m->mm, link);
}

const topo_graph *net_model_graph(const net_model *m)
{
	return m->g;
}

topo_router *net_model_router(net_model *m)
{
	return m->router;
}

void net_model_counters(const net_model *m, net_maxmin_stats *out)
{
	net_maxmin_counters(m->mm, out);
}

void net_model_set_tolerance(net_model *m, double rel)
{
	MS_ASSERT(rel >= 0 && rel < 1, "tolerance %g", rel);
	m->tol = rel;
}

void net_model_reset(net_model *m)
{
	MS_ASSERT(m->live == 0, "reset with %zu flows in flight", m->live);
	m->now = 0;
	memset(m->link_bytes, 0, (size_t)m->n_links * sizeof(double));
}
