/* out_fmt.c - the summary lines shared by moesim run and moesim report (see out_fmt.h). */
#include "output/out_fmt.h"

#include <string.h>

void out_fmt_time(char *buf, size_t n, double s)
{
	if (s >= 1)
		snprintf(buf, n, "%.3f s", s);
	else if (s >= 1e-3)
		snprintf(buf, n, "%.3f ms", s * 1e3);
	else
		snprintf(buf, n, "%.3f us", s * 1e6);
}

void out_fmt_bytes(char *buf, size_t n, double b)
{
	if (b >= 1e9)
		snprintf(buf, n, "%.2f GB", b / 1e9);
	else if (b >= 1e6)
		snprintf(buf, n, "%.2f MB", b / 1e6);
	else
		snprintf(buf, n, "%.0f B", b);
}

void out_print_speed(FILE *f, const char *mode, double step_time_s, double tokens_per_s, double tokens_per_s_per_gpu,
		     double model_tflops_per_gpu, double mfu, double peak_flops, const char *peak_label)
{
	char a[64];
	out_fmt_time(a, sizeof a, step_time_s);
	fprintf(f, "  step time        %s\n", a);
	fprintf(f, "  throughput       %.4g tokens/s (%.4g per GPU)\n", tokens_per_s, tokens_per_s_per_gpu);
	if (strcmp(mode, "decode") == 0)
		fprintf(f, "  per output token %s (the step), %.4g tokens/s per sequence\n", a,
			step_time_s > 0 ? 1.0 / step_time_s : 0.0);
	if (strcmp(mode, "prefill") == 0)
		fprintf(f, "  first token      %s (the prefill step)\n", a);
	fprintf(f, "  model FLOP/s     %.1f TFLOP/s per GPU, MFU %.1f %% of %.0f TFLOP/s (dense %s peak)\n",
		model_tflops_per_gpu, 100.0 * mfu, peak_flops / 1e12, peak_label);
}

void out_print_memory(FILE *f, double peak_bytes, double capacity_bytes, int stage, int n_parts,
		      const char *const *part_names, const double *part_bytes)
{
	const double gib = 1024.0 * 1024.0 * 1024.0;
	fprintf(f, "  memory per GPU   %.1f GiB of %.1f GiB at the peak (pipeline stage %d):", peak_bytes / gib,
		capacity_bytes / gib, stage);
	for (int i = 0; i < n_parts; i++)
		if (part_bytes[i] > 0)
			fprintf(f, " %s %.1f", part_names[i], part_bytes[i] / gib);
	fprintf(f, "%s\n", peak_bytes > capacity_bytes ? " (DOES NOT FIT)" : "");
}

void out_print_phases(FILE *f, int n, const char *const *names, const double *phase_s, double step_time_s)
{
	char a[64];
	fprintf(f, "\n  phase (mean per GPU per step)      time      share\n");
	for (int ph = 0; ph < n; ph++) {
		out_fmt_time(a, sizeof a, phase_s[ph]);
		fprintf(f, "    %-12s %21s %9.1f %%\n", names[ph], a, step_time_s > 0 ? 100.0 * phase_s[ph] / step_time_s : 0.0);
	}
}

void out_print_drops(FILE *f, double dropped_pair_frac, double dropped_token_frac)
{
	fprintf(f, "  tokens dropped   %.3f %% of token-expert pairs, %.3f %% of tokens lost every choice\n",
		100.0 * dropped_pair_frac, 100.0 * dropped_token_frac);
}

void out_print_hot_links(FILE *f, int n, const char *const *names, const double *util, const double *bytes)
{
	char a[64];
	for (int i = 0; i < n && i < 3; i++) {
		out_fmt_bytes(a, sizeof a, bytes[i]);
		fprintf(f, "  %s %s: %.1f %% busy over the run, %s\n", i ? "                " : "hottest links   ", names[i],
			100.0 * util[i], a);
	}
}

void out_print_stream(FILE *f, const char *label, const char *stream, double total, double exposed)
{
	char t[64], e[64], h[64];
	out_fmt_time(t, sizeof t, total);
	out_fmt_time(e, sizeof e, exposed);
	out_fmt_time(h, sizeof h, total - exposed > 0 ? total - exposed : 0);
	fprintf(f, "  %s %s on the %s stream: %s exposed, %s hidden (mean per GPU)\n", label, t, stream, e, h);
}

