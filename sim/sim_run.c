/*
 * sim_run.c - the MoE step on the event engine (see sim_run.h).
 *
 * Each step first builds a plan, on worker threads (one router clone each): routing for
 * every (layer, EP group), from which come every GPU's compute times, every group's
 * analytic all-to-all times and, for the flow model, its pair (and per-domain) token
 * counts. Then the engine plays the plan: a GPU is a cursor over its phase sequence; a
 * compute phase is one event at its end; a collective phase waits for the group. With
 * the analytic model the collective ends with one group event; with the flow model its
 * flows go to the network model, and one network event, moved as flows start and
 * finish, reports finished collectives.
 * Events per step: about (compute phases x GPUs + collectives x groups) x layers x passes,
 * plus the network's. Memory: the plan (layers x GPUs x 4 doubles; flow model: layers x
 * groups x ep^2 int32 pair counts) and the results (passes x layers x GPUs x 7 doubles),
 * plus one group's routing workspace per thread.
 */
#include "sim/sim_run.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/moe_model.h"
#include "network/net_alltoall.h"
#include "network/net_coll.h"
#include "network/net_model.h"
#include "topology/topo_graph.h"
#include "routing/rt_placement.h"
#include "routing/rt_router.h"
#include "sim/sim_engine.h"
#include "topology/topo_cluster.h"

enum { EV_RANK_DONE = 1, EV_GROUP_DONE = 2, EV_NET = 3 };
enum { T_PERMUTE, T_EXPERT_F, T_EXPERT_B, T_UNPERMUTE, T_N };

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

typedef struct rank_state {
	int pos;          /* index in the step's phase sequence */
	double arrived;   /* when it reached its current collective */
	double finished;  /* when it finished the step */
} rank_state;

typedef struct group_state {
	int arrived;      /* members at the current collective */
	int pos;          /* the collective's position in the sequence */
	double start;     /* when the last member arrived */
} group_state;

typedef struct runner {
	const scn_scenario *s;
	moe_model model;
	topo_cluster topo;
	sim_engine *eng;
	sim_result *res;
	int P, G, L, passes, world, E;
	double dense_s[2];  /* dense part of one layer, forward and backward */
	int n_pos;        /* phases per step per GPU */
	double *plan_rank;  /* [L][world][T_N] */
	double *plan_group; /* [L][G][2]: dispatch, combine */
	net_alltoall_stats *gstats; /* [L][G][2] all-to-all statistics of the step */
	/* flow-level network (network.model = "flow") */
	int flow;
	topo_graph *graph;
	net_model *net;
	net_coll **colls;         /* [G]: each group's running all-to-all */
	int32_t *pairs_plan;      /* [L][G][P][P] kept pairs of the step, for the flows */
	int32_t *domain_plan;     /* [L][G][P][nd] tokens per destination domain (hierarchical), or NULL */
	int *domains;             /* [G] NVLink domains each group spans */
	int nd_max;
	double *coll_domain_bytes; /* [P][nd] workspace */
	double *coll_bytes;       /* [P][P] workspace */
	int *coll_ranks;          /* [P] */
	int *net_done;            /* [G] groups whose all-to-all finished in one advance */
	int n_net_done;
	sim_event *net_ev;        /* the pending network event, or NULL */
	net_a2a_algo algo;
	struct worker *workers;
	pthread_t *threads;
	int n_workers;
	rank_state *ranks;
	group_state *groups;
	int ranks_done;
	double inv_steps;
} runner;

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
	const double *t = R->plan_rank + ((size_t)layer * R->world + rank) * T_N;
	switch (phase) {
	case SIM_PH_DENSE: return R->dense_s[pass]; /* the same on every GPU and layer */
	case SIM_PH_PERMUTE: return t[T_PERMUTE];
	case SIM_PH_EXPERT: return pass ? t[T_EXPERT_B] : t[T_EXPERT_F];
	case SIM_PH_UNPERMUTE: return t[T_UNPERMUTE];
	default: break;
	}
	MS_ASSERT(0, "phase %d is not a compute phase", phase);
	return 0;
}

