/*
 * moe_memory.c - memory per GPU of every pipeline stage (layout and bytes per parameter
 * in moe_memory.h).
 *
 * ACTIVATIONS (training). Korthikanti et al. 2022, "Reducing Activation Recomputation in
 * Large Transformer Models" (arXiv 2205.05198), sec. 4 and Table 2: with tensor and
 * sequence parallelism a layer keeps sbh (34/t + 5as/(ht)) bytes, 2-byte tensors: attention
 * 11sbh + 5as^2b (QKV input 2sbh, Q and K 4sbh, softmax output 2as^2b, its dropout mask
 * as^2b, dropout output 2as^2b, V 2sbh, output-projection input 2sbh, dropout mask sbh),
 * MLP 19sbh (first linear input 2sbh, GeLU input 8sbh, GeLU output 8sbh, dropout mask sbh),
 * two layer norms 4sbh; every tensor split over the t GPUs (by heads, or by sequence where
 * sequence parallelism applies). moesim counts the same saved tensors, per token on one
 * GPU, with T = workload.tokens_per_rank tokens per GPU per micro-batch (micro_batch x
 * seq_len / (tp x cp): a tensor split by heads over tp holds seq/cp tokens x heads/tp, the
 * same bytes as T tokens x all heads), B = model dtype bytes, and these adaptations:
 *   - no dropout (the MoE models moesim targets train without it): no masks;
 *   - flash attention: no s^2 tensor (no scores, no softmax output); it keeps Q, K, V, its
 *     output O (which is also the output projection's input) and the softmax statistics
 *     (logsumexp, fp32: 4 B per head per token);
 *   - GQA: K and V have Hkv heads (at least one per TP rank: Hkv' = tp x ceil(Hkv / tp));
 *   - MLA: the latents and their norms (q down output ql, q norm output ql, kv down output
 *     kl + r, kv norm output kl) and per-head Q, K (n + r), V and O (v);
 *   - SwiGLU: the first linear's output is 2f wide (gate and up, the activation's input),
 *     the activation's output f (the second linear's input);
 *   - MoE: the router's fp32 scores (4E B), and k routed copies per token (x capacity_factor
 *     with routing.pad_to_capacity) assuming balanced routing: each GPU's experts receive k T
 *     rows (x etp: Megatron's dispatcher all-gathers them over the expert-TP group); per row
 *     the expert input (h, gathered), fc1 output 2f / etp, activation output f / etp, and the
 *     expert output h (kept for the gate-probability gradient of unpermute);
 *   - shared experts: fc1 output 2 S fs and activation output S fs (split over tp), their
 *     input being the FFN norm's output.
 * Bytes per token per layer:
 *   attention, mha/gqa:  B (h [norm input] + h [norm output = QKV input] + H d [Q] +
 *                        2 Hkv' d [K, V] + H d [O]) + 4H [logsumexp]
 *   attention, mla:      B (2h + 2 ql [if ql > 0] + (kl + r) + kl + 2 H (n + r) + 2 H v) + 4H
 *   dense FFN:           B (h [norm input] + h [fc1 input] + 2 fd + fd)
 *   MoE FFN:             B (2h) + 4E + k' (B h etp + B 3f + B h) + B 3 S fs,  k' = k x cap
 *   (Korthikanti's counts, B = 2, MHA, GeLU f = 4h, no dropout and flash: attention 12 sbh
 *   with the first norm, MLP 20 sbh with the second: moesim's formulas give the same.)
 * Recompute: selective (Megatron's default recompute module, core_attn) drops the core
 * attention's own saved state, the logsumexp: its inputs Q, K, V are the checkpoint's and
 * O is the output projection's input, so with flash attention little goes - Korthikanti's
 * selective saving is exactly the 5as/h score term flash attention never stores. Full keeps
 * each layer's input (B h per token) and, once per GPU, the largest layer's whole set of one
 * micro-batch, live while that layer is recomputed in backward.
 * First virtual stage: the token ids, int64 over the whole sequence per TP rank (8 tp B per
 * T token; Megatron's "8 s b"). Last: the final norm's input and the head's input (2 B h)
 * and the fp32 logits of the vocabulary-parallel cross entropy (4 V: V / tp columns of
 * seq / cp tokens) - Megatron's 4sbh (1 + V/h) / t. Each MTP module (training): the
 * embedding's output (B h), the concatenated normed inputs of the projection (2 B h), one
 * MoE layer, its final norm's and head's inputs (2 B h) and logits (4 V).
 * In flight (Megatron-Core schedules.py, get_pp_rank_microbatches): 1F1B stage r warms up
 * pp - r - 1 micro-batches and holds min(pp - r, m) at its peak; interleaved (vpp > 1) rank
 * r warms up 2 (pp - r - 1) + (vpp - 1) pp model-chunk micro-batches, holding one more, at
 * most m vpp, the i-th of chunk (i / pp) mod vpp. For rank 0 with even chunks that is
 * L (1 + (pp - 1) / (pp vpp)) layers' worth, the interleaved penalty of Megatron's
 * theoretical_memory_usage.py (compute_activation_memory).
 * Inference: no saved activations; the working set of the largest layer of one micro-batch
 * (the tensors above: an upper bound on what forward holds at once) and, on the last stage,
 * fp32 logits of the last position of each sequence (micro_batch x V / tp x 4).
 *
 * KV CACHE (prefill, decode): every sequence of the DP replica (micro_batch x microbatches)
 * x context_len / cp positions x the GPU's layers x per position: 2 ceil(Hkv / tp) d B
 * (mha/gqa: heads split over tp, at least one per GPU) or (kl + r) B (mla: the latent is
 * not split by heads, every TP rank holds all of it).
 *
 * BUFFERS (stages with MoE layers, ep > 1), by network.dispatcher:
 *   megatron:  one layer's exchange, transient: the dispatch's send rows and the combine's
 *              receive rows, T k h x (dispatch + combine dtype bytes; fp8 + 4 B per 128);
 *   deepep:    DeepEP's normal-kernel Buffer (deepseek-ai/DeepEP dd758caf, csrc/legacy/
 *              config.hpp get_nvl_buffer_size_hint and get_rdma_buffer_size_hint, with
 *              deep_ep/buffers/legacy.py's default 20 SMs and its dispatch/combine configs
 *              for ep ranks, the next listed size where ep is not listed), once per GPU;
 *   deepep_ll: DeepEP's low-latency Buffer, get_low_latency_rdma_size_hint(T, h, ep, E)
 *              (ibid. LowLatencyLayout: double-buffered send, receive and signal areas).
 * Not counted: NCCL's own buffers, CUDA graphs, allocator fragmentation - put them in
 * cluster.reserved_memory_GiB.
 */