void out_print_critical(FILE *f, int gpu, int stage, int n, const char *const *names, const double *row,
			double step_time_s)
{
	int top[3] = {-1, -1, -1};
	if (n < 3)
		return;
	for (int i = 0; i < 3; i++)
		for (int p = 0; p < n; p++) {
			int used = 0;
			for (int j = 0; j < i; j++)
				used |= top[j] == p;
			if (!used && (top[i] < 0 || row[p] > row[top[i]]))
				top[i] = p;
		}
	fprintf(f, "  critical path    GPU %d (pipeline stage %d) finishes last: %s %.1f %%, %s %.1f %%, %s %.1f %%\n", gpu,
		stage, names[top[0]], step_time_s > 0 ? 100 * row[top[0]] / step_time_s : 0, names[top[1]],
		step_time_s > 0 ? 100 * row[top[1]] / step_time_s : 0, names[top[2]],
		step_time_s > 0 ? 100 * row[top[2]] / step_time_s : 0);
}

void out_print_specialisation(FILE *f, double purity, double purity_blind, double concentration,
			      double concentration_blind, int labels)
{
	fprintf(f, "  specialisation   purity %.3f (blind %.3f), concentration %.3f (blind %.3f) of the kept pairs, %d "
		"domain labels (mean over layers)\n",
		purity, purity_blind, concentration, concentration_blind, labels);
}

void out_print_load(FILE *f, double gpu_mean, double gpu_worst, int gpu_worst_layer, double expert_mean,
		    double expert_worst, int expert_worst_layer)
{
	fprintf(f, "  GPU load         max/mean %.3f after drops (mean over layers), worst %.3f in layer %d\n", gpu_mean,
		gpu_worst, gpu_worst_layer);
	fprintf(f, "  expert load      max/mean %.3f as routed (mean over layers), worst %.3f in layer %d\n", expert_mean,
		expert_worst, expert_worst_layer);
}

void out_print_a2a_bytes(FILE *f, const char *dispatcher, const double nvlink[2], const double nic[2],
			 double naive_nvlink, double naive_nic, int training)
{
	static const char *const dir[2] = {"dispatch", "combine "};
	char a[64], b[64];
	double nv = nvlink[0] + nvlink[1], ni = nic[0] + nic[1];
	for (int d = 0; d < 2; d++) {
		out_fmt_bytes(a, sizeof a, nvlink[d]);
		out_fmt_bytes(b, sizeof b, nic[d]);
		fprintf(f, "  %s %s %s over NVLink, %s over NICs per step%s\n", d ? "                " : "all-to-all bytes", dir[d],
			a, b, d ? "" : " (forward)");
	}
	fprintf(f, "                   %s: NVLink %.3fx, NICs %.3fx the bytes of a copy per token-expert pair%s\n", dispatcher,
		naive_nvlink > 0 ? nv / naive_nvlink : 1.0, naive_nic > 0 ? ni / naive_nic : 1.0,
		training ? ";\n                   the backward pass moves the mirror" : "");
}

void out_print_network_model(FILE *f, int flow, int topology, const char *alltoall)
{
	static const char *const shapes[] = {"single switch", "fat-tree", "rail-optimized", "custom"};
	if (!flow) {
		fprintf(f, "  network model    analytic bottleneck bound\n");
		return;
	}
	fprintf(f, "  network model    flow-level max-min sharing, %s, %s all-to-all\n",
		topology >= 0 && topology < 4 ? shapes[topology] : "?", alltoall ? alltoall : "the dispatcher's own legs as one");
}

void out_imbalance(const double *v, int layers, int n, const int *first, int m, double *mean_ratio, double *worst,
		   int *worst_layer)
{
	*mean_ratio = 0;
	*worst = 0;
	*worst_layer = -1;
	for (int l = 0; l < layers; l++) {
		double mx = 0, sum = 0, ratio;
		int lo = first ? first[l] : 0;
		if (!first)
			m = n;
		for (int i = lo; i < lo + m; i++) {
			double x = v[(size_t)l * n + i];
			sum += x;
			mx = x > mx ? x : mx;
		}
		ratio = sum > 0 ? mx / (sum / m) : 1.0;
		*mean_ratio += ratio / layers;
		if (ratio > *worst) {
			*worst = ratio;
			*worst_layer = l;
		}
	}
}
