/*
 * sim_run.c - the whole step on the event engine (see sim_run.h and sim_internal.h).
 *
 * Each step first builds the routing plan (sim_plan.c, on the run's worker threads):
 * for every routing sample, MoE layer and EP group, every GPU's expert, permute and
 * unpermute times and every group's analytic all-to-all times (and, for the flow model,
 * its token counts). Then the engine plays the stages' programs (sim_prog.c): a GPU is a
 * cursor over its stage's ops; a compute op is one event at its end; a collective waits
 * for every member of its group (TP, CP, EP or data-parallel), then takes its analytic
 * time (net_alltoall.h, net_reduce.h) or runs as flows (sim_flow.c); a send is
 * asynchronous for the sender and lands in the receiver's mailbox after its transfer; a
 * receive blocks until it has landed: so pipeline bubbles come out of the schedule.
 * Gradient buckets run on each GPU's second (data-parallel) stream, beside its compute.
 *
 * Accounting: every second of a GPU's compute stream goes to one phase (compute,
 * collective, waiting for a collective's last member, the pipeline bubble, the data-
 * parallel wait, the optimizer, the end-of-step barrier), so a GPU's phases add up to
 * the step time exactly.
 *
 * Memory: the programs (ops per stage, about items x layers per chunk x 20), the plan
 * (samples x MoE layers x GPUs x 4 doubles; flow model: samples x MoE layers x EP groups
 * per stage x ep^2 int32 counts), mailboxes (GPUs x 2 x micro-batches x chunks doubles)
 * and the results (passes x layers x GPUs x phases doubles). sim_estimate.c mirrors
 * these sizes: change both together.
 */
#include "sim/sim_run.h"

#include "sim/sim_internal.h"
#include "topology/topo_rank.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sim_phase_name(int phase)
{
	static const char *const names[SIM_NPHASES] = {"dense", "permute", "dispatch", "expert", "combine", "unpermute",
						       "wait",	"tp",	   "pp_bubble", "dp",	  "optimizer"};
	return phase >= 0 && phase < SIM_NPHASES ? names[phase] : "?";
}

const char *sim_mem_part_name(int part)
{
	static const char *const names[SIM_MEM_NPARTS] = {"weights", "grads", "optimizer", "activations",
							 "kv_cache", "buffers", "reserved"};
	return part >= 0 && part < SIM_MEM_NPARTS ? names[part] : "?";
}

static const int gk_par[GK_N] = {PAR_TP, PAR_CP, PAR_EP, PAR_DP_CP, PAR_EDP, PAR_ETP};

int sim_ep_group(const runner *R, int rank)
{
	int sr = R->world / R->pp, etp = R->s->parallel.etp, off = rank % sr;
	return rank / sr * R->Gs + off / (R->P * etp) * etp + off % etp;
}

int sim_group_index(const runner *R, int gk, int rank)
{
	int gi = R->group_base[gk] + par_group_of(&R->lay, (par_kind)gk_par[gk], rank);
	return R->dp_alias ? R->dp_alias[gi] : gi;
}

static int gk_of(int what)
{
	switch (what) {
	case C_TP_AG:
	case C_TP_RS: return GK_TP;
	case C_CP_AG:
	case C_CP_RS: return GK_CP;
	case C_ETP_AG:
	case C_ETP_RS: return GK_ETP;
	default: return GK_EP;
	}
}

static void account(runner *R, int rank, int pass, int layer, int phase, double d)
{
	sim_result *r = R->res;
	double x = d * R->inv_steps;
	r->step_phase_s[(size_t)rank * SIM_NPHASES + phase] += x;
	r->steps_phase_s[((size_t)R->step * r->world + rank) * SIM_NPHASES + phase] += d;
	if (layer >= 0 && layer < r->all_layers) {
		size_t i = sim_phase_index(r, pass, layer, rank, phase);
		r->phase_s[i] += x;
		if (r->steps_layer_phase_s)
			r->steps_layer_phase_s[(size_t)R->step * r->passes * r->all_layers * r->world * SIM_NPHASES + i] += d;
	}
	if (R->tl)
		sim_tl_account(R, rank, pass, layer, phase, d);
}


static int mailbox(const runner *R, int dir, int mb, int chunk)
{
	return (dir * R->m + mb) * R->chunks + chunk;
}

/* The analytic time of group gi's collective, which has just started. */
static double coll_time(runner *R, int gi)
{
	group_state *gs = &R->groups[gi];
	if (gs->what == C_A2A_TO || gs->what == C_A2A_BACK) {
		int moe = R->moe_of[gs->layer], smp = sim_sample_of(R, gs->mb, gs->half);
		int local = sim_ep_local(R, gs->members[0]);
		const double *tg = R->plan_group + (((size_t)smp * R->n_moe + moe) * R->Gs + local) * 2;
		return gs->what == C_A2A_TO ? tg[0] : tg[1];
	}
	{
		net_red_op op = gs->what == C_TP_AG || gs->what == C_CP_AG || gs->what == C_ETP_AG ? NET_RED_ALLGATHER
				: gs->what == C_DP			 ? (net_red_op)R->progs[par_stage_of(&R->lay, gs->members[0])]
								.buckets[gs->bucket]
								.op
									 : NET_RED_REDUCESCATTER;
		return net_red_analytic_time(R->red_ws, op, NET_RED_RING, gs->members, gs->n, gs->bytes, &R->red_costs, NULL);
	}
}

/* Bytes (net_reduce.h's S) of a TP, CP or ETP collective of rank's op. */
static double coll_bytes(const runner *R, int rank, const sim_op *op)
{
	const scn_scenario *s = R->s;
	double T = R->T; /* a unit's tokens: half a micro-batch with two_batch */
	int what = op->what;
	if (what == C_ETP_AG || what == C_ETP_RS) { /* the rows the ETP group received (sim_plan.c) */
		int moe = R->moe_of[op->layer], smp = sim_sample_of(R, op->mb, op->half);
		return sim_plan_row(R, smp, moe, rank)[SIM_T_ETP] * s->model.hidden * s->model.dtype_bytes;
	}
	if (what == C_TP_AG || what == C_TP_RS)
		return T * s->parallel.tp * s->model.hidden * s->model.dtype_bytes;
	if (what == C_CP_AG || what == C_CP_RS) /* K and V of the whole sequence, this rank's heads */
		return T * s->parallel.cp * R->arch.kv_bytes;
	return 0;
}

