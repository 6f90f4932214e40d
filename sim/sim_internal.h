/*
 * sim_internal.h - what the parts of a run share (not for other modules):
 *   sim_prog.c  the step as a program per pipeline stage (ops in Megatron's schedule
 *               order), its gradient buckets and the stage-constant compute times;
 *   sim_run.c   the engine's play of the programs: GPU cursors, collectives of every
 *               group, point-to-point sends, the data-parallel stream, results;
 *   sim_plan.c  the routing plan, built on the run's worker threads: routing of every
 *               (sample, MoE layer, EP group), compute times, analytic all-to-all times;
 *   sim_flow.c  the flow-level network (network.model = "flow"): collectives and sends
 *               as flows, the network's one engine event, the hottest links.
 * The runner holds the state of all; the flow model's part is its own struct, zeroed
 * and unused with the analytic model.
 */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include "common/ms_pool.h"
#include "models/moe_arch.h"
#include "models/moe_memory.h"
#include "models/moe_model.h"
#include "network/net_alltoall.h"
#include "network/net_coll.h"
#include "network/net_model.h"
#include "network/net_reduce.h"
#include "parallel/par_layout.h"
#include "routing/rt_router.h"
#include "sim/sim_dispatch.h"
#include "sim/sim_engine.h"
#include "sim/sim_inputs.h"
#include "sim/sim_run.h"
#include "sim/sim_timeline.h"
#include "topology/topo_cluster.h"
#include "topology/topo_graph.h"

enum { SIM_EV_GPU = 1, SIM_EV_GROUP_DONE = 2, SIM_EV_NET = 3, SIM_EV_FLOW_START = 4, SIM_EV_ARRIVE = 5 };
/* Per (sample, MoE layer, GPU) plan entries. */
/* SIM_T_LOAD: pairs the GPU's experts receive; SIM_T_ETP: with expert tensor parallelism,
 * the rows its ETP group gathers. */
enum { SIM_T_PERMUTE, SIM_T_EXPERT_F, SIM_T_EXPERT_B, SIM_T_UNPERMUTE, SIM_T_LOAD, SIM_T_ETP, SIM_T_N };

/* What a program's op does. */
typedef enum {
	OP_COMPUTE,   /* on the GPU's compute stream, for op_time() */
	OP_COLL,      /* a collective of the GPU's group of a kind: every member must arrive */
	OP_SEND,      /* activations (forward) or gradients (backward) to the next / previous stage */
	OP_RECV,      /* waits for what the neighbouring stage sent */
	OP_DP_LAUNCH, /* queues gradient buckets [aux, aux + n) on the data-parallel stream */
	OP_DP_WAIT,   /* waits until the data-parallel stream is empty */
	OP_EP_LAUNCH, /* queues all-to-all aux on the communication stream (schedule.overlap) */
	OP_EP_WAIT    /* waits until the communication stream has finished all-to-all aux */
} sim_op_kind;

/* What of a backward compute op runs: all of it, the input gradients only (its weight
 * gradients deferred), or the deferred weight gradients (Qi et al. 2023, "Zero Bubble
 * Pipeline Parallelism", sec. 2: B and W; DualPipe's WeightGradStore). */
enum { SIM_SPLIT_NONE, SIM_SPLIT_INPUT, SIM_SPLIT_WEIGHT };

/* Compute ops. */
enum {
	W_EMBED, W_ATTN, W_DENSE_FFN, W_ROUTER, W_SHARED, W_PERMUTE, W_EXPERT, W_UNPERMUTE,
	W_HEAD, W_MTP_PROJ, W_OPTIMIZER, W_NCOMPUTE
};
/* Collective ops (OP_COLL). */
enum { C_TP_AG, C_TP_RS, C_CP_AG, C_CP_RS, C_A2A_TO, C_A2A_BACK, C_DP, C_ETP_AG, C_ETP_RS };
/* Group kinds the runner plays collectives in. */
enum { GK_TP, GK_CP, GK_EP, GK_DPD, GK_DPE, GK_ETP, GK_N };

