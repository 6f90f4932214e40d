/*
 * out_read.h - a stored run read back from its HDF5 file (docs/output-format.md), for
 * `moesim report`: the root attributes, every numeric attribute of /summary, the
 * phase names, the memory breakdown, the hot links, and the resolved scenario text
 * flattened to "section.key" = value pairs so that runs can be diffed key by key.
 *
 * A file that is not HDF5, or HDF5 that is not a moesim run (no root attribute
 * format = "moesim-run"), or a run missing what the report needs, is refused with a
 * message naming the file, the object and the fix. Optional parts (/network, the
 * seed, the overrides) are simply absent. Every HDF5 identifier is closed on every path.
 */
#ifndef OUT_READ_H
#define OUT_READ_H

#include "common/ms_error.h"

#define OUT_RUN_NAME_MAX 64

typedef struct out_kv {
	char *key;   /* "routing.capacity_factor", "parallel.ep", ... */
	char *value; /* as libconfig writes it: 1.25, 8, "probs", true, [1, 2] */
} out_kv;

typedef struct out_run {
	const char *path;        /* borrowed */
	char moesim_version[OUT_RUN_NAME_MAX];
	char network_model[OUT_RUN_NAME_MAX];
	char *scenario_source;
	char *scenario;          /* the resolved scenario text */
	char *overrides;         /* the --set assignments, one a line; NULL when not stored */
	char *profile_source;    /* the calibration profiles, or "datasheet"; NULL before version 3 */
	long long version;
	long long seed;          /* -1 when not stored */
	int n_summary;
	char (*summary_name)[OUT_RUN_NAME_MAX];
	double *summary_value;   /* int64 attributes converted */
	int n_phases;
	char (*phase_name)[OUT_RUN_NAME_MAX];
	int n_mem_parts;
	char (*mem_part_name)[OUT_RUN_NAME_MAX];
	double *mem_part_bytes;  /* the peak stage's, by part */
	long long mem_peak_stage;
	int gpus;                /* rows of /phases/step_time_s */
	double *step_phase_s;    /* [gpus][n_phases] /phases/step_time_s */
	int moe_layers, experts; /* 0 without /layers */
	double *gpu_load;        /* [moe_layers][gpus] /layers/gpu_load */
	double *expert_demand;   /* [moe_layers][experts] /layers/expert_demand */
	int n_hot_links;         /* 0 without /network (analytic model) */
	char (*hot_link_name)[OUT_RUN_NAME_MAX * 2];
	double *hot_link_util, *hot_link_bytes;
	int n_keys;
	out_kv *keys;            /* the scenario flattened, in its order */
} out_run;

/* Reads path into r (zeroed first). On failure r holds nothing and err says why. */
int out_run_read(out_run *r, const char *path, ms_error *err);
void out_run_free(out_run *r);

/* A /summary attribute by name: 1 and *v, or 0 when the run has none of that name. */
int out_run_summary(const out_run *r, const char *name, double *v);

/* The scenario's value of key ("workload.mode"), or NULL. */
const char *out_run_key(const out_run *r, const char *key);

#endif
