/*
 * cmd_calibrate.c - `moesim calibrate fit|import-nccl-tests`: turns measurements into a
 * calibration profile (docs/calibrate.md).
 *
 *   fit PROFILE... -o OUT.cfg     reads measured profiles as one, fits every table
 *                                 (profile/prof_fit.h) and writes them merged, each table
 *                                 with its `fit` block
 *   import-nccl-tests FILE        reads nccl-tests alltoall_perf output (text or -J JSON)
 *                                 and writes the communication part of a profile
 *   compare LOG [SCENARIO]        a real nccl-tests log (alltoall, all_reduce, all_gather,
 *                                 reduce_scatter) beside moesim's prediction of each size
 *                                 (the predictor of `moesim collective`), with the error
 *
 * Outputs are complete or absent: written to a temporary name, flushed to disk, then
 * renamed (common/ms_file.h); an existing file is kept unless --force. Errors are one
 * line "moesim: ..." and exit 1; bad usage exits 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "cli/cli.h"
#include "common/ms_file.h"
#include "profile/prof_nccl.h"
#include "profile/prof_profile.h"

static const char usage_calibrate[] =
	"usage: moesim calibrate fit PROFILE... -o OUT.cfg [--force] [--name TEXT] [-q]\n"
	"       moesim calibrate import-nccl-tests FILE [-o OUT.cfg] [--force] [--ranks N]\n"
	"                                          [--scope intra_node|inter_node] [--in-place] [-q]\n"
	"       moesim calibrate compare LOG [SCENARIO] [--set K=V]... [--algo NAME] [--ranks N] [--in-place]\n"
	"\n"
	"Turns measurements into a calibration profile (docs/calibrate.md, docs/profile-format.md),\n"
	"or holds moesim's prediction against a measured nccl-tests log.\n";

static const char usage_compare[] =
	"usage: moesim calibrate compare LOG [SCENARIO] [--set K=V]... [--algo NAME] [--ranks N] [--in-place]\n"
	"\n"
	"Reads LOG, the output of nccl-tests' alltoall_perf, all_reduce_perf, all_gather_perf or\n"
	"reduce_scatter_perf (text or -J JSON), predicts every size of it with the same collective\n"
	"on the first N GPUs of SCENARIO's cluster (N = the log's ranks), as `moesim collective`\n"
	"does, and prints size, measured and predicted time and the error, then the mean absolute\n"
	"error and the worst row (docs/calibrate.md).\n"
	"\n"
	"  --set K=V     override a scenario value (repeatable), e.g. --set cluster.nodes=2\n"
	"  --algo NAME   alltoall: nccl (default), flat, pairwise, hierarchical; allreduce: ring (default), tree\n"
	"  --ranks N     the log's ranks, when it does not list its devices (must agree if it does)\n"
	"  --in-place    compare the in-place columns instead of the out-of-place ones\n";

static const char usage_fit[] =
	"usage: moesim calibrate fit PROFILE... -o OUT.cfg [--force] [--name TEXT] [-q]\n"
	"\n"
	"Reads the measured profiles (e.g. gemm.cfg copy.cfg alltoall.cfg from calibrate/run_all.sh,\n"
	"or the output of import-nccl-tests) as one profile, fits every table by nonlinear least\n"
	"squares and writes them merged into OUT.cfg, each table with a `fit` block: the parameters,\n"
	"their standard errors and the residuals. Expert GEMMs are fitted with a roofline,\n"
	"t0 + max(weight bytes / bandwidth, FLOPs / peak); copies, permutes and all-to-all with\n"
	"latency + size / bandwidth. Prints one line per table.\n"
	"\n"
	"  -o OUT.cfg    the profile to write (required)\n"
	"  --force       overwrite OUT.cfg if it exists\n"
	"  --name TEXT   profile.name of the output (default: the first input's)\n"
	"  -q            print nothing on success\n";

static const char usage_import[] =
	"usage: moesim calibrate import-nccl-tests FILE [-o OUT.cfg] [--force] [--ranks N]\n"
	"                                          [--scope intra_node|inter_node] [--in-place] [-q]\n"
	"\n"
	"Reads the output of nccl-tests' alltoall_perf, as printed (text) or written with -J FILE\n"
	"(JSON), and writes the communication part of a profile: one `alltoall` table of time\n"
	"against bytes per rank, with algbw = bytes / time and busbw = algbw x (n-1)/n as\n"
	"nccl-tests defines them. Ranks and scope come from the file's device list.\n"
	"\n"
	"  -o OUT.cfg        the profile to write (default: standard output)\n"
	"  --force           overwrite OUT.cfg if it exists\n"
	"  --ranks N         GPUs in the run, when the file does not list them (must agree if it does)\n"
	"  --scope S         intra_node or inter_node, when the file does not list hosts\n"
	"  --in-place        take the in-place columns instead of the out-of-place ones\n"
	"  -q                print nothing but the profile\n";

/* The command line as one shell-quoted string, for provenance. */
static void join_command(const char *sub, int argc, char **argv, char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "moesim calibrate %s", sub);
	for (int i = 0; i < argc && used < len; i++) {
		const char *a = argv[i];
		int plain = *a != '\0';
		for (const char *c = a; *c && plain; c++)
			plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+@%", *c) != NULL;
		if (plain) {
			used += (size_t)snprintf(buf + used, len - used, " %s", a);
			continue;
		}
		used += (size_t)snprintf(buf + used, len - used, " '");
		for (const char *c = a; *c && used < len; c++)
			used += (size_t)snprintf(buf + used, len - used, *c == '\'' ? "'\\''" : "%c", *c);
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "'");
	}
}

