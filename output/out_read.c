/*
 * out_read.c - a stored run read back (see out_read.h).
 *
 * Strings are read whether the writer stored them fixed-length (version 2) or
 * variable-length UTF-8: HDF5 converts neither into the other, so each reader looks at
 * the file's type first. The scenario text is parsed with libconfig, the parser that
 * wrote it can be loaded back with (`moesim run`), so the diff is of values, not of
 * spacing.
 */
#include "output/out_read.h"

#include <hdf5.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_h5.h"

/* A string attribute of loc, or NULL. */
static char *attr_string(hid_t loc, const char *name)
{
	hid_t a, ft;
	char *out = NULL;
	if (H5Aexists(loc, name) <= 0 || (a = H5Aopen(loc, name, H5P_DEFAULT)) < 0)
		return NULL;
	if ((ft = H5Aget_type(a)) >= 0) {
		out = ms_h5_attr_string(a, ft);
		H5Tclose(ft);
	}
	H5Aclose(a);
	return out;
}

/* A scalar numeric attribute as a double: 1, or 0 when absent or not a number. */
static int attr_number(hid_t loc, const char *name, double *v)
{
	hid_t a, ft;
	int ok = 0;
	if (H5Aexists(loc, name) <= 0 || (a = H5Aopen(loc, name, H5P_DEFAULT)) < 0)
		return 0;
	ft = H5Aget_type(a);
	if (ft >= 0 && (H5Tget_class(ft) == H5T_INTEGER || H5Tget_class(ft) == H5T_FLOAT)) {
		hid_t sp = H5Aget_space(a);
		if (sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1)
			ok = H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
		if (sp >= 0)
			H5Sclose(sp);
	}
	if (ft >= 0)
		H5Tclose(ft);
	H5Aclose(a);
	return ok;
}

/* A 1-D dataset's length, or -1. */
static long long ds_len(hid_t file, const char *path)
{
	hid_t d, sp;
	hssize_t n = -1;
	if (H5Lexists(file, path, H5P_DEFAULT) <= 0 || (d = H5Dopen2(file, path, H5P_DEFAULT)) < 0)
		return -1;
	sp = H5Dget_space(d);
	if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1)
		n = H5Sget_simple_extent_npoints(sp);
	if (sp >= 0)
		H5Sclose(sp);
	H5Dclose(d);
	return n;
}

/* Reads a 1-D string dataset of n entries into out[n][width] (truncated to fit). */
static int ds_strings(hid_t file, const char *path, int n, char *out, size_t width)
{
	hid_t d = H5Dopen2(file, path, H5P_DEFAULT), ft = -1;
	char **v = calloc((size_t)n, sizeof *v);
	int ok = 0;
	if (d >= 0 && v && (ft = H5Dget_type(d)) >= 0 && ms_h5_read_strings(d, ft, (size_t)n, v) == 0) {
		for (int i = 0; i < n; i++) {
			snprintf(out + (size_t)i * width, width, "%s", v[i]);
			free(v[i]);
		}
		ok = 1;
	}
	free(v);
	if (ft >= 0)
		H5Tclose(ft);
	if (d >= 0)
		H5Dclose(d);
	return ok;
}

/* A 2-D float dataset read whole: its dims in d[2] and a malloc'd array, or NULL. */
static double *ds_matrix(hid_t file, const char *path, hsize_t d[2])
{
	hid_t ds, sp;
	double *out = NULL;
	if (H5Lexists(file, path, H5P_DEFAULT) <= 0 || (ds = H5Dopen2(file, path, H5P_DEFAULT)) < 0)
		return NULL;
	sp = H5Dget_space(ds);
	if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 2 && H5Sget_simple_extent_dims(sp, d, NULL) == 2 && d[0] > 0 &&
	    d[1] > 0 && (out = malloc((size_t)(d[0] * d[1]) * sizeof *out)) &&
	    H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
		free(out);
		out = NULL;
	}
	if (sp >= 0)
		H5Sclose(sp);
	H5Dclose(ds);
	return out;
}

