/*
 * cli_record.c - what `moesim run` records beyond the summary, on request: the options
 * (--timeline FILE.json, --timeline-gpus A-B, --events, --traffic), the refusal of a
 * timeline that would be enormous (before the run, with the estimate and the flags that
 * shrink it), and the timeline file after the run. The recording itself is the
 * library's (sim/sim_timeline.h); the JSON writer is output/out_timeline.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/ms_file.h"
#include "output/out_timeline.h"
#include "sim/sim_estimate.h"

/* "A-B" or "A" as GPUs a .. b. */
static int parse_gpus(const char *v, int *lo, int *hi)
{
	char *end;
	long a = strtol(v, &end, 10), b = a;
	if (end == v || a < 0)
		return -1;
	if (*end == '-') {
		const char *q = end + 1;
		b = strtol(q, &end, 10);
		if (end == q)
			return -1;
	}
	if (*end || b < a || b > 1000000000L)
		return -1;
	*lo = (int)a;
	*hi = (int)b;
	return 0;
}

int cli_record_parse(int *argc, char **argv, cli_record *c)
{
	int n = 0;
	memset(c, 0, sizeof *c);
	c->hi = -1;
	for (int i = 0; i < *argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--timeline") == 0 || strcmp(s, "--timeline-gpus") == 0) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "moesim: %s needs %s\n", s, s[10] ? "GPUs, e.g. 0-7" : "a file name (FILE.json)");
				return CLI_EXIT_USAGE;
			}
			if (s[10]) {
				if (parse_gpus(argv[i + 1], &c->lo, &c->hi) < 0) {
					fprintf(stderr, "moesim: --timeline-gpus %s: give a GPU or a range FIRST-LAST, e.g. 0-7\n",
						argv[i + 1]);
					return CLI_EXIT_USAGE;
				}
				c->gpus_given = 1;
			} else {
				c->timeline = argv[i + 1];
			}
			i++;
		} else if (strcmp(s, "--events") == 0) {
			c->events = 1;
		} else if (strcmp(s, "--traffic") == 0) {
			c->traffic = 1;
		} else {
			argv[n++] = argv[i];
		}
	}
	*argc = n;
	if (c->gpus_given && !c->timeline && !c->events) {
		fprintf(stderr, "moesim: --timeline-gpus selects the GPUs of a timeline: add --timeline FILE.json or --events\n");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

int cli_record_setup(cli_record *c, const scn_scenario *s, const char *out, sim_record *rec)
{
	ms_error err;
	memset(rec, 0, sizeof *rec);
	if ((c->events || c->traffic) && !out) {
		fprintf(stderr, "moesim: %s adds to the HDF5 file: give one with -o FILE.h5\n", c->events ? "--events" : "--traffic");
		return CLI_EXIT_USAGE;
	}
	if (c->gpus_given && c->lo >= scn_world(s)) {
		fprintf(stderr, "moesim: --timeline-gpus %d-%d: the scenario has %d GPUs (0-%d)\n", c->lo, c->hi, scn_world(s),
			scn_world(s) - 1);
		return CLI_EXIT_USAGE;
	}
	ms_error_clear(&err);
	if (c->timeline && ms_file_check(c->timeline, c->force, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return CLI_EXIT_BAD_INPUT;
	}
	rec->layer_steps = out != NULL;
	rec->links = out != NULL || c->timeline != NULL;
	rec->traffic = c->traffic;
	if (c->timeline || c->events) {
		if (!(c->tl = sim_timeline_create(c->lo, c->hi, &err))) {
			fprintf(stderr, "moesim: %s\n", err.msg);
			return CLI_EXIT_BAD_INPUT;
		}
		rec->timeline = c->tl;
	}
	return 0;
}

/* The GPUs whose timeline fits `limit` records, at the estimate's records per GPU (at least 1). */
static int gpus_within(const sim_estimate *e, int gpus, double limit)
{
	double per = e->timeline_events / gpus, n = per > 0 ? limit / per : gpus;
	return n < 1 ? 1 : n > gpus ? gpus : (int)n;
}

int cli_record_check(const cli_record *c, const scn_scenario *s, const sim_record *rec, sim_estimate *e)
{
	int W = scn_world(s), gpus = c->gpus_given ? (c->hi < W ? c->hi : W - 1) - c->lo + 1 : W;
	char a[32];
	sim_estimate_record(s, rec, gpus, e);
	if (!rec->timeline)
		return 0;
	if (c->timeline && e->timeline_events > SIM_LIMIT_TIMELINE_JSON_EVENTS) {
		fprintf(stderr,
			"moesim: --timeline %s: the run would record about %.3g events of %d GPU%s (about %s of JSON), more than "
			"the %.0e that ui.perfetto.dev opens comfortably: record some GPUs (--timeline-gpus 0-%d), fewer steps "
			"(workload.steps) or micro-batches (workload.global_batch); or record it anyway with --force-large\n",
			c->timeline, e->timeline_events, gpus, gpus == 1 ? "" : "s",
			sim_estimate_bytes(e->timeline_events * OUT_TIMELINE_BYTES_PER_EVENT, a, sizeof a),
			SIM_LIMIT_TIMELINE_JSON_EVENTS, gpus_within(e, gpus, SIM_LIMIT_TIMELINE_JSON_EVENTS) - 1);
		return CLI_EXIT_BAD_INPUT;
	}
	if (e->timeline_events > SIM_LIMIT_TIMELINE_H5_EVENTS) {
		fprintf(stderr,
			"moesim: --events: the run would record about %.3g events of %d GPU%s (about %s in memory and in the "
			"HDF5 file), more than the limit of %.0e: record some GPUs (--timeline-gpus 0-%d) or fewer steps "
			"(workload.steps); or record it anyway with --force-large\n",
			e->timeline_events, gpus, gpus == 1 ? "" : "s",
			sim_estimate_bytes(e->timeline_events * (double)sizeof(sim_tl_event), a, sizeof a),
			SIM_LIMIT_TIMELINE_H5_EVENTS, gpus_within(e, gpus, SIM_LIMIT_TIMELINE_H5_EVENTS) - 1);
		return CLI_EXIT_BAD_INPUT;
	}
	return 0;
}

int cli_record_write(const cli_record *c, const scn_scenario *s, const sim_result *r)
{
	ms_error err;
	ms_error_clear(&err);
	if (c->timeline && out_timeline_write(c->timeline, c->force, s, r, c->tl, &err) < 0) {
		fprintf(stderr, "moesim: %s\n", err.msg);
		return CLI_EXIT_BAD_INPUT;
	}
	return 0;
}

void cli_record_fini(cli_record *c)
{
	sim_timeline_destroy(c->tl);
	c->tl = NULL;
}
