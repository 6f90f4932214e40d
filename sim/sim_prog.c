/*
 * sim_prog.c - the step as one program per pipeline stage (see sim_internal.h).
 *
 * A stage's GPUs run the same ops in the same order: its schedule's items
 * (sim_sched.h, Megatron's order), each a forward or backward of one micro-batch
 * through one model chunk, expanded layer by layer (docs/model.md, "The whole step"):
 *
 *   forward of a layer    [TP all-gather] [CP all-gather of K, V] attention [TP reduce-
 *                         scatter]; then the FFN: dense ([TP AG] FFN [TP RS]) or MoE
 *                         (router, permute, all-to-all to the experts, experts, all-to-
 *                         all back, unpermute, [TP AG] shared experts [TP RS]); with
 *                         expert tensor parallelism the experts sit between an all-
 *                         gather and a reduce-scatter of their ETP group (sim_plan.c);
 *   backward of a layer   the same in reverse with every collective mirrored (an all-
 *                         gather's gradient is a reduce-scatter; combine's gradient
 *                         crosses with the dispatch matrix), compute at twice the
 *                         forward FLOPs; full recomputation first replays the layer's
 *                         forward, selective recomputes the attention core;
 *   a chunk's forward     receives the activations from the previous virtual stage
 *                         (unless first: the embedding), runs its layers, sends them on
 *                         (unless last: the MTP modules and the LM head);
 *   a chunk's backward    the mirror, gradients flowing from the next virtual stage.
 *
 * Tensor and sequence parallelism as Megatron-Core runs them (its TransformerLayer with
 * sequence_parallel): a layer's input is split along the sequence over the TP group,
 * all-gathered before each column-parallel block and reduce-scattered after each row-
 * parallel one; the MoE layer routes each rank's own shard (the token dispatcher's
 * input). So per GPU every part computes T = workload.tokens_per_rank tokens' worth of
 * FLOPs (T x tp tokens through 1/tp of the heads or FFN width).
 *
 * Data parallelism (Megatron-Core's DistributedDataParallel with the distributed
 * optimizer, distributed/param_and_grad_buffer.py): a stage's parameters form buckets
 * in backward order (each model chunk its own buffers; dense and expert parameters apart,
 * reduced over the dp-cp and the expert-dp group), of training.bucket_params each; the
 * last micro-batch's backward launches a bucket as soon as its last layer is done
 * (overlap_grad_reduce), the reduction (reduce-scatter with the distributed optimizer,
 * else all-reduce) running on a separate stream. The step then waits for every bucket,
 * runs the optimizer on the GPU's shard, and all-gathers the updated parameters.
 */
#include "sim/sim_internal.h"

#include "sim/sim_sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Routing sample of (micro-batch, half): micro-batch i replays routed micro-batch i mod
 * routed_microbatches, each of its units (halves with two_batch) its own routing. */
int sim_sample_of(const runner *R, int mb, int half)
{
	return (mb % (R->samples / R->units)) * R->units + half;
}

static int push_ep(sim_prog *p, sim_ep_item it, ms_error *err)
{
	if (p->n_ep == p->cap_ep) {
		int cap = p->cap_ep ? 2 * p->cap_ep : 256;
		sim_ep_item *n = realloc(p->ep_items, (size_t)cap * sizeof *n);
		if (!n)
			return MS_ERROR(err, MS_ENOMEM, "out of memory for the communication stream (%d all-to-alls)", cap);
		p->ep_items = n;
		p->cap_ep = cap;
	}
	p->ep_items[p->n_ep++] = it;
	return MS_OK;
}

static int push(sim_prog *p, sim_op op, ms_error *err)
{
	if (p->n_ops == p->cap_ops) {
		int cap = p->cap_ops ? 2 * p->cap_ops : 1024;
		sim_op *o = realloc(p->ops, (size_t)cap * sizeof *o);
		if (!o)
			return MS_ERROR(err, MS_ENOMEM, "out of memory for the step program (%d ops)", cap);
		p->ops = o;
		p->cap_ops = cap;
	}
	p->ops[p->n_ops++] = op;
	return MS_OK;
}

static sim_op mk(int kind, int what, int pass, int phase, int layer, int mb)
{
	sim_op o;
	memset(&o, 0, sizeof o);
	o.kind = (uint8_t)kind;
	o.what = (uint8_t)what;
	o.pass = (uint8_t)pass;
	o.phase = (uint8_t)phase;
	o.layer = (int16_t)layer;
	o.mb = mb;
	return o;
}

#define PUSH(op)                                              \
	do {                                                  \
		if ((rc = push(p, (op), err)) < 0)         \
			return rc;                            \
	} while (0)

/* Queues a collective of half h on the communication stream; returns its index. */
static int ep_launch(sim_prog *p, int what, int phase, int pass, int layer, int mb, int h, int *index, ms_error *err)
{
	sim_ep_item it = {what, phase, layer, mb, h, pass};
	sim_op o = mk(OP_EP_LAUNCH, what, pass, phase, layer, mb);
	int rc;
	o.aux = *index = p->n_ep;
	o.half = h;
	if ((rc = push_ep(p, it, err)) < 0)
		return rc;
	return push(p, o, err);
}

static int ep_wait(sim_prog *p, int index, int what, int phase, int pass, int layer, int mb, int h, ms_error *err)
{
	sim_op o = mk(OP_EP_WAIT, what, pass, phase, layer, mb);
	o.aux = index;
	o.half = h;
	return push(p, o, err);
}

/*
 * A TP block under training.tp_comm_overlap (Megatron-LM --tp-comm-overlap: Transformer
 * Engine's userbuffers split the block's GEMMs into chunks, a ring-exchange all-gather
 * feeding the column-parallel GEMM chunk by chunk and a pipelined reduce-scatter draining
 * the row-parallel one): both collectives go to the communication stream beside the
 * block's compute, so the block takes the longer of its compute (at the SMs the
 * collectives leave) and its two collectives. The pipelines' first and last chunk (one tp-th
 * of a collective or GEMM that cannot overlap) is not modelled. A CP all-gather
 * (attention) stays on the compute stream. Backward: the same, mirrored.
 */
