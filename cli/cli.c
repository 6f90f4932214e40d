/*
 * cli.c - command-line parsing and the subcommands: run, show, keys, gpus.
 * Every error is one line on stderr starting with "moesim: " and a non-zero exit.
 */
#include "cli/cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/ms_file.h"
#include "common/ms_path.h"
#include "hardware/hw_gpu.h"
#include "models/moe_arch.h"
#include "models/moe_memory.h"
#include "output/out_report.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_estimate.h"
#include "sim/sim_run.h"
#include "trace/tr_reader.h"

#ifndef MOESIM_VERSION
#define MOESIM_VERSION "0.1.0"
#endif

#define EXIT_BAD_INPUT CLI_EXIT_BAD_INPUT
#define EXIT_USAGE CLI_EXIT_USAGE

/* Every subcommand; add a line here and a cli/cmd_*.c file to add one. */
static const cli_command commands[] = {
	{"run", "run [SCENARIO]   simulate a scenario (no argument: the built-in default)", cli_cmd_run},
	{"show", "show [SCENARIO]  print the scenario with every default and derived value filled in", cli_cmd_show},
	{"keys", "keys             list every scenario key with its type, default, unit and meaning", cli_cmd_keys},
	{"gpus", "gpus             list the built-in GPU datasheet entries", cli_cmd_gpus},
	{"calibrate", "calibrate COMMAND calibration profiles: fit, import-nccl-tests (moesim calibrate --help)", cli_cmd_calibrate},
	{"trace", "trace COMMAND    router traces: info, validate, stats, synth, import (moesim trace --help)", cli_cmd_trace},
	{"topo", "topo [SCENARIO]  the network: GPUs, NICs, switches, links, bisection bandwidth, a route", cli_cmd_topo},
	{"layout", "layout [SCENARIO] the Megatron-Core parallel groups (TP, DP, PP, EP, ...) and their nodes", cli_cmd_layout},
	{"sweep", "sweep SCENARIO   run every point of the scenario's sweep section and compare them (resumable; MPI)", cli_cmd_sweep},
	{"collective", "collective KIND  predict alltoall|allreduce|allgather|reducescatter, printed as nccl-tests does", cli_cmd_collective},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage_main(FILE *f)
{
	fputs("usage: moesim COMMAND [ARGS]\n\n"
	      "Simulates expert-parallel Mixture-of-Experts training and serving on GPU clusters.\n\ncommands:\n",
	      f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %s\n", commands[i].summary);
	fputs("\nRun `moesim COMMAND --help` for a command's options; `moesim --version` for the version.\n", f);
}

static const char usage_run[] =
	"usage: moesim run [SCENARIO] [--set section.key=value]... [-o FILE.h5] [--force] [--force-large]\n"
	"                  [--allow-memory-overflow] [-q] [--timeline FILE.json] [--timeline-gpus A-B]\n"
	"                  [--events] [--traffic]\n"
	"\n"
	"Simulates SCENARIO (a libconfig file; without one, the built-in default, also shipped\n"
	"as scenarios/default.cfg) and prints a summary.\n"
	"\n"
	"  --set K=V    override one scenario value, e.g. --set routing.top_k=4 (repeatable)\n"
	"  -o FILE.h5   write the results to an HDF5 file (schema: docs/output-format.md)\n"
	"  --force      overwrite FILE.h5 if it exists\n"
	"  --force-large  run even when the up-front estimate refuses: more memory than is\n"
	"               available (MemAvailable, or $MOESIM_MEMORY_LIMIT_BYTES if lower), more\n"
	"               than 1e10 events or about 2 hours of work, or a results file larger\n"
	"               than the free disk space (docs/errors.md, \"Refused large runs\")\n"
	"  --allow-memory-overflow  run a scenario whose weights, optimizer states and\n"
	"               activations do not fit the GPUs' memory (refused by default, with the\n"
	"               breakdown and what would make it fit)\n"
	"  -q           print nothing on success\n"
	"  --timeline FILE.json  write every GPU's compute, communication, data-parallel and\n"
	"               pipeline streams as Chrome / Perfetto trace-event JSON (open it in\n"
	"               ui.perfetto.dev), with the hottest links' utilisation as counters\n"
	"  --timeline-gpus A-B  record the timeline of GPUs A .. B only\n"
	"  --events     add the timeline to FILE.h5 (/timeline/events)\n"
	"  --traffic    add each MoE layer's GPU-to-GPU byte matrices to FILE.h5 (/traffic)\n"
	"  A timeline that would be enormous is refused before the run, with its size and\n"
	"  the options that shrink it (or --force-large).\n";

static const char usage_show[] =
	"usage: moesim show [SCENARIO] [--set section.key=value]...\n"
	"\n"
	"Prints the scenario as moesim resolved it: every key, defaults and derived values filled in.\n";

int cli_parse_args(int argc, char **argv, cli_args *a, unsigned allow, const char *usage)
{
	int allow_output = (allow & CLI_ALLOW_OUTPUT) != 0;
	memset(a, 0, sizeof *a);
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			a->help = 1;
		} else if (strcmp(s, "--set") == 0 || strncmp(s, "--set=", 6) == 0) {
			const char *v = s[5] == '=' ? s + 6 : (i + 1 < argc ? argv[++i] : NULL);
			if (!v) {
				fprintf(stderr, "moesim: --set needs section.key=value\n");
				return EXIT_USAGE;
			}
			if (a->ov.n == SCN_MAX_OVERRIDES) {
				fprintf(stderr, "moesim: too many --set options (at most %d)\n", SCN_MAX_OVERRIDES);
				return EXIT_USAGE;
			}
			a->ov.items[a->ov.n++] = v;
		} else if (allow_output && (strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0)) {
			if (i + 1 >= argc) {
				fprintf(stderr, "moesim: %s needs a file name\n", s);
				return EXIT_USAGE;
			}
			a->out = argv[++i];
		} else if ((allow & CLI_ALLOW_DOT) && strcmp(s, "--dot") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "moesim: %s needs a file name\n", s);
				return EXIT_USAGE;
			}
			a->dot = argv[++i];
		} else if ((allow & (CLI_ALLOW_OUTPUT | CLI_ALLOW_DOT)) && strcmp(s, "--force") == 0) {
			a->force = 1;
		} else if ((allow & CLI_ALLOW_LARGE) && strcmp(s, "--force-large") == 0) {
			a->force_large = 1;
		} else if ((allow & CLI_ALLOW_LARGE) && strcmp(s, "--allow-memory-overflow") == 0) {
			a->allow_memory_overflow = 1;
		} else if ((allow & CLI_ALLOW_JOBS) && (strcmp(s, "-j") == 0 || strcmp(s, "--jobs") == 0 ||
							(strncmp(s, "-j", 2) == 0 && s[2] >= '0' && s[2] <= '9'))) {
			const char *v = s[1] == 'j' && s[2] ? s + 2 : (i + 1 < argc ? argv[++i] : NULL);
			char *end;
			long n = v ? strtol(v, &end, 10) : 0;
			if (!v || *end != '\0' || n < 1 || n > 4096) {
				fprintf(stderr, "moesim: %s needs a number of processes from 1 to 4096, e.g. -j 4\n", s);
				return EXIT_USAGE;
			}
			a->jobs = (int)n;
		} else if (allow_output && (strcmp(s, "-q") == 0 || strcmp(s, "--quiet") == 0)) {
			a->quiet = 1;
		} else if (s[0] == '-' && s[1] != '\0') {
			fprintf(stderr, "moesim: unknown option '%s'\n%s", s, usage);
			return EXIT_USAGE;
		} else if (!a->scenario) {
			a->scenario = s;
		} else {
			fprintf(stderr, "moesim: more than one scenario given ('%s' and '%s')\n", a->scenario, s);
			return EXIT_USAGE;
		}
	}
	return 0;
}

