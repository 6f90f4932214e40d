/*
 * moe_model.h - what one MoE layer costs to compute on one GPU.
 *
 * Without a profile, costs are rooflines over datasheet peaks scaled by named
 * efficiencies from the scenario (cluster.gemm_efficiency, dense_efficiency,
 * memory_efficiency): a kernel takes max(FLOPs / (peak x efficiency), bytes / (HBM x
 * memory_efficiency)).
 *
 * With a calibration profile (cluster.profile, docs/profile-format.md):
 *   - a datasheet profile's peaks replace the built-in table's (efficiencies still apply);
 *   - measured expert GEMM tables replace the expert roofline: each local expert that
 *     receives n tokens costs table(n) / E_t, the table of the model's dtype and shape
 *     (hidden x ffn) measured for E_t experts at once (E_t = the GPU's local experts if
 *     measured, else the nearest below, else above); backward is the bwd_dgrad table
 *     plus the bwd_wgrad table. A profile with GEMM tables but not for the model's shape
 *     or dtype is an error that lists the shapes it has: scaling another shape by FLOPs
 *     would hide exactly the efficiency differences the tables are there to measure;
 *   - measured gather / unpermute tables replace the permute and unpermute rooflines
 *     (another row width or top-k is converted at equal bytes moved); without them a
 *     copy table stands in (a gather of r rows copies r rows);
 *   - a copy table's best rate, x2 for read + write, replaces HBM x memory_efficiency;
 *   - the dense part (attention, router) stays FLOPs x dense_efficiency: no table
 *     measures it.
 * Tables are interpolated monotonically and extrapolated with their fitted model
 * (profile/prof_curve.h).
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
#include "hardware/hw_gpu.h"
#include "profile/prof_curve.h"
#include "profile/prof_profile.h"
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
	const hw_gpu *gpu;
	double gemm_Fps;      /* achieved FLOP/s in expert GEMMs */
	double dense_Fps;     /* achieved FLOP/s in the attention block */
	double mem_Bps;       /* achieved HBM bytes/s */
	/* calibration (cluster.profile); all 0 without one */
	int calibrated;                    /* a profile was loaded */
	char profile_name[256];            /* its name, for reports */
	int gemm_tables;                   /* expert times from measured GEMM tables */
	int gemm_experts[PROF_NPASSES];    /* experts of the table used per pass (fwd, dgrad, wgrad) */
	prof_curve gemm[PROF_NPASSES];     /* seconds vs tokens per expert, for gemm_experts experts */
	int gather_table, unpermute_table; /* permute / unpermute from measured tables */
	prof_curve gather, unpermute;      /* seconds vs the table's x (rows, or bytes of a copy) */
	double gather_x_per_row;           /* table x per model row: equal bytes moved */
	double unpermute_x_per_row;
} moe_model;

/*
 * Builds the cost model from a validated scenario and the run's calibration profile p
 * (cluster.profile, loaded once by the run's setup; NULL without one): the rates come
 * from hardware/hw_rates.h (which decides what overrides what), the measured tables
 * from p. Needs no _fini: the model keeps no heap memory (what it needs of p is copied
 * into its curves, so p may be freed after the call).
 */
int moe_model_init(moe_model *m, const scn_scenario *s, const prof_profile *p, ms_error *err);

/* FLOPs of the dense part of one layer (attention + router) for tokens tokens, forward. */
double moe_dense_flops(const moe_model *m, double tokens);

/* Seconds for the dense part of one layer on one GPU. */
double moe_dense_time(const moe_model *m, double tokens, moe_pass pass);

/* Seconds for one GPU's local experts, given the tokens each receives (n_local entries). */
double moe_expert_time(const moe_model *m, const int32_t *tokens_per_expert, int n_local, moe_pass pass);

/* Seconds to gather (permute) rows token-expert rows of width hidden. */
double moe_permute_time(const moe_model *m, double rows);

/* Seconds to unpermute (combine the top-k rows of each token back) rows token-expert
 * rows; equal to moe_permute_time unless a profile measured the unpermute. */
double moe_unpermute_time(const moe_model *m, double rows);

/* Bytes of one token's activation row on the wire. */
static inline double moe_row_bytes(const moe_model *m)
{
	return (double)m->hidden * m->dtype_bytes;
}

#endif
