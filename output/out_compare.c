/*
 * out_compare.c - the report of stored runs (see out_compare.h).
 *
 * A single run repeats its summary's lines from the step time on through the same
 * printers moesim run uses (out_fmt.h), so they are equal to the character; the worst
 * layers' imbalance is recomputed from /layers exactly as out_summary_compute does; what
 * the file does not hold (the hottest NVLink port and NIC of one all-to-all) is left out. Several runs: a column per run, the first the baseline; a
 * figure's change is relative (+12.3 %) for times, rates and bytes, and in percentage
 * points for what is already a percentage (drops, MFU), where a relative change of a
 * small fraction would mislead.
 */
#include "output/out_compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "output/out_fmt.h"
#include "topology/topo_graph.h"

/* A scenario value without the quotes of a string. */
static const char *val(const out_run *r, const char *key, char *buf, size_t n)
{
	const char *v = out_run_key(r, key);
	size_t k;
	if (!v)
		return "?";
	k = strlen(v);
	if (k >= 2 && v[0] == '"' && v[k - 1] == '"')
		snprintf(buf, n, "%.*s", (int)(k - 2), v + 1);
	else
		snprintf(buf, n, "%s", v);
	return buf;
}

static double fig(const out_run *r, const char *name)
{
	double v = 0;
	out_run_summary(r, name, &v);
	return v;
}

static void print_header(FILE *f, const out_run *r)
{
	char b[8][128];
	fprintf(f, "  run        %s: moesim %s, scenario %s", r->path, r->moesim_version,
		r->scenario_source ? r->scenario_source : "?");
	if (r->seed >= 0)
		fprintf(f, ", seed %lld", r->seed);
	fputc('\n', f);
	if (r->overrides && r->overrides[0]) {
		const char *p = r->overrides;
		fprintf(f, "  overrides ");
		while (*p) {
			const char *e = strchr(p, '\n');
			int len = e ? (int)(e - p) : (int)strlen(p);
			if (len)
				fprintf(f, " --set %.*s", len, p);
			p += len + (e != NULL);
		}
		fputc('\n', f);
	}
	if (r->profile_source)
		fprintf(f, "  rates      %s\n", r->profile_source);
	fprintf(f, "  model      %s: %s MoE layers, %s experts, top-%s\n", val(r, "model.name", b[0], sizeof b[0]),
		val(r, "model.moe_layers", b[1], sizeof b[1]), val(r, "model.experts", b[2], sizeof b[2]),
		val(r, "routing.top_k", b[3], sizeof b[3]));
	fprintf(f, "  cluster    %s x %s %s = %.0f GPUs, network model %s\n", val(r, "cluster.nodes", b[0], sizeof b[0]),
		val(r, "cluster.gpus_per_node", b[1], sizeof b[1]), val(r, "cluster.gpu", b[2], sizeof b[2]),
		fig(r, "gpus"), r->network_model);
	fprintf(f, "  layout     TP %s, CP %s, PP %s, DP %s; EP %s, ETP %s\n", val(r, "parallel.tp", b[0], sizeof b[0]),
		val(r, "parallel.cp", b[1], sizeof b[1]), val(r, "parallel.pp", b[2], sizeof b[2]),
		val(r, "parallel.dp", b[3], sizeof b[3]), val(r, "parallel.ep", b[4], sizeof b[4]),
		val(r, "parallel.etp", b[5], sizeof b[5]));
	val(r, "workload.steps", b[1], sizeof b[1]);
	fprintf(f, "  workload   %s, %s step%s; capacity factor %s", val(r, "workload.mode", b[0], sizeof b[0]), b[1],
		strcmp(b[1], "1") == 0 ? "" : "s", val(r, "routing.capacity_factor", b[2], sizeof b[2]));
	/* A router other than topk (a run before routing.router has none: topk). */
	val(r, "routing.router", b[3], sizeof b[3]);
	if (strcmp(b[3], "topk") != 0 && strcmp(b[3], "?") != 0) {
		fprintf(f, "; router %s", b[3]);
		if (strcmp(b[3], "bias_balanced") == 0)
			fprintf(f, ", gamma %s", val(r, "routing.bias_gamma", b[4], sizeof b[4]));
	}
	fputc('\n', f);
}

/* The load lines from /layers as the summary computes them: a layer's GPU load over the
 * GPUs of the stage holding it (the block of stage_gpus with the layer's pairs). */
