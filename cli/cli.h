/*
 * cli.h - the moesim command line. cli_main is the whole program (main() only calls
 * it), so tests can drive it in-process. Exit codes: 0 success, 1 bad input or a
 * failed run (a one-line message on stderr), 2 bad usage.
 */
#ifndef CLI_H
#define CLI_H

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

int cli_cmd_run(int argc, char **argv);
int cli_cmd_show(int argc, char **argv);
int cli_cmd_keys(int argc, char **argv);
int cli_cmd_gpus(int argc, char **argv);
int cli_cmd_calibrate(int argc, char **argv);
int cli_cmd_trace(int argc, char **argv);
int cli_cmd_topo(int argc, char **argv);

#endif