#include "models/moe_memory.h"

#include "hardware/hw_gpu.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GiB (1024.0 * 1024.0 * 1024.0)

static int dtype_size(scn_dtype d)
{
	switch (d) {
	case SCN_DTYPE_FP8: return 1;
	case SCN_DTYPE_FP32: return 4;
	default: return 2;
	}
}

/* Bytes of one element on the wire: fp8 carries a float32 scale per 128 elements. */
static double wire_bytes(scn_dtype d)
{
	return d == SCN_DTYPE_FP8 ? 1.0 + 4.0 / 128.0 : dtype_size(d);
}

static double ceil_div(double a, double b)
{
	return ceil(a / b);
}

/* --- activations ------------------------------------------------------------------- */

/* Attention bytes per token on one GPU (see the header comment). */
static double attn_act(const scn_scenario *s, const moe_arch *a)
{
	double B = a->dtype_bytes, h = a->hidden, H = a->heads, tp = s->parallel.tp;
	double lse = 4.0 * H;
	if (a->attention == SCN_ATTN_MLA) {
		double ql = a->q_lora_rank, kl = a->kv_lora_rank, n = a->qk_nope_head_dim, r = a->qk_rope_head_dim,
		       v = a->v_head_dim;
		return B * (2.0 * h + (ql > 0 ? 2.0 * ql : 0.0) + (kl + r) + kl + 2.0 * H * (n + r) + 2.0 * H * v) + lse;
	}
	double d = a->head_dim, hkv = tp * ceil_div(a->kv_heads, tp);
	return B * (2.0 * h + H * d + 2.0 * hkv * d + H * d) + lse;
}