static void print_load(FILE *f, const out_run *r, int stage_gpus)
{
	double gm, gw, em, ew;
	int gl, el, *first;
	if (!r->gpu_load || stage_gpus < 1 || !(first = calloc((size_t)r->moe_layers, sizeof *first))) {
		fprintf(f, "  GPU load         max/mean %.3f after drops (mean over layers)\n", fig(r, "gpu_load_max_over_mean"));
		fprintf(f, "  expert load      max/mean %.3f as routed (mean over layers)\n", fig(r, "expert_load_max_over_mean"));
		return;
	}
	for (int l = 0; l < r->moe_layers; l++) {
		double best = -1;
		for (int st = 0; st + stage_gpus <= r->gpus; st += stage_gpus) {
			double sum = 0;
			for (int g = st; g < st + stage_gpus; g++)
				sum += r->gpu_load[(size_t)l * r->gpus + g];
			if (sum > best) {
				best = sum;
				first[l] = st;
			}
		}
	}
	out_imbalance(r->gpu_load, r->moe_layers, r->gpus, first, stage_gpus, &gm, &gw, &gl);
	out_imbalance(r->expert_demand, r->moe_layers, r->experts, NULL, r->experts, &em, &ew, &el);
	out_print_load(f, gm, gw, gl, em, ew, el);
	free(first);
}

static void print_one(FILE *f, const out_run *r)
{
	char mode[32], dtype[32], b[64], mode_a2a[32];
	double mfu = fig(r, "mfu"), tf = fig(r, "model_tflops_per_gpu");
	const char *phase_names[32], *part_names[16], *link_names[8];
	double phase_s[32];
	int np = r->n_phases < 32 ? r->n_phases : 32, nm = r->n_mem_parts < 16 ? r->n_mem_parts : 16;
	fprintf(f, "moesim report: %s\n", r->path);
	print_header(f, r);
	fputc('\n', f);
	val(r, "workload.mode", mode, sizeof mode);
	val(r, "model.dtype", dtype, sizeof dtype);
	/* The file keeps MFU and the model TFLOP/s; the peak is their ratio. */
	out_print_speed(f, mode, fig(r, "step_time_s"), fig(r, "tokens_per_s"), fig(r, "tokens_per_s_per_gpu"), tf, mfu,
			mfu > 0 ? tf * 1e12 / mfu : 0, strcmp(dtype, "fp32") == 0 ? "TF32" : "BF16");
	for (int i = 0; i < nm; i++)
		part_names[i] = r->mem_part_name[i];
	out_print_memory(f, fig(r, "memory_per_gpu_bytes"), fig(r, "memory_capacity_bytes"), (int)r->mem_peak_stage, nm,
			 part_names, r->mem_part_bytes);
	for (int i = 0; i < np; i++) {
		char name[96];
		phase_names[i] = r->phase_name[i];
		snprintf(name, sizeof name, "phase_%s_s", r->phase_name[i]);
		phase_s[i] = fig(r, name);
	}
	out_print_phases(f, np, phase_names, phase_s, fig(r, "step_time_s"));
	if (strcmp(val(r, "schedule.overlap", b, sizeof b), "none") != 0) {
		out_print_stream(f, "overlap      dispatch", "communication", fig(r, "dispatch_stream_s"),
				 fig(r, "dispatch_exposed_s"));
		out_print_stream(f, "             combine ", "communication", fig(r, "combine_stream_s"),
				 fig(r, "combine_exposed_s"));
	}
	if (fig(r, "tp_stream_s") > 0)
		out_print_stream(f, "TP overlap      ", "communication", fig(r, "tp_stream_s"), fig(r, "tp_exposed_s"));
	if (fig(r, "pp_stream_s") > 0)
		out_print_stream(f, "pipeline sends  ", "pipeline-send", fig(r, "pp_stream_s"), fig(r, "pp_exposed_s"));
	if (fig(r, "dp_stream_s") > 0)
		out_print_stream(f, "gradient sync   ", "data-parallel", fig(r, "dp_stream_s"), fig(r, "phase_dp_s"));
	{
		int crit = (int)fig(r, "critical_gpu"), pp = atoi(val(r, "parallel.pp", b, sizeof b));
		int stage_gpus = pp > 0 && r->gpus >= pp ? r->gpus / pp : r->gpus;
		if (crit >= 0 && crit < r->gpus && np == r->n_phases)
			out_print_critical(f, crit, crit / stage_gpus, np, phase_names,
					   r->step_phase_s + (size_t)crit * r->n_phases, fig(r, "step_time_s"));
		fputc('\n', f);
		out_print_drops(f, fig(r, "dropped_pair_fraction"), fig(r, "dropped_token_fraction"));
		print_load(f, r, stage_gpus);
		{
			double v[5];
			/* a run that replayed a trace with domain labels (out_h5.c) */
			if (out_run_summary(r, "domain_labels", &v[4]) && out_run_summary(r, "purity", &v[0]) &&
			    out_run_summary(r, "purity_baseline", &v[1]) && out_run_summary(r, "concentration", &v[2]) &&
			    out_run_summary(r, "concentration_baseline", &v[3]))
				out_print_specialisation(f, v[0], v[1], v[2], v[3], (int)v[4]);
		}
	}
	{
		const double nv[2] = {fig(r, "dispatch_nvlink_bytes"), fig(r, "combine_nvlink_bytes")};
		const double nic[2] = {fig(r, "dispatch_nic_bytes"), fig(r, "combine_nic_bytes")};
		out_print_a2a_bytes(f, val(r, "network.dispatcher", b, sizeof b), nv, nic, fig(r, "per_pair_copy_nvlink_bytes"),
				    fig(r, "per_pair_copy_nic_bytes"), strcmp(mode, "training") == 0);
	}
	{
		/* network.topology's values: topo_shape's names, in its order (scn_topology's). */
		int t = -1, flow = strcmp(r->network_model, "flow") == 0;
		val(r, "network.topology", b, sizeof b);
		for (int i = TOPO_SINGLE_SWITCH; i <= TOPO_CUSTOM; i++)
			t = strcmp(b, topo_shape_name((topo_shape)i)) == 0 ? i : t;
		val(r, "network.dispatcher", mode_a2a, sizeof mode_a2a);
		out_print_network_model(f, flow, t,
					strcmp(mode_a2a, "megatron") == 0 ? val(r, "network.alltoall", b, sizeof b) : NULL);
	}
	if (r->n_hot_links > 0) {
		for (int i = 0; i < r->n_hot_links && i < 8; i++)
			link_names[i] = r->hot_link_name[i];
		out_print_hot_links(f, r->n_hot_links, link_names, r->hot_link_util, r->hot_link_bytes);
	} else if (strcmp(r->network_model, "flow") == 0) {
		fprintf(f, "  hottest links    none stored (a run written before /network)\n");
	}
	fprintf(f, "  events           %.0f\n", fig(r, "events"));
}