static int advance(runner *R, int rank);

/* The last member has arrived: the collective starts now. */
static int coll_start(runner *R, int gi)
{
	group_state *gs = &R->groups[gi];
	double now = sim_now(R->eng);
	gs->start = now;
	if (R->flow)
		return sim_flow_start(R, gi);
	return sim_schedule_new(R->eng, now + coll_time(R, gi), SIM_EV_GROUP_DONE, gi, 0, 0);
}

/* rank arrives at group gi's collective. Returns 1 when it has started. */
static int coll_arrive(runner *R, int gi, int rank, int what, int layer, int mb, int half, int pass, int bucket,
		       double bytes, int stream)
{
	group_state *gs = &R->groups[gi];
	(void)rank;
	if (gs->arrived == 0) {
		gs->what = what;
		gs->layer = layer;
		gs->mb = mb;
		gs->pass = pass;
		gs->bucket = bucket;
		gs->bytes = bytes;
		gs->stream = stream;
		gs->half = half;
	}
	MS_ASSERT(gs->what == what && gs->layer == layer && gs->mb == mb && gs->bucket == bucket && gs->half == half,
		  "group %d: rank %d at collective %d of layer %d mb %d, the group at %d of layer %d mb %d", gi, rank, what,
		  layer, mb, gs->what, gs->layer, gs->mb);
	if (++gs->arrived == gs->n)
		return coll_start(R, gi) < 0 ? -1 : 1;
	return 0;
}

/*
 * SM sharing (schedule.overlap): while rank's communication stream runs an all-to-all,
 * its kernels hold schedule.comm_sms of the GPU's SMs and computation runs at the rest's
 * share (R->comm_rate). The running compute op's remaining work is brought up to date
 * and its end moved whenever the rate changes.
 */
static void set_rate(runner *R, int rank, double rate)
{
	gpu_state *g = &R->gpus[rank];
	double now = sim_now(R->eng);
	if (g->cur_ev) {
		g->work_left -= (now - g->t_last) * g->rate;
		if (g->work_left < 0)
			g->work_left = 0;
		g->t_last = now;
		sim_reschedule(R->eng, g->cur_ev, now + g->work_left / rate);
	}
	g->rate = rate;
}

/* What a communication-stream collective reports under (sim_result's comm_*_s). */
static int stream_kind(int phase)
{
	return phase == SIM_PH_DISPATCH ? 0 : phase == SIM_PH_COMBINE ? 1 : 2;
}

/* The communication stream of rank runs its next queued collective, if idle. */
static int ep_kick(runner *R, int rank)
{
	gpu_state *g = &R->gpus[rank];
	const sim_prog *p = sim_prog_of(R, rank);
	while (!g->ep_busy && g->ep_next < g->ep_queued) {
		const sim_ep_item *it = &p->ep_items[g->ep_next];
		int gi = sim_group_index(R, gk_of(it->what), rank);
		sim_op o;
		if (R->groups[gi].n == 1) {
			g->ep_next++;
			continue;
		}
		memset(&o, 0, sizeof o);
		o.what = (uint8_t)it->what;
		o.layer = (int16_t)it->layer;
		o.mb = it->mb;
		o.half = it->half;
		g->ep_busy = 1;
		g->ep_start = sim_now(R->eng);
		set_rate(R, rank, R->comm_rate);
		if (coll_arrive(R, gi, rank, it->what, it->layer, it->mb, it->half, it->pass, g->ep_next,
				coll_bytes(R, rank, &o), 2) < 0)
			return sim_engine_error(R->eng)->code;
	}
	if (g->blocked && g->pc >= 0 && g->pc < p->n_ops) {
		const sim_op *op = &p->ops[g->pc];
		if (op->kind == OP_EP_WAIT && g->ep_next > op->aux) {
			double w = sim_now(R->eng) - g->arrived;
			account(R, rank, op->pass, op->layer, op->phase, w);
			R->res->comm_exposed_s[stream_kind(op->phase)] += w * R->inv_steps / R->world;
			g->blocked = 0;
			return advance(R, rank);
		}
	}
	return MS_OK;
}

/* The data-parallel stream of rank runs its next queued bucket, if idle. */
static int dp_kick(runner *R, int rank)
{
	gpu_state *g = &R->gpus[rank];
	const sim_prog *p = sim_prog_of(R, rank);
	while (!g->dp_busy && g->dp_next < g->dp_queued) {
		const sim_bucket *b = &p->buckets[g->dp_next];
		int gi = sim_group_index(R, b->gk, rank);
		if (R->groups[gi].n == 1) {
			g->dp_next++;
			continue;
		}
		g->dp_busy = 1;
		g->dp_start = sim_now(R->eng);
		if (coll_arrive(R, gi, rank, C_DP, -1, 0, 0, 1, g->dp_next, b->bytes, 1) < 0)
			return sim_engine_error(R->eng)->code;
	}
	if (!g->dp_busy && g->dp_next == g->dp_queued && g->blocked) {
		const sim_op *op = &p->ops[g->pc];
		if (op->kind == OP_DP_WAIT) {
			account(R, rank, 1, -1, SIM_PH_DP, sim_now(R->eng) - g->arrived);
			g->blocked = 0;
			return advance(R, rank);
		}
	}
	return MS_OK;
}

