/*
 * prof_write.c - writes profiles as libconfig text: the small writer of prof_internal.h
 * and prof_profile_write, which merges the files of a profile into one with a `fit`
 * block in every table (see prof_profile.h; format in docs/profile-format.md).
 *
 * The writer only formats into a FILE *: putting the text under its final name
 * atomically (temporary name, then rename) is the caller's business (cli/), so this
 * module stays free of output policy. Invariant: what it writes, the reader reads back
 * with the same types and the same doubles.
 */
#include "profile/prof_internal.h"

#include <assert.h>
#include <libconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PER_LINE 8

enum { LV_GROUP = 0, LV_LIST = 1 };

void prof__w_init(prof__w *w, FILE *f)
{
	memset(w, 0, sizeof *w);
	w->f = f;
}

static void out(prof__w *w, const char *s)
{
	if (fputs(s, w->f) < 0)
		w->failed = 1;
}

static void indent(prof__w *w)
{
	for (int i = 0; i < w->depth; i++)
		out(w, "  ");
}

/* keyed[] is kept in the high bit of kind[]: whether a level was opened with a key. */
#define KEYED 2

/* Starts an item: "key = " in a group, a separator in a list. */
static void begin_item(prof__w *w, const char *key)
{
	if (key) {
		MS_ASSERT(w->depth == 0 || (w->kind[w->depth] & 1) == LV_GROUP, "setting '%s' inside a list", key);
		indent(w);
		out(w, key);
		out(w, " = ");
	} else {
		MS_ASSERT(w->depth > 0 && (w->kind[w->depth] & 1) == LV_LIST, "unnamed element outside a list (depth %d)",
			  w->depth);
		if (w->count[w->depth])
			out(w, ",\n");
		indent(w);
	}
	if (w->depth > 0)
		w->count[w->depth]++;
}

static void end_item(prof__w *w, int keyed)
{
	if (keyed)
		out(w, ";\n");
}

int prof__format_float(double v, int sig, char *buf, size_t len)
{
	char tmp[48], *e;
	if (!isfinite(v)) {
		snprintf(buf, len, "0.0");
		return 1;
	}
	if (sig > 0) {
		snprintf(tmp, sizeof tmp, "%.*g", sig, v);
	} else {
		/* The fewest significant digits that read back to the same double. */
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(tmp, sizeof tmp, "%.*g", prec, v);
			if (strtod(tmp, NULL) == v)
				break;
		}
	}
	if (strchr(tmp, '.')) {
		snprintf(buf, len, "%s", tmp);
		return 0;
	}
	/* libconfig needs the point to type it as a float: "12" -> "12.0", "1e+09" -> "1.0e+09". */
	e = strpbrk(tmp, "eE");
	if (e)
		snprintf(buf, len, "%.*s.0%s", (int)(e - tmp), tmp, e);
	else
		snprintf(buf, len, "%s.0", tmp);
	return 0;
}

static void out_float(prof__w *w, double v, int sig)
{
	char b[48];
	w->nonfinite += prof__format_float(v, sig, b, sizeof b);
	out(w, b);
}

static void out_int(prof__w *w, int64_t v, int wide)
{
	char b[32];
	snprintf(b, sizeof b, "%lld%s", (long long)v, wide ? "L" : "");
	out(w, b);
}

static void out_string(prof__w *w, const char *s)
{
	char b[8];
	out(w, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"': out(w, "\\\""); break;
		case '\\': out(w, "\\\\"); break;
		case '\n': out(w, "\\n"); break;
		case '\r': out(w, "\\r"); break;
		case '\t': out(w, "\\t"); break;
		case '\f': out(w, "\\f"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				snprintf(b, sizeof b, "\\x%02x", c);
			else
				b[0] = (char)c, b[1] = '\0';
			out(w, b);
		}
	}
	out(w, "\"");
}

void prof__w_comment(prof__w *w, const char *text)
{
	const char *s = text;
	do {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		indent(w);
		out(w, "// ");
		if (fwrite(s, 1, n, w->f) != n)
			w->failed = 1;
		out(w, "\n");
		s = nl ? nl + 1 : NULL;
	} while (s && *s);
}

