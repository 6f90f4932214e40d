/*
 * prof_nccl.h - imports the all-to-all measurements of nccl-tests (NVIDIA/nccl-tests,
 * alltoall_perf) into a profile: its text output (stdout) or its JSON output (-J FILE).
 *
 * nccl-tests reports, per size S (bytes each rank sends in total, S/n to every rank),
 * the mean time of its iterations and two bandwidths (doc/PERFORMANCE.md): algbw = S /
 * time, and for all-to-all busbw = algbw x (n - 1) / n. The import keeps the time and
 * recomputes both bandwidths from it, as cal_alltoall does; it checks the file's busbw
 * against that rule, which also catches the output of another collective
 * (all_reduce_perf's busbw is algbw x 2(n-1)/n).
 *
 * Ranks and scope come from the file's device list ("#  Rank 3 Group 0 Pid ... on HOST
 * device 3 [...] GPU NAME", or config.devices in JSON): ranks = GPUs listed, scope =
 * inter_node when they span more than one host. --ranks and --scope supply them when
 * the file does not, and must agree with it when it does.
 *
 * With opts.any the reader also takes all_reduce_perf, all_gather_perf and
 * reduce_scatter_perf output (for `moesim calibrate compare`), checking busbw against
 * that collective's factor; prof_nccl_write still writes an alltoall table only.
 */
#ifndef PROF_NCCL_H
#define PROF_NCCL_H

#include <stdio.h>

#include "common/ms_error.h"
#include "profile/prof_fit.h"
#include "profile/prof_profile.h"

/* The collectives whose nccl-tests output is understood, and their busbw factors
 * (nccl-tests doc/PERFORMANCE.md): alltoall, all-gather and reduce-scatter (n-1)/n,
 * all-reduce 2(n-1)/n. */
typedef enum {
	PROF_NCCL_ALLTOALL,
	PROF_NCCL_ALLREDUCE,
	PROF_NCCL_ALLGATHER,
	PROF_NCCL_REDUCESCATTER,
	PROF_NCCL_COLLECTIVES
} prof_nccl_coll;

const char *prof_nccl_coll_name(prof_nccl_coll c);    /* "alltoall", "allreduce", ... */
const char *prof_nccl_coll_program(prof_nccl_coll c); /* "alltoall_perf", "all_reduce_perf", ... */
double prof_nccl_busbw_factor(prof_nccl_coll c, int ranks);

typedef struct prof_nccl_opts {
	int ranks;    /* 0: from the file */
	int scope;    /* -1: from the file; else a prof_scope */
	int in_place; /* 1: the in-place columns instead of out-of-place */
	int any;      /* 0: alltoall_perf output only (the importer); 1: any collective above, from
			 the file's program name or, without one, its busbw / algbw ratio */
} prof_nccl_opts;

typedef struct prof_nccl {
	int json;              /* 1: read from -J output */
	char program[64];      /* "alltoall_perf", or "" if the file does not say */
	char version[32];      /* nccl-tests version, or "" */
	char nccl[32];         /* NCCL version, or "" */
	char gpu[256];         /* device name of rank 0, or "" */
	char hosts[512];       /* distinct host names, ", "-separated, or "" */
	char date[64];         /* JSON start_time, or "" */
	char command[1024];    /* JSON args, or "" */
	int ranks, nodes;
	prof_nccl_coll collective;
	prof_scope scope;
	int iters, warmup;     /* 0 when unknown */
	double avg_busbw_GBps; /* the file's "Avg bus bandwidth", -1 when absent */
	const char *columns;   /* "out_of_place" or "in_place" */
	int n;                 /* distinct sizes */
	double bytes[PROF_MAX_POINTS];
	double time_us[PROF_MAX_POINTS]; /* the median over rows of that size */
	int rows[PROF_MAX_POINTS];       /* rows merged into each size (several -d types or -N cycles) */
} prof_nccl;

/*
 * Reads path (text or JSON, told apart by the first character) into *r. A malformed
 * file gives a message naming path:line and what is wrong.
 */
int prof_nccl_read(const char *path, const prof_nccl_opts *o, prof_nccl *r, ms_error *err);

/* Writes r as a profile with one `alltoall` table; source_path and command go into
 * its provenance. Returns MS_EIO on a write error. */
int prof_nccl_write(const prof_nccl *r, FILE *f, const char *source_path, const char *command, ms_error *err);

#endif
