/*
 * sim_sched.c - Megatron-Core's pipeline schedules as item lists (see sim_sched.h).
 */
#include "sim/sim_sched.h"

#include <string.h>

int sim_sched_count(int m, int vpp, int forward_only)
{
	return (forward_only ? 1 : 2) * m * vpp;
}

int sim_sched_warmup(int pp, int vpp, int m, int r, int forward_only)
{
	int total = m * vpp, w;
	if (forward_only)
		return total;
	if (vpp == 1) {
		w = pp - r - 1;
		return w < m ? w : m;
	}
	w = (pp - r - 1) * 2 + (vpp - 1) * pp;
	return w < total ? w : total;
}

/* get_schedule_table: the k-th virtual micro-batch's (micro-batch, chunk), forward order. */
static void table_entry(int pp, int vpp, int m, int k, int *mb, int *chunk)
{
	int group = pp; /* microbatch_group_size_per_vp_stage */
	int seen = 0;
	for (int lo = 0; lo < m; lo += group) {
		int hi = lo + group >= m ? m : lo + group; /* the last group takes what is left */
		int n = (hi - lo) * vpp;
		if (k < seen + n) {
			int i = k - seen;
			*chunk = i / (hi - lo);
			*mb = lo + i % (hi - lo);
			return;
		}
		seen += n;
	}
	*mb = *chunk = -1;
}

static sim_sched_item item(int pp, int vpp, int m, int k, int backward)
{
	sim_sched_item it;
	if (vpp == 1) {
		it.mb = k;
		it.chunk = 0;
	} else {
		table_entry(pp, vpp, m, k, &it.mb, &it.chunk);
		if (backward)
			it.chunk = vpp - 1 - it.chunk;
	}
	it.backward = backward;
	return it;
}

void sim_sched_build(int pp, int vpp, int m, int r, int forward_only, sim_sched_item *out)
{
	int total = m * vpp, n = 0;
	int warm, remaining;
	if (forward_only) {
		for (int k = 0; k < total; k++)
			out[n++] = item(pp, vpp, m, k, 0);
		return;
	}
	if (pp == 1) {
		for (int k = 0; k < m; k++) {
			out[n++] = item(pp, 1, m, k, 0);
			out[n++] = item(pp, 1, m, k, 1);
		}
		return;
	}
	warm = sim_sched_warmup(pp, vpp, m, r, 0);
	remaining = total - warm;
	for (int k = 0; k < warm; k++)
		out[n++] = item(pp, vpp, m, k, 0);
	for (int k = 0; k < remaining; k++) {
		out[n++] = item(pp, vpp, m, warm + k, 0);
		out[n++] = item(pp, vpp, m, k, 1);
	}
	for (int k = remaining; k < total; k++)
		out[n++] = item(pp, vpp, m, k, 1);
}

/*
 * DualPipe (deepseek-ai/DualPipe 3da1bbe, dualpipe/dualpipe.py, DualPipe.step), rank r's
 * actions exactly as step() issues them. A "phase" there is local: for the first half of
 * the ranks phase 0 is the forward direction, for the second half the reverse (phase ^
 * is_in_second_half); the actions here carry the real direction. Each direction keeps
 * its own counters of forwards, backwards, sends and receives, as the code's
 * current_*_chunk_id lists do.
 */
typedef struct dp_gen {
	sim_dp_action *out;
	int n, cap;
	int pp, r, second, first_rank, last_rank, middle;
	int f[2], b[2], sf[2], sb[2], rf[2], rb[2];
} dp_gen;

static void dp_put(dp_gen *g, int kind, int dir, int mb, int dir1, int mb1, int zb)
{
	if (g->n < g->cap) {
		sim_dp_action *a = &g->out[g->n];
		a->kind = kind;
		a->dir = dir;
		a->mb = mb;
		a->dir1 = dir1;
		a->mb1 = mb1;
		a->zb = zb;
	}
	g->n++;
}

static int dp_first_stage(const dp_gen *g, int d)
{
	return (g->first_rank && d == 0) || (g->last_rank && d == 1);
}

static int dp_last_stage(const dp_gen *g, int d)
{
	return (g->first_rank && d == 1) || (g->last_rank && d == 0);
}

static void dp_recv_f(dp_gen *g, int ph)
{
	int d = ph ^ g->second;
	if (!dp_first_stage(g, d))
		dp_put(g, SIM_DP_RECV_F, d, g->rf[d]++, 0, 0, 0);
}

static void dp_send_f(dp_gen *g, int ph)
{
	int d = ph ^ g->second;
	if (!dp_last_stage(g, d))
		dp_put(g, SIM_DP_SEND_F, d, g->sf[d]++, 0, 0, 0);
}

static void dp_recv_b(dp_gen *g, int ph)
{
	int d = ph ^ g->second;
	if (!dp_last_stage(g, d))
		dp_put(g, SIM_DP_RECV_B, d, g->rb[d]++, 0, 0, 0);
}

