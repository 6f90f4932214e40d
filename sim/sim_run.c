/*
 * sim_run.c - the MoE step on the event engine (see sim_run.h).
 *
 * Each step first builds a plan (sim_plan.c, on the run's worker threads): routing for
 * every (layer, EP group), from which come every GPU's compute times, every group's
 * analytic all-to-all times and, for the flow model, its pair (and per-domain) token
 * counts. Then the engine plays the plan (this file): a GPU is a cursor over its phase sequence; a
 * compute phase is one event at its end; a collective phase waits for the group. With
 * the analytic model the collective ends with one group event; with the flow model its
 * flows go to the network model, and one network event, moved as flows start and
 * finish, reports finished collectives (sim_flow.c).
 * Events per step: about (compute phases x GPUs + collectives x groups) x layers x passes,
 * plus the network's. Memory: the plan (layers x GPUs x 4 doubles; flow model: layers x
 * groups x ep^2 int32 pair counts) and the results (passes x layers x GPUs x 7 doubles),
 * plus one group's routing workspace per thread. sim_estimate.c mirrors these sizes (a
 * run is refused up front where they exceed the machine): change both together.
 */
#include "sim/sim_run.h"

#include "sim/sim_internal.h"
#include "topology/topo_rank.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSEQ 6
static const int seq[2][NSEQ] = {
	{SIM_PH_DENSE, SIM_PH_PERMUTE, SIM_PH_DISPATCH, SIM_PH_EXPERT, SIM_PH_COMBINE, SIM_PH_UNPERMUTE},
	{SIM_PH_UNPERMUTE, SIM_PH_COMBINE, SIM_PH_EXPERT, SIM_PH_DISPATCH, SIM_PH_PERMUTE, SIM_PH_DENSE},
};

const char *sim_phase_name(int phase)
{
	static const char *const names[SIM_NPHASES] = {"dense", "permute", "dispatch", "expert",
						       "combine", "unpermute", "wait"};
	return phase >= 0 && phase < SIM_NPHASES ? names[phase] : "?";
}

static void decode_pos(const runner *R, int pos, int *pass, int *layer, int *phase)
{
	int per_pass = R->L * NSEQ;
	int li;
	*pass = pos / per_pass;
	li = (pos % per_pass) / NSEQ;
	*layer = *pass == 0 ? li : R->L - 1 - li;
	*phase = seq[*pass][pos % NSEQ];
}

static double *acc(runner *R, int pass, int layer, int rank, int phase)
{
	return &R->res->phase_s[sim_phase_index(R->res, pass, layer, rank, phase)];
}

static double compute_time(const runner *R, int pass, int layer, int rank, int phase)
{
	const double *t = R->plan_rank + ((size_t)layer * R->world + rank) * SIM_T_N;
	switch (phase) {
	case SIM_PH_DENSE: return R->dense_s[pass]; /* the same on every GPU and layer */
	case SIM_PH_PERMUTE: return t[SIM_T_PERMUTE];
	case SIM_PH_EXPERT: return pass ? t[SIM_T_EXPERT_B] : t[SIM_T_EXPERT_F];
	case SIM_PH_UNPERMUTE: return t[SIM_T_UNPERMUTE];
	default: break;
	}
	MS_ASSERT(0, "phase %d is not a compute phase", phase);
	return 0;
}

/* Moves rank to its next phase at the current time. */
static int advance(runner *R, int rank)
{
	rank_state *rs = &R->ranks[rank];
	double now = sim_now(R->eng);
	int pass, layer, phase;
	rs->pos++;
	if (rs->pos == R->n_pos) {
		rs->finished = now;
		R->ranks_done++;
		return MS_OK;
	}
	decode_pos(R, rs->pos, &pass, &layer, &phase);
	if (phase == SIM_PH_DISPATCH || phase == SIM_PH_COMBINE) {
		int g = rank / R->P;
		group_state *gs = &R->groups[g];
		rs->arrived = now;
		if (gs->arrived == 0)
			gs->pos = rs->pos;
		MS_ASSERT(gs->pos == rs->pos, "group %d: rank %d at phase %d, group at %d", g, rank, rs->pos, gs->pos);
		if (++gs->arrived == R->P) {
			const double *tg = R->plan_group + ((size_t)layer * R->G + g) * 2;
			/* Backward gradients cross combine with the dispatch matrix and vice versa. */
			int fwd_dispatch = (phase == SIM_PH_DISPATCH) == (pass == 0);
			double d = fwd_dispatch ? tg[0] : tg[1];
			gs->start = now;
			if (R->flow)
				return sim_flow_start(R, g, layer, fwd_dispatch);
			return sim_schedule_new(R->eng, now + d, SIM_EV_GROUP_DONE, g, 0, 0);
		}
		return MS_OK;
	}
	{
		double d = compute_time(R, pass, layer, rank, phase);
		*acc(R, pass, layer, rank, phase) += d * R->inv_steps;
		return sim_schedule_new(R->eng, now + d, SIM_EV_RANK_DONE, rank, 0, 0);
	}
}

