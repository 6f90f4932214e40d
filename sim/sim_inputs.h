/*
 * sim_inputs.h - the run's inputs, opened once by the run's setup and handed down: the
 * validated scenario (loaded by the caller), the calibration profile it names
 * (cluster.profile, parsed once) and the router trace it replays (routing.trace,
 * opened once). The compute model, the topology and the router borrow them; none of
 * them opens a file the scenario names.
 *
 * Warnings found while opening (a trace with fewer layers than the model, ...) go to
 * the channel the caller passes; the library prints nothing.
 */
#ifndef SIM_INPUTS_H
#define SIM_INPUTS_H

#include "common/ms_error.h"
#include "profile/prof_profile.h"
#include "routing/rt_trace.h"
#include "scenario/scn_scenario.h"

typedef struct sim_inputs {
	const scn_scenario *s;  /* borrowed: outlives the inputs */
	prof_profile *profile;  /* cluster.profile, or NULL when the scenario names none */
	rt_trace *trace;        /* routing.trace when routing.source = "trace", else NULL */
	/* What the run records beyond its summary (sim/sim_timeline.h), set by the caller
	 * after opening; NULL (as opened): nothing. */
	const struct sim_record *record;
} sim_inputs;

/* Opens what s names. On failure nothing stays open and err says which file and why. */
int sim_inputs_open(sim_inputs *in, const scn_scenario *s, const ms_warn *warn, ms_error *err);
void sim_inputs_close(sim_inputs *in);

#endif
