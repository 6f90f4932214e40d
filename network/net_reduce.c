/*
 * net_reduce.c - ring and tree reductions and gathers on the flow model, and their
 * analytic times on the cluster (see net_reduce.h).
 *
 * Ring state: per (ring, member) the steps whose send it has launched, finished, and the
 * steps it has received; one send per ring and member is in flight at a time, so a
 * flow's local number is ring x n + sender. Tree state: per (tree, heap position) the
 * chunks gone up from that position to its parent and down to it from its parent, and
 * whether either is in flight: one chunk per edge and direction at a time, tag k =
 * (t x n + p) x 2 + down. All arrays are sized once for max_n members. The rings are
 * laid out by one function (ring_layout) for both models, so the analytic one times
 * the rings the flow model runs.
 */
#include "network/net_reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "network/net_coll.h"
#include "topology/topo_route.h"

/* ring_layout's scratch, for up to max_n members, and its result, next (R x max_n). */
typedef struct ring_ws {
	int *dom_of, *dom_count, *dom_seen, *order; /* max_n each */
	int *start;                                 /* max_n + 1 */
	int *phys_to_group;                         /* per NVLink domain of the cluster; -1 between calls */
	int *next;                                  /* [k * n + i]: member i's next in ring k */
} ring_ws;

/* The ints ring_layout needs for max_n members, max_rings rings and n_domains NVLink
 * domains. */
static size_t ring_ws_ints(int max_n, int max_rings, int n_domains)
{
	return 5 * (size_t)max_n + 1 + (size_t)max_rings * max_n + (size_t)n_domains;
}

/* Carves them out of p (ring_ws_ints of them). */
static void ring_ws_carve(ring_ws *w, int *p, int max_n, int max_rings, int n_domains)
{
	size_t n = (size_t)max_n;
	w->dom_of = p;
	w->dom_count = w->dom_of + n;
	w->dom_seen = w->dom_count + n;
	w->order = w->dom_seen + n;
	w->start = w->order + n;                            /* n + 1 */
	w->next = w->start + n + 1;                         /* max_rings x n */
	w->phys_to_group = w->next + (size_t)max_rings * n; /* n_domains */
	for (int d = 0; d < n_domains; d++)
		w->phys_to_group[d] = -1;
}

struct net_red {
	const topo_graph *g;
	int max_n, n;
	net_red_op op;
	net_red_algo algo;
	uint32_t id;
	int *ranks;
	/* ring: [k * n + i] for ring k; the rings themselves in ring.next */
	int *launched, *sent, *recvd;
	ring_ws ring;
	int steps, rings, max_rings;
	double step_bytes;
	/* tree: [t * n + p] for heap position p of tree t */
	int *up_done, *down_done;
	unsigned char *up_busy, *down_busy;
	int K;
	double chunk, chunk_max;
	int max_chunks;
	long in_flight, flows;
	int running;
	double t0, t_end;   /* start (the flows' origin) and end */
	topo_route route;
};

const char *net_red_op_name(net_red_op op)
{
	switch (op) {
	case NET_RED_ALLREDUCE: return "allreduce";
	case NET_RED_ALLGATHER: return "allgather";
	case NET_RED_REDUCESCATTER: return "reducescatter";
	}
	return "?";
}

const char *net_red_algo_name(net_red_algo a)
{
	return a == NET_RED_RING ? "ring" : a == NET_RED_TREE ? "tree" : "?";
}

void net_red_destroy(net_red *c)
{
	if (!c)
		return;
	free(c->ranks); /* also holds the other int arrays */
	free(c->up_busy); /* also holds down_busy */
	topo_route_fini(&c->route);
	free(c);
}

net_red *net_red_create(const topo_graph *g, int max_n, ms_error *err)
{
	net_red *c = ms_calloc(err, 1, sizeof *c, "collective");
	size_t n = (size_t)max_n;
	if (!c)
		return NULL;
	c->g = g;
	c->max_n = max_n;
	c->chunk_max = 524288.0;
	c->max_chunks = 64;
	topo_route_init(&c->route);
	c->max_rings = g->spec.nics_per_node > 1 ? g->spec.nics_per_node : 1;
	{
		size_t R = (size_t)c->max_rings;
		c->ranks = ms_calloc(err, 5 * n + 3 * R * n + ring_ws_ints(max_n, c->max_rings, g->n_domains), sizeof(int),
				     "collective");
		c->up_busy = ms_calloc(err, 4 * n, 1, "collective");
		if (!c->ranks || !c->up_busy) {
			net_red_destroy(c);
			return NULL;
		}
		c->up_done = c->ranks + n;          /* 2n */
		c->down_done = c->up_done + 2 * n;  /* 2n */
		c->launched = c->down_done + 2 * n; /* R n each */
		c->sent = c->launched + R * n;
		c->recvd = c->sent + R * n;
		ring_ws_carve(&c->ring, c->recvd + R * n, max_n, c->max_rings, g->n_domains);
	}
	c->down_busy = c->up_busy + 2 * n;
	return c;
}

