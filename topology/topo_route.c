/*
 * topo_route.c - shortest-path routing with ECMP (see topo_route.h).
 *
 * For a destination NIC t, D(v) is the hop distance from network vertex v to t,
 * computed from the cached reverse BFS of t's attachment a: D(t) = 0 and, when a is
 * t's only switch, D(v) = dist_a(v) + 1 for v != t. The equal-cost DAG from the
 * source NIC follows links u -> w with w a switch or t and D(w) = D(u) - 1.
 */
#include "topology/topo_route.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_rng.h"

#define UNREACHED 0xFFFFu

struct topo_router {
	const topo_graph *g;
	topo_ecmp ecmp;
	uint64_t seed;
	int *attach;       /* per NIC: the vertex its distances are kept for */
	uint16_t **dist;   /* per vertex: reverse BFS distances to it, or NULL */
	int *queue;
	double *frac;      /* per vertex, DAG walks */
	uint32_t *stamp;
	uint32_t gen;
	int *front, *next_front;
};

topo_ecmp topo_router_ecmp(const topo_router *r)
{
	return r->ecmp;
}

void topo_route_init(topo_route *r)
{
	memset(r, 0, sizeof *r);
}

void topo_route_fini(topo_route *r)
{
	free(r->link);
	free(r->weight);
	memset(r, 0, sizeof *r);
}

static int route_push(topo_route *r, int link, double w, ms_error *err)
{
	if (r->n == r->cap) {
		int nc = r->cap ? r->cap * 2 : 16;
		int *l = realloc(r->link, (size_t)nc * sizeof *l);
		double *ww;
		if (!l)
			return MS_ERROR(err, MS_ENOMEM, "out of memory for a route of %d links", nc);
		r->link = l;
		ww = realloc(r->weight, (size_t)nc * sizeof *ww);
		if (!ww)
			return MS_ERROR(err, MS_ENOMEM, "out of memory for a route of %d links", nc);
		r->weight = ww;
		r->cap = nc;
	}
	r->link[r->n] = link;
	r->weight[r->n] = w;
	r->n++;
	return MS_OK;
}

void topo_router_destroy(topo_router *r)
{
	if (!r)
		return;
	if (r->dist)
		for (int v = 0; v < r->g->n_vertices; v++)
			free(r->dist[v]);
	free(r->dist);
	free(r->attach);
	free(r->queue);
	free(r->frac);
	free(r->stamp);
	free(r->front);
	free(r->next_front);
	free(r);
}

topo_router *topo_router_create(const topo_graph *g, topo_ecmp ecmp, uint64_t seed, ms_error *err)
{
	topo_router *r = ms_calloc(err, 1, sizeof *r, "router");
	int V = g->n_vertices;
	if (!r)
		return NULL;
	r->g = g;
	r->ecmp = ecmp;
	r->seed = seed;
	r->attach = ms_calloc(err, (size_t)g->n_nics + 1, sizeof(int), "router");
	r->dist = ms_calloc(err, (size_t)V, sizeof(uint16_t *), "router");
	r->queue = ms_calloc(err, (size_t)V, sizeof(int), "router");
	r->frac = ms_calloc(err, (size_t)V, sizeof(double), "router");
	r->stamp = ms_calloc(err, (size_t)V, sizeof(uint32_t), "router");
	r->front = ms_calloc(err, (size_t)V, sizeof(int), "router");
	r->next_front = ms_calloc(err, (size_t)V, sizeof(int), "router");
	if (!r->attach || !r->dist || !r->queue || !r->frac || !r->stamp || !r->front || !r->next_front) {
		topo_router_destroy(r);
		return NULL;
	}
	for (int n = 0; n < g->n_nics; n++) {
		int v = g->v_nic0 + n, sw_out = -1, sw_in = -1, outs = 0, ins = 0;
		for (int i = g->out_start[v]; i < g->out_start[v + 1]; i++) {
			const topo_link *l = &g->links[g->out_link[i]];
			if (l->cls != HW_LINK_PCIE) {
				outs++;
				sw_out = l->dst;
			}
		}
		for (int i = g->in_start[v]; i < g->in_start[v + 1]; i++) {
			const topo_link *l = &g->links[g->in_link[i]];
			if (l->cls != HW_LINK_PCIE) {
				ins++;
				sw_in = l->src;
			}
		}
		/* A NIC hanging from one switch shares that switch's distances. */
		r->attach[n] = outs == 1 && ins == 1 && sw_in == sw_out && g->v[sw_in].kind == TOPO_V_SWITCH ? sw_in : v;
	}
	return r;
}

