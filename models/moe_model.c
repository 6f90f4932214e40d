/*
 * moe_model.c - compute costs of one MoE layer: rooflines, or measured tables from a
 * calibration profile (formulas and rules in moe_model.h).
 *
 * Invariant: every time returned is finite and >= 0, and zero work costs zero time
 * (an expert that receives no token launches no GEMM). Without cluster.profile the
 * results are exactly the rooflines' (the calibrated branches are never taken).
 */
#include "models/moe_model.h"

#include "hardware/hw_rates.h"

#include <math.h>
#include <stdio.h>
#include <string.h>



/* The profile's dtype name for the model's (fp16 has bf16's tensor rate and size). */
static const char *gemm_dtype(scn_dtype d, int alt)
{
	switch (d) {
	case SCN_DTYPE_FP8: return "fp8_e4m3";
	case SCN_DTYPE_FP32: return "fp32";
	case SCN_DTYPE_FP16: return alt ? "bf16" : "fp16";
	default: return "bf16";
	}
}

/* The profile's measured tables: expert GEMMs, permute and unpermute. Its scalar rates
 * (peaks, HBM) were resolved by hardware/hw_rates.c. */
static int use_profile(moe_model *m, const scn_scenario *s, const prof_profile *p, ms_error *err)
{
	char wbuf[SCN_PATH_MAX + 160];
	const char *where = scn_where(s, "cluster.profile", wbuf, sizeof wbuf);
	const prof_table *copy = prof_profile_find(p, PROF_COPY);
	m->calibrated = 1;
	snprintf(m->profile_name, sizeof m->profile_name, "%s", prof_profile_name(p));

	/* Expert GEMMs. */
	for (int i = 0; i < prof_profile_ntables(p) && !m->gemm_tables; i++)
		m->gemm_tables = prof_profile_table(p, i)->kind == PROF_GEMM;
	if (m->gemm_tables) {
		int local = s->model.experts / s->parallel.ep;
		int npass = s->workload.mode == SCN_MODE_TRAINING ? PROF_NPASSES : 1;
		for (int ps = 0; ps < npass; ps++) {
			const prof_table *t = prof_profile_find_gemm(p, gemm_dtype(s->model.dtype, 0), m->hidden, m->ffn_hidden,
								     (prof_pass)ps, local);
			if (!t && s->model.dtype == SCN_DTYPE_FP16)
				t = prof_profile_find_gemm(p, gemm_dtype(s->model.dtype, 1), m->hidden, m->ffn_hidden,
							   (prof_pass)ps, local);
			if (!t) {
				char shapes[1024];
				return MS_ERROR(err, MS_EINVAL,
					      "%s: cluster.profile: %s has no %s gemm table for hidden %d x ffn %d, pass %s (the "
					      "model's dtype and shape%s); it has: %s. Measure it: cal_gemm --hidden %d --ffn %d "
					      "--experts %s%d%s",
					      where, prof_profile_paths(p), gemm_dtype(s->model.dtype, 0), m->hidden, m->ffn_hidden,
					      prof_pass_name((prof_pass)ps), ps ? ", training" : "",
					      prof_profile_gemm_shapes(p, shapes, sizeof shapes), m->hidden, m->ffn_hidden,
					      local > 1 ? "1," : "", local, s->model.dtype == SCN_DTYPE_FP8 ? " --dtype fp8" : "");
			}
			prof_table_curve(t, &m->gemm[ps]);
			m->gemm_experts[ps] = t->experts;
		}
	}

	/* Permute and unpermute: measured kernels, or a measured copy of the same bytes. */
	{
		double row = (double)m->hidden * m->dtype_bytes;
		const prof_table *g = prof_profile_find_permute(p, PROF_GATHER, m->hidden, 1);
		const prof_table *u = prof_profile_find_permute(p, PROF_UNPERMUTE, m->hidden, m->top_k);
		if (g) {
			prof_table_curve(g, &m->gather);
			m->gather_x_per_row = 2.0 * row / prof_table_bytes_per_x(g);
			m->gather_table = 1;
		} else if (copy) {
			prof_table_curve(copy, &m->gather);
			m->gather_x_per_row = row; /* r rows read and written = a copy of r rows */
			m->gather_table = 1;
		}
		if (u) {
			prof_table_curve(u, &m->unpermute);
			m->unpermute_x_per_row = (1.0 + 1.0 / m->top_k) * row / prof_table_bytes_per_x(u);
			m->unpermute_table = 1;
		} else if (copy) {
			/* Reads every row and writes one per token: (1 + 1/k) rows moved = a copy of half. */
			prof_table_curve(copy, &m->unpermute);
			m->unpermute_x_per_row = 0.5 * (1.0 + 1.0 / m->top_k) * row;
			m->unpermute_table = 1;
		}
	}
	return MS_OK;
}

int moe_model_init(moe_model *m, const scn_scenario *s, const prof_profile *p, ms_error *err)
{
	hw_compute hw;
	int rc;
	if ((rc = hw_compute_resolve(&hw, s, p, err)) < 0)
		return rc;
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
	m->gpu = hw.gpu;
	m->gemm_Fps = hw.gemm_Fps;
	m->dense_Fps = hw.dense_Fps;
	m->mem_Bps = hw.mem_Bps;
	m->calibrated = m->gemm_tables = m->gather_table = m->unpermute_table = 0;
	m->profile_name[0] = '\0';
	if (p)
		return use_profile(m, s, p, err);
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
	if (m->gemm_tables) {
		/* Each expert is charged its share of a row measured for gemm_experts experts. */
		for (int e = 0; e < n_local; e++) {
			double n = tokens_per_expert[e];
			if (n <= 0)
				continue;
			if (pass == MOE_FWD)
				t += prof_curve_eval(&m->gemm[PROF_FWD], n) / m->gemm_experts[PROF_FWD];
			else
				t += prof_curve_eval(&m->gemm[PROF_BWD_DGRAD], n) / m->gemm_experts[PROF_BWD_DGRAD] +
				     prof_curve_eval(&m->gemm[PROF_BWD_WGRAD], n) / m->gemm_experts[PROF_BWD_WGRAD];
		}
		return t;
	}
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

static double roofline_permute(const moe_model *m, double rows)
{
	/* Each row is read once and written once. */
	return rows > 0 ? 2.0 * rows * moe_row_bytes(m) / m->mem_Bps : 0.0;
}

double moe_permute_time(const moe_model *m, double rows)
{
	if (m->gather_table)
		return rows > 0 ? prof_curve_eval(&m->gather, rows * m->gather_x_per_row) : 0.0;
	return roofline_permute(m, rows);
}

double moe_unpermute_time(const moe_model *m, double rows)
{
	if (m->unpermute_table)
		return rows > 0 ? prof_curve_eval(&m->unpermute, rows * m->unpermute_x_per_row) : 0.0;
	return roofline_permute(m, rows);
}
