/*
 * moe_memory.h - memory per GPU of every pipeline stage: weights, gradients, optimizer
 * states, activations, KV cache, communication buffers, reserved; the peak stage against
 * the GPU's capacity, and advice when it does not fit.
 *
 * Layout (Megatron-Core). pp ranks, each holding vpp model chunks; virtual stage
 * v = chunk x pp + pp_rank holds layers [floor(v L / (pp vpp)), floor((v+1) L / (pp vpp))), or
 * the uneven split of parallel.first_stage_layers / last_stage_layers (scn_stage_layers).
 * The embedding is on virtual stage 0, the final norm, the LM head and (training) the MTP
 * modules on the last one. On a GPU: attention, dense FFN, shared experts, embedding, head
 * and MTP projections are split over tp; norms, the router and MLA's down projections are
 * whole on every TP rank; the routed experts are experts / ep per GPU, each split over etp.
 *
 * Bytes per parameter (training): weights in the model dtype (fp8 training keeps bf16
 * weights: 2), gradients in fp32 if training.grad_fp32 else the weights' dtype, and the
 * optimizer (Adam): fp32 master weights (none when the weights are fp32) + 2 fp32 moments
 * (+ an fp32 copy of the gradients when they are not fp32) - 12 B for bf16 with fp32
 * gradients. The distributed optimizer shards it over the data-parallel group: dense
 * parameters over dp x cp, expert parameters over edp = world / (ep x etp x pp). This is
 * Megatron's table (docs/user-guide/features/dist_optimizer.md, NVIDIA/Megatron-LM
 * d98e8a64): bf16 param, fp32 grads 18 B or 6 + 12/d; fp16 and fp16 grads 20 or 4 + 16/d;
 * fp32 16 or 8 + 8/d. Inference holds weights only.
 *
 * Activations, KV cache and buffers: moe_memory.c's header comment counts every tensor.
 *
 * Capacity: cluster.gpu_memory_GiB if > 0, else the datasheet's hbm_bytes; reserved =
 * cluster.reserved_memory_GiB is one more line of the breakdown. 1 GiB = 2^30 B.
 */
#ifndef MOE_MEMORY_H
#define MOE_MEMORY_H

#include <stddef.h>

#include "common/ms_error.h"
#include "models/moe_arch.h"
#include "scenario/scn_scenario.h"

typedef struct moe_memory_stage {
	int pp_rank;
	int layers, moe_layers;        /* transformer layers on this GPU (all its chunks), of them MoE */
	int embedding, head, mtp;      /* holds the embedding / the final norm and LM head / MTP modules */
	double dense_params;           /* parameters per GPU outside the routed experts */
	double expert_params;          /* routed-expert parameters per GPU */
	double inflight;               /* micro-batches (model-chunk micro-batches with vpp > 1) whose
	                                * activations are held at the peak; inference 1 */
	/* bytes per GPU */
	double weights, grads, optimizer, activations, kv_cache, buffers, reserved;
	double total;
} moe_memory_stage;

typedef struct moe_memory {
	int nstages;                   /* pp */
	moe_memory_stage *stage;       /* [nstages], owned: moe_memory_free */
	int peak;                      /* the stage with the largest total (the first of equals) */
	double peak_bytes;             /* its total */
	double capacity;               /* bytes per GPU */
	int fits;                      /* peak_bytes <= capacity */
} moe_memory;

/*
 * Estimates s's memory with its architecture a (moe_arch_init of s). Errors: MS_EINVAL
 * when the GPU is unknown and cluster.gpu_memory_GiB is 0, or the layout cannot hold the
 * model (ep x etp x pp or tp x cp x pp not dividing the GPUs); MS_ENOMEM. On error out
 * holds nothing to free.
 */
int moe_memory_estimate(const scn_scenario *s, const moe_arch *a, moe_memory *out, ms_error *err);

/* Parameters per GPU of one transformer layer (MoE when moe): *dense outside the routed
 * experts (split over tp, but for what Megatron keeps whole on every TP rank: norms,
 * the router, MLA's down projections) and *expert, the GPU's expert replicas (each split
 * over etp). The one count the memory estimate, the gradient buckets and the optimizer
 * share. */
void moe_memory_layer_params(const scn_scenario *s, const moe_arch *a, int moe, double *dense, double *expert);

/* Frees what moe_memory_estimate allocated (m may be zeroed or already freed). */
void moe_memory_free(moe_memory *m);

/*
 * Activation bytes per GPU of one micro-batch in layer `layer` (0 .. layers-1), training
 * without recomputation: the tensors moe_memory.c counts. For tests and reports.
 */
double moe_memory_layer_activations(const scn_scenario *s, const moe_arch *a, int layer);

/*
 * Writes into buf[len] a message about m (the estimate of s): when it fits, one line with
 * the peak and the capacity; when not, the peak stage's breakdown in GB (1e9 B) and each
 * change that lowers the peak, found by re-running the estimate on a modified copy of s:
 * parallel.pp x 2 (if the layers and GPUs allow), parallel.ep x 2 (if the experts and GPUs
 * allow), training.recompute = full, workload.micro_batch = 1 (global batch kept),
 * training.distributed_optimizer = true, and all of those that help together; each with
 * its resulting peak and whether it fits. Returns 1 if m fits, 0 if not, negative if an
 * estimate failed for s itself.
 */
int moe_memory_advice(const scn_scenario *s, const moe_memory *m, char *buf, size_t len);

#endif
