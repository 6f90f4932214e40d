/*
 * cli.h - the moesim command line. cli_main is the whole program (main() only calls
 * it), so tests can drive it in-process. Exit codes: 0 success, 1 bad input or a
 * failed run (a one-line message on stderr), 2 bad usage.
 */
#ifndef CLI_H
#define CLI_H

#include "common/ms_error.h"
#include "scenario/scn_scenario.h"

int cli_main(int argc, char **argv);

enum { CLI_EXIT_BAD_INPUT = 1, CLI_EXIT_USAGE = 2 };

/*
 * A subcommand: argv holds the arguments after the command's name. Each lives in its
 * own file (cli/cmd_*.c) and is listed in the table in cli.c.
 */
typedef int (*cli_cmd_fn)(int argc, char **argv);

typedef struct cli_command {
	const char *name;
	const char *summary; /* one line for `moesim --help` */
	cli_cmd_fn fn;
} cli_command;

/* What a scenario command's arguments say: [SCENARIO] [--set K=V]... and the options
 * allowed by its flags. */
enum { CLI_ALLOW_OUTPUT = 1, CLI_ALLOW_DOT = 2, CLI_ALLOW_LARGE = 4, CLI_ALLOW_JOBS = 8 };

typedef struct cli_args {
	const char *scenario;
	scn_overrides ov;
	const char *out;  /* -o (CLI_ALLOW_OUTPUT) */
	const char *dot;  /* --dot (CLI_ALLOW_DOT) */
	int force, quiet, help;
	int force_large;  /* --force-large (CLI_ALLOW_LARGE): run even where the estimate refuses */
	int allow_memory_overflow; /* --allow-memory-overflow (CLI_ALLOW_LARGE): run a scenario that does not fit the GPUs */
	int jobs;         /* -j N (CLI_ALLOW_JOBS); 0 when not given */
} cli_args;

/* Parses them; returns 0, or CLI_EXIT_USAGE after printing a one-line message. */
int cli_parse_args(int argc, char **argv, cli_args *a, unsigned allow, const char *usage);

/* The warning channel of every command: "moesim: warning: ..." on stderr. */
extern const ms_warn cli_warn;

/* $MOESIM_THREADS as a thread count (0 when unset: one per CPU); an invalid value is
 * refused with a message (returns CLI_EXIT_BAD_INPUT). */
int cli_threads(int *threads);

/*
 * What the up-front estimates (sim/sim_estimate.h, trace synth) are checked against.
 * cli_memory_available: /proc/meminfo's MemAvailable (else free pages from sysconf),
 * lowered to $MOESIM_MEMORY_LIMIT_BYTES when that is set (a limit for a shared machine,
 * and how the tests provoke a refusal); an invalid value is refused with a message
 * (returns CLI_EXIT_BAD_INPUT); *bytes < 0 when nothing says. cli_disk_free: the bytes
 * an unprivileged writer may still use on the file system that will hold the file
 * `path` (its directory; statvfs), or -1 when that cannot be told.
 */
int cli_memory_available(double *bytes);

/* A line written to stderr when Ctrl-C or a kill (SIGINT, SIGTERM) ends the command
 * (NULL: none); note must stay valid. */
void cli_set_interrupt_note(const char *note);
double cli_disk_free(const char *path);

/*
 * What `moesim run` records on request (cli/cli_record.c): --timeline FILE.json,
 * --timeline-gpus A-B, --events, --traffic. cli_record_parse takes them out of argv
 * (the rest goes to cli_parse_args); setup fills the run's sim_record (per-step layer
 * phases and links over time whenever there is an HDF5 file); check refuses, before
 * the run, a timeline beyond the limits (0, or an exit code after the message); write
 * writes the timeline after the run; fini frees it.
 */
#include "sim/sim_estimate.h"
#include "sim/sim_run.h"
#include "sim/sim_timeline.h"
typedef struct cli_record {
	const char *timeline; /* --timeline FILE.json */
	int lo, hi, gpus_given; /* --timeline-gpus */
	int events, traffic;
	int force;            /* --force: overwrite the timeline file too */
	sim_timeline *tl;
} cli_record;
int cli_record_parse(int *argc, char **argv, cli_record *c);
int cli_record_setup(cli_record *c, const scn_scenario *s, const char *out, sim_record *rec);
int cli_record_check(const cli_record *c, const scn_scenario *s, const sim_record *rec, sim_estimate *e);
int cli_record_write(const cli_record *c, const scn_scenario *s, const sim_result *r);
void cli_record_fini(cli_record *c);

int cli_cmd_run(int argc, char **argv);
int cli_cmd_show(int argc, char **argv);
int cli_cmd_keys(int argc, char **argv);
int cli_cmd_gpus(int argc, char **argv);
int cli_cmd_calibrate(int argc, char **argv);
int cli_cmd_trace(int argc, char **argv);
int cli_cmd_topo(int argc, char **argv);
int cli_cmd_collective(int argc, char **argv);
int cli_cmd_layout(int argc, char **argv);
int cli_cmd_sweep(int argc, char **argv);

/*
 * The predictor behind `moesim collective`, shared with `moesim calibrate compare`
 * (cli/cmd_collective.c): one collective kind and algorithm on the first `ranks` GPUs
 * (0: all) of a scenario's cluster, timed on the flow model, for nccl-tests' printed
 * sizes (the bytes a row of its output says).
 */
#include "profile/prof_nccl.h"
#include "topology/topo_graph.h"
typedef struct cli_coll_pred cli_coll_pred;
int cli_coll_parse_kind(const char *s, prof_nccl_coll *kind);
int cli_coll_parse_algo(prof_nccl_coll kind, const char *s, int *algo);
int cli_coll_default_algo(prof_nccl_coll kind);
const char *cli_coll_algo_name(prof_nccl_coll kind, int algo);
int cli_coll_pred_open(cli_coll_pred **p, const scn_scenario *s, prof_nccl_coll kind, int algo, int ranks,
		       ms_error *err);
int cli_coll_predict(cli_coll_pred *p, double size_bytes, double *time_s, ms_error *err);
int cli_coll_pred_ranks(const cli_coll_pred *p);
const topo_graph *cli_coll_pred_graph(const cli_coll_pred *p);
void cli_coll_pred_close(cli_coll_pred *p);
const char *cli_coll_gpu_label(const scn_scenario *s);
/* nccl-tests' number format (src/util.cu getFloatStr) into str (width + 1 bytes). */
void cli_nccl_float(double v, int width, char *str);

#endif