/* Reverse BFS from key over network vertices; only switches (and key) forward. */
static const uint16_t *distances(topo_router *r, int key, ms_error *err)
{
	const topo_graph *g = r->g;
	uint16_t *d;
	int qh = 0, qt = 0;
	if (r->dist[key])
		return r->dist[key];
	d = ms_malloc(err, (size_t)g->n_vertices * sizeof *d, "route distances");
	if (!d)
		return NULL;
	for (int v = 0; v < g->n_vertices; v++)
		d[v] = UNREACHED;
	d[key] = 0;
	r->queue[qt++] = key;
	while (qh < qt) {
		int x = r->queue[qh++];
		if (x != key && g->v[x].kind != TOPO_V_SWITCH)
			continue;
		for (int i = g->in_start[x]; i < g->in_start[x + 1]; i++) {
			int y = g->links[g->in_link[i]].src;
			int k = g->v[y].kind;
			if (d[y] != UNREACHED || (k != TOPO_V_SWITCH && k != TOPO_V_NIC))
				continue;
			d[y] = (uint16_t)(d[x] + 1);
			r->queue[qt++] = y;
		}
	}
	r->dist[key] = d;
	return d;
}

typedef struct target {
	const uint16_t *d;
	int t;      /* destination NIC vertex */
	int shift;  /* 1 when d is the attachment switch's distances */
} target;

static inline int D(const target *tg, int v)
{
	if (v == tg->t)
		return 0;
	return tg->d[v] == UNREACHED ? -1 : tg->d[v] + tg->shift;
}

static inline int dag_next(const topo_graph *g, const target *tg, int u, int du, int i, int *w_out)
{
	const topo_link *l = &g->links[g->out_link[i]];
	int w = l->dst;
	if ((w != tg->t && g->v[w].kind != TOPO_V_SWITCH) || D(tg, w) != du - 1)
		return 0;
	(void)u;
	*w_out = w;
	return 1;
}

static int make_target(topo_router *r, int nic_t, target *tg, ms_error *err)
{
	const topo_graph *g = r->g;
	int key = r->attach[nic_t - g->v_nic0];
	tg->d = distances(r, key, err);
	if (!tg->d)
		return err->code;
	tg->t = nic_t;
	tg->shift = key != nic_t;
	return MS_OK;
}

/*
 * Walks the equal-cost DAG from NIC s to tg->t level by level. With out non-NULL it
 * appends the links with their fractions (even) or one hashed path (hash); with
 * paths non-NULL it counts paths instead.
 */