/* Keeps one engine event at the network's next event time. */
static int net_resched(runner *R)
{
	double t = net_model_next_time(R->net);
	if (t == INFINITY) {
		if (R->net_ev) {
			sim_cancel(R->eng, R->net_ev);
			R->net_ev = NULL;
		}
		return MS_OK;
	}
	if (t < sim_now(R->eng))
		t = sim_now(R->eng);
	if (R->net_ev) {
		sim_reschedule(R->eng, R->net_ev, t);
		return MS_OK;
	}
	R->net_ev = sim_event_new(R->eng);
	if (!R->net_ev)
		return sim_engine_error(R->eng)->code;
	R->net_ev->type = EV_NET;
	return sim_schedule(R->eng, R->net_ev, t);
}

/* Starts group g's all-to-all of layer l on the flow model: dispatch direction
 * (pairs i -> j) or its transpose. */
static int start_flows(runner *R, int g, int l, int dispatch_dir)
{
	const int32_t *pp = R->pairs_plan + ((size_t)l * R->G + g) * (size_t)R->P * R->P;
	double row = moe_row_bytes(&R->model);
	ms_error *err = sim_engine_error(R->eng);
	for (int i = 0; i < R->P; i++) {
		R->coll_ranks[i] = g * R->P + i;
		for (int j = 0; j < R->P; j++)
			R->coll_bytes[(size_t)i * R->P + j] =
				(double)(dispatch_dir ? pp[(size_t)i * R->P + j] : pp[(size_t)j * R->P + i]) * row;
	}
	/* Dispatch crosses the network once per (token, destination domain), as DeepEP does;
	 * combine is given without deduplication (the per-domain reduction is not modelled). */
	if (R->domain_plan && dispatch_dir) {
		const int32_t *dp = R->domain_plan + ((size_t)l * R->G + g) * (size_t)R->P * R->nd_max;
		int nd = R->domains[g];
		for (int i = 0; i < R->P; i++)
			for (int d = 0; d < nd; d++)
				R->coll_domain_bytes[(size_t)i * nd + d] = (double)dp[(size_t)i * R->nd_max + d] * row;
	}
	if (net_coll_start(R->colls[g], R->net, sim_now(R->eng), R->algo, R->coll_ranks, R->P, R->coll_bytes,
			   R->domain_plan && dispatch_dir ? R->coll_domain_bytes : NULL, (uint32_t)g, err) < 0)
		return err->code;
	if (!net_coll_running(R->colls[g])) {
		/* Nothing to send (every pair empty or local): done at once. */
		return sim_schedule_new(R->eng, sim_now(R->eng), EV_GROUP_DONE, g, 0, 0);
	}
	return net_resched(R);
}

static int group_done(runner *R, int g);

static void on_flow_done(void *ctx, double time_s, uint64_t tag)
{
	runner *R = ctx;
	int g = (int)NET_COLL_TAG_ID(tag);
	ms_error *err = sim_engine_error(R->eng);
	int rc = net_coll_flow_done(R->colls[g], R->net, time_s, tag, err);
	if (rc == 1)
		R->net_done[R->n_net_done++] = g;
}

/* The network's event: advance the flows; finished all-to-alls end their collectives. */
static int net_event(runner *R)
{
	ms_error *err = sim_engine_error(R->eng);
	R->net_ev = NULL; /* the engine frees the event that fired */
	R->n_net_done = 0;
	if (net_model_advance(R->net, sim_now(R->eng), on_flow_done, R, err) < 0)
		return err->code ? err->code : MS_ENOMEM;
	if (err->code < 0)
		return err->code;
	for (int i = 0; i < R->n_net_done; i++)
		if (group_done(R, R->net_done[i]) < 0)
			return err->code;
	return net_resched(R);
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
				return start_flows(R, g, layer, fwd_dispatch);
			return sim_schedule_new(R->eng, now + d, EV_GROUP_DONE, g, 0, 0);
		}
		return MS_OK;
	}
	{
		double d = compute_time(R, pass, layer, rank, phase);
		*acc(R, pass, layer, rank, phase) += d * R->inv_steps;
		return sim_schedule_new(R->eng, now + d, EV_RANK_DONE, rank, 0, 0);
	}
}