/* A send from rank of (dir, mb, chunk): to the next (dir 0) or previous virtual stage. */
static int do_send(runner *R, int rank, const sim_op *op)
{
	int dir = op->pass, stage = par_stage_of(&R->lay, rank);
	int v = sim_vstage(R, stage, op->chunk), nv = sim_nvstages(R);
	int tv = dir ? v - 1 : v + 1, tchunk, tstage = sim_vstage_rank(R, tv, op->chunk, &tchunk);
	int dst, n;
	const int32_t *pp_members;
	double bytes = (double)R->s->workload.tokens_per_rank * R->s->model.hidden * R->s->model.dtype_bytes;
	int key = mailbox(R, dir, op->mb, tchunk);
	MS_ASSERT(tv >= 0 && tv < nv, "send from virtual stage %d to %d", v, tv);
	par_group_members(&R->lay, PAR_PP, par_group_of(&R->lay, PAR_PP, rank), &pp_members, &n);
	dst = pp_members[tstage];
	R->sent[(size_t)dst * 2 * R->m * R->chunks + key] = sim_now(R->eng);
	if (R->tl)
		sim_timeline_send(R->tl, rank, dst, key, dir, op->mb, sim_now(R->eng), bytes);
	if (R->flow)
		return sim_flow_send(R, rank, dst, dir, bytes, key);
	return sim_schedule_new(R->eng, sim_now(R->eng) + net_p2p_analytic_time(&R->topo, rank, dst, bytes, &R->red_costs),
				SIM_EV_ARRIVE, dst, key, 0);
}

int sim_arrived(runner *R, int dst, int key)
{
	gpu_state *g = &R->gpus[dst];
	size_t at = (size_t)dst * 2 * R->m * R->chunks + key;
	double now = sim_now(R->eng), w = R->inv_steps / R->world;
	R->arrive[at] = now;
	if (R->tl)
		sim_timeline_landed(R->tl, dst, key, now);
	/* the transfer's time, and what of it the receiver waited for */
	R->res->pp_total_s += (now - R->sent[at]) * w;
	if (g->blocked && R->wait_key[dst] == key) {
		R->res->pp_exposed_s += (now - fmax(g->arrived, R->sent[at])) * w;
		account(R, dst, 0, -1, SIM_PH_BUBBLE, now - g->arrived);
		g->blocked = 0;
		R->wait_key[dst] = -1;
		return advance(R, dst);
	}
	return MS_OK;
}

/* Runs rank's ops from the next one until one takes time or blocks. */
static int advance(runner *R, int rank)
{
	gpu_state *g = &R->gpus[rank];
	const sim_prog *p = sim_prog_of(R, rank);
	double now = sim_now(R->eng);
	for (;;) {
		const sim_op *op;
		if (++g->pc == p->n_ops) {
			g->finished = now;
			R->ranks_done++;
			return MS_OK;
		}
		op = &p->ops[g->pc];
		switch (op->kind) {
		case OP_COMPUTE: {
			double d = sim_op_time(R, rank, op);
			if (!R->streams || d <= 0) {
				account(R, rank, op->pass, op->layer, op->phase, d);
				if (d <= 0)
					continue;
				return sim_schedule_new(R->eng, now + d, SIM_EV_GPU, rank, 0, 0);
			}
			/* Under overlap: timed at the rate left by the communication stream's
			 * kernels, accounted when it ends (gpu_done). */
			g->cur_ev = sim_event_new(R->eng);
			if (!g->cur_ev)
				return sim_engine_error(R->eng)->code;
			g->cur_ev->type = SIM_EV_GPU;
			g->cur_ev->a = rank;
			g->work_left = d;
			g->t_last = g->op_start = now;
			g->rate = g->ep_busy ? R->comm_rate : 1.0;
			return sim_schedule(R->eng, g->cur_ev, now + d / g->rate);
		}
		case OP_EP_LAUNCH:
			MS_ASSERT(op->aux == g->ep_queued, "rank %d: all-to-all %d launched, %d queued", rank, op->aux,
				  g->ep_queued);
			g->ep_queued++;
			if (ep_kick(R, rank) < 0)
				return sim_engine_error(R->eng)->code;
			continue;
		case OP_EP_WAIT:
			if (g->ep_next > op->aux)
				continue;
			g->blocked = 1;
			g->arrived = now;
			return MS_OK;
		case OP_COLL: {
			int gk = gk_of(op->what), gi = sim_group_index(R, gk, rank), rc;
			if (R->groups[gi].n == 1)
				continue;
			g->blocked = 1;
			g->arrived = now;
			rc = coll_arrive(R, gi, rank, op->what, op->layer, op->mb, op->half, op->pass, -1,
					 coll_bytes(R, rank, op), 0);
			return rc < 0 ? sim_engine_error(R->eng)->code : MS_OK;
		}
		case OP_SEND:
			if (do_send(R, rank, op) < 0)
				return sim_engine_error(R->eng)->code;
			continue;
		case OP_RECV: {
			int key = mailbox(R, op->pass, op->mb, op->chunk);
			if (R->arrive[(size_t)rank * 2 * R->m * R->chunks + key] >= 0)
				continue;
			g->blocked = 1;
			g->arrived = now;
			R->wait_key[rank] = key;
			return MS_OK;
		}
		case OP_DP_LAUNCH:
			MS_ASSERT(op->aux == g->dp_queued, "rank %d: bucket %d launched, %d queued", rank, op->aux, g->dp_queued);
			g->dp_queued += op->n;
			if (dp_kick(R, rank) < 0)
				return sim_engine_error(R->eng)->code;
			continue;
		case OP_DP_WAIT:
			if (!g->dp_busy && g->dp_next == g->dp_queued)
				continue;
			g->blocked = 1;
			g->arrived = now;
			return MS_OK;
		default: MS_ASSERT(0, "op kind %d", op->kind); return MS_EINVAL;
		}
	}
}

