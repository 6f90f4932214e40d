/*
 * prof_profile.h - calibration profiles (docs/profile-format.md): read, check, merge,
 * fit, look up and write.
 *
 * A profile is one or more libconfig files read together: the calibration programs
 * write one file each (gemm, copy, alltoall), `moesim calibrate import-nccl-tests`
 * writes the communication part, `moesim calibrate fit` merges them into one, and a
 * datasheet profile (calibrate/profiles/) supplies vendor peaks. Their tables must be
 * disjoint and their measured files must name the same GPU.
 *
 * Everything read is checked, and a failure names file:line and the key
 * ("gemm.cfg:42: gemm[3].time_us has 12 values but tokens has 13"). After
 * prof_profile_load returns MS_OK every table has at least 2 points, strictly
 * increasing sizes, positive finite times and a usable fitted model (read from its
 * `fit` block, or fitted while loading when it has none), so the cost models built from
 * it (prof_curve.h) need no further checks.
 *
 * Lifecycle: prof_profile_load / prof_profile_destroy. Tables are owned by the profile.
 */
#ifndef PROF_PROFILE_H
#define PROF_PROFILE_H

#include <stddef.h>
#include <stdio.h>

#include "common/ms_error.h"
#include "profile/prof_curve.h"
#include "profile/prof_fit.h"

#define PROF_MAX_FILES 16

typedef enum {
	PROF_GEMM,       /* gemm[]: expert GEMMs, x = tokens per expert */
	PROF_COPY,       /* copy: device-to-device copy, x = bytes copied */
	PROF_GATHER,     /* permute[] op = "gather", x = rows */
	PROF_UNPERMUTE,  /* permute[] op = "unpermute", x = token-expert rows */
	PROF_ALLTOALL,   /* alltoall[]: even all-to-all, x = bytes each rank sends */
	PROF_ALLTOALLV,  /* alltoallv[]: uneven all-to-all, x = the busiest rank's bytes */
	PROF_NKINDS
} prof_kind;

typedef enum { PROF_FWD, PROF_BWD_DGRAD, PROF_BWD_WGRAD, PROF_NPASSES } prof_pass;

typedef enum { PROF_INTRA_NODE, PROF_INTER_NODE } prof_scope;

typedef struct prof_table {
	prof_kind kind;
	const char *file;  /* the file it came from (owned by the profile) */
	int line;          /* line of its group in that file */
	int index;         /* position in its list (0 for copy) */
	/* what it measured (the keys that apply to its kind; others 0 or "") */
	char dtype[16];    /* gemm, permute: "bf16", "fp16", "fp8_e4m3", "fp32" */
	int hidden, ffn;   /* gemm: H, F; permute: hidden */
	int experts;       /* gemm: E */
	prof_pass pass;    /* gemm */
	char method[64];   /* gemm, alltoall: how it was issued */
	int topk;          /* permute */
	prof_scope scope;  /* alltoall(v) */
	int ranks, nodes;  /* alltoall(v) */
	/* the measurements */
	int n;
	double x[PROF_MAX_POINTS];   /* tokens, rows or bytes, strictly increasing, > 0 */
	double t_s[PROF_MAX_POINTS]; /* median time, seconds (time_us / 1e6) */
	prof_fit fit;                /* the fitted model (always set after loading) */
	int fit_read;                /* 1: from the file's fit block; 0: fitted on loading */
	const void *setting;         /* its libconfig group (for the writer) */
} prof_table;

/* Vendor peaks from a datasheet profile; all 0 when the profile has none. */
typedef struct prof_gpu {
	int has_peaks;
	double bf16_Fps, fp8_Fps, tf32_Fps; /* dense tensor FLOP/s; fp8 0 = no FP8 tensor cores */
	double hbm_Bps, nvlink_Bps;         /* HBM; NVLink per GPU per direction (0 = not given) */
	const char *file;                   /* the datasheet profile they came from */
} prof_gpu;

typedef struct prof_profile prof_profile;

/*
 * Reads the n files paths[0..n-1] as one profile. On error returns a negative code with
 * the message in err (*out is then NULL).
 */
int prof_profile_load(prof_profile **out, const char *const *paths, int n, ms_error *err);

/* Frees p and its tables (NULL is fine). */
void prof_profile_destroy(prof_profile *p);