static int ds_doubles(hid_t file, const char *path, double *out)
{
	hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
	int ok;
	if (d < 0)
		return 0;
	ok = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
	H5Dclose(d);
	return ok;
}

typedef struct collect {
	out_run *r;
	hid_t g;
	int failed;
} collect;

static herr_t summary_attr(hid_t loc, const char *name, const H5A_info_t *info, void *op)
{
	collect *c = op;
	double v;
	(void)loc;
	(void)info;
	if (!attr_number(c->g, name, &v))
		return 0; /* a string attribute: not a figure */
	{
		out_run *r = c->r;
		void *a = realloc(r->summary_name, (size_t)(r->n_summary + 1) * sizeof *r->summary_name);
		void *b;
		if (!a)
			return c->failed = -1;
		r->summary_name = a;
		b = realloc(r->summary_value, (size_t)(r->n_summary + 1) * sizeof *r->summary_value);
		if (!b)
			return c->failed = -1;
		r->summary_value = b;
		snprintf(r->summary_name[r->n_summary], OUT_RUN_NAME_MAX, "%s", name);
		r->summary_value[r->n_summary++] = v;
	}
	return 0;
}

/* ---- the scenario, flattened ---- */

typedef struct buf {
	char *s;
	size_t n, cap;
} buf;

static void put(buf *b, const char *s)
{
	size_t k = strlen(s);
	if (b->n + k + 1 > b->cap) {
		size_t cap = (b->n + k + 1) * 2;
		char *p = realloc(b->s, cap);
		if (!p)
			return;
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, k + 1);
	b->n += k;
}

static void value_text(buf *b, const config_setting_t *st)
{
	char t[64];
	switch (config_setting_type(st)) {
	case CONFIG_TYPE_INT:
		snprintf(t, sizeof t, "%d", config_setting_get_int(st));
		put(b, t);
		break;
	case CONFIG_TYPE_INT64:
		snprintf(t, sizeof t, "%lld", config_setting_get_int64(st));
		put(b, t);
		break;
	case CONFIG_TYPE_FLOAT:
		snprintf(t, sizeof t, "%.15g", config_setting_get_float(st));
		put(b, t);
		break;
	case CONFIG_TYPE_BOOL:
		put(b, config_setting_get_bool(st) ? "true" : "false");
		break;
	case CONFIG_TYPE_STRING:
		put(b, "\"");
		put(b, config_setting_get_string(st));
		put(b, "\"");
		break;
	default: { /* array, list (a group inside a list prints as its values) */
		int n = config_setting_length(st);
		put(b, config_setting_type(st) == CONFIG_TYPE_LIST ? "(" : "[");
		for (int i = 0; i < n; i++) {
			if (i)
				put(b, ", ");
			value_text(b, config_setting_get_elem(st, (unsigned)i));
		}
		put(b, config_setting_type(st) == CONFIG_TYPE_LIST ? ")" : "]");
	}
	}
}

static int flatten(out_run *r, const config_setting_t *g, const char *prefix)
{
	int n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *st = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(st);
		char key[256];
		snprintf(key, sizeof key, "%s%s%s", prefix, prefix[0] ? "." : "", name ? name : "?");
		if (config_setting_type(st) == CONFIG_TYPE_GROUP) {
			if (flatten(r, st, key) < 0)
				return -1;
		} else {
			buf b = {0};
			out_kv *k = realloc(r->keys, (size_t)(r->n_keys + 1) * sizeof *r->keys);
			if (!k)
				return -1;
			r->keys = k;
			value_text(&b, st);
			k[r->n_keys].key = strdup(key);
			k[r->n_keys].value = b.s;
			if (!k[r->n_keys].key || !b.s) {
				free(k[r->n_keys].key);
				free(b.s);
				return -1;
			}
			r->n_keys++;
		}
	}
	return 0;
}