typedef int (*write_fn)(FILE *f, const void *what, ms_error *err);

/* Writes through fn to path, complete or not at all. */
static int write_output(const char *path, int force, write_fn fn, const void *what, ms_error *err)
{
	ms_file of;
	int rc;
	if ((rc = ms_file_open(&of, path, force, err)) < 0)
		return rc;
	rc = fn(ms_file_stream(&of), what, err);
	if (rc == MS_OK)
		return ms_file_commit(&of, err);
	ms_file_abort(&of);
	return rc;
}

/* --- fit ----------------------------------------------------------------------------- */

typedef struct fit_job {
	const prof_profile *p;
	const char *name, *command;
} fit_job;

static int write_fitted(FILE *f, const void *what, ms_error *err)
{
	const fit_job *j = what;
	return prof_profile_write(j->p, f, j->name, j->command, err);
}

static void describe(const prof_table *t, char *buf, size_t len)
{
	switch (t->kind) {
	case PROF_GEMM:
		snprintf(buf, len, "gemm %s %dx%d E=%d %s", t->dtype, t->hidden, t->ffn, t->experts, prof_pass_name(t->pass));
		break;
	case PROF_COPY: snprintf(buf, len, "copy"); break;
	case PROF_GATHER: snprintf(buf, len, "gather hidden %d", t->hidden); break;
	case PROF_UNPERMUTE: snprintf(buf, len, "unpermute hidden %d top-%d", t->hidden, t->topk); break;
	default:
		snprintf(buf, len, "%s %s %d ranks", prof_kind_key(t->kind), prof_scope_name(t->scope), t->ranks);
		break;
	}
}