/* FFN bytes per token on one GPU: dense or MoE. */
static double ffn_act(const scn_scenario *s, const moe_arch *a, int moe)
{
	double B = a->dtype_bytes, h = a->hidden;
	if (!moe)
		return B * (2.0 * h + 3.0 * a->dense_ffn_hidden);
	double cap = s->routing.pad_to_capacity && s->routing.capacity_factor > 0 ? s->routing.capacity_factor : 1.0;
	double k = a->top_k * cap, etp = s->parallel.etp;
	return B * 2.0 * h + 4.0 * a->experts + k * (B * h * etp + B * 3.0 * a->ffn_hidden + B * h) +
	       B * 3.0 * (double)a->shared_experts * a->shared_ffn_hidden;
}

static double layer_act_per_token(const scn_scenario *s, const moe_arch *a, int moe)
{
	double act = attn_act(s, a) + ffn_act(s, a, moe);
	if (s->workload.mode == SCN_MODE_TRAINING && s->training.recompute == SCN_RECOMPUTE_SELECTIVE)
		act -= 4.0 * a->heads;
	return act;
}

double moe_memory_layer_activations(const scn_scenario *s, const moe_arch *a, int layer)
{
	return (double)s->workload.tokens_per_rank * (attn_act(s, a) + ffn_act(s, a, moe_arch_is_moe(a, layer)));
}

/* --- buffers ----------------------------------------------------------------------- */

/* DeepEP's normal-kernel Buffer: NVLink and RDMA bytes (csrc/legacy/config.hpp). */
static double deepep_normal_bytes(double hidden_bytes, int ranks)
{
	/* deep_ep/buffers/legacy.py get_dispatch_config / get_combine_config:
	 * num_max_nvl_chunked_recv_tokens (equal in both) and the RDMA receive tokens after
	 * Config's align_up(recv, send), the larger of dispatch's and combine's. */
	static const int key[] = {2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 144, 160};
	static const int nvl_recv[] = {256, 256, 256, 288, 288, 288, 288, 288, 480, 560, 720, 720};
	static const int rdma_recv[] = {132, 132, 132, 140, 128, 128, 128, 128, 132, 132, 132, 132};
	const int nkeys = (int)(sizeof key / sizeof key[0]);
	const double channels = 20 / 2; /* Buffer.num_sms = 20; one channel per two SMs */
	const double max_topk = 128, max_scales = 128, meta = 8, idx = 8; /* SourceMeta, int64 topk_idx_t */
	int i = 0;
	while (i < nkeys - 1 && key[i] < ranks)
		i++;
	double rdma_ranks = ranks > 8 ? ranks / 8 : 1, nvl_ranks = ranks < 8 ? ranks : 8;
	double nvl = channels * nvl_ranks * (2.0 * rdma_ranks + 3.0) * 4.0 +
		     channels * nvl_ranks * nvl_recv[i] * (hidden_bytes + meta + max_topk * idx + max_topk * 4.0 + max_scales * 4.0);
	nvl = ceil(nvl / 128.0) * 128.0;
	if (ranks <= 8)
		return nvl;
	double rdma = channels * rdma_ranks * (8.0 * 2.0 + 2.0) * 2.0 * 4.0 +
		      channels * rdma_ranks * rdma_recv[i] *
			      (hidden_bytes * 2.0 + meta * 2.0 + max_topk * idx * 2.0 + max_topk * 4.0 * 2.0 +
			       max_scales * 4.0 * 2.0 + 16.0 * 2.0);
	rdma = ceil(rdma / 128.0) * 128.0;
	return nvl + rdma;
}