static int tp_overlapped(sim_prog *p, int what, int pass, int layer, int mb, int cp, ms_error *err)
{
	int rc, ag, rs, h = 0;
	if ((rc = ep_launch(p, C_TP_AG, SIM_PH_TP, pass, layer, mb, h, &ag, err)) < 0 ||
	    (rc = ep_launch(p, C_TP_RS, SIM_PH_TP, pass, layer, mb, h, &rs, err)) < 0)
		return rc;
	(void)ag;
	if (cp && pass == 0)
		PUSH(mk(OP_COLL, C_CP_AG, 0, SIM_PH_TP, layer, mb));
	PUSH(mk(OP_COMPUTE, what, pass, SIM_PH_DENSE, layer, mb));
	if (cp && pass == 1)
		PUSH(mk(OP_COLL, C_CP_RS, 1, SIM_PH_TP, layer, mb));
	return ep_wait(p, rs, C_TP_RS, SIM_PH_TP, pass, layer, mb, h, err);
}

/* A TP-parallel block: all-gather, compute, reduce-scatter (sequence parallelism). In
 * backward the same order: the reduce-scatter's gradient is an all-gather of the output's
 * gradient, before the compute, and the all-gather's a reduce-scatter after it. */
static int tp_block(runner *R, sim_prog *p, int what, int pass, int layer, int mb, ms_error *err)
{
	int rc, tp = R->s->parallel.tp > 1;
	if (R->tp_overlap)
		return tp_overlapped(p, what, pass, layer, mb, 0, err);
	if (tp)
		PUSH(mk(OP_COLL, C_TP_AG, pass, SIM_PH_TP, layer, mb));
	PUSH(mk(OP_COMPUTE, what, pass, SIM_PH_DENSE, layer, mb));
	if (tp)
		PUSH(mk(OP_COLL, C_TP_RS, pass, SIM_PH_TP, layer, mb));
	return MS_OK;
}

/* The experts of one pass: [ETP all-gather] compute [ETP reduce-scatter] (sim_plan.c). */
static int expert_ops(runner *R, sim_prog *p, int pass, int layer, int mb, ms_error *err)
{
	int rc, etp = R->s->parallel.etp > 1;
	if (etp)
		PUSH(mk(OP_COLL, C_ETP_AG, pass, SIM_PH_TP, layer, mb));
	PUSH(mk(OP_COMPUTE, W_EXPERT, pass, SIM_PH_EXPERT, layer, mb));
	if (etp)
		PUSH(mk(OP_COLL, C_ETP_RS, pass, SIM_PH_TP, layer, mb));
	return MS_OK;
}

static int attention(runner *R, sim_prog *p, int pass, int layer, int mb, ms_error *err)
{
	int rc, tp = R->s->parallel.tp > 1, cp = R->s->parallel.cp > 1;
	if (R->tp_overlap)
		return tp_overlapped(p, W_ATTN, pass, layer, mb, cp, err);
	if (pass == 0) {
		if (tp)
			PUSH(mk(OP_COLL, C_TP_AG, 0, SIM_PH_TP, layer, mb));
		if (cp)
			PUSH(mk(OP_COLL, C_CP_AG, 0, SIM_PH_TP, layer, mb));
		PUSH(mk(OP_COMPUTE, W_ATTN, 0, SIM_PH_DENSE, layer, mb));
		if (tp)
			PUSH(mk(OP_COLL, C_TP_RS, 0, SIM_PH_TP, layer, mb));
		return MS_OK;
	}
	if (tp)
		PUSH(mk(OP_COLL, C_TP_AG, 1, SIM_PH_TP, layer, mb));
	PUSH(mk(OP_COMPUTE, W_ATTN, 1, SIM_PH_DENSE, layer, mb));
	if (cp)
		PUSH(mk(OP_COLL, C_CP_RS, 1, SIM_PH_TP, layer, mb));
	if (tp)
		PUSH(mk(OP_COLL, C_TP_RS, 1, SIM_PH_TP, layer, mb));
	return MS_OK;
}

/* Ops [from, n_ops) belong to half h. */
static void mark_half(sim_prog *p, int from, int h)
{
	for (int i = from; i < p->n_ops; i++)
		p->ops[i].half = h;
}

/*
 * A layer under two-batch overlap (schedule.overlap = two_batch; SGLang's two-batch
 * overlap, DeepEP's examples): the micro-batch is two halves, and each half's all-to-all
 * runs on the communication stream while the compute stream works on the other half.
 * Forward of an MoE layer: attention, router and permute of half 0, its dispatch queued;
 * the same for half 1; then for each half in turn: wait for its dispatch, experts, queue
 * its combine; then for each: wait for its combine, unpermute, shared experts. Backward:
 * the mirror (combine's gradient first). Dense layers run half after half.
 */
