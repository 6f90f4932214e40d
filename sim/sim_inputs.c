/* sim_inputs.c - opening a run's profile and trace once (see sim_inputs.h). */
#include "sim/sim_inputs.h"

#include <stdio.h>
#include <string.h>

#include "profile/prof_scenario.h"

/* The analytic bound takes the network core as non-blocking and has no algorithms: say so
 * when the scenario sets what it ignores, rather than giving three networks one answer. */
static void warn_analytic(const scn_scenario *s, const ms_warn *warn)
{
	static const char *const ignored[] = {"network.topology", "network.tiers", "network.oversubscription",
					      "network.switch_radix", "network.file", "network.ecmp",
					      "network.alltoall", "network.link_latency_us", "network.pcie_GBps"};
	char wbuf[SCN_PATH_MAX + 160];
	if (s->network.model != SCN_NET_ANALYTIC)
		return;
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		if (scn_is_set(s, ignored[i]))
			ms_warn_emit(warn, "%s: network.model = \"analytic\" ignores %s (its bound takes the core as "
				     "non-blocking, with no switches and no all-to-all algorithm); use network.model = "
				     "\"flow\" to play it",
				     scn_where(s, ignored[i], wbuf, sizeof wbuf), ignored[i]);
}

int sim_inputs_open(sim_inputs *in, const scn_scenario *s, const ms_warn *warn, ms_error *err)
{
	int rc;
	memset(in, 0, sizeof *in);
	in->s = s;
	warn_analytic(s, warn);
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
