/*
 * bench_scale.c - issue 13's whole-run scale targets (docs/benchmarks.md, "Scale
 * (issue 13)"), each case in a child process of its own, so that each has its own peak
 * RSS and is stopped at the time limit ("> LIMIT s (stopped)") instead of holding up
 * `make bench`:
 *
 *   ll    DeepEP low-latency dispatch + combine of one MoE layer (scenarios/
 *         deepseek-v3-decode.cfg with one MoE layer, no dense layer, no redundant
 *         experts; 256 sequences per GPU, top-8, flow model): 128 GPUs exact and with
 *         network.batch_window 1e-3 and 1e-2 (their error against exact), 256 GPUs
 *         (about 65,000 flows per collective) with both windows, and exact with --full
 *         (minutes). Target: the 256-GPU dispatch in under 1 s.
 *   step  one training step of scenarios/deepseek-v3-train.cfg (2,048 H800, PP 16,
 *         EP 64, DP 128, 120 micro-batches) at flow level with a 1e-2 batching window;
 *         2 of the 120 micro-batches (workload.global_batch=256) exact and windowed for
 *         the window's error, 4 windowed. Target: under 30 s and 4 GiB. The whole step
 *         only with --full (otherwise estimated on the line through 2 and 4 micro-batches).
 *
 * Every row prints the flow solver's work over the run (sim_result.net_*: re-solves,
 * flows re-solved, flows whose rate moved), the wall time of sim_run_scenario (not the
 * scenario's loading) and the child's peak RSS (getrusage, whole process).
 *
 *   usage: bench_scale [--full] [--threads N] [--limit SECONDS] [ll|step]...
 *   (from the repository root; --threads 1 by default, the one-core number;
 *   pin the cores with taskset)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"

/* What a child reports back through its pipe. */
typedef struct outcome {
	int ok; /* 1: ran; 0: failed (msg says why) */
	double wall_s, rss_mib;
	double dispatch_s, combine_s, step_s;
	uint64_t events, solves, resolved, changed;
	char msg[MS_ERROR_MSG_MAX];
} outcome;

/* A case: a scenario, its --set items, its targets (0: none) and whether it runs only with --full. */
typedef struct bcase {
	const char *label, *path;
	const char *set[8];
	double target_s, target_gib;
	int full_only;
} bcase;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* In the child: loads and runs the case, fills *o. */
static void run_case(const bcase *c, int threads, outcome *o)
{
	scn_scenario *s = malloc(sizeof *s);
	scn_overrides ov = {0, {NULL}};
	sim_result *r = NULL;
	struct rusage ru;
	ms_error err;
	double t0;
	ms_error_clear(&err);
	while (ov.n < 8 && c->set[ov.n]) {
		ov.items[ov.n] = c->set[ov.n];
		ov.n++;
	}
	if (!s || scn_scenario_load(s, c->path, &ov, &err) < 0 ||
	    (t0 = now_s(), sim_run_scenario(s, threads, &r, &err)) < 0) {
		snprintf(o->msg, sizeof o->msg, "%s", s ? err.msg : "out of memory");
		free(s);
		return;
	}
	o->wall_s = now_s() - t0;
	getrusage(RUSAGE_SELF, &ru);
	o->rss_mib = ru.ru_maxrss / 1024.0;
	o->dispatch_s = r->dispatch_s[0];
	o->combine_s = r->combine_s[0];
	o->step_s = r->step_time_s[0];
	o->events = r->events;
	o->solves = r->net_solves;
	o->resolved = r->net_resolved;
	o->changed = r->net_changed;
	o->ok = 1;
	sim_result_free(r);
	free(s);
}

/*
 * Runs the case in a child, stopped after limit_s. Returns 1 if it ran, 0 if it was
 * stopped (*o untouched but for wall_s = the limit), -1 if it failed (o->msg).
 */
