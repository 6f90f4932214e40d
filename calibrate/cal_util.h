/*
 * cal_util.h - host-side helpers shared by the calibration programs (cal_gemm,
 * cal_copy, cal_alltoall): fatal-error reporting, sample statistics, list parsing,
 * the token/row/byte ladders and the provenance strings (UTC date, host, command).
 *
 * This file and cal_util.c are plain C11 with no CUDA dependency, so the unit
 * self-test (cal_selftest.c) builds and runs on a machine without the CUDA toolkit.
 *
 * Invariants: every fatal path goes through cal_die(), which prints one line
 * "<program>: <message>" to stderr, removes every temporary output
 * (ms_file_cleanup_all: no half-written profile survives), runs the registered hook
 * (in the MPI build it aborts the job) and exits with one of the CAL_EXIT_* statuses
 * below. Nothing here aborts or crashes on bad input.
 */
#ifndef CAL_UTIL_H
#define CAL_UTIL_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exit statuses shared by all calibration programs (docs/calibrate.md). */
enum {
	CAL_EXIT_OK = 0,     /* profile written */
	CAL_EXIT_FAIL = 1,   /* a CUDA/cuBLAS/NCCL call or an output write failed */
	CAL_EXIT_NODEV = 2,  /* no usable CUDA device (no GPU, no driver, driver too old) */
	CAL_EXIT_USAGE = 64  /* bad command line or input file, or output exists without --force */
};

#if defined(__GNUC__)
#define CAL_NORETURN __attribute__((noreturn))
#define CAL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CAL_NORETURN
#define CAL_PRINTF(f, a)
#endif

/* Sets the program name used as the prefix of every message ("cal_gemm"). */
void cal_set_progname(const char *name);
const char *cal_progname(void);

/*
 * Registers a function that cal_die() calls before exiting (one at a time; NULL
 * clears it). Used to MPI_Abort in the MPI build.
 */
void cal_set_die_hook(void (*hook)(int status));

/* Prints "<program>: <message>" to stderr and exits with status. Break here. */
void cal_die(int status, const char *fmt, ...) CAL_NORETURN CAL_PRINTF(2, 3);

/* Prints "<program>: warning: <message>" to stderr and returns. */
void cal_warn(const char *fmt, ...) CAL_PRINTF(1, 2);

/*
 * Called by the CAL_*_CHECK macros when a library call fails: prints
 * "<program>: <file>:<line>: <call> failed: <errname>: <errstr>" and exits with
 * CAL_EXIT_FAIL.
 */
void cal_die_call(const char *file, int line, const char *call, const char *errname,
		  const char *errstr) CAL_NORETURN;

/* Summary of repeated timings. Percentiles interpolate linearly between order
 * statistics (Hyndman & Fan 1996, definition 7, numpy's default). */
typedef struct cal_stats {
	int n;
	double median, p10, p90, min, max, mean;
} cal_stats;

/* Sorts samples[0..n) in place and fills *out. n must be >= 1. */
void cal_stats_compute(double *samples, int n, cal_stats *out);

/* The q-quantile (0 <= q <= 1) of sorted[0..n), definition 7. */
double cal_quantile_sorted(const double *sorted, int n, double q);

/*
 * Parses a size with an optional binary suffix: "4096", "1K" (1024), "64M", "1G",
 * "2T" (case-insensitive, an optional trailing "iB"/"B" is accepted). Returns 0 and
 * sets *out, or -1 on anything else (empty, negative, overflow, junk).
 */
int cal_parse_size(const char *s, int64_t *out);

/*
 * Parses a comma-separated list of sizes (cal_parse_size) into a malloc'd array.
 * Returns the count (>= 1) or -1 with a message naming the bad field in err. The
 * caller frees *out.
 */
int cal_parse_size_list(const char *s, int64_t **out, char *err, size_t errlen);

/* Parses a comma-separated list of finite doubles > 0. Same contract as above. */
int cal_parse_double_list(const char *s, double **out, char *err, size_t errlen);

/*
 * The "powers of two and midpoints" ladder: 1, 2, 3, 4, 6, 8, 12, 16, 24, ...
 * (every 2^k and 3*2^k) restricted to [lo, hi]. Writes at most cap values to out in
 * increasing order and returns how many there are in total (may exceed cap).
 */
int cal_ladder_pow2_mid(int64_t lo, int64_t hi, int64_t *out, int cap);

/* The powers of two in [lo, hi], same contract as cal_ladder_pow2_mid. */
int cal_ladder_pow2(int64_t lo, int64_t hi, int64_t *out, int cap);

