/*
 * moe_arch.c - the architecture's FLOPs and parameters part by part (formulas and
 * sources in moe_arch.h).
 *
 * Invariant: every count is a finite double >= 0 computed in double (products of widths
 * overflow int); total_params = sum over layers of moe_arch_layer_params + embedding +
 * final norm + head, and the MoE layers are exactly moe_layers of the layers (the last one
 * among them).
 */
#include "models/moe_arch.h"

#include <string.h>

static int positive(const char *key, int v, ms_error *err)
{
	if (v <= 0)
		return MS_ERROR(err, MS_EINVAL, "moe_arch: %s = %d must be positive", key, v);
	return MS_OK;
}

int moe_arch_init(moe_arch *a, const scn_scenario *s, ms_error *err)
{
	const int *need[] = {&s->model.hidden, &s->model.ffn_hidden, &s->model.dense_ffn_hidden,
			     &s->model.shared_ffn_hidden, &s->model.experts, &s->model.top_k,
			     &s->model.moe_layers, &s->model.moe_every, &s->model.heads, &s->model.kv_heads,
			     &s->model.vocab, &s->model.dtype_bytes, &s->workload.seq_len, &s->workload.context_len};
	static const char *const names[] = {"model.hidden", "model.ffn_hidden", "model.dense_ffn_hidden",
					    "model.shared_ffn_hidden", "model.experts", "model.top_k",
					    "model.moe_layers", "model.moe_every", "model.heads", "model.kv_heads",
					    "model.vocab", "model.dtype_bytes", "workload.seq_len",
					    "workload.context_len"};
	int rc;
	for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
		if ((rc = positive(names[i], *need[i], err)) < 0)
			return rc;
	if (s->model.attention != SCN_ATTN_MLA && (rc = positive("model.head_dim", s->model.head_dim, err)) < 0)
		return rc;
	if (s->model.attention == SCN_ATTN_MLA &&
	    ((rc = positive("model.kv_lora_rank", s->model.kv_lora_rank, err)) < 0 ||
	     (rc = positive("model.qk_nope_head_dim", s->model.qk_nope_head_dim, err)) < 0 ||
	     (rc = positive("model.v_head_dim", s->model.v_head_dim, err)) < 0))
		return rc;
	if (s->model.dense_layers < 0 || s->model.mtp_layers < 0 || s->model.shared_experts < 0 ||
	    s->model.q_lora_rank < 0 || s->model.qk_rope_head_dim < 0)
		return MS_ERROR(err, MS_EINVAL, "moe_arch: a negative dense_layers, mtp_layers, shared_experts, "
				"q_lora_rank or qk_rope_head_dim");
	if (s->model.layers != s->model.dense_layers + s->model.moe_layers * s->model.moe_every)
		return MS_ERROR(err, MS_EINVAL,
				"moe_arch: model.layers = %d but dense_layers + moe_layers x moe_every = %d + %d x %d",
				s->model.layers, s->model.dense_layers, s->model.moe_layers, s->model.moe_every);

	memset(a, 0, sizeof *a);
	a->hidden = s->model.hidden;
	a->layers = s->model.layers;
	a->dense_layers = s->model.dense_layers;
	a->moe_layers = s->model.moe_layers;
	a->moe_every = s->model.moe_every;
	a->mtp_layers = s->model.mtp_layers;
	a->experts = s->model.experts;
	a->top_k = s->model.top_k;
	a->shared_experts = s->model.shared_experts;
	a->ffn_hidden = s->model.ffn_hidden;
	a->dense_ffn_hidden = s->model.dense_ffn_hidden;
	a->shared_ffn_hidden = s->model.shared_ffn_hidden;
	a->attention = s->model.attention;
	a->heads = s->model.heads;
	a->kv_heads = s->model.kv_heads;
	a->head_dim = s->model.head_dim;
	a->q_lora_rank = s->model.q_lora_rank;
	a->kv_lora_rank = s->model.kv_lora_rank;
	a->qk_nope_head_dim = s->model.qk_nope_head_dim;
	a->qk_rope_head_dim = s->model.qk_rope_head_dim;
	a->v_head_dim = s->model.v_head_dim;
	a->vocab = s->model.vocab;
	a->dtype_bytes = s->model.dtype_bytes;
	a->seq_len = s->workload.seq_len;
	a->context_len = s->workload.context_len;

	double h = a->hidden, H = a->heads, E = a->experts, V = a->vocab, B = a->dtype_bytes;
	if (a->attention == SCN_ATTN_MLA) {
		double ql = a->q_lora_rank, kl = a->kv_lora_rank, n = a->qk_nope_head_dim, r = a->qk_rope_head_dim,
		       v = a->v_head_dim;
		double q = ql > 0 ? h * ql + ql * H * (n + r) : h * H * (n + r);
		double kv = h * (kl + r) + kl * H * (n + v);
		double o = H * v * h;
		a->qk_dim = (int)(n + r);
		a->v_dim = (int)v;
		a->attn_proj_flops = 2.0 * (q + kv + o);
		a->attn_params = q + kv + o + ql + kl; /* + the q (if any) and kv latent RMSNorms */
		/* Megatron-Core multi_latent_attention.py builds linear_q_down_proj and
		 * linear_kv_down_proj with parallel_mode='duplicated' (TELinear): whole on every TP
		 * rank, as are the latent norms. */
		a->attn_tp_replicated_params = (ql > 0 ? h * ql + ql : 0.0) + h * (kl + r) + kl;
		a->kv_bytes = (kl + r) * B;
	} else {
		double d = a->head_dim, Hkv = a->kv_heads;
		a->qk_dim = a->v_dim = a->head_dim;
		a->attn_params = h * (H * d + 2.0 * Hkv * d) + H * d * h;
		a->attn_proj_flops = 2.0 * a->attn_params;
		a->attn_tp_replicated_params = 0.0;
		a->kv_bytes = 2.0 * Hkv * d * B;
	}
	a->attn_core_flops_per_pos = 2.0 * H * (a->qk_dim + a->v_dim);
	a->router_flops = 2.0 * h * E;
	a->router_params = h * E;
	a->expert_params = 3.0 * h * a->ffn_hidden;
	a->expert_flops = 2.0 * a->expert_params;
	a->shared_params = 3.0 * h * a->shared_ffn_hidden * a->shared_experts;
	a->shared_flops = 2.0 * a->shared_params;
	a->dense_ffn_params = 3.0 * h * a->dense_ffn_hidden;
	a->dense_ffn_flops = 2.0 * a->dense_ffn_params;
	a->embedding_params = V * h;
	a->head_params = V * h;
	a->head_flops = 2.0 * V * h;
	a->final_norm_params = h;
	a->norm_params = 2.0 * h;
	a->mtp_proj_flops = 2.0 * (2.0 * h) * h;
	a->mtp_extra_params = 2.0 * h * h + 3.0 * h;

	double common = a->attn_params + a->norm_params;
	a->dense_layer_params = common + a->dense_ffn_params;
	a->moe_layer_params = common + a->router_params + E * a->expert_params + a->shared_params;
	a->moe_layer_active_params = common + a->router_params + a->top_k * a->expert_params + a->shared_params;

	double dense_n = a->layers - a->moe_layers;
	double outer = a->embedding_params + a->final_norm_params + a->head_params;
	a->total_params = dense_n * a->dense_layer_params + a->moe_layers * a->moe_layer_params + outer;
	a->active_params = dense_n * a->dense_layer_params + a->moe_layers * a->moe_layer_active_params + outer;
	a->mtp_total_params = a->mtp_layers * (a->mtp_extra_params + a->moe_layer_params);
	return MS_OK;
}