void net_red_set_chunks(net_red *c, double chunk_bytes, int max_chunks)
{
	MS_ASSERT(chunk_bytes > 0 && max_chunks >= 1, "tree chunks %g, at most %d", chunk_bytes, max_chunks);
	c->chunk_max = chunk_bytes;
	c->max_chunks = max_chunks;
}

static int launch(net_red *c, net_model *m, double now, int src, int dst, double bytes, long k, int streaming,
		  ms_error *err)
{
	int rc;
	if (streaming) {
		if (topo_router_route(net_model_router(m), src, dst, &c->route, err) < 0)
			return err->code;
		c->route.latency_s = 0;
		rc = net_model_add_route(m, now, c->t0, &c->route, bytes, NET_COLL_TAG(c->id, k), err);
	} else {
		rc = net_model_add(m, now, c->t0, src, dst, bytes, NET_COLL_TAG(c->id, k), err);
	}
	if (rc < 0)
		return rc;
	c->in_flight++;
	c->flows++;
	return MS_OK;
}

/* ---- ring --------------------------------------------------------------------------- */

/*
 * The rings of ranks[0..n-1] in NVLink domains of dsz GPUs, with at most max_rings of
 * them (the NICs per node); returns R and fills w->next. One ring through the members
 * in order when they share one NVLink domain or each is alone in its own; otherwise
 * R = min(max_rings, members per domain) rings, as NCCL's channels (src/graph/rings.cc:
 * every ring enters and leaves each node through a different NIC): members grouped by
 * domain in order of appearance, ring k visiting each domain's members rotated by
 * k x (members / R), so that it enters the domain at local index k (members / R) and
 * leaves it one before, on another NIC than the other rings. Each ring carries S / R.
 * O(R n); the flow model (ring_build) and the analytic time (ring_analytic) both call it.
 */
static int ring_layout(const ring_ws *w, const int *ranks, int n, int dsz, int max_rings)
{
	int nd = 0, maxm = 0, rings;
	int *order = w->order, *start = w->start;
	for (int i = 0; i < n; i++) {
		int pd = ranks[i] / dsz;
		if (w->phys_to_group[pd] < 0) {
			w->phys_to_group[pd] = nd;
			w->dom_count[nd++] = 0;
		}
		w->dom_of[i] = w->phys_to_group[pd];
		w->dom_count[w->dom_of[i]]++;
	}
	for (int i = 0; i < n; i++)
		w->phys_to_group[ranks[i] / dsz] = -1;
	start[0] = 0;
	for (int d = 0; d < nd; d++) {
		start[d + 1] = start[d] + w->dom_count[d];
		w->dom_seen[d] = 0;
		if (w->dom_count[d] > maxm)
			maxm = w->dom_count[d];
	}
	for (int i = 0; i < n; i++)
		order[start[w->dom_of[i]] + w->dom_seen[w->dom_of[i]]++] = i;
	rings = nd > 1 && maxm > 1 ? (maxm < max_rings ? maxm : max_rings) : 1;
	for (int k = 0; k < rings; k++) {
		int prev = -1, first = -1;
		for (int d = 0; d < nd; d++) {
			int m = w->dom_count[d], step = m / rings > 0 ? m / rings : 1;
			for (int q = 0; q < m; q++) {
				int i = order[start[d] + (q + k * step) % m];
				if (prev >= 0)
					w->next[(size_t)k * n + prev] = i;
				else
					first = i;
				prev = i;
			}
		}
		w->next[(size_t)k * n + prev] = first;
	}
	return rings;
}

static void ring_build(net_red *c)
{
	c->rings = ring_layout(&c->ring, c->ranks, c->n, c->g->domain_size, c->max_rings);
}

