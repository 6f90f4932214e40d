/*
 * sim_flow.c - the flow-level network in a run (network.model = "flow"; see
 * sim_internal.h). A collective becomes flows on the topology (network/net_coll); the
 * network model keeps max-min rates and its own event times, and this file keeps one
 * engine event at the network's next event time, moved (sim_reschedule) whenever flows
 * start or finish. A finished collective ends through sim_group_done.
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

/* Starts group g's all-to-all of layer l on the flow model: dispatch direction
 * (pairs i -> j) or its transpose. */
int sim_flow_start(runner *R, int g, int l, int dispatch_dir)
{
	const int32_t *pp = R->fl.pairs_plan + ((size_t)l * R->G + g) * (size_t)R->P * R->P;
	double row = moe_row_bytes(&R->model);
	ms_error *err = sim_engine_error(R->eng);
	for (int i = 0; i < R->P; i++) {
		R->fl.coll_ranks[i] = g * R->P + i;
		for (int j = 0; j < R->P; j++)
			R->fl.coll_bytes[(size_t)i * R->P + j] =
				(double)(dispatch_dir ? pp[(size_t)i * R->P + j] : pp[(size_t)j * R->P + i]) * row;
	}
	/* Dispatch crosses the network once per (token, destination domain), as DeepEP does;
	 * combine is given without deduplication (the per-domain reduction is not modelled). */
	if (R->fl.domain_plan && dispatch_dir) {
		const int32_t *dp = R->fl.domain_plan + ((size_t)l * R->G + g) * (size_t)R->P * R->fl.nd_max;
		int nd = R->fl.domains[g];
		for (int i = 0; i < R->P; i++)
			for (int d = 0; d < nd; d++)
				R->fl.coll_domain_bytes[(size_t)i * nd + d] = (double)dp[(size_t)i * R->fl.nd_max + d] * row;
	}
	if (net_coll_start(R->fl.colls[g], R->fl.net, sim_now(R->eng), R->fl.algo, R->fl.coll_ranks, R->P, R->fl.coll_bytes,
			   R->fl.domain_plan && dispatch_dir ? R->fl.coll_domain_bytes : NULL, (uint32_t)g, err) < 0)
		return err->code;
	if (!net_coll_running(R->fl.colls[g])) {
		/* Nothing to send (every pair empty or local): done at once. */
		return sim_schedule_new(R->eng, sim_now(R->eng), SIM_EV_GROUP_DONE, g, 0, 0);
	}
	return net_resched(R);
}

static void on_flow_done(void *ctx, double time_s, uint64_t tag)
{
	runner *R = ctx;
	int g = (int)NET_COLL_TAG_ID(tag);
	ms_error *err = sim_engine_error(R->eng);
	int rc = net_coll_flow_done(R->fl.colls[g], R->fl.net, time_s, tag, err);
	if (rc == 1)
		R->fl.net_done[R->fl.n_net_done++] = g;
}

/* The network's event: advance the flows; finished all-to-alls end their collectives. */
int sim_flow_event(runner *R)
{
	ms_error *err = sim_engine_error(R->eng);
	R->fl.net_ev = NULL; /* the engine frees the event that fired */
	R->fl.n_net_done = 0;
	if (net_model_advance(R->fl.net, sim_now(R->eng), on_flow_done, R, err) < 0)
		return err->code ? err->code : MS_ENOMEM;
	if (err->code < 0)
		return err->code;
	for (int i = 0; i < R->fl.n_net_done; i++)
		if (sim_group_done(R, R->fl.net_done[i]) < 0)
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
		R->res->hot_link_util[i] = hot[i].utilisation;
		R->res->hot_link_bytes[i] = hot[i].bytes;
	}
}

int sim_flow_init(runner *R, ms_error *err)
{
	const scn_scenario *s = R->s;
	R->fl.algo = s->network.alltoall == SCN_A2A_PAIRWISE	 ? NET_A2A_PAIRWISE
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
	R->fl.colls = ms_calloc(err, (size_t)R->G, sizeof *R->fl.colls, "collectives");
	R->fl.pairs_plan = ms_calloc(err, (size_t)R->L * R->G * R->P * R->P, sizeof *R->fl.pairs_plan, "all-to-all plan");
	R->fl.coll_bytes = ms_calloc(err, (size_t)R->P * R->P, sizeof *R->fl.coll_bytes, "byte matrix");
	R->fl.coll_ranks = ms_calloc(err, (size_t)R->P, sizeof *R->fl.coll_ranks, "group ranks");
	R->fl.net_done = ms_calloc(err, (size_t)R->G, sizeof *R->fl.net_done, "collectives");
	if (!R->fl.colls || !R->fl.pairs_plan || !R->fl.coll_bytes || !R->fl.coll_ranks || !R->fl.net_done)
		return MS_ENOMEM;
	if (R->fl.algo == NET_A2A_HIERARCHICAL) {
		R->fl.nd_max = topo_rank_span_max(R->P, R->topo.domain_size); /* as the router sizes it */
		R->fl.domain_plan = ms_calloc(err, (size_t)R->L * R->G * R->P * R->fl.nd_max, sizeof *R->fl.domain_plan,
					   "all-to-all plan");
		R->fl.domains = ms_calloc(err, (size_t)R->G, sizeof *R->fl.domains, "all-to-all plan");
		R->fl.coll_domain_bytes = ms_calloc(err, (size_t)R->P * R->fl.nd_max, sizeof *R->fl.coll_domain_bytes,
						 "byte matrix");
		if (!R->fl.domain_plan || !R->fl.domains || !R->fl.coll_domain_bytes)
			return MS_ENOMEM;
	}
	for (int g = 0; g < R->G; g++)
		if (!(R->fl.colls[g] = net_coll_create(R->fl.graph, R->P, err)))
			return err->code;
	return MS_OK;
}

void sim_flow_fini(runner *R)
{
	for (int g = 0; R->fl.colls && g < R->G; g++)
		net_coll_destroy(R->fl.colls[g]);
	free(R->fl.colls);
	net_model_destroy(R->fl.net);
	topo_graph_destroy(R->fl.graph);
	free(R->fl.pairs_plan);
	free(R->fl.domain_plan);
	free(R->fl.domains);
	free(R->fl.coll_domain_bytes);
	free(R->fl.coll_bytes);
	free(R->fl.coll_ranks);
	free(R->fl.net_done);
}
