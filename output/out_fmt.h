/*
 * out_fmt.h - internal to output/: the summary's lines that `moesim run` prints from a
 * finished result and `moesim report` prints from a stored run, written once so that
 * the two agree to the character (tested: the report of a run repeats its summary's
 * lines). Plain numbers in, one or more lines out.
 */
#ifndef OUT_FMT_H
#define OUT_FMT_H

#include <stddef.h>
#include <stdio.h>

/* "3.416 s", "51.522 ms", "0.000 us". */
void out_fmt_time(char *buf, size_t n, double s);
/* "236.37 GB", "73.44 MB", "0 B". */
void out_fmt_bytes(char *buf, size_t n, double b);

/* step time, throughput, the decode / prefill latency line (mode: "training",
 * "prefill", "decode"), model FLOP/s and MFU against peak_flops (dense peak_label). */
void out_print_speed(FILE *f, const char *mode, double step_time_s, double tokens_per_s, double tokens_per_s_per_gpu,
		     double model_tflops_per_gpu, double mfu, double peak_flops, const char *peak_label);

/* "memory per GPU   58.5 GiB of 80.0 GiB at the peak (pipeline stage 0): weights 3.5 ..." */
void out_print_memory(FILE *f, double peak_bytes, double capacity_bytes, int stage, int n_parts,
		      const char *const *part_names, const double *part_bytes);

/* The phase table: each phase's time per step and share of step_time_s. */
void out_print_phases(FILE *f, int n, const char *const *names, const double *phase_s, double step_time_s);

/* "tokens dropped   1.930 % of token-expert pairs, 0.000 % of tokens lost every choice" */
void out_print_drops(FILE *f, double dropped_pair_frac, double dropped_token_frac);

/* "hottest links    nvs3 -> gpu26 (nvlink): 2.6 % busy over the run, 33.26 GB", at most 3. */
void out_print_hot_links(FILE *f, int n, const char *const *names, const double *util, const double *bytes);

/* "  gradient sync    6.190 ms on the data-parallel stream: 5.111 ms exposed, 1.079 ms hidden (mean per GPU)" */
void out_print_stream(FILE *f, const char *label, const char *stream, double total, double exposed);

/* The critical GPU's line: its stage and its three largest phases (row: its phase times). */
void out_print_critical(FILE *f, int gpu, int stage, int n, const char *const *names, const double *row,
			double step_time_s);

/* The GPU and expert load lines: mean over layers of max/mean, and the worst layer. */
/* The specialisation line: purity and concentration of the kept pairs against `labels`
 * domain labels, with their domain-blind baselines (trace/tr_stats.h). */
void out_print_specialisation(FILE *f, double purity, double purity_blind, double concentration,
			      double concentration_blind, int labels);

void out_print_load(FILE *f, double gpu_mean, double gpu_worst, int gpu_worst_layer, double expert_mean,
		    double expert_worst, int expert_worst_layer);

/* The all-to-all bytes per step (forward) of dispatch [0] and combine [1], and the
 * dispatcher's factor against one copy per token-expert pair (naive_*: both directions). */
void out_print_a2a_bytes(FILE *f, const char *dispatcher, const double nvlink[2], const double nic[2],
			 double naive_nvlink, double naive_nic, int training);

/* "network model    flow-level max-min sharing, fat-tree, nccl all-to-all" (flow; topology
 * in network.topology's order: single_switch, fat_tree, rail, custom; alltoall NULL for a
 * dispatcher that moves its own legs), or the analytic bound's line. */
void out_print_network_model(FILE *f, int flow, int topology, const char *alltoall);

/* For a [layers][n] table: the mean over layers of max/mean, and the worst layer. Only
 * the entries [first[l], first[l] + m) of row l count (first NULL: all n). */
void out_imbalance(const double *v, int layers, int n, const int *first, int m, double *mean_ratio, double *worst,
		   int *worst_layer);

#endif