/* DeepEP's get_low_latency_rdma_size_hint (csrc/legacy/config.hpp, LowLatencyLayout). */
static double deepep_ll_bytes(double tokens, double hidden, double experts)
{
	double scales = floor(hidden / 128.0);
	double dmsg = 16.0 + fmax(hidden * 2.0, hidden + scales * 4.0);
	double cmsg = scales * 4.0 + hidden * 2.0;
	double send = fmax(tokens * dmsg, experts * tokens * cmsg);
	double recv = fmax(experts * tokens * dmsg, experts * tokens * cmsg);
	double signal = ceil(experts * 4.0 / 128.0) * 128.0;
	double total = 2.0 * send + 2.0 * recv + 2.0 * signal;
	return floor((total + 128.0) / 128.0) * 128.0;
}

static double buffer_bytes(const scn_scenario *s, const moe_arch *a)
{
	double T = (double)s->workload.tokens_per_rank, h = a->hidden;
	int ep = s->parallel.ep;
	if (ep <= 1)
		return 0.0;
	switch (s->network.dispatcher) {
	case SCN_DISP_DEEPEP: {
		int elem = dtype_size(s->model.dispatch_dtype);
		return deepep_normal_bytes(h * (elem > 2 ? elem : 2), ep);
	}
	case SCN_DISP_DEEPEP_LL:
		return deepep_ll_bytes(T, h, a->experts);
	default:
		return T * a->top_k * h * (wire_bytes(s->model.dispatch_dtype) + wire_bytes(s->model.combine_dtype));
	}
}

/* --- the estimate ------------------------------------------------------------------ */

typedef struct chunk {
	int lo, hi;            /* layers [lo, hi) */
	int first, last;       /* virtual stage 0 / the last one */
	double act;            /* activations of one micro-batch (training) */
	double max_layer;      /* the largest layer's full set of one micro-batch */
} chunk;

static int layout_check(const scn_scenario *s, ms_error *err)
{
	int world = scn_world(s), mp = s->parallel.tp * s->parallel.cp * s->parallel.pp;
	if (world % mp != 0 || world / mp != s->parallel.dp)
		return MS_ERROR(err, MS_EINVAL,
				"memory: tp x cp x pp x dp = %d x %d x %d x %d is not the cluster's %d GPUs",
				s->parallel.tp, s->parallel.cp, s->parallel.pp, s->parallel.dp, world);
	if ((world / s->parallel.pp) % (s->parallel.ep * s->parallel.etp) != 0)
		return MS_ERROR(err, MS_EINVAL,
				"memory: ep x etp = %d x %d does not divide the %d GPUs of a pipeline stage (Megatron-Core: "
				"expert-data-parallel size = world / (ep x etp x pp) must be whole)",
				s->parallel.ep, s->parallel.etp, world / s->parallel.pp);
	return MS_OK;
}

void moe_memory_layer_params(const scn_scenario *s, const moe_arch *a, int moe, double *dense, double *expert)
{
	const double tp = s->parallel.tp;
	const double local = (double)(a->experts + (s->routing.placement == SCN_PLACE_LOAD_AWARE
						     ? s->routing.redundant_experts
						     : 0)) / s->parallel.ep;
	double attn = (a->attn_params - a->attn_tp_replicated_params) / tp + a->attn_tp_replicated_params;
	*dense = attn + a->norm_params + (moe ? a->router_params + a->shared_params / tp : a->dense_ffn_params / tp);
	*expert = moe ? local * a->expert_params / s->parallel.etp : 0.0;
}

