/*
 * sim_dispatch.c - the dispatchers' wire formats and transfer matrices (see
 * sim_dispatch.h, where every byte count cites its source). O(P^2 + P nd) per call.
 */
#include "sim/sim_dispatch.h"

#include <math.h>
#include <string.h>

static double elem_bytes(scn_dtype d)
{
	static const double b[] = {2, 2, 1, 4};
	return b[d];
}

static double fp8_scales(scn_dtype d, int hidden)
{
	return d == SCN_DTYPE_FP8 ? 4.0 * ((hidden + 127) / 128) : 0.0;
}

static double align16(double b)
{
	return 16.0 * ceil(b / 16.0);
}

void sim_wire_init(sim_wire *w, const scn_scenario *s)
{
	double H = s->model.hidden, K = s->routing.top_k;
	double xd = H * elem_bytes(s->model.dispatch_dtype), sd = fp8_scales(s->model.dispatch_dtype, s->model.hidden);
	double xc = H * elem_bytes(s->model.combine_dtype), sc = fp8_scales(s->model.combine_dtype, s->model.hidden);
	memset(w, 0, sizeof *w);
	w->kind = s->network.dispatcher;
	w->dedup = s->network.dedup;
	w->reduce = s->network.combine_reduce;
	w->naive_to = xd + sd;
	w->naive_back = xc + sc;
	switch (w->kind) {
	case SCN_DISP_MEGATRON:
		w->to_intra = w->to_net = xd + sd + 4.0;
		w->back_intra = w->back_net = xc + sc;
		w->launches_to = 2; /* the tokens' all-to-all, then the probabilities' */
		w->launches_back = 1;
		break;
	case SCN_DISP_DEEPEP:
		w->to_intra = xd + sd + 4.0 + 8.0 * K + 4.0 * K;
		w->to_net = align16(xd + 8.0 + sd + 4.0 * K + 4.0 * K);
		w->back_intra = xc + sc + 4.0 + 4.0 * K;
		w->back_net = align16(xc + sc + 8.0 + 4.0 * K);
		w->launches_to = 2; /* notify_dispatch (the layout), then dispatch */
		w->launches_back = 1;
		break;
	case SCN_DISP_DEEPEP_LL:
		w->to_intra = w->to_net = 16.0 + xd + sd;
		w->back_intra = w->back_net = xc + sc + 4.0 * (H / 128.0);
		w->launches_to = w->launches_back = 1;
		break;
	}
}

/* The member of domain index d (relative to the group's first) at member i's position
 * inside its own domain: DeepEP's relay on i's rail; else the domain's first member. */
static int relay_of(const sim_counts *c, int i, int d)
{
	int ds = c->domain_size, first_dom = c->ranks[0] / ds;
	int target = (first_dom + d) * ds + c->ranks[i] % ds;
	/* Members are an arithmetic progression of ranks (stride 1, or etp: rt_ep_member_rank). */
	int stride = c->P > 1 ? c->ranks[1] - c->ranks[0] : 1;
	if (stride > 0 && (target - c->ranks[0]) % stride == 0) {
		int r = (target - c->ranks[0]) / stride;
		if (r >= 0 && r < c->P && c->ranks[r] == target)
			return r;
	}
	for (int m = 0; m < c->P; m++)
		if (c->ranks[m] / ds - first_dom == d)
			return m;
	return -1;
}

void sim_dispatch_transfers(const sim_wire *w, int to_experts, const sim_counts *c, double *T, double *M,
			    double naive[2])
{
	const int P = c->P, ds = c->domain_size, first_dom = c->ranks[0] / ds;
	const double naive_row = to_experts ? w->naive_to : w->naive_back;
	scn_dedup mode;
	memset(T, 0, (size_t)P * P * sizeof *T);
	if (M)
		memset(M, 0, (size_t)P * P * sizeof *M);
	if (naive) {
		naive[0] = naive[1] = 0;
		for (int i = 0; i < P; i++)
			for (int j = 0; j < P; j++)
				if (i != j)
					naive[c->ranks[i] / ds != c->ranks[j] / ds] +=
						(double)c->pairs[(size_t)i * P + j] * naive_row;
	}
	mode = to_experts ? w->dedup : w->reduce;
	if (mode != SCN_DEDUP_NODE) {
		/* Direct: a copy per (token, expert) pair, or one per destination GPU (summed
		 * per GPU on the way back), straight to the GPU and back. */
		const int32_t *count = mode == SCN_DEDUP_GPU ? c->gpu_tokens : c->pairs;
		for (int i = 0; i < P; i++)
			for (int j = 0; j < P; j++) {
				double n = (double)count[(size_t)i * P + j];
				int same = c->ranks[i] / ds == c->ranks[j] / ds;
				double row = to_experts ? (same ? w->to_intra : w->to_net) : (same ? w->back_intra : w->back_net);
				size_t at = to_experts ? (size_t)i * P + j : (size_t)j * P + i;
				if (i == j || n <= 0)
					continue;
				T[at] = n * row;
				if (M)
					M[at] = w->kind == SCN_DISP_DEEPEP_LL ? n : 1.0;
			}
		return;
	}
	for (int i = 0; i < P; i++) {
		int di = c->ranks[i] / ds - first_dom;
		for (int j = 0; j < P; j++) {
			double n = (double)c->gpu_tokens[(size_t)i * P + j];
			int dj = c->ranks[j] / ds - first_dom;
			if (i == j || n <= 0)
				continue;
			if (dj == di) {
				/* Inside the domain: once per destination GPU, directly. */
				if (to_experts)
					T[(size_t)i * P + j] += n * w->to_intra;
				else
					T[(size_t)j * P + i] += n * w->back_intra;
			} else {
				/* The NVLink leg between the relay on i's rail and j. */
				int r = relay_of(c, i, dj);
				if (r != j) {
					if (to_experts)
						T[(size_t)r * P + j] += n * w->to_net;
					else
						T[(size_t)j * P + r] += n * w->back_net;
				}
			}
		}
		/* The network leg: once per (token, destination domain), i <-> its relay there. */
		for (int d = 0; d < c->nd_stride; d++) {
			double n = (double)c->dom_tokens[(size_t)i * c->nd_stride + d];
			int r;
			if (d == di || n <= 0)
				continue;
			r = relay_of(c, i, d);
			if (to_experts)
				T[(size_t)i * P + r] += n * w->to_net;
			else
				T[(size_t)r * P + i] += n * w->back_net;
		}
	}
	if (M)
		for (size_t k = 0; k < (size_t)P * P; k++)
			M[k] = T[k] > 0 ? 1.0 : 0.0;
}
