/*
 * sim_run.h - plays a scenario's whole step on the event engine (docs/model.md, "The
 * whole step"): every GPU runs its pipeline stage's program (sim_prog.c) in Megatron-
 * Core's schedule order, micro-batch after micro-batch, forward (and backward in
 * training); collectives wait for every member of their group (TP, CP, EP, ETP, data-
 * parallel), pipeline sends land in the next stage's mailbox, gradient buckets run on a
 * second stream, and the step ends with the optimizer and a barrier. Step after step,
 * the results collected here.
 *
 * Every second of a GPU's compute stream goes to one phase, waits included, so for every
 * GPU the phases add up to the step time exactly (step_phase_s).
 *
 * EP groups follow Megatron's expert grid (rt_router.h, rt_ep_member_rank): consecutive
 * ranks when etp = 1, etp ranks apart otherwise.
 */
#ifndef SIM_RUN_H
#define SIM_RUN_H

#include <stdint.h>

#include "common/ms_error.h"
#include "parallel/par_layout.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_inputs.h"
#include "trace/tr_stats.h"

typedef enum {
	SIM_PH_DENSE,
	SIM_PH_PERMUTE,
	SIM_PH_DISPATCH,
	SIM_PH_EXPERT,
	SIM_PH_COMBINE,
	SIM_PH_UNPERMUTE,
	SIM_PH_WAIT,
	SIM_PH_TP,        /* tensor-, context- and expert-tensor-parallel collectives */
	SIM_PH_BUBBLE,    /* waiting for the neighbouring pipeline stage */
	SIM_PH_DP,        /* waiting for the gradient reductions and parameter gathers */
	SIM_PH_OPTIMIZER, /* the optimizer step */
	SIM_NPHASES
} sim_phase;

const char *sim_phase_name(int phase);

/* Memory parts of a GPU: weights, grads, optimizer, activations, kv_cache, buffers, reserved. */
enum { SIM_MEM_NPARTS = 7 };
const char *sim_mem_part_name(int part);

