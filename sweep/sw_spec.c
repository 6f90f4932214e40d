/*
 * sw_spec.c - reading a scenario's sweep section into axes (see sw_spec.h).
 *
 * libconfig names cannot hold dots, so the section nests keys in their scenario
 * sections, as the scenario itself does. Values may be an array [ ] (one type) or a
 * list ( ) (mixed, e.g. numbers and "dropless"). Each value is turned into the text a
 * --set item takes and checked by the scenario's own table (scn_value_check), so a
 * value is accepted here exactly when `--set` would accept it.
 */
#include "sweep/sw_spec.h"

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_config.h"
#include "common/ms_file.h"

const char *sw_format_double(double v, char *buf, size_t len)
{
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return buf;
	}
	return buf;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* A value of the section as the text of a --set item. */
static int value_text(const sw_spec *sp, const char *key, const config_setting_t *v, char *buf, ms_error *err)
{
	int t = config_setting_type(v);
	switch (t) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		snprintf(buf, SW_VALUE_MAX, "%lld", config_setting_get_int64(v));
		return MS_OK;
	case CONFIG_TYPE_FLOAT:
		sw_format_double(config_setting_get_float(v), buf, SW_VALUE_MAX);
		return MS_OK;
	case CONFIG_TYPE_BOOL:
		snprintf(buf, SW_VALUE_MAX, "%s", config_setting_get_bool(v) ? "true" : "false");
		return MS_OK;
	case CONFIG_TYPE_STRING:
		if (strlen(config_setting_get_string(v)) >= SW_VALUE_MAX)
			return MS_ERROR(err, MS_EINVAL, "%s:%u: sweep value of %s is too long (at most %d characters)",
					sp->path, config_setting_source_line(v), key, SW_VALUE_MAX - 1);
		snprintf(buf, SW_VALUE_MAX, "%s", config_setting_get_string(v));
		return MS_OK;
	}
	return MS_ERROR(err, MS_EINVAL, "%s:%u: sweep %s: a value must be a number, a string or a boolean, not %s",
			sp->path, config_setting_source_line(v), key, ms_config_type_name(t));
}

/* Adds key `full` with the values of list v to the axis being built. */
static int add_key(sw_spec *sp, const char *full, const config_setting_t *v, sw_axis *ax, ms_error *err)
{
	int t = config_setting_type(v), n, ki, j;
	char where[SCN_PATH_MAX + 64], text[SW_VALUE_MAX];
	unsigned line = config_setting_source_line(v);
	snprintf(where, sizeof where, "%s:%u", sp->path, line);
	if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
		return MS_ERROR(err, MS_EINVAL,
				"%s: sweep %s must be a list of values, e.g. [1, 2] or (1.0, \"dropless\"), not %s", where,
				full, ms_config_type_name(t));
	ki = scn_key_index(full);
	if (ki < 0)
		return scn_value_check(full, "", where, err); /* the unknown-key message, with a suggestion */
	if (strcmp(full, "output.h5") == 0)
		return MS_ERROR(err, MS_EINVAL, "%s: output.h5 cannot be swept: a sweep writes one table (moesim sweep -o DIR)",
				where);
	for (j = 0; j < sp->nkeys; j++)
		if (sp->key[j] == ki)
			return MS_ERROR(err, MS_EINVAL, "%s: %s is swept twice (also at line %d); sweep each key once", where,
					full, sp->line[j][0]);
	for (j = 0; j < sp->base.n; j++) {
		size_t kl = strlen(full);
		if (strncmp(sp->base.items[j], full, kl) == 0 && sp->base.items[j][kl] == '=')
			return MS_ERROR(err, MS_EINVAL, "--set %s: %s is swept at %s; drop the --set or the sweep list",
					sp->base.items[j], full, where);
	}
	n = config_setting_length(v);
	if (n == 0)
		return MS_ERROR(err, MS_EINVAL, "%s: sweep %s has no values; give at least one", where, full);
	if (ax->nkeys > 0 && n != ax->nvalues)
		return MS_ERROR(err, MS_EINVAL,
				"%s: zip group at line %d: %s has %d values but %s has %d; keys that move together need "
				"as many values each",
				where, ax->line, full, n, scn_key_name(sp->key[ax->first]), ax->nvalues);
	if (sp->nkeys == SW_MAX_KEYS || sp->base.n + sp->nkeys + 1 > SCN_MAX_OVERRIDES)
		return MS_ERROR(err, MS_EINVAL, "%s: too many swept keys (at most %d, with the --set items %d)", where,
				SW_MAX_KEYS, SCN_MAX_OVERRIDES);
	j = sp->nkeys;
	sp->value[j] = calloc((size_t)n, SW_VALUE_MAX);
	sp->line[j] = calloc((size_t)n, sizeof(int));
	if (!sp->value[j] || !sp->line[j])
		return MS_ERROR(err, MS_ENOMEM, "out of memory reading the sweep");
	sp->key[j] = ki;
	sp->nkeys++;
	for (int e = 0; e < n; e++) {
		const config_setting_t *el = config_setting_get_elem(v, (unsigned)e);
		snprintf(where, sizeof where, "%s:%u", sp->path, config_setting_source_line(el));
		if (value_text(sp, full, el, text, err) < 0)
			return err->code;
		if (scn_value_check(full, text, where, err) < 0)
			return err->code;
		memcpy(sp->value[j] + (size_t)e * SW_VALUE_MAX, text, strlen(text) + 1);
		sp->line[j][e] = (int)config_setting_source_line(el);
	}
	if (ax->nkeys == 0) {
		ax->first = j;
		ax->nvalues = n;
	}
	ax->nkeys++;
	return MS_OK;
}