/* Member i of ring k sends its next step if its previous send and receive are done. */
static int ring_try(net_red *c, net_model *m, double now, int k, int i, ms_error *err)
{
	size_t ki = (size_t)k * c->n + i;
	int s = c->launched[ki];
	if (s >= c->steps || c->sent[ki] < s || c->recvd[ki] < s)
		return MS_OK;
	c->launched[ki]++;
	return launch(c, m, now, c->ranks[i], c->ranks[c->ring.next[ki]], c->step_bytes, (long)ki, 0, err);
}

/* ---- tree --------------------------------------------------------------------------- */

/* The member at heap position p of tree t among n: tree 1 is tree 0 mirrored. */
static int tree_pos_member(int n, int t, int p)
{
	return t == 0 ? p : n - 1 - p;
}

static int tree_member(const net_red *c, int t, int p)
{
	return tree_pos_member(c->n, t, p);
}

static double tree_chunk_bytes(const net_red *c)
{
	return c->chunk;
}

/* Position p of tree t sends its next chunk up when its children have sent it theirs. */
static int tree_up(net_red *c, net_model *m, double now, int t, int p, int streaming, ms_error *err)
{
	size_t tp = (size_t)t * c->n + p;
	int k = c->up_done[tp];
	if (p == 0 || c->up_busy[tp] || k >= c->K)
		return MS_OK;
	for (int ch = 2 * p + 1; ch <= 2 * p + 2 && ch < c->n; ch++)
		if (c->up_done[(size_t)t * c->n + ch] <= k)
			return MS_OK;
	c->up_busy[tp] = 1;
	return launch(c, m, now, c->ranks[tree_member(c, t, p)], c->ranks[tree_member(c, t, (p - 1) / 2)],
		      tree_chunk_bytes(c), (long)tp * 2, streaming && k > 0, err);
}

/* Chunks position p holds, reduced, to pass down: the root's fully reduced ones, or what
 * came down from its parent. */
static int tree_avail(const net_red *c, int t, int p)
{
	int a = c->K;
	if (p > 0)
		return c->down_done[(size_t)t * c->n + p];
	for (int ch = 1; ch <= 2 && ch < c->n; ch++)
		if (c->up_done[(size_t)t * c->n + ch] < a)
			a = c->up_done[(size_t)t * c->n + ch];
	return a;
}

/* The parent of position ch sends ch its next chunk down if it has it. */
static int tree_down(net_red *c, net_model *m, double now, int t, int ch, int streaming, ms_error *err)
{
	size_t tc = (size_t)t * c->n + ch;
	int k = c->down_done[tc], par = (ch - 1) / 2;
	if (ch == 0 || ch >= c->n || c->down_busy[tc] || k >= c->K || tree_avail(c, t, par) <= k)
		return MS_OK;
	c->down_busy[tc] = 1;
	return launch(c, m, now, c->ranks[tree_member(c, t, par)], c->ranks[tree_member(c, t, ch)], tree_chunk_bytes(c),
		      (long)tc * 2 + 1, streaming && k > 0, err);
}

/* ---- starting and progressing ------------------------------------------------------- */

int net_red_start(net_red *c, net_model *m, double now, net_red_op op, net_red_algo algo, const int *ranks, int n,
		  double bytes, uint32_t id, ms_error *err)
{
	MS_ASSERT(!c->running, "collective %u started while running", c->id);
	MS_ASSERT(n >= 1 && n <= c->max_n, "group of %d for a collective of at most %d", n, c->max_n);
	MS_ASSERT(algo == NET_RED_RING || op == NET_RED_ALLREDUCE, "a %s tree", net_red_op_name(op));
	MS_ASSERT(bytes >= 0 && isfinite(bytes), "%g bytes", bytes);
	c->n = n;
	c->t0 = now;
	c->op = op;
	c->algo = algo;
	c->id = id;
	c->t_end = now;
	c->in_flight = c->flows = 0;
	memcpy(c->ranks, ranks, (size_t)n * sizeof(int));
	if (n == 1)
		return 1;
	c->running = 1;
	if (algo == NET_RED_RING) {
		ring_build(c);
		c->steps = (op == NET_RED_ALLREDUCE ? 2 : 1) * (n - 1);
		c->step_bytes = bytes / n / c->rings;
		for (size_t q = 0; q < (size_t)c->rings * n; q++)
			c->launched[q] = c->sent[q] = c->recvd[q] = 0;
		for (int k = 0; k < c->rings; k++)
			for (int i = 0; i < n; i++)
				if (ring_try(c, m, now, k, i, err) < 0)
					return err->code;
	} else {
		double half = bytes / 2, k = ceil(half / c->chunk_max);
		k = k < 1 ? 1 : k > c->max_chunks ? c->max_chunks : k;
		c->K = (int)k;
		c->chunk = half / k;
		for (size_t q = 0; q < 2 * (size_t)n; q++) {
			c->up_done[q] = c->down_done[q] = 0;
			c->up_busy[q] = c->down_busy[q] = 0;
		}
		for (int t = 0; t < 2; t++)
			for (int p = 1; p < n; p++)
				if (tree_up(c, m, now, t, p, 0, err) < 0)
					return err->code;
	}
	if (c->in_flight == 0) {
		c->running = 0;
		return 1;
	}
	return 0;
}

