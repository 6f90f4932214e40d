/* sim_inputs.c - opening a run's profile and trace once (see sim_inputs.h). */
#include "sim/sim_inputs.h"

#include <string.h>

#include "profile/prof_scenario.h"

int sim_inputs_open(sim_inputs *in, const scn_scenario *s, const ms_warn *warn, ms_error *err)
{
	int rc;
	memset(in, 0, sizeof *in);
	in->s = s;
	if (s->cluster.profile[0] && (rc = prof_profile_load_scenario(s, &in->profile, err)) < 0)
		return rc;
	if (s->routing.source == SCN_SRC_TRACE && !(in->trace = rt_trace_open(s, warn, err))) {
		sim_inputs_close(in);
		return err->code ? err->code : MS_ENOMEM;
	}
	return MS_OK;
}

void sim_inputs_close(sim_inputs *in)
{
	prof_profile_destroy(in->profile);
	rt_trace_close(in->trace);
	in->profile = NULL;
	in->trace = NULL;
}