static int two_batch_layer(runner *R, sim_prog *p, int pass, int layer, int mb, ms_error *err)
{
	int rc, moe = R->moe_of[layer] >= 0, shared = R->s->model.shared_experts > 0;
	int idx[2];
	for (int h = 0; h < 2 && !moe; h++) {
		int from = p->n_ops;
		if (pass == 0) {
			if ((rc = attention(R, p, 0, layer, mb, err)) < 0 ||
			    (rc = tp_block(R, p, W_DENSE_FFN, 0, layer, mb, err)) < 0)
				return rc;
		} else {
			if ((rc = tp_block(R, p, W_DENSE_FFN, 1, layer, mb, err)) < 0 ||
			    (rc = attention(R, p, 1, layer, mb, err)) < 0)
				return rc;
		}
		mark_half(p, from, h);
	}
	if (!moe)
		return MS_OK;
	if (pass == 0) {
		for (int h = 0; h < 2; h++) {
			int from = p->n_ops;
			if (layer >= R->layers)
				PUSH(mk(OP_COMPUTE, W_MTP_PROJ, 0, SIM_PH_DENSE, layer, mb));
			if ((rc = attention(R, p, 0, layer, mb, err)) < 0)
				return rc;
			PUSH(mk(OP_COMPUTE, W_ROUTER, 0, SIM_PH_DENSE, layer, mb));
			PUSH(mk(OP_COMPUTE, W_PERMUTE, 0, SIM_PH_PERMUTE, layer, mb));
			mark_half(p, from, h);
			if ((rc = ep_launch(p, C_A2A_TO, SIM_PH_DISPATCH, 0, layer, mb, h, &idx[h], err)) < 0)
				return rc;
		}
		for (int h = 0; h < 2; h++) {
			int from;
			if ((rc = ep_wait(p, idx[h], C_A2A_TO, SIM_PH_DISPATCH, 0, layer, mb, h, err)) < 0)
				return rc;
			from = p->n_ops;
			if ((rc = expert_ops(R, p, 0, layer, mb, err)) < 0)
				return rc;
			mark_half(p, from, h);
			if ((rc = ep_launch(p, C_A2A_BACK, SIM_PH_COMBINE, 0, layer, mb, h, &idx[h], err)) < 0)
				return rc;
		}
		for (int h = 0; h < 2; h++) {
			int from;
			if ((rc = ep_wait(p, idx[h], C_A2A_BACK, SIM_PH_COMBINE, 0, layer, mb, h, err)) < 0)
				return rc;
			from = p->n_ops;
			PUSH(mk(OP_COMPUTE, W_UNPERMUTE, 0, SIM_PH_UNPERMUTE, layer, mb));
			if (shared && (rc = tp_block(R, p, W_SHARED, 0, layer, mb, err)) < 0)
				return rc;
			mark_half(p, from, h);
		}
		return MS_OK;
	}
	for (int h = 0; h < 2; h++) {
		int from = p->n_ops;
		if (shared && (rc = tp_block(R, p, W_SHARED, 1, layer, mb, err)) < 0)
			return rc;
		PUSH(mk(OP_COMPUTE, W_UNPERMUTE, 1, SIM_PH_UNPERMUTE, layer, mb));
		mark_half(p, from, h);
		if ((rc = ep_launch(p, C_A2A_TO, SIM_PH_COMBINE, 1, layer, mb, h, &idx[h], err)) < 0)
			return rc;
	}
	for (int h = 0; h < 2; h++) {
		int from;
		if ((rc = ep_wait(p, idx[h], C_A2A_TO, SIM_PH_COMBINE, 1, layer, mb, h, err)) < 0)
			return rc;
		from = p->n_ops;
		if ((rc = expert_ops(R, p, 1, layer, mb, err)) < 0)
			return rc;
		mark_half(p, from, h);
		if ((rc = ep_launch(p, C_A2A_BACK, SIM_PH_DISPATCH, 1, layer, mb, h, &idx[h], err)) < 0)
			return rc;
	}
	for (int h = 0; h < 2; h++) {
		int from;
		if ((rc = ep_wait(p, idx[h], C_A2A_BACK, SIM_PH_DISPATCH, 1, layer, mb, h, err)) < 0)
			return rc;
		from = p->n_ops;
		PUSH(mk(OP_COMPUTE, W_PERMUTE, 1, SIM_PH_PERMUTE, layer, mb));
		PUSH(mk(OP_COMPUTE, W_ROUTER, 1, SIM_PH_DENSE, layer, mb));
		if (R->s->training.recompute == SCN_RECOMPUTE_SELECTIVE) {
			sim_op o = mk(OP_COMPUTE, W_ATTN, 1, SIM_PH_DENSE, layer, mb);
			o.chunk = 2;
			PUSH(o);
		}
		if ((rc = attention(R, p, 1, layer, mb, err)) < 0)
			return rc;
		if (layer >= R->layers)
			PUSH(mk(OP_COMPUTE, W_MTP_PROJ, 1, SIM_PH_DENSE, layer, mb));
		mark_half(p, from, h);
	}
	return MS_OK;
}

