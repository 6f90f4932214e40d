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
enum { CLI_ALLOW_OUTPUT = 1, CLI_ALLOW_DOT = 2 };

typedef struct cli_args {
	const char *scenario;
	scn_overrides ov;
	const char *out;  /* -o (CLI_ALLOW_OUTPUT) */
	const char *dot;  /* --dot (CLI_ALLOW_DOT) */
	int force, quiet, help;
} cli_args;

/* Parses them; returns 0, or CLI_EXIT_USAGE after printing a one-line message. */
int cli_parse_args(int argc, char **argv, cli_args *a, unsigned allow, const char *usage);

/* The warning channel of every command: "moesim: warning: ..." on stderr. */
extern const ms_warn cli_warn;

/* $MOESIM_THREADS as a thread count (0 when unset: one per CPU); an invalid value is
 * refused with a message (returns CLI_EXIT_BAD_INPUT). */
int cli_threads(int *threads);

int cli_cmd_run(int argc, char **argv);
int cli_cmd_show(int argc, char **argv);
int cli_cmd_keys(int argc, char **argv);
int cli_cmd_gpus(int argc, char **argv);
int cli_cmd_calibrate(int argc, char **argv);
int cli_cmd_trace(int argc, char **argv);
int cli_cmd_topo(int argc, char **argv);

#endif
