/*
 * moe_model.h - what one MoE layer costs to compute on one GPU.
 *
 * Costs are rooflines over datasheet peaks scaled by named efficiencies from the
 * scenario (cluster.gemm_efficiency, dense_efficiency, memory_efficiency): a
 * kernel takes max(FLOPs / (peak x efficiency), bytes / (HBM x memory_efficiency)).
 * A calibrated profile replaces these with measured tables (see docs/model.md).
 *
 * FLOP counts (multiply-add = 2 FLOPs), per token, one layer, forward:
 *   attention projections  2 h (H d + 2 Hkv d) + 2 H d h      (Q, K, V, O)
 *   attention core         4 H d c,  c = attended positions: (seq_len + 1) / 2 for
 *                          causal training and prefill, context_len for decode
 *                          (Kaplan et al. 2020, Table 1; Narayanan et al. 2021, sec. 5.1)
 *   router                 2 h E
 *   one routed expert      6 h f  (SwiGLU: gate, up and down GEMMs)
 * Backward costs twice the forward FLOPs (gradients of inputs and of weights).
 */
#ifndef MOE_MODEL_H
#define MOE_MODEL_H

#include <stdint.h>

#include "common/ms_error.h"
#include "models/moe_gpu.h"
#include "scenario/scn_scenario.h"

typedef enum { MOE_FWD = 0, MOE_BWD = 1 } moe_pass;

typedef struct moe_model {
	/* shape */
	int hidden, ffn_hidden, experts, top_k, layers;
	int heads, kv_heads, head_dim;
	int dtype_bytes;
	double attended;      /* attention positions per token (c above) */
	int decode;           /* 1: decode step, weights and KV read once per step */
	/* rates */
	const moe_gpu *gpu;
	double gemm_Fps;      /* achieved FLOP/s in expert GEMMs */
	double dense_Fps;     /* achieved FLOP/s in the attention block */
	double mem_Bps;       /* achieved HBM bytes/s */
} moe_model;

/* Builds the cost model from a validated scenario (resolves the GPU; fp8 needs FP8 tensor cores). */
int moe_model_init(moe_model *m, const scn_scenario *s, ms_error *err);

/* FLOPs of the dense part of one layer (attention + router) for tokens tokens, forward. */
double moe_dense_flops(const moe_model *m, double tokens);

/* Seconds for the dense part of one layer on one GPU. */
double moe_dense_time(const moe_model *m, double tokens, moe_pass pass);

/* Seconds for one GPU's local experts, given the tokens each receives (n_local entries). */
double moe_expert_time(const moe_model *m, const int32_t *tokens_per_expert, int n_local, moe_pass pass);

/* Seconds to gather (permute) or scatter (unpermute) rows token-expert rows of width hidden. */
double moe_permute_time(const moe_model *m, double rows);

/* Bytes of one token's activation row on the wire. */
static inline double moe_row_bytes(const moe_model *m)
{
	return (double)m->hidden * m->dtype_bytes;
}

#endif