/* The ops of one layer (MTP modules: layer >= layers) in one pass. */
static int layer_ops(runner *R, sim_prog *p, int pass, int layer, int mb, ms_error *err)
{
	int rc, moe = R->moe_of[layer] >= 0;
	int shared = R->s->model.shared_experts > 0;
	if (R->units == 2) {
		if (pass == 1 && R->s->training.recompute == SCN_RECOMPUTE_FULL) {
			int from = p->n_ops;
			if ((rc = two_batch_layer(R, p, 0, layer, mb, err)) < 0)
				return rc;
			for (int i = from; i < p->n_ops; i++) {
				p->ops[i].pass = 1; /* accounted to the backward pass; timed as forward (chunk 1) */
				p->ops[i].chunk = 1;
			}
		}
		return two_batch_layer(R, p, pass, layer, mb, err);
	}
	if (pass == 0) {
		if (layer >= R->layers)
			PUSH(mk(OP_COMPUTE, W_MTP_PROJ, 0, SIM_PH_DENSE, layer, mb));
		if ((rc = attention(R, p, 0, layer, mb, err)) < 0)
			return rc;
		if (!moe)
			return tp_block(R, p, W_DENSE_FFN, 0, layer, mb, err);
		PUSH(mk(OP_COMPUTE, W_ROUTER, 0, SIM_PH_DENSE, layer, mb));
		PUSH(mk(OP_COMPUTE, W_PERMUTE, 0, SIM_PH_PERMUTE, layer, mb));
		PUSH(mk(OP_COLL, C_A2A_TO, 0, SIM_PH_DISPATCH, layer, mb));
		if ((rc = expert_ops(R, p, 0, layer, mb, err)) < 0)
			return rc;
		PUSH(mk(OP_COLL, C_A2A_BACK, 0, SIM_PH_COMBINE, layer, mb));
		PUSH(mk(OP_COMPUTE, W_UNPERMUTE, 0, SIM_PH_UNPERMUTE, layer, mb));
		if (shared)
			return tp_block(R, p, W_SHARED, 0, layer, mb, err);
		return MS_OK;
	}
	if (R->s->training.recompute == SCN_RECOMPUTE_FULL) {
		/* Megatron's full recomputation reruns the layer's forward, collectives included. */
		int from = p->n_ops;
		if ((rc = layer_ops(R, p, 0, layer, mb, err)) < 0)
			return rc;
		for (int i = from; i < p->n_ops; i++)
			p->ops[i].pass = 1; /* accounted to the backward pass; timed as forward (chunk 1) */
		for (int i = from; i < p->n_ops; i++)
			p->ops[i].chunk = 1;
	}
	if (!moe) {
		if ((rc = tp_block(R, p, W_DENSE_FFN, 1, layer, mb, err)) < 0)
			return rc;
	} else {
		if (shared && (rc = tp_block(R, p, W_SHARED, 1, layer, mb, err)) < 0)
			return rc;
		PUSH(mk(OP_COMPUTE, W_UNPERMUTE, 1, SIM_PH_UNPERMUTE, layer, mb));
		PUSH(mk(OP_COLL, C_A2A_TO, 1, SIM_PH_COMBINE, layer, mb));
		if ((rc = expert_ops(R, p, 1, layer, mb, err)) < 0)
			return rc;
		PUSH(mk(OP_COLL, C_A2A_BACK, 1, SIM_PH_DISPATCH, layer, mb));
		PUSH(mk(OP_COMPUTE, W_PERMUTE, 1, SIM_PH_PERMUTE, layer, mb));
		PUSH(mk(OP_COMPUTE, W_ROUTER, 1, SIM_PH_DENSE, layer, mb));
	}
	if (R->s->training.recompute == SCN_RECOMPUTE_SELECTIVE) {
		/* The attention core's recomputation, before its backward (timed by chunk 2). */
		sim_op o = mk(OP_COMPUTE, W_ATTN, 1, SIM_PH_DENSE, layer, mb);
		o.chunk = 2;
		PUSH(o);
	}
	if ((rc = attention(R, p, 1, layer, mb, err)) < 0)
		return rc;
	if (layer >= R->layers)
		PUSH(mk(OP_COMPUTE, W_MTP_PROJ, 1, SIM_PH_DENSE, layer, mb));
	return MS_OK;
}

/* Parameters of one layer on one GPU, as models/moe_memory.c counts them: dense (the
 * attention, split over TP but for what Megatron keeps whole on every TP rank: norms, MLA's
 * down projections, the router; the dense FFN or shared experts split over TP) and expert
 * (the GPU's expert replicas, each split over ETP). */
static void layer_params(const runner *R, int layer, double *dense, double *expert)
{
	moe_memory_layer_params(R->s, &R->arch, R->moe_of[layer] >= 0, dense, expert);
	if (layer >= R->layers)
		*dense += R->arch.mtp_extra_params / R->s->parallel.tp;
}

typedef struct bucket_acc {
	double params[2]; /* filling: dense, expert */
	int bucketing;    /* this stage and chunk split its buffers into buckets */
} bucket_acc;

static int add_bucket(runner *R, sim_prog *p, int gk, double params, ms_error *err)
{
	const scn_scenario *s = R->s;
	double grad_bytes = s->training.grad_fp32 ? 4.0 : (double)s->model.dtype_bytes;
	sim_bucket b;
	if (params <= 0)
		return MS_OK;
	if (p->n_buckets == p->cap_buckets) {
		int cap = p->cap_buckets ? 2 * p->cap_buckets : 64;
		sim_bucket *nb = realloc(p->buckets, (size_t)cap * sizeof *nb);
		if (!nb)
			return MS_ERROR(err, MS_ENOMEM, "out of memory for gradient buckets");
		p->buckets = nb;
		p->cap_buckets = cap;
	}
	b.gk = gk;
	b.op = s->training.distributed_optimizer ? NET_RED_REDUCESCATTER : NET_RED_ALLREDUCE;
	b.bytes = params * grad_bytes;
	b.params = params;
	p->buckets[p->n_buckets++] = b;
	return MS_OK;
}

/* Closes the buckets that are full (or all, at the end of a chunk) and queues them.
 * Megatron-Core buckets only the first pipeline stage's first model chunk, and only with
 * overlap_grad_reduce ("Turn off bucketing if we are on a pipeline stage that is not the
 * first (since data-parallel communication on these stages is not on the critical
 * path)", distributed/distributed_data_parallel.py): elsewhere a buffer is one bucket. */
static int flush_buckets(runner *R, sim_prog *p, bucket_acc *acc, int all, int mb, ms_error *err)
{
	int rc, first = p->n_buckets;
	int bucketing = acc->bucketing && R->s->training.overlap_grad_reduce;
	for (int k = 0; k < 2; k++) {
		if (acc->params[k] <= 0 ||
		    (!all && (!bucketing || acc->params[k] < (double)R->s->training.bucket_params)))
			continue;
		if ((rc = add_bucket(R, p, k ? GK_DPE : GK_DPD, acc->params[k], err)) < 0)
			return rc;
		acc->params[k] = 0;
	}
	if (p->n_buckets > first && R->s->training.overlap_grad_reduce) {
		sim_op o = mk(OP_DP_LAUNCH, 0, 1, SIM_PH_DP, -1, mb);
		o.aux = first;
		o.n = p->n_buckets - first;
		PUSH(o);
	}
	return MS_OK;
}

/* One schedule item of stage r (with DualPipe without its receive and send, which its
 * actions place, nor gradient buckets, which follow the pipeline). */