static int load_scenario(const cli_args *a, scn_scenario *s)
{
	ms_error err;
	ms_error_clear(&err);
	if (scn_scenario_load(s, a->scenario, &a->ov, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return EXIT_BAD_INPUT;
	}
	return 0;
}

static void print_warning(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "moesim: warning: %s\n", msg);
}

const ms_warn cli_warn = {print_warning, NULL};

int cli_threads(int *threads)
{
	const char *env = getenv("MOESIM_THREADS");
	char *end;
	long n;
	*threads = 0;
	if (!env || !env[0])
		return 0;
	n = strtol(env, &end, 10);
	if (*end != '\0' || n < 1 || n > 1024) {
		fprintf(stderr, "moesim: MOESIM_THREADS = '%s' is not a thread count: use an integer from 1 to 1024, or "
			"unset it for one thread per CPU\n", env);
		return EXIT_BAD_INPUT;
	}
	*threads = (int)n;
	return 0;
}

int cli_memory_available(double *bytes)
{
	const char *env = getenv("MOESIM_MEMORY_LIMIT_BYTES");
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	*bytes = -1;
	if (f) {
		while (fgets(line, sizeof line, f)) {
			unsigned long long kb;
			if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
				*bytes = (double)kb * 1024.0;
				break;
			}
		}
		fclose(f);
	}
	if (*bytes < 0) {
		long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
		if (pages > 0 && size > 0)
			*bytes = (double)pages * (double)size;
	}
	if (env && env[0]) {
		char *end;
		double v = strtod(env, &end);
		if (*end != '\0' || !(v > 0) || v > 1e30) {
			fprintf(stderr, "moesim: MOESIM_MEMORY_LIMIT_BYTES = '%s' is not a number of bytes: use a positive "
				"number such as 8e9, or unset it to check against the available memory\n", env);
			return EXIT_BAD_INPUT;
		}
		if (*bytes < 0 || v < *bytes)
			*bytes = v;
	}
	return 0;
}