/* ---- several runs ---- */

enum { K_TIME, K_RATE, K_PCT, K_GIB, K_RATIO, K_COUNT };

typedef struct row {
	const char *label;
	const char *attr;
	int kind;
} row;

static const row rows[] = {
	{"step time", "step_time_s", K_TIME},
	{"throughput", "tokens_per_s", K_RATE},
	{"  per GPU", "tokens_per_s_per_gpu", K_RATE},
	{"MFU", "mfu", K_PCT},
	{"pairs dropped", "dropped_pair_fraction", K_PCT},
	{"tokens lost", "dropped_token_fraction", K_PCT},
	{"memory per GPU", "memory_per_gpu_bytes", K_GIB},
	{"GPU load max/mean", "gpu_load_max_over_mean", K_RATIO},
	{"expert load max/mean", "expert_load_max_over_mean", K_RATIO},
	/* with a replayed trace's domain labels: what the router kept, beside what it cost */
	{"purity", "purity", K_RATIO},
	{"  blind", "purity_baseline", K_RATIO},
	{"concentration", "concentration", K_RATIO},
	{"  blind", "concentration_baseline", K_RATIO},
	{"events", "events", K_COUNT},
};

static void cell(char *buf, size_t n, int kind, double v)
{
	switch (kind) {
	case K_TIME:
		out_fmt_time(buf, n, v);
		break;
	case K_RATE:
		snprintf(buf, n, "%.4g", v);
		break;
	case K_PCT:
		snprintf(buf, n, "%.3f %%", 100.0 * v);
		break;
	case K_GIB:
		snprintf(buf, n, "%.1f GiB", v / (1024.0 * 1024.0 * 1024.0));
		break;
	case K_RATIO:
		snprintf(buf, n, "%.3f", v);
		break;
	default:
		snprintf(buf, n, "%.0f", v);
	}
}