/* Group g's all-to-all has finished now: every member records it and moves on. */
int sim_group_done(runner *R, int g)
{
	int pass, layer, phase;
	group_state *gs = &R->groups[g];
	double now = sim_now(R->eng);
	decode_pos(R, gs->pos, &pass, &layer, &phase);
	gs->arrived = 0;
	if (R->flow && pass == 0)
		(phase == SIM_PH_DISPATCH ? R->res->dispatch_s : R->res->combine_s)[layer] +=
			(now - gs->start) * R->inv_steps / R->G;
	for (int p = 0; p < R->P; p++) {
		int rank = g * R->P + p;
		*acc(R, pass, layer, rank, SIM_PH_WAIT) += (gs->start - R->ranks[rank].arrived) * R->inv_steps;
		*acc(R, pass, layer, rank, phase) += (now - gs->start) * R->inv_steps;
		if (advance(R, rank) < 0)
			return sim_engine_error(R->eng)->code;
	}
	return MS_OK;
}

static int handle(void *model, sim_engine *eng, sim_event *ev)
{
	runner *R = model;
	(void)eng;
	if (ev->type == SIM_EV_RANK_DONE)
		return advance(R, ev->a);
	if (ev->type == SIM_EV_GROUP_DONE)
		return sim_group_done(R, ev->a);
	if (ev->type == SIM_EV_NET)
		return sim_flow_event(R);
	if (ev->type == SIM_EV_FLOW_START)
		return sim_flow_launched(R, ev->a);
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
	free(r->rank_load);
	free(r->expert_demand);
	free(r->dispatch_s);
	free(r->combine_s);
	free(r);
}

static sim_result *result_alloc(const scn_scenario *s, int passes, ms_error *err)
{
	sim_result *r = ms_calloc(err, 1, sizeof *r, "results");
	size_t S, L, W, E;
	if (!r)
		return NULL;
	r->world = scn_world(s);
	r->layers = s->model.moe_layers;
	r->passes = passes;
	r->steps = s->workload.steps;
	r->ep = s->parallel.ep;
	r->groups = r->world / r->ep;
	r->experts = s->model.experts;
	r->tokens_per_step = (int64_t)r->world * s->workload.tokens_per_rank;
	r->hot_nvlink_rank = r->hot_nic = -1;
	r->hot_nvlink_layer = r->hot_nic_layer = -1;
	S = (size_t)r->steps;
	L = (size_t)r->layers;
	W = (size_t)r->world;
	E = (size_t)r->experts;
	r->step_time_s = ms_calloc(err, S, sizeof(double), "results");
	r->pairs = ms_calloc(err, S, sizeof(int64_t), "results");
	r->dropped_pairs = ms_calloc(err, S, sizeof(int64_t), "results");
	r->tokens = ms_calloc(err, S, sizeof(int64_t), "results");
	r->dropped_tokens = ms_calloc(err, S, sizeof(int64_t), "results");
	r->phase_s = ms_calloc(err, (size_t)passes * L * W * SIM_NPHASES, sizeof(double), "per-phase results");
	r->rank_load = ms_calloc(err, L * W, sizeof(double), "results");
	r->expert_demand = ms_calloc(err, L * E, sizeof(double), "results");
	r->dispatch_s = ms_calloc(err, L, sizeof(double), "results");
	r->combine_s = ms_calloc(err, L, sizeof(double), "results");
	if (!r->step_time_s || !r->pairs || !r->dropped_pairs || !r->tokens || !r->dropped_tokens || !r->phase_s ||
	    !r->rank_load || !r->expert_demand || !r->dispatch_s || !r->combine_s) {
		sim_result_free(r);
		return NULL;
	}
	return r;
}

