/*
 * net_coll.c - flat, pairwise and hierarchical all-to-all on the flow model (see
 * net_coll.h). State per collective: the byte matrix (copied), per member its stage
 * (pairwise), per member its group-domain index (hierarchical), and the number of
 * flows in flight. Local flow numbers: i*n + j for a pair (direct or relayed), and
 * n*n + i*nd + d for member i's network transfer to domain d. The workspace is sized
 * once, for max_n members, in one block per element type.
 */
#include "network/net_coll.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct net_coll {
	const topo_graph *g;
	int max_n;
	int n, nd;
	net_a2a_algo algo;
	uint32_t id;
	int *ranks;
	double *bytes;      /* n x n */
	double *dbytes;     /* n x nd, or NULL (points into dbytes_buf) */
	double *dbytes_buf;
	int *dom;           /* member -> group domain */
	int *dom_phys;      /* group domain -> physical domain */
	int *dom_start, *dom_members; /* members of each group domain */
	int *phys_to_group; /* per physical domain, -1 if none */
	int *stage;         /* pairwise: the stage each member is in (n = finished) */
	unsigned char *sent, *recvd;
	long in_flight, completed, expected, flows;
	int running;
	double t0, t_end;
};

const char *net_a2a_algo_name(net_a2a_algo a)
{
	switch (a) {
	case NET_A2A_FLAT: return "flat";
	case NET_A2A_PAIRWISE: return "pairwise";
	case NET_A2A_HIERARCHICAL: return "hierarchical";
	}
	return "?";
}

void net_coll_destroy(net_coll *c)
{
	if (!c)
		return;
	free(c->bytes);  /* also holds dbytes_buf */
	free(c->ranks);  /* also holds the other int arrays */
	free(c->sent);   /* also holds recvd */
	free(c);
}

net_coll *net_coll_create(const topo_graph *g, int max_n, ms_error *err)
{
	net_coll *c = ms_calloc(err, 1, sizeof *c, "collective");
	size_t n = (size_t)max_n;
	if (!c)
		return NULL;
	c->g = g;
	c->max_n = max_n;
	/* The workspace is sized once, in three blocks by element type. */
	c->bytes = ms_calloc(err, 2 * n * n, sizeof(double), "collective byte matrix");
	c->ranks = ms_calloc(err, 6 * n + 1 + (size_t)g->n_domains, sizeof(int), "collective");
	c->sent = ms_calloc(err, 2 * n, 1, "collective");
	if (!c->bytes || !c->ranks || !c->sent) {
		net_coll_destroy(c);
		return NULL;
	}
	c->dbytes_buf = c->bytes + n * n;
	c->dom = c->ranks + n;
	c->dom_phys = c->dom + n;
	c->dom_start = c->dom_phys + n;      /* n + 1 */
	c->dom_members = c->dom_start + n + 1;
	c->stage = c->dom_members + n;
	c->phys_to_group = c->stage + n;     /* n_domains */
	c->recvd = c->sent + n;
	for (int d = 0; d < g->n_domains; d++)
		c->phys_to_group[d] = -1;
	return c;
}

static int launch(net_coll *c, net_model *m, double now, int src, int dst, double bytes, long k, ms_error *err)
{
	int rc = net_model_add(m, now, src, dst, bytes, NET_COLL_TAG(c->id, k), err);
	if (rc < 0)
		return rc;
	c->in_flight++;
	c->flows++;
	return MS_OK;
}

/* Pairwise: launches member i's send of its current stage if the receiver is there. */
static int pw_try(net_coll *c, net_model *m, double now, int i, ms_error *err)
{
	int n = c->n, s = c->stage[i], j;
	if (s >= n)
		return MS_OK;
	j = (i + s) % n;
	if (c->stage[j] != s)
		return MS_OK;
	return launch(c, m, now, c->ranks[i], c->ranks[j], c->bytes[(size_t)i * n + j], (long)i * n + j, err);
}

/* Member i has finished its stage: move on and start what is now possible. */
static int pw_advance(net_coll *c, net_model *m, double now, int i, ms_error *err)
{
	int n = c->n, s;
	c->sent[i] = c->recvd[i] = 0;
	s = ++c->stage[i];
	if (s >= n)
		return MS_OK;
	/* Its send of stage s, and the send towards it from (i - s) mod n. */
	if (pw_try(c, m, now, i, err) < 0)
		return err->code;
	{
		int h = (i - s % n + n) % n;
		if (h != i && c->stage[h] == s && pw_try(c, m, now, h, err) < 0)
			return err->code;
	}
	return MS_OK;
}

