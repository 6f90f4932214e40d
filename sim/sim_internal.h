/*
 * sim_internal.h - what the three parts of a run share (not for other modules):
 *   sim_run.c   the engine's play of a step: GPU cursors, collectives, results;
 *   sim_plan.c  the step plan, built on the run's worker threads: routing of every
 *               (layer, EP group), compute times, analytic all-to-all times;
 *   sim_flow.c  the flow-level network (network.model = "flow"): a collective's
 *               flows, the network's one engine event, the hottest links.
 * The runner holds the state of all three; the flow model's part is its own struct,
 * zeroed and unused with the analytic model.
 */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include "common/ms_pool.h"
#include "models/moe_model.h"
#include "network/net_alltoall.h"
#include "network/net_coll.h"
#include "network/net_model.h"
#include "routing/rt_router.h"
#include "sim/sim_dispatch.h"
#include "sim/sim_engine.h"
#include "sim/sim_inputs.h"
#include "sim/sim_run.h"
#include "topology/topo_cluster.h"
#include "topology/topo_graph.h"

enum { SIM_EV_RANK_DONE = 1, SIM_EV_GROUP_DONE = 2, SIM_EV_NET = 3, SIM_EV_FLOW_START = 4 };
/* Per (layer, GPU) plan entries. */
enum { SIM_T_PERMUTE, SIM_T_EXPERT_F, SIM_T_EXPERT_B, SIM_T_UNPERMUTE, SIM_T_N };

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

/* The flow-level network's state. */
typedef struct sim_flow {
	topo_graph *graph;
	net_model *net;
	net_a2a_algo algo;
	net_coll **colls;         /* [G]: each group's running all-to-all */
	int32_t *pairs_plan;      /* [L][G][P][P] kept pairs of the step, for the flows */
	int32_t *gpu_plan;        /* [L][G][P][P] distinct tokens per destination GPU */
	int32_t *domain_plan;     /* [L][G][P][nd_max] distinct tokens per destination domain */
	double *coll_domain_bytes; /* [P][nd_max] workspace */
	double *coll_bytes;       /* [P][P] workspace */
	double *coll_msgs;        /* [P][P] workspace */
	int *coll_ranks;          /* [P] */
	net_alltoall *costs_ws;   /* for the cost terms of a collective (net_alltoall_costs) */
	int *pending_layer;       /* [G] the collective waiting for its launch: layer, direction */
	int *pending_dir;
	double *floor_end;        /* [G] the earliest end of the running collective (NIC message floor) */
	int *net_done;            /* [G] groups whose all-to-all finished in one advance */
	int n_net_done;
	sim_event *net_ev;        /* the pending network event, or NULL */
} sim_flow;

struct sim_worker;

typedef struct runner {
	const scn_scenario *s;
	const sim_inputs *in;
	moe_model model;
	topo_cluster topo;
	sim_engine *eng;
	sim_result *res;
	int P, G, L, passes, world, E;
	int nd_max;         /* NVLink domains an EP group spans at most (the router's stride) */
	double dense_s[2];  /* dense part of one layer, forward and backward */
	int n_pos;          /* phases per step per GPU */
	double *plan_rank;  /* [L][world][SIM_T_N] */
	double *plan_group; /* [L][G][2]: dispatch, combine */
	net_alltoall_stats *gstats; /* [L][G][2] all-to-all statistics of the step */
	double *gnaive;     /* [L][G][2 directions][2 classes] bytes a per-pair copy would have moved */
	sim_wire wire;      /* the dispatcher's wire format */
	net_costs costs[2]; /* costs beyond bandwidth, towards the experts and back */
	int flow;           /* network.model = "flow" */
	sim_flow fl;
	struct sim_worker *workers;
	ms_pool *pool;      /* the run's threads, one per worker */
	int n_workers;
	rank_state *ranks;
	group_state *groups;
	int ranks_done;
	double inv_steps;
} runner;

/* sim_plan.c */
int sim_plan_init(runner *R, int threads, ms_error *err);
void sim_plan_fini(runner *R);
int sim_plan_build(runner *R, int step, ms_error *err);

/* sim_flow.c */
int sim_flow_init(runner *R, ms_error *err);
void sim_flow_fini(runner *R);
int sim_flow_start(runner *R, int g, int l, int dispatch_dir);
int sim_flow_launched(runner *R, int g);
int sim_flow_event(runner *R);
void sim_flow_hot_links(runner *R, double total_s);

/* sim_run.c: group g's collective has finished now. */
int sim_group_done(runner *R, int g);

#endif