typedef struct sim_op {
	uint8_t kind;   /* sim_op_kind */
	uint8_t what;   /* W_* or C_* */
	uint8_t pass;   /* 0 forward, 1 backward */
	uint8_t phase;  /* sim_phase it is accounted to */
	uint8_t split;  /* backward compute (DualPipe's zero-bubble chunks): SIM_SPLIT_* */
	int16_t layer;  /* 0 .. layers - 1, layers + i for MTP module i, -1 for none */
	int16_t chunk;  /* model chunk (SEND / RECV: the virtual stage the data is for) */
	int32_t mb;     /* micro-batch */
	int32_t aux;    /* OP_DP_LAUNCH: first bucket; OP_DP_WAIT: buckets queued so far */
	int32_t n;      /* OP_DP_LAUNCH: buckets */
	int32_t half;   /* two_batch: which half of the micro-batch (0 without overlap) */
} sim_op;

/* A collective on a GPU's communication stream: an all-to-all (schedule.overlap) or a TP
 * all-gather or reduce-scatter (training.tp_comm_overlap). */
typedef struct sim_ep_item {
	int what;          /* C_A2A_TO, C_A2A_BACK, C_TP_AG or C_TP_RS */
	int phase;         /* SIM_PH_DISPATCH, SIM_PH_COMBINE or SIM_PH_TP, as the compute stream would count it */
	int layer, mb, half, pass;
} sim_ep_item;

/* A data-parallel collective: one gradient bucket's reduction or one parameter gather. */
typedef struct sim_bucket {
	int gk;            /* GK_DPD (dense parameters) or GK_DPE (expert parameters) */
	net_red_op op;     /* reduce-scatter, all-reduce or all-gather */
	double bytes;      /* the collective's S (net_reduce.h) */
	double params;     /* parameters in the bucket, on this GPU */
} sim_bucket;

/* One pipeline rank's step: the same for every GPU of the stage. */
typedef struct sim_prog {
	sim_op *ops;
	int n_ops, cap_ops;
	sim_bucket *buckets;
	int n_buckets, cap_buckets;
	sim_ep_item *ep_items;
	int n_ep, cap_ep;
	double params_dense, params_expert; /* on each GPU of the stage */
	double optimizer_s;                 /* the optimizer step's time */
} sim_prog;

typedef struct gpu_state {
	int pc;            /* index of the op being run in the stage's program */
	double arrived;    /* when it reached the op it blocks on */
	int blocked;       /* 1: waiting in a collective, a receive or the DP stream */
	int dp_next;       /* next bucket the DP stream runs */
	int dp_queued;     /* buckets queued so far */
	int dp_busy;       /* the DP stream is in a collective */
	double dp_start;   /* when its running collective was queued on it */
	int ep_next, ep_queued, ep_busy; /* the communication stream, as the DP stream */
	double ep_start;   /* when its running all-to-all started */
	/* the running compute op under SM sharing (overlap modes only) */
	sim_event *cur_ev; /* its completion event, or NULL */
	double work_left;  /* seconds of it left at the full rate */
	double rate;       /* 1, or the share of SMs left while an all-to-all runs beside it */
	double t_last;     /* when work_left was last brought up to date */
	double op_start;   /* when it started */
	double finished;   /* when it finished the step */
} gpu_state;

/* One group's collective in progress. */
typedef struct group_state {
	int gk;            /* kind */
	int n;             /* members */
	const int *members;
	int *owned;        /* members allocated here (DualPipe's unions), else NULL */
	int arrived;       /* members at the current collective */
	int what;          /* its C_* (checked for every member) */
	int layer, mb, pass, bucket, half;
	double bytes;
	double start;      /* when the last member arrived */
	int stream;        /* whose it is: 0 the compute stream, 1 the data-parallel, 2 the communication stream */
} group_state;

/* The flow-level network's state. */
typedef struct sim_flow {
	topo_graph *graph;
	net_model *net;
	net_a2a_algo algo;
	net_coll **colls;         /* [EP groups]: each EP group's running all-to-all */
	net_red **reds;           /* [groups]: each other group's running reduction */
	int32_t *pairs_plan;      /* [samples][moe][Gs][P][P] kept pairs, for the flows */
	int32_t *gpu_plan;        /* [samples][moe][Gs][P][P] distinct tokens per destination GPU */
	int32_t *domain_plan;     /* [samples][moe][Gs][P][nd_max] distinct tokens per destination domain */
	double *coll_domain_bytes; /* [P][nd_max] workspace */
	double *coll_bytes;       /* [P][P] workspace */
	double *coll_msgs;        /* [P][P] workspace */
	int *coll_ranks;          /* [P] */
	net_alltoall *costs_ws;   /* for the cost terms of a collective (net_alltoall_costs) */
	double *floor_end;        /* [groups] the earliest end of the running collective (NIC message floor) */
	int *net_done;            /* [groups] collectives that finished in one advance */
	int n_net_done;
	int *p2p_done;            /* [2 x world] sends that finished in one advance: tag ids */
	int n_p2p_done;
	sim_event *net_ev;        /* the pending network event, or NULL */
} sim_flow;

