/*
 * moe_arch.h - the whole model's architecture, part by part: FLOPs, parameters and the
 * KV cache of attention, router, experts, dense FFN, embedding, LM head and MTP, which
 * layers are MoE, and the totals (parameters, active parameters, the FLOPs MFU counts).
 *
 * Pure: computed once from a validated scenario (scenario/scn_scenario.h), no heap, no
 * engine state. models/moe_model.h keeps the per-layer costs the engine plays; this
 * module is what a whole-step model (memory, MFU, pipeline stages) starts from.
 *
 * Counts are per token, forward, for one whole (unsplit) layer; multiply-add = 2 FLOPs.
 * Notation: h = hidden, H = heads, Hkv = kv_heads, d = head_dim, E = experts, k = top_k,
 * f = ffn_hidden (one routed expert), fd = dense_ffn_hidden, fs = shared_ffn_hidden,
 * S = shared_experts, V = vocab; MLA: ql = q_lora_rank, kl = kv_lora_rank, n =
 * qk_nope_head_dim, r = qk_rope_head_dim, v = v_head_dim.
 *
 *   attention projections
 *     mha/gqa  2 h (H d + 2 Hkv d) + 2 H d h                       (Q, K, V, O)
 *     mla      q:  2 h ql + 2 ql H (n + r)   (ql > 0: down, up)  or  2 h H (n + r)
 *              kv: 2 h (kl + r) + 2 kl H (n + v)                    (down incl. the shared
 *                  rotary key, up to per-head keys and values)
 *              o:  2 H v h                  (DeepSeek-V2, arXiv 2405.04434, sec. 2.1)
 *   attention core per attended position  2 H (dqk + dv): QK^T and AV, with dqk = n + r,
 *              dv = v for MLA, dqk = dv = d otherwise
 *   router     2 h E                        one routed expert  6 h f (SwiGLU: gate, up, down)
 *   shared     6 h fs S (all of them)       dense FFN          6 h fd
 *   LM head    2 h V                        MTP projection     2 (2h) h per module
 *
 * Parameters: the same matrices (3 h f per expert, h E router, V h embedding and head,
 * untied), RMSNorms of h weights (two per layer, one final, three per MTP module: the
 * embedding's, the hidden state's, and the module's own final norm), and for MLA the q and
 * kv latent norms (ql + kl), counted in the attention's parameters. No biases.
 *
 * MTP (DeepSeek-V3, arXiv 2412.19437, sec. 2.2): each module is a projection 2h -> h of
 * the two normed inputs, one transformer layer (attention + MoE: moesim's last layer is
 * always MoE), and the norms; it shares the embedding and the LM head with the main model
 * but runs the head again. Inference discards the modules (ibid.), so total_params and
 * active_params count the main model (DeepSeek-V3's "671B total, 37B activated"), with
 * the modules in mtp_total_params.
 */
#ifndef MOE_ARCH_H
#define MOE_ARCH_H

#include "common/ms_error.h"
#include "scenario/scn_scenario.h"

typedef struct moe_arch {
	/* shape, from the scenario */
	int hidden, layers, dense_layers, moe_layers, moe_every, mtp_layers;
	int experts, top_k, shared_experts;
	int ffn_hidden, dense_ffn_hidden, shared_ffn_hidden;
	scn_attention attention;
	int heads, kv_heads, head_dim;
	int q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim;
	int vocab, dtype_bytes;
	int seq_len, context_len;
	int qk_dim, v_dim;   /* per-head widths of QK^T and AV: n + r and v (MLA), d and d otherwise */

	/* FLOPs per token, forward, one whole layer */
	double attn_proj_flops;          /* the projections above (no norms) */
	double attn_core_flops_per_pos;  /* 2 H (dqk + dv) per attended position */
	double router_flops;             /* 2 h E */
	double expert_flops;             /* one routed expert, 6 h f */
	double shared_flops;             /* all shared experts, 6 h fs S */
	double dense_ffn_flops;          /* 6 h fd */
	double head_flops;               /* 2 h V */
	double mtp_proj_flops;           /* one module's projection, 4 h^2 */

	/* parameters */
	double attn_params;              /* projections, plus MLA's q/kv latent norms */
	double attn_tp_replicated_params;/* of those, what Megatron-Core keeps whole on every TP rank:
	                                  * MLA's down projections and latent norms (0 for mha/gqa) */
	double norm_params;              /* per layer: the pre-attention and pre-FFN RMSNorms, 2h */
	double router_params;            /* h E */
	double expert_params;            /* one routed expert, 3 h f */
	double shared_params;            /* all shared experts, 3 h fs S */
	double dense_ffn_params;         /* 3 h fd */
	double embedding_params;         /* V h */
	double head_params;              /* V h (untied) */
	double final_norm_params;        /* h */
	double mtp_extra_params;         /* one module without its layer: 2 h^2 projection + 3h norms */
	double dense_layer_params;       /* attention + norms + dense FFN */
	double moe_layer_params;         /* attention + norms + router + E experts + shared */
	double moe_layer_active_params;  /* the same with k experts */

	/* inference */
	double kv_bytes;                 /* KV cache per token per layer: 2 Hkv d x dtype (mha/gqa), the
	                                  * compressed latent (kl + r) x dtype (mla, DeepSeek-V2 sec. 2.1.2) */

	/* totals (main model: layers, embedding, final norm, head; MTP apart) */
	double total_params;
	double active_params;            /* per token: dense layers, MoE layers with k experts, embedding,
	                                  * final norm, head (Megatron's convention, which counts the
	                                  * embedding table although a token reads one row of it) */
	double mtp_total_params;         /* all MTP modules, their layers included */
} moe_arch;

/* Fills a from a validated scenario. Errors (MS_EINVAL) only for shapes a hand-built
 * scenario could get wrong: non-positive widths, a layer count that disagrees. */
int moe_arch_init(moe_arch *a, const scn_scenario *s, ms_error *err);

/* 1 if layer (0 .. layers-1) is MoE: the leading dense_layers are dense; after them layer j
 * is MoE when (j - dense_layers + 1) % moe_every == 0. */
int moe_arch_is_moe(const moe_arch *a, int layer);

/* Parameters of layer (0 .. layers-1): dense_layer_params or moe_layer_params. */
double moe_arch_layer_params(const moe_arch *a, int layer);

/* FLOPs a layer executes per token, forward, attending `attended` positions: projections,
 * core, and the dense FFN or the router, k routed experts and the shared experts. */
double moe_arch_layer_flops(const moe_arch *a, int layer, double attended);

/*
 * The FLOPs per token that MFU counts, Megatron-LM's count (megatron/training/training.py,
 * num_floating_point_operations, NVIDIA/Megatron-LM d98e8a64), per token:
 *   training  3 x forward (forward, weight gradient, data gradient; no recompute FLOPs), the
 *             core attending seq_len / 2 positions (causal), MTP modules included;
 *   prefill   forward, causal as above, no MTP;
 *   decode    forward, context_len positions, no MTP.
 * Forward: every layer's projections (MLA's latent norms counted as Megatron does, 2 FLOPs
 * per weight), dense FFNs, k routed experts and the shared experts of MoE layers (no router:
 * Megatron does not count it), the core, the LM head once plus once per MTP module, and per
 * module its projection and 3 norms (6h). It is PaLM's 6N + 12 L H Q T (Chowdhery et al.
 * 2022, appendix B) with N the active non-embedding weights plus the head, and the attention
 * term halved for the causal mask (PaLM counts the full T x T scores).
 */
double moe_arch_model_flops_per_token(const moe_arch *a, scn_mode mode);

#endif
