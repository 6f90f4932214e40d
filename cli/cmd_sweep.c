/*
 * cmd_sweep.c - moesim sweep: every point of a scenario's sweep section, run in
 * parallel (-j N processes, or MPI ranks under mpirun), kept point by point in the
 * sweep's directory so that an interrupted sweep continues where it stopped, and
 * compared in one table (sweep/sw_table.h; docs/sweeps.md).
 *
 * Order: read the sweep (errors: exit 1 with file:line); open the directory (refusing
 * another sweep's); take the points already on disk; check the rest (scenario rules,
 * layout, memory: cheap, in this process) and keep the refused and unfit ones as
 * records; run the rest; write the table (CSV, HDF5) once every point is done; print
 * the comparison.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/ms_progress.h"
#include "sweep/sw_exec.h"
#include "sweep/sw_mpi.h"
#include "sweep/sw_store.h"
#include "sweep/sw_table.h"

static const char usage_sweep[] =
	"usage: moesim sweep SCENARIO [-j N] [-o DIR] [--set section.key=value]... [--force]\n"
	"                    [--force-large] [--allow-memory-overflow] [-q]\n"
	"       mpirun -n N moesim sweep SCENARIO ...\n"
	"\n"
	"Runs every point the scenario's sweep section crosses (docs/sweeps.md) and prints them\n"
	"ranked by throughput per GPU, the Pareto-best (throughput, drops, GPUs or cost) marked,\n"
	"and the points that were refused or do not fit with the reason. Writes DIR/results.csv\n"
	"and DIR/results.h5 (one row per point, every input and output) and keeps each point in\n"
	"DIR/points/, so a sweep that was stopped continues where it stopped when run again.\n"
	"\n"
	"  -j N         run N points at once, each in a process of its own (default: the CPUs)\n"
	"  -o DIR       the sweep's directory (default: SCENARIO's name without .cfg, plus .sweep)\n"
	"  --set K=V    override a value of every point (not a swept key)\n"
	"  --force      start again in a DIR that holds another sweep's results\n"
	"  --force-large  run points the up-front size estimate refuses\n"
	"  --allow-memory-overflow  run points that do not fit the GPUs' memory\n"
	"  -q           print only errors\n"
	"\n"
	"Under mpirun rank 0 keeps DIR and hands points to the other ranks as they ask\n"
	"(Open MPI; --allow-run-as-root and --oversubscribe where needed).\n";

typedef struct sweep_ctx {
	const sw_store *st;
	sw_record *rec;
	int64_t done, total, failed;
	ms_progress prog;
} sweep_ctx;

static int on_done(void *ctx, const sw_record *rec, ms_error *err)
{
	sweep_ctx *c = ctx;
	char detail[64];
	if (sw_store_put(c->st, rec, err) < 0)
		return err->code;
	c->rec[rec->point] = *rec;
	c->done++;
	if (rec->status != SW_OK)
		c->failed++;
	snprintf(detail, sizeof detail, "%lld not run", (long long)c->failed);
	ms_progress_update(&c->prog, c->done, detail);
	return MS_OK;
}

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* Every point refused for the same reason is the scenario's error, not a sweep result. */
static int all_refused_alike(const sw_record *rec, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		if (rec[i].status != SW_REFUSED || strcmp(rec[i].reason, rec[0].reason) != 0)
			return 0;
	return n > 0;
}

/* Prints each distinct warning once. */
static void print_warnings(const sw_record *rec, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		int seen = 0;
		if (!rec[i].warning[0])
			continue;
		for (int64_t j = 0; j < i && !seen; j++)
			seen = strcmp(rec[j].warning, rec[i].warning) == 0;
		if (!seen)
			fprintf(stderr, "moesim: warning: %s (point %lld and any others alike)\n", rec[i].warning, (long long)i);
	}
}