struct sim_worker;

typedef struct runner {
	const scn_scenario *s;
	const sim_inputs *in;
	moe_model model;
	moe_model emodel;   /* the experts as one ETP rank computes them: ffn_hidden / etp */
	moe_arch arch;
	topo_cluster topo;
	par_layout lay;
	sim_engine *eng;
	sim_result *res;
	int P, G, Gs, world, E, pp, vpp, m;
	int layers;         /* transformer layers */
	int mtp;            /* MTP modules played: model.mtp_layers in training, none in inference */
	int n_moe;          /* routed MoE layers: model.moe_layers + the MTP modules' */
	int *moe_of;        /* [layers + mtp] MoE index of each layer, -1 for dense */
	int *stage_of_moe;  /* [n_moe] the pipeline rank holding it */
	int samples;        /* routings per step per MoE layer: routed_microbatches x units */
	int units;          /* routing units per micro-batch: 2 halves with two_batch, else 1 */
	double T;           /* tokens per GPU per unit: tokens_per_rank / units */
	double comm_rate;   /* compute speed beside an overlapped all-to-all: 1 - comm_sms / SMs */
	scn_scenario *route_s; /* two_batch: the scenario as the router sees it (T tokens a rank) */
	int passes;
	int dualpipe;       /* schedule.overlap = dualpipe: rank r holds stages r and pp - 1 - r */
	int chunks;         /* model chunks per pipeline rank: vpp, 2 with DualPipe (chunk = direction) */
	int streams;        /* a communication stream beside compute (schedule.overlap other than none,
			     * or training.tp_comm_overlap) */
	int tp_overlap;     /* the TP collectives on it: training.tp_comm_overlap with tp > 1 */
	int nd_max;         /* NVLink domains an EP group spans at most (the router's stride) */
	double t_compute[W_NCOMPUTE][2][2]; /* stage-constant compute times: [what][pass][moe layer] */
	sim_prog *progs;    /* [pp] */
	double *plan_rank;  /* [samples][n_moe][world][SIM_T_N] */
	double *plan_group; /* [samples][n_moe][Gs][2]: towards the experts, back */
	int32_t *plan_slots; /* etp > 1: [samples][n_moe][world][slots] what each replica slot receives */
	int slots;
	net_alltoall_stats *gstats; /* [samples][n_moe][Gs][2] all-to-all statistics of the step */
	double *gnaive;     /* [samples][n_moe][Gs][2 directions][2 classes] bytes a per-pair copy would move */
	sim_wire wire;      /* the dispatcher's wire format */
	net_costs costs[2]; /* costs beyond bandwidth of an all-to-all, towards the experts and back */
	net_costs red_costs; /* of a reduction or a send: one launch */
	net_red_analytic *red_ws;
	int flow;           /* network.model = "flow" */
	sim_flow fl;
	struct sim_worker *workers;
	ms_pool *pool;
	int n_workers;
	gpu_state *gpus;
	group_state *groups; /* [n_groups]: every group of every kind */
	int n_groups;
	int group_base[GK_N]; /* first group of each kind in groups[] */
	int *dp_alias;      /* DualPipe: [n_groups] the group a data-parallel group reduces in (its
			     * union with the mirror stage's), else NULL */
	double *arrive;     /* [world][2][m][chunks] when a send for (direction, mb, chunk) arrives; < 0 not yet */
	double *sent;       /* [world][2][m][chunks] when the send of it started */
	int *wait_key;      /* [world] the receive a blocked GPU waits for, -1 for none */
	int ranks_done;
	double step_t0;
	double inv_steps;
	double *mb_uses;    /* [samples] micro-batches replaying each routing sample */
	/* What the run records on request (sim_timeline.h); all NULL without a record. */
	int step;           /* the step being played */
	const sim_record *rec;
	sim_timeline *tl;
	double *tl_sent;    /* timeline: [samples][n_moe][world][2] bytes each GPU sends in each direction */
	double *traffic_smp; /* traffic: [samples][n_moe][Gs][2][P][P] one micro-batch's transfer matrices */
	struct net_bins *bins; /* links: every link's bytes over time */
} runner;