int moe_arch_is_moe(const moe_arch *a, int layer)
{
	MS_ASSERT(layer >= 0 && layer < a->layers, "layer %d of %d", layer, a->layers);
	if (layer < a->dense_layers)
		return 0;
	return (layer - a->dense_layers + 1) % a->moe_every == 0;
}

double moe_arch_layer_params(const moe_arch *a, int layer)
{
	return moe_arch_is_moe(a, layer) ? a->moe_layer_params : a->dense_layer_params;
}

double moe_arch_layer_flops(const moe_arch *a, int layer, double attended)
{
	double attn = a->attn_proj_flops + a->attn_core_flops_per_pos * attended;
	if (!moe_arch_is_moe(a, layer))
		return attn + a->dense_ffn_flops;
	return attn + a->router_flops + a->top_k * a->expert_flops + a->shared_flops;
}

double moe_arch_model_flops_per_token(const moe_arch *a, scn_mode mode)
{
	/* Megatron-LM training.py, transformer_flops(): the MTP modules are extra layers of the
	 * kind of the last layer (MoE here), each with 3 norms (3h "FLOPs" x 2) and a 2h x h
	 * projection, and each runs the LM head again. */
	int mtp = mode == SCN_MODE_TRAINING ? a->mtp_layers : 0;
	double h = a->hidden;
	double layers = a->layers + mtp, moe = a->moe_layers + mtp, dense = a->layers - a->moe_layers;
	double attended = mode == SCN_MODE_DECODE ? (double)a->context_len : a->seq_len / 2.0;
	/* MLA's latent norms: Megatron's "q lora + rope + q norm" and "kv lora + rope + kv norm"
	 * terms count one multiply-add per norm weight (the +1 in ql (h + H(n + r) + 1)). */
	double norms = a->attention == SCN_ATTN_MLA ? 2.0 * (a->q_lora_rank + a->kv_lora_rank) : 0.0;
	double fwd = layers * (a->attn_proj_flops + norms + a->attn_core_flops_per_pos * attended) +
		     dense * a->dense_ffn_flops + moe * (a->top_k * a->expert_flops + a->shared_flops) +
		     mtp * (2.0 * 3.0 * h + a->mtp_proj_flops) + (1.0 + mtp) * a->head_flops;
	return mode == SCN_MODE_TRAINING ? 3.0 * fwd : fwd;
}
