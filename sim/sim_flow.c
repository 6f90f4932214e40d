/*
 * sim_flow.c - the flow-level network in a run (network.model = "flow"; see
 * sim_internal.h). A collective becomes flows on the topology (network/net_coll); the
 * network model keeps max-min rates and its own event times, and this file keeps one
 * engine event at the network's next event time, moved (sim_reschedule) whenever flows
 * start or finish. A finished collective ends through sim_group_done. The sizes
 * allocated in sim_flow_init are mirrored by sim_estimate.c.
 */
#include "sim/sim_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Keeps one engine event at the network's next event time. */
static int net_resched(runner *R)
{
	double t = net_model_next_time(R->fl.net);
	if (t == INFINITY) {
		if (R->fl.net_ev) {
			sim_cancel(R->eng, R->fl.net_ev);
			R->fl.net_ev = NULL;
		}
		return MS_OK;
	}
	if (t < sim_now(R->eng))
		t = sim_now(R->eng);
	if (R->fl.net_ev) {
		sim_reschedule(R->eng, R->fl.net_ev, t);
		return MS_OK;
	}
	R->fl.net_ev = sim_event_new(R->eng);
	if (!R->fl.net_ev)
		return sim_engine_error(R->eng)->code;
	R->fl.net_ev->type = SIM_EV_NET;
	return sim_schedule(R->eng, R->fl.net_ev, t);
}

/* EP group gi's plan entries of its running all-to-all as dispatcher counts (the plan
 * stores int32). */
static void counts_of(runner *R, int gi, sim_counts *c)
{
	const group_state *gs = &R->groups[gi];
	int moe = R->moe_of[gs->layer], smp = sim_sample_of(R, gs->mb, gs->half);
	size_t at = ((size_t)smp * R->n_moe + moe) * R->Gs + sim_ep_local(R, gs->members[0]);
	for (int i = 0; i < R->P; i++)
		R->fl.coll_ranks[i] = gs->members[i];
	c->P = R->P;
	c->ranks = R->fl.coll_ranks;
	c->domain_size = R->topo.domain_size;
	c->pairs = R->fl.pairs_plan + at * (size_t)R->P * R->P;
	c->gpu_tokens = R->fl.gpu_plan + at * (size_t)R->P * R->P;
	c->dom_tokens = R->fl.domain_plan + at * (size_t)R->P * R->nd_max;
	c->nd_stride = R->nd_max;
}

static int start_flows(runner *R, int gi, int have_bytes);

static int ep_index(const runner *R, int gi)
{
	return gi - R->group_base[GK_EP];
}

/* The reduction group gi runs (net_reduce.h), from its collective. */
static net_red_op red_op(const runner *R, const group_state *gs)
{
	if (gs->what == C_DP)
		return R->progs[par_stage_of(&R->lay, gs->members[0])].buckets[gs->bucket].op;
	return gs->what == C_TP_AG || gs->what == C_CP_AG || gs->what == C_ETP_AG ? NET_RED_ALLGATHER
											: NET_RED_REDUCESCATTER;
}

/*
 * Group gi reached its collective: an all-to-all's launches and message issue come first
 * (net_costs), a reduction's launch likewise, so its flows start after them
 * (sim_flow_launched, from an engine event).
 */
int sim_flow_start(runner *R, int gi)
{
	group_state *gs = &R->groups[gi];
	double overhead_s, floor_s = 0;
	if (gs->gk == GK_EP) {
		sim_counts c;
		int dispatch_dir = gs->what == C_A2A_TO;
		counts_of(R, gi, &c);
		sim_dispatch_transfers(&R->wire, dispatch_dir, &c, R->fl.coll_bytes, R->fl.coll_msgs, NULL);
		net_alltoall_costs(R->fl.costs_ws, c.ranks, R->P, R->fl.coll_bytes, R->fl.coll_msgs,
				   &R->costs[dispatch_dir ? 0 : 1], &overhead_s, &floor_s);
	} else {
		overhead_s = R->red_costs.launch_s * R->red_costs.launches;
	}
	R->fl.floor_end[gi] = sim_now(R->eng) + overhead_s + floor_s;
	if (overhead_s > 0)
		return sim_schedule_new(R->eng, sim_now(R->eng) + overhead_s, SIM_EV_FLOW_START, gi, 0, 0);
	return start_flows(R, gi, 1);
}