/* Group g's all-to-all has finished now: every member records it and moves on. */
static int group_done(runner *R, int g)
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
	if (ev->type == EV_RANK_DONE)
		return advance(R, ev->a);
	if (ev->type == EV_GROUP_DONE)
		return group_done(R, ev->a);
	if (ev->type == EV_NET)
		return net_event(R);
	MS_ASSERT(0, "unknown event type %d", (int)ev->type);
	return MS_EINVAL;
}

/*
 * Plan building runs on worker threads, each routing the EP groups g = id, id + n, ...
 * with its own router clone and workspaces. Everything a worker writes is its own
 * (plan entries of its groups and ranks, its counters, the per-group statistics);
 * the statistics are reduced afterwards in group order, so the result does not depend
 * on the number of threads (tested).
 */
typedef struct worker {
	runner *R;
	int id, n, step;
	rt_router *router;
	net_alltoall *a2a;
	double *bytes, *bytes_t;  /* [P][P] */
	int32_t *recv;            /* [slots] */
	int *members;             /* [P] */
	int64_t *demand;          /* [L][E] pairs routed, this step */
	int64_t pairs, dropped_pairs, tokens, dropped_tokens;
	ms_error err;
	int rc;
} worker;

/* Routes group g of layer l and writes its plan entries and statistics. */
static int plan_group(worker *w, int l, int g)
{
	runner *R = w->R;
	sim_result *res = R->res;
	double row = moe_row_bytes(&R->model);
	const rt_group_routing *rt;
	double *tg = R->plan_group + ((size_t)l * R->G + g) * 2;
	net_alltoall_stats *st = R->gstats + ((size_t)l * R->G + g) * 2;
	if (rt_route_group(w->router, w->step, l, g, &rt, &w->err) < 0)
		return w->err.code;
	w->pairs += rt->pairs;
	w->dropped_pairs += rt->dropped_pairs;
	w->tokens += rt->tokens;
	w->dropped_tokens += rt->dropped_tokens;
	for (int p = 0; p < R->P; p++) {
		const int32_t *demand = rt->demand + (size_t)p * R->E;
		int rank = g * R->P + p;
		double *t = R->plan_rank + ((size_t)l * R->world + rank) * T_N;
		double sent = 0, recv_total = 0;
		for (int e = 0; e < R->E; e++)
			w->demand[(size_t)l * R->E + e] += demand[e];
		for (int j = 0; j < R->P; j++) {
			w->bytes[(size_t)p * R->P + j] = (double)rt->sent[(size_t)p * R->P + j] * row;
			sent += (double)rt->sent[(size_t)p * R->P + j];
		}
		/* What this member's expert replicas receive, one entry per slot. */
		for (int k = 0; k < rt->slots; k++) {
			int64_t v = rt->slot_load[(size_t)p * rt->slots + k];
			w->recv[k] = (int32_t)v;
			recv_total += (double)v;
		}
		res->rank_load[(size_t)l * R->world + rank] += recv_total * R->inv_steps;
		t[T_PERMUTE] = moe_permute_time(&R->model, sent);
		t[T_UNPERMUTE] = moe_unpermute_time(&R->model, sent);
		t[T_EXPERT_F] = moe_expert_time(&R->model, w->recv, rt->slots, MOE_FWD);
		t[T_EXPERT_B] = moe_expert_time(&R->model, w->recv, rt->slots, MOE_BWD);
	}
	if (R->flow) {
		int32_t *pp = R->pairs_plan + ((size_t)l * R->G + g) * (size_t)R->P * R->P;
		for (size_t i = 0; i < (size_t)R->P * R->P; i++)
			pp[i] = (int32_t)rt->sent[i];
		if (R->domain_plan) {
			int32_t *dp = R->domain_plan + ((size_t)l * R->G + g) * (size_t)R->P * R->nd_max;
			MS_ASSERT(rt->domains_max == R->nd_max, "domain stride %d vs %d", rt->domains_max, R->nd_max);
			R->domains[g] = rt->n_domains;
			for (size_t i = 0; i < (size_t)R->P * R->nd_max; i++)
				dp[i] = (int32_t)rt->domain_tokens[i];
		}
	}
	for (int p = 0; p < R->P; p++)
		w->members[p] = g * R->P + p;
	for (int i = 0; i < R->P; i++)
		for (int j = 0; j < R->P; j++)
			w->bytes_t[(size_t)j * R->P + i] = w->bytes[(size_t)i * R->P + j];
	for (int dir = 0; dir < 2; dir++) {
		net_alltoall_time(w->a2a, w->members, R->P, dir ? w->bytes_t : w->bytes, &st[dir]);
		tg[dir] = st[dir].time_s;
	}
	return MS_OK;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	for (int l = 0; l < w->R->L && w->rc == MS_OK; l++)
		for (int g = w->id; g < w->R->G && w->rc == MS_OK; g += w->n)
			w->rc = plan_group(w, l, g);
	return NULL;
}

