/*
 * moe_model.c - roofline compute costs of one MoE layer (formulas in moe_model.h).
 *
 * Invariant: every time returned is finite and >= 0, and zero work costs zero time
 * (an expert that receives no token launches no GEMM).
 */
#include "models/moe_model.h"

#include <math.h>
#include <string.h>

int moe_model_init(moe_model *m, const scn_scenario *s, ms_error *err)
{
	char wbuf[SCN_PATH_MAX + 160];
	const moe_gpu *g = moe_gpu_find(s->cluster.gpu);
	double peak;
	if (!g) {
		char list[256] = "";
		for (int i = 0; moe_gpu_at(i); i++) {
			strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
			strncat(list, moe_gpu_at(i)->name, sizeof list - strlen(list) - 1);
		}
		return MS_ERROR(err, MS_EINVAL, "%s: cluster.gpu = \"%s\" is not a known GPU: choose one of %s",
				scn_where(s, "cluster.gpu", wbuf, sizeof wbuf), s->cluster.gpu, list);
	}
	switch (s->model.dtype) {
	case SCN_DTYPE_FP8:
		if (g->fp8_flops <= 0)
			return MS_ERROR(err, MS_EINVAL, "%s: model.dtype = \"fp8\" but %s has no FP8 tensor cores; use bf16",
					scn_where(s, "model.dtype", wbuf, sizeof wbuf), g->label);
		peak = g->fp8_flops;
		break;
	case SCN_DTYPE_FP32:
		peak = g->fp32_flops;
		break;
	default:
		peak = g->bf16_flops;
		break;
	}
	m->hidden = s->model.hidden;
	m->ffn_hidden = s->model.ffn_hidden;
	m->experts = s->model.experts;
	m->top_k = s->routing.top_k;
	m->layers = s->model.moe_layers;
	m->heads = s->model.heads;
	m->kv_heads = s->model.kv_heads;
	m->head_dim = s->model.head_dim;
	m->dtype_bytes = s->model.dtype_bytes;
	m->decode = s->workload.mode == SCN_MODE_DECODE;
	m->attended = m->decode ? (double)s->workload.context_len : (s->workload.seq_len + 1) / 2.0;
	m->gpu = g;
	m->gemm_Fps = peak * s->cluster.gemm_efficiency;
	/* Attention runs in bf16 even when expert GEMMs use fp8 (as in DeepSeek-V3's recipe). */
	m->dense_Fps = (s->model.dtype == SCN_DTYPE_FP32 ? g->fp32_flops : g->bf16_flops) * s->cluster.dense_efficiency;
	m->mem_Bps = g->hbm_Bps * s->cluster.memory_efficiency;
	return MS_OK;
}

double moe_dense_flops(const moe_model *m, double tokens)
{
	double h = m->hidden, d = m->head_dim, H = m->heads, Hkv = m->kv_heads;
	double proj = 2.0 * h * (H * d + 2.0 * Hkv * d) + 2.0 * H * d * h;
	double core = 4.0 * H * d * m->attended;
	double router = 2.0 * h * m->experts;
	return tokens * (proj + core + router);
}

double moe_dense_time(const moe_model *m, double tokens, moe_pass pass)
{
	double h = m->hidden, d = m->head_dim, H = m->heads, Hkv = m->kv_heads;
	double flops = moe_dense_flops(m, tokens);
	/* Bytes that must stream from HBM at least once: the layer's attention and router
	 * weights, and in decode the KV cache each token attends to. */
	double weights = (h * (H * d + 2.0 * Hkv * d) + H * d * h + h * m->experts) * m->dtype_bytes;
	double kv = m->decode ? tokens * 2.0 * Hkv * d * m->attended * m->dtype_bytes : 0.0;
	double t;
	if (tokens <= 0)
		return 0.0;
	t = fmax(flops / m->dense_Fps, (weights + kv) / m->mem_Bps);
	return pass == MOE_BWD ? 2.0 * t : t;
}

double moe_expert_time(const moe_model *m, const int32_t *tokens_per_expert, int n_local, moe_pass pass)
{
	double t = 0.0;
	double per_token = 6.0 * (double)m->hidden * m->ffn_hidden;
	double weights = 3.0 * (double)m->hidden * m->ffn_hidden * m->dtype_bytes;
	for (int e = 0; e < n_local; e++) {
		double n = tokens_per_expert[e];
		if (n <= 0)
			continue;
		t += fmax(n * per_token / m->gemm_Fps, weights / m->mem_Bps);
	}
	return pass == MOE_BWD ? 2.0 * t : t;
}

double moe_permute_time(const moe_model *m, double rows)
{
	/* Each row is read once and written once. */
	return rows > 0 ? 2.0 * rows * moe_row_bytes(m) / m->mem_Bps : 0.0;
}