/* The collective's flows are done now: it ends now (direct: from the network's event;
 * else through an event, as a collective started from a GPU's advance must), or at its
 * message floor if that is later. */
static int coll_done(runner *R, int gi, int direct)
{
	double now = sim_now(R->eng);
	if (R->fl.floor_end[gi] > now)
		return sim_schedule_new(R->eng, R->fl.floor_end[gi], SIM_EV_GROUP_DONE, gi, 0, 0);
	if (direct)
		return sim_group_done(R, gi);
	return sim_schedule_new(R->eng, now, SIM_EV_GROUP_DONE, gi, 0, 0);
}

/* Group gi's flows start now. have_bytes: the workspace still holds its transfers (no
 * other collective started since sim_flow_start built them); else they are rebuilt. */
static int start_flows(runner *R, int gi, int have_bytes)
{
	group_state *gs = &R->groups[gi];
	ms_error *err = sim_engine_error(R->eng);
	const double *domain_bytes = NULL;
	sim_counts c;
	int dispatch_dir = gs->what == C_A2A_TO;
	net_coll *coll;
	if (gs->gk != GK_EP) {
		int rc = net_red_start(R->fl.reds[gi], R->fl.net, sim_now(R->eng), red_op(R, gs), NET_RED_RING, gs->members,
				       gs->n, gs->bytes, (uint32_t)gi, err);
		if (rc < 0)
			return err->code;
		if (rc == 1)
			return coll_done(R, gi, 0);
		return net_resched(R);
	}
	coll = R->fl.colls[ep_index(R, gi)];
	counts_of(R, gi, &c);
	if (!have_bytes)
		sim_dispatch_transfers(&R->wire, dispatch_dir, &c, R->fl.coll_bytes, NULL, NULL);
	if (R->fl.algo == NET_A2A_HIERARCHICAL && dispatch_dir) {
		/* The generic hierarchical algorithm relays per-pair copies and crosses the
		 * network once per (token, destination domain) on dispatch (docs/network.md). */
		const int32_t *dp = c.dom_tokens;
		double row = R->wire.to_net;
		int nd = 0;
		for (int i = 0; i < R->P; i++) {
			int d = c.ranks[i] / c.domain_size - c.ranks[0] / c.domain_size;
			nd = d + 1 > nd ? d + 1 : nd;
		}
		for (int i = 0; i < R->P; i++)
			for (int d = 0; d < nd; d++)
				R->fl.coll_domain_bytes[(size_t)i * nd + d] = (double)dp[(size_t)i * R->nd_max + d] * row;
		domain_bytes = R->fl.coll_domain_bytes;
	}
	if (net_coll_start(coll, R->fl.net, sim_now(R->eng), R->fl.algo, R->fl.coll_ranks, R->P, R->fl.coll_bytes,
			   domain_bytes, (uint32_t)gi, err) < 0)
		return err->code;
	if (!net_coll_running(coll))
		return coll_done(R, gi, 0); /* nothing to send (every transfer empty or local) */
	return net_resched(R);
}

/* Group gi's launch is over (its engine event): its flows start now. Other collectives
 * may have used the transfer workspace meanwhile, so the transfers are rebuilt. */
int sim_flow_launched(runner *R, int gi)
{
	return start_flows(R, gi, 0);
}

/* A pipeline send: one flow from src to dst (after its launch), landing in dst's mailbox
 * under key. Tags: id = groups + dst, k = key. */
