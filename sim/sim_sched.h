/*
 * sim_sched.h - the order in which one pipeline rank runs its micro-batches, exactly as
 * Megatron-Core's schedules do (megatron/core/pipeline_parallel/schedules.py):
 *
 *   no pipelining (pp = 1, forward_backward_no_pipelining): F(0) B(0) F(1) B(1) ...;
 *   1F1B (forward_backward_pipelining_without_interleaving): rank r first runs
 *     min(pp - r - 1, m) warm-up forwards, then alternates one forward and one
 *     backward, then drains the remaining backwards;
 *   interleaved 1F1B (forward_backward_pipelining_with_interleaving, vpp model chunks
 *     per rank): the m x vpp virtual micro-batches follow get_schedule_table: groups of
 *     pp micro-batches (microbatch_group_size_per_vp_stage, default pp), each group run
 *     through chunk 0, then chunk 1, ...; a backward visits the chunks in reverse order
 *     (chunk vpp - 1 - c). Warm-up: (pp - r - 1) x 2 + (vpp - 1) x pp forwards, at most
 *     m x vpp (get_pp_rank_microbatches);
 *   forward only (inference): every forward in the same order.
 *
 * The schedule fixes each rank's order only; the pipeline bubble comes out of playing it
 * on the engine, where a stage waits for the activations (or gradients) of its
 * neighbours.
 */
#ifndef SIM_SCHED_H
#define SIM_SCHED_H

#include "common/ms_error.h"

typedef struct sim_sched_item {
	int backward; /* 0: forward, 1: backward */
	int mb;       /* micro-batch */
	int chunk;    /* model chunk of this rank (0 without interleaving) */
} sim_sched_item;

/* The number of items rank r runs: 2 m vpp in training, m vpp forward only. */
int sim_sched_count(int m, int vpp, int forward_only);

/*
 * Writes rank r's items (sim_sched_count of them) in execution order. pp >= 1, 0 <= r <
 * pp, m >= 1, vpp >= 1 (vpp > 1 needs pp > 1).
 */
void sim_sched_build(int pp, int vpp, int m, int r, int forward_only, sim_sched_item *out);

/* Warm-up forwards of rank r (Megatron's num_warmup_microbatches). */
int sim_sched_warmup(int pp, int vpp, int m, int r, int forward_only);

#endif
