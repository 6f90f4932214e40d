/*
 * prof_write.c - writes profiles as libconfig text: prof_profile_write, which merges the
 * files of a profile into one with a `fit` block in every table (see prof_profile.h;
 * format in docs/profile-format.md), and prof__w_setting, which copies a setting read
 * with libconfig into the text.
 *
 * The text is formatted by the libconfig writer the calibration programs use too
 * (common/ms_cfgwrite.h), into a FILE *: putting it under its final name atomically is
 * the caller's business (cli/, with common/ms_file.h), so this module stays free of
 * output policy. Invariant: what it writes, the reader reads back with the same types
 * and the same doubles.
 */
#include "profile/prof_internal.h"

#include <libconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void prof__w_setting(ms_cfgw *w, const void *vs, const char *skip)
{
	const config_setting_t *s = vs;
	const char *key = config_setting_name(s);
	int n = config_setting_length(s);
	/* An element of a list or array has no name; inside a group it always has one. */
	if (!ms_cfgw_wants_key(w))
		key = NULL;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		ms_cfgw_group_begin(w, key);
		for (int i = 0; i < n; i++) {
			const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
			if (skip && strcmp(config_setting_name(m), skip) == 0)
				continue;
			prof__w_setting(w, m, NULL);
		}
		ms_cfgw_group_end(w);
		break;
	case CONFIG_TYPE_LIST:
		ms_cfgw_list_begin(w, key);
		for (int i = 0; i < n; i++)
			prof__w_setting(w, config_setting_get_elem(s, (unsigned)i), NULL);
		ms_cfgw_list_end(w);
		break;
	case CONFIG_TYPE_ARRAY: {
		/* libconfig arrays hold one type: int64 on one element means L on all. */
		int wide = n > 0 && config_setting_type(config_setting_get_elem(s, 0)) == CONFIG_TYPE_INT64;
		ms_cfgw_array_begin(w, key);
		for (int i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			switch (config_setting_type(e)) {
			case CONFIG_TYPE_INT:
			case CONFIG_TYPE_INT64:
				if (wide)
					ms_cfgw_int64(w, NULL, config_setting_get_int64(e));
				else
					ms_cfgw_int(w, NULL, config_setting_get_int64(e));
				break;
			case CONFIG_TYPE_FLOAT: ms_cfgw_float_sig(w, NULL, config_setting_get_float(e), 0); break;
			case CONFIG_TYPE_BOOL: ms_cfgw_bool(w, NULL, config_setting_get_bool(e)); break;
			default: ms_cfgw_str(w, NULL, config_setting_get_string(e)); break;
			}
		}
		ms_cfgw_array_end(w);
		break;
	}
	case CONFIG_TYPE_INT:
		ms_cfgw_int(w, key, config_setting_get_int(s));
		break;
	case CONFIG_TYPE_INT64:
		ms_cfgw_int64(w, key, config_setting_get_int64(s));
		break;
	case CONFIG_TYPE_FLOAT:
		ms_cfgw_float_sig(w, key, config_setting_get_float(s), 0);
		break;
	case CONFIG_TYPE_BOOL:
		ms_cfgw_bool(w, key, config_setting_get_bool(s));
		break;
	case CONFIG_TYPE_STRING:
		ms_cfgw_str(w, key, config_setting_get_string(s));
		break;
	default:
		break;
	}
}

/* --- prof_profile_write ------------------------------------------------------------- */