/* Routes every (layer, group) of a step and fills the plan and the routing statistics. */
static int build_plan(runner *R, int step, ms_error *err)
{
	sim_result *res = R->res;
	int started = 0;
	for (int i = 0; i < R->n_workers; i++) {
		worker *w = &R->workers[i];
		w->step = step;
		w->pairs = w->dropped_pairs = w->tokens = w->dropped_tokens = 0;
		w->rc = MS_OK;
		ms_error_clear(&w->err);
		memset(w->demand, 0, (size_t)R->L * R->E * sizeof *w->demand);
	}
	if (R->n_workers == 1) {
		worker_main(&R->workers[0]);
	} else {
		for (; started < R->n_workers; started++)
			if (pthread_create(&R->threads[started], NULL, worker_main, &R->workers[started]) != 0)
				break;
		if (started < R->n_workers) {
			/* Could not start them all: the started ones finish, the rest run here. */
			for (int i = started; i < R->n_workers; i++)
				worker_main(&R->workers[i]);
		}
		for (int i = 0; i < started; i++)
			pthread_join(R->threads[i], NULL);
	}
	for (int i = 0; i < R->n_workers; i++) {
		worker *w = &R->workers[i];
		if (w->rc < 0)
			return MS_ERROR(err, w->rc, "%s", w->err.msg);
		res->pairs[step] += w->pairs;
		res->dropped_pairs[step] += w->dropped_pairs;
		res->tokens[step] += w->tokens;
		res->dropped_tokens[step] += w->dropped_tokens;
	}
	for (int l = 0; l < R->L; l++) {
		for (int e = 0; e < R->E; e++) {
			int64_t c = 0;
			for (int i = 0; i < R->n_workers; i++)
				c += R->workers[i].demand[(size_t)l * R->E + e];
			res->expert_demand[(size_t)l * R->E + e] += (double)c * R->inv_steps;
		}
		for (int g = 0; g < R->G; g++)
			for (int dir = 0; dir < 2; dir++) {
				const net_alltoall_stats *st = R->gstats + ((size_t)l * R->G + g) * 2 + dir;
				if (!R->flow)
					(dir ? res->combine_s : res->dispatch_s)[l] += st->time_s * R->inv_steps / R->G;
				res->nvlink_bytes += st->nvlink_bytes * R->inv_steps;
				res->nic_bytes += st->nic_bytes * R->inv_steps;
				if (st->nvlink_max_bytes > res->hot_nvlink_bytes) {
					res->hot_nvlink_bytes = st->nvlink_max_bytes;
					res->hot_nvlink_rank = st->hot_nvlink_rank;
					res->hot_nvlink_layer = l;
				}
				if (st->nic_max_bytes > res->hot_nic_bytes) {
					res->hot_nic_bytes = st->nic_max_bytes;
					res->hot_nic = st->hot_nic;
					res->hot_nic_layer = l;
				}
			}
	}
	return MS_OK;
}

static void workers_fini(runner *R)
{
	for (int i = 0; R->workers && i < R->n_workers; i++) {
		worker *w = &R->workers[i];
		/* Clones first: worker 0 holds the router that owns the shared tables. */
		if (i > 0)
			rt_router_destroy(w->router);
		net_alltoall_destroy(w->a2a);
		free(w->bytes);
		free(w->bytes_t);
		free(w->recv);
		free(w->members);
		free(w->demand);
	}
	if (R->workers)
		rt_router_destroy(R->workers[0].router);
	free(R->workers);
	free(R->threads);
}

