/*
 * sw_point.h - runs one sweep point in the calling process, as `moesim run` runs a
 * scenario: load (the point's values over the file), the layout and memory check
 * (sim_estimate_fits), the inputs, the size estimate, the run, the summary; whatever
 * stops it becomes the record's status and reason, never an exit. The caller isolates
 * it in a process of its own (sw_exec.h).
 */
#ifndef SW_POINT_H
#define SW_POINT_H

#include "sweep/sw_record.h"
#include "sweep/sw_spec.h"

typedef struct sw_run_opts {
	int threads;               /* routing threads of one run (0: the online CPUs) */
	double mem_avail_bytes;    /* what one run may use (< 0: not checked) */
	int force_large;           /* skip the size estimate's refusal */
	int allow_memory_overflow; /* run points that do not fit the GPUs' memory */
} sw_run_opts;

/* Runs point i of sp into *rec (sw_record_init'ed here). */
void sw_point_run(const sw_spec *sp, int64_t i, const sw_run_opts *o, sw_record *rec);

/* Only loads and checks point i (no run): 1 when it may run; 0 when rec now says why
 * not (refused or unfit, its static outputs filled). For the master's quick pass. */
int sw_point_check(const sw_spec *sp, int64_t i, const sw_run_opts *o, sw_record *rec);

#endif
