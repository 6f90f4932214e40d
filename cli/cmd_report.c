/*
 * cmd_report.c - `moesim report RUN.h5 [RUN2.h5 ...]`: the summary of stored runs, and
 * several side by side (output/out_compare.h).
 *
 * Each file is first read in a forked child (trace/tr_isolate.h): libhdf5 can crash on
 * corrupt metadata, and a crash must be a one-line message naming the file, as for any
 * other bad file. Then the files are read again here and the report printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "output/out_compare.h"
#include "output/out_read.h"
#include "trace/tr_isolate.h"

static const char usage_report[] =
	"usage: moesim report RUN.h5 [RUN2.h5 ...]\n"
	"\n"
	"Prints the summary of a run stored with `moesim run -o RUN.h5`; given several, puts\n"
	"them side by side: the keys their resolved scenarios differ in, and how step time,\n"
	"throughput, MFU, drops, memory, load and each phase moved against the first.\n"
	"Plots of the same files: moesim plot RUN.h5 [RUN2.h5 ...] (docs/output-format.md).\n";

static int probe(void *ctx, ms_error *err)
{
	out_run r;
	if (out_run_read(&r, ctx, err) < 0)
		return 1;
	out_run_free(&r);
	return 0;
}

int cli_cmd_report(int argc, char **argv)
{
	out_run *runs;
	int n = 0, rc = 0;
	ms_error err;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_report, stdout);
			return 0;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "moesim: unknown option '%s'\n%s", argv[i], usage_report);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc < 1) {
		fprintf(stderr, "moesim: report needs at least one run file\n%s", usage_report);
		return CLI_EXIT_USAGE;
	}
	for (int i = 0; i < argc; i++) {
		ms_error_clear(&err);
		if (tr_isolate_run(argv[i], probe, argv[i], &err) != 0) {
			fprintf(stderr, "moesim: %s\n", err.msg[0] ? err.msg : "cannot read the run file");
			return CLI_EXIT_BAD_INPUT;
		}
	}
	runs = calloc((size_t)argc, sizeof *runs);
	if (!runs) {
		fprintf(stderr, "moesim: out of memory\n");
		return CLI_EXIT_BAD_INPUT;
	}
	for (; n < argc; n++) {
		ms_error_clear(&err);
		if (out_run_read(&runs[n], argv[n], &err) < 0) {
			fprintf(stderr, "moesim: %s\n", err.msg);
			rc = CLI_EXIT_BAD_INPUT;
			break;
		}
	}
	if (rc == 0)
		out_report_print(stdout, runs, n);
	for (int i = 0; i < n; i++)
		out_run_free(&runs[i]);
	free(runs);
	return rc;
}