typedef struct sim_result {
	int world, layers, passes, steps, ep, groups, experts;
	/* layers: routed MoE layers (MTP modules' included), for the per-layer routing
	 * results; all_layers: transformer layers plus MTP modules, for phase_s */
	int all_layers, microbatches;
	int stage_gpus;            /* GPUs per pipeline stage: stage s is ranks s x stage_gpus .. */
	int *moe_stage;            /* [layers] the pipeline stage holding each MoE layer */
	int64_t tokens_per_step;   /* tokens the whole cluster computes per step */
	double model_flops_per_step; /* FLOPs as MFU counts them (docs/model.md), the experts' FLOPs those of the kept pairs */
	double *step_phase_s;      /* [world][phases] per GPU, the whole step, mean over steps */
	/* the collectives on the communication stream (schedule.overlap, training.
	 * tp_comm_overlap), [0] dispatch, [1] combine (forward and backward), [2] TP, seconds
	 * per GPU per step: their whole time, and the part the compute stream waited for
	 * them (the rest hidden) */
	double comm_total_s[3];
	double comm_exposed_s[3];
	double pp_total_s;         /* seconds per GPU per step of pipeline sends in flight (to it), and */
	double pp_exposed_s;       /* of that, what its receives waited for (part of the phase pp_bubble) */
	double dp_stream_s;        /* seconds per GPU per step the data-parallel stream spent in collectives
	                            * (its exposed part is the phase dp) */
	int critical_gpu;          /* the GPU that finished the last step last: its phases set the step time */
	double *step_time_s;       /* [steps] */
	int64_t *pairs;            /* [steps] token-expert pairs routed */
	int64_t *dropped_pairs;    /* [steps] */
	int64_t *tokens;           /* [steps] tokens routed (per layer, summed over layers) */
	int64_t *dropped_tokens;   /* [steps] tokens that lost every choice (summed over layers) */
	double *phase_s;           /* [passes][all_layers][world][phases], summed over micro-batches, mean over steps */
	double *rank_load;         /* [layers][world] token-expert pairs received per micro-batch, mean over steps */
	double *expert_demand;     /* [layers][experts] pairs routed to each expert (all groups) per micro-batch, mean over steps */
	double *dispatch_s;        /* [layers] forward dispatch time, mean over groups, micro-batches and steps */
	double *combine_s;         /* [layers] */
	/* training: the backward all-to-alls of the dispatch (C_A2A_BACK) and of the combine
	 * (C_A2A_TO), as dispatch_s */
	double *dispatch_bwd_s;    /* [layers] */
	double *combine_bwd_s;     /* [layers] */
	/* per step (issue 14) */
	double *steps_phase_s;     /* [steps][world][phases] each GPU's phases in each step; rows sum to step_time_s */
	double *steps_layer_phase_s; /* [steps][passes][all_layers][world][phases] (sim_record.layer_steps), else NULL */
	int64_t *expert_routed;    /* [steps][layers][experts] pairs routed to each expert, all micro-batches and groups */
	int64_t *expert_kept;      /* [steps][layers][experts] the same after capacity drops */
	/* With a replayed trace's domain labels (docs/routing.md, "Specialisation in the run"):
	 * the kept pairs as trace/tr_stats.h counts them, over every step, all micro-batches
	 * and groups: load [layers][experts], domain_load [layers][labels][experts] and
	 * domain_tokens [labels] (the first MoE layer's tokens), for tr_stats_summary's purity
	 * and concentration; NULL without labels (synthetic routing, or a trace without). */
	tr_stats *kept_labels;
	/* With labels (else NULL): [4][steps][layers] purity, purity_baseline, concentration,
	 * concentration_baseline of each step's kept pairs alone (the counts above, one step) */
	double *step_specialisation;
	int64_t *layer_dropped_tokens; /* [steps][layers] tokens that lost every choice, all micro-batches and groups */
	int64_t *layer_dropped_pairs;  /* [steps][layers] chosen pairs not kept (expert_choice: not routed - kept), likewise */
	int slots;                 /* expert replica slots per EP member (the placement's) */
	int32_t *slot_expert;      /* [layers][ep][slots] the expert in each slot, -1 for none */
	int64_t *slot_pairs;       /* [steps][layers][world][slots] pairs each slot computed, all micro-batches */
	/* sim_record.traffic: [2][layers][world][world] bytes GPU i sends GPU j in the forward
	 * dispatch ([0]) and combine ([1]), all micro-batches, mean over steps; else NULL */
	double *traffic;
	/* sim_record.links (flow model): every link over the run, and binned over time */
	int n_links;
	int link_bins;             /* bins used */
	double link_bin_s;         /* their width */
	double run_time_s;         /* the run's simulated time: the steps' times summed */
	char (*link_name)[96];     /* [n_links] */
	int8_t *link_class;        /* [n_links] hw_link_class */
	double *link_capacity_Bps; /* [n_links] */
	double *link_bytes;        /* [n_links] over the run */
	double *link_bin_bytes;    /* [n_links][link_bins] */
	int hot_link_index[8];     /* links of hot_link_name, indices into link_name (with links) */
	double nvlink_bytes;       /* per step, forward dispatch + combine (backward doubles it) */
	double nic_bytes;
	/* per step, forward, [0] dispatch (towards the experts), [1] combine (back), as the
	 * dispatcher moves them (relay legs included; the backward pass moves the mirror) */
	double a2a_nvlink_bytes[2];
	double a2a_nic_bytes[2];
	double a2a_naive_nvlink_bytes[2]; /* what one copy per (token, expert) pair would move inside domains */
	double a2a_naive_nic_bytes[2];    /* ... and across them */
	double hot_nvlink_bytes;   /* largest bytes one NVLink port carried in one all-to-all */
	int hot_nvlink_rank;
	int hot_nvlink_layer;
	double hot_nic_bytes;
	int hot_nic;
	int hot_nic_layer;
	uint64_t events;           /* events the engine processed */
	/* whole-step figures (docs/model.md, "The whole step") */
	double peak_flops;         /* per GPU, the dense BF16 peak (TF32 for fp32 models; datasheet), for MFU */
	double mem_peak_bytes;     /* memory per GPU of the fullest pipeline stage (models/moe_memory.h) */
	double mem_capacity_bytes; /* what a GPU holds */
	int mem_peak_stage;
	double mem_parts[SIM_MEM_NPARTS]; /* that stage's breakdown, sim_mem_part_name order */
	int mem_stages;
	double *mem_stage_bytes;   /* [mem_stages] total per GPU of each stage */
	/* flow model only: the most utilised links over the whole run */
	int network_flow;
	/* the flow solver's work over the run (net_maxmin_stats; bench/bench_scale.c) */
	uint64_t net_solves, net_incidences, net_resolved, net_changed;
	int n_hot_links;
	char hot_link_name[8][96]; /* "gpu3 -> nvswitch0 (nvlink)" */
	double hot_link_util[8];   /* bytes / (capacity x simulated time) */
	double hot_link_bytes[8];
} sim_result;

/*
 * Runs the scenario of the opened inputs (sim_inputs.h). On success *out owns a result
 * to free with sim_result_free. Routing runs on `threads` threads (0: the online CPUs),
 * created once for the run; the result does not depend on their number (tested).
 */
int sim_run(const sim_inputs *in, int threads, sim_result **out, ms_error *err);

/* The same for a scenario whose inputs it opens and closes itself (warnings dropped):
 * for tests and benchmarks. */
int sim_run_scenario(const scn_scenario *s, int threads, sim_result **out, ms_error *err);
void sim_result_free(sim_result *r);

/* The scenario's Megatron-Core layout (parallel/par_layout.h): its rules checked, every
 * group built. Refused layouts return MS_EINVAL with the rule's message. */
int sim_layout_init(par_layout *l, const scn_scenario *s, ms_error *err);

/* Index into phase_s. */
static inline size_t sim_phase_index(const sim_result *r, int pass, int layer, int rank, int phase)
{
	return (((size_t)pass * r->all_layers + layer) * r->world + rank) * SIM_NPHASES + phase;
}

#endif