/* Group gi's collective has finished now: every member records it and moves on. */
int sim_group_done(runner *R, int gi)
{
	group_state *gs = &R->groups[gi];
	double now = sim_now(R->eng), d = now - gs->start;
	int dp = gs->stream == 1, ep = gs->stream == 2;
	gs->arrived = 0;
	if (R->flow && !dp && gs->pass == 0 && (gs->what == C_A2A_TO || gs->what == C_A2A_BACK)) {
		int moe = R->moe_of[gs->layer];
		(gs->what == C_A2A_TO ? R->res->dispatch_s : R->res->combine_s)[moe] +=
			d * R->inv_steps / ((double)R->Gs * R->m * R->units);
	}
	if (!dp && gs->pass == 1 && (gs->what == C_A2A_TO || gs->what == C_A2A_BACK)) /* backward: the mirror */
		(gs->what == C_A2A_BACK ? R->res->dispatch_bwd_s : R->res->combine_bwd_s)[R->moe_of[gs->layer]] +=
			d * R->inv_steps / ((double)R->Gs * R->m * R->units);
	for (int i = 0; i < gs->n; i++) {
		int rank = gs->members[i];
		gpu_state *g = &R->gpus[rank];
		if (ep) {
			const sim_ep_item *it = &sim_prog_of(R, rank)->ep_items[g->ep_next];
			R->res->comm_total_s[stream_kind(it->phase)] += (now - g->ep_start) * R->inv_steps / R->world;
			if (R->tl)
				sim_tl_stream_done(R, rank, SIM_TL_COMM, now);
			g->ep_busy = 0;
			g->ep_next++;
			set_rate(R, rank, 1.0);
			if (ep_kick(R, rank) < 0)
				return sim_engine_error(R->eng)->code;
			continue;
		}
		if (dp) {
			R->res->dp_stream_s += (now - g->dp_start) * R->inv_steps / R->world;
			if (R->tl)
				sim_tl_stream_done(R, rank, SIM_TL_DP, now);
			g->dp_busy = 0;
			g->dp_next++;
			if (dp_kick(R, rank) < 0)
				return sim_engine_error(R->eng)->code;
			continue;
		}
		{
			const sim_op *op = &sim_prog_of(R, rank)->ops[g->pc];
			account(R, rank, op->pass, op->layer, SIM_PH_WAIT, gs->start - g->arrived);
			account(R, rank, op->pass, op->layer, op->phase, d);
		}
		g->blocked = 0;
		if (advance(R, rank) < 0)
			return sim_engine_error(R->eng)->code;
	}
	return MS_OK;
}

static int handle(void *model, sim_engine *eng, sim_event *ev)
{
	runner *R = model;
	(void)eng;
	switch (ev->type) {
	case SIM_EV_GPU: {
		gpu_state *g = &R->gpus[ev->a];
		if (g->cur_ev) { /* an overlapped compute op ends: accounted at its real length */
			const sim_op *op = &sim_prog_of(R, ev->a)->ops[g->pc];
			account(R, ev->a, op->pass, op->layer, op->phase, sim_now(R->eng) - g->op_start);
			g->cur_ev = NULL; /* the engine frees it */
		}
		return advance(R, ev->a);
	}
	case SIM_EV_GROUP_DONE: return sim_group_done(R, ev->a);
	case SIM_EV_NET: return sim_flow_event(R);
	case SIM_EV_FLOW_START: return sim_flow_launched(R, ev->a);
	case SIM_EV_ARRIVE: return sim_arrived(R, ev->a, ev->b);
	default: break;
	}
	MS_ASSERT(0, "unknown event type %d", (int)ev->type);
	return MS_EINVAL;
}

void sim_result_free(sim_result *r)
{
	if (!r)
		return;
	free(r->step_time_s);
	free(r->pairs);
	free(r->dropped_pairs);
	free(r->tokens);
	free(r->dropped_tokens);
	free(r->phase_s);
	free(r->step_phase_s);
	free(r->rank_load);
	free(r->expert_demand);
	free(r->dispatch_s);
	free(r->combine_s);
	free(r->dispatch_bwd_s);
	free(r->combine_bwd_s);
	free(r->steps_phase_s);
	free(r->steps_layer_phase_s);
	free(r->expert_routed);
	free(r->expert_kept);
	tr_stats_free(r->kept_labels);
	free(r->step_specialisation);
	free(r->layer_dropped_tokens);
	free(r->layer_dropped_pairs);
	free(r->slot_expert);
	free(r->slot_pairs);
	free(r->traffic);
	free(r->link_name);
	free(r->link_class);
	free(r->link_capacity_Bps);
	free(r->link_bytes);
	free(r->link_bin_bytes);
	free(r->mem_stage_bytes);
	free(r->moe_stage);
	free(r);
}