/* The files' names joined with ", " (for messages), and their profile.name values. */
const char *prof_profile_paths(const prof_profile *p);
const char *prof_profile_name(const prof_profile *p);

/* 1 when every file is a datasheet profile (no measured table at all). */
int prof_profile_is_datasheet(const prof_profile *p);

const prof_gpu *prof_profile_gpu(const prof_profile *p);

int prof_profile_ntables(const prof_profile *p);
const prof_table *prof_profile_table(const prof_profile *p, int i);

/* "gemm.cfg:42: gemm[3]" or "copy.cfg:30: copy": where t is, for messages. Returns buf. */
const char *prof_table_where(const prof_table *t, char *buf, size_t len);

/* Kind, pass and scope names as the files spell them. */
const char *prof_kind_key(prof_kind k);
const char *prof_pass_name(prof_pass p);
const char *prof_scope_name(prof_scope s);

/*
 * Bytes of memory traffic or payload per unit of x, as the table's GBps column counts
 * them: 1 for copy and all-to-all (bytes), 2 x row bytes for gather (read + write),
 * (1 + 1/topk) x row bytes for unpermute; 0 for gemm.
 */
double prof_table_bytes_per_x(const prof_table *t);

/* Weight bytes of a gemm table's experts, read once per pass: 3 E H F x dtype bytes. */
double prof_table_weight_bytes(const prof_table *t);

/* FLOPs per token of a gemm table: 6 E H F (three GEMMs of 2 H F per expert). */
double prof_table_flops_per_token(const prof_table *t);

/* Bytes per element of a dtype name ("bf16" 2, "fp8_e4m3" 1, "fp32" 4); 0 if unknown. */
int prof_dtype_bytes(const char *dtype);

/* Refits every table from its points, replacing fits read from the files. */
int prof_profile_fit_all(prof_profile *p, ms_error *err);

/* The curve (interpolation + fitted model) of table t. */
void prof_table_curve(const prof_table *t, prof_curve *c);

/*
 * The gemm table for (dtype, hidden, ffn, pass) whose `experts` suits a GPU holding
 * local experts: equal if measured, else the largest below, else the smallest above.
 * Among several methods for the same shape: grouped_batched, lt_strided_batched,
 * strided_batched, lt_single, single, loop, then any other. NULL if none.
 */
const prof_table *prof_profile_find_gemm(const prof_profile *p, const char *dtype, int hidden, int ffn,
					 prof_pass pass, int local_experts);

/* Writes the gemm shapes p has, e.g. "bf16 4096x14336 (experts 1, 8; fwd, bwd_dgrad,
 * bwd_wgrad); fp8_e4m3 7168x2048 (experts 8; fwd)", or "none". Returns buf. */
const char *prof_profile_gemm_shapes(const prof_profile *p, char *buf, size_t len);

/* The first table of kind k (copy), or NULL. */
const prof_table *prof_profile_find(const prof_profile *p, prof_kind k);

/*
 * The permute table of kind k (PROF_GATHER or PROF_UNPERMUTE) for rows of hidden
 * elements (and topk for unpermute): an exact match if measured, else the one with the
 * nearest row width (then nearest topk). NULL if p has none of kind k.
 */
const prof_table *prof_profile_find_permute(const prof_profile *p, prof_kind k, int hidden, int topk);

/*
 * The even all-to-all table for scope and ranks: equal ranks if measured, else the
 * nearest ranks in that scope; *bytes_scale then converts a size for `ranks` into the
 * table's size with the same bytes per link, (1 - 1/ranks) / (1 - 1/table ranks)
 * (nccl-tests' bus bandwidth rule), and is 1 for an exact match. NULL if the scope has
 * no table.
 */
const prof_table *prof_profile_find_alltoall(const prof_profile *p, prof_scope scope, int ranks,
					     double *bytes_scale);

/*
 * Writes p as one profile in the format the reader takes: the tables unchanged, each
 * with its `fit` block, the inputs' provenance under `inputs`, and a `fit` group naming
 * command. Datasheet files are not merged (fit refuses them). Returns MS_EIO on a
 * write error.
 */
int prof_profile_write(const prof_profile *p, FILE *f, const char *name, const char *command, ms_error *err);

#endif