/* The current UTC time as ISO 8601, "2025-01-31T12:34:56Z". */
void cal_utc_now_iso8601(char *buf, size_t len);

/* This machine's host name ("unknown" if it cannot be read). */
void cal_hostname(char *buf, size_t len);

/*
 * The command line as one string, each argument single-quoted where the shell
 * would need it, so it can be pasted back. Returns a malloc'd string (free it).
 */
char *cal_join_argv(int argc, char **argv);

/* Seconds on a monotonic clock, for budgets and progress (not for measurements). */
double cal_now_s(void);

/* The NVIDIA kernel driver version ("580.95.05") read from /proc/driver/nvidia/version,
 * or "" when that file is absent. */
void cal_nvidia_driver_version(char *buf, size_t len);

/* A uniformly random permutation of 0..n-1 (Fisher-Yates, drawing from SplitMix64,
 * common/ms_rng.h) written to perm: the same seed gives the same access pattern. */
void cal_random_permutation(int32_t *perm, int64_t n, uint64_t seed);


/* Options every calibration program takes (docs/calibrate.md). */
typedef struct cal_common_opts {
	const char *out;   /* profile path (--out) */
	int force;         /* overwrite an existing profile (--force) */
	int device;        /* first CUDA device (--device) */
	int repeats;       /* timed repetitions per point (--repeats, default 20) */
	int warmup;        /* untimed repetitions before them (--warmup, default 3) */
	double budget_s;   /* wall-clock budget for all measurements; 0 = none (--budget-s) */
	const char *name;  /* profile name (--name); NULL = derived from the GPU */
	int l2_flush;      /* overwrite L2 before each timed repetition (--no-l2-flush clears) */
	uint64_t seed;     /* seed of random data and permutations (--seed) */
	int64_t bytes_min; /* smallest transfer (--bytes-min, with CAL_OPTS_BYTES; default 1K) */
	int64_t bytes_max; /* largest transfer (--bytes-max, with CAL_OPTS_BYTES; default 1G) */
} cal_common_opts;

/* Flags of cal_options_parse: the program also takes --bytes-min and --bytes-max. */
enum { CAL_OPTS_BYTES = 1 };

/* Usage text of the shared options, for the programs' --help. */
extern const char cal_common_usage[];

/* Applies a program's own option code (its argument, or NULL) to ctx; exits with
 * CAL_EXIT_USAGE on a bad value (cal_arg_int and friends do). */
typedef void (*cal_option_fn)(void *ctx, int code, const char *arg);

/*
 * The command line of a calibration program: sets *c to the defaults (default_out is
 * the profile path without --out), then parses argv with getopt_long against the
 * program's own options (own: a table ending in a zero entry, codes below 1000),
 * passed to handle, and the shared ones (with flags, the optional ones), kept in *c.
 * Exits with CAL_EXIT_USAGE and one line on an unknown or incomplete option, a stray
 * argument or --bytes-min above --bytes-max; on --help prints usage(stdout) and exits
 * with CAL_EXIT_OK. Other checks that involve several options are the caller's, after
 * the call.
 */
void cal_options_parse(int argc, char **argv, const struct option *own, cal_option_fn handle, void *ctx,
		       cal_common_opts *c, const char *default_out, unsigned flags, void (*usage)(FILE *f));

/*
 * Parses an integer option value in [min, max] or exits with CAL_EXIT_USAGE and
 * "--<opt> '<arg>': expected an integer from <min> to <max>". Sizes with K/M/G
 * suffixes are accepted.
 */
int64_t cal_arg_int(const char *opt, const char *arg, int64_t min, int64_t max);

/*
 * Parses the list of sizes given to --<opt> (cal_parse_size_list) into out[0..cap) and
 * returns how many there are, or exits with CAL_EXIT_USAGE and "--<opt> '<arg>': <why>"
 * (a bad field, or more than cap values). Checks of the values are the caller's.
 */
int cal_arg_size_list(const char *opt, const char *arg, int64_t *out, int cap);

/* The same for a finite double in [min, max]. */
double cal_arg_double(const char *opt, const char *arg, double min, double max);

/*
 * Reads a square byte matrix from a text file: one row per line, values separated by
 * blanks or commas, each a byte count with an optional K/M/G/T suffix; '#' starts a
 * comment; blank lines are ignored. Entry [i][j] is what rank i sends to rank j.
 * Returns 0 with *out (malloc'd, row-major n*n) and *n, or -1 with a message such as
 * "m.txt:3: 3 values, expected 4 (one per rank)" in err.
 */
int cal_matrix_read(const char *path, int64_t **out, int *n, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
