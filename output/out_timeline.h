/*
 * out_timeline.h - the run's event timeline as Chrome / Perfetto trace-event JSON
 * (`moesim run --timeline FILE.json`; docs/output-format.md, "The timeline"). It reads
 * the recorded timeline (sim/sim_timeline.h) and the result; it changes neither.
 */
#ifndef OUT_TIMELINE_H
#define OUT_TIMELINE_H

#include "common/ms_error.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"
#include "sim/sim_timeline.h"

/* Writes path atomically (temporary name, then rename); an existing file only with force. */
int out_timeline_write(const char *path, int force, const scn_scenario *s, const sim_result *r, const sim_timeline *tl,
		       ms_error *err);

/* Bytes of JSON per event the writer writes, about (for the estimate before the run). */
#define OUT_TIMELINE_BYTES_PER_EVENT 190.0

#endif