static void write_fit(ms_cfgw *w, const prof_table *t)
{
	const prof_fit *f = &t->fit;
	const char *held[2];
	int nheld = 0;
	ms_cfgw_group_begin(w, "fit");
	if (f->model == PROF_MODEL_ROOFLINE) {
		double F = prof_table_flops_per_token(t), W = prof_table_weight_bytes(t);
		double k = f->p[1], c = f->p[2], m = c * k;
		double var_m = k * k * f->cov[2][2] + c * c * f->cov[1][1] + 2 * c * k * f->cov[1][2];
		ms_cfgw_comment(w, "t(n) = t0 + max(weight_bytes / weight_GBps, n * flops_per_token / peak_TFLOPs),\n"
				   "n tokens per expert (roofline, Williams et al. 2009; docs/profile-format.md)");
		ms_cfgw_str(w, "model", "roofline");
		ms_cfgw_float_sig(w, "t0_us", f->p[0] * 1e6, 7);
		ms_cfgw_float_sig(w, "t0_us_se", f->se[0] * 1e6, 3);
		ms_cfgw_float_sig(w, "peak_TFLOPs", F / c / 1e12, 7);
		ms_cfgw_float_sig(w, "peak_TFLOPs_se", F * f->se[2] / (c * c) / 1e12, 3);
		ms_cfgw_float_sig(w, "weight_GBps", W / m / 1e9, 7);
		ms_cfgw_float_sig(w, "weight_GBps_se", W * sqrt(fmax(0.0, var_m)) / (m * m) / 1e9, 3);
		ms_cfgw_float_sig(w, "knee_tokens", k, 7);
		ms_cfgw_float_sig(w, "knee_tokens_se", f->se[1], 3);
		ms_cfgw_float(w, "flops_per_token", F);
		ms_cfgw_float(w, "weight_bytes", W);
		if (f->fixed & PROF_FIX_T0)
			held[nheld++] = "t0_us";
		if (f->fixed & PROF_FIX_KNEE)
			held[nheld++] = "knee_tokens";
	} else {
		double B = prof_table_bytes_per_x(t), b = f->p[1];
		ms_cfgw_comment(w, t->kind == PROF_COPY || t->kind == PROF_ALLTOALL || t->kind == PROF_ALLTOALLV
					   ? "t(bytes) = latency + bytes / bandwidth (Hockney 1994; docs/profile-format.md)"
					   : "t(rows) = latency + rows * bytes_per_row / bandwidth (Hockney 1994;\n"
					     "docs/profile-format.md)");
		ms_cfgw_str(w, "model", "latency_bandwidth");
		ms_cfgw_float_sig(w, "latency_us", f->p[0] * 1e6, 7);
		ms_cfgw_float_sig(w, "latency_us_se", f->se[0] * 1e6, 3);
		ms_cfgw_float_sig(w, "bandwidth_GBps", B / b / 1e9, 7);
		ms_cfgw_float_sig(w, "bandwidth_GBps_se", B * f->se[1] / (b * b) / 1e9, 3);
		if (t->kind == PROF_GATHER || t->kind == PROF_UNPERMUTE)
			ms_cfgw_float(w, "bytes_per_row", B);
		if ((t->kind == PROF_ALLTOALL || t->kind == PROF_ALLTOALLV) && t->ranks > 1)
			ms_cfgw_float_sig(w, "busbw_GBps", B / b / 1e9 * (t->ranks - 1.0) / t->ranks, 7);
		if (f->fixed & PROF_FIX_T0)
			held[nheld++] = "latency_us";
	}
	if (nheld)
		ms_cfgw_str_array(w, "held", held, nheld);
	ms_cfgw_int(w, "points", t->n);
	ms_cfgw_int(w, "dof", f->dof);
	ms_cfgw_float_sig(w, "rms_rel", f->rms_rel, 4);
	ms_cfgw_float_sig(w, "max_rel", f->max_rel, 4);
	if (f->has_resid)
		ms_cfgw_float_array_sig(w, "residual_rel", f->resid_rel, t->n, 4);
	ms_cfgw_group_end(w);
}

static void write_table(ms_cfgw *w, const prof_table *t)
{
	const config_setting_t *g = t->setting;
	/* The measured keys as they were, then the new fit block. */
	ms_cfgw_group_begin(w, t->kind == PROF_COPY ? "copy" : NULL);
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		if (strcmp(config_setting_name(m), "fit") != 0)
			prof__w_setting(w, m, NULL);
	}
	write_fit(w, t);
	ms_cfgw_group_end(w);
}

