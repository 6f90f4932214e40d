/*
 * sw_point.c - one sweep point, run in the calling process (see sw_point.h).
 */
#include "sweep/sw_point.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_estimate.h"
#include "sim/sim_inputs.h"

static void keep_first(void *ctx, const char *msg)
{
	sw_record *rec = ctx;
	if (!rec->warning[0])
		snprintf(rec->warning, sizeof rec->warning, "%s", msg);
}

/* Load and fit: 1 to run (s loaded), 0 when rec says why not. */
static int check(const sw_spec *sp, int64_t i, const sw_run_opts *o, scn_scenario *s, sw_record *rec)
{
	ms_error err;
	char *advice;
	double peak, cap;
	int fits;
	sw_record_init(rec, i);
	ms_error_clear(&err);
	if (sw_spec_load_point(sp, i, s, &err) < 0) {
		sw_record_reason(rec, SW_REFUSED, "%s", err.msg);
		return 0;
	}
	advice = malloc(4096);
	if (!advice) {
		sw_record_reason(rec, SW_FAILED, "out of memory");
		return 0;
	}
	fits = sim_estimate_fits(s, &peak, &cap, advice, 4096, &err);
	sw_record_fill_static(rec, s, peak, cap);
	if (fits < 0)
		sw_record_reason(rec, SW_REFUSED, "%s", err.msg);
	else if (fits == 0 && !o->allow_memory_overflow)
		sw_record_reason(rec, SW_UNFIT, "%s", advice);
	free(advice);
	return rec->status == SW_OK;
}

int sw_point_check(const sw_spec *sp, int64_t i, const sw_run_opts *o, sw_record *rec)
{
	scn_scenario *s = malloc(sizeof *s);
	int rc;
	if (!s) {
		sw_record_init(rec, i);
		sw_record_reason(rec, SW_FAILED, "out of memory");
		return 0;
	}
	rc = check(sp, i, o, s, rec);
	free(s);
	return rc;
}

void sw_point_run(const sw_spec *sp, int64_t i, const sw_run_opts *o, sw_record *rec)
{
	scn_scenario *s = malloc(sizeof *s);
	sim_inputs in;
	sim_result *r = NULL;
	out_summary sum;
	ms_error err;
	ms_warn warn = {keep_first, rec};
	ms_error_clear(&err);
	if (!s) {
		sw_record_init(rec, i);
		sw_record_reason(rec, SW_FAILED, "out of memory");
		return;
	}
	if (!check(sp, i, o, s, rec))
		goto done;
	if (sim_inputs_open(&in, s, &warn, &err) < 0) {
		sw_record_reason(rec, SW_REFUSED, "%s", err.msg);
		goto done;
	}
	if (!o->force_large) {
		sim_estimate e;
		sim_estimate_run(s, in.trace ? rt_trace_depth(in.trace) : 0, o->threads, &e);
		if (sim_estimate_check(s, &e, o->mem_avail_bytes, -1, NULL, &err) < 0) {
			sw_record_reason(rec, SW_REFUSED, "%s; or sweep with --force-large", err.msg);
			sim_inputs_close(&in);
			goto done;
		}
	}
	if (sim_run(&in, o->threads, &r, &err) < 0) {
		sw_record_reason(rec, SW_FAILED, "%s", err.msg);
		sim_inputs_close(&in);
		goto done;
	}
	sim_inputs_close(&in);
	out_summary_compute(r, &sum);
	sw_record_fill(rec, s, r, &sum);
done:
	sim_result_free(r);
	free(s);
}