static sim_result *result_alloc(const runner *R, ms_error *err)
{
	const scn_scenario *s = R->s;
	sim_result *r = ms_calloc(err, 1, sizeof *r, "results");
	size_t S, L, W, E, AL;
	if (!r)
		return NULL;
	r->world = scn_world(s);
	r->layers = R->n_moe;
	r->all_layers = R->layers + R->mtp;
	r->microbatches = R->m;
	r->passes = R->passes;
	r->steps = s->workload.steps;
	r->ep = s->parallel.ep;
	r->groups = r->world / r->ep;
	r->experts = s->model.experts;
	/* Tokens computed per step: every micro-batch of every pipeline replica, each GPU's
	 * MoE share (tokens_per_rank) times the GPUs its sequence is split over. */
	r->tokens_per_step = s->workload.microbatches * s->parallel.dp * s->workload.tokens_per_rank *
			     ((int64_t)s->parallel.tp * (s->workload.mode == SCN_MODE_DECODE ? 1 : s->parallel.cp));
	r->hot_nvlink_rank = r->hot_nic = -1;
	r->hot_nvlink_layer = r->hot_nic_layer = -1;
	S = (size_t)r->steps;
	L = (size_t)r->layers;
	AL = (size_t)r->all_layers;
	W = (size_t)r->world;
	E = (size_t)r->experts;
	r->step_time_s = ms_calloc(err, S, sizeof(double), "results");
	r->pairs = ms_calloc(err, S, sizeof(int64_t), "results");
	r->dropped_pairs = ms_calloc(err, S, sizeof(int64_t), "results");
	r->tokens = ms_calloc(err, S, sizeof(int64_t), "results");
	r->dropped_tokens = ms_calloc(err, S, sizeof(int64_t), "results");
	r->phase_s = ms_calloc(err, (size_t)r->passes * AL * W * SIM_NPHASES, sizeof(double), "per-phase results");
	r->step_phase_s = ms_calloc(err, W * SIM_NPHASES, sizeof(double), "per-phase results");
	r->rank_load = ms_calloc(err, L * W, sizeof(double), "results");
	r->expert_demand = ms_calloc(err, L * E, sizeof(double), "results");
	r->dispatch_s = ms_calloc(err, L, sizeof(double), "results");
	r->combine_s = ms_calloc(err, L, sizeof(double), "results");
	r->moe_stage = ms_calloc(err, L + 1, sizeof(int), "results");
	r->dispatch_bwd_s = ms_calloc(err, L + 1, sizeof(double), "results");
	r->combine_bwd_s = ms_calloc(err, L + 1, sizeof(double), "results");
	r->steps_phase_s = ms_calloc(err, S * W * SIM_NPHASES, sizeof(double), "per-step results");
	r->expert_routed = ms_calloc(err, S * L * E + 1, sizeof(int64_t), "per-step results");
	r->expert_kept = ms_calloc(err, S * L * E + 1, sizeof(int64_t), "per-step results");
	r->layer_dropped_tokens = ms_calloc(err, S * L + 1, sizeof(int64_t), "per-step results");
	r->layer_dropped_pairs = ms_calloc(err, S * L + 1, sizeof(int64_t), "per-step results");
	if (R->rec && R->rec->layer_steps && !(r->steps_layer_phase_s = ms_calloc(err, S * (size_t)r->passes * AL * W * SIM_NPHASES,
										     sizeof(double), "per-step results"))) {
		sim_result_free(r);
		return NULL;
	}
	if (R->rec && R->rec->traffic && !(r->traffic = ms_calloc(err, 2 * L * W * W + 1, sizeof(double), "traffic matrices"))) {
		sim_result_free(r);
		return NULL;
	}
	r->stage_gpus = r->world / s->parallel.pp;
	if (r->moe_stage)
		for (size_t l = 0; l < L; l++)
			r->moe_stage[l] = R->stage_of_moe[l];
	if (!r->moe_stage || !r->step_time_s || !r->pairs || !r->dropped_pairs || !r->tokens || !r->dropped_tokens || !r->phase_s ||
	    !r->step_phase_s || !r->rank_load || !r->expert_demand || !r->dispatch_s || !r->combine_s || !r->dispatch_bwd_s ||
	    !r->combine_bwd_s || !r->steps_phase_s || !r->expert_routed || !r->expert_kept || !r->layer_dropped_tokens ||
	    !r->layer_dropped_pairs) {
		sim_result_free(r);
		return NULL;
	}
	return r;
}

static void runner_fini(runner *R)
{
	sim_record_release(R);
	sim_plan_fini(R);
	sim_flow_fini(R);
	sim_prog_free(R);
	sim_engine_destroy(R->eng);
	net_red_analytic_destroy(R->red_ws);
	par_layout_fini(&R->lay);
	free(R->plan_rank);
	free(R->plan_group);
	free(R->plan_slots);
	free(R->gstats);
	free(R->gnaive);
	free(R->gpus);
	for (int gi = 0; R->groups && gi < R->n_groups; gi++)
		free(R->groups[gi].owned);
	free(R->groups);
	free(R->dp_alias);
	free(R->arrive);
	free(R->sent);
	free(R->wait_key);
	free(R->moe_of);
	free(R->stage_of_moe);
	free(R->mb_uses);
	free(R->route_s);
}

int sim_run_scenario(const scn_scenario *s, int threads, sim_result **out, ms_error *err)
{
	sim_inputs in;
	int rc;
	*out = NULL;
	if ((rc = sim_inputs_open(&in, s, NULL, err)) < 0)
		return rc;
	rc = sim_run(&in, threads, out, err);
	sim_inputs_close(&in);
	return rc;
}

/* The memory estimate (models/moe_memory.h) into the result, and the MFU's peak. */
static int result_memory(runner *R, ms_error *err)
{
	moe_memory m;
	const hw_gpu *g = hw_gpu_find(R->s->cluster.gpu);
	sim_result *r = R->res;
	int rc = moe_memory_estimate(R->s, &R->arch, &m, err);
	if (rc < 0)
		return rc;
	r->mem_peak_bytes = m.peak_bytes;
	r->mem_capacity_bytes = m.capacity;
	r->mem_peak_stage = m.peak;
	r->mem_stages = m.nstages;
	r->mem_stage_bytes = ms_calloc(err, (size_t)m.nstages, sizeof(double), "results");
	if (!r->mem_stage_bytes) {
		moe_memory_free(&m);
		return MS_ENOMEM;
	}
	for (int i = 0; i < m.nstages; i++)
		r->mem_stage_bytes[i] = m.stage[i].total;
	{
		const moe_memory_stage *st = &m.stage[m.peak];
		double parts[SIM_MEM_NPARTS] = {st->weights, st->grads, st->optimizer, st->activations, st->kv_cache,
						st->buffers, st->reserved};
		memcpy(r->mem_parts, parts, sizeof parts);
	}
	moe_memory_free(&m);
	if (g)
		/* MFU's peak is the dense BF16 rate (TF32 for fp32 models) whatever the GEMMs'
		 * dtype, as DeepSeek and Megatron report it, so that FP8 runs compare. */
		r->peak_flops = R->s->model.dtype == SCN_DTYPE_FP32 ? g->fp32_flops : g->bf16_flops;
	return MS_OK;
}

