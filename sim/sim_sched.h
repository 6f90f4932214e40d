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

/*
 * DualPipe (DeepSeek-V3 report sec. 3.2.1; deepseek-ai/DualPipe, dualpipe/dualpipe.py):
 * pp (even) ranks, rank r holding stage r of the forward direction and stage pp - 1 - r
 * of the reverse one; m (even, >= 2 pp) micro-batches, the first m / 2 flowing from rank 0
 * to pp - 1, the others back. Rank r's actions in DualPipe.step()'s order:
 *   RECV_F / RECV_B   post a receive of activations / gradients (dir, the direction's
 *                     mb-th), completed at the next COMMIT;
 *   SEND_F / SEND_B   post a send of the direction's mb-th output / input gradient,
 *                     launched at the next COMMIT;
 *   COMMIT            _commit_and_wait_comm: launch what is posted, wait for the receives;
 *   F, B              a forward or backward chunk of (dir, mb); zb: B computes the input
 *                     gradients only and defers the weight gradients (WeightGradStore);
 *   FB                forward chunk (dir, mb) overlapped with backward chunk (dir1, mb1);
 *   W                 the oldest deferred weight-gradient chunk (FIFO).
 */
typedef enum {
	SIM_DP_RECV_F, SIM_DP_RECV_B, SIM_DP_SEND_F, SIM_DP_SEND_B, SIM_DP_COMMIT, SIM_DP_F, SIM_DP_B, SIM_DP_FB,
	SIM_DP_W
} sim_dp_kind;

typedef struct sim_dp_action {
	int kind;     /* sim_dp_kind */
	int dir, mb;  /* direction (0: rank 0 to pp - 1) and micro-batch of that direction */
	int dir1, mb1; /* FB: the backward chunk's */
	int zb;       /* B: weight gradients deferred */
} sim_dp_action;

/* Room sim_dualpipe_build needs for rank r's actions: at most this many. */
static inline int sim_dualpipe_cap(int m)
{
	return 20 * m + 16;
}

/* Writes rank r's actions (at most cap); returns their count, -1 if cap is too small. */
int sim_dualpipe_build(int pp, int m, int r, sim_dp_action *out, int cap);

#endif