/* The router's EP group (rt_ep_member_rank) of a rank, and its index in its stage. */
int sim_ep_group(const runner *R, int rank);
static inline int sim_ep_local(const runner *R, int rank)
{
	return sim_ep_group(R, rank) % R->Gs;
}

/* The group of kind gk that rank belongs to, as an index into R->groups. */
int sim_group_index(const runner *R, int gk, int rank);

/* The virtual stage of pipeline rank r's model chunk c, and the pipeline rank (and chunk)
 * holding virtual stage v in chunk c's direction: chunk c x pp + r, or with DualPipe r
 * (direction 0) and pp - 1 - r (direction 1). */
static inline int sim_vstage(const runner *R, int r, int c)
{
	return R->dualpipe ? (c ? R->pp - 1 - r : r) : c * R->pp + r;
}
static inline int sim_vstage_rank(const runner *R, int v, int c, int *chunk)
{
	*chunk = R->dualpipe ? c : v / R->pp;
	return R->dualpipe ? (c ? R->pp - 1 - v : v) : v % R->pp;
}
static inline int sim_nvstages(const runner *R)
{
	return R->dualpipe ? R->pp : R->pp * R->vpp;
}

/* The row of rank's routing plan for MoE layer moe (SIM_T_N doubles of sample smp): with
 * DualPipe a layer also runs on the mirror stage, whose GPUs replay the routing of the
 * GPUs at the same place in the stage that holds it in the forward direction. */
static inline int sim_plan_rank(const runner *R, int moe, int rank)
{
	if (R->dualpipe) {
		int sr = R->world / R->pp, stage = rank / sr;
		if (stage != R->stage_of_moe[moe])
			rank = (R->pp - 1 - stage) * sr + rank % sr;
	}
	return rank;
}
static inline const double *sim_plan_row(const runner *R, int smp, int moe, int rank)
{
	return R->plan_rank + (((size_t)smp * R->n_moe + moe) * R->world + sim_plan_rank(R, moe, rank)) * SIM_T_N;
}

/* The program of rank's pipeline stage. */
static inline const sim_prog *sim_prog_of(const runner *R, int rank)
{
	return &R->progs[par_stage_of(&R->lay, rank)];
}

/* sim_prog.c */
int sim_prog_build(runner *R, ms_error *err);
void sim_prog_free(runner *R);
double sim_op_time(const runner *R, int rank, const sim_op *op);
int sim_sample_of(const runner *R, int mb, int half);

/* sim_plan.c */
int sim_plan_init(runner *R, int threads, ms_error *err);
void sim_plan_fini(runner *R);
int sim_plan_build(runner *R, int step, ms_error *err);
int sim_plan_slots(const runner *R); /* expert replica slots per EP member (the placement's) */

/* sim_progress.c: the run's layers reported through R->in->progress, if any. */
void sim_progress_start(runner *R);     /* after the engine exists */
void sim_progress_step_done(runner *R); /* after step R->step */

/* sim_flow.c */
int sim_flow_init(runner *R, ms_error *err);
void sim_flow_fini(runner *R);
int sim_flow_start(runner *R, int gi);
int sim_flow_launched(runner *R, int gi);
int sim_flow_send(runner *R, int src, int dst, int dir, double bytes, int key);
int sim_flow_event(runner *R);
void sim_flow_hot_links(runner *R, double total_s);

/* sim_timeline.c: the runner's hooks, called only with R->tl. account()'s interval of a
 * GPU's compute stream; a communication (SIM_TL_COMM) or data-parallel stream's running
 * item ends now. */
void sim_tl_account(runner *R, int rank, int pass, int layer, int phase, double d);
void sim_tl_stream_done(runner *R, int rank, int stream, double now);
/* What the run records on request: set up before the first step (R->rec may be NULL),
 * a step's traffic matrices into the result, the timeline sorted and the links'
 * results after the last step, and everything freed (also on failure). */
int sim_record_init(runner *R, ms_error *err);
void sim_record_traffic(runner *R);
int sim_record_fini(runner *R, ms_error *err);
void sim_record_release(runner *R);

/* sim_run.c: group gi's collective has finished now; a send to dst has arrived now. */
int sim_group_done(runner *R, int gi);
int sim_arrived(runner *R, int dst, int key);

#endif