int net_red_flow_done(net_red *c, net_model *m, double now, uint64_t tag, ms_error *err)
{
	long k = (long)(uint32_t)tag;
	int n = c->n;
	MS_ASSERT(c->running && NET_COLL_TAG_ID(tag) == c->id, "flow tag %llx for collective %u (running %d)",
		  (unsigned long long)tag, c->id, c->running);
	c->t_end = now;
	if (c->algo == NET_RED_RING) {
		int r = (int)(k / n), i = (int)(k % n), j = c->ring.next[k];
		c->sent[k]++;
		c->recvd[(size_t)r * n + j]++;
		if (ring_try(c, m, now, r, i, err) < 0 || ring_try(c, m, now, r, j, err) < 0)
			return err->code;
	} else {
		int down = (int)(k & 1), t = (int)((k >> 1) / n), p = (int)((k >> 1) % n), par = (p - 1) / 2;
		size_t tp = (size_t)t * n + p;
		if (!down) {
			c->up_busy[tp] = 0;
			c->up_done[tp]++;
			if (tree_up(c, m, now, t, p, 1, err) < 0 || tree_up(c, m, now, t, par, 0, err) < 0)
				return err->code;
			if (par == 0)
				for (int ch = 1; ch <= 2 && ch < n; ch++)
					if (tree_down(c, m, now, t, ch, 0, err) < 0)
						return err->code;
		} else {
			c->down_busy[tp] = 0;
			c->down_done[tp]++;
			if (tree_down(c, m, now, t, p, 1, err) < 0)
				return err->code;
			for (int ch = 2 * p + 1; ch <= 2 * p + 2 && ch < n; ch++)
				if (tree_down(c, m, now, t, ch, 0, err) < 0)
					return err->code;
		}
	}
	c->in_flight--;
	if (c->in_flight == 0) {
		if (c->algo == NET_RED_RING)
			for (size_t q = 0; q < (size_t)c->rings * n; q++)
				MS_ASSERT(c->sent[q] == c->steps, "ring stalled: %zu sent %d of %d", q, c->sent[q], c->steps);
		else
			for (int t = 0; t < 2; t++)
				for (int p = 1; p < n; p++)
					MS_ASSERT(c->down_done[(size_t)t * n + p] == c->K, "tree %d stalled at %d", t, p);
		c->running = 0;
		return 1;
	}
	return 0;
}

int net_red_running(const net_red *c)
{
	return c->running;
}

double net_red_end_time(const net_red *c)
{
	return c->t_end;
}

long net_red_flows(const net_red *c)
{
	return c->flows;
}

typedef struct iso {
	net_red *c;
	net_model *m;
	ms_error *err;
	int rc;
} iso;

static void iso_done(void *vctx, double t, uint64_t tag)
{
	iso *x = vctx;
	int rc;
	if (x->rc < 0)
		return;
	rc = net_red_flow_done(x->c, x->m, t, tag, x->err);
	if (rc < 0)
		x->rc = rc;
}

int net_red_time(net_model *m, net_red_op op, net_red_algo algo, const int *ranks, int n, double bytes,
		 double *time_s, long *flows, ms_error *err)
{
	net_red *c;
	iso x;
	int rc;
	net_model_reset(m);
	c = net_red_create(net_model_graph(m), n, err);
	if (!c)
		return err->code;
	rc = net_red_start(c, m, 0.0, op, algo, ranks, n, bytes, 0, err);
	x = (iso){c, m, err, MS_OK};
	if (rc == 0) {
		long r = net_model_advance(m, INFINITY, iso_done, &x, err);
		rc = r < 0 ? (int)r : x.rc;
		MS_ASSERT(rc < 0 || !net_red_running(c), "the model ran dry with the collective still running");
	}
	if (rc >= 0) {
		*time_s = net_red_end_time(c);
		if (flows)
			*flows = net_red_flows(c);
		rc = MS_OK;
	}
	net_red_destroy(c);
	return rc;
}

