/*
 * sw_record.c - a sweep point's outputs and their text form (see sw_record.h).
 */
#include "sweep/sw_record.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct column {
	const char *name, *unit, *doc;
} column;

static const column cols[SW_O_PHASE0] = {
	{"gpus", "", "GPUs in the cluster (nodes x gpus_per_node)"},
	{"step_time_s", "s", "step time, mean over steps"},
	{"tokens_per_s", "tokens/s", "tokens the cluster computes per second"},
	{"tokens_per_s_per_gpu", "tokens/s", "throughput per GPU: what the comparison ranks by"},
	{"time_per_output_token_s", "s", "decode: the step time, one output token per sequence; empty otherwise"},
	{"mfu", "fraction", "model FLOP/s per GPU over its dense peak"},
	{"model_tflops_per_gpu", "TFLOP/s", "model FLOP/s per GPU"},
	{"dropped_pair_frac", "fraction", "token-expert pairs dropped by the capacity factor"},
	{"dropped_token_frac", "fraction", "tokens that lost every expert choice"},
	{"mem_peak_GiB", "GiB", "memory per GPU at the fullest pipeline stage"},
	{"mem_capacity_GiB", "GiB", "what a GPU holds (HBM less reserved)"},
	{"mem_headroom_GiB", "GiB", "capacity less the peak (negative: does not fit)"},
	{"cost_per_hour", "cost/h", "GPUs x cluster.gpu_hour_cost; empty without a cost"},
	{"cost_per_mtoken", "cost", "cost of a million tokens at this throughput; empty without a cost"},
	{"rank_load_max_mean", "ratio", "busiest GPU's token-expert pairs over the mean, after drops (mean over layers)"},
	{"expert_load_max_mean", "ratio", "busiest expert's pairs over the mean, as routed (mean over layers)"},
	{"a2a_nvlink_bytes", "B", "all-to-all bytes over NVLink per step, forward dispatch + combine"},
	{"a2a_nic_bytes", "B", "all-to-all bytes over NICs per step, forward dispatch + combine"},
	{"events", "", "engine events of the run"},
};

const char *sw_out_name(int i)
{
	static char names[SIM_NPHASES][48];
	if (i < SW_O_PHASE0)
		return cols[i].name;
	/* One thread fills these once; later calls only read them. */
	if (!names[i - SW_O_PHASE0][0])
		snprintf(names[i - SW_O_PHASE0], sizeof names[0], "phase_%s_s", sim_phase_name(i - SW_O_PHASE0));
	return names[i - SW_O_PHASE0];
}

const char *sw_out_unit(int i)
{
	return i < SW_O_PHASE0 ? cols[i].unit : "s";
}

const char *sw_out_doc(int i)
{
	return i < SW_O_PHASE0 ? cols[i].doc : "time per GPU per step in this phase, mean over GPUs";
}

const char *sw_status_name(sw_status st)
{
	static const char *const names[] = {"ok", "refused", "unfit", "failed"};
	return (unsigned)st < 4 ? names[st] : "?";
}

void sw_record_init(sw_record *r, int64_t point)
{
	memset(r, 0, sizeof *r);
	r->point = point;
	r->status = SW_OK;
	for (int i = 0; i < SW_NOUT; i++)
		r->out[i] = NAN;
}

static void one_line(char *s)
{
	/* In place: a newline becomes ";" (a last one is cut), so the record stays line-based. */
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = p[1] ? ';' : '\0';
}

void sw_record_reason(sw_record *r, sw_status st, const char *fmt, ...)
{
	va_list ap;
	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof r->reason, fmt, ap);
	va_end(ap);
	one_line(r->reason);
}

void sw_record_fill_static(sw_record *r, const scn_scenario *s, double peak_bytes, double capacity_bytes)
{
	const double gib = 1024.0 * 1024.0 * 1024.0;
	r->out[SW_O_GPUS] = scn_world(s);
	if (peak_bytes >= 0 && capacity_bytes >= 0) {
		r->out[SW_O_MEM_PEAK] = peak_bytes / gib;
		r->out[SW_O_MEM_CAPACITY] = capacity_bytes / gib;
		r->out[SW_O_MEM_HEADROOM] = (capacity_bytes - peak_bytes) / gib;
	}
	if (s->cluster.gpu_hour_cost > 0)
		r->out[SW_O_COST_PER_HOUR] = scn_world(s) * s->cluster.gpu_hour_cost;
}