static int workers_init(runner *R, int threads, ms_error *err)
{
	int slots;
	if (threads <= 0) {
		const char *env = getenv("MOESIM_THREADS");
		long n = env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 && n < 1024 ? (int)n : 1;
	}
	R->n_workers = threads < R->G ? threads : R->G;
	R->workers = ms_calloc(err, (size_t)R->n_workers, sizeof *R->workers, "workers");
	R->threads = ms_calloc(err, (size_t)R->n_workers, sizeof *R->threads, "workers");
	if (!R->workers || !R->threads)
		return MS_ENOMEM;
	for (int i = 0; i < R->n_workers; i++) {
		worker *w = &R->workers[i];
		w->R = R;
		w->id = i;
		w->n = R->n_workers;
		w->router = i == 0 ? rt_router_create(R->s, err) : rt_router_clone(R->workers[0].router, err);
		if (!w->router)
			return err->code ? err->code : MS_ENOMEM;
		slots = rt_router_placement(w->router)->slots;
		w->a2a = net_alltoall_create(&R->topo, R->P, err);
		w->bytes = ms_calloc(err, (size_t)R->P * R->P, sizeof(double), "byte matrix");
		w->bytes_t = ms_calloc(err, (size_t)R->P * R->P, sizeof(double), "byte matrix");
		w->recv = ms_calloc(err, (size_t)slots + 1, sizeof(int32_t), "expert loads");
		w->members = ms_calloc(err, (size_t)R->P, sizeof(int), "group members");
		w->demand = ms_calloc(err, (size_t)R->L * R->E, sizeof(int64_t), "expert demand");
		if (!w->a2a || !w->bytes || !w->bytes_t || !w->recv || !w->members || !w->demand)
			return MS_ENOMEM;
	}
	return MS_OK;
}

/* The run's most utilised links, named, for the summary and the HDF5 file. */
static void hot_links(runner *R, double total_s)
{
	net_link_load hot[8];
	int n = net_hot_links(R->net, total_s, 8, hot);
	R->res->network_flow = 1;
	R->res->n_hot_links = n;
	for (int i = 0; i < n; i++) {
		const topo_link *lk = &R->graph->links[hot[i].link];
		snprintf(R->res->hot_link_name[i], sizeof R->res->hot_link_name[i], "%s -> %s (%s)",
			 R->graph->names[lk->src], R->graph->names[lk->dst], topo_link_class_name(lk->cls));
		R->res->hot_link_util[i] = hot[i].utilisation;
		R->res->hot_link_bytes[i] = hot[i].bytes;
	}
}

static int flow_init(runner *R, ms_error *err)
{
	const scn_scenario *s = R->s;
	R->algo = s->network.alltoall == SCN_A2A_PAIRWISE	 ? NET_A2A_PAIRWISE
		  : s->network.alltoall == SCN_A2A_HIERARCHICAL ? NET_A2A_HIERARCHICAL
							       : NET_A2A_FLAT;
	R->graph = topo_graph_from_scenario(s, err);
	if (!R->graph)
		return err->code;
	R->net = net_model_create(R->graph, s->network.ecmp == SCN_ECMP_EVEN ? TOPO_ECMP_EVEN : TOPO_ECMP_HASH,
				  s->workload.seed, err);
	if (!R->net)
		return err->code;
	R->colls = ms_calloc(err, (size_t)R->G, sizeof *R->colls, "collectives");
	R->pairs_plan = ms_calloc(err, (size_t)R->L * R->G * R->P * R->P, sizeof *R->pairs_plan, "all-to-all plan");
	R->coll_bytes = ms_calloc(err, (size_t)R->P * R->P, sizeof *R->coll_bytes, "byte matrix");
	R->coll_ranks = ms_calloc(err, (size_t)R->P, sizeof *R->coll_ranks, "group ranks");
	R->net_done = ms_calloc(err, (size_t)R->G, sizeof *R->net_done, "collectives");
	if (!R->colls || !R->pairs_plan || !R->coll_bytes || !R->coll_ranks || !R->net_done)
		return MS_ENOMEM;
	if (R->algo == NET_A2A_HIERARCHICAL) {
		int ds = s->network.nvlink_domain > 0 ? s->network.nvlink_domain : s->cluster.gpus_per_node;
		R->nd_max = (R->P + ds - 2) / ds + 1; /* as the router computes it */
		R->domain_plan = ms_calloc(err, (size_t)R->L * R->G * R->P * R->nd_max, sizeof *R->domain_plan,
					   "all-to-all plan");
		R->domains = ms_calloc(err, (size_t)R->G, sizeof *R->domains, "all-to-all plan");
		R->coll_domain_bytes = ms_calloc(err, (size_t)R->P * R->nd_max, sizeof *R->coll_domain_bytes,
						 "byte matrix");
		if (!R->domain_plan || !R->domains || !R->coll_domain_bytes)
			return MS_ENOMEM;
	}
	for (int g = 0; g < R->G; g++)
		if (!(R->colls[g] = net_coll_create(R->graph, R->P, err)))
			return err->code;
	return MS_OK;
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
	workers_fini(R);
	for (int g = 0; R->colls && g < R->G; g++)
		net_coll_destroy(R->colls[g]);
	free(R->colls);
	net_model_destroy(R->net);
	topo_graph_destroy(R->graph);
	free(R->pairs_plan);
	free(R->domain_plan);
	free(R->domains);
	free(R->coll_domain_bytes);
	free(R->coll_bytes);
	free(R->coll_ranks);
	free(R->net_done);
	sim_engine_destroy(R->eng);
	free(R->plan_rank);
	free(R->plan_group);
	free(R->gstats);
	free(R->ranks);
	free(R->groups);
}