static int item_ops(runner *R, sim_prog *p, int r, const sim_sched_item *it, bucket_acc *acc, ms_error *err)
{
	int rc, v = sim_vstage(R, r, it->chunk), nv = sim_nvstages(R), lo, hi;
	int first = v == 0, last = v == nv - 1, p2p = !R->dualpipe;
	int mtp = R->mtp;
	/* the micro-batch whose grads are reduced */
	int grads = R->passes == 2 && !R->dualpipe && it->backward && it->mb == R->m - 1;
	scn_stage_layers(R->s, v, &lo, &hi);
	acc->bucketing = r == 0 && it->chunk == 0;
	if (!it->backward) {
		if (!first && p2p) {
			sim_op o = mk(OP_RECV, 0, 0, SIM_PH_BUBBLE, -1, it->mb);
			o.chunk = (int16_t)it->chunk;
			PUSH(o);
		} else {
			PUSH(mk(OP_COMPUTE, W_EMBED, 0, SIM_PH_DENSE, -1, it->mb));
		}
		for (int l = lo; l < hi; l++)
			if ((rc = layer_ops(R, p, 0, l, it->mb, err)) < 0)
				return rc;
		if (last) {
			for (int i = 0; i < mtp; i++)
				if ((rc = layer_ops(R, p, 0, R->layers + i, it->mb, err)) < 0)
					return rc;
			PUSH(mk(OP_COMPUTE, W_HEAD, 0, SIM_PH_DENSE, -1, it->mb));
			for (int i = 0; i < mtp; i++)
				PUSH(mk(OP_COMPUTE, W_HEAD, 0, SIM_PH_DENSE, -1, it->mb));
		} else if (p2p) {
			sim_op o = mk(OP_SEND, 0, 0, SIM_PH_BUBBLE, -1, it->mb);
			o.chunk = (int16_t)it->chunk;
			PUSH(o);
		}
		return MS_OK;
	}
	if (!last && p2p) {
		sim_op o = mk(OP_RECV, 0, 1, SIM_PH_BUBBLE, -1, it->mb);
		o.chunk = (int16_t)it->chunk;
		PUSH(o);
	} else if (last) {
		const moe_arch *a = &R->arch;
		for (int i = 0; i <= mtp; i++)
			PUSH(mk(OP_COMPUTE, W_HEAD, 1, SIM_PH_DENSE, -1, it->mb));
		if (grads) {
			acc->params[0] += (a->head_params + a->final_norm_params) / R->s->parallel.tp;
			if ((rc = flush_buckets(R, p, acc, 0, it->mb, err)) < 0)
				return rc;
		}
		for (int i = mtp - 1; i >= 0; i--) {
			if ((rc = layer_ops(R, p, 1, R->layers + i, it->mb, err)) < 0)
				return rc;
			if (grads) {
				double d, e;
				layer_params(R, R->layers + i, &d, &e);
				acc->params[0] += d;
				acc->params[1] += e;
				if ((rc = flush_buckets(R, p, acc, 0, it->mb, err)) < 0)
					return rc;
			}
		}
	}
	for (int l = hi - 1; l >= lo; l--) {
		if ((rc = layer_ops(R, p, 1, l, it->mb, err)) < 0)
			return rc;
		if (grads) {
			double d, e;
			layer_params(R, l, &d, &e);
			acc->params[0] += d;
			acc->params[1] += e;
			if ((rc = flush_buckets(R, p, acc, 0, it->mb, err)) < 0)
				return rc;
		}
	}
	if (first) {
		PUSH(mk(OP_COMPUTE, W_EMBED, 1, SIM_PH_DENSE, -1, it->mb));
		if (grads)
			acc->params[0] += R->arch.embedding_params / R->s->parallel.tp;
	} else if (p2p) {
		sim_op o = mk(OP_SEND, 0, 1, SIM_PH_BUBBLE, -1, it->mb);
		o.chunk = (int16_t)it->chunk;
		PUSH(o);
	}
	if (grads && (rc = flush_buckets(R, p, acc, 1, it->mb, err)) < 0)
		return rc;
	return MS_OK;
}

/* The Adam step over the GPU's shard (Megatron's fused Adam, memory-bound): per
 * parameter it reads the gradient and writes the model-dtype parameter, and reads and
 * writes the fp32 master weight and both moments. */
static double optimizer_time(const runner *R, const sim_prog *p)
{
	const scn_scenario *s = R->s;
	double grad_bytes = s->training.grad_fp32 ? 4.0 : (double)s->model.dtype_bytes;
	double param_bytes = s->model.dtype_bytes >= 4 ? 4.0 : 2.0;
	double per_param = grad_bytes + param_bytes + 3 * 8.0;
	double shard = p->params_dense + p->params_expert;
	if (s->training.distributed_optimizer) {
		/* DualPipe: sharded over the union of the two copies' groups (sim_run.c). */
		int dpd = par_group_size(&R->lay, PAR_DP_CP), dpe = par_group_size(&R->lay, PAR_EDP), c = R->dualpipe ? 2 : 1;
		shard = p->params_dense / (c * dpd) + p->params_expert / (c * dpe);
	}
	return shard * per_param / R->model.mem_Bps;
}

/* Backward compute ops with weight gradients to split off (the attention's projections,
 * FFNs, router, experts, head, embedding, MTP projection; not the permutations, nor
 * recomputed forwards). */
static int has_weights(const sim_op *o)
{
	return o->kind == OP_COMPUTE && o->pass == 1 && o->chunk == 0 && o->what != W_PERMUTE &&
	       o->what != W_UNPERMUTE && o->what != W_OPTIMIZER;
}

/* One chunk's ops, built apart into tmp. */
static int chunk_apart(runner *R, sim_prog *tmp, int r, int dir, int mb, int backward, ms_error *err)
{
	sim_sched_item it;
	bucket_acc acc = {{0, 0}, 0};
	it.backward = backward;
	it.mb = mb;
	it.chunk = dir;
	tmp->n_ops = tmp->n_ep = 0;
	return item_ops(R, tmp, r, &it, &acc, err);
}