/* Rank 0 or a local sweep: everything but running the points, which `run` does. */
static int master(const cli_args *a, const sw_spec *sp, const sw_run_opts *o, int mpi_size)
{
	sw_store st;
	sw_record *rec = NULL, chk;
	int64_t *todo = NULL, ntodo = 0, earlier = 0;
	int8_t *have = NULL;
	sweep_ctx ctx;
	sw_table t;
	ms_error err;
	char dir[SW_DIR_MAX], path[SW_DIR_MAX + 32];
	int rc = 0, jobs = a->jobs ? a->jobs : online_cpus();
	ms_error_clear(&err);
	if (a->out)
		snprintf(dir, sizeof dir, "%s", a->out);
	else
		sw_store_default_dir(sp->path, dir, sizeof dir);
	rec = calloc((size_t)sp->npoints, sizeof *rec);
	todo = calloc((size_t)sp->npoints, sizeof *todo);
	have = calloc((size_t)sp->npoints, 1);
	if (!rec || !todo || !have) {
		fprintf(stderr, "moesim: out of memory for %lld sweep points\n", (long long)sp->npoints);
		rc = CLI_EXIT_BAD_INPUT;
		goto stop;
	}
	if (sw_store_open(&st, dir, sp, a->force, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto stop;
	}
	for (int64_t i = 0; i < sp->npoints; i++) {
		int g = sw_store_get(&st, i, &rec[i], &err);
		if (g < 0) {
			fprintf(stderr, "moesim: %s\n", err.msg);
			rc = CLI_EXIT_BAD_INPUT;
			goto stop;
		}
		have[i] = (int8_t)g;
		earlier += g;
	}
	/* The quick pass: refused and unfit points are known without running them. */
	for (int64_t i = 0; i < sp->npoints; i++) {
		if (have[i])
			continue;
		if (sw_point_check(sp, i, o, &chk))
			todo[ntodo++] = i;
		else
			rec[i] = chk;
	}
	if (earlier == 0 && all_refused_alike(rec, sp->npoints)) {
		fprintf(stderr, "moesim: %s (every point of the sweep)\n", rec[0].reason);
		sw_store_discard(&st);
		rc = CLI_EXIT_BAD_INPUT;
		goto stop;
	}
	for (int64_t i = 0; i < sp->npoints; i++)
		if (!have[i] && rec[i].status != SW_OK && sw_store_put(&st, &rec[i], &err) < 0) {
			fprintf(stderr, "moesim: %s\n", err.msg);
			rc = CLI_EXIT_BAD_INPUT;
			goto stop;
		}
	ctx = (sweep_ctx){&st, rec, sp->npoints - ntodo, sp->npoints, 0, {0}};
	for (int64_t i = 0; i < sp->npoints; i++)
		ctx.failed += rec[i].status != SW_OK; /* the points still to run are zeroed: ok */
	if (!a->quiet)
		cli_set_interrupt_note("\nmoesim: sweep interrupted: every finished point is kept; run the same command "
				       "again to continue\n");
	ms_progress_init(&ctx.prog, a->quiet ? NULL : stderr, "moesim sweep", sp->npoints);
	ms_progress_update(&ctx.prog, ctx.done, NULL);
	if (mpi_size > 1)
		rc = sw_mpi_master(todo, ntodo, mpi_size, sp->id, on_done, &ctx, &err);
	else
		rc = sw_exec_local(sp, todo, ntodo, jobs, o, on_done, &ctx, &err);
	mpi_size = 0; /* the workers have been told to stop */
	ms_progress_end(&ctx.prog);
	cli_set_interrupt_note(NULL);
	if (rc < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	if (sw_table_init(&t, sp, rec, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
		goto done;
	}
	if (sw_table_write_csv(&t, sw_store_path(&st, "results.csv", path, sizeof path), &err) < 0 ||
	    sw_table_write_h5(&t, sw_store_path(&st, "results.h5", path, sizeof path), &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		rc = CLI_EXIT_BAD_INPUT;
	} else if (!a->quiet) {
		sw_table_print(stdout, &t, 30);
		printf("\n  %lld of %lld points from an earlier run; written %s/results.csv, %s/results.h5\n",
		       (long long)earlier, (long long)sp->npoints, dir, dir);
	}
	print_warnings(rec, sp->npoints);
	sw_table_fini(&t);
	goto done;
stop:
	if (mpi_size > 1)
		sw_mpi_master(NULL, 0, mpi_size, sp->id, on_done, NULL, &err);
done:
	free(rec);
	free(todo);
	free(have);
	return rc;
}

int cli_cmd_sweep(int argc, char **argv)
{
	cli_args a;
	sw_spec sp;
	sw_run_opts o = {0, -1, 0, 0};
	ms_error err;
	int rc, rank = 0, size = 1, mpi = sw_mpi_world() > 1, threads;
	rc = cli_parse_args(argc, argv, &a, CLI_ALLOW_OUTPUT | CLI_ALLOW_LARGE | CLI_ALLOW_JOBS, usage_sweep);
	if (rc)
		return rc;
	if (a.help) {
		fputs(usage_sweep, stdout);
		return 0;
	}
	if (!a.scenario) {
		fprintf(stderr, "moesim: sweep needs a SCENARIO file with a sweep section\n%s", usage_sweep);
		return CLI_EXIT_USAGE;
	}
	ms_error_clear(&err);
	if (mpi && sw_mpi_init(&rank, &size, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return CLI_EXIT_BAD_INPUT;
	}
	if ((rc = cli_threads(&threads)) != 0 || (rc = cli_memory_available(&o.mem_avail_bytes)) != 0)
		goto out;
	{
		/* Each point's routing threads and memory: the machine's shared among the points at once. */
		int jobs = mpi ? 1 : (a.jobs ? a.jobs : online_cpus());
		o.threads = threads ? threads : (online_cpus() / jobs > 0 ? online_cpus() / jobs : 1);
		if (o.mem_avail_bytes > 0)
			o.mem_avail_bytes /= jobs;
	}
	o.force_large = a.force_large;
	o.allow_memory_overflow = a.allow_memory_overflow;
	{
		int ok = sw_spec_load(&sp, a.scenario, &a.ov, &err) == MS_OK, root_ok = ok;
		/* Under mpirun every rank must have the sweep, or none runs it; rank 0 speaks for
		 * all, a worker only when it alone failed (a file missing on its machine). */
		if (mpi && !sw_mpi_all_ok(ok, &root_ok) && ok) {
			if (rank == 0)
				fprintf(stderr, "moesim: a rank could not read the sweep (its message above)\n");
			sw_spec_fini(&sp);
			ok = 0;
		} else if (!ok && rank == 0) {
			fprintf(stderr, "moesim: %s\n", err.msg);
		} else if (!ok && root_ok) {
			fprintf(stderr, "moesim: rank %d: %s\n", rank, err.msg);
		}
		if (!ok) {
			rc = CLI_EXIT_BAD_INPUT;
			goto out;
		}
	}
	if (rank == 0)
		rc = master(&a, &sp, &o, size);
	else if (sw_mpi_worker(&sp, &o, &err) < 0) {
		fprintf(stderr, "moesim: rank %d: %s\n", rank, err.msg);
		rc = CLI_EXIT_BAD_INPUT;
	}
	sw_spec_fini(&sp);
out:
	if (mpi)
		sw_mpi_finalize();
	return rc;
}