double cli_disk_free(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct statvfs st;
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	if (statvfs(dir, &st) < 0)
		return -1;
	return (double)st.f_bavail * (double)st.f_frsize;
}

/*
 * The layout and the memory per GPU, before anything runs: a layout Megatron-Core would
 * refuse is refused with its rule; a scenario that does not fit the GPUs' memory is
 * refused with the breakdown and what would make it fit (models/moe_memory.h), unless
 * --allow-memory-overflow.
 */
static int check_fits(const cli_args *a, const scn_scenario *s)
{
	ms_error err;
	char advice[4096];
	int fits;
	ms_error_clear(&err);
	fits = sim_estimate_fits(s, NULL, NULL, advice, sizeof advice, &err);
	if (fits < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return EXIT_BAD_INPUT;
	}
	if (!fits) {
		if (a->allow_memory_overflow)
			fprintf(stderr, "moesim: warning: %s\n(running anyway: --allow-memory-overflow)\n", advice);
		else
			fprintf(stderr, "moesim: %s: %s\nor run anyway with --allow-memory-overflow\n", s->source, advice);
	}
	return fits || a->allow_memory_overflow ? 0 : EXIT_BAD_INPUT;
}

/* The up-front estimate of a run (sim/sim_estimate.h): 0, or CLI_EXIT_BAD_INPUT after the refusal. */
static int check_large(const cli_args *a, const scn_scenario *s, const sim_inputs *in, int threads, const char *out,
		       const cli_record *c, const sim_record *rec)
{
	sim_estimate e;
	double mem;
	ms_error err;
	int rc;
	if ((rc = cli_memory_available(&mem)) != 0)
		return rc;
	if (a->force_large)
		return 0;
	sim_estimate_run(s, in->trace ? rt_trace_depth(in->trace) : 0, threads, &e);
	if ((rc = cli_record_check(c, s, rec, &e)) != 0)
		return rc;
	ms_error_clear(&err);
	if (sim_estimate_check(s, &e, mem, out ? cli_disk_free(out) : -1, out, &err) < 0) {
		fprintf(stderr, "moesim: %s; or run anyway with --force-large\n", err.msg);
		return EXIT_BAD_INPUT;
	}
	return 0;
}