int sim_layout_init(par_layout *l, const scn_scenario *s, ms_error *err)
{
	par_shape sh;
	memset(&sh, 0, sizeof sh);
	sh.world = scn_world(s);
	sh.tp = s->parallel.tp;
	sh.cp = s->parallel.cp;
	sh.pp = s->parallel.pp;
	sh.vpp = s->parallel.vpp;
	sh.ep = s->parallel.ep;
	sh.etp = s->parallel.etp;
	sh.dp = s->parallel.dp;
	sh.layers = s->model.layers;
	sh.first_stage_layers = s->parallel.first_stage_layers;
	sh.last_stage_layers = s->parallel.last_stage_layers;
	/* Megatron's experts % ep rule is for its even placement; replicas (load_aware) and a
	 * placement file bring their own (checked by the scenario and the placement). */
	sh.experts = s->routing.placement == SCN_PLACE_LOAD_AWARE ? s->model.experts + s->routing.redundant_experts
		     : s->routing.placement == SCN_PLACE_FILE	   ? s->parallel.ep
								   : s->model.experts;
	sh.heads = s->model.heads;
	sh.kv_heads = s->model.attention == SCN_ATTN_MLA ? s->model.heads : s->model.kv_heads;
	sh.ffn_hidden = s->model.dense_ffn_hidden;
	sh.moe_ffn_hidden = s->model.ffn_hidden;
	sh.seq_len = s->workload.mode == SCN_MODE_DECODE ? (int)(s->parallel.tp * s->parallel.cp) : s->workload.seq_len;
	sh.global_batch = s->workload.global_batch;
	sh.micro_batch = s->workload.micro_batch;
	return par_layout_init(l, &sh, err);
}

/*
 * DualPipe keeps two copies of every stage (rank r and pp - 1 - r hold the same two
 * stages; deepseek-ai/DualPipe examples/example_dualpipe.py sums each parameter's
 * gradients over the pair): their data-parallel groups reduce as one group of twice the
 * size, a rank's own group's members then the mirror's. The union lives in the group of
 * the first half's stage; the mirror's group is an alias of it.
 */
static int dualpipe_groups(runner *R, ms_error *err)
{
	int sr = R->world / R->pp;
	R->dp_alias = ms_calloc(err, (size_t)R->n_groups, sizeof *R->dp_alias, "DualPipe groups");
	if (!R->dp_alias)
		return err->code;
	for (int gi = 0; gi < R->n_groups; gi++)
		R->dp_alias[gi] = gi;
	for (int gk = GK_DPD; gk <= GK_DPE; gk++)
		for (int g = 0; g < par_ngroups(&R->lay, (par_kind)gk_par[gk]); g++) {
			group_state *gs = &R->groups[R->group_base[gk] + g];
			int stage = gs->members[0] / sr, mirror, mg;
			int *u;
			if (stage >= R->pp / 2)
				continue;
			mirror = (R->pp - 1 - stage) * sr + gs->members[0] % sr;
			mg = R->group_base[gk] + par_group_of(&R->lay, (par_kind)gk_par[gk], mirror);
			u = ms_calloc(err, 2 * (size_t)gs->n, sizeof *u, "DualPipe groups");
			if (!u)
				return err->code;
			for (int i = 0; i < gs->n; i++) {
				u[i] = gs->members[i];
				u[gs->n + i] = R->groups[mg].members[i];
			}
			gs->members = u;
			gs->owned = u;
			gs->n *= 2;
			R->dp_alias[mg] = R->group_base[gk] + g;
		}
	return MS_OK;
}

