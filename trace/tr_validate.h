/*
 * tr_validate.h - full check of a router trace against docs/trace-format.md, for
 * `moesim trace validate` and for callers that want a trace proven sound before replay.
 *
 * Checks, each problem one line naming the file, the dataset and the index
 * ("trace.h5: /routing/expert_ids[3, 1207, 1] = 9 is out of range: num_experts = 8"):
 * the file opens as HDF5; every required root attribute has the right type, is a scalar
 * and has a valid value (`created` an ISO 8601 date-time); every dataset exists with the documented dtype (exactly: int16, float32, int32,
 * int64) and shape; ids in 0..E-1 and distinct within a token's list; scores finite,
 * within [0, 1] for softmax and sigmoid, non-increasing along the ranking for softmax;
 * logits finite and, when present, consistent with the scores (softmax over all experts
 * or sigmoid, relative tolerance 1e-4, absolute 1e-6); token ranks and positions >= 0,
 * domains < D, tokens strictly ordered by (step, rank, sequence, position); every block
 * readable (a truncated or corrupt chunk is reported, not crashed on).
 *
 * Streams the file in chunk-sized token blocks: memory O(chunk x (K + E)), independent
 * of T. Time O(L T (K + E)).
 */
#ifndef TR_VALIDATE_H
#define TR_VALIDATE_H

#include <stdint.h>

#include "common/ms_error.h"

/* Receives one problem: a full line without the newline. */
typedef void (*tr_problem_fn)(void *ctx, const char *msg);

/*
 * Validates the trace at path. Every problem is counted; the first max_report are passed
 * to report (which may be NULL). Returns the number of problems (0: valid), or a negative
 * MS_* code when validation itself could not run (out of memory), with err set.
 */
int64_t tr_validate(const char *path, tr_problem_fn report, void *ctx, int64_t max_report, ms_error *err);

#endif