void prof__w_str(prof__w *w, const char *key, const char *value)
{
	begin_item(w, key);
	out_string(w, value ? value : "");
	end_item(w, key != NULL);
}

static int needs_int64(int64_t v)
{
	return v > INT32_MAX || v < INT32_MIN;
}

void prof__w_int(prof__w *w, const char *key, int64_t value)
{
	begin_item(w, key);
	out_int(w, value, needs_int64(value));
	end_item(w, key != NULL);
}

void prof__w_bool(prof__w *w, const char *key, int value)
{
	begin_item(w, key);
	out(w, value ? "true" : "false");
	end_item(w, key != NULL);
}

void prof__w_float_sig(prof__w *w, const char *key, double value, int sig)
{
	begin_item(w, key);
	out_float(w, value, sig);
	end_item(w, key != NULL);
}

void prof__w_float(prof__w *w, const char *key, double value)
{
	prof__w_float_sig(w, key, value, 0);
}

static void array_sep(prof__w *w, int i)
{
	if (i && i % PER_LINE == 0) {
		out(w, ",\n");
		indent(w);
		out(w, "    ");
	} else if (i) {
		out(w, ", ");
	}
}

void prof__w_int_array(prof__w *w, const char *key, const int64_t *v, int n, int force64)
{
	int wide = force64;
	for (int i = 0; i < n && !wide; i++)
		wide = needs_int64(v[i]);
	begin_item(w, key);
	out(w, "[");
	for (int i = 0; i < n; i++) {
		array_sep(w, i);
		out_int(w, v[i], wide);
	}
	out(w, "]");
	end_item(w, key != NULL);
}

void prof__w_float_array_sig(prof__w *w, const char *key, const double *v, int n, int sig)
{
	begin_item(w, key);
	out(w, "[");
	for (int i = 0; i < n; i++) {
		array_sep(w, i);
		out_float(w, v[i], sig);
	}
	out(w, "]");
	end_item(w, key != NULL);
}

void prof__w_float_array(prof__w *w, const char *key, const double *v, int n)
{
	prof__w_float_array_sig(w, key, v, n, 0);
}

void prof__w_str_array(prof__w *w, const char *key, const char *const *v, int n)
{
	begin_item(w, key);
	out(w, "[");
	for (int i = 0; i < n; i++) {
		if (i)
			out(w, ", ");
		out_string(w, v[i]);
	}
	out(w, "]");
	end_item(w, key != NULL);
}

static void push(prof__w *w, int kind, int keyed)
{
	MS_ASSERT(w->depth + 1 < PROF__W_DEPTH, "nesting deeper than %d", PROF__W_DEPTH);
	w->depth++;
	w->kind[w->depth] = kind | (keyed ? KEYED : 0);
	w->count[w->depth] = 0;
}

void prof__w_group_begin(prof__w *w, const char *key)
{
	begin_item(w, key);
	out(w, "{\n");
	push(w, LV_GROUP, key != NULL);
}

void prof__w_group_end(prof__w *w)
{
	int keyed;
	MS_ASSERT(w->depth > 0 && (w->kind[w->depth] & 1) == LV_GROUP, "no group open (depth %d)", w->depth);
	keyed = (w->kind[w->depth] & KEYED) != 0;
	w->depth--;
	indent(w);
	out(w, "}");
	end_item(w, keyed);
}

void prof__w_list_begin(prof__w *w, const char *key)
{
	begin_item(w, key);
	out(w, "(\n");
	push(w, LV_LIST, key != NULL);
}

void prof__w_list_end(prof__w *w)
{
	int keyed;
	MS_ASSERT(w->depth > 0 && (w->kind[w->depth] & 1) == LV_LIST, "no list open (depth %d)", w->depth);
	keyed = (w->kind[w->depth] & KEYED) != 0;
	if (w->count[w->depth])
		out(w, "\n");
	w->depth--;
	indent(w);
	out(w, ")");
	end_item(w, keyed);
}