static int hier_legs(net_coll *c, net_model *m, double now, ms_error *err)
{
	int n = c->n, nd = c->nd, dsz = c->g->domain_size;
	for (int i = 0; i < n; i++) {
		const double *row = c->bytes + (size_t)i * n;
		for (int d = 0; d < nd; d++) {
			double legb = 0;
			int any = 0;
			if (d == c->dom[i]) {
				for (int q = c->dom_start[d]; q < c->dom_start[d + 1]; q++) {
					int j = c->dom_members[q];
					if (j != i && row[j] > 0 &&
					    launch(c, m, now, c->ranks[i], c->ranks[j], row[j], (long)i * n + j, err) < 0)
						return err->code;
				}
				continue;
			}
			for (int q = c->dom_start[d]; q < c->dom_start[d + 1]; q++) {
				legb += row[c->dom_members[q]];
				any |= row[c->dom_members[q]] > 0;
			}
			if (c->dbytes)
				legb = c->dbytes[(size_t)i * nd + d];
			if (!any && legb <= 0)
				continue;
			{
				int relay = c->dom_phys[d] * dsz + c->ranks[i] % dsz;
				if (launch(c, m, now, c->ranks[i], relay, legb, (long)n * n + (long)i * nd + d, err) < 0)
					return err->code;
			}
		}
	}
	return MS_OK;
}

int net_coll_start(net_coll *c, net_model *m, double now, net_a2a_algo algo, const int *ranks, int n,
		   const double *bytes, const double *domain_bytes, uint32_t id, ms_error *err)
{
	int dsz = c->g->domain_size;
	MS_ASSERT(!c->running, "collective %u started while running", c->id);
	MS_ASSERT(n >= 1 && n <= c->max_n, "group of %d for a collective of at most %d", n, c->max_n);
	c->n = n;
	c->algo = algo;
	c->id = id;
	c->t0 = c->t_end = now;
	c->in_flight = c->completed = c->flows = 0;
	c->expected = -1;
	memcpy(c->ranks, ranks, (size_t)n * sizeof(int));
	memcpy(c->bytes, bytes, (size_t)n * n * sizeof(double));
	for (int i = 0; i < n; i++)
		MS_ASSERT(ranks[i] >= 0 && ranks[i] < c->g->world, "member %d is GPU %d of %d", i, ranks[i], c->g->world);
	/* Group domains in order of first appearance, and their members. */
	c->nd = 0;
	for (int i = 0; i < n; i++) {
		int pd = ranks[i] / dsz;
		if (c->phys_to_group[pd] < 0) {
			c->phys_to_group[pd] = c->nd;
			c->dom_phys[c->nd++] = pd;
		}
		c->dom[i] = c->phys_to_group[pd];
	}
	memset(c->dom_start, 0, (size_t)(c->nd + 1) * sizeof(int));
	for (int i = 0; i < n; i++)
		c->dom_start[c->dom[i] + 1]++;
	for (int d = 0; d < c->nd; d++)
		c->dom_start[d + 1] += c->dom_start[d];
	{
		int *fill = c->stage; /* scratch */
		memset(fill, 0, (size_t)c->nd * sizeof(int));
		for (int i = 0; i < n; i++)
			c->dom_members[c->dom_start[c->dom[i]] + fill[c->dom[i]]++] = i;
	}
	for (int d = 0; d < c->nd; d++)
		c->phys_to_group[c->dom_phys[d]] = -1;
	c->dbytes = NULL;
	if (domain_bytes) {
		memcpy(c->dbytes_buf, domain_bytes, (size_t)n * c->nd * sizeof(double));
		c->dbytes = c->dbytes_buf;
	}
	c->running = 1;
	switch (algo) {
	case NET_A2A_FLAT:
		for (int i = 0; i < n; i++)
			for (int j = 0; j < n; j++) {
				double b = bytes[(size_t)i * n + j];
				if (i != j && b > 0 && launch(c, m, now, ranks[i], ranks[j], b, (long)i * n + j, err) < 0)
					return err->code;
			}
		break;
	case NET_A2A_PAIRWISE:
		c->expected = (long)n * (n - 1);
		for (int i = 0; i < n; i++) {
			c->stage[i] = 1;
			c->sent[i] = c->recvd[i] = 0;
		}
		for (int i = 0; i < n && n > 1; i++)
			if (pw_try(c, m, now, i, err) < 0)
				return err->code;
		break;
	case NET_A2A_HIERARCHICAL:
		if (hier_legs(c, m, now, err) < 0)
			return err->code;
		break;
	}
	if (c->in_flight == 0) {
		c->running = 0;
		return 1;
	}
	return 0;
}