/* The change from base to v: points for percentages, else relative. */
static void change(char *buf, size_t n, int kind, double base, double v)
{
	if (kind == K_PCT)
		snprintf(buf, n, " (%+.3f pts)", 100.0 * (v - base));
	else if (base != 0)
		snprintf(buf, n, " (%+.1f %%)", 100.0 * (v - base) / fabs(base));
	else
		snprintf(buf, n, "%s", v == 0 ? " (=)" : " (new)");
}

static void print_row(FILE *f, const char *label, int kind, const double *v, const int *has, int n)
{
	fprintf(f, "  %-21s", label);
	for (int i = 0; i < n; i++) {
		char c[64], d[48] = "", both[112];
		if (!has[i]) {
			snprintf(both, sizeof both, "-");
		} else {
			cell(c, sizeof c, kind, v[i]);
			if (i > 0 && has[0])
				change(d, sizeof d, kind, v[0], v[i]);
			snprintf(both, sizeof both, "%s%s", c, d);
		}
		fprintf(f, i + 1 < n ? " %-26s" : " %s", both);
	}
	fputc('\n', f);
}

static void print_many(FILE *f, const out_run *runs, int n)
{
	int differ = 0;
	fprintf(f, "moesim report: %d runs, each against run A\n", n);
	for (int i = 0; i < n; i++) {
		fprintf(f, "  %c  %s: moesim %s, scenario %s, network model %s%s%s\n", 'A' + i, runs[i].path,
			runs[i].moesim_version, runs[i].scenario_source ? runs[i].scenario_source : "?",
			runs[i].network_model, runs[i].profile_source ? ", rates from " : "",
			runs[i].profile_source ? runs[i].profile_source : "");
	}
	fprintf(f, "\n  scenario differences (the resolved scenarios, key by key)\n");
	/* Every key of every run, in the first run's order and then the others' new ones. */
	for (int i = 0; i < n; i++)
		for (int k = 0; k < runs[i].n_keys; k++) {
			const char *key = runs[i].keys[k].key;
			int seen = 0, same = 1;
			const char *v0;
			for (int j = 0; j < i && !seen; j++)
				seen = out_run_key(&runs[j], key) != NULL;
			if (seen)
				continue;
			v0 = out_run_key(&runs[0], key);
			for (int j = 1; j < n; j++) {
				const char *vj = out_run_key(&runs[j], key);
				same &= (v0 && vj && strcmp(v0, vj) == 0);
			}
			if (same)
				continue;
			differ++;
			fprintf(f, "    %-32s", key);
			for (int j = 0; j < n; j++) {
				const char *vj = out_run_key(&runs[j], key);
				fprintf(f, j + 1 < n ? " %-20s" : " %s", vj ? vj : "(absent)");
			}
			fputc('\n', f);
		}
	if (!differ)
		fprintf(f, "    none: the same resolved scenario\n");
	fprintf(f, "\n  %-21s", "");
	for (int i = 0; i < n; i++)
		fprintf(f, i + 1 < n ? " %-26c" : " %c", 'A' + i);
	fputc('\n', f);
	{
		double *v = calloc((size_t)n, sizeof *v);
		int *has = calloc((size_t)n, sizeof *has);
		if (!v || !has) {
			free(v);
			free(has);
			fprintf(f, "  (out of memory)\n");
			return;
		}
		for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
			int any = 0;
			for (int i = 0; i < n; i++)
				any |= has[i] = out_run_summary(&runs[i], rows[r].attr, &v[i]);
			if (any) /* a figure no run has (specialisation without labels) is left out */
				print_row(f, rows[r].label, rows[r].kind, v, has, n);
		}
		/* Each phase of the first run, then any phase only a later run has. */
		for (int i = 0; i < n; i++)
			for (int p = 0; p < runs[i].n_phases; p++) {
				char attr[96], label[64];
				int seen = 0;
				for (int j = 0; j < i && !seen; j++)
					for (int q = 0; q < runs[j].n_phases && !seen; q++)
						seen = strcmp(runs[j].phase_name[q], runs[i].phase_name[p]) == 0;
				if (seen)
					continue;
				snprintf(attr, sizeof attr, "phase_%s_s", runs[i].phase_name[p]);
				snprintf(label, sizeof label, "phase %s", runs[i].phase_name[p]);
				for (int j = 0; j < n; j++)
					has[j] = out_run_summary(&runs[j], attr, &v[j]);
				print_row(f, label, K_TIME, v, has, n);
			}
		free(v);
		free(has);
	}
}

void out_report_print(FILE *f, const out_run *runs, int n)
{
	if (n == 1)
		print_one(f, &runs[0]);
	else
		print_many(f, runs, n);
}