int moe_memory_estimate(const scn_scenario *s, const moe_arch *a, moe_memory *out, ms_error *err)
{
	int rc;
	memset(out, 0, sizeof *out);
	if ((rc = layout_check(s, err)) < 0)
		return rc;
	double capacity;
	if (s->cluster.gpu_memory_GiB > 0) {
		capacity = s->cluster.gpu_memory_GiB * GiB;
	} else {
		const hw_gpu *g = hw_gpu_find(s->cluster.gpu);
		if (!g)
			return MS_ERROR(err, MS_EINVAL,
					"memory: cluster.gpu = \"%s\" has no datasheet entry (`moesim gpus`); set "
					"cluster.gpu_memory_GiB",
					s->cluster.gpu);
		capacity = g->hbm_bytes;
	}

	const int pp = s->parallel.pp, vpp = s->parallel.vpp, P = pp * vpp;
	/* DualPipe: rank r holds stages r and pp - 1 - r, a copy of each; the distributed
	 * optimizer shards over both copies' data-parallel groups (sim/sim_run.c). */
	const int dualpipe = s->schedule.overlap == SCN_OVERLAP_DUALPIPE, nchunks = dualpipe ? 2 : vpp;
	const double copies = dualpipe ? 2.0 : 1.0;
	const int training = s->workload.mode == SCN_MODE_TRAINING;
	const int mtp = training ? a->mtp_layers : 0;
	const double tp = s->parallel.tp, cp = s->parallel.cp, ep = s->parallel.ep, etp = s->parallel.etp;
	const double world = scn_world(s), dpcp = (double)s->parallel.dp * cp, edp = world / (ep * etp * pp);
	const double T = (double)s->workload.tokens_per_rank, m = (double)s->workload.microbatches;
	const double B = a->dtype_bytes, h = a->hidden, V = a->vocab;

	const double wb = training ? fmax(B, 2.0) : B;
	const double gb = s->training.grad_fp32 ? 4.0 : wb;
	const double ob = (wb == 4.0 ? 0.0 : 4.0) + 8.0 + (gb == 4.0 ? 0.0 : 4.0);
	const int full = training && s->training.recompute == SCN_RECOMPUTE_FULL;
	const double buffers = buffer_bytes(s, a);
	/* Per GPU: the parameters of one layer outside the routed experts, and its experts. */
	double dense_layer_gpu, moe_layer_gpu, experts_gpu, none;
	const double kv_pos = a->attention == SCN_ATTN_MLA ? a->kv_bytes
							   : 2.0 * ceil_div(a->kv_heads, tp) * a->head_dim * B;

	moe_memory_layer_params(s, a, 0, &dense_layer_gpu, &none);
	moe_memory_layer_params(s, a, 1, &moe_layer_gpu, &experts_gpu);
	chunk *ch = ms_calloc(err, (size_t)P, sizeof *ch, "memory: pipeline chunks");
	if (!ch)
		return err->code;
	out->stage = ms_calloc(err, (size_t)pp, sizeof *out->stage, "memory: pipeline stages");
	if (!out->stage) {
		free(ch);
		return err->code;
	}
	out->nstages = pp;
	out->capacity = capacity;

	/* Activations of one micro-batch per virtual stage. */
	for (int v = 0; v < P; v++) {
		chunk *c = &ch[v];
		scn_stage_layers(s, v, &c->lo, &c->hi);
		c->first = v == 0;
		c->last = v == P - 1;
		for (int l = c->lo; l < c->hi; l++) {
			int moe = moe_arch_is_moe(a, l);
			double one = T * layer_act_per_token(s, a, moe);
			c->act += full ? T * B * h : one;
			c->max_layer = fmax(c->max_layer, one);
		}
		if (c->first)
			c->act += T * 8.0 * tp;
		if (c->last) {
			c->act += T * (2.0 * B * h + 4.0 * V);
			for (int k = 0; k < mtp; k++) {
				double one = T * layer_act_per_token(s, a, 1);
				c->act += T * (5.0 * B * h + 4.0 * V) + (full ? T * B * h : one);
				c->max_layer = fmax(c->max_layer, one);
			}
		}
	}

	for (int r = 0; r < pp; r++) {
		moe_memory_stage *st = &out->stage[r];
		double max_layer = 0.0;
		st->pp_rank = r;
		for (int c = 0; c < nchunks; c++) {
			const chunk *k = &ch[dualpipe ? (c ? pp - 1 - r : r) : c * pp + r];
			for (int l = k->lo; l < k->hi; l++) {
				int moe = moe_arch_is_moe(a, l);
				st->layers++;
				st->moe_layers += moe;
				st->dense_params += moe ? moe_layer_gpu : dense_layer_gpu;
				st->expert_params += moe ? experts_gpu : 0.0;
			}
			if (k->first) {
				st->embedding = 1;
				st->dense_params += a->embedding_params / tp;
			}
			if (k->last) {
				st->head = 1;
				st->mtp = mtp;
				st->dense_params += a->head_params / tp + a->final_norm_params;
				st->dense_params += mtp * ((a->mtp_extra_params - 3.0 * h) / tp + 3.0 * h + moe_layer_gpu);
				st->expert_params += mtp * experts_gpu;
				st->moe_layers += mtp;
			}
			max_layer = fmax(max_layer, k->max_layer);
		}
		double params = st->dense_params + st->expert_params;
		st->weights = params * wb;
		if (training) {
			st->grads = params * gb;
			st->optimizer = s->training.distributed_optimizer
						? st->dense_params * ob / (copies * dpcp) + st->expert_params * ob / (copies * edp)
						: params * ob;
			if (dualpipe) {
				/* DualPipe's peak (its step() walked: rank r holds pp - r forward
				 * chunks of stage r and r + 1 of stage pp - 1 - r, PP + 1 in all, the
				 * README's "Activation Per Device"). */
				double n0 = fmin(pp - r, m / 2), n1 = fmin(r + 1, m / 2);
				st->inflight = n0 + n1;
				st->activations = n0 * ch[r].act + n1 * ch[pp - 1 - r].act;
			} else if (vpp == 1) {
				st->inflight = fmin(pp - r, m);
				st->activations = st->inflight * ch[r].act;
			} else {
				double n = fmin(2.0 * (pp - r - 1) + (vpp - 1.0) * pp + 1.0, m * vpp);
				st->inflight = n;
				for (int i = 0; i < (int)n; i++)
					st->activations += ch[((i / pp) % vpp) * pp + r].act;
			}
			if (full)
				st->activations += max_layer;
		} else {
			double seqs = (double)s->workload.micro_batch * m;
			st->inflight = 1;
			st->activations = max_layer + (st->head ? (double)s->workload.micro_batch * V / tp * 4.0 : 0.0);
			st->kv_cache = seqs * s->workload.context_len / cp * st->layers * kv_pos;
		}
		st->buffers = st->moe_layers > 0 ? buffers : 0.0;
		st->reserved = s->cluster.reserved_memory_GiB * GiB;
		st->total = st->weights + st->grads + st->optimizer + st->activations + st->kv_cache + st->buffers +
			    st->reserved;
		if (r == 0 || st->total > out->peak_bytes) {
			out->peak = r;
			out->peak_bytes = st->total;
		}
	}
	free(ch);
	out->fits = out->peak_bytes <= capacity;
	return MS_OK;
}