/* Layers, MoE indices, groups, mailboxes. */
static int runner_setup(runner *R, ms_error *err)
{
	const scn_scenario *s = R->s;
	int mtp, nl;
	R->P = s->parallel.ep;
	R->world = scn_world(s);
	R->G = R->world / R->P;
	R->pp = s->parallel.pp;
	R->vpp = s->parallel.vpp;
	R->Gs = R->G / R->pp;
	R->E = s->model.experts;
	R->layers = s->model.layers;
	R->m = (int)s->workload.microbatches;
	R->units = s->schedule.overlap == SCN_OVERLAP_TWO_BATCH ? 2 : 1;
	R->dualpipe = s->schedule.overlap == SCN_OVERLAP_DUALPIPE;
	R->chunks = R->dualpipe ? 2 : R->vpp;
	R->tp_overlap = s->training.tp_comm_overlap && s->parallel.tp > 1;
	R->streams = s->schedule.overlap != SCN_OVERLAP_NONE || R->tp_overlap;
	R->samples = s->workload.routed_microbatches * R->units;
	R->T = (double)s->workload.tokens_per_rank / R->units;
	R->passes = s->workload.mode == SCN_MODE_TRAINING ? 2 : 1;
	R->inv_steps = 1.0 / s->workload.steps;
	/* MTP modules train the model to predict further tokens; inference runs without them
	 * (models/moe_arch.c and moe_memory.c count them in training only). */
	mtp = R->mtp = R->passes == 2 ? s->model.mtp_layers : 0;
	nl = R->layers + mtp;
	R->moe_of = ms_calloc(err, (size_t)nl, sizeof *R->moe_of, "layers");
	R->mb_uses = ms_calloc(err, (size_t)R->samples, sizeof *R->mb_uses, "routing samples");
	if (!R->moe_of || !R->mb_uses)
		return MS_ENOMEM;
	R->n_moe = 0;
	for (int l = 0; l < nl; l++)
		R->moe_of[l] = l >= R->layers || moe_arch_is_moe(&R->arch, l) ? R->n_moe++ : -1;
	R->stage_of_moe = ms_calloc(err, (size_t)R->n_moe + 1, sizeof *R->stage_of_moe, "layers");
	if (!R->stage_of_moe)
		return MS_ENOMEM;
	for (int v = 0; v < R->pp * R->vpp; v++) {
		int lo, hi;
		scn_stage_layers(s, v, &lo, &hi);
		for (int l = lo; l < hi; l++)
			if (R->moe_of[l] >= 0)
				R->stage_of_moe[R->moe_of[l]] = v % R->pp;
	}
	for (int l = R->layers; l < nl; l++) /* MTP modules: on the last virtual stage */
		R->stage_of_moe[R->moe_of[l]] = (R->pp * R->vpp - 1) % R->pp;
	for (int i = 0; i < R->m; i++)
		for (int h = 0; h < R->units; h++)
			R->mb_uses[sim_sample_of(R, i, h)] += 1.0;
	if (R->streams) {
		const hw_gpu *gpu = hw_gpu_find(s->cluster.gpu);
		R->comm_rate = gpu && gpu->sms > s->schedule.comm_sms ? 1.0 - (double)s->schedule.comm_sms / gpu->sms : 1.0;
	}
	if (R->units > 1) {
		/* The router routes half a micro-batch at a time. */
		R->route_s = malloc(sizeof *R->route_s);
		if (!R->route_s)
			return MS_ERROR(err, MS_ENOMEM, "out of memory");
		*R->route_s = *s;
		R->route_s->workload.tokens_per_rank = s->workload.tokens_per_rank / 2;
	}
	/* Groups of every kind, one flat array. */
	R->n_groups = 0;
	for (int gk = 0; gk < GK_N; gk++) {
		R->group_base[gk] = R->n_groups;
		R->n_groups += par_ngroups(&R->lay, (par_kind)gk_par[gk]);
	}
	R->groups = ms_calloc(err, (size_t)R->n_groups, sizeof *R->groups, "group states");
	R->gpus = ms_calloc(err, (size_t)R->world, sizeof *R->gpus, "GPU states");
	R->arrive = ms_calloc(err, (size_t)R->world * 2 * R->m * R->chunks, sizeof *R->arrive, "pipeline mailboxes");
	R->wait_key = ms_calloc(err, (size_t)R->world, sizeof *R->wait_key, "pipeline mailboxes");
	R->sent = ms_calloc(err, (size_t)R->world * 2 * R->m * R->chunks, sizeof *R->sent, "pipeline mailboxes");
	if (!R->groups || !R->gpus || !R->arrive || !R->sent || !R->wait_key)
		return MS_ENOMEM;
	for (int gk = 0; gk < GK_N; gk++)
		for (int g = 0; g < par_ngroups(&R->lay, (par_kind)gk_par[gk]); g++) {
			group_state *gs = &R->groups[R->group_base[gk] + g];
			const int32_t *mem;
			par_group_members(&R->lay, (par_kind)gk_par[gk], g, &mem, &gs->n);
			gs->members = mem;
			gs->gk = gk;
		}
	if (R->dualpipe && dualpipe_groups(R, err) < 0)
		return err->code;
	/* The router places EP group g's members as Megatron's expert grid does
	 * (rt_ep_member_rank); the layout's groups must be those. */
	for (int g = 0; g < par_ngroups(&R->lay, PAR_EP); g++) {
		const group_state *gs = &R->groups[R->group_base[GK_EP] + g];
		int rg = sim_ep_group(R, gs->members[0]);
		for (int i = 0; i < gs->n; i++)
			MS_ASSERT(gs->members[i] == rt_ep_member_rank(rg, i, R->P, s->parallel.etp, R->world / R->pp),
				  "EP group %d member %d is rank %d", g, i, gs->members[i]);
	}
	return MS_OK;
}