int cli_cmd_run(int argc, char **argv)
{
	cli_args a;
	scn_scenario *s;
	sim_inputs in;
	int threads;
	sim_result *r = NULL;
	out_summary sum;
	ms_error err;
	const char *out;
	cli_record c;
	sim_record rec;
	int rc = cli_record_parse(&argc, argv, &c);
	if (rc || (rc = cli_parse_args(argc, argv, &a, CLI_ALLOW_OUTPUT | CLI_ALLOW_LARGE, usage_run)))
		return rc;
	if (a.help) {
		fputs(usage_run, stdout);
		return 0;
	}
	s = malloc(sizeof *s);
	if (!s) {
		fprintf(stderr, "moesim: out of memory\n");
		return EXIT_BAD_INPUT;
	}
	if ((rc = load_scenario(&a, s)) != 0)
		goto done;
	ms_error_clear(&err);
	out = a.out ? a.out : (s->output.h5[0] ? s->output.h5 : NULL);
	/* Refuse an existing output before spending time on the run. */
	if (out && ms_file_check(out, a.force, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = EXIT_BAD_INPUT;
		goto done;
	}
	c.force = a.force;
	if ((rc = cli_record_setup(&c, s, out, &rec)) != 0)
		goto done;
	if ((rc = cli_threads(&threads)) != 0)
		goto done;
	if ((rc = check_fits(&a, s)) != 0)
		goto done;
	if (sim_inputs_open(&in, s, &cli_warn, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = EXIT_BAD_INPUT;
		goto done;
	}
	if ((rc = check_large(&a, s, &in, threads, out, &c, &rec)) != 0) {
		sim_inputs_close(&in);
		goto done;
	}
	in.record = &rec;
	rc = sim_run(&in, threads, &r, &err);
	sim_inputs_close(&in);
	if (rc < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = EXIT_BAD_INPUT;
		goto done;
	}
	out_summary_compute(r, &sum);
	if (out && out_h5_write_events(out, a.force, s, r, &sum, c.events ? c.tl : NULL, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = EXIT_BAD_INPUT;
		goto done;
	}
	if ((rc = cli_record_write(&c, s, r)) != 0)
		goto done;
	if (!a.quiet) {
		out_summary_print(stdout, s, r, &sum);
		if (out)
			printf("  written          %s\n", out);
		if (c.timeline)
			printf("  timeline         %s (%zu events; open it in ui.perfetto.dev)\n", c.timeline,
			       sim_timeline_count(c.tl));
	}
done:
	cli_record_fini(&c);
	sim_result_free(r);
	free(s);
	return rc;
}

int cli_cmd_show(int argc, char **argv)
{
	cli_args a;
	scn_scenario *s;
	int rc = cli_parse_args(argc, argv, &a, 0, usage_show);
	if (rc)
		return rc;
	if (a.help) {
		fputs(usage_show, stdout);
		return 0;
	}
	s = malloc(sizeof *s);
	if (!s) {
		fprintf(stderr, "moesim: out of memory\n");
		return EXIT_BAD_INPUT;
	}
	if ((rc = load_scenario(&a, s)) == 0) {
		printf("# resolved from %s\n", s->source);
		scn_write_resolved(stdout, s);
	}
	free(s);
	return rc;
}

int cli_cmd_keys(int argc, char **argv)
{
	(void)argv;
	if (argc > 0 && strcmp(argv[0], "--help") != 0) {
		fprintf(stderr, "moesim: keys takes no arguments\n");
		return EXIT_USAGE;
	}
	scn_write_reference(stdout);
	return 0;
}

int cli_cmd_gpus(int argc, char **argv)
{
	(void)argv;
	if (argc > 0 && strcmp(argv[0], "--help") != 0) {
		fprintf(stderr, "moesim: gpus takes no arguments\n");
		return EXIT_USAGE;
	}
	printf("%-10s %-26s %10s %10s %9s %8s %12s\n", "name", "GPU", "BF16 TF/s", "FP8 TF/s", "HBM TB/s", "HBM GiB",
	       "NVLink GB/s");
	for (int i = 0; hw_gpu_at(i); i++) {
		const hw_gpu *g = hw_gpu_at(i);
		printf("%-10s %-26s %10.1f %10.1f %9.2f %8.0f %12.0f\n", g->name, g->label, g->bf16_flops / 1e12,
		       g->fp8_flops / 1e12, g->hbm_Bps / 1e12, g->hbm_bytes / (1024.0 * 1024.0 * 1024.0),
		       g->nvlink_Bps / 1e9);
	}
	printf("\n(dense rates; NVLink per direction)\nsources:\n");
	for (int i = 0; hw_gpu_at(i); i++)
		printf("  %s: %s\n", hw_gpu_at(i)->name, hw_gpu_at(i)->citation);
	return 0;
}

/* Ctrl-C or a kill: remove the temporaries of unfinished outputs, exit 128 + signal. */
static const char *volatile interrupt_note;

void cli_set_interrupt_note(const char *note)
{
	interrupt_note = note;
}

static void on_signal(int sig)
{
	const char *note = interrupt_note;
	ms_file_cleanup_all();
	if (note) {
		/* write(2) only: async-signal-safe */
		ssize_t w = write(2, note, strlen(note));
		(void)w;
	}
	_exit(128 + sig);
}

static void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int cli_main(int argc, char **argv)
{
	const char *cmd;
	catch_signals();
	/* The shipped scenarios and traces: found from the executable's place (common/ms_path.h). */
	ms_data_dir(getenv("MOESIM_DATADIR"));
	{
		/* A switch for comparing trace read paths (docs/trace-tools.md). */
		const char *hdf5_read = getenv("MOESIM_TRACE_HDF5_READ");
		if (hdf5_read && *hdf5_read && strcmp(hdf5_read, "0") != 0)
			tr_use_own_decoder(0);
	}
	if (argc < 2) {
		usage_main(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage_main(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("moesim %s\n", MOESIM_VERSION);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].fn(argc - 2, argv + 2);
	fprintf(stderr, "moesim: unknown command '%s'; commands:", cmd);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(stderr, "%s %s", i ? "," : "", commands[i].name);
	fprintf(stderr, " (see moesim --help)\n");
	return EXIT_USAGE;
}
