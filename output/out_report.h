/*
 * out_report.h - what a run reports on the terminal, and the derived figures the
 * summary shares with the HDF5 file (output/out_h5.h). Both read a finished sim_result
 * and the scenario; neither changes them.
 */
#ifndef OUT_REPORT_H
#define OUT_REPORT_H

#include <stdio.h>

#include "common/ms_error.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"

/* Derived numbers shared by the summary and the HDF5 file. */
typedef struct out_summary {
	double step_time_s;        /* mean over steps */
	double tokens_per_s;       /* tokens computed (dropped pairs are not work, and not subtracted here) */
	double tokens_per_s_per_gpu;
	double model_tflops_per_gpu; /* model FLOPs (docs/model.md) per second per GPU, in TFLOP/s */
	double mfu;                /* model FLOP/s per GPU over its dense peak in the model's dtype */
	double phase_s[SIM_NPHASES]; /* per step, mean over GPUs, the whole step */
	double dropped_pair_frac;
	double dropped_token_frac;
	double rank_load_max_mean; /* mean over layers of (max GPU load / mean GPU load) */
	double rank_load_worst;    /* worst layer's max / mean */
	int rank_load_worst_layer;
	double expert_load_max_mean;
	double expert_load_worst;
	int expert_load_worst_layer;
	/* With a replayed trace's domain labels (sim_result.kept_labels): trace/tr_stats.h's
	 * purity and concentration of the kept pairs and their domain-blind baselines, mean
	 * over layers of each layer's value over the run; NaN without labels. */
	double purity, purity_baseline;
	double concentration, concentration_baseline;
} out_summary;

void out_summary_compute(const sim_result *r, out_summary *o);

/* Prints the terminal summary. */
void out_summary_print(FILE *f, const scn_scenario *s, const sim_result *r, const out_summary *o);

/* The HDF5 writer's declarations, for the callers that include this header. */
#include "output/out_h5.h"

#endif