/* Appends op (of the chunk built apart in from) to p; its collectives on the
 * communication stream (training.tp_comm_overlap) move into p's queue, map holding where
 * each of from's went. */
static int move_op(sim_prog *p, const sim_prog *from, sim_op o, int *map, ms_error *err)
{
	int rc;
	if (o.kind == OP_EP_LAUNCH) {
		map[o.aux] = p->n_ep;
		if ((rc = push_ep(p, from->ep_items[o.aux], err)) < 0)
			return rc;
		o.aux = map[o.aux];
	} else if (o.kind == OP_EP_WAIT) {
		o.aux = map[o.aux];
	}
	return push(p, o, err);
}

/*
 * A forward chunk overlapped with a backward chunk (DualPipe's FB; DeepSeek-V3 report sec.
 * 3.2.1 and its Figure 4): the two chunks' ops interleave on the compute stream at each
 * all-to-all, which goes to the communication stream: the forward runs up to its first
 * all-to-all and queues it, the backward runs up to its first and queues it, then each in
 * turn waits for its own, computes up to the next, and so on; so each chunk's dispatch
 * and combine run beside the other's computation.
 */
static int merge_pair(sim_prog *p, const sim_prog *f, const sim_prog *b, int *const map[2], ms_error *err)
{
	const sim_prog *t[2] = {f, b};
	int pos[2] = {0, 0}, wait[2] = {-1, -1}, rc;
	sim_op held[2];
	memset(held, 0, sizeof held);
	while (pos[0] < f->n_ops || pos[1] < b->n_ops || wait[0] >= 0 || wait[1] >= 0)
		for (int k = 0; k < 2; k++) {
			if (wait[k] >= 0) {
				const sim_op *o = &held[k];
				if ((rc = ep_wait(p, wait[k], o->what, o->phase, o->pass, o->layer, o->mb, 0, err)) < 0)
					return rc;
				wait[k] = -1;
			}
			while (pos[k] < t[k]->n_ops) {
				const sim_op *o = &t[k]->ops[pos[k]++];
				if (o->kind == OP_COLL && (o->what == C_A2A_TO || o->what == C_A2A_BACK)) {
					if ((rc = ep_launch(p, o->what, o->phase, o->pass, o->layer, o->mb, 0, &wait[k], err)) < 0)
						return rc;
					held[k] = *o;
					break;
				}
				if ((rc = move_op(p, t[k], *o, map[k], err)) < 0)
					return rc;
			}
		}
	return MS_OK;
}

/* A posted send or receive of DualPipe, done at the next commit. */
typedef struct dp_p2p {
	int kind, pass, dir, mb;
} dp_p2p;

/*
 * Rank r's step under DualPipe: its actions (sim_sched.h) as ops. A commit launches the
 * posted sends and waits for the posted receives; a zero-bubble backward computes the
 * input gradients only and queues its chunk for a later W, which computes the weight
 * gradients (FIFO, as WeightGradStore).
 */
static int dualpipe_ops(runner *R, sim_prog *p, int r, ms_error *err)
{
	int cap = sim_dualpipe_cap(R->m), n, half = R->m / 2, rc = MS_OK;
	sim_dp_action *acts = ms_calloc(err, (size_t)cap, sizeof *acts, "DualPipe schedule");
	int *fifo = ms_calloc(err, 2 * (size_t)R->m + 2, sizeof *fifo, "DualPipe schedule");
	/* a chunk's collectives on the communication stream: at most 2 per TP block, 2 blocks a
	 * layer, twice with full recomputation */
	size_t nmap = 8 * ((size_t)R->layers + R->mtp + 1);
	int *maps = ms_calloc(err, 2 * nmap, sizeof *maps, "DualPipe schedule");
	int *map[2] = {maps, maps + nmap};
	dp_p2p posted[8];
	int n_posted = 0, head = 0, tail = 0;
	sim_prog a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	if (!acts || !fifo || !maps) {
		free(acts);
		free(fifo);
		free(maps);
		return MS_ENOMEM;
	}
	n = sim_dualpipe_build(R->pp, R->m, r, acts, cap);
	MS_ASSERT(n >= 0, "DualPipe rank %d: more than %d actions", r, cap);
	for (int i = 0; i < n && rc == MS_OK; i++) {
		const sim_dp_action *x = &acts[i];
		int mb = x->dir * half + x->mb;
		switch (x->kind) {
		case SIM_DP_RECV_F:
		case SIM_DP_RECV_B:
		case SIM_DP_SEND_F:
		case SIM_DP_SEND_B: {
			dp_p2p q;
			MS_ASSERT(n_posted < 8, "DualPipe rank %d: %d operations posted", r, n_posted);
			q.kind = x->kind == SIM_DP_RECV_F || x->kind == SIM_DP_RECV_B ? OP_RECV : OP_SEND;
			q.pass = x->kind == SIM_DP_RECV_B || x->kind == SIM_DP_SEND_B;
			q.dir = x->dir;
			q.mb = mb;
			posted[n_posted++] = q;
			break;
		}
		case SIM_DP_COMMIT:
			/* batch_isend_irecv launches every posted operation, then waits for all. */
			for (int k = 0; k < 2 && rc == MS_OK; k++)
				for (int j = 0; j < n_posted && rc == MS_OK; j++) {
					sim_op o;
					if ((posted[j].kind == OP_SEND) != (k == 0))
						continue;
					o = mk(posted[j].kind, 0, posted[j].pass, SIM_PH_BUBBLE, -1, posted[j].mb);
					o.chunk = (int16_t)posted[j].dir;
					rc = push(p, o, err);
				}
			n_posted = 0;
			break;
		case SIM_DP_F:
		case SIM_DP_B:
			rc = chunk_apart(R, &a, r, x->dir, mb, x->kind == SIM_DP_B, err);
			if (x->kind == SIM_DP_B && x->zb) {
				for (int j = 0; j < a.n_ops; j++)
					if (has_weights(&a.ops[j]))
						a.ops[j].split = SIM_SPLIT_INPUT;
				fifo[tail++] = mb;
			}
			for (int j = 0; j < a.n_ops && rc == MS_OK; j++)
				rc = move_op(p, &a, a.ops[j], map[0], err);
			break;
		case SIM_DP_FB:
			if ((rc = chunk_apart(R, &a, r, x->dir, mb, 0, err)) == MS_OK &&
			    (rc = chunk_apart(R, &b, r, x->dir1, x->dir1 * half + x->mb1, 1, err)) == MS_OK)
				rc = merge_pair(p, &a, &b, map, err);
			break;
		case SIM_DP_W: {
			int wmb = fifo[head++];
			MS_ASSERT(head <= tail, "DualPipe rank %d: W with nothing deferred", r);
			if ((rc = chunk_apart(R, &a, r, wmb / half, wmb, 1, err)) < 0)
				break;
			for (int j = 0; j < a.n_ops && rc == MS_OK; j++)
				if (has_weights(&a.ops[j])) {
					sim_op o = a.ops[j];
					o.split = SIM_SPLIT_WEIGHT;
					rc = push(p, o, err);
				}
			break;
		}
		default: MS_ASSERT(0, "DualPipe action %d", x->kind);
		}
	}
	MS_ASSERT(rc < 0 || head == tail, "DualPipe rank %d: %d weight chunks left", r, tail - head);
	free(a.ops);
	free(b.ops);
	free(a.ep_items);
	free(b.ep_items);
	free(acts);
	free(fifo);
	free(maps);
	return rc;
}

