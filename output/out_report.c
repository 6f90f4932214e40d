/*
 * out_report.c - the terminal summary and the figures it shares with the HDF5 file
 * (see out_report.h; the HDF5 writer is out_h5.c).
 */
#include "output/out_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef MOESIM_VERSION
#define MOESIM_VERSION "0.1.0"
#endif

/* For a [layers][n] table: the mean over layers of max/mean, and the worst layer. Only
 * the entries [first[l], first[l] + m) of row l count (first NULL: all n). */
static void imbalance(const double *v, int layers, int n, const int *first, int m, double *mean_ratio, double *worst,
		      int *worst_layer)
{
	*mean_ratio = 0;
	*worst = 0;
	*worst_layer = -1;
	for (int l = 0; l < layers; l++) {
		double mx = 0, sum = 0, ratio;
		int lo = first ? first[l] : 0;
		if (!first)
			m = n;
		for (int i = lo; i < lo + m; i++) {
			double x = v[(size_t)l * n + i];
			sum += x;
			mx = x > mx ? x : mx;
		}
		ratio = sum > 0 ? mx / (sum / m) : 1.0;
		*mean_ratio += ratio / layers;
		if (ratio > *worst) {
			*worst = ratio;
			*worst_layer = l;
		}
	}
}

void out_summary_compute(const sim_result *r, out_summary *o)
{
	double step_sum = 0, pairs = 0, dpairs = 0, toks = 0, dtoks = 0;
	memset(o, 0, sizeof *o);
	for (int s = 0; s < r->steps; s++) {
		step_sum += r->step_time_s[s];
		pairs += (double)r->pairs[s];
		dpairs += (double)r->dropped_pairs[s];
		toks += (double)r->tokens[s];
		dtoks += (double)r->dropped_tokens[s];
	}
	o->step_time_s = step_sum / r->steps;
	o->tokens_per_s = o->step_time_s > 0 ? (double)r->tokens_per_step / o->step_time_s : 0;
	o->tokens_per_s_per_gpu = o->tokens_per_s / r->world;
	o->model_tflops_per_gpu = o->step_time_s > 0 ? r->model_flops_per_step / o->step_time_s / r->world / 1e12 : 0;
	o->mfu = r->peak_flops > 0 ? o->model_tflops_per_gpu * 1e12 / r->peak_flops : 0;
	o->dropped_pair_frac = pairs > 0 ? dpairs / pairs : 0;
	o->dropped_token_frac = toks > 0 ? dtoks / toks : 0;
	for (int w = 0; w < r->world; w++)
		for (int ph = 0; ph < SIM_NPHASES; ph++)
			o->phase_s[ph] += r->step_phase_s[(size_t)w * SIM_NPHASES + ph] / r->world;
	{
		/* A layer's load is on the GPUs of the stage holding it. */
		int *first = malloc((size_t)r->layers * sizeof *first);
		for (int l = 0; first && l < r->layers; l++)
			first[l] = r->moe_stage[l] * r->stage_gpus;
		imbalance(r->rank_load, r->layers, r->world, first, first ? r->stage_gpus : r->world, &o->rank_load_max_mean,
			  &o->rank_load_worst, &o->rank_load_worst_layer);
		free(first);
	}
	imbalance(r->expert_demand, r->layers, r->experts, NULL, r->experts, &o->expert_load_max_mean,
		  &o->expert_load_worst, &o->expert_load_worst_layer);
}

static void fmt_time(char *buf, size_t n, double s)
{
	if (s >= 1)
		snprintf(buf, n, "%.3f s", s);
	else if (s >= 1e-3)
		snprintf(buf, n, "%.3f ms", s * 1e3);
	else
		snprintf(buf, n, "%.3f us", s * 1e6);
}

static void fmt_bytes(char *buf, size_t n, double b)
{
	if (b >= 1e9)
		snprintf(buf, n, "%.2f GB", b / 1e9);
	else if (b >= 1e6)
		snprintf(buf, n, "%.2f MB", b / 1e6);
	else
		snprintf(buf, n, "%.0f B", b);
}