int out_run_read(out_run *r, const char *path, ms_error *err)
{
	hid_t file, g;
	char *fmt;
	double v;
	long long n;
	int rc = MS_OK;
	memset(r, 0, sizeof *r);
	r->path = path;
	r->seed = -1;
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	{
		FILE *f = fopen(path, "rb");
		if (!f)
			return MS_ERROR(err, MS_EIO, "cannot open '%s': no such file or not readable (write one with "
				       "moesim run -o %s)", path, path);
		fclose(f);
	}
	if (H5Fis_hdf5(path) <= 0)
		return MS_ERROR(err, MS_EFORMAT, "%s: not an HDF5 file; moesim report reads the files of moesim run -o "
			       "FILE.h5", path);
	file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (file < 0)
		return MS_ERROR(err, MS_EFORMAT, "%s: HDF5 cannot open it (truncated or corrupt?)", path);
	fmt = attr_string(file, "format");
	if (!fmt || strcmp(fmt, "moesim-run") != 0) {
		rc = MS_ERROR(err, MS_EFORMAT, "%s: not a moesim run file (root attribute 'format' is %s%s%s, not "
			      "\"moesim-run\"); write one with moesim run -o FILE.h5", path, fmt ? "\"" : "",
			      fmt ? fmt : "missing", fmt ? "\"" : "");
		goto done;
	}
	if (attr_number(file, "version", &v))
		r->version = (long long)v;
	if (attr_number(file, "seed", &v))
		r->seed = (long long)v;
	{
		char *s = attr_string(file, "moesim_version"), *m = attr_string(file, "network_model");
		snprintf(r->moesim_version, sizeof r->moesim_version, "%s", s ? s : "?");
		snprintf(r->network_model, sizeof r->network_model, "%s", m ? m : "?");
		free(s);
		free(m);
	}
	r->scenario_source = attr_string(file, "scenario_source");
	r->scenario = attr_string(file, "scenario");
	r->overrides = attr_string(file, "overrides");
	r->profile_source = attr_string(file, "profile_source");
	if (!r->scenario) {
		rc = MS_ERROR(err, MS_EFORMAT, "%s: the run has no root attribute 'scenario' (the resolved scenario); "
			      "rewrite it with this moesim's run -o", path);
		goto done;
	}
	{
		config_t cfg;
		config_init(&cfg);
		if (config_read_string(&cfg, r->scenario) != CONFIG_TRUE) {
			rc = MS_ERROR(err, MS_EFORMAT, "%s: root attribute 'scenario', line %d: %s", path,
				      config_error_line(&cfg), config_error_text(&cfg));
		} else if (flatten(r, config_root_setting(&cfg), "") < 0) {
			rc = MS_ERROR(err, MS_ENOMEM, "out of memory reading '%s'", path);
		}
		config_destroy(&cfg);
		if (rc < 0)
			goto done;
	}
	if (H5Lexists(file, "summary", H5P_DEFAULT) <= 0 || (g = H5Gopen2(file, "summary", H5P_DEFAULT)) < 0) {
		rc = MS_ERROR(err, MS_EFORMAT, "%s: the run has no group /summary; it is not complete (rewrite it with "
			      "moesim run -o)", path);
		goto done;
	}
	{
		collect c = {r, g, 0};
		hsize_t idx = 0;
		H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, summary_attr, &c);
		H5Gclose(g);
		if (c.failed) {
			rc = MS_ERROR(err, MS_ENOMEM, "out of memory reading '%s'", path);
			goto done;
		}
	}
	if (!out_run_summary(r, "step_time_s", &v)) {
		rc = MS_ERROR(err, MS_EFORMAT, "%s: /summary has no attribute 'step_time_s'; it is not complete "
			      "(rewrite it with moesim run -o)", path);
		goto done;
	}
	if ((n = ds_len(file, "phases/phase_names")) > 0) {
		r->phase_name = calloc((size_t)n, sizeof *r->phase_name);
		if (!r->phase_name || !ds_strings(file, "phases/phase_names", (int)n, r->phase_name[0], OUT_RUN_NAME_MAX)) {
			rc = MS_ERROR(err, MS_EFORMAT, "%s: /phases/phase_names cannot be read", path);
			goto done;
		}
		r->n_phases = (int)n;
	}
	{
		hsize_t d[2], dl[2], de[2];
		if (!(r->step_phase_s = ds_matrix(file, "phases/step_time_s", d)) || (int)d[1] != r->n_phases) {
			rc = MS_ERROR(err, MS_EFORMAT, "%s: /phases/step_time_s is missing or not [gpus, %d phases]", path,
				      r->n_phases);
			goto done;
		}
		r->gpus = (int)d[0];
		r->gpu_load = ds_matrix(file, "layers/gpu_load", dl);
		r->expert_demand = ds_matrix(file, "layers/expert_demand", de);
		if (r->gpu_load && r->expert_demand && dl[0] == de[0] && (int)dl[1] == r->gpus) {
			r->moe_layers = (int)dl[0];
			r->experts = (int)de[1];
		} else {
			free(r->gpu_load);
			free(r->expert_demand);
			r->gpu_load = r->expert_demand = NULL;
		}
	}
	if ((n = ds_len(file, "memory/part_names")) > 0 && ds_len(file, "memory/peak_parts_bytes") == n) {
		r->mem_part_name = calloc((size_t)n, sizeof *r->mem_part_name);
		r->mem_part_bytes = calloc((size_t)n, sizeof *r->mem_part_bytes);
		if (!r->mem_part_name || !r->mem_part_bytes ||
		    !ds_strings(file, "memory/part_names", (int)n, r->mem_part_name[0], OUT_RUN_NAME_MAX) ||
		    !ds_doubles(file, "memory/peak_parts_bytes", r->mem_part_bytes)) {
			rc = MS_ERROR(err, MS_EFORMAT, "%s: /memory cannot be read", path);
			goto done;
		}
		r->n_mem_parts = (int)n;
		if ((g = H5Gopen2(file, "memory", H5P_DEFAULT)) >= 0) {
			if (attr_number(g, "peak_stage", &v))
				r->mem_peak_stage = (long long)v;
			H5Gclose(g);
		}
	}
	if ((n = ds_len(file, "network/hot_link_names")) > 0 && ds_len(file, "network/hot_link_utilisation") == n &&
	    ds_len(file, "network/hot_link_bytes") == n) {
		r->hot_link_name = calloc((size_t)n, sizeof *r->hot_link_name);
		r->hot_link_util = calloc((size_t)n, sizeof *r->hot_link_util);
		r->hot_link_bytes = calloc((size_t)n, sizeof *r->hot_link_bytes);
		if (!r->hot_link_name || !r->hot_link_util || !r->hot_link_bytes ||
		    !ds_strings(file, "network/hot_link_names", (int)n, r->hot_link_name[0], sizeof r->hot_link_name[0]) ||
		    !ds_doubles(file, "network/hot_link_utilisation", r->hot_link_util) ||
		    !ds_doubles(file, "network/hot_link_bytes", r->hot_link_bytes)) {
			rc = MS_ERROR(err, MS_EFORMAT, "%s: /network cannot be read", path);
			goto done;
		}
		r->n_hot_links = (int)n;
	}
