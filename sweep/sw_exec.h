/*
 * sw_exec.h - running sweep points, each in a process of its own.
 *
 * A point runs in a child forked for it (sw_point_run), which writes its record
 * (sw_record.h) to a pipe and exits. A process per point isolates what one point does
 * from the rest: memory it takes is given back when it ends, and a point that crashes
 * or is killed (signal, out of memory) becomes a "failed" record naming the signal
 * instead of taking the sweep down. Threads in one process were the alternative:
 * cheaper to start (a fork costs about a millisecond, a point of the benchmark tens of
 * them, docs/benchmarks.md), but neither HDF5 (Debian's build is not thread-safe) nor a
 * crash would allow it.
 *
 * The local scheduler keeps up to `jobs` children running, handing the next point to
 * whichever slot frees first, so slow points do not hold up the rest. Which child ends
 * first does not matter: records are keyed by their point, and the table is written in
 * point order.
 */
#ifndef SW_EXEC_H
#define SW_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sweep/sw_point.h"

typedef struct sw_child {
	pid_t pid;
	int fd;        /* read end of the record's pipe; -1 when closed */
	int64_t point;
	char *buf;     /* the record's text so far */
	size_t n;
} sw_child;

/* Forks the child for point i. */
int sw_child_start(sw_child *c, const sw_spec *sp, int64_t i, const sw_run_opts *o, ms_error *err);

/* Reads what the child has written; 1 when it has closed the pipe, 0 when more may come. */
int sw_child_read(sw_child *c);

/* Waits for the child and turns what it wrote (or how it died) into *rec. */
void sw_child_finish(sw_child *c, uint64_t id, sw_record *rec);

/* Stops a child that has not finished (SIGKILL) and reaps it. */
void sw_child_kill(sw_child *c);

/* Called with each finished record; a negative return stops the sweep with that error. */
typedef int (*sw_done_fn)(void *ctx, const sw_record *rec, ms_error *err);

/* Runs points todo[0 .. n) on up to `jobs` children at once. */
int sw_exec_local(const sw_spec *sp, const int64_t *todo, int64_t n, int jobs, const sw_run_opts *o, sw_done_fn done,
		  void *ctx, ms_error *err);

#endif