static int build_stage(runner *R, int r, sim_sched_item *items, ms_error *err)
{
	sim_prog *p = &R->progs[r];
	int rc;
	bucket_acc acc = {{0, 0}, 0};
	if (R->dualpipe) {
		if ((rc = dualpipe_ops(R, p, r, err)) < 0)
			return rc;
	} else {
		int n = sim_sched_count(R->m, R->vpp, R->passes == 1);
		sim_sched_build(R->pp, R->vpp, R->m, r, R->passes == 1, items);
		for (int i = 0; i < n; i++)
			if ((rc = item_ops(R, p, r, &items[i], &acc, err)) < 0)
				return rc;
	}
	/* The stage's parameters (per GPU), for the optimizer and the parameter gather; with
	 * DualPipe each chunk's gradients are one bucket per buffer, reduced after the
	 * pipeline (as overlap_grad_reduce = false: DeepSeek does not publish how its
	 * gradient reduction overlaps DualPipe's backward). */
	for (int k = 0; k < R->chunks; k++) {
		/* DualPipe: the two stages in the same order on both copies, so that the buckets of
		 * the union group match (the second half's rank holds them as chunks 1, 0) */
		int c = R->dualpipe && r >= R->pp / 2 ? R->chunks - 1 - k : k;
		int v = sim_vstage(R, r, c), nv = sim_nvstages(R), lo, hi;
		double d0 = p->params_dense, e0 = p->params_expert;
		scn_stage_layers(R->s, v, &lo, &hi);
		for (int l = lo; l < hi; l++) {
			double d, e;
			layer_params(R, l, &d, &e);
			p->params_dense += d;
			p->params_expert += e;
		}
		if (v == 0)
			p->params_dense += R->arch.embedding_params / R->s->parallel.tp;
		if (v == nv - 1) {
			p->params_dense += (R->arch.head_params + R->arch.final_norm_params) / R->s->parallel.tp;
			for (int i = 0; i < R->mtp; i++) {
				double d, e;
				layer_params(R, R->layers + i, &d, &e);
				p->params_dense += d;
				p->params_expert += e;
			}
		}
		if (R->dualpipe && ((rc = add_bucket(R, p, GK_DPD, p->params_dense - d0, err)) < 0 ||
				    (rc = add_bucket(R, p, GK_DPE, p->params_expert - e0, err)) < 0))
			return rc;
	}
	if (R->passes == 1)
		return MS_OK;
	{
		int nb = p->n_buckets;
		sim_op o;
		if ((!R->s->training.overlap_grad_reduce || R->dualpipe) && nb > 0) {
			o = mk(OP_DP_LAUNCH, 0, 1, SIM_PH_DP, -1, 0);
			o.aux = 0;
			o.n = nb;
			PUSH(o);
		}
		o = mk(OP_DP_WAIT, 0, 1, SIM_PH_DP, -1, 0);
		PUSH(o);
		p->optimizer_s = optimizer_time(R, p);
		PUSH(mk(OP_COMPUTE, W_OPTIMIZER, 1, SIM_PH_OPTIMIZER, -1, 0));
		if (R->s->training.distributed_optimizer) {
			/* The updated shards all-gathered, bucket by bucket (param dtype). */
			double param_bytes = R->s->model.dtype_bytes >= 4 ? 4.0 : 2.0;
			int first = p->n_buckets;
			for (int i = 0; i < nb; i++) {
				sim_bucket b = p->buckets[i];
				if ((rc = add_bucket(R, p, b.gk, b.params, err)) < 0)
					return rc;
				p->buckets[p->n_buckets - 1].op = NET_RED_ALLGATHER;
				p->buckets[p->n_buckets - 1].bytes = b.params * param_bytes;
			}
			if (p->n_buckets > first) {
				o = mk(OP_DP_LAUNCH, 0, 1, SIM_PH_DP, -1, 0);
				o.aux = first;
				o.n = p->n_buckets - first;
				PUSH(o);
				PUSH(mk(OP_DP_WAIT, 0, 1, SIM_PH_DP, -1, 0));
			}
		}
	}
	return MS_OK;
}

/* Seconds of a roofline: FLOPs at the dense rate or bytes at the HBM rate. */
static double roofline(const runner *R, double flops, double bytes)
{
	double a = flops / R->model.dense_Fps, b = bytes / R->model.mem_Bps;
	return a > b ? a : b;
}