/* A stream's time, its exposed part and the hidden rest (mean per GPU). */
static void print_stream(FILE *f, const char *label, const char *stream, double total, double exposed)
{
	char t[64], e[64], h[64];
	fmt_time(t, sizeof t, total);
	fmt_time(e, sizeof e, exposed);
	fmt_time(h, sizeof h, total - exposed > 0 ? total - exposed : 0);
	fprintf(f, "  %s %s on the %s stream: %s exposed, %s hidden (mean per GPU)\n", label, t, stream, e, h);
}

void out_summary_print(FILE *f, const scn_scenario *s, const sim_result *r, const out_summary *o)
{
	char a[128], b[64];
	double cf = s->routing.capacity_factor;
	fprintf(f, "moesim %s: %s\n", MOESIM_VERSION, s->source);
	{
		static const char *const attn[] = {"MHA", "GQA", "MLA"};
		char extra[160] = "";
		int n = 0;
		if (s->model.dense_layers || s->model.moe_every > 1)
			n += snprintf(extra + n, sizeof extra - (size_t)n, ", %d dense", s->model.layers - s->model.moe_layers);
		if (s->model.shared_experts)
			n += snprintf(extra + n, sizeof extra - (size_t)n, ", %d shared", s->model.shared_experts);
		if (s->model.mtp_layers)
			snprintf(extra + n, sizeof extra - (size_t)n, ", %d MTP", s->model.mtp_layers);
		fprintf(f, "  model      %s: %d layers (%d MoE%s), %d experts, top-%d, hidden %d, ffn %d, %s, %s\n",
			s->model.name, s->model.layers, s->model.moe_layers, extra, s->model.experts, s->routing.top_k,
			s->model.hidden, s->model.ffn_hidden, attn[s->model.attention], scn_dtype_name(s->model.dtype));
	}
	fprintf(f, "  cluster    %d x %d %s = %d GPUs\n", s->cluster.nodes, s->cluster.gpus_per_node, s->cluster.gpu,
		r->world);
	fprintf(f, "  layout     TP %d, CP %d, PP %d", s->parallel.tp, s->parallel.cp, s->parallel.pp);
	if (s->parallel.vpp > 1)
		fprintf(f, " (interleaved, %d chunks)", s->parallel.vpp);
	fprintf(f, ", DP %d; EP %d (%d group%s), ETP %d\n", s->parallel.dp, r->ep, r->groups, r->groups == 1 ? "" : "s",
		s->parallel.etp);
	if (cf > 0)
		snprintf(a, sizeof a, "capacity factor %.3g (%s scope, drop by %s)", cf,
			 s->routing.capacity_scope == SCN_SCOPE_RANK ? "rank" : "global",
			 s->routing.drop_policy == SCN_DROP_PROBS ? "probs" : "position");
	else
		snprintf(a, sizeof a, "dropless");
	if (s->cluster.profile[0])
		fprintf(f, "  profile    %s\n", s->cluster.profile);
	{
		char lim[64] = "";
		if (s->routing.node_limit)
			snprintf(lim, sizeof lim, ", at most %d node%s a token", s->routing.node_limit,
				 s->routing.node_limit == 1 ? "" : "s");
		if (s->routing.source == SCN_SRC_TRACE)
			fprintf(f, "  routing    trace %s, top-%d%s\n", s->routing.trace, s->routing.top_k, lim);
		else
			fprintf(f, "  routing    synthetic %s%s, top-%d%s\n",
				s->routing.distribution == SCN_DIST_UNIFORM ? "uniform"
				: s->routing.distribution == SCN_DIST_ZIPF  ? "Zipf"
									    : "balanced",
				s->routing.distribution == SCN_DIST_ZIPF ? " (see routing.zipf_s)" : "", s->routing.top_k, lim);
	}
	if (cf > 0 && s->routing.pad_to_capacity)
		strncat(a, ", padded to capacity", sizeof a - strlen(a) - 1);
	fprintf(f, "  workload   %s, global batch %lld x %d tokens: %d micro-batch%s of %lld per DP rank (%lld MoE "
		"tokens/GPU each)\n",
		scn_mode_name(s->workload.mode), (long long)s->workload.global_batch,
		s->workload.mode == SCN_MODE_DECODE ? 1 : s->workload.seq_len, r->microbatches,
		r->microbatches == 1 ? "" : "es", (long long)s->workload.micro_batch, (long long)s->workload.tokens_per_rank);
	if (s->workload.routed_microbatches < r->microbatches)
		fprintf(f, "             routing sampled: %d distinct routing%s per step and layer, micro-batch i replays i mod %d\n",
			s->workload.routed_microbatches, s->workload.routed_microbatches == 1 ? "" : "s",
			s->workload.routed_microbatches);
	fprintf(f, "             %d step%s, seed %llu; %s\n", r->steps, r->steps == 1 ? "" : "s",
		(unsigned long long)s->workload.seed, a);
	fmt_time(a, sizeof a, o->step_time_s);
	fprintf(f, "\n  step time        %s\n", a);
	fprintf(f, "  throughput       %.4g tokens/s (%.4g per GPU)\n", o->tokens_per_s, o->tokens_per_s_per_gpu);
	if (s->workload.mode == SCN_MODE_DECODE)
		fprintf(f, "  per output token %s (the step), %.4g tokens/s per sequence\n", a,
			o->step_time_s > 0 ? 1.0 / o->step_time_s : 0.0);
	if (s->workload.mode == SCN_MODE_PREFILL)
		fprintf(f, "  first token      %s (the prefill step)\n", a);
	fprintf(f, "  model FLOP/s     %.1f TFLOP/s per GPU, MFU %.1f %% of %.0f TFLOP/s (dense %s peak)\n",
		o->model_tflops_per_gpu, 100.0 * o->mfu, r->peak_flops / 1e12,
		s->model.dtype == SCN_DTYPE_FP32 ? "TF32" : "BF16");
	{
		const double gib = 1024.0 * 1024.0 * 1024.0;
		fprintf(f, "  memory per GPU   %.1f GiB of %.1f GiB at the peak (pipeline stage %d):", r->mem_peak_bytes / gib,
			r->mem_capacity_bytes / gib, r->mem_peak_stage);
		for (int i = 0; i < SIM_MEM_NPARTS; i++)
			if (r->mem_parts[i] > 0)
				fprintf(f, " %s %.1f", sim_mem_part_name(i), r->mem_parts[i] / gib);
		fprintf(f, "%s\n", r->mem_peak_bytes > r->mem_capacity_bytes ? " (DOES NOT FIT)" : "");
	}
	fprintf(f, "\n  phase (mean per GPU per step)      time      share\n");
	for (int ph = 0; ph < SIM_NPHASES; ph++) {
		fmt_time(a, sizeof a, o->phase_s[ph]);
		fprintf(f, "    %-12s %21s %9.1f %%\n", sim_phase_name(ph), a,
			o->step_time_s > 0 ? 100.0 * o->phase_s[ph] / o->step_time_s : 0.0);
	}
	if (s->schedule.overlap != SCN_OVERLAP_NONE) {
		print_stream(f, "overlap      dispatch", "communication", r->comm_total_s[0], r->comm_exposed_s[0]);
		print_stream(f, "             combine ", "communication", r->comm_total_s[1], r->comm_exposed_s[1]);
	}
	if (r->comm_total_s[2] > 0)
		print_stream(f, "TP overlap      ", "communication", r->comm_total_s[2], r->comm_exposed_s[2]);
	if (r->pp_total_s > 0)
		print_stream(f, "pipeline sends  ", "pipeline-send", r->pp_total_s, r->pp_exposed_s);
	if (r->dp_stream_s > 0)
		print_stream(f, "gradient sync   ", "data-parallel", r->dp_stream_s, o->phase_s[SIM_PH_DP]);
	{
		const double *ph = r->step_phase_s + (size_t)r->critical_gpu * SIM_NPHASES;
		int top[3] = {-1, -1, -1};
		for (int i = 0; i < 3; i++)
			for (int p = 0; p < SIM_NPHASES; p++) {
				int used = 0;
				for (int j = 0; j < i; j++)
					used |= top[j] == p;
				if (!used && (top[i] < 0 || ph[p] > ph[top[i]]))
					top[i] = p;
			}
		fprintf(f, "  critical path    GPU %d (pipeline stage %d) finishes last: %s %.1f %%, %s %.1f %%, %s %.1f %%\n",
			r->critical_gpu, r->critical_gpu / r->stage_gpus, sim_phase_name(top[0]),
			o->step_time_s > 0 ? 100 * ph[top[0]] / o->step_time_s : 0, sim_phase_name(top[1]),
			o->step_time_s > 0 ? 100 * ph[top[1]] / o->step_time_s : 0, sim_phase_name(top[2]),
			o->step_time_s > 0 ? 100 * ph[top[2]] / o->step_time_s : 0);
	}
	fprintf(f, "\n  tokens dropped   %.3f %% of token-expert pairs, %.3f %% of tokens lost every choice\n",
		100.0 * o->dropped_pair_frac, 100.0 * o->dropped_token_frac);
	fprintf(f, "  GPU load         max/mean %.3f after drops (mean over layers), worst %.3f in layer %d\n", o->rank_load_max_mean,
		o->rank_load_worst, o->rank_load_worst_layer);
	fprintf(f, "  expert load      max/mean %.3f as routed (mean over layers), worst %.3f in layer %d\n",
		o->expert_load_max_mean, o->expert_load_worst, o->expert_load_worst_layer);
	{
		static const char *const disp[] = {"megatron", "deepep", "deepep_ll"};
		static const char *const dir[2] = {"dispatch", "combine "};
		double nv = r->a2a_nvlink_bytes[0] + r->a2a_nvlink_bytes[1], nic = r->a2a_nic_bytes[0] + r->a2a_nic_bytes[1];
		double nv0 = r->a2a_naive_nvlink_bytes[0] + r->a2a_naive_nvlink_bytes[1];
		double nic0 = r->a2a_naive_nic_bytes[0] + r->a2a_naive_nic_bytes[1];
		for (int d = 0; d < 2; d++) {
			fmt_bytes(a, sizeof a, r->a2a_nvlink_bytes[d]);
			fmt_bytes(b, sizeof b, r->a2a_nic_bytes[d]);
			fprintf(f, "  %s %s %s over NVLink, %s over NICs per step%s\n", d ? "                " : "all-to-all bytes",
				dir[d], a, b, d ? "" : " (forward)");
		}
		fprintf(f, "                   %s: NVLink %.3fx, NICs %.3fx the bytes of a copy per token-expert pair%s\n",
			disp[s->network.dispatcher], nv0 > 0 ? nv / nv0 : 1.0, nic0 > 0 ? nic / nic0 : 1.0,
			r->passes > 1 ? ";\n                   the backward pass moves the mirror" : "");
	}
	if (r->hot_nvlink_rank >= 0) {
		fmt_bytes(a, sizeof a, r->hot_nvlink_bytes);
		fprintf(f, "  hottest NVLink   GPU %d's port, %s in one all-to-all (layer %d)\n", r->hot_nvlink_rank, a,
			r->hot_nvlink_layer);
	}
	if (r->hot_nic >= 0) {
		fmt_bytes(a, sizeof a, r->hot_nic_bytes);
		fprintf(f, "  hottest NIC      NIC %d (node %d), %s in one all-to-all (layer %d)\n", r->hot_nic,
			r->hot_nic / s->cluster.nics_per_node, a, r->hot_nic_layer);
	}
	if (r->network_flow) {
		static const char *const shapes[] = {"single switch", "fat-tree", "rail-optimized", "custom"};
		static const char *const algos[] = {"flat", "pairwise", "hierarchical", "nccl"};
		fprintf(f, "  network model    flow-level max-min sharing, %s, %s all-to-all\n", shapes[s->network.topology],
			s->network.dispatcher == SCN_DISP_MEGATRON ? algos[s->network.alltoall] : "the dispatcher's own legs as one");
		for (int i = 0; i < r->n_hot_links && i < 3; i++) {
			fmt_bytes(a, sizeof a, r->hot_link_bytes[i]);
			fprintf(f, "  %s %s: %.1f %% busy over the run, %s\n", i ? "                " : "hottest links   ",
				r->hot_link_name[i], 100.0 * r->hot_link_util[i], a);
		}
	} else {
		fprintf(f, "  network model    analytic bottleneck bound\n");
	}
	fprintf(f, "  events           %llu\n", (unsigned long long)r->events);
}