int sim_run(const sim_inputs *in, int threads, sim_result **out, ms_error *err)
{
	const scn_scenario *s = in->s;
	runner R;
	int rc = MS_OK;
	double t0 = 0;
	memset(&R, 0, sizeof R);
	*out = NULL;
	R.s = s;
	R.in = in;
	R.rec = in->record;
	R.tl = R.rec ? R.rec->timeline : NULL;
	if ((rc = moe_model_init(&R.model, s, in->profile, err)) < 0 ||
	    (rc = moe_arch_init(&R.arch, s, err)) < 0 || (rc = topo_cluster_init(&R.topo, s, in->profile, err)) < 0)
		return rc;
	if ((rc = sim_layout_init(&R.lay, s, err)) < 0)
		return rc;
	if ((rc = runner_setup(&R, err)) < 0)
		goto done;
	R.nd_max = topo_rank_span_max((R.P - 1) * s->parallel.etp + 1, R.topo.domain_size); /* as the router sizes it */
	R.emodel = R.model;
	if (s->parallel.etp > 1) {
		/* An ETP rank's experts: the same GEMMs at 1 / etp of the width. */
		scn_scenario *e = malloc(sizeof *e);
		if (!e) {
			rc = MS_ERROR(err, MS_ENOMEM, "out of memory");
			goto done;
		}
		*e = *s;
		e->model.ffn_hidden = s->model.ffn_hidden / s->parallel.etp;
		rc = moe_model_init(&R.emodel, e, in->profile, err);
		free(e);
		if (rc < 0)
			goto done;
	}
	sim_wire_init(&R.wire, s);
	for (int dir = 0; dir < 2; dir++) {
		/* A calibrated all-to-all fit's latency already holds the launch (the fit is of
		 * whole collectives), unless the scenario sets network.launch_us itself. */
		int fitted = R.topo.links.calibrated_nvlink || R.topo.links.calibrated_nic;
		R.costs[dir].launch_s = fitted && !scn_is_set(s, "network.launch_us") ? 0.0 : s->network.launch_us * 1e-6;
		R.costs[dir].launches = dir ? R.wire.launches_back : R.wire.launches_to;
		R.costs[dir].peer_message_s = s->network.peer_message_us * 1e-6;
		R.costs[dir].nic_message_rate = s->network.nic_message_rate_Mps * 1e6;
	}
	R.red_costs.launch_s = s->network.launch_us * 1e-6;
	R.red_costs.launches = 1;
	R.red_costs.peer_message_s = s->network.peer_message_us * 1e-6;
	R.red_costs.nic_message_rate = 0;
	{
		int maxn = 1;
		for (int i = 0; i < R.n_groups; i++)
			maxn = R.groups[i].n > maxn ? R.groups[i].n : maxn;
		if (!(R.red_ws = net_red_analytic_create(&R.topo, maxn, err))) {
			rc = err->code;
			goto done;
		}
	}
	R.res = result_alloc(&R, err);
	if (!R.res) {
		rc = err->code ? err->code : MS_ENOMEM;
		goto done;
	}
	R.res->model_flops_per_step = (double)R.res->tokens_per_step * moe_arch_model_flops_per_token(&R.arch, s->workload.mode);
	if ((rc = result_memory(&R, err)) < 0)
		goto done;
	if ((rc = sim_prog_build(&R, err)) < 0 || (rc = sim_plan_init(&R, threads, err)) < 0)
		goto done;
	R.eng = sim_engine_create((size_t)R.world * 2 + (size_t)R.n_groups + 16, handle, &R, err);
	R.plan_rank = ms_calloc(err, (size_t)R.samples * R.n_moe * R.world * SIM_T_N, sizeof(double), "step plan");
	R.plan_group = ms_calloc(err, (size_t)R.samples * R.n_moe * R.Gs * 2, sizeof(double), "step plan");
	R.gstats = ms_calloc(err, (size_t)R.samples * R.n_moe * R.Gs * 2, sizeof *R.gstats, "all-to-all statistics");
	R.gnaive = ms_calloc(err, (size_t)R.samples * R.n_moe * R.Gs * 4, sizeof *R.gnaive, "all-to-all statistics");
	{ /* what every replica slot receives: ETP's times (sim_plan.c), the results' slot_pairs */
		R.slots = sim_plan_slots(&R);
		R.plan_slots = ms_calloc(err, (size_t)R.samples * R.n_moe * R.world * R.slots, sizeof *R.plan_slots,
					 "step plan");
		if (!R.plan_slots) {
			rc = MS_ENOMEM;
			goto done;
		}
	}
	R.flow = s->network.model == SCN_NET_FLOW;
	if (R.flow && (rc = sim_flow_init(&R, err)) < 0)
		goto done;
	if (!R.eng || !R.plan_rank || !R.plan_group || !R.gstats || !R.gnaive) {
		rc = err->code ? err->code : MS_ENOMEM;
		goto done;
	}
	if ((rc = sim_record_init(&R, err)) < 0)
		goto done;
	sim_progress_start(&R);
	for (int step = 0; step < s->workload.steps; step++) {
		double end = t0;
		R.step = step;
		if (R.tl)
			sim_timeline_step(R.tl, t0);
		if ((rc = sim_plan_build(&R, step, err)) < 0)
			goto done;
		R.ranks_done = 0;
		for (size_t i = 0; i < (size_t)R.world * 2 * R.m * R.chunks; i++)
			R.arrive[i] = -1;
		for (int r = 0; r < R.world; r++) {
			gpu_state *g = &R.gpus[r];
			memset(g, 0, sizeof *g);
			/* Each GPU starts one op before its first and advances into it. */
			g->pc = -1;
			R.wait_key[r] = -1;
			if ((rc = sim_schedule_new(R.eng, t0, SIM_EV_GPU, r, 0, 0)) < 0) {
				MS_ERROR(err, rc, "%s", sim_engine_error(R.eng)->msg);
				goto done;
			}
		}
		if ((rc = sim_engine_run(R.eng, 1e300)) < 0) {
			MS_ERROR(err, rc, "%s", sim_engine_error(R.eng)->msg);
			goto done;
		}
		MS_ASSERT(R.ranks_done == R.world, "step %d: %d of %d GPUs finished", step, R.ranks_done, R.world);
		for (int r = 0; r < R.world; r++)
			if (R.gpus[r].finished > end) {
				end = R.gpus[r].finished;
				R.res->critical_gpu = r;
			}
		/* The step barrier (the gradient-norm all-reduce spans every GPU): early GPUs wait. */
		for (int r = 0; r < R.world; r++)
			account(&R, r, R.passes - 1, -1, SIM_PH_WAIT, end - R.gpus[r].finished);
		R.res->step_time_s[step] = end - t0;
		t0 = end;
		sim_progress_step_done(&R);
	}
	R.res->events = sim_engine_events(R.eng);
	{
		/* The experts compute the kept pairs, so the model count's expert FLOPs follow them:
		 * the count above assumes every token's top_k pairs, and the routed pairs not kept
		 * leave it. Under topk that is the dropped pairs (routed = kept + dropped); under
		 * expert_choice an expert also keeps pairs no token chose (rt_policy.h, "routed"),
		 * so kept can exceed routed and the correction adds FLOPs, as the experts' compute
		 * time (sim_plan.c, from the kept pairs each replica receives) already does. */
		double not_kept = 0;
		const size_t LE = (size_t)R.n_moe * (size_t)R.E;
		for (int step = 0; step < s->workload.steps; step++) {
			int64_t kept = 0;
			for (size_t i = 0; i < LE; i++)
				kept += R.res->expert_kept[(size_t)step * LE + i];
			not_kept += (double)(R.res->pairs[step] - kept);
		}
		R.res->model_flops_per_step -= not_kept / s->workload.steps * R.arch.expert_flops * (R.passes == 2 ? 3.0 : 1.0);
	}
	if (R.flow) {
		sim_flow_hot_links(&R, t0);
		net_maxmin_stats st;
		net_model_counters(R.fl.net, &st);
		R.res->net_solves = st.solves;
		R.res->net_incidences = st.incidences;
		R.res->net_resolved = st.resolved;
		R.res->net_changed = st.changed;
	}
	R.res->run_time_s = t0;
	if ((rc = sim_record_fini(&R, err)) < 0)
		goto done;
	*out = R.res;
	R.res = NULL;
done:
	sim_result_free(R.res);
	runner_fini(&R);
	return rc;
}