int sim_flow_send(runner *R, int src, int dst, int dir, double bytes, int key)
{
	ms_error *err = sim_engine_error(R->eng);
	(void)dir;
	if (net_model_add(R->fl.net, sim_now(R->eng), sim_now(R->eng), src, dst, bytes,
			  NET_COLL_TAG(R->n_groups + dst, key), err) < 0)
		return err->code;
	return net_resched(R);
}

static void on_flow_done(void *ctx, double time_s, uint64_t tag)
{
	runner *R = ctx;
	uint32_t id = NET_COLL_TAG_ID(tag);
	ms_error *err = sim_engine_error(R->eng);
	int rc;
	if ((int)id >= R->n_groups) {
		R->fl.p2p_done[2 * R->fl.n_p2p_done] = (int)id - R->n_groups;
		R->fl.p2p_done[2 * R->fl.n_p2p_done + 1] = (int)(uint32_t)tag;
		R->fl.n_p2p_done++;
		return;
	}
	if (R->groups[id].gk == GK_EP)
		rc = net_coll_flow_done(R->fl.colls[ep_index(R, (int)id)], R->fl.net, time_s, tag, err);
	else
		rc = net_red_flow_done(R->fl.reds[id], R->fl.net, time_s, tag, err);
	if (rc == 1)
		R->fl.net_done[R->fl.n_net_done++] = (int)id;
}

/* The network's event: advance the flows; finished collectives end, sends land. */
int sim_flow_event(runner *R)
{
	ms_error *err = sim_engine_error(R->eng);
	R->fl.net_ev = NULL; /* the engine frees the event that fired */
	R->fl.n_net_done = 0;
	R->fl.n_p2p_done = 0;
	if (net_model_advance(R->fl.net, sim_now(R->eng), on_flow_done, R, err) < 0)
		return err->code ? err->code : MS_ENOMEM;
	if (err->code < 0)
		return err->code;
	for (int i = 0; i < R->fl.n_net_done; i++)
		if (coll_done(R, R->fl.net_done[i], 1) < 0)
			return err->code;
	for (int i = 0; i < R->fl.n_p2p_done; i++)
		if (sim_arrived(R, R->fl.p2p_done[2 * i], R->fl.p2p_done[2 * i + 1]) < 0)
			return err->code;
	return net_resched(R);
}

/* The run's most utilised links, named, for the summary and the HDF5 file. */
void sim_flow_hot_links(runner *R, double total_s)
{
	net_link_load hot[8];
	int n = net_hot_links(R->fl.net, total_s, 8, hot);
	R->res->network_flow = 1;
	R->res->n_hot_links = n;
	for (int i = 0; i < n; i++) {
		const topo_link *lk = &R->fl.graph->links[hot[i].link];
		snprintf(R->res->hot_link_name[i], sizeof R->res->hot_link_name[i], "%s -> %s (%s)",
			 R->fl.graph->names[lk->src], R->fl.graph->names[lk->dst], hw_link_class_name(lk->cls));
		R->res->hot_link_index[i] = hot[i].link;
		R->res->hot_link_util[i] = hot[i].utilisation;
		R->res->hot_link_bytes[i] = hot[i].bytes;
	}
}