int net_coll_flow_done(net_coll *c, net_model *m, double now, uint64_t tag, ms_error *err)
{
	long k = (long)(uint32_t)tag, n = c->n;
	MS_ASSERT(c->running && NET_COLL_TAG_ID(tag) == c->id, "flow tag %llx for collective %u (running %d)",
		  (unsigned long long)tag, c->id, c->running);
	c->t_end = now;
	c->completed++;
	if (c->algo == NET_A2A_PAIRWISE) {
		int i = (int)(k / n), j = (int)(k % n);
		c->sent[i] = 1;
		c->recvd[j] = 1;
		/* Advance i before j so that a pair finishing both ways starts in order. */
		if (c->sent[i] && c->recvd[i] && pw_advance(c, m, now, i, err) < 0)
			return err->code;
		if (j != i && c->sent[j] && c->recvd[j] && pw_advance(c, m, now, j, err) < 0)
			return err->code;
	} else if (c->algo == NET_A2A_HIERARCHICAL && k >= n * n) {
		long r = k - n * n;
		int i = (int)(r / c->nd), d = (int)(r % c->nd);
		int relay = c->dom_phys[d] * c->g->domain_size + c->ranks[i] % c->g->domain_size;
		const double *row = c->bytes + (size_t)i * n;
		for (int q = c->dom_start[d]; q < c->dom_start[d + 1]; q++) {
			int j = c->dom_members[q];
			if (row[j] > 0 && c->ranks[j] != relay &&
			    launch(c, m, now, relay, c->ranks[j], row[j], (long)i * n + j, err) < 0)
				return err->code;
		}
	}
	c->in_flight--;
	if (c->in_flight == 0) {
		MS_ASSERT(c->expected < 0 || c->completed == c->expected, "pairwise all-to-all stalled after %ld of %ld flows",
			  c->completed, c->expected);
		c->running = 0;
		return 1;
	}
	return 0;
}

int net_coll_running(const net_coll *c)
{
	return c->running;
}

double net_coll_start_time(const net_coll *c)
{
	return c->t0;
}

double net_coll_end_time(const net_coll *c)
{
	return c->t_end;
}

long net_coll_flows(const net_coll *c)
{
	return c->flows;
}

/* ---- timing one collective in isolation ----------------------------------------- */

typedef struct iso_ctx {
	net_coll *c;
	net_model *m;
	ms_error *err;
	int rc;
} iso_ctx;

static void iso_done(void *vctx, double t, uint64_t tag)
{
	iso_ctx *x = vctx;
	int rc;
	if (x->rc < 0)
		return;
	rc = net_coll_flow_done(x->c, x->m, t, tag, x->err);
	if (rc < 0)
		x->rc = rc;
}

int net_hot_links(const net_model *m, double time_s, int k, net_link_load *out)
{
	const double *lb = net_model_link_bytes(m);
	int nh = 0;
	for (int l = 0; l < net_model_n_links(m); l++) {
		double cap = net_model_link_capacity(m, l), u;
		int pos;
		if (!isfinite(cap) || lb[l] <= 0)
			continue;
		u = time_s > 0 ? lb[l] / (cap * time_s) : 0;
		/* Insertion into the sorted top k (ties: lower link id first). */
		pos = nh < k ? nh++ : k;
		while (pos > 0 && out[pos - 1].utilisation < u) {
			if (pos < k)
				out[pos] = out[pos - 1];
			pos--;
		}
		if (pos < k)
			out[pos] = (net_link_load){l, lb[l], u};
	}
	return nh;
}

int net_a2a_time(net_model *m, net_a2a_algo algo, const int *ranks, int n, const double *bytes,
		 const double *domain_bytes, net_a2a_result *out, ms_error *err)
{
	const topo_graph *g = net_model_graph(m);
	net_coll *c;
	iso_ctx x;
	uint64_t s0, i0, s1, i1;
	int rc;
	memset(out, 0, sizeof *out);
	net_model_reset(m);
	net_model_counters(m, &s0, &i0);
	c = net_coll_create(g, n, err);
	if (!c)
		return err->code;
	rc = net_coll_start(c, m, 0.0, algo, ranks, n, bytes, domain_bytes, 0, err);
	x = (iso_ctx){c, m, err, MS_OK};
	if (rc == 0) {
		long r = net_model_advance(m, INFINITY, iso_done, &x, err);
		rc = r < 0 ? (int)r : x.rc;
		MS_ASSERT(rc < 0 || !net_coll_running(c), "the model ran dry with the collective still running");
	}
	if (rc < 0) {
		net_coll_destroy(c);
		return rc;
	}
	out->time_s = net_coll_end_time(c);
	out->flows = net_coll_flows(c);
	net_coll_destroy(c);
	{
		const double *lb = net_model_link_bytes(m);
		for (int l = 0; l < g->n_links; l++) {
			int cls = g->links[l].cls;
			out->class_bytes[cls] += lb[l];
			if (lb[l] > out->class_max_bytes[cls])
				out->class_max_bytes[cls] = lb[l];
		}
	}
	out->n_hot = net_hot_links(m, out->time_s, NET_HOT_LINKS, out->hot);
	net_model_counters(m, &s1, &i1);
	out->solves = s1 - s0;
	out->incidences = i1 - i0;
	return MS_OK;
}