static int spawn(const bcase *c, int threads, double limit_s, outcome *o)
{
	int fd[2], st = 0;
	pid_t pid;
	double deadline;
	memset(o, 0, sizeof *o);
	fflush(stdout);
	if (pipe(fd) < 0 || (pid = fork()) < 0) {
		snprintf(o->msg, sizeof o->msg, "cannot start a child: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(fd[0]);
		run_case(c, threads, o);
		/* an outcome is smaller than PIPE_BUF: one write, never split or blocked */
		_exit(write(fd[1], o, sizeof *o) == (ssize_t)sizeof *o ? 0 : 1);
	}
	close(fd[1]);
	deadline = now_s() + limit_s;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			snprintf(o->msg, sizeof o->msg, "waitpid: %s", strerror(errno));
			close(fd[0]);
			return -1;
		}
		if (now_s() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			close(fd[0]);
			o->wall_s = limit_s;
			return 0;
		}
		nanosleep(&(struct timespec){0, 20000000}, NULL);
	}
	if (read(fd[0], o, sizeof *o) != (ssize_t)sizeof *o) {
		snprintf(o->msg, sizeof o->msg, "the child died (status %d) without a result", st);
		o->ok = 0;
	}
	close(fd[0]);
	return o->ok ? 1 : -1;
}

static const char *verdict(double measured, double target)
{
	return measured < target ? "met" : "not met";
}

/* Runs and prints one case; returns its outcome (ok = 0 if it did not run). */
static outcome row(const bcase *c, int threads, double limit_s)
{
	outcome o;
	int rc = spawn(c, threads, limit_s, &o);
	printf("  %-44s", c->label);
	if (rc == 0) {
		printf(" > %.0f s (stopped)%s\n", limit_s, c->target_s > 0 ? "   target: not met" : "");
		return o;
	}
	if (rc < 0) {
		printf(" failed: %s\n", o.msg);
		return o;
	}
	printf(" %8.2f s %6.0f MiB  dispatch %9.3f us  combine %9.3f us  step %10.3f ms\n", o.wall_s, o.rss_mib,
	       o.dispatch_s * 1e6, o.combine_s * 1e6, o.step_s * 1e3);
	printf("  %-44s %9llu solves %12llu re-solved %12llu changed %10llu events", "",
	       (unsigned long long)o.solves, (unsigned long long)o.resolved, (unsigned long long)o.changed,
	       (unsigned long long)o.events);
	if (c->target_s > 0)
		printf("   target %g s: %s", c->target_s, verdict(o.wall_s, c->target_s));
	if (c->target_gib > 0)
		printf(", %g GiB: %s", c->target_gib, verdict(o.rss_mib / 1024, c->target_gib));
	printf("\n");
	return o;
}

static void print_error(const char *what, outcome a, outcome e)
{
	if (a.ok && e.ok)
		printf("  %s against exact: dispatch %+.3f %%, combine %+.3f %%, step %+.3f %%, %.1fx faster\n", what,
		       (a.dispatch_s / e.dispatch_s - 1) * 100, (a.combine_s / e.combine_s - 1) * 100,
		       (a.step_s / e.step_s - 1) * 100, e.wall_s / a.wall_s);
}

#define LL(nodes, ep) "model.moe_layers=1", "model.dense_layers=0", "cluster.nodes=" nodes, "parallel.ep=" ep, \
		      "routing.redundant_experts=0"
static const char DECODE[] = "scenarios/deepseek-v3-decode.cfg";
static const char TRAIN[] = "scenarios/deepseek-v3-train.cfg";

