/*
 * hw_rates.c - resolving the run's hardware rates (policy in hw_rates.h).
 *
 * Invariant: every rate returned is finite and > 0 (scenario ranges and the profile
 * reader guarantee the inputs), so later modules divide by them without checks.
 */
#include "hardware/hw_rates.h"

#include <math.h>
#include <string.h>

/* The peak of a FLOP table for the model's expert dtype (fp16 runs at bf16's rate). */
static double dtype_peak(scn_dtype d, double bf16, double fp8, double tf32)
{
	switch (d) {
	case SCN_DTYPE_FP8: return fp8;
	case SCN_DTYPE_FP32: return tf32;
	default: return bf16;
	}
}

/* The largest bytes/s a copy table shows. */
static double copy_rate(const prof_table *t)
{
	double best = 0;
	for (int i = 0; i < t->n; i++)
		best = fmax(best, t->x[i] / t->t_s[i]);
	return best;
}

int hw_compute_resolve(hw_compute *h, const scn_scenario *s, const prof_profile *p, ms_error *err)
{
	char wbuf[SCN_PATH_MAX + 160];
	const hw_gpu *g = hw_gpu_find(s->cluster.gpu);
	const prof_table *copy;
	memset(h, 0, sizeof *h);
	if (!g) {
		char list[256] = "";
		for (int i = 0; hw_gpu_at(i); i++) {
			strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
			strncat(list, hw_gpu_at(i)->name, sizeof list - strlen(list) - 1);
		}
		return MS_ERROR(err, MS_EINVAL, "%s: cluster.gpu = \"%s\" is not a known GPU: choose one of %s",
				scn_where(s, "cluster.gpu", wbuf, sizeof wbuf), s->cluster.gpu, list);
	}
	if (s->model.dtype == SCN_DTYPE_FP8 && g->fp8_flops <= 0)
		return MS_ERROR(err, MS_EINVAL, "%s: model.dtype = \"fp8\" but %s has no FP8 tensor cores; use bf16",
				scn_where(s, "model.dtype", wbuf, sizeof wbuf), g->label);
	h->gpu = g;
	h->gemm_Fps = dtype_peak(s->model.dtype, g->bf16_flops, g->fp8_flops, g->fp32_flops) * s->cluster.gemm_efficiency;
	/* Attention runs in bf16 even when expert GEMMs use fp8 (as in DeepSeek-V3's recipe). */
	h->dense_Fps = (s->model.dtype == SCN_DTYPE_FP32 ? g->fp32_flops : g->bf16_flops) * s->cluster.dense_efficiency;
	h->mem_Bps = g->hbm_Bps * s->cluster.memory_efficiency;
	if (!p)
		return MS_OK;
	{
		const prof_gpu *pg = prof_profile_gpu(p);
		if (pg->has_peaks) {
			double peak = dtype_peak(s->model.dtype, pg->bf16_Fps, pg->fp8_Fps, pg->tf32_Fps);
			if (peak <= 0)
				return MS_ERROR(err, MS_EINVAL,
						"%s: model.dtype = \"fp8\" but %s gives gpu.peak_fp8_TFLOPs = 0 (no FP8 tensor "
						"cores); use bf16",
						scn_where(s, "cluster.profile", wbuf, sizeof wbuf), pg->file);
			h->gemm_Fps = peak * s->cluster.gemm_efficiency;
			h->dense_Fps = (s->model.dtype == SCN_DTYPE_FP32 ? pg->tf32_Fps : pg->bf16_Fps) *
				       s->cluster.dense_efficiency;
			h->mem_Bps = pg->hbm_Bps * s->cluster.memory_efficiency;
		}
	}
	/* A measured copy: the achieved HBM rate (it reads and writes every byte). */
	if ((copy = prof_profile_find(p, PROF_COPY)) != NULL)
		h->mem_Bps = 2.0 * copy_rate(copy);
	return MS_OK;
}

