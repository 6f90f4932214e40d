/*
 * cli.h - the moesim command line. cli_main is the whole program (main() only calls
 * it), so tests can drive it in-process. Exit codes: 0 success, 1 bad input or a
 * failed run (a one-line message on stderr), 2 bad usage.
 */
#ifndef CLI_H
#define CLI_H

int cli_main(int argc, char **argv);

#endif