static void dp_send_b(dp_gen *g, int ph)
{
	int d = ph ^ g->second;
	if (!dp_first_stage(g, d))
		dp_put(g, SIM_DP_SEND_B, d, g->sb[d]++, 0, 0, 0);
}

static void dp_commit(dp_gen *g)
{
	dp_put(g, SIM_DP_COMMIT, 0, 0, 0, 0, 0);
}

/* _forward_chunk, _backward_chunk, _forward_backward_chunk and _weight_chunk. */
static void dp_forward(dp_gen *g, int ph, int recv, int send)
{
	int d = ph ^ g->second;
	if (recv)
		dp_recv_f(g, ph);
	dp_commit(g);
	dp_put(g, SIM_DP_F, d, g->f[d]++, 0, 0, 0);
	if (send)
		dp_send_f(g, ph);
}

static void dp_backward(dp_gen *g, int ph, int zb, int recv, int send)
{
	int d = ph ^ g->second;
	if (recv)
		dp_recv_b(g, ph);
	dp_commit(g);
	dp_put(g, SIM_DP_B, d, g->b[d]++, 0, 0, zb);
	if (send)
		dp_send_b(g, ph);
}

static void dp_forward_backward(dp_gen *g, int ph0, int ph1, int recv0)
{
	int d0 = ph0 ^ g->second, d1 = ph1 ^ g->second;
	if (recv0)
		dp_recv_f(g, ph0);
	dp_recv_b(g, ph1);
	dp_commit(g);
	dp_put(g, SIM_DP_FB, d0, g->f[d0]++, d1, g->b[d1]++, 0);
	dp_send_f(g, ph0);
	dp_send_b(g, ph1);
}

static void dp_weight(dp_gen *g)
{
	dp_commit(g);
	dp_put(g, SIM_DP_W, 0, 0, 0, 0, 0);
}

int sim_dualpipe_build(int pp, int m, int r, sim_dp_action *out, int cap)
{
	dp_gen g;
	int half = pp / 2, hr = r < pp - 1 - r ? r : pp - 1 - r, hm = m / 2;
	int enable_zb = 0, s2 = hr + 1, s6 = hr + 1;
	memset(&g, 0, sizeof g);
	g.out = out;
	g.cap = cap;
	g.pp = pp;
	g.r = r;
	g.second = r >= half;
	g.first_rank = r == 0;
	g.last_rank = r == pp - 1;
	g.middle = r == half - 1 || r == half;
	/* Step 1: nF0 */
	for (int i = 0; i < (half - hr - 1) * 2; i++)
		dp_forward(&g, 0, 1, 1);
	/* Step 2: nF0F1 */
	dp_recv_f(&g, 0);
	for (int i = 0; i < s2; i++) {
		dp_forward(&g, 0, 0, g.middle);
		dp_recv_f(&g, 0);
		dp_forward(&g, 1, 1, !g.middle || i < s2 - 1);
		if (!g.middle)
			dp_send_f(&g, 0);
	}
	/* Step 3: nB1W1F1 (zero bubble) */
	for (int i = 0; i < half - hr - 1; i++) {
		dp_backward(&g, 1, 1, 1, 1);
		dp_recv_f(&g, 1);
		dp_weight(&g);
		dp_forward(&g, 1, 0, 1);
	}
	/* Step 4 (main): nF0B1F1B0 */
	for (int i = 0; i < hm - pp + hr + 1; i++) {
		if (i == 0 && g.middle) {
			/* "We don't overlap these two chunks to further reduce bubble size." */
			dp_forward(&g, 0, 0, 0);
			dp_send_f(&g, 1);
			dp_backward(&g, 1, 0, 1, 0);
			dp_send_f(&g, 0);
			dp_send_b(&g, 1);
		} else {
			dp_forward_backward(&g, 0, 1, i != 0);
		}
		dp_forward_backward(&g, 1, 0, 1);
	}
	/* Step 5: nB1F1B0 */
	for (int i = 0; i < half - hr - 1; i++) {
		dp_backward(&g, 1, 0, 1, 1);
		dp_forward_backward(&g, 1, 0, 1);
	}
	/* Step 6: nB1B0 (the second half of the chunks zero bubble) */
	for (int i = 0; i < s6; i++) {
		if (i == s6 / 2 && hr % 2 == 1)
			enable_zb = 1;
		dp_backward(&g, 1, enable_zb, 1, 1);
		if (i == s6 / 2 && hr % 2 == 0)
			enable_zb = 1;
		dp_backward(&g, 0, enable_zb, 1, 1);
	}
	/* Step 7: nWB0 (zero bubble) */
	for (int i = 0; i < half - hr - 1; i++) {
		dp_weight(&g);
		dp_backward(&g, 0, 1, 1, 1);
	}
	/* Step 8: nW */
	for (int i = 0; i < hr + 1; i++)
		dp_weight(&g);
	dp_commit(&g);
	return g.n <= cap ? g.n : -1;
}