/*
 * A profile's all-to-all fit t(S) = latency + S / B for S bytes per rank over n ranks
 * (nccl-tests' size) means each GPU's port carries S (n - 1) / n, so the port bandwidth
 * is the bus bandwidth B (n - 1) / n (Jeaugey, nccl-tests issue 130), and the latency is
 * the fit's. Intra-node tables set NVLink; inter-node tables set the NIC when every GPU
 * has its own (each rank's remote share (N - 1) / N of S over N nodes then crosses its
 * NIC), else NICs keep their datasheet rate.
 */
static void links_from_profile(hw_links *h, const scn_scenario *s, const prof_profile *p, int domain_size,
			       int world, int gpus_per_node, int nics_per_node, int *nvlink_measured, int *nic_measured)
{
	double scale;
	const prof_gpu *pg = prof_profile_gpu(p);
	const prof_table *a = prof_profile_find_alltoall(p, PROF_INTRA_NODE, domain_size, &scale);
	if (pg && pg->nvlink_Bps > 0 && !scn_is_set(s, "cluster.nvlink_GBps"))
		h->nvlink_Bps = pg->nvlink_Bps;
	if (a && a->fit.model == PROF_MODEL_LATBW && a->fit.p[1] > 0 && a->ranks > 1) {
		if (!scn_is_set(s, "cluster.nvlink_GBps")) {
			h->nvlink_Bps = (1.0 / a->fit.p[1]) * (a->ranks - 1) / a->ranks;
			*nvlink_measured = 1;
		}
		if (!scn_is_set(s, "cluster.nvlink_latency_us"))
			h->nvlink_latency_s = a->fit.p[0];
		h->calibrated_nvlink = 1;
	}
	a = prof_profile_find_alltoall(p, PROF_INTER_NODE, world, &scale);
	if (a && a->fit.model == PROF_MODEL_LATBW && a->fit.p[1] > 0 && a->nodes > 1 && nics_per_node == gpus_per_node) {
		if (!scn_is_set(s, "cluster.nic_Gbps")) {
			h->nic_Bps = (1.0 / a->fit.p[1]) * (a->nodes - 1) / a->nodes;
			*nic_measured = 1;
		}
		if (!scn_is_set(s, "cluster.nic_latency_us"))
			h->nic_latency_s = a->fit.p[0];
		h->calibrated_nic = 1;
	}
}

int hw_links_resolve(hw_links *h, const scn_scenario *s, const prof_profile *p, int domain_size, int world,
		     int gpus_per_node, int nics_per_node, ms_error *err)
{
	char wbuf[SCN_PATH_MAX + 160];
	memset(h, 0, sizeof *h);
	h->nvlink_Bps = s->cluster.nvlink_GBps * 1e9;
	if (h->nvlink_Bps <= 0) {
		const hw_gpu *g = hw_gpu_find(s->cluster.gpu);
		if (!g)
			return MS_ERROR(err, MS_EINVAL, "%s: cluster.gpu = \"%s\" is not a known GPU; set cluster.nvlink_GBps",
					scn_where(s, "cluster.gpu", wbuf, sizeof wbuf), s->cluster.gpu);
		h->nvlink_Bps = g->nvlink_Bps;
	}
	h->nvlink_latency_s = s->cluster.nvlink_latency_us * 1e-6;
	h->nic_Bps = s->cluster.nic_Gbps * 1e9 / 8.0;
	h->nic_latency_s = s->cluster.nic_latency_us * 1e-6;
	{
		/* Line rates (datasheet or scenario) run at the achievable fraction; a rate
		 * measured by an all-to-all fit is an achieved one already. */
		int nvlink_measured = 0, nic_measured = 0;
		if (p)
			links_from_profile(h, s, p, domain_size, world, gpus_per_node, nics_per_node, &nvlink_measured,
					   &nic_measured);
		if (!nvlink_measured)
			h->nvlink_Bps *= s->network.nvlink_efficiency;
		if (!nic_measured)
			h->nic_Bps *= s->network.nic_efficiency;
	}
	return MS_OK;
}