static void print_fit(FILE *o, const prof_table *t)
{
	char what[96];
	const prof_fit *f = &t->fit;
	describe(t, what, sizeof what);
	if (f->model == PROF_MODEL_ROOFLINE) {
		double F = prof_table_flops_per_token(t), W = prof_table_weight_bytes(t), c = f->p[2], k = f->p[1];
		fprintf(o, "  %-34s %3d  t0 %7.2f +- %-6.2g us  peak %7.1f +- %-6.2g TFLOP/s  weights %7.0f GB/s  knee %6.0f%s  rms %5.2f%%  max %5.2f%%\n",
			what, t->n, f->p[0] * 1e6, f->se[0] * 1e6, F / c / 1e12, F * f->se[2] / (c * c) / 1e12, W / (c * k) / 1e9, k,
			f->fixed ? "*" : " ", 100 * f->rms_rel, 100 * f->max_rel);
	} else {
		double B = prof_table_bytes_per_x(t), b = f->p[1];
		fprintf(o, "  %-34s %3d  latency %7.2f +- %-6.2g us  bandwidth %8.1f +- %-6.2g GB/s%s  rms %5.2f%%  max %5.2f%%\n",
			what, t->n, f->p[0] * 1e6, f->se[0] * 1e6, B / b / 1e9, B * f->se[1] / (b * b) / 1e9, f->fixed ? "*" : " ",
			100 * f->rms_rel, 100 * f->max_rel);
	}
}