static void runner_fini(runner *R)
{
	sim_plan_fini(R);
	sim_flow_fini(R);
	sim_engine_destroy(R->eng);
	free(R->plan_rank);
	free(R->plan_group);
	free(R->gstats);
	free(R->gnaive);
	free(R->ranks);
	free(R->groups);
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
	if ((rc = moe_model_init(&R.model, s, in->profile, err)) < 0 ||
	    (rc = topo_cluster_init(&R.topo, s, in->profile, err)) < 0)
		return rc;
	R.P = s->parallel.ep;
	R.world = scn_world(s);
	R.G = R.world / R.P;
	R.L = s->model.moe_layers;
	R.E = s->model.experts;
	R.passes = s->workload.mode == SCN_MODE_TRAINING ? 2 : 1;
	R.n_pos = R.passes * R.L * NSEQ;
	R.inv_steps = 1.0 / s->workload.steps;
	R.nd_max = topo_rank_span_max(R.P, R.topo.domain_size); /* as the router sizes it */
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
	R.dense_s[MOE_FWD] = moe_dense_time(&R.model, (double)s->workload.tokens_per_rank, MOE_FWD);
	R.dense_s[MOE_BWD] = moe_dense_time(&R.model, (double)s->workload.tokens_per_rank, MOE_BWD);
	R.res = result_alloc(s, R.passes, err);
	if ((rc = sim_plan_init(&R, threads, err)) < 0)
		goto done;
	R.eng = sim_engine_create((size_t)R.world + (size_t)R.G + 16, handle, &R, err);
	R.plan_rank = ms_calloc(err, (size_t)R.L * R.world * SIM_T_N, sizeof(double), "step plan");
	R.plan_group = ms_calloc(err, (size_t)R.L * R.G * 2, sizeof(double), "step plan");
	R.gstats = ms_calloc(err, (size_t)R.L * R.G * 2, sizeof *R.gstats, "all-to-all statistics");
	R.gnaive = ms_calloc(err, (size_t)R.L * R.G * 4, sizeof *R.gnaive, "all-to-all statistics");
	R.flow = s->network.model == SCN_NET_FLOW;
	if (R.flow && (rc = sim_flow_init(&R, err)) < 0)
		goto done;
	R.ranks = ms_calloc(err, (size_t)R.world, sizeof(rank_state), "rank states");
	R.groups = ms_calloc(err, (size_t)R.G, sizeof(group_state), "group states");
	if (!R.res || !R.eng || !R.plan_rank || !R.plan_group || !R.gstats || !R.gnaive || !R.ranks || !R.groups) {
		rc = err->code ? err->code : MS_ENOMEM;
		goto done;
	}
	for (int step = 0; step < s->workload.steps; step++) {
		double end = t0;
		if ((rc = sim_plan_build(&R, step, err)) < 0)
			goto done;
		R.ranks_done = 0;
		for (int r = 0; r < R.world; r++) {
			/* Each GPU starts one position before the first phase and advances into it. */
			R.ranks[r].pos = -1;
			if ((rc = sim_schedule_new(R.eng, t0, SIM_EV_RANK_DONE, r, 0, 0)) < 0) {
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
			if (R.ranks[r].finished > end)
				end = R.ranks[r].finished;
		/* The step barrier: early GPUs wait for the last, charged to their last layer. */
		for (int r = 0; r < R.world; r++) {
			int pass = R.passes - 1, layer = pass ? 0 : R.L - 1;
			*acc(&R, pass, layer, r, SIM_PH_WAIT) += (end - R.ranks[r].finished) * R.inv_steps;
		}
		R.res->step_time_s[step] = end - t0;
		t0 = end;
	}
	R.res->events = sim_engine_events(R.eng);
	if (R.flow)
		sim_flow_hot_links(&R, t0);
	*out = R.res;
	R.res = NULL;
done:
	sim_result_free(R.res);
	runner_fini(&R);
	return rc;
}