void sw_record_fill(sw_record *r, const scn_scenario *s, const sim_result *res, const out_summary *sum)
{
	sw_record_fill_static(r, s, res->mem_peak_bytes, res->mem_capacity_bytes);
	r->out[SW_O_STEP_TIME] = sum->step_time_s;
	r->out[SW_O_TOKENS_PER_S] = sum->tokens_per_s;
	r->out[SW_O_TOKENS_PER_S_PER_GPU] = sum->tokens_per_s_per_gpu;
	if (s->workload.mode == SCN_MODE_DECODE)
		r->out[SW_O_TPOT] = sum->step_time_s;
	r->out[SW_O_MFU] = sum->mfu;
	r->out[SW_O_TFLOPS] = sum->model_tflops_per_gpu;
	r->out[SW_O_DROPPED_PAIRS] = sum->dropped_pair_frac;
	r->out[SW_O_DROPPED_TOKENS] = sum->dropped_token_frac;
	if (s->cluster.gpu_hour_cost > 0 && sum->tokens_per_s > 0)
		r->out[SW_O_COST_PER_MTOKEN] = r->out[SW_O_COST_PER_HOUR] / (sum->tokens_per_s * 3600.0) * 1e6;
	r->out[SW_O_RANK_LOAD] = sum->rank_load_max_mean;
	r->out[SW_O_EXPERT_LOAD] = sum->expert_load_max_mean;
	r->out[SW_O_NVLINK_BYTES] = res->a2a_nvlink_bytes[0] + res->a2a_nvlink_bytes[1];
	r->out[SW_O_NIC_BYTES] = res->a2a_nic_bytes[0] + res->a2a_nic_bytes[1];
	r->out[SW_O_EVENTS] = (double)res->events;
	for (int p = 0; p < SIM_NPHASES; p++)
		r->out[SW_O_PHASE0 + p] = sum->phase_s[p];
}

int sw_record_write(const sw_record *r, uint64_t id, char *buf, size_t len)
{
	size_t n = 0;
	int w;
#define PUT(...)                                                   \
	do {                                                       \
		w = snprintf(buf + n, len - n, __VA_ARGS__);       \
		if (w < 0 || (size_t)w >= len - n)                 \
			return -1;                                 \
		n += (size_t)w;                                    \
	} while (0)
	PUT("moesim-sweep-point 1\nid %016llx\npoint %lld\nstatus %s\nreason %s\nwarning %s\n", (unsigned long long)id,
	    (long long)r->point, sw_status_name(r->status), r->reason, r->warning);
	for (int i = 0; i < SW_NOUT; i++)
		if (!isnan(r->out[i]))
			PUT("out %s %.17g\n", sw_out_name(i), r->out[i]);
	PUT("end\n");
#undef PUT
	return (int)n;
}

/* The next line of *p into line (without its newline); 0 at the end. */
static int next_line(const char **p, char *line, size_t len)
{
	const char *e;
	size_t n;
	if (!**p)
		return 0;
	e = strchr(*p, '\n');
	n = e ? (size_t)(e - *p) : strlen(*p);
	if (n >= len)
		n = len - 1;
	memcpy(line, *p, n);
	line[n] = '\0';
	*p += e ? (size_t)(e - *p) + 1 : strlen(*p);
	return 1;
}

static void copy_field(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);
	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int sw_record_read(sw_record *r, uint64_t id, const char *text, ms_error *err)
{
	char line[SW_REASON_MAX + 64];
	const char *p = text;
	unsigned long long rid;
	long long point;
	int ended = 0, st = -1;
	sw_record_init(r, -1);
	if (!next_line(&p, line, sizeof line) || strcmp(line, "moesim-sweep-point 1") != 0)
		return MS_ERROR(err, MS_EFORMAT, "not a sweep point record");
	if (!next_line(&p, line, sizeof line) || sscanf(line, "id %llx", &rid) != 1)
		return MS_ERROR(err, MS_EFORMAT, "a sweep point record without its sweep's id");
	if (rid != id)
		return MS_ERROR(err, MS_EFORMAT, "a point of another sweep (id %016llx, this sweep %016llx)", rid,
				(unsigned long long)id);
	if (!next_line(&p, line, sizeof line) || sscanf(line, "point %lld", &point) != 1)
		return MS_ERROR(err, MS_EFORMAT, "a sweep point record without its point");
	r->point = point;
	if (next_line(&p, line, sizeof line) && strncmp(line, "status ", 7) == 0)
		for (int s = 0; s < 4; s++)
			if (strcmp(line + 7, sw_status_name((sw_status)s)) == 0)
				st = s;
	if (st < 0)
		return MS_ERROR(err, MS_EFORMAT, "point %lld: no valid status", point);
	r->status = (sw_status)st;
	if (!next_line(&p, line, sizeof line) || strncmp(line, "reason ", 7) != 0)
		return MS_ERROR(err, MS_EFORMAT, "point %lld: no reason line", point);
	copy_field(r->reason, sizeof r->reason, line + 7);
	if (!next_line(&p, line, sizeof line) || strncmp(line, "warning ", 8) != 0)
		return MS_ERROR(err, MS_EFORMAT, "point %lld: no warning line", point);
	copy_field(r->warning, sizeof r->warning, line + 8);
	while (next_line(&p, line, sizeof line)) {
		char name[64];
		double v;
		int i;
		if (strcmp(line, "end") == 0) {
			ended = 1;
			break;
		}
		if (sscanf(line, "out %63s %lf", name, &v) != 2)
			return MS_ERROR(err, MS_EFORMAT, "point %lld: bad line '%s'", point, line);
		for (i = 0; i < SW_NOUT; i++)
			if (strcmp(name, sw_out_name(i)) == 0)
				break;
		if (i == SW_NOUT)
			return MS_ERROR(err, MS_EFORMAT, "point %lld: unknown output '%s'", point, name);
		r->out[i] = v;
	}
	if (!ended)
		return MS_ERROR(err, MS_EFORMAT, "point %lld: the record is cut short (no end line)", point);
	return MS_OK;
}