double net_red_ring_time(net_red_op op, int n, double bytes, double bw_Bps, double latency_s)
{
	int steps = (op == NET_RED_ALLREDUCE ? 2 : 1) * (n - 1);
	return steps * (latency_s + bytes / n / bw_Bps);
}

double net_red_tree_bound(int n, double bytes, double bw_Bps, double latency_s)
{
	int depth = 0;
	if (n < 2)
		return 0;
	while ((2 << depth) <= n)
		depth++;
	return (n == 2 ? bytes : 2 * bytes) / bw_Bps + 2 * depth * latency_s;
}

/* ---- analytic ----------------------------------------------------------------------- */

struct net_red_analytic {
	const topo_cluster *t;
	int max_n, max_rings;
	ring_ws ring;
	int *ints;
	double *nv_tx, *nv_rx;   /* per member */
	double *nic_tx, *nic_rx; /* per NIC of the cluster */
};

net_red_analytic *net_red_analytic_create(const topo_cluster *t, int max_members, ms_error *err)
{
	net_red_analytic *a = ms_calloc(err, 1, sizeof *a, "analytic collective");
	int n_domains = t->world / t->domain_size, n_nics = t->nodes * t->nics_per_node;
	if (!a)
		return NULL;
	MS_ASSERT(max_members >= 1 && t->domain_size >= 1 && t->nics_per_node >= 1, "group of %d, domain %d, %d NICs",
		  max_members, t->domain_size, t->nics_per_node);
	a->t = t;
	a->max_n = max_members;
	a->max_rings = t->nics_per_node;
	a->ints = ms_calloc(err, ring_ws_ints(max_members, a->max_rings, n_domains), sizeof(int), "analytic collective");
	a->nv_tx = ms_calloc(err, 2 * (size_t)max_members + 2 * (size_t)n_nics, sizeof(double), "analytic collective");
	if (!a->ints || !a->nv_tx) {
		net_red_analytic_destroy(a);
		return NULL;
	}
	ring_ws_carve(&a->ring, a->ints, max_members, a->max_rings, n_domains);
	a->nv_rx = a->nv_tx + max_members;
	a->nic_tx = a->nv_rx + max_members;
	a->nic_rx = a->nic_tx + n_nics;
	return a;
}

void net_red_analytic_destroy(net_red_analytic *a)
{
	if (!a)
		return;
	free(a->ints);
	free(a->nv_tx); /* also holds nv_rx, nic_tx, nic_rx */
	free(a);
}

/* Clears the per-member and per-NIC counters the members touch. */
static void analytic_clear(net_red_analytic *a, const int *ranks, int n)
{
	for (int i = 0; i < n; i++) {
		int nic = topo_nic_of(a->t, ranks[i]);
		a->nv_tx[i] = a->nv_rx[i] = 0;
		a->nic_tx[nic] = a->nic_rx[nic] = 0;
	}
}

/* A transfer of bytes from member i to member j: on their NVLink ports inside one domain,
 * else on their NICs. Returns 1 for NVLink. */
static int analytic_add(net_red_analytic *a, const int *ranks, int i, int j, double bytes)
{
	const topo_cluster *t = a->t;
	if (topo_domain_of(t, ranks[i]) == topo_domain_of(t, ranks[j])) {
		a->nv_tx[i] += bytes;
		a->nv_rx[j] += bytes;
		return 1;
	}
	a->nic_tx[topo_nic_of(t, ranks[i])] += bytes;
	a->nic_rx[topo_nic_of(t, ranks[j])] += bytes;
	return 0;
}

/* The busiest NVLink port's and NIC's load, either direction. */
static void analytic_max(const net_red_analytic *a, const int *ranks, int n, double *nv, double *nic)
{
	*nv = *nic = 0;
	for (int i = 0; i < n; i++) {
		int k = topo_nic_of(a->t, ranks[i]);
		*nv = fmax(*nv, fmax(a->nv_tx[i], a->nv_rx[i]));
		*nic = fmax(*nic, fmax(a->nic_tx[k], a->nic_rx[k]));
	}
}