int sim_flow_init(runner *R, ms_error *err)
{
	const scn_scenario *s = R->s;
	/* DeepEP's transfers hold their relay legs already (sim_dispatch.h): they run flat. */
	R->fl.algo = s->network.dispatcher != SCN_DISP_MEGATRON	 ? NET_A2A_FLAT
		  : s->network.alltoall == SCN_A2A_PAIRWISE	 ? NET_A2A_PAIRWISE
		  : s->network.alltoall == SCN_A2A_HIERARCHICAL ? NET_A2A_HIERARCHICAL
		  : s->network.alltoall == SCN_A2A_NCCL		 ? NET_A2A_NCCL
							       : NET_A2A_FLAT;
	R->fl.graph = topo_graph_from_scenario(s, R->in->profile, err);
	if (!R->fl.graph)
		return err->code;
	R->fl.net = net_model_create(R->fl.graph, s->network.ecmp == SCN_ECMP_EVEN ? TOPO_ECMP_EVEN : TOPO_ECMP_HASH,
				  s->workload.seed, err);
	if (!R->fl.net)
		return err->code;
	net_model_set_tolerance(R->fl.net, s->network.batch_window);
	{
		size_t plan = (size_t)R->samples * R->n_moe * R->Gs;
		int ng = R->n_groups;
		R->fl.colls = ms_calloc(err, (size_t)R->G, sizeof *R->fl.colls, "collectives");
		R->fl.reds = ms_calloc(err, (size_t)ng, sizeof *R->fl.reds, "collectives");
		R->fl.pairs_plan = ms_calloc(err, plan * R->P * R->P, sizeof *R->fl.pairs_plan, "all-to-all plan");
		R->fl.gpu_plan = ms_calloc(err, plan * R->P * R->P, sizeof *R->fl.gpu_plan, "all-to-all plan");
		R->fl.domain_plan = ms_calloc(err, plan * R->P * R->nd_max, sizeof *R->fl.domain_plan, "all-to-all plan");
		R->fl.coll_bytes = ms_calloc(err, (size_t)R->P * R->P, sizeof *R->fl.coll_bytes, "byte matrix");
		R->fl.coll_msgs = ms_calloc(err, (size_t)R->P * R->P, sizeof *R->fl.coll_msgs, "byte matrix");
		R->fl.coll_domain_bytes = ms_calloc(err, (size_t)R->P * R->nd_max, sizeof *R->fl.coll_domain_bytes,
						    "byte matrix");
		R->fl.coll_ranks = ms_calloc(err, (size_t)R->P, sizeof *R->fl.coll_ranks, "group ranks");
		R->fl.net_done = ms_calloc(err, (size_t)ng, sizeof *R->fl.net_done, "collectives");
		R->fl.p2p_done = ms_calloc(err, (size_t)R->world * 2 * R->m * R->chunks * 2 + 2, sizeof *R->fl.p2p_done, "sends");
		R->fl.floor_end = ms_calloc(err, (size_t)ng, sizeof *R->fl.floor_end, "collectives");
		R->fl.costs_ws = net_alltoall_create(&R->topo, R->P, err);
		if (!R->fl.colls || !R->fl.reds || !R->fl.pairs_plan || !R->fl.gpu_plan || !R->fl.domain_plan ||
		    !R->fl.coll_bytes || !R->fl.coll_msgs || !R->fl.coll_domain_bytes || !R->fl.coll_ranks ||
		    !R->fl.net_done || !R->fl.p2p_done || !R->fl.floor_end || !R->fl.costs_ws)
			return MS_ENOMEM;
		for (int g = 0; g < R->G; g++)
			if (!(R->fl.colls[g] = net_coll_create(R->fl.graph, R->P, err)))
				return err->code;
		for (int gi = 0; gi < ng; gi++)
			if (R->groups[gi].gk != GK_EP && R->groups[gi].n > 1 &&
			    !(R->fl.reds[gi] = net_red_create(R->fl.graph, R->groups[gi].n, err)))
				return err->code;
	}
	return MS_OK;
}

void sim_flow_fini(runner *R)
{
	for (int g = 0; R->fl.colls && g < R->G; g++)
		net_coll_destroy(R->fl.colls[g]);
	for (int gi = 0; R->fl.reds && gi < R->n_groups; gi++)
		net_red_destroy(R->fl.reds[gi]);
	free(R->fl.colls);
	free(R->fl.reds);
	net_model_destroy(R->fl.net);
	topo_graph_destroy(R->fl.graph);
	free(R->fl.pairs_plan);
	free(R->fl.gpu_plan);
	free(R->fl.domain_plan);
	free(R->fl.coll_domain_bytes);
	free(R->fl.coll_bytes);
	free(R->fl.coll_msgs);
	free(R->fl.coll_ranks);
	free(R->fl.net_done);
	free(R->fl.p2p_done);
	free(R->fl.floor_end);
	net_alltoall_destroy(R->fl.costs_ws);
}