/* The compute times that do not depend on routing, per GPU (T tokens' worth). */
static void stage_times(runner *R)
{
	const scn_scenario *s = R->s;
	const moe_arch *a = &R->arch;
	double T = R->T, tp = s->parallel.tp;
	/* Weights are read in the GEMMs' dtype (an FP8 run reads its FP8 copies; the memory
	 * check keeps the BF16 weights, models/moe_memory.h). */
	double dt = s->model.dtype_bytes, c = R->model.attended;
	double kv = 0;
	int decode = s->workload.mode == SCN_MODE_DECODE;
	if (decode) /* the KV cache each new token reads: GQA's heads split over TP, MLA's latent not */
		kv = T * tp * s->workload.context_len * a->kv_bytes /
		     (s->model.attention == SCN_ATTN_MLA ? 1.0 : tp);
	for (int pass = 0; pass < 2; pass++) {
		double f = pass ? 2.0 : 1.0;
		R->t_compute[W_ATTN][pass][0] =
			roofline(R, f * T * (a->attn_proj_flops + a->attn_core_flops_per_pos * c), f * a->attn_params * dt / tp + kv);
		R->t_compute[W_DENSE_FFN][pass][0] = roofline(R, f * T * a->dense_ffn_flops, f * a->dense_ffn_params * dt / tp);
		R->t_compute[W_SHARED][pass][0] = roofline(R, f * T * a->shared_flops, f * a->shared_params * dt / tp);
		R->t_compute[W_ROUTER][pass][0] = roofline(R, f * T * a->router_flops, f * a->router_params * dt);
		/* The LM head and the embedding run once per micro-batch, both halves at once. */
		R->t_compute[W_HEAD][pass][0] =
			roofline(R, f * T * R->units * a->head_flops, f * a->head_params * dt / tp);
		R->t_compute[W_MTP_PROJ][pass][0] =
			roofline(R, f * T * a->mtp_proj_flops, f * a->mtp_extra_params * dt / tp);
		/* The embedding: a gather of the GPU's T rows (its sequence-parallel share; the
		 * vocabulary-parallel lookup's reduction is left in the first all-gather);
		 * backward scatters them into the gradient. */
		R->t_compute[W_EMBED][pass][0] = roofline(R, 0, 2.0 * T * R->units * s->model.hidden * dt);
		/* Selective recomputation: the attention core only, forward FLOPs. */
		R->t_compute[W_ATTN][pass][1] = roofline(R, T * a->attn_core_flops_per_pos * c, 0);
	}
}

/*
 * The weight-gradient part of a backward compute op (Qi et al. 2023, "Zero Bubble
 * Pipeline Parallelism", sec. 2: a linear layer's W is one GEMM of the forward's shape):
 * the forward's time for the attention's projections (not its core, which has no
 * weights), the FFNs, the router, the head, the MTP projection and the experts; all of
 * the embedding's backward (it is the scatter into its gradient).
 */
static double weight_part(const runner *R, int rank, const sim_op *op)
{
	const moe_arch *a = &R->arch;
	switch (op->what) {
	case W_EXPERT: {
		const double *t = sim_plan_row(R, sim_sample_of(R, op->mb, op->half), R->moe_of[op->layer], rank);
		return fmin(t[SIM_T_EXPERT_F], t[SIM_T_EXPERT_B]);
	}
	case W_EMBED: return R->t_compute[W_EMBED][1][0];
	case W_ATTN:
		return roofline(R, R->T * a->attn_proj_flops, a->attn_params * R->s->model.dtype_bytes / R->s->parallel.tp);
	default: return fmin(R->t_compute[op->what][0][0], R->t_compute[op->what][1][0]);
	}
}

static double op_time(const runner *R, int rank, const sim_op *op)
{
	int pass = op->pass && op->chunk != 1; /* recomputed forward ops (chunk 1) take forward time */
	switch (op->what) {
	case W_PERMUTE:
	case W_EXPERT:
	case W_UNPERMUTE: {
		int moe = R->moe_of[op->layer], smp = sim_sample_of(R, op->mb, op->half);
		const double *t = sim_plan_row(R, smp, moe, rank);
		if (op->what == W_PERMUTE)
			return t[SIM_T_PERMUTE];
		if (op->what == W_UNPERMUTE)
			return t[SIM_T_UNPERMUTE];
		return pass ? t[SIM_T_EXPERT_B] : t[SIM_T_EXPERT_F];
	}
	case W_OPTIMIZER: return sim_prog_of(R, rank)->optimizer_s;
	case W_ATTN:
		if (op->chunk == 2)
			return R->t_compute[W_ATTN][0][1];
		return R->t_compute[W_ATTN][pass][0];
	default: return R->t_compute[op->what][pass][0];
	}
}

double sim_op_time(const runner *R, int rank, const sim_op *op)
{
	double w;
	if (op->split == SIM_SPLIT_NONE)
		return op_time(R, rank, op);
	w = weight_part(R, rank, op);
	return op->split == SIM_SPLIT_WEIGHT ? w : op_time(R, rank, op) - w;
}

int sim_prog_build(runner *R, ms_error *err)
{
	int rc = MS_OK;
	int n = sim_sched_count(R->m, R->vpp, R->passes == 1);
	sim_sched_item *items = ms_calloc(err, (size_t)n, sizeof *items, "pipeline schedule");
	R->progs = ms_calloc(err, (size_t)R->pp, sizeof *R->progs, "step programs");
	if (!items || !R->progs) {
		free(items);
		return MS_ENOMEM;
	}
	stage_times(R);
	for (int r = 0; r < R->pp && rc == MS_OK; r++)
		rc = build_stage(R, r, items, err);
	free(items);
	return rc;
}

void sim_prog_free(runner *R)
{
	for (int r = 0; R->progs && r < R->pp; r++) {
		free(R->progs[r].ops);
		free(R->progs[r].buckets);
		free(R->progs[r].ep_items);
	}
	free(R->progs);
}
