/*
 * net_coll.c - flat, pairwise, hierarchical and NCCL all-to-all on the flow model (see
 * net_coll.h). State per collective: the byte matrix (copied), per member its stage
 * (pairwise), per member its group-domain index (hierarchical), and the number of
 * flows in flight. Local flow numbers: i*n + j for a pair (direct or relayed), and
 * n*n + i*nd + d for member i's network transfer to domain d; nccl: (i*n + j) x
 * channels + part. The workspace is sized once, for max_n members, in one block per
 * element type; the relay's and NCCL's state are allocated the first time the
 * algorithm is used, also for max_n members, and reused.
 *
 * Invariants: at most one chunk of a relay leg, and one forward of each (leg, member),
 * is in flight (DeepEP's senders and forwarders work through their buffers in order);
 * an NCCL part runs only while both its ends' channels are in its batch, so a channel
 * never starts a batch before its previous one is complete. NCCL's schedule cannot
 * deadlock: the lowest batch any channel is still in has both ends of its parts there.
 */
#include "network/net_coll.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stdint.h>

#include "topology/topo_route.h"

/* NCCL constants (src/include/device.h): ops per work batch, FIFO steps per connection. */
#define NCCL_P2P_PER_BATCH 8 /* NCCL_MAX_DEV_WORK_P2P_PER_BATCH */
#define NCCL_MAX_P2P_CHANNELS 64 /* MAXCHANNELS */
#define NCCL_LL_THRESHOLD 16384.0 /* enqueue.cc NCCL_P2P_LL_THRESHOLD */
#define NCCL_PART_ALIGN 4096.0 /* device.h ncclP2pPartBounds */

/* NCCL's state for one group (allocated on first use for max_n members). */
typedef struct nccl_state {
	int *send_peer, *recv_peer; /* [i*n + r]: member i's peers in round r */
	int *round;                 /* [i*n + j]: the round in which i sends to j */
	unsigned char *nparts;      /* [i*n + j]: parts (channels) of i's send to j */
	int *cur, *pending;         /* [i*P + c]: batch channel c of member i is in (INT_MAX: done), its
				       unfinished parts */
	int *base;                  /* [r]: first channel of round r */
	int P, ngroups_batch;       /* channels; batches (rounds / 8, rounded up) */
	long expected;
} nccl_state;

/* The relay's state (allocated on first use). */
typedef struct relay_state {
	int *K, *arrived;           /* [i*nd + d]: chunks of the leg, chunks arrived */
	int *fwd_next;              /* [i*n + j]: next chunk to forward to j */
	unsigned char *fwd_busy;    /* [i*n + j]: a forward in flight */
} relay_state;

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
	net_coll_params prm;
	nccl_state nc;
	relay_state rl;
	int nc_alloc, rl_alloc;
	topo_route route; /* scratch for flows added without latency */
};

void net_coll_params_default(net_coll_params *p)
{
	p->nccl_channels = 16;
	p->nccl_net_channels_per_peer = 0;
	p->nccl_chunk_bytes = 0;
	p->relay_chunk_bytes = 8.0 * 7168 * 2;
	p->relay_max_chunks = 8;
}

void net_coll_set_params(net_coll *c, const net_coll_params *p)
{
	MS_ASSERT(p->nccl_channels >= 1 && p->nccl_channels <= NCCL_MAX_P2P_CHANNELS &&
			  (p->nccl_channels & (p->nccl_channels - 1)) == 0,
		  "NCCL p2p channels %d: a power of 2 up to 64", p->nccl_channels);
	MS_ASSERT(p->nccl_net_channels_per_peer >= 0 && p->nccl_net_channels_per_peer <= NCCL_MAX_P2P_CHANNELS,
		  "NCCL channels per net peer %d", p->nccl_net_channels_per_peer);
	MS_ASSERT(p->nccl_chunk_bytes >= 0 && p->relay_chunk_bytes > 0 && p->relay_max_chunks >= 1,
		  "chunks %g %g %d", p->nccl_chunk_bytes, p->relay_chunk_bytes, p->relay_max_chunks);
	c->prm = *p;
}

