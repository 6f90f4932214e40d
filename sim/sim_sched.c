/*
 * sim_sched.c - Megatron-Core's pipeline schedules as item lists (see sim_sched.h).
 */
#include "sim/sim_sched.h"

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