static int walk(topo_router *r, int s, const target *tg, uint64_t hkey, topo_route *out, double *paths, ms_error *err)
{
	const topo_graph *g = r->g;
	int ds = D(tg, s), nf = 1;
	MS_ASSERT(ds > 0, "NIC %d does not reach NIC %d (D = %d); the topology check should have caught it", s, tg->t, ds);
	if (out)
		out->hops += ds;
	if (out && r->ecmp == TOPO_ECMP_HASH) {
		int u = s;
		for (int du = ds; du > 0; du--) {
			int cnt = 0, pick, w;
			for (int i = g->out_start[u]; i < g->out_start[u + 1]; i++)
				cnt += dag_next(g, tg, u, du, i, &w);
			MS_ASSERT(cnt > 0, "no next hop from vertex %d at distance %d", u, du);
			pick = cnt == 1 ? 0 : (int)(ms_stream_seed(r->seed, hkey, (uint64_t)u, 0x45434d50u, 0) % (uint64_t)cnt);
			for (int i = g->out_start[u]; i < g->out_start[u + 1]; i++)
				if (dag_next(g, tg, u, du, i, &w) && pick-- == 0) {
					if (route_push(out, g->out_link[i], 1.0, err) < 0)
						return err->code;
					out->latency_s += g->links[g->out_link[i]].latency_s;
					u = w;
					break;
				}
		}
		return MS_OK;
	}
	/* Even split or path counting: frac carries the fraction (or the path count). */
	if (++r->gen == 0) {
		memset(r->stamp, 0, (size_t)g->n_vertices * sizeof *r->stamp);
		r->gen = 1;
	}
	r->front[0] = s;
	r->stamp[s] = r->gen;
	r->frac[s] = 1.0;
	for (int du = ds; du > 0; du--) {
		int nn = 0;
		for (int f = 0; f < nf; f++) {
			int u = r->front[f], cnt = 0, w;
			for (int i = g->out_start[u]; i < g->out_start[u + 1]; i++)
				cnt += dag_next(g, tg, u, du, i, &w);
			for (int i = g->out_start[u]; i < g->out_start[u + 1]; i++) {
				double share;
				if (!dag_next(g, tg, u, du, i, &w))
					continue;
				share = paths ? r->frac[u] : r->frac[u] / cnt;
				if (out) {
					if (route_push(out, g->out_link[i], share, err) < 0)
						return err->code;
					out->latency_s += share * g->links[g->out_link[i]].latency_s;
				}
				if (r->stamp[w] != r->gen) {
					r->stamp[w] = r->gen;
					r->frac[w] = 0;
					r->next_front[nn++] = w;
				}
				r->frac[w] += share;
			}
		}
		{
			int *t = r->front;
			r->front = r->next_front;
			r->next_front = t;
		}
		nf = nn;
	}
	if (paths)
		*paths = r->frac[tg->t];
	return MS_OK;
}

int topo_router_route(topo_router *r, int src, int dst, topo_route *out, ms_error *err)
{
	const topo_graph *g = r->g;
	int ns, nt;
	target tg;
	MS_ASSERT(src >= 0 && src < g->world && dst >= 0 && dst < g->world, "GPU %d or %d out of 0..%d", src, dst,
		  g->world - 1);
	out->n = 0;
	out->latency_s = 0;
	out->hops = 0;
	if (src == dst)
		return MS_OK;
	if (g->domain_size > 1 && topo_graph_domain_of(g, src) == topo_graph_domain_of(g, dst)) {
		if (route_push(out, g->gpu_up[src], 1.0, err) < 0 || route_push(out, g->gpu_down[dst], 1.0, err) < 0)
			return err->code;
		out->latency_s = g->links[g->gpu_up[src]].latency_s + g->links[g->gpu_down[dst]].latency_s;
		out->hops = 2;
		return MS_OK;
	}
	if (route_push(out, g->pcie_up[src], 1.0, err) < 0)
		return err->code;
	out->latency_s = g->links[g->pcie_up[src]].latency_s;
	out->hops = 1;
	ns = g->v_nic0 + topo_graph_nic_of(g, src);
	nt = g->v_nic0 + topo_graph_nic_of(g, dst);
	if (ns != nt) {
		if (make_target(r, nt, &tg, err) < 0 ||
		    walk(r, ns, &tg, ((uint64_t)(uint32_t)src << 32) | (uint32_t)dst, out, NULL, err) < 0)
			return err->code;
	}
	if (route_push(out, g->pcie_down[dst], 1.0, err) < 0)
		return err->code;
	out->latency_s += g->links[g->pcie_down[dst]].latency_s;
	out->hops++;
	return MS_OK;
}

double topo_router_count_paths(topo_router *r, int src, int dst, ms_error *err)
{
	const topo_graph *g = r->g;
	int ns, nt;
	double paths = 1;
	target tg;
	if (src == dst || (g->domain_size > 1 && topo_graph_domain_of(g, src) == topo_graph_domain_of(g, dst)))
		return 1;
	ns = g->v_nic0 + topo_graph_nic_of(g, src);
	nt = g->v_nic0 + topo_graph_nic_of(g, dst);
	if (ns == nt)
		return 1;
	if (make_target(r, nt, &tg, err) < 0 || walk(r, ns, &tg, 0, NULL, &paths, err) < 0)
		return err->code;
	return paths;
}
