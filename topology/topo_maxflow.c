/*
 * topo_maxflow.c - bisection bandwidth by Dinic's max-flow (Dinic 1970): a source
 * feeds the GPUs of nodes 0 .. nodes/2 - 1, the GPUs of the other nodes drain into a
 * sink, and every directed link of the graph is an arc of its capacity (a link that
 * is not a constraint, such as PCIe at 0, gets more than all finite capacities
 * together, so it never cuts). The flow equals the minimum cut between the halves.
 *
 * The residual network is an arc list with its own adjacency (arc e and its reverse
 * e ^ 1), built per call and freed before returning; the graph is only read.
 * Capacities below 1e-9 B/s count as saturated. Time O(V^2 E) in general, far less on
 * these layered graphs; memory O(V + E).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "topology/topo_graph.h"

typedef struct maxflow {
	int V, E;        /* arcs: 2 per graph link (forward, residual) + terminals */
	int *head, *next, *to;
	double *cap;
	int *level, *iter, *queue;
} maxflow;

static int mf_arc(maxflow *m, int u, int v, double c)
{
	int e = m->E;
	m->to[e] = v;
	m->cap[e] = c;
	m->next[e] = m->head[u];
	m->head[u] = e;
	m->to[e + 1] = u;
	m->cap[e + 1] = 0;
	m->next[e + 1] = m->head[v];
	m->head[v] = e + 1;
	m->E += 2;
	return e;
}

static int mf_bfs(maxflow *m, int s, int t)
{
	int qh = 0, qt = 0;
	for (int v = 0; v < m->V; v++)
		m->level[v] = -1;
	m->level[s] = 0;
	m->queue[qt++] = s;
	while (qh < qt) {
		int u = m->queue[qh++];
		for (int e = m->head[u]; e >= 0; e = m->next[e])
			if (m->cap[e] > 1e-9 && m->level[m->to[e]] < 0) {
				m->level[m->to[e]] = m->level[u] + 1;
				m->queue[qt++] = m->to[e];
			}
	}
	return m->level[t] >= 0;
}

/* One blocking-flow augmentation by iterative DFS; returns the flow pushed. */
static double mf_dfs(maxflow *m, int s, int t)
{
	/* The DFS stack reuses queue (vertices) and the arc each vertex came through. */
	int *stack = m->queue, depth = 0;
	double total = 0;
	int *via = m->iter + m->V; /* second half of iter holds the arc into each stack slot */
	stack[0] = s;
	while (depth >= 0) {
		int u = stack[depth];
		if (u == t) {
			double f = INFINITY;
			for (int i = 1; i <= depth; i++)
				if (m->cap[via[i]] < f)
					f = m->cap[via[i]];
			for (int i = 1; i <= depth; i++) {
				m->cap[via[i]] -= f;
				m->cap[via[i] ^ 1] += f;
			}
			total += f;
			depth = 0;
			continue;
		}
		int e;
		for (e = m->iter[u]; e >= 0; e = m->next[e])
			if (m->cap[e] > 1e-9 && m->level[m->to[e]] == m->level[u] + 1)
				break;
		m->iter[u] = e;
		if (e < 0) {
			m->level[u] = -1; /* dead end */
			depth--;
			if (depth >= 0)
				m->iter[stack[depth]] = m->next[m->iter[stack[depth]]];
			continue;
		}
		stack[++depth] = m->to[e];
		via[depth] = e;
	}
	return total;
}

double topo_graph_bisection_Bps(const topo_graph *g, ms_error *err)
{
	int half = g->spec.nodes / 2, gpn = g->spec.gpus_per_node;
	int V = g->n_vertices + 2, S = g->n_vertices, T = g->n_vertices + 1;
	int Emax = 2 * (g->n_links + g->world);
	double flow = 0, big = 0;
	maxflow m;
	if (half == 0)
		return 0;
	memset(&m, 0, sizeof m);
	m.V = V;
	m.head = ms_malloc(err, (size_t)V * sizeof(int), "bisection");
	m.level = ms_malloc(err, (size_t)V * sizeof(int), "bisection");
	m.iter = ms_malloc(err, (size_t)2 * V * sizeof(int) + sizeof(int), "bisection");
	m.queue = ms_malloc(err, (size_t)V * sizeof(int) + sizeof(int), "bisection");
	m.next = ms_malloc(err, (size_t)Emax * sizeof(int), "bisection");
	m.to = ms_malloc(err, (size_t)Emax * sizeof(int), "bisection");
	m.cap = ms_malloc(err, (size_t)Emax * sizeof(double), "bisection");
	if (m.head && m.level && m.iter && m.queue && m.next && m.to && m.cap) {
		for (int v = 0; v < V; v++)
			m.head[v] = -1;
		for (int l = 0; l < g->n_links; l++)
			if (isfinite(g->links[l].bw_Bps))
				big += g->links[l].bw_Bps;
		big = big * 2 + 1;
		for (int l = 0; l < g->n_links; l++)
			mf_arc(&m, g->links[l].src, g->links[l].dst, isfinite(g->links[l].bw_Bps) ? g->links[l].bw_Bps : big);
		for (int r = 0; r < g->world; r++) {
			if (r / gpn < half)
				mf_arc(&m, S, r, big);
			else
				mf_arc(&m, r, T, big);
		}
		while (mf_bfs(&m, S, T)) {
			for (int v = 0; v < V; v++)
				m.iter[v] = m.head[v];
			flow += mf_dfs(&m, S, T);
		}
	} else {
		flow = -1;
	}
	free(m.head);
	free(m.level);
	free(m.iter);
	free(m.queue);
	free(m.next);
	free(m.to);
	free(m.cap);
	return flow;
}