int sim_run(const scn_scenario *s, sim_result **out, ms_error *err)
{
	return sim_run_threads(s, 0, out, err);
}

int sim_run_threads(const scn_scenario *s, int threads, sim_result **out, ms_error *err)
{
	runner R;
	int rc = MS_OK;
	double t0 = 0;
	memset(&R, 0, sizeof R);
	*out = NULL;
	R.s = s;
	if ((rc = moe_model_init(&R.model, s, err)) < 0 || (rc = topo_cluster_init(&R.topo, s, err)) < 0)
		return rc;
	R.P = s->parallel.ep;
	R.world = scn_world(s);
	R.G = R.world / R.P;
	R.L = s->model.moe_layers;
	R.E = s->model.experts;
	R.passes = s->workload.mode == SCN_MODE_TRAINING ? 2 : 1;
	R.n_pos = R.passes * R.L * NSEQ;
	R.inv_steps = 1.0 / s->workload.steps;
	R.dense_s[MOE_FWD] = moe_dense_time(&R.model, (double)s->workload.tokens_per_rank, MOE_FWD);
	R.dense_s[MOE_BWD] = moe_dense_time(&R.model, (double)s->workload.tokens_per_rank, MOE_BWD);
	R.res = result_alloc(s, R.passes, err);
	if ((rc = workers_init(&R, threads, err)) < 0)
		goto done;
	R.eng = sim_engine_create((size_t)R.world + (size_t)R.G + 16, handle, &R, err);
	R.plan_rank = ms_calloc(err, (size_t)R.L * R.world * T_N, sizeof(double), "step plan");
	R.plan_group = ms_calloc(err, (size_t)R.L * R.G * 2, sizeof(double), "step plan");
	R.gstats = ms_calloc(err, (size_t)R.L * R.G * 2, sizeof *R.gstats, "all-to-all statistics");
	R.flow = s->network.model == SCN_NET_FLOW;
	if (R.flow && (rc = flow_init(&R, err)) < 0)
		goto done;
	R.ranks = ms_calloc(err, (size_t)R.world, sizeof(rank_state), "rank states");
	R.groups = ms_calloc(err, (size_t)R.G, sizeof(group_state), "group states");
	if (!R.res || !R.eng || !R.plan_rank || !R.plan_group || !R.gstats || !R.ranks || !R.groups) {
		rc = err->code ? err->code : MS_ENOMEM;
		goto done;
	}
	for (int step = 0; step < s->workload.steps; step++) {
		double end = t0;
		if ((rc = build_plan(&R, step, err)) < 0)
			goto done;
		R.ranks_done = 0;
		for (int r = 0; r < R.world; r++) {
			/* Each GPU starts one position before the first phase and advances into it. */
			R.ranks[r].pos = -1;
			if ((rc = sim_schedule_new(R.eng, t0, EV_RANK_DONE, r, 0, 0)) < 0) {
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
		hot_links(&R, t0);
	*out = R.res;
	R.res = NULL;
done:
	sim_result_free(R.res);
	runner_fini(&R);
	return rc;
}