void prof__w_setting(prof__w *w, const void *vs, const char *skip)
{
	const config_setting_t *s = vs;
	const char *key = config_setting_name(s);
	int n = config_setting_length(s);
	/* An element of a list or array has no name; inside a group it always has one. */
	if (w->depth > 0 && (w->kind[w->depth] & 1) == LV_LIST)
		key = NULL;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		prof__w_group_begin(w, key);
		for (int i = 0; i < n; i++) {
			const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
			if (skip && strcmp(config_setting_name(m), skip) == 0)
				continue;
			prof__w_setting(w, m, NULL);
		}
		prof__w_group_end(w);
		break;
	case CONFIG_TYPE_LIST:
		prof__w_list_begin(w, key);
		for (int i = 0; i < n; i++)
			prof__w_setting(w, config_setting_get_elem(s, (unsigned)i), NULL);
		prof__w_list_end(w);
		break;
	case CONFIG_TYPE_ARRAY: {
		int wide = n > 0 && config_setting_type(config_setting_get_elem(s, 0)) == CONFIG_TYPE_INT64;
		begin_item(w, key);
		out(w, "[");
		for (int i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			array_sep(w, i);
			switch (config_setting_type(e)) {
			case CONFIG_TYPE_INT:
			case CONFIG_TYPE_INT64: out_int(w, config_setting_get_int64(e), wide); break;
			case CONFIG_TYPE_FLOAT: out_float(w, config_setting_get_float(e), 0); break;
			case CONFIG_TYPE_BOOL: out(w, config_setting_get_bool(e) ? "true" : "false"); break;
			default: out_string(w, config_setting_get_string(e)); break;
			}
		}
		out(w, "]");
		end_item(w, key != NULL);
		break;
	}
	case CONFIG_TYPE_INT:
		prof__w_int(w, key, config_setting_get_int(s));
		break;
	case CONFIG_TYPE_INT64:
		begin_item(w, key);
		out_int(w, config_setting_get_int64(s), 1);
		end_item(w, key != NULL);
		break;
	case CONFIG_TYPE_FLOAT:
		prof__w_float(w, key, config_setting_get_float(s));
		break;
	case CONFIG_TYPE_BOOL:
		prof__w_bool(w, key, config_setting_get_bool(s));
		break;
	case CONFIG_TYPE_STRING:
		prof__w_str(w, key, config_setting_get_string(s));
		break;
	default:
		break;
	}
}

/* --- prof_profile_write ------------------------------------------------------------- */