/* The keys of group g (sections holding key lists) into axes: one each, or one for all (zip). */
static int add_group(sw_spec *sp, const config_setting_t *g, int zip, ms_error *err)
{
	sw_axis zax = {0, 0, 0, (int)config_setting_source_line(g)};
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *sec = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(sec);
		if (!zip && name && strcmp(name, "zip") == 0) {
			if (config_setting_type(sec) != CONFIG_TYPE_LIST)
				return MS_ERROR(err, MS_EINVAL,
						"%s:%u: sweep zip must be a list of groups: zip = ( { section = { key = [...]; }; } );",
						sp->path, config_setting_source_line(sec));
			for (int z = 0; z < config_setting_length(sec); z++) {
				const config_setting_t *zg = config_setting_get_elem(sec, (unsigned)z);
				if (config_setting_type(zg) != CONFIG_TYPE_GROUP)
					return MS_ERROR(err, MS_EINVAL,
							"%s:%u: each zip entry must be a group { section = { key = [...]; }; }",
							sp->path, config_setting_source_line(zg));
				if (add_group(sp, zg, 1, err) < 0)
					return err->code;
			}
			continue;
		}
		if (config_setting_type(sec) != CONFIG_TYPE_GROUP)
			return MS_ERROR(err, MS_EINVAL,
					"%s:%u: sweep %s must be a scenario section holding lists: %s = { key = [v1, v2]; };",
					sp->path, config_setting_source_line(sec), name ? name : "entry", name ? name : "section");
		for (int e = 0; e < config_setting_length(sec); e++) {
			const config_setting_t *v = config_setting_get_elem(sec, (unsigned)e);
			char full[SCN_NAME_MAX];
			snprintf(full, sizeof full, "%s.%s", name, config_setting_name(v));
			if (!zip) {
				sw_axis ax = {0, 0, 0, (int)config_setting_source_line(v)};
				if (sp->naxes == SW_MAX_AXES)
					return MS_ERROR(err, MS_EINVAL, "%s:%u: too many sweep axes (at most %d)", sp->path,
							config_setting_source_line(v), SW_MAX_AXES);
				if (add_key(sp, full, v, &ax, err) < 0)
					return err->code;
				sp->axis[sp->naxes++] = ax;
			} else if (add_key(sp, full, v, &zax, err) < 0) {
				return err->code;
			}
		}
	}
	if (zip) {
		if (zax.nkeys == 0)
			return MS_ERROR(err, MS_EINVAL, "%s:%d: empty zip group: give the keys that move together", sp->path,
					zax.line);
		if (sp->naxes == SW_MAX_AXES)
			return MS_ERROR(err, MS_EINVAL, "%s:%d: too many sweep axes (at most %d)", sp->path, zax.line,
					SW_MAX_AXES);
		sp->axis[sp->naxes++] = zax;
	}
	return MS_OK;
}

static int parse(sw_spec *sp, ms_error *err)
{
	config_t cfg;
	const config_setting_t *sw;
	int rc = MS_OK;
	config_init(&cfg);
	if (!config_read_string(&cfg, sp->text)) {
		rc = MS_ERROR(err, MS_EINVAL, "%s:%d: syntax error: %s (libconfig syntax: key = value; groups in { })",
			      sp->path, config_error_line(&cfg), config_error_text(&cfg));
		goto done;
	}
	sw = config_lookup(&cfg, "sweep");
	if (!sw) {
		rc = MS_ERROR(err, MS_EINVAL,
			      "%s: no sweep section: add one, e.g. sweep = { routing = { capacity_factor = [1.0, 1.25]; }; };",
			      sp->path);
		goto done;
	}
	if (config_setting_type(sw) != CONFIG_TYPE_GROUP) {
		rc = MS_ERROR(err, MS_EINVAL, "%s:%u: sweep must be a group: sweep = { section = { key = [...]; }; };",
			      sp->path, config_setting_source_line(sw));
		goto done;
	}
	if (add_group(sp, sw, 0, err) < 0) {
		rc = err->code;
		goto done;
	}
	if (sp->naxes == 0) {
		rc = MS_ERROR(err, MS_EINVAL, "%s:%u: the sweep section is empty: give at least one key with a list of values",
			      sp->path, config_setting_source_line(sw));
		goto done;
	}
	sp->npoints = 1;
	for (int a = 0; a < sp->naxes; a++) {
		for (int k = 0; k < sp->axis[a].nkeys; k++)
			sp->key_axis[sp->axis[a].first + k] = a;
		sp->npoints *= sp->axis[a].nvalues;
		if (sp->npoints > SW_MAX_POINTS) {
			rc = MS_ERROR(err, MS_EINVAL, "%s:%u: the sweep crosses more than %d points; sweep fewer values",
				      sp->path, config_setting_source_line(sw), SW_MAX_POINTS);
			goto done;
		}
	}
done:
	config_destroy(&cfg);
	return rc;
}