done:
	free(fmt);
	H5Fclose(file);
	if (rc < 0)
		out_run_free(r);
	return rc;
}

void out_run_free(out_run *r)
{
	free(r->scenario_source);
	free(r->scenario);
	free(r->overrides);
	free(r->profile_source);
	free(r->summary_name);
	free(r->summary_value);
	free(r->phase_name);
	free(r->mem_part_name);
	free(r->mem_part_bytes);
	free(r->step_phase_s);
	free(r->gpu_load);
	free(r->expert_demand);
	free(r->hot_link_name);
	free(r->hot_link_util);
	free(r->hot_link_bytes);
	for (int i = 0; i < r->n_keys; i++) {
		free(r->keys[i].key);
		free(r->keys[i].value);
	}
	free(r->keys);
	memset(r, 0, sizeof *r);
}

int out_run_summary(const out_run *r, const char *name, double *v)
{
	for (int i = 0; i < r->n_summary; i++)
		if (strcmp(r->summary_name[i], name) == 0) {
			*v = r->summary_value[i];
			return 1;
		}
	return 0;
}

const char *out_run_key(const out_run *r, const char *key)
{
	for (int i = 0; i < r->n_keys; i++)
		if (strcmp(r->keys[i].key, key) == 0)
			return r->keys[i].value;
	return NULL;
}