static void write_kind(ms_cfgw *w, const prof_profile *p, const char *key, prof_kind k1, prof_kind k2)
{
	int any = 0;
	for (int i = 0; i < prof_profile_ntables(p); i++) {
		const prof_table *t = prof_profile_table(p, i);
		if (t->kind != k1 && t->kind != k2)
			continue;
		if (!any && k1 != PROF_COPY)
			ms_cfgw_list_begin(w, key);
		any = 1;
		write_table(w, t);
	}
	if (any && k1 != PROF_COPY)
		ms_cfgw_list_end(w);
}

int prof_profile_write(const prof_profile *p, FILE *f, const char *name, const char *command, ms_error *err)
{
	ms_cfgw w;
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

	ms_cfgw_init(&w, f, 0);
	ms_cfgw_comment(&w, "moesim calibration profile written by `moesim calibrate fit` (docs/profile-format.md):\n"
			    "the measured tables of its inputs, unchanged, each with the fitted model in `fit`.");
	ms_cfgw_group_begin(&w, "profile");
	ms_cfgw_str(&w, "name", name ? name : first_name ? first_name : "fitted profile");
	ms_cfgw_str(&w, "source", "measured");
	ms_cfgw_str(&w, "program", "moesim calibrate fit");
	ms_cfgw_group_begin(&w, "provenance");
	if (prov_gpu)
		ms_cfgw_str(&w, "gpu", prov_gpu);
	ms_cfgw_str(&w, "date", date);
	ms_cfgw_str(&w, "host", host);
	ms_cfgw_str(&w, "command", command ? command : "");
	ms_cfgw_group_end(&w);
	if (gpu)
		prof__w_setting(&w, gpu, NULL);
	/* Where every table came from: each input's provenance (inputs of a fitted input
	 * are carried over, not nested). */
	ms_cfgw_list_begin(&w, "inputs");
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
		ms_cfgw_group_begin(&w, NULL);
		ms_cfgw_str(&w, "file", path);
		if (config_setting_lookup_string(prof, "name", &s))
			ms_cfgw_str(&w, "name", s);
		if (config_setting_lookup_string(prof, "program", &s))
			ms_cfgw_str(&w, "program", s);
		if (config_setting_get_member(prof, "provenance"))
			prof__w_setting(&w, config_setting_get_member(prof, "provenance"), NULL);
		ms_cfgw_group_end(&w);
	}
	ms_cfgw_list_end(&w);
	ms_cfgw_group_begin(&w, "fit");
	ms_cfgw_str(&w, "method",
		    "gsl_multifit_nlinear (Levenberg-Marquardt) on relative residuals (t_fit - t) / t, started from "
		    "closed-form weighted least squares");
	ms_cfgw_str(&w, "gemm_model", "roofline: t0 + max(weight_bytes / weight_GBps, tokens * flops_per_token / peak_TFLOPs)");
	ms_cfgw_str(&w, "comm_model", "latency_bandwidth: latency + bytes / bandwidth");
	ms_cfgw_str(&w, "date", date);
	ms_cfgw_group_end(&w);
	write_kind(&w, p, "gemm", PROF_GEMM, PROF_GEMM);
	write_kind(&w, p, "copy", PROF_COPY, PROF_COPY);
	write_kind(&w, p, "permute", PROF_GATHER, PROF_UNPERMUTE);
	write_kind(&w, p, "alltoall", PROF_ALLTOALL, PROF_ALLTOALL);
	write_kind(&w, p, "alltoallv", PROF_ALLTOALLV, PROF_ALLTOALLV);
	ms_cfgw_group_end(&w);
	MS_ASSERT(w.depth == 0, "profile text left %d levels open", w.depth);
	if (w.failed || ferror(f))
		return MS_ERROR(err, MS_EIO, "writing the profile failed");
	if (w.nonfinite)
		return MS_ERROR(err, MS_EINVAL, "%d value%s of the fitted profile %s not finite (a fit that diverged?)",
				w.nonfinite, w.nonfinite == 1 ? "" : "s", w.nonfinite == 1 ? "is" : "are");
	return MS_OK;
}