static int cmd_fit(int argc, char **argv)
{
	const char **paths = calloc((size_t)argc + 1, sizeof *paths);
	const char *out = NULL, *name = NULL;
	char command[4096];
	int n = 0, force = 0, quiet = 0, rc = 0, held = 0;
	prof_profile *p = NULL;
	ms_error err;
	if (!paths) {
		fprintf(stderr, "moesim: out of memory\n");
		return CLI_EXIT_BAD_INPUT;
	}
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			fputs(usage_fit, stdout);
			goto done;
		} else if (strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0 || strcmp(s, "--name") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "moesim: %s needs a value\n", s);
				rc = CLI_EXIT_USAGE;
				goto done;
			}
			if (strcmp(s, "--name") == 0)
				name = argv[++i];
			else
				out = argv[++i];
		} else if (strcmp(s, "--force") == 0) {
			force = 1;
		} else if (strcmp(s, "-q") == 0 || strcmp(s, "--quiet") == 0) {
			quiet = 1;
		} else if (s[0] == '-' && s[1] != '\0') {
			fprintf(stderr, "moesim: unknown option '%s'\n%s", s, usage_fit);
			rc = CLI_EXIT_USAGE;
			goto done;
		} else {
			paths[n++] = s;
		}
	}
	if (n == 0 || !out) {
		fprintf(stderr, "moesim: calibrate fit needs %s\n%s", n == 0 ? "at least one PROFILE" : "-o OUT.cfg", usage_fit);
		rc = CLI_EXIT_USAGE;
		goto done;
	}
	ms_error_clear(&err);
	/* Refuse an existing output before reading and fitting. */
	if (ms_file_check(out, force, &err) < 0 ||
	    prof_profile_load(&p, paths, n, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	if (prof_profile_gpu(p)->has_peaks) {
		fprintf(stderr,
			"moesim: %s is a datasheet profile: it has no tables to fit (give it to a scenario beside the fitted "
			"profile: cluster.profile = \"%s,%s\")\n",
			prof_profile_gpu(p)->file, prof_profile_gpu(p)->file, out);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	if (prof_profile_fit_all(p, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	join_command("fit", argc, argv, command, sizeof command);
	{
		fit_job j = {p, name, command};
		if (write_output(out, force, write_fitted, &j, &err) < 0) {
			fprintf(stderr, "moesim: %s\n", err.msg);
			rc = CLI_EXIT_BAD_INPUT;
			goto done;
		}
	}
	if (!quiet) {
		printf("moesim calibrate fit: %s\n  %-34s %3s  fitted model (+- one standard error), relative residuals\n",
		       prof_profile_paths(p), "table", "pts");
		for (int i = 0; i < prof_profile_ntables(p); i++) {
			print_fit(stdout, prof_profile_table(p, i));
			held |= prof_profile_table(p, i)->fit.fixed != 0;
		}
		if (held)
			printf("  * a parameter the table cannot determine was held (see `held` in the output)\n");
		printf("  written %s\n", out);
	}
done:
	prof_profile_destroy(p);
	free(paths);
	return rc;
}

/* --- import-nccl-tests ----------------------------------------------------------------- */

typedef struct import_job {
	const prof_nccl *r;
	const char *source, *command;
} import_job;

static int write_imported(FILE *f, const void *what, ms_error *err)
{
	const import_job *j = what;
	return prof_nccl_write(j->r, f, j->source, j->command, err);
}

static int cmd_import(int argc, char **argv)
{
	const char *file = NULL, *out = NULL;
	char command[4096];
	int force = 0, quiet = 0, rc;
	prof_nccl_opts o = {0, -1, 0, 0};
	prof_nccl *r;
	ms_error err;
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
			fputs(usage_import, stdout);
			return 0;
		} else if (strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0 || strcmp(s, "--ranks") == 0 ||
			   strcmp(s, "--scope") == 0) {
			const char *v;
			if (i + 1 >= argc) {
				fprintf(stderr, "moesim: %s needs a value\n", s);
				return CLI_EXIT_USAGE;
			}
			v = argv[++i];
			if (strcmp(s, "--ranks") == 0) {
				char *end;
				long n = strtol(v, &end, 10);
				if (*v == '\0' || *end != '\0' || n < 1 || n > 1 << 24) {
					fprintf(stderr, "moesim: --ranks %s: expected a number of GPUs >= 1\n", v);
					return CLI_EXIT_USAGE;
				}
				o.ranks = (int)n;
			} else if (strcmp(s, "--scope") == 0) {
				if (strcmp(v, "intra_node") == 0) {
					o.scope = PROF_INTRA_NODE;
				} else if (strcmp(v, "inter_node") == 0) {
					o.scope = PROF_INTER_NODE;
				} else {
					fprintf(stderr, "moesim: --scope %s: expected intra_node or inter_node\n", v);
					return CLI_EXIT_USAGE;
				}
			} else {
				out = v;
			}
		} else if (strcmp(s, "--force") == 0) {
			force = 1;
		} else if (strcmp(s, "--in-place") == 0) {
			o.in_place = 1;
		} else if (strcmp(s, "-q") == 0 || strcmp(s, "--quiet") == 0) {
			quiet = 1;
		} else if (s[0] == '-' && s[1] != '\0') {
			fprintf(stderr, "moesim: unknown option '%s'\n%s", s, usage_import);
			return CLI_EXIT_USAGE;
		} else if (!file) {
			file = s;
		} else {
			fprintf(stderr, "moesim: more than one FILE given ('%s' and '%s'); import them one by one\n", file, s);
			return CLI_EXIT_USAGE;
		}
	}
	if (!file) {
		fprintf(stderr, "moesim: calibrate import-nccl-tests needs a FILE\n%s", usage_import);
		return CLI_EXIT_USAGE;
	}
	r = malloc(sizeof *r);
	if (!r) {
		fprintf(stderr, "moesim: out of memory\n");
		return CLI_EXIT_BAD_INPUT;
	}
	ms_error_clear(&err);
	join_command("import-nccl-tests", argc, argv, command, sizeof command);
	rc = 0;
	if (out) {
		if (ms_file_check(out, force, &err) < 0 || prof_nccl_read(file, &o, r, &err) < 0) {
			fprintf(stderr, "moesim: %s\n", err.msg);
			rc = CLI_EXIT_BAD_INPUT;
		} else {
			import_job j = {r, file, command};
			if (write_output(out, force, write_imported, &j, &err) < 0) {
				fprintf(stderr, "moesim: %s\n", err.msg);
				rc = CLI_EXIT_BAD_INPUT;
			}
		}
	} else if (prof_nccl_read(file, &o, r, &err) < 0 || prof_nccl_write(r, stdout, file, command, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
	}
	if (rc == 0 && !quiet) {
		prof_fit f;
		double x[PROF_MAX_POINTS], t[PROF_MAX_POINTS];
		FILE *o2 = out ? stdout : stderr; /* keep standard output a clean profile */
		for (int i = 0; i < r->n; i++)
			x[i] = r->bytes[i], t[i] = r->time_us[i] * 1e-6;
		fprintf(o2, "moesim calibrate import-nccl-tests: %s (%s%s%s): %d sizes, %.0f .. %.0f bytes per rank, %d ranks on %d node%s (%s)\n",
			file, r->json ? "JSON" : "text", r->program[0] ? ", " : "", r->program, r->n, r->bytes[0],
			r->bytes[r->n - 1], r->ranks, r->nodes, r->nodes == 1 ? "" : "s", prof_scope_name(r->scope));
		ms_error_clear(&err);
		if (prof_fit_table(PROF_MODEL_LATBW, x, t, r->n, &f, file, &err) == MS_OK)
			fprintf(o2, "  latency %.2f us, bandwidth %.1f GB/s (busbw %.1f GB/s), rms residual %.2f%%\n",
				f.p[0] * 1e6, 1.0 / f.p[1] / 1e9, 1.0 / f.p[1] / 1e9 * (r->ranks - 1.0) / r->ranks,
				100 * f.rms_rel);
		if (out)
			fprintf(o2, "  written %s\n", out);
	}
	free(r);
	return rc;
}

/* --- compare ------------------------------------------------------------------------------ */

static int cmd_compare(int argc, char **argv)
{
	const char *log = NULL, *algo_name = NULL;
	char **rest = calloc((size_t)argc + 1, sizeof *rest);
	int nrest = 0, rc = 0, algo, worst = 0;
	prof_nccl_opts o = {0, -1, 0, 1};
	prof_nccl *r = NULL;
	scn_scenario *s = NULL;
	cli_coll_pred *p = NULL;
	cli_args a;
	double sum_abs = 0, worst_err = 0;
	ms_error err;
	if (!rest) {
		fprintf(stderr, "moesim: out of memory\n");
		return CLI_EXIT_BAD_INPUT;
	}
	for (int i = 0; i < argc; i++) {
		const char *v = argv[i];
		if (strcmp(v, "--help") == 0 || strcmp(v, "-h") == 0) {
			fputs(usage_compare, stdout);
			goto done;
		} else if (strcmp(v, "--algo") == 0 || strcmp(v, "--ranks") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "moesim: %s needs a value\n%s", v, usage_compare);
				rc = CLI_EXIT_USAGE;
				goto done;
			}
			if (strcmp(v, "--algo") == 0) {
				algo_name = argv[++i];
			} else {
				char *end;
				long n = strtol(argv[++i], &end, 10);
				if (*argv[i] == '\0' || *end != '\0' || n < 2 || n > 1 << 20) {
					fprintf(stderr, "moesim: --ranks %s: expected a number of GPUs >= 2\n", argv[i]);
					rc = CLI_EXIT_USAGE;
					goto done;
				}
				o.ranks = (int)n;
			}
		} else if (strcmp(v, "--in-place") == 0) {
			o.in_place = 1;
		} else if (!log && v[0] != '-') {
			log = v;
		} else {
			rest[nrest++] = argv[i];
			if ((strcmp(v, "--set") == 0) && i + 1 < argc)
				rest[nrest++] = argv[++i];
		}
	}
	if (!log) {
		fprintf(stderr, "moesim: calibrate compare needs a LOG (nccl-tests output)\n%s", usage_compare);
		rc = CLI_EXIT_USAGE;
		goto done;
	}
	if ((rc = cli_parse_args(nrest, rest, &a, 0, usage_compare)) != 0)
		goto done;
	r = malloc(sizeof *r);
	s = malloc(sizeof *s);
	if (!r || !s) {
		fprintf(stderr, "moesim: out of memory\n");
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	ms_error_clear(&err);
	if (prof_nccl_read(log, &o, r, &err) < 0 || scn_scenario_load(s, a.scenario, &a.ov, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	algo = cli_coll_default_algo(r->collective);
	if (algo_name && cli_coll_parse_algo(r->collective, algo_name, &algo) < 0) {
		fprintf(stderr, "moesim: --algo %s: not an algorithm for %s (%s)\n", algo_name,
			prof_nccl_coll_name(r->collective),
			r->collective == PROF_NCCL_ALLTOALL ? "nccl, flat, pairwise, hierarchical"
			: r->collective == PROF_NCCL_ALLREDUCE ? "ring, tree"
							       : "ring");
		rc = CLI_EXIT_USAGE;
		goto done;
	}
	{
		int world = s->cluster.nodes * s->cluster.gpus_per_node;
		if (r->ranks > world) {
			fprintf(stderr,
				"moesim: %s ran on %d GPUs (%d node%s) but the cluster of %s has %d: give a cluster as large "
				"(e.g. --set cluster.nodes=%d)\n",
				log, r->ranks, r->nodes, r->nodes == 1 ? "" : "s", s->source, world,
				(r->ranks + s->cluster.gpus_per_node - 1) / s->cluster.gpus_per_node);
			rc = CLI_EXIT_BAD_INPUT;
			goto done;
		}
	}
	if (cli_coll_pred_open(&p, s, r->collective, algo, r->ranks, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	{
		const topo_graph *g = cli_coll_pred_graph(p);
		int span = (r->ranks + g->spec.gpus_per_node - 1) / g->spec.gpus_per_node;
		printf("moesim calibrate compare: %s (%s, %s%s%s, %d ranks on %d node%s) against %s\n", log,
		       prof_nccl_coll_program(r->collective), r->columns, r->gpu[0] ? ", " : "", r->gpu, r->ranks, r->nodes,
		       r->nodes == 1 ? "" : "s", s->source);
		printf("  predicted: %s, %s algorithm, flow-level network model, GPUs 0-%d (%d node%s of %s)\n",
		       prof_nccl_coll_name(r->collective), cli_coll_algo_name(r->collective, algo), r->ranks - 1, span,
		       span == 1 ? "" : "s", cli_coll_gpu_label(s));
		if (span != r->nodes)
			printf("  note: the log spans %d node%s, the prediction %d (gpus_per_node = %d)\n", r->nodes,
			       r->nodes == 1 ? "" : "s", span, g->spec.gpus_per_node);
	}
	printf("  %12s  %12s  %12s  %8s\n", "size (B)", "measured us", "predicted us", "error");
	for (int i = 0; i < r->n; i++) {
		double t, e;
		if (cli_coll_predict(p, r->bytes[i], &t, &err) < 0) {
			fprintf(stderr, "moesim: %s\n", err.msg);
			rc = CLI_EXIT_BAD_INPUT;
			goto done;
		}
		e = 100 * (t * 1e6 - r->time_us[i]) / r->time_us[i];
		printf("  %12.0f  %12.2f  %12.2f  %+7.1f%%\n", r->bytes[i], r->time_us[i], t * 1e6, e);
		sum_abs += fabs(e);
		if (fabs(e) > fabs(worst_err)) {
			worst_err = e;
			worst = i;
		}
	}
	printf("  mean absolute error %.1f%% over %d sizes; worst %+.1f%% at %.0f bytes (measured %.2f us)\n",
	       sum_abs / r->n, r->n, worst_err, r->bytes[worst], r->time_us[worst]);
done:
	cli_coll_pred_close(p);
	free(s);
	free(r);
	free(rest);
	return rc;
}

int cli_cmd_calibrate(int argc, char **argv)
{
	if (argc < 1) {
		fputs(usage_calibrate, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		fputs(usage_calibrate, stdout);
		return 0;
	}
	if (strcmp(argv[0], "fit") == 0)
		return cmd_fit(argc - 1, argv + 1);
	if (strcmp(argv[0], "import-nccl-tests") == 0)
		return cmd_import(argc - 1, argv + 1);
	if (strcmp(argv[0], "compare") == 0)
		return cmd_compare(argc - 1, argv + 1);
	fprintf(stderr, "moesim: unknown calibrate command '%s'; use fit, import-nccl-tests or compare\n%s", argv[0],
		usage_calibrate);
	return CLI_EXIT_USAGE;
}