static void write_fit(prof__w *w, const prof_table *t)
{
	const prof_fit *f = &t->fit;
	const char *held[2];
	int nheld = 0;
	prof__w_group_begin(w, "fit");
	if (f->model == PROF_MODEL_ROOFLINE) {
		double F = prof_table_flops_per_token(t), W = prof_table_weight_bytes(t);
		double k = f->p[1], c = f->p[2], m = c * k;
		double var_m = k * k * f->cov[2][2] + c * c * f->cov[1][1] + 2 * c * k * f->cov[1][2];
		prof__w_comment(w, "t(n) = t0 + max(weight_bytes / weight_GBps, n * flops_per_token / peak_TFLOPs),\n"
				   "n tokens per expert (roofline, Williams et al. 2009; docs/profile-format.md)");
		prof__w_str(w, "model", "roofline");
		prof__w_float_sig(w, "t0_us", f->p[0] * 1e6, 7);
		prof__w_float_sig(w, "t0_us_se", f->se[0] * 1e6, 3);
		prof__w_float_sig(w, "peak_TFLOPs", F / c / 1e12, 7);
		prof__w_float_sig(w, "peak_TFLOPs_se", F * f->se[2] / (c * c) / 1e12, 3);
		prof__w_float_sig(w, "weight_GBps", W / m / 1e9, 7);
		prof__w_float_sig(w, "weight_GBps_se", W * sqrt(fmax(0.0, var_m)) / (m * m) / 1e9, 3);
		prof__w_float_sig(w, "knee_tokens", k, 7);
		prof__w_float_sig(w, "knee_tokens_se", f->se[1], 3);
		prof__w_float(w, "flops_per_token", F);
		prof__w_float(w, "weight_bytes", W);
		if (f->fixed & PROF_FIX_T0)
			held[nheld++] = "t0_us";
		if (f->fixed & PROF_FIX_KNEE)
			held[nheld++] = "knee_tokens";
	} else {
		double B = prof_table_bytes_per_x(t), b = f->p[1];
		prof__w_comment(w, t->kind == PROF_COPY || t->kind == PROF_ALLTOALL || t->kind == PROF_ALLTOALLV
					   ? "t(bytes) = latency + bytes / bandwidth (Hockney 1994; docs/profile-format.md)"
					   : "t(rows) = latency + rows * bytes_per_row / bandwidth (Hockney 1994;\n"
					     "docs/profile-format.md)");
		prof__w_str(w, "model", "latency_bandwidth");
		prof__w_float_sig(w, "latency_us", f->p[0] * 1e6, 7);
		prof__w_float_sig(w, "latency_us_se", f->se[0] * 1e6, 3);
		prof__w_float_sig(w, "bandwidth_GBps", B / b / 1e9, 7);
		prof__w_float_sig(w, "bandwidth_GBps_se", B * f->se[1] / (b * b) / 1e9, 3);
		if (t->kind == PROF_GATHER || t->kind == PROF_UNPERMUTE)
			prof__w_float(w, "bytes_per_row", B);
		if ((t->kind == PROF_ALLTOALL || t->kind == PROF_ALLTOALLV) && t->ranks > 1)
			prof__w_float_sig(w, "busbw_GBps", B / b / 1e9 * (t->ranks - 1.0) / t->ranks, 7);
		if (f->fixed & PROF_FIX_T0)
			held[nheld++] = "latency_us";
	}
	if (nheld)
		prof__w_str_array(w, "held", held, nheld);
	prof__w_int(w, "points", t->n);
	prof__w_int(w, "dof", f->dof);
	prof__w_float_sig(w, "rms_rel", f->rms_rel, 4);
	prof__w_float_sig(w, "max_rel", f->max_rel, 4);
	if (f->has_resid)
		prof__w_float_array_sig(w, "residual_rel", f->resid_rel, t->n, 4);
	prof__w_group_end(w);
}

static void write_table(prof__w *w, const prof_table *t)
{
	const config_setting_t *g = t->setting;
	/* The measured keys as they were, then the new fit block. */
	prof__w_group_begin(w, t->kind == PROF_COPY ? "copy" : NULL);
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		if (strcmp(config_setting_name(m), "fit") != 0)
			prof__w_setting(w, m, NULL);
	}
	write_fit(w, t);
	prof__w_group_end(w);
}

static void write_kind(prof__w *w, const prof_profile *p, const char *key, prof_kind k1, prof_kind k2)
{
	int any = 0;
	for (int i = 0; i < prof_profile_ntables(p); i++) {
		const prof_table *t = prof_profile_table(p, i);
		if (t->kind != k1 && t->kind != k2)
			continue;
		if (!any && k1 != PROF_COPY)
			prof__w_list_begin(w, key);
		any = 1;
		write_table(w, t);
	}
	if (any && k1 != PROF_COPY)
		prof__w_list_end(w);
}