static void ring_analytic(net_red_analytic *a, net_red_op op, const int *ranks, int n, double bytes,
			  net_red_analytic_stats *st)
{
	const hw_links *l = &a->t->links;
	int R = ring_layout(&a->ring, ranks, n, a->t->domain_size, a->max_rings), nv_hops = 0;
	double b = bytes / n / R, rho_nv, rho_nic;
	analytic_clear(a, ranks, n);
	/* Every hop of every ring, one flow per step: loads count flows. */
	for (int k = 0; k < R; k++)
		for (int i = 0; i < n; i++)
			nv_hops += analytic_add(a, ranks, i, a->ring.next[(size_t)k * n + i], 1.0);
	analytic_max(a, ranks, n, &rho_nv, &rho_nic);
	st->rings = R;
	st->steps = (op == NET_RED_ALLREDUCE ? 2 : 1) * (n - 1);
	st->rho_nvlink = (int)rho_nv;
	st->rho_nic = (int)rho_nic;
	st->nvlink_s = nv_hops > 0 ? l->nvlink_latency_s + b * rho_nv / l->nvlink_Bps : 0;
	st->nic_s = nv_hops < R * n ? l->nic_latency_s + b * rho_nic / l->nic_Bps : 0;
	st->time_s = st->steps * fmax(st->nvlink_s, st->nic_s);
}

static void tree_analytic(net_red_analytic *a, const int *ranks, int n, double bytes, net_red_analytic_stats *st)
{
	const topo_cluster *t = a->t;
	double half = bytes / 2, path_max = 0, nv, nic;
	analytic_clear(a, ranks, n);
	for (int tr = 0; tr < 2; tr++)
		for (int p = 1; p < n; p++) {
			int c = tree_pos_member(n, tr, p), q = tree_pos_member(n, tr, (p - 1) / 2);
			double path = 0;
			analytic_add(a, ranks, c, q, half); /* up */
			analytic_add(a, ranks, q, c, half); /* down */
			for (int x = p; x > 0; x = (x - 1) / 2) {
				int u = tree_pos_member(n, tr, x), v = tree_pos_member(n, tr, (x - 1) / 2);
				path += topo_domain_of(t, ranks[u]) == topo_domain_of(t, ranks[v]) ? t->links.nvlink_latency_s
												  : t->links.nic_latency_s;
			}
			path_max = fmax(path_max, path);
		}
	analytic_max(a, ranks, n, &nv, &nic);
	st->rings = 2;
	st->steps = 0;
	st->rho_nvlink = st->rho_nic = 0;
	st->nvlink_s = nv / t->links.nvlink_Bps;
	st->nic_s = nic / t->links.nic_Bps;
	st->latency_s = 2 * path_max;
	st->time_s = fmax(st->nvlink_s, st->nic_s) + st->latency_s;
}

double net_red_analytic_time(net_red_analytic *a, net_red_op op, net_red_algo algo, const int *ranks, int n,
			     double bytes, const net_costs *costs, net_red_analytic_stats *out)
{
	net_red_analytic_stats st;
	MS_ASSERT(n >= 1 && n <= a->max_n, "group of %d for an analytic collective of at most %d", n, a->max_n);
	MS_ASSERT(algo == NET_RED_RING || op == NET_RED_ALLREDUCE, "a %s tree", net_red_op_name(op));
	MS_ASSERT(bytes >= 0 && isfinite(bytes), "%g bytes", bytes);
	for (int i = 0; i < n; i++)
		MS_ASSERT(ranks[i] >= 0 && ranks[i] < a->t->world, "rank %d of a cluster of %d", ranks[i], a->t->world);
	memset(&st, 0, sizeof st);
	if (n >= 2 && bytes > 0) {
		if (algo == NET_RED_RING)
			ring_analytic(a, op, ranks, n, bytes, &st);
		else
			tree_analytic(a, ranks, n, bytes, &st);
		st.overhead_s = costs ? costs->launches * costs->launch_s : 0;
		st.time_s += st.overhead_s;
	}
	if (out)
		*out = st;
	return st.time_s;
}

double net_p2p_analytic_time(const topo_cluster *t, int src, int dst, double bytes, const net_costs *costs)
{
	const hw_links *l = &t->links;
	MS_ASSERT(src >= 0 && src < t->world && dst >= 0 && dst < t->world, "send %d -> %d on %d GPUs", src, dst,
		  t->world);
	MS_ASSERT(bytes >= 0 && isfinite(bytes), "%g bytes", bytes);
	if (src == dst || bytes <= 0)
		return 0;
	return (costs ? costs->launches * costs->launch_s + costs->peer_message_s : 0) +
	       (topo_domain_of(t, src) == topo_domain_of(t, dst) ? l->nvlink_latency_s + bytes / l->nvlink_Bps
								 : l->nic_latency_s + bytes / l->nic_Bps);
}