static void bench_ll(int full, int threads, double limit_s)
{
	static const bcase c128[] = {
		{"128 GPUs, exact", DECODE, {LL("16", "128"), NULL}, 0, 0, 0},
		{"128 GPUs, window 1e-3", DECODE, {LL("16", "128"), "network.batch_window=1e-3", NULL}, 0, 0, 0},
		{"128 GPUs, window 1e-2", DECODE, {LL("16", "128"), "network.batch_window=1e-2", NULL}, 0, 0, 0},
	};
	static const bcase c256[] = {
		{"256 GPUs, exact", DECODE, {LL("32", "256"), NULL}, 1, 0, 1},
		{"256 GPUs, window 1e-3", DECODE, {LL("32", "256"), "network.batch_window=1e-3", NULL}, 1, 0, 0},
		{"256 GPUs, window 1e-2", DECODE, {LL("32", "256"), "network.batch_window=1e-2", NULL}, 1, 0, 0},
	};
	outcome o[3];
	printf("DeepEP low-latency dispatch + combine, one MoE layer, %d thread(s) (target: 256 GPUs < 1 s)\n",
	       threads);
	for (int i = 0; i < 3; i++)
		o[i] = row(&c128[i], threads, limit_s);
	print_error("128 GPUs, window 1e-3", o[1], o[0]);
	print_error("128 GPUs, window 1e-2", o[2], o[0]);
	memset(o, 0, sizeof o);
	for (int i = 0; i < 3; i++)
		if (full || !c256[i].full_only)
			o[i] = row(&c256[i], threads, limit_s);
		else
			printf("  %-44s (minutes: bench_scale --full)\n", c256[i].label);
	print_error("256 GPUs, window 1e-3", o[1], o[0]);
	print_error("256 GPUs, window 1e-2", o[2], o[0]);
}

static void bench_step(int full, int threads, double limit_s)
{
	static const bcase part[] = {
		{"2,048 GPUs, 2 of 120 micro-batches, exact", TRAIN,
		 {"network.model=flow", "workload.global_batch=256", NULL}, 0, 0, 0},
		{"2,048 GPUs, 2 of 120 micro-batches, 1e-2", TRAIN,
		 {"network.model=flow", "workload.global_batch=256", "network.batch_window=1e-2", NULL}, 0, 0, 0},
		{"2,048 GPUs, 4 of 120 micro-batches, 1e-2", TRAIN,
		 {"network.model=flow", "workload.global_batch=512", "network.batch_window=1e-2", NULL}, 0, 0, 0},
	};
	static const bcase whole = {"2,048 GPUs, the whole step, window 1e-2", TRAIN,
				    {"network.model=flow", "network.batch_window=1e-2", NULL}, 30, 4, 1};
	outcome o[3];
	printf("DeepSeek-V3 training step at flow level, %d thread(s) (target < 30 s, < 4 GiB)\n", threads);
	for (int i = 0; i < 3; i++)
		o[i] = row(&part[i], threads, limit_s);
	print_error("2 micro-batches, window 1e-2", o[1], o[0]);
	if (full) {
		row(&whole, threads, limit_s);
	} else if (o[1].ok && o[2].ok) {
		/* The routing samples and the program are built once; the micro-batches' flows
		 * grow with their count: the line through 2 and 4 micro-batches, at 120. */
		double t = o[1].wall_s + (o[2].wall_s - o[1].wall_s) / 2 * (120 - 2);
		printf("  %-44s ESTIMATE %.0f s (not run: the line through 2 and 4 micro-batches, at 120;"
		       " bench_scale --full step)   target 30 s: %s\n",
		       whole.label, t, verdict(t, 30));
	}
}

int main(int argc, char **argv)
{
	int full = 0, threads = 1, any = 0, ll = 0, step = 0;
	double limit_s = 600;
	setvbuf(stdout, NULL, _IOLBF, 0); /* rows appear as they finish, also in a file */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--full") == 0)
			full = 1;
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
			limit_s = atof(argv[++i]);
		else if (strcmp(argv[i], "ll") == 0)
			ll = any = 1;
		else if (strcmp(argv[i], "step") == 0)
			step = any = 1;
		else {
			fprintf(stderr, "usage: bench_scale [--full] [--threads N] [--limit SECONDS] [ll|step]...\n");
			return 2;
		}
	}
	if (threads < 1 || limit_s <= 0) {
		fprintf(stderr, "bench_scale: --threads wants a count >= 1 and --limit a positive number of seconds\n");
		return 2;
	}
	if (ll || !any)
		bench_ll(full, threads, limit_s);
	if (step || !any)
		bench_step(full, threads, limit_s);
	return 0;
}
