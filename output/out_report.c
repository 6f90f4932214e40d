/*
 * out_report.c - the terminal summary and the figures it shares with the HDF5 file
 * (see out_report.h; the HDF5 writer is out_h5.c).
 */
#include "output/out_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "output/out_fmt.h"

#ifndef MOESIM_VERSION
#define MOESIM_VERSION "0.1.0"
#endif

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
		out_imbalance(r->rank_load, r->layers, r->world, first, first ? r->stage_gpus : r->world, &o->rank_load_max_mean,
			  &o->rank_load_worst, &o->rank_load_worst_layer);
		free(first);
	}
	out_imbalance(r->expert_demand, r->layers, r->experts, NULL, r->experts, &o->expert_load_max_mean,
		  &o->expert_load_worst, &o->expert_load_worst_layer);
	o->purity = o->purity_baseline = o->concentration = o->concentration_baseline = NAN;
	if (r->kept_labels) {
		/* As `trace stats` averages its layers (tr_stats.c): the plain mean of each layer's figure. */
		double sum[4] = {0, 0, 0, 0};
		for (int l = 0; l < r->layers; l++) {
			tr_layer_summary ls;
			tr_stats_summary(r->kept_labels, l, &ls);
			sum[0] += ls.purity;
			sum[1] += ls.purity_baseline;
			sum[2] += ls.concentration;
			sum[3] += ls.concentration_baseline;
		}
		o->purity = sum[0] / r->layers;
		o->purity_baseline = sum[1] / r->layers;
		o->concentration = sum[2] / r->layers;
		o->concentration_baseline = sum[3] / r->layers;
	}
}

void out_summary_print(FILE *f, const scn_scenario *s, const sim_result *r, const out_summary *o)
{
	char a[128];
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
	if (s->routing.router != SCN_ROUTER_TOPK) {
		/* topk prints nothing here: the routing line above is what it does. */
		static const char *const rule[] = {"", "each expert takes its capacity's best-scored tokens",
						   "top-k of score + bias, the bias updated once per step from the step's load",
						   "capacity filled by priority (each token's best score), choice by choice"};
		char par[64] = "";
		if (s->routing.router == SCN_ROUTER_BIAS_BALANCED)
			snprintf(par, sizeof par, ", gamma %g", s->routing.bias_gamma);
		fprintf(f, "  router     %s%s: %s, in each %s scope\n", scn_router_name(s->routing.router), par,
			rule[s->routing.router], s->routing.capacity_scope == SCN_SCOPE_RANK ? "rank" : "global");
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
	fputc('\n', f);
	out_print_speed(f, scn_mode_name(s->workload.mode), o->step_time_s, o->tokens_per_s, o->tokens_per_s_per_gpu,
			o->model_tflops_per_gpu, o->mfu, r->peak_flops, s->model.dtype == SCN_DTYPE_FP32 ? "TF32" : "BF16");
	{
		const char *parts[SIM_MEM_NPARTS];
		for (int i = 0; i < SIM_MEM_NPARTS; i++)
			parts[i] = sim_mem_part_name(i);
		out_print_memory(f, r->mem_peak_bytes, r->mem_capacity_bytes, r->mem_peak_stage, SIM_MEM_NPARTS, parts,
				 r->mem_parts);
	}
	{
		const char *names[SIM_NPHASES];
		for (int ph = 0; ph < SIM_NPHASES; ph++)
			names[ph] = sim_phase_name(ph);
		out_print_phases(f, SIM_NPHASES, names, o->phase_s, o->step_time_s);
	}
	if (s->schedule.overlap != SCN_OVERLAP_NONE) {
		out_print_stream(f, "overlap      dispatch", "communication", r->comm_total_s[0], r->comm_exposed_s[0]);
		out_print_stream(f, "             combine ", "communication", r->comm_total_s[1], r->comm_exposed_s[1]);
	}
	if (r->comm_total_s[2] > 0)
		out_print_stream(f, "TP overlap      ", "communication", r->comm_total_s[2], r->comm_exposed_s[2]);
	if (r->pp_total_s > 0)
		out_print_stream(f, "pipeline sends  ", "pipeline-send", r->pp_total_s, r->pp_exposed_s);
	if (r->dp_stream_s > 0)
		out_print_stream(f, "gradient sync   ", "data-parallel", r->dp_stream_s, o->phase_s[SIM_PH_DP]);
	{
		const char *names[SIM_NPHASES];
		for (int ph = 0; ph < SIM_NPHASES; ph++)
			names[ph] = sim_phase_name(ph);
		out_print_critical(f, r->critical_gpu, r->critical_gpu / r->stage_gpus, SIM_NPHASES, names,
				   r->step_phase_s + (size_t)r->critical_gpu * SIM_NPHASES, o->step_time_s);
	}
	fputc('\n', f);
	out_print_drops(f, o->dropped_pair_frac, o->dropped_token_frac);
	out_print_load(f, o->rank_load_max_mean, o->rank_load_worst, o->rank_load_worst_layer, o->expert_load_max_mean,
		       o->expert_load_worst, o->expert_load_worst_layer);
	if (r->kept_labels)
		out_print_specialisation(f, o->purity, o->purity_baseline, o->concentration, o->concentration_baseline,
					 r->kept_labels->domains);
	{
		static const char *const disp[] = {"megatron", "deepep", "deepep_ll"};
		out_print_a2a_bytes(f, disp[s->network.dispatcher], r->a2a_nvlink_bytes, r->a2a_nic_bytes,
				    r->a2a_naive_nvlink_bytes[0] + r->a2a_naive_nvlink_bytes[1],
				    r->a2a_naive_nic_bytes[0] + r->a2a_naive_nic_bytes[1], r->passes > 1);
	}
	if (r->hot_nvlink_rank >= 0) {
		out_fmt_bytes(a, sizeof a, r->hot_nvlink_bytes);
		fprintf(f, "  hottest NVLink   GPU %d's port, %s in one all-to-all (layer %d)\n", r->hot_nvlink_rank, a,
			r->hot_nvlink_layer);
	}
	if (r->hot_nic >= 0) {
		out_fmt_bytes(a, sizeof a, r->hot_nic_bytes);
		fprintf(f, "  hottest NIC      NIC %d (node %d), %s in one all-to-all (layer %d)\n", r->hot_nic,
			r->hot_nic / s->cluster.nics_per_node, a, r->hot_nic_layer);
	}
	{
		static const char *const algos[] = {"flat", "pairwise", "hierarchical", "nccl"};
		out_print_network_model(f, r->network_flow, s->network.topology,
					s->network.dispatcher == SCN_DISP_MEGATRON ? algos[s->network.alltoall] : NULL);
	}
	if (r->network_flow) {
		const char *names[8];
		for (int i = 0; i < r->n_hot_links && i < 8; i++)
			names[i] = r->hot_link_name[i];
		out_print_hot_links(f, r->n_hot_links, names, r->hot_link_util, r->hot_link_bytes);
	}
	fprintf(f, "  events           %llu\n", (unsigned long long)r->events);
}
