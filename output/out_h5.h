/*
 * out_h5.h - the HDF5 results file (`moesim run -o FILE.h5`). It reads a finished
 * sim_result, the scenario and the summary's figures; it changes none of them. The
 * schema is documented in docs/output-format.md.
 */
#ifndef OUT_H5_H
#define OUT_H5_H

#include "common/ms_error.h"
#include "output/out_report.h"
#include "scenario/scn_scenario.h"
#include "sim/sim_run.h"
#include "sim/sim_timeline.h"

/* Writes the HDF5 file atomically (temporary name, then rename). */
int out_h5_write(const char *path, int force, const scn_scenario *s, const sim_result *r, const out_summary *o,
		 ms_error *err);

/* The same with the run's recorded timeline as /timeline (events NULL: none). */
int out_h5_write_events(const char *path, int force, const scn_scenario *s, const sim_result *r, const out_summary *o,
			const sim_timeline *events, ms_error *err);

#endif