int prof_profile_write(const prof_profile *p, FILE *f, const char *name, const char *command, ms_error *err)
{
	prof__w w;
	const config_setting_t *gpu = NULL;
	const char *prov_gpu = NULL, *first_name = NULL;
	char date[32], host[256];
	time_t now = time(NULL);
	struct tm tmv;
	int nf = prof__profile_nfiles(p);

	for (int i = 0; i < nf; i++) {
		const char *path, *s;
		int ds;
		const config_setting_t *prof = prof__profile_file(p, i, &path, &ds);
		const config_setting_t *prov = config_setting_get_member(prof, "provenance");
		MS_ASSERT(!ds, "datasheet profile %s given to the writer", path);
		if (!gpu)
			gpu = config_setting_get_member(prof, "gpu");
		if (!prov_gpu && prov && config_setting_lookup_string(prov, "gpu", &s))
			prov_gpu = s;
		if (!first_name && config_setting_lookup_string(prof, "name", &s))
			first_name = s;
	}
	gmtime_r(&now, &tmv);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
	if (gethostname(host, sizeof host) != 0)
		snprintf(host, sizeof host, "unknown");
	host[sizeof host - 1] = '\0';

	prof__w_init(&w, f);
	prof__w_comment(&w, "moesim calibration profile written by `moesim calibrate fit` (docs/profile-format.md):\n"
			    "the measured tables of its inputs, unchanged, each with the fitted model in `fit`.");
	prof__w_group_begin(&w, "profile");
	prof__w_str(&w, "name", name ? name : first_name ? first_name : "fitted profile");
	prof__w_str(&w, "source", "measured");
	prof__w_str(&w, "program", "moesim calibrate fit");
	prof__w_group_begin(&w, "provenance");
	if (prov_gpu)
		prof__w_str(&w, "gpu", prov_gpu);
	prof__w_str(&w, "date", date);
	prof__w_str(&w, "host", host);
	prof__w_str(&w, "command", command ? command : "");
	prof__w_group_end(&w);
	if (gpu)
		prof__w_setting(&w, gpu, NULL);
	/* Where every table came from: each input's provenance (inputs of a fitted input
	 * are carried over, not nested). */
	prof__w_list_begin(&w, "inputs");
	for (int i = 0; i < nf; i++) {
		const char *path, *s;
		int ds;
		const config_setting_t *prof = prof__profile_file(p, i, &path, &ds);
		const config_setting_t *inputs = config_setting_get_member(prof, "inputs");
		if (inputs && config_setting_type(inputs) == CONFIG_TYPE_LIST) {
			for (int j = 0; j < config_setting_length(inputs); j++)
				prof__w_setting(&w, config_setting_get_elem(inputs, (unsigned)j), NULL);
			continue;
		}
		prof__w_group_begin(&w, NULL);
		prof__w_str(&w, "file", path);
		if (config_setting_lookup_string(prof, "name", &s))
			prof__w_str(&w, "name", s);
		if (config_setting_lookup_string(prof, "program", &s))
			prof__w_str(&w, "program", s);
		if (config_setting_get_member(prof, "provenance"))
			prof__w_setting(&w, config_setting_get_member(prof, "provenance"), NULL);
		prof__w_group_end(&w);
	}
	prof__w_list_end(&w);
	prof__w_group_begin(&w, "fit");
	prof__w_str(&w, "method",
		    "gsl_multifit_nlinear (Levenberg-Marquardt) on relative residuals (t_fit - t) / t, started from "
		    "closed-form weighted least squares");
	prof__w_str(&w, "gemm_model", "roofline: t0 + max(weight_bytes / weight_GBps, tokens * flops_per_token / peak_TFLOPs)");
	prof__w_str(&w, "comm_model", "latency_bandwidth: latency + bytes / bandwidth");
	prof__w_str(&w, "date", date);
	prof__w_group_end(&w);
	write_kind(&w, p, "gemm", PROF_GEMM, PROF_GEMM);
	write_kind(&w, p, "copy", PROF_COPY, PROF_COPY);
	write_kind(&w, p, "permute", PROF_GATHER, PROF_UNPERMUTE);
	write_kind(&w, p, "alltoall", PROF_ALLTOALL, PROF_ALLTOALL);
	write_kind(&w, p, "alltoallv", PROF_ALLTOALLV, PROF_ALLTOALLV);
	prof__w_group_end(&w);
	assert(w.depth == 0);
	if (w.failed || ferror(f))
		return MS_ERROR(err, MS_EIO, "writing the profile failed");
	if (w.nonfinite)
		return MS_ERROR(err, MS_EINVAL, "%d value%s of the fitted profile %s not finite (a fit that diverged?)",
				w.nonfinite, w.nonfinite == 1 ? "" : "s", w.nonfinite == 1 ? "is" : "are");
	return MS_OK;
}