void moe_memory_free(moe_memory *m)
{
	free(m->stage);
	m->stage = NULL;
	m->nstages = 0;
}

/* --- advice ------------------------------------------------------------------------ */

typedef struct outbuf {
	char *p;
	size_t len, used;
} outbuf;

static void put(outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(outbuf *o, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (o->used >= o->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->p + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->used = o->used + (size_t)n < o->len ? o->used + (size_t)n : o->len;
}

/* Re-derives what the scenario loader derives from the layout: dp, the micro-batches per
 * step (global batch kept), and tokens_per_rank when the micro-batch changed. */
static int relayout(scn_scenario *c, int new_micro_batch)
{
	int world = scn_world(c), mp = c->parallel.tp * c->parallel.cp * c->parallel.pp;
	if (world % mp != 0)
		return -1;
	c->parallel.dp = world / mp;
	if ((world / c->parallel.pp) % (c->parallel.ep * c->parallel.etp) != 0)
		return -1;
	if (new_micro_batch) {
		int decode = c->workload.mode == SCN_MODE_DECODE;
		int64_t split = decode ? c->parallel.tp : (int64_t)c->parallel.tp * c->parallel.cp;
		int64_t want = c->workload.micro_batch * (decode ? 1 : c->workload.seq_len);
		if (want % split != 0)
			return -1;
		c->workload.tokens_per_rank = want / split;
	}
	if (c->workload.global_batch % (c->workload.micro_batch * c->parallel.dp) != 0)
		return -1;
	c->workload.microbatches = c->workload.global_batch / (c->workload.micro_batch * c->parallel.dp);
	return 0;
}

/* Peak bytes of a modified scenario, or -1 if it cannot be estimated. */
static double peak_of(const scn_scenario *c, const moe_arch *a, int *fits)
{
	moe_memory m;
	ms_error err;
	ms_error_clear(&err);
	if (moe_memory_estimate(c, a, &m, &err) < 0)
		return -1.0;
	*fits = m.fits;
	double p = m.peak_bytes;
	moe_memory_free(&m);
	return p;
}

enum { CH_PP, CH_EP, CH_RECOMPUTE, CH_MB, CH_DISTOPT, CH_N };

/* Applies change `which` to c; returns 0, or -1 when it does not apply (with why). */
static int apply(scn_scenario *c, const moe_arch *a, int which, char *why, size_t wlen)
{
	int training = c->workload.mode == SCN_MODE_TRAINING;
	switch (which) {
	case CH_PP:
		if (c->parallel.first_stage_layers || c->parallel.last_stage_layers) {
			snprintf(why, wlen, "parallel.pp x 2: the stages are split by hand (parallel.first_stage_layers, "
				 "last_stage_layers); change them with pp");
			return -1;
		}
		if (2 * c->parallel.pp * c->parallel.vpp > a->layers) {
			snprintf(why, wlen, "parallel.pp x 2: %d layers cannot fill %d x %d stages", a->layers,
				 2 * c->parallel.pp, c->parallel.vpp);
			return -1;
		}
		c->parallel.pp *= 2;
		break;
	case CH_EP:
		if (2 * c->parallel.ep > a->experts || a->experts % (2 * c->parallel.ep) != 0) {
			snprintf(why, wlen, "parallel.ep x 2: %d experts do not split over %d GPUs", a->experts,
				 2 * c->parallel.ep);
			return -1;
		}
		c->parallel.ep *= 2;
		break;
	case CH_RECOMPUTE:
		if (!training || c->training.recompute == SCN_RECOMPUTE_FULL)
			return -1;
		c->training.recompute = SCN_RECOMPUTE_FULL;
		return relayout(c, 0);
	case CH_MB:
		if (c->workload.micro_batch <= 1)
			return -1;
		c->workload.micro_batch = 1;
		if (relayout(c, 1) < 0) {
			snprintf(why, wlen, "workload.micro_batch = 1: the sequence does not split over the layout");
			return -1;
		}
		return 0;
	case CH_DISTOPT:
		if (!training || c->training.distributed_optimizer)
			return -1;
		c->training.distributed_optimizer = 1;
		return relayout(c, 0);
	default:
		return -1;
	}
	if (relayout(c, 0) < 0) {
		int world = scn_world(c), mp = c->parallel.tp * c->parallel.cp * c->parallel.pp;
		const char *what = which == CH_PP ? "parallel.pp x 2" : "parallel.ep x 2";
		if (world % mp != 0)
			snprintf(why, wlen, "%s: tp x cp x pp = %d does not divide the %d GPUs", what, mp, world);
		else
			snprintf(why, wlen, "%s: ep x etp = %d does not divide the %d GPUs of a pipeline stage", what,
				 c->parallel.ep * c->parallel.etp, world / c->parallel.pp);
		return -1;
	}
	return 0;
}

static void describe(outbuf *o, const scn_scenario *s, const scn_scenario *c, int which)
{
	switch (which) {
	case CH_PP: put(o, "parallel.pp = %d (from %d; dp %d)", c->parallel.pp, s->parallel.pp, c->parallel.dp); break;
	case CH_EP: put(o, "parallel.ep = %d (from %d)", c->parallel.ep, s->parallel.ep); break;
	case CH_RECOMPUTE: put(o, "training.recompute = \"full\""); break;
	case CH_MB:
		put(o, "workload.micro_batch = 1 (from %lld, %lld micro-batches per step)", (long long)s->workload.micro_batch,
		    (long long)c->workload.microbatches);
		break;
	case CH_DISTOPT: put(o, "training.distributed_optimizer = true"); break;
	default: break;
	}
}

int moe_memory_advice(const scn_scenario *s, const moe_memory *m, char *buf, size_t len)
{
	outbuf o = {buf, len, 0};
	moe_arch a;
	ms_error err;
	const double GB = 1e9;
	if (len > 0)
		buf[0] = '\0';
	ms_error_clear(&err);
	if (m->nstages <= 0 || moe_arch_init(&a, s, &err) < 0) {
		put(&o, "no memory estimate%s%s", err.msg[0] ? ": " : "", err.msg);
		return -1;
	}
	const moe_memory_stage *p = &m->stage[m->peak];
	if (m->fits) {
		put(&o, "fits: the peak, pipeline stage %d of %d, needs %.1f GB per GPU of %.1f GB", m->peak, m->nstages,
		    m->peak_bytes / GB, m->capacity / GB);
		return 1;
	}
	put(&o,
	    "does not fit: pipeline stage %d of %d needs %.1f GB per GPU, more than the %.1f GB (%.0f GiB) of %s: "
	    "weights %.1f, gradients %.1f, optimizer %.1f, activations %.1f (%g micro-batch%s in flight), KV cache "
	    "%.1f, buffers %.1f, reserved %.1f GB.",
	    m->peak, m->nstages, m->peak_bytes / GB, m->capacity / GB, m->capacity / GiB, s->cluster.gpu,
	    p->weights / GB, p->grads / GB, p->optimizer / GB, p->activations / GB, p->inflight,
	    p->inflight == 1 ? "" : "es", p->kv_cache / GB, p->buffers / GB, p->reserved / GB);

	scn_scenario *c = malloc(sizeof *c), *all = malloc(sizeof *all);
	if (!c || !all) {
		free(c);
		free(all);
		put(&o, " (no memory left to try changes)");
		return 0;
	}
	int helped = 0, helped_mask = 0, any = 0;
	char why[256], nothelp[1024] = "", cannot[1024] = "";
	size_t nh = 0, cn = 0;
	for (int w = 0; w < CH_N; w++) {
		int fits = 0;
		why[0] = '\0';
		*c = *s;
		if (apply(c, &a, w, why, sizeof why) < 0) {
			if (why[0] && cn < sizeof cannot)
				cn += (size_t)snprintf(cannot + cn, sizeof cannot - cn, "%s%s", cn ? "; " : "", why);
			continue;
		}
		double peak = peak_of(c, &a, &fits);
		if (peak < 0 || peak >= m->peak_bytes) {
			outbuf t = {nothelp + nh, nh < sizeof nothelp ? sizeof nothelp - nh : 0, 0};
			if (nh)
				put(&t, ", ");
			describe(&t, s, c, w);
			nh += t.used;
			continue;
		}
		put(&o, "%s", any ? "; " : " What would lower the peak, each re-estimated alone: ");
		any = 1;
		describe(&o, s, c, w);
		put(&o, ": peak %.1f GB, %s", peak / GB, fits ? "fits" : "still too much");
		helped++;
		helped_mask |= 1 << w;
	}
	if (!any)
		put(&o, " None of parallel.pp x 2, parallel.ep x 2, full recomputation, micro_batch 1 or the distributed "
			"optimizer lowers the peak.");
	else
		put(&o, ".");
	if (helped >= 2) {
		int fits = 0, ok = 1;
		*all = *s;
		for (int w = 0; w < CH_N && ok; w++)
			if (helped_mask & (1 << w))
				ok = apply(all, &a, w, why, sizeof why) == 0;
		double peak = ok ? peak_of(all, &a, &fits) : -1.0;
		if (peak >= 0)
			put(&o, " All of them together: peak %.1f GB, %s.", peak / GB, fits ? "fits" : "still too much");
	}
	if (nh)
		put(&o, " No help: %s.", nothelp);
	if (cn)
		put(&o, " Not possible: %s.", cannot);
	free(c);
	free(all);
	return 0;
}
