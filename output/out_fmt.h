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

#endif