/* Everything but reading the file: sp->path set, sp->text owned. */
static int load(sw_spec *sp, const scn_overrides *base, ms_error *err)
{
	uint64_t h = 14695981039346656037ull;
	/* Part of the id: raise it when a record's outputs (sw_record.h) change, so that a
	 * directory of older records is another sweep's, not a table with holes. */
	static const char version[] = "moesim-sweep-1";
	if (base)
		sp->base = *base;
	sp->value = calloc(SW_MAX_KEYS, sizeof *sp->value);
	sp->line = calloc(SW_MAX_KEYS, sizeof *sp->line);
	if (!sp->value || !sp->line) {
		sw_spec_fini(sp);
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	}
	if (parse(sp, err) < 0) {
		sw_spec_fini(sp);
		return err->code;
	}
	h = fnv(h, version, sizeof version);
	h = fnv(h, sp->text, strlen(sp->text) + 1);
	for (int i = 0; i < sp->base.n; i++)
		h = fnv(h, sp->base.items[i], strlen(sp->base.items[i]) + 1);
	sp->id = h;
	return MS_OK;
}

static int set_path(sw_spec *sp, const char *path, ms_error *err)
{
	memset(sp, 0, sizeof *sp);
	if (strlen(path) >= sizeof sp->path)
		return MS_ERROR(err, MS_EINVAL, "scenario path too long: %s", path);
	snprintf(sp->path, sizeof sp->path, "%s", path);
	return MS_OK;
}

int sw_spec_load(sw_spec *sp, const char *path, const scn_overrides *base, ms_error *err)
{
	size_t len;
	if (set_path(sp, path, err) < 0 || ms_file_read(path, &sp->text, &len, err) < 0)
		return err->code;
	return load(sp, base, err);
}

int sw_spec_load_text(sw_spec *sp, const char *text, const char *name, const scn_overrides *base, ms_error *err)
{
	if (set_path(sp, name, err) < 0)
		return err->code;
	sp->text = strdup(text);
	if (!sp->text)
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	return load(sp, base, err);
}

void sw_spec_fini(sw_spec *sp)
{
	for (int j = 0; j < SW_MAX_KEYS && sp->value; j++)
		free(sp->value[j]);
	for (int j = 0; j < SW_MAX_KEYS && sp->line; j++)
		free(sp->line[j]);
	free(sp->value);
	free(sp->line);
	free(sp->text);
	memset(sp, 0, sizeof *sp);
}

int sw_spec_coord(const sw_spec *sp, int64_t i, int a)
{
	int64_t stride = 1;
	for (int b = sp->naxes - 1; b > a; b--)
		stride *= sp->axis[b].nvalues;
	return (int)((i / stride) % sp->axis[a].nvalues);
}

const char *sw_spec_value(const sw_spec *sp, int64_t i, int j)
{
	return sp->value[j] + (size_t)sw_spec_coord(sp, i, sp->key_axis[j]) * SW_VALUE_MAX;
}

void sw_spec_point(const sw_spec *sp, int64_t i, scn_overrides *ov, int line[SCN_MAX_OVERRIDES], char *buf)
{
	*ov = sp->base;
	for (int j = 0; j < ov->n; j++)
		line[j] = 0;
	for (int j = 0; j < sp->nkeys; j++) {
		char *item = buf + (size_t)j * (SCN_NAME_MAX + SW_VALUE_MAX);
		int c = sw_spec_coord(sp, i, sp->key_axis[j]);
		snprintf(item, SCN_NAME_MAX + SW_VALUE_MAX, "%s=%s", scn_key_name(sp->key[j]),
			 sp->value[j] + (size_t)c * SW_VALUE_MAX);
		line[ov->n] = sp->line[j][c];
		ov->items[ov->n++] = item;
	}
}

int sw_spec_load_point(const sw_spec *sp, int64_t i, scn_scenario *s, ms_error *err)
{
	scn_overrides ov;
	int line[SCN_MAX_OVERRIDES];
	char *buf = malloc(SW_POINT_BUF);
	int rc;
	if (!buf)
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	sw_spec_point(sp, i, &ov, line, buf);
	rc = scn_scenario_load_text_at(s, sp->text, sp->path, &ov, line, err);
	free(buf);
	return rc;
}

void sw_spec_label(const sw_spec *sp, int64_t i, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int j = 0; j < sp->nkeys && n < len; j++) {
		int w = snprintf(buf + n, len - n, "%s%s=%s", j ? " " : "", scn_key_name(sp->key[j]), sw_spec_value(sp, i, j));
		if (w < 0)
			break;
		n += (size_t)w;
	}
}
