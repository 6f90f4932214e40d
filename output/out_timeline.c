/*
 * out_timeline.c - the timeline as trace-event JSON (see out_timeline.h). The format is
 * Chrome's "Trace Event Format" (the JSON Object Format: {"traceEvents": [...]}), which
 * ui.perfetto.dev imports: complete events ("ph": "X") for the streams' intervals, async
 * begin/end pairs ("b"/"e") for pipeline sends (they may overlap one another, which
 * complete events on one thread must not), counters ("C") for the hottest links, and
 * metadata ("M") naming the processes (GPUs) and threads (streams).
 *
 * Times are written in microseconds from integer picoseconds (ts = round(start), dur =
 * round(end) - round(start)), so intervals that follow each other in the simulation
 * follow each other exactly in the file, and the text does not depend on printf's
 * rounding of long decimals. The same records give the same bytes.
 */
#include "output/out_timeline.h"

#include <math.h>
#include <stdio.h>

#include "common/ms_file.h"
#include "common/ms_json.h"

#ifndef MOESIM_VERSION
#define MOESIM_VERSION "0.1.0"
#endif

/* Seconds as microseconds with six decimals (picoseconds). */
static void put_us(FILE *f, long long ps)
{
	fprintf(f, "%lld.%06lld", ps / 1000000, ps % 1000000);
}

static long long ps_of(double s)
{
	return llround(s * 1e12);
}

static void put_name(FILE *f, const sim_tl_event *e)
{
	char name[96];
	if (e->stream == SIM_TL_PIPE)
		snprintf(name, sizeof name, "send to GPU %d", (int)e->peer);
	else if (e->layer >= 0)
		snprintf(name, sizeof name, "%s L%d", sim_tl_op_name(e->op), (int)e->layer);
	else
		snprintf(name, sizeof name, "%s", sim_tl_op_name(e->op));
	ms_json_write_string(f, name);
}

static void put_args(FILE *f, const sim_tl_event *e)
{
	fprintf(f, "\"args\":{\"pass\":\"%s\",\"layer\":%d,\"mb\":%d,\"bytes\":%.17g,\"peer\":%d}",
		e->pass == 0 ? "forward" : e->pass == 1 ? "backward" : "none", (int)e->layer, (int)e->mb, e->bytes,
		(int)e->peer);
}

static void meta(FILE *f, int pid, int tid, const char *what, const char *key, const char *name, int sort)
{
	fprintf(f, ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"name\":\"%s\",\"args\":{", pid, tid, what);
	if (name) {
		fprintf(f, "\"%s\":", key);
		ms_json_write_string(f, name);
	} else {
		fprintf(f, "\"%s\":%d", key, sort);
	}
	fputs("}}", f);
}

static void write_body(FILE *f, const scn_scenario *s, const sim_result *r, const sim_timeline *tl)
{
	const sim_tl_event *ev = sim_timeline_events(tl);
	size_t n = sim_timeline_count(tl);
	int lo, hi, net_pid = r->world;
	long long send_id = 0;
	sim_timeline_gpus(tl, &lo, &hi);
	fputs("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"moesim_version\":", f);
	ms_json_write_string(f, MOESIM_VERSION);
	fputs(",\"scenario_source\":", f);
	ms_json_write_string(f, s->source);
	fprintf(f, ",\"network_model\":\"%s\",\"seed\":%llu,\"mode\":\"%s\",\"gpus\":%d,\"recorded_gpus\":\"%d-%d\"},\n",
		r->network_flow ? "flow" : "analytic", (unsigned long long)s->workload.seed, scn_mode_name(s->workload.mode),
		r->world, lo, hi);
	fputs("\"traceEvents\":[", f);
	for (int g = lo; g <= hi; g++) {
		char name[64];
		snprintf(name, sizeof name, "GPU %d (stage %d)", g, g / r->stage_gpus);
		if (g == lo) /* the array's first element: no comma before it */
			fprintf(f, "\n{\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":\"%s\"}}", g,
				name);
		else
			meta(f, g, 0, "process_name", "name", name, 0);
		meta(f, g, 0, "process_sort_index", "sort_index", NULL, g);
		for (int t = 0; t < SIM_TL_NSTREAMS; t++) {
			meta(f, g, t, "thread_name", "name", sim_tl_stream_name(t), 0);
			meta(f, g, t, "thread_sort_index", "sort_index", NULL, t);
		}
	}
	for (size_t i = 0; i < n; i++) {
		const sim_tl_event *e = &ev[i];
		long long a = ps_of(e->start_s), b = ps_of(e->end_s);
		if (e->stream == SIM_TL_PIPE) { /* async: sends overlap */
			for (int k = 0; k < 2; k++) {
				fprintf(f, ",\n{\"ph\":\"%s\",\"cat\":\"send\",\"id\":%lld,\"pid\":%d,\"tid\":%d,\"ts\":", k ? "e" : "b",
					send_id, (int)e->gpu, (int)e->stream);
				put_us(f, k ? b : a);
				fputs(",\"name\":", f);
				put_name(f, e);
				if (!k) {
					fputc(',', f);
					put_args(f, e);
				}
				fputc('}', f);
			}
			send_id++;
			continue;
		}
		fprintf(f, ",\n{\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":", (int)e->gpu, (int)e->stream);
		put_us(f, a);
		fputs(",\"dur\":", f);
		put_us(f, b - a);
		fputs(",\"name\":", f);
		put_name(f, e);
		fprintf(f, ",\"cat\":\"%s\",", sim_tl_kind_name(e->kind));
		put_args(f, e);
		fputc('}', f);
	}
	if (r->link_bin_bytes && r->n_hot_links > 0) {
		/* The hottest links' utilisation per bin, as counter tracks of a "network" process. */
		meta(f, net_pid, 0, "process_name", "name", "network", 0);
		meta(f, net_pid, 0, "process_sort_index", "sort_index", NULL, net_pid);
		for (int h = 0; h < r->n_hot_links; h++) {
			int l = r->hot_link_index[h];
			double c = r->link_capacity_Bps[l] * r->link_bin_s;
			for (int b = 0; b <= r->link_bins; b++) {
				double u = b < r->link_bins && c > 0 ? 100.0 * r->link_bin_bytes[(size_t)l * r->link_bins + b] / c : 0;
				fprintf(f, ",\n{\"ph\":\"C\",\"pid\":%d,\"tid\":0,\"ts\":", net_pid);
				put_us(f, ps_of(b * r->link_bin_s));
				fputs(",\"name\":", f);
				ms_json_write_string(f, r->link_name[l]);
				fprintf(f, ",\"args\":{\"utilisation_pct\":%.6f}}", u);
			}
		}
	}
	fputs("\n]}\n", f);
}

int out_timeline_write(const char *path, int force, const scn_scenario *s, const sim_result *r, const sim_timeline *tl,
		       ms_error *err)
{
	ms_file of;
	FILE *f;
	int rc;
	if ((rc = ms_file_open(&of, path, force, err)) < 0)
		return rc;
	f = ms_file_stream(&of);
	write_body(f, s, r, tl);
	if (ferror(f)) {
		ms_file_abort(&of);
		return MS_ERROR(err, MS_EIO, "cannot write the timeline to '%s' (disk full?)", path);
	}
	return ms_file_commit(&of, err);
}