const char *net_a2a_algo_name(net_a2a_algo a)
{
	switch (a) {
	case NET_A2A_FLAT: return "flat";
	case NET_A2A_PAIRWISE: return "pairwise";
	case NET_A2A_HIERARCHICAL: return "hierarchical";
	case NET_A2A_NCCL: return "nccl";
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
	free(c->nc.send_peer); /* also holds the other int arrays */
	free(c->nc.nparts);
	free(c->rl.K);   /* also holds arrived and fwd_next */
	free(c->rl.fwd_busy);
	topo_route_fini(&c->route);
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
	net_coll_params_default(&c->prm);
	topo_route_init(&c->route);
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
	int rc = net_model_add(m, now, c->t0, src, dst, bytes, NET_COLL_TAG(c->id, k), err);
	if (rc < 0)
		return rc;
	c->in_flight++;
	c->flows++;
	return MS_OK;
}

/* A flow that streams on behind an earlier one: same route, no latency (the pipe is full). */
static int launch_streaming(net_coll *c, net_model *m, double now, int src, int dst, double bytes, long k,
			    ms_error *err)
{
	int rc;
	if (topo_router_route(net_model_router(m), src, dst, &c->route, err) < 0)
		return err->code;
	c->route.latency_s = 0;
	rc = net_model_add_route(m, now, c->t0, &c->route, bytes, NET_COLL_TAG(c->id, k), err);
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

/* ---- hierarchical: the pipelined relay ------------------------------------------- */

static int relay_alloc(net_coll *c, ms_error *err)
{
	size_t n = (size_t)c->max_n, nd = (size_t)c->g->n_domains < n ? (size_t)c->g->n_domains : n;
	if (c->rl_alloc)
		return MS_OK;
	c->rl.K = ms_calloc(err, 2 * n * nd + n * n, sizeof(int), "relay state");
	c->rl.fwd_busy = ms_calloc(err, n * n, 1, "relay state");
	if (!c->rl.K || !c->rl.fwd_busy)
		return err->code;
	c->rl.arrived = c->rl.K + n * nd;
	c->rl.fwd_next = c->rl.arrived + n * nd;
	c->rl_alloc = 1;
	return MS_OK;
}

static int relay_of(const net_coll *c, int i, int d)
{
	return c->dom_phys[d] * c->g->domain_size + c->ranks[i] % c->g->domain_size;
}

/* Leg (i, d)'s bytes: the de-duplicated count if given, else the pairs' sum. */
static double leg_bytes(const net_coll *c, int i, int d, int *any)
{
	const double *row = c->bytes + (size_t)i * c->n;
	double b = 0;
	*any = 0;
	for (int q = c->dom_start[d]; q < c->dom_start[d + 1]; q++) {
		b += row[c->dom_members[q]];
		*any |= row[c->dom_members[q]] > 0;
	}
	return c->dbytes ? c->dbytes[(size_t)i * c->nd + d] : b;
}

/* Forwards chunk fwd_next of leg (i, dom[j]) to j; streaming: no latency (the forwarder
 * went on from its previous chunk without waiting). */
static int relay_forward(net_coll *c, net_model *m, double now, int i, int j, int streaming, ms_error *err)
{
	size_t ij = (size_t)i * c->n + j;
	int d = c->dom[j], relay = relay_of(c, i, d);
	double b = c->bytes[ij] / c->rl.K[(size_t)i * c->nd + d];
	c->rl.fwd_busy[ij] = 1;
	return streaming ? launch_streaming(c, m, now, relay, c->ranks[j], b, (long)ij, err)
			 : launch(c, m, now, relay, c->ranks[j], b, (long)ij, err);
}

static int hier_legs(net_coll *c, net_model *m, double now, ms_error *err)
{
	int n = c->n, nd = c->nd;
	double chunk = c->prm.relay_chunk_bytes;
	if (relay_alloc(c, err) < 0)
		return err->code;
	for (int i = 0; i < n; i++) {
		const double *row = c->bytes + (size_t)i * n;
		for (int j = 0; j < n; j++) {
			c->rl.fwd_next[(size_t)i * n + j] = 0;
			c->rl.fwd_busy[(size_t)i * n + j] = 0;
		}
		for (int d = 0; d < nd; d++) {
			size_t id = (size_t)i * nd + d;
			double legb, k;
			int any;
			c->rl.K[id] = c->rl.arrived[id] = 0;
			if (d == c->dom[i]) {
				for (int q = c->dom_start[d]; q < c->dom_start[d + 1]; q++) {
					int j = c->dom_members[q];
					if (j != i && row[j] > 0 &&
					    launch(c, m, now, c->ranks[i], c->ranks[j], row[j], (long)i * n + j, err) < 0)
						return err->code;
				}
				continue;
			}
			legb = leg_bytes(c, i, d, &any);
			if (!any && legb <= 0)
				continue;
			/* K equal chunks of at most the chunk size, at most relay_max_chunks. */
			k = ceil(legb / chunk);
			k = k < 1 ? 1 : k > c->prm.relay_max_chunks ? c->prm.relay_max_chunks : k;
			c->rl.K[id] = (int)k;
			if (launch(c, m, now, c->ranks[i], relay_of(c, i, d), legb / k, (long)n * n + (long)id, err) < 0)
				return err->code;
		}
	}
	return MS_OK;
}

/* Leg (i, d)'s chunk has arrived: send the next one, forward what waits for it. */
static int hier_chunk_done(net_coll *c, net_model *m, double now, int i, int d, ms_error *err)
{
	int n = c->n, relay = relay_of(c, i, d);
	size_t id = (size_t)i * c->nd + d;
	int any;
	if (++c->rl.arrived[id] < c->rl.K[id] &&
	    launch_streaming(c, m, now, c->ranks[i], relay, leg_bytes(c, i, d, &any) / c->rl.K[id],
			     (long)n * n + (long)id, err) < 0)
		return err->code;
	for (int q = c->dom_start[d]; q < c->dom_start[d + 1]; q++) {
		int j = c->dom_members[q];
		size_t ij = (size_t)i * n + j;
		if (c->bytes[ij] > 0 && c->ranks[j] != relay && !c->rl.fwd_busy[ij] &&
		    relay_forward(c, m, now, i, j, 0, err) < 0)
			return err->code;
	}
	return MS_OK;
}

/* A forward to j of leg (i, dom[j]) is done: the next arrived chunk streams on. */
static int hier_forward_done(net_coll *c, net_model *m, double now, int i, int j, ms_error *err)
{
	size_t ij = (size_t)i * c->n + j, id = (size_t)i * c->nd + c->dom[j];
	c->rl.fwd_busy[ij] = 0;
	if (++c->rl.fwd_next[ij] < c->rl.arrived[id])
		return relay_forward(c, m, now, i, j, 1, err);
	return MS_OK;
}

/* ---- nccl ------------------------------------------------------------------------- */

static int nccl_alloc(net_coll *c, ms_error *err)
{
	size_t n = (size_t)c->max_n;
	if (c->nc_alloc)
		return MS_OK;
	c->nc.send_peer = ms_calloc(err, 3 * n * n + 2 * n * NCCL_MAX_P2P_CHANNELS + n, sizeof(int), "NCCL schedule");
	c->nc.nparts = ms_calloc(err, n * n, 1, "NCCL schedule");
	if (!c->nc.send_peer || !c->nc.nparts)
		return err->code;
	c->nc.recv_peer = c->nc.send_peer + n * n;
	c->nc.round = c->nc.recv_peer + n * n;
	c->nc.cur = c->nc.round + n * n;
	c->nc.pending = c->nc.cur + n * NCCL_MAX_P2P_CHANNELS;
	c->nc.base = c->nc.pending + n * NCCL_MAX_P2P_CHANNELS;
	c->nc_alloc = 1;
	return MS_OK;
}

static int gcd_int(int a, int b)
{
	while (b) {
		int t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static int pow2_up(int x)
{
	int p = 1;
	while (p < x)
		p <<= 1;
	return p;
}

static int log2_int(int p)
{
	int l = 0;
	while ((1 << l) < p)
		l++;
	return l;
}

static unsigned reverse_bits(unsigned x, int nbits)
{
	unsigned r = 0;
	for (int b = 0; b < nbits; b++)
		r |= ((x >> b) & 1u) << (nbits - 1 - b);
	return r;
}

/*
 * NCCL's p2p schedule (src/init.cc ncclP2pSchedule), with NVLink domains as NCCL's
 * nodes and members in rank order: ranks are split into groups of groupSize (8, or
 * all local ranks on one node, reduced to a divisor of every node's ranks); round
 * (groupDelta, delta) sends to local (local + delta) of group (group + groupDelta) and
 * receives from (local - delta) of (group - groupDelta), groupDelta enumerated by the
 * quadratic sequence (x^2 + x)/2 mod pow2Up(groups), filtered to < groups.
 */
static void nccl_schedule(net_coll *c)
{
	int n = c->n, nd = c->nd, gs, ngroups, ngpow2, groupRound = 0, groupDelta = 0, round = 0, max_local = 0;
	/* Scratch (filled for real after the schedule): each group's first position in
	 * dom_members, each member's local index within its group and its group. */
	int *gfirst = c->nc.base, *local = c->nc.pending, *group = c->nc.pending + n;
	for (int d = 0; d < nd; d++)
		if (c->dom_start[d + 1] - c->dom_start[d] > max_local)
			max_local = c->dom_start[d + 1] - c->dom_start[d];
	gs = nd > 1 ? NCCL_P2P_PER_BATCH : max_local;
	for (int d = 0; d < nd; d++) {
		int lr = c->dom_start[d + 1] - c->dom_start[d];
		if (lr % gs != 0 || lr < gs)
			gs = gcd_int(gs, lr);
	}
	ngroups = n / gs;
	ngpow2 = pow2_up(ngroups);
	{
		int g = 0;
		for (int d = 0; d < nd; d++)
			for (int q = c->dom_start[d]; q < c->dom_start[d + 1]; q++) {
				int lr = q - c->dom_start[d];
				if (lr % gs == 0)
					gfirst[g++] = q;
				local[c->dom_members[q]] = lr % gs;
				group[c->dom_members[q]] = g - 1;
			}
		MS_ASSERT(g == ngroups, "NCCL schedule: %d groups of %d, expected %d", g, gs, ngroups);
	}
	do {
		if (groupDelta < ngroups) {
			for (int i = 0; i < n; i++) {
				int sg = (group[i] + groupDelta) % ngroups, rg = (group[i] - groupDelta + ngroups) % ngroups;
				for (int delta = 0; delta < gs; delta++) {
					int r = round + delta;
					c->nc.send_peer[(size_t)i * n + r] = c->dom_members[gfirst[sg] + (local[i] + delta) % gs];
					c->nc.recv_peer[(size_t)i * n + r] = c->dom_members[gfirst[rg] + (local[i] - delta + gs) % gs];
				}
			}
			round += gs;
		}
		groupRound++;
		groupDelta = (groupDelta + groupRound) & (ngpow2 - 1);
	} while (groupRound != ngpow2);
	MS_ASSERT(round == n, "NCCL schedule: %d rounds for %d ranks", round, n);
	/* Channel bases (src/include/channel.h ncclP2pChannelBaseForRound). */
	for (int r = 0; r < n; r++) {
		int b = nd > 1 ? (r / gs) * ((gs + NCCL_P2P_PER_BATCH - 1) / NCCL_P2P_PER_BATCH) + (r % gs) / NCCL_P2P_PER_BATCH
			       : r;
		c->nc.base[r] = (int)reverse_bits((unsigned)b, log2_int(c->nc.P));
	}
	for (int i = 0; i < n; i++)
		for (int r = 0; r < n; r++)
			c->nc.round[(size_t)i * n + c->nc.send_peer[(size_t)i * n + r]] = r;
}

/* Bytes of part `part` of nparts of a send of b bytes (src/include/device.h ncclP2pPartBounds). */
static double nccl_part_bytes(double b, int nparts, int part)
{
	double pb = ceil(ceil(b / nparts) / NCCL_PART_ALIGN) * NCCL_PART_ALIGN, lo = part * pb, hi = lo + pb;
	if (hi > b)
		hi = b;
	return hi > lo ? hi - lo : 0;
}

/* Parts of a send of b > 0 bytes (enqueue.cc addP2pToPlan). */
static int nccl_nparts(double b, int multi_node, double chunk, int ch_min, int ch_max)
{
	double min_part = multi_node ? chunk / 2 : chunk / 8, max_part = multi_node ? chunk : chunk * 32, part;
	double want = ceil(b / min_part);
	int nc = want < ch_min ? (int)want : ch_min;
	if (nc < 1)
		nc = 1;
	part = ceil(b / nc);
	if (part < min_part)
		part = min_part;
	while (part > max_part && nc <= ch_max / 2) {
		nc *= 2;
		part = ceil(b / nc);
	}
	return nc;
}

static long nccl_tag(const net_coll *c, int i, int j, int part)
{
	return ((long)i * c->n + j) * c->nc.P + part;
}

/* Launches part `part` of i -> j. Intra-domain parts small enough for LL carry twice
 * their bytes (LL's 8-byte lines hold 4 bytes of data and a 4-byte flag). */
static int nccl_launch(net_coll *c, net_model *m, double now, int i, int j, int part, ms_error *err)
{
	size_t ij = (size_t)i * c->n + j;
	double b = nccl_part_bytes(c->bytes[ij], c->nc.nparts[ij], part);
	if (c->dom[i] == c->dom[j] && c->bytes[ij] <= c->nc.nparts[ij] * NCCL_LL_THRESHOLD)
		b *= 2;
	return launch(c, m, now, c->ranks[i], c->ranks[j], b, nccl_tag(c, i, j, part), err);
}

/* The part of i -> j on channel ch, or -1 (no bytes there). */
static int nccl_part_on(const net_coll *c, int i, int j, int ch)
{
	size_t ij = (size_t)i * c->n + j;
	int part;
	if (i == j || c->bytes[ij] <= 0)
		return -1;
	part = (ch - c->nc.base[c->nc.round[ij]]) & (c->nc.P - 1);
	if (part >= c->nc.nparts[ij] || nccl_part_bytes(c->bytes[ij], c->nc.nparts[ij], part) <= 0)
		return -1;
	return part;
}

/* Moves channel ch of member i to its next batch with work, starting the parts whose
 * other end is there already; returns when one has work or none is left. */
static int nccl_advance(net_coll *c, net_model *m, double now, int i, int ch, ms_error *err)
{
	int n = c->n, P = c->nc.P;
	size_t ic = (size_t)i * P + ch;
	while (c->nc.pending[ic] == 0) {
		int G = c->nc.cur[ic] + 1, cnt = 0;
		if (G >= c->nc.ngroups_batch) {
			c->nc.cur[ic] = INT32_MAX;
			return MS_OK;
		}
		c->nc.cur[ic] = G;
		for (int r = G * NCCL_P2P_PER_BATCH; r < (G + 1) * NCCL_P2P_PER_BATCH && r < n; r++) {
			int s = c->nc.send_peer[(size_t)i * n + r], q = c->nc.recv_peer[(size_t)i * n + r], part;
			if ((part = nccl_part_on(c, i, s, ch)) >= 0) {
				cnt++;
				if (c->nc.cur[(size_t)s * P + ch] == G && nccl_launch(c, m, now, i, s, part, err) < 0)
					return err->code;
			}
			if ((part = nccl_part_on(c, q, i, ch)) >= 0) {
				cnt++;
				if (c->nc.cur[(size_t)q * P + ch] == G && nccl_launch(c, m, now, q, i, part, err) < 0)
					return err->code;
			}
		}
		c->nc.pending[ic] = cnt;
	}
	return MS_OK;
}

static int nccl_start(net_coll *c, net_model *m, double now, ms_error *err)
{
	int n = c->n, P = c->prm.nccl_channels, multi = c->nd > 1, ch_peer, ch_min;
	double chunk = c->prm.nccl_chunk_bytes;
	MS_ASSERT((double)n * n * P < 4294967296.0, "NCCL all-to-all of %d members on %d channels: tags overflow", n, P);
	if (nccl_alloc(c, err) < 0)
		return err->code;
	c->nc.P = P;
	c->nc.ngroups_batch = (n + NCCL_P2P_PER_BATCH - 1) / NCCL_P2P_PER_BATCH;
	if (chunk <= 0)
		chunk = multi ? 131072.0 : 524288.0;
	/* Channels per peer (graph/paths.cc ncclTopoGetNchannels, ncclTopoComputeP2pChannels):
	 * NVLink peers get 2 x links, which on NVSwitch systems reaches the channel count;
	 * network peers max(NICs, ceil(NIC GB/s / 14)), halved while a round of every peer
	 * does not fit the channels. */
	if (multi) {
		ch_peer = c->prm.nccl_net_channels_per_peer;
		if (ch_peer <= 0) {
			ch_peer = (int)ceil(c->g->spec.nic_Bps / 1e9 / 14.0);
			if (ch_peer < 1)
				ch_peer = 1;
		}
		ch_peer = pow2_up(ch_peer);
		if (ch_peer > P)
			ch_peer = P;
		while (ch_peer * ((n + NCCL_P2P_PER_BATCH - 1) / NCCL_P2P_PER_BATCH) > P && ch_peer > 1)
			ch_peer /= 2;
	} else {
		ch_peer = P;
	}
	/* enqueue.cc scheduleP2pTasksToPlan: "try to use all channels, but one channel per operation". */
	ch_min = ch_peer;
	while (ch_min * n > P && ch_min > 1)
		ch_min /= 2;
	nccl_schedule(c);
	c->nc.expected = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			size_t ij = (size_t)i * n + j;
			double b = c->bytes[ij];
			c->nc.nparts[ij] = 0;
			if (i == j || b <= 0)
				continue;
			c->nc.nparts[ij] = (unsigned char)nccl_nparts(b, multi, chunk, ch_min, ch_peer);
			for (int p = 0; p < c->nc.nparts[ij]; p++)
				c->nc.expected += nccl_part_bytes(b, c->nc.nparts[ij], p) > 0;
		}
	for (size_t k = 0; k < (size_t)n * P; k++) {
		c->nc.cur[k] = -1;
		c->nc.pending[k] = 0;
	}
	for (int i = 0; i < n; i++)
		for (int ch = 0; ch < P; ch++)
			if (nccl_advance(c, m, now, i, ch, err) < 0)
				return err->code;
	c->expected = c->nc.expected;
	return MS_OK;
}

static int nccl_flow_done(net_coll *c, net_model *m, double now, long k, ms_error *err)
{
	int P = c->nc.P, part = (int)(k % P), n = c->n;
	long ij = k / P;
	int i = (int)(ij / n), j = (int)(ij % n);
	int ch = (c->nc.base[c->nc.round[ij]] + part) & (P - 1);
	size_t a = (size_t)i * P + ch, b = (size_t)j * P + ch;
	MS_ASSERT(c->nc.pending[a] > 0 && c->nc.pending[b] > 0, "NCCL part %d of %d -> %d on channel %d not pending", part,
		  i, j, ch);
	if (--c->nc.pending[a] == 0 && nccl_advance(c, m, now, i, ch, err) < 0)
		return err->code;
	if (--c->nc.pending[b] == 0 && nccl_advance(c, m, now, j, ch, err) < 0)
		return err->code;
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
	case NET_A2A_NCCL:
		if (nccl_start(c, m, now, err) < 0)
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
		if (hier_chunk_done(c, m, now, (int)(r / c->nd), (int)(r % c->nd), err) < 0)
			return err->code;
	} else if (c->algo == NET_A2A_HIERARCHICAL && c->dom[k / n] != c->dom[k % n]) {
		if (hier_forward_done(c, m, now, (int)(k / n), (int)(k % n), err) < 0)
			return err->code;
	} else if (c->algo == NET_A2A_NCCL) {
		if (nccl_flow_done(c, m, now, k, err) < 0)
			return err->code;
	}
	c->in_flight--;
	if (c->in_flight == 0) {
		MS_ASSERT(c->expected < 0 || c->completed == c->expected, "%s all-to-all stalled after %ld of %ld flows",
			  net_a2a_algo_name(c->algo), c->completed, c->expected);
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
	return net_a2a_time_params(m, algo, NULL, ranks, n, bytes, domain_bytes, out, err);
}

int net_a2a_time_params(net_model *m, net_a2a_algo algo, const net_coll_params *p, const int *ranks, int n,
			const double *bytes, const double *domain_bytes, net_a2a_result *out, ms_error *err)
{
	const topo_graph *g = net_model_graph(m);
	net_coll *c;
	iso_ctx x;
	net_maxmin_stats st0, st1;
	int rc;
	memset(out, 0, sizeof *out);
	net_model_reset(m);
	net_model_counters(m, &st0);
	c = net_coll_create(g, n, err);
	if (!c)
		return err->code;
	if (p)
		net_coll_set_params(c, p);
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
	net_model_counters(m, &st1);
	out->solves = st1.solves - st0.solves;
	out->incidences = st1.incidences - st0.incidences;
	out->resolved = st1.resolved - st0.resolved;
	out->changed = st1.changed - st0.changed;
	return MS_OK;
}
