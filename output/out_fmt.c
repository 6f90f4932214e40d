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
