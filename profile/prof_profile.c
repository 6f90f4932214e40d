/*
 * prof_profile.c - reading, checking, merging and looking up calibration profiles
 * (see prof_profile.h; the format is docs/profile-format.md).
 *
 * Each file stays parsed (its config_t lives in the profile) so the writer can copy
 * every key of a table, not only the ones the simulator uses. Tables are heap objects
 * of fixed size (PROF_MAX_POINTS points); lookups are linear scans over the few dozen
 * tables a profile holds. Invariant after loading: see prof_profile.h.
 */
#include "profile/prof_profile.h"
#include "profile/prof_internal.h"

#include <errno.h>
#include <libconfig.h>

#include "common/ms_config.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct prof_file {
	char *path;
	config_t cfg;
	int inited;
	int datasheet;
	const config_setting_t *prof;
	const char *name;
	const char *program;
	const char *prov_gpu; /* provenance.gpu of a measured file, NULL if absent */
	int prov_gpu_line;
} prof_file;

struct prof_profile {
	int nfiles;
	prof_file files[PROF_MAX_FILES];
	prof_table **tables;
	int ntables, cap;
	prof_gpu gpu;
	char *paths; /* "a.cfg, b.cfg" */
	char *names; /* "name a; name b" */
};

/* Top-level keys of `profile`; anything else is a typo the reader refuses. */
static const char *const top_keys[] = {"name",   "source", "program",  "provenance", "gpu",    "gemm",
				       "copy",   "permute", "alltoall", "alltoallv",  "inputs", "fit"};

const char *prof_kind_key(prof_kind k)
{
	static const char *const names[PROF_NKINDS] = {"gemm", "copy", "permute", "permute", "alltoall", "alltoallv"};
	return k >= 0 && k < PROF_NKINDS ? names[k] : "?";
}

const char *prof_pass_name(prof_pass p)
{
	static const char *const names[PROF_NPASSES] = {"fwd", "bwd_dgrad", "bwd_wgrad"};
	return p >= 0 && p < PROF_NPASSES ? names[p] : "?";
}

const char *prof_scope_name(prof_scope s)
{
	return s == PROF_INTER_NODE ? "inter_node" : "intra_node";
}

int prof_dtype_bytes(const char *dtype)
{
	if (strcmp(dtype, "bf16") == 0 || strcmp(dtype, "fp16") == 0)
		return 2;
	if (strcmp(dtype, "fp8_e4m3") == 0 || strcmp(dtype, "fp8_e5m2") == 0)
		return 1;
	if (strcmp(dtype, "fp32") == 0)
		return 4;
	return 0;
}

const char *prof_table_where(const prof_table *t, char *buf, size_t len)
{
	if (t->kind == PROF_COPY)
		snprintf(buf, len, "%s:%d: copy", t->file, t->line);
	else
		snprintf(buf, len, "%s:%d: %s[%d]", t->file, t->line, prof_kind_key(t->kind), t->index);
	return buf;
}

double prof_table_bytes_per_x(const prof_table *t)
{
	double row = (double)t->hidden * prof_dtype_bytes(t->dtype);
	switch (t->kind) {
	case PROF_GATHER: return 2.0 * row;
	case PROF_UNPERMUTE: return (1.0 + 1.0 / t->topk) * row;
	case PROF_GEMM: return 0.0;
	default: return 1.0;
	}
}

double prof_table_flops_per_token(const prof_table *t)
{
	return 6.0 * t->experts * (double)t->hidden * t->ffn;
}

double prof_table_weight_bytes(const prof_table *t)
{
	return 3.0 * t->experts * (double)t->hidden * t->ffn * prof_dtype_bytes(t->dtype);
}

/* --- reading settings with messages naming file:line and the key ---------------- */

typedef struct ctx {
	const char *file;
	ms_error *err;
	char pfx[80]; /* "gemm[3]", "gpu", "profile" */
} ctx;

static int line_of(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

static int missing(const ctx *c, const config_setting_t *grp, const char *key)
{
	return MS_ERROR(c->err, MS_EFORMAT, "%s:%d: %s.%s is missing", c->file, line_of(grp), c->pfx, key);
}

static int wrong_type(const ctx *c, const config_setting_t *s, const char *key, const char *want)
{
	return MS_ERROR(c->err, MS_EFORMAT, "%s:%d: %s.%s must be %s, not %s", c->file, line_of(s), c->pfx, key, want,
			ms_config_type_name(config_setting_type(s)));
}

/* *out = the string member key of grp; NULL when absent and not required. */
static int get_str(const ctx *c, const config_setting_t *grp, const char *key, int required, const char **out)
{
	const config_setting_t *s = config_setting_get_member(grp, key);
	*out = NULL;
	if (!s)
		return required ? missing(c, grp, key) : MS_OK;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return wrong_type(c, s, key, "a string");
	*out = config_setting_get_string(s);
	return MS_OK;
}

static int get_int(const ctx *c, const config_setting_t *grp, const char *key, int required, long long lo,
		   long long hi, int *out)
{
	const config_setting_t *s = config_setting_get_member(grp, key);
	long long v;
	if (!s) {
		*out = 0;
		return required ? missing(c, grp, key) : MS_OK;
	}
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
		return wrong_type(c, s, key, "an integer");
	v = config_setting_get_int64(s);
	if (v < lo || v > hi)
		return MS_ERROR(c->err, MS_ERANGE, "%s:%d: %s.%s = %lld is out of range (%lld .. %lld)", c->file,
				line_of(s), c->pfx, key, v, lo, hi);
	*out = (int)v;
	return MS_OK;
}

/* A number (int or float) in [lo, hi]; strict_lo makes lo itself invalid. *found says
 * whether it was there. */
static int get_num(const ctx *c, const config_setting_t *grp, const char *key, int required, double lo,
		   int strict_lo, double *out, int *found)
{
	const config_setting_t *s = config_setting_get_member(grp, key);
	double v;
	if (found)
		*found = s != NULL;
	if (!s) {
		*out = 0;
		return required ? missing(c, grp, key) : MS_OK;
	}
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_FLOAT: v = config_setting_get_float(s); break;
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: v = (double)config_setting_get_int64(s); break;
	default: return wrong_type(c, s, key, "a number");
	}
	if (!isfinite(v) || v < lo || (strict_lo && v == lo))
		return MS_ERROR(c->err, MS_ERANGE, "%s:%d: %s.%s = %g must be %s %g", c->file, line_of(s), c->pfx, key,
				v, strict_lo ? ">" : ">=", lo);
	*out = v;
	return MS_OK;
}

/* A numeric array (or list of numbers); integer demands integer elements. */
static int get_array(const ctx *c, const config_setting_t *grp, const char *key, int integer, double *v, int *n)
{
	const config_setting_t *s = config_setting_get_member(grp, key);
	int len;
	*n = 0;
	if (!s)
		return missing(c, grp, key);
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
		return wrong_type(c, s, key, integer ? "an array of integers" : "an array of numbers");
	len = config_setting_length(s);
	if (len > PROF_MAX_POINTS)
		return MS_ERROR(c->err, MS_ERANGE, "%s:%d: %s.%s has %d values; at most %d are supported", c->file,
				line_of(s), c->pfx, key, len, PROF_MAX_POINTS);
	for (int i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int t = config_setting_type(e);
		if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			v[i] = (double)config_setting_get_int64(e);
		else if (t == CONFIG_TYPE_FLOAT && !integer)
			v[i] = config_setting_get_float(e);
		else
			return MS_ERROR(c->err, MS_EFORMAT, "%s:%d: %s.%s[%d] must be %s, not %s", c->file, line_of(s),
					c->pfx, key, i, integer ? "an integer" : "a number", ms_config_type_name(t));
	}
	*n = len;
	return MS_OK;
}

/* --- tables ------------------------------------------------------------------------ */

static int add_table(prof_profile *p, prof_table *t, ms_error *err)
{
	if (p->ntables == p->cap) {
		int cap = p->cap ? 2 * p->cap : 16;
		prof_table **nt = realloc(p->tables, (size_t)cap * sizeof *nt);
		if (!nt)
			return MS_ERROR(err, MS_ENOMEM, "out of memory reading profile tables");
		p->tables = nt;
		p->cap = cap;
	}
	p->tables[p->ntables++] = t;
	return MS_OK;
}

/* Reads the `fit` block of table t (group fs) into t->fit. */
static int read_fit(const ctx *c0, const config_setting_t *fs, prof_table *t)
{
	ctx c = *c0;
	const char *model;
	int rc;
	size_t n = strlen(c.pfx);
	snprintf(c.pfx + n, sizeof c.pfx - n, ".fit");
	if (config_setting_type(fs) != CONFIG_TYPE_GROUP)
		return wrong_type(c0, fs, "fit", "a group");
	if ((rc = get_str(&c, fs, "model", 1, &model)) < 0)
		return rc;
	memset(&t->fit, 0, sizeof t->fit);
	if (t->kind == PROF_GEMM) {
		double t0_us, peak, bw, cs;
		if (strcmp(model, "roofline") != 0)
			return MS_ERROR(c.err, MS_EFORMAT, "%s:%d: %s.model = \"%s\" but a gemm table is fitted with \"roofline\"",
					c.file, line_of(fs), c.pfx, model);
		if ((rc = get_num(&c, fs, "t0_us", 1, 0, 0, &t0_us, NULL)) < 0 ||
		    (rc = get_num(&c, fs, "peak_TFLOPs", 1, 0, 1, &peak, NULL)) < 0 ||
		    (rc = get_num(&c, fs, "weight_GBps", 1, 0, 1, &bw, NULL)) < 0)
			return rc;
		t->fit.model = PROF_MODEL_ROOFLINE;
		cs = prof_table_flops_per_token(t) / (peak * 1e12);
		t->fit.p[0] = t0_us * 1e-6;
		t->fit.p[2] = cs;
		t->fit.p[1] = prof_table_weight_bytes(t) / (bw * 1e9) / cs;
	} else {
		double lat_us, bw;
		if (strcmp(model, "latency_bandwidth") != 0)
			return MS_ERROR(c.err, MS_EFORMAT,
					"%s:%d: %s.model = \"%s\" but a %s table is fitted with \"latency_bandwidth\"", c.file,
					line_of(fs), c.pfx, model, prof_kind_key(t->kind));
		if ((rc = get_num(&c, fs, "latency_us", 1, 0, 0, &lat_us, NULL)) < 0 ||
		    (rc = get_num(&c, fs, "bandwidth_GBps", 1, 0, 1, &bw, NULL)) < 0)
			return rc;
		t->fit.model = PROF_MODEL_LATBW;
		t->fit.p[0] = lat_us * 1e-6;
		t->fit.p[1] = prof_table_bytes_per_x(t) / (bw * 1e9);
	}
	t->fit.dof = t->n > 3 || (t->n > 2 && t->kind != PROF_GEMM) ? t->n - (t->kind == PROF_GEMM ? 3 : 2) : 0;
	prof_fit_residuals(&t->fit, t->x, t->t_s, t->n);
	t->fit_read = 1;
	return MS_OK;
}

/* The x column and time_us of table group g, every other array checked for length. */
static int read_points(const ctx *c, const config_setting_t *g, const char *xkey, prof_table *t)
{
	double us[PROF_MAX_POINTS];
	int n, nt, rc, len = config_setting_length(g);
	if ((rc = get_array(c, g, xkey, 1, t->x, &n)) < 0 || (rc = get_array(c, g, "time_us", 0, us, &nt)) < 0)
		return rc;
	if (nt != n)
		return MS_ERROR(c->err, MS_EFORMAT, "%s:%d: %s.time_us has %d values but %s has %d", c->file,
				line_of(config_setting_get_member(g, "time_us")), c->pfx, nt, xkey, n);
	/* Every column of a table has one value per point (the matrix of alltoallv excepted). */
	for (int i = 0; i < len; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		if (config_setting_type(s) != CONFIG_TYPE_ARRAY || strcmp(name, "matrix") == 0)
			continue;
		if (config_setting_length(s) != n)
			return MS_ERROR(c->err, MS_EFORMAT, "%s:%d: %s.%s has %d values but %s has %d", c->file, line_of(s),
					c->pfx, name, config_setting_length(s), xkey, n);
	}
	if (n < 2)
		return MS_ERROR(c->err, MS_EFORMAT,
				"%s:%d: %s has %d point%s; at least 2 are needed to interpolate (measure more %s)", c->file,
				line_of(g), c->pfx, n, n == 1 ? "" : "s", xkey);
	for (int i = 0; i < n; i++) {
		const config_setting_t *xs = config_setting_get_member(g, xkey);
		if (!(t->x[i] > 0))
			return MS_ERROR(c->err, MS_ERANGE, "%s:%d: %s.%s[%d] = %.17g must be > 0", c->file, line_of(xs),
					c->pfx, xkey, i, t->x[i]);
		if (i > 0 && t->x[i] <= t->x[i - 1])
			return MS_ERROR(c->err, MS_EFORMAT, "%s:%d: %s.%s must increase strictly: %s[%d] = %.17g after %.17g",
					c->file, line_of(xs), c->pfx, xkey, xkey, i, t->x[i], t->x[i - 1]);
		if (!(us[i] > 0) || !isfinite(us[i]))
			return MS_ERROR(c->err, MS_ERANGE, "%s:%d: %s.time_us[%d] = %g must be a time > 0", c->file,
					line_of(config_setting_get_member(g, "time_us")), c->pfx, i, us[i]);
		t->t_s[i] = us[i] * 1e-6;
	}
	t->n = n;
	return MS_OK;
}

static int copy_name(const ctx *c, const config_setting_t *g, const char *key, const char *v, char *dst, size_t len)
{
	if (strlen(v) >= len)
		return MS_ERROR(c->err, MS_EFORMAT, "%s:%d: %s.%s = \"%.40s...\" is too long", c->file, line_of(g), c->pfx,
				key, v);
	memcpy(dst, v, strlen(v) + 1);
	return MS_OK;
}

static int read_table(prof_profile *p, const char *file, const config_setting_t *g, prof_kind kind, int index,
		      ms_error *err)
{
	ctx c;
	prof_table *t;
	const char *s;
	int rc;
	c.file = file;
	c.err = err;
	if (kind == PROF_COPY)
		snprintf(c.pfx, sizeof c.pfx, "copy");
	else
		snprintf(c.pfx, sizeof c.pfx, "%s[%d]", prof_kind_key(kind), index);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return MS_ERROR(err, MS_EFORMAT, "%s:%d: %s must be a group { ... }, not %s", file, line_of(g), c.pfx,
				ms_config_type_name(config_setting_type(g)));
	t = calloc(1, sizeof *t);
	if (!t)
		return MS_ERROR(err, MS_ENOMEM, "out of memory reading %s", file);
	t->kind = kind;
	t->file = file;
	t->line = line_of(g);
	t->index = index;
	t->setting = g;
	switch (kind) {
	case PROF_GEMM:
		if ((rc = get_str(&c, g, "dtype", 1, &s)) < 0)
			break;
		if (!prof_dtype_bytes(s)) {
			rc = MS_ERROR(err, MS_EFORMAT, "%s:%d: %s.dtype = \"%s\": expected \"bf16\", \"fp16\", \"fp8_e4m3\" or \"fp32\"",
				      file, line_of(g), c.pfx, s);
			break;
		}
		if ((rc = copy_name(&c, g, "dtype", s, t->dtype, sizeof t->dtype)) < 0 ||
		    (rc = get_int(&c, g, "hidden", 1, 1, 1 << 24, &t->hidden)) < 0 ||
		    (rc = get_int(&c, g, "ffn", 1, 1, 1 << 24, &t->ffn)) < 0 ||
		    (rc = get_int(&c, g, "experts", 1, 1, 1 << 20, &t->experts)) < 0 ||
		    (rc = get_str(&c, g, "pass", 1, &s)) < 0)
			break;
		for (t->pass = 0; t->pass < PROF_NPASSES && strcmp(s, prof_pass_name(t->pass)) != 0; t->pass++)
			;
		if (t->pass == PROF_NPASSES) {
			rc = MS_ERROR(err, MS_EFORMAT, "%s:%d: %s.pass = \"%s\": expected \"fwd\", \"bwd_dgrad\" or \"bwd_wgrad\"",
				      file, line_of(g), c.pfx, s);
			break;
		}
		if ((rc = get_str(&c, g, "method", 0, &s)) < 0 ||
		    (rc = copy_name(&c, g, "method", s ? s : "", t->method, sizeof t->method)) < 0)
			break;
		rc = read_points(&c, g, "tokens", t);
		break;
	case PROF_COPY:
		rc = read_points(&c, g, "bytes", t);
		break;
	case PROF_GATHER:
	case PROF_UNPERMUTE:
		if ((rc = get_str(&c, g, "dtype", 0, &s)) < 0)
			break;
		if (s && !prof_dtype_bytes(s)) {
			rc = MS_ERROR(err, MS_EFORMAT, "%s:%d: %s.dtype = \"%s\": expected \"bf16\", \"fp16\", \"fp8_e4m3\" or \"fp32\"",
				      file, line_of(g), c.pfx, s);
			break;
		}
		if ((rc = copy_name(&c, g, "dtype", s ? s : "bf16", t->dtype, sizeof t->dtype)) < 0 ||
		    (rc = get_int(&c, g, "hidden", 1, 1, 1 << 24, &t->hidden)) < 0 ||
		    (rc = get_int(&c, g, "topk", kind == PROF_UNPERMUTE, 1, 1024, &t->topk)) < 0)
			break;
		if (t->topk == 0)
			t->topk = 1;
		rc = read_points(&c, g, "rows", t);
		break;
	case PROF_ALLTOALL:
	case PROF_ALLTOALLV:
		if ((rc = get_str(&c, g, "scope", 1, &s)) < 0)
			break;
		if (strcmp(s, "intra_node") == 0) {
			t->scope = PROF_INTRA_NODE;
		} else if (strcmp(s, "inter_node") == 0) {
			t->scope = PROF_INTER_NODE;
		} else {
			rc = MS_ERROR(err, MS_EFORMAT, "%s:%d: %s.scope = \"%s\": expected \"intra_node\" or \"inter_node\"",
				      file, line_of(g), c.pfx, s);
			break;
		}
		if ((rc = get_int(&c, g, "ranks", 1, 1, 1 << 24, &t->ranks)) < 0 ||
		    (rc = get_int(&c, g, "nodes", 0, 1, 1 << 24, &t->nodes)) < 0 || (rc = get_str(&c, g, "method", 0, &s)) < 0 ||
		    (rc = copy_name(&c, g, "method", s ? s : "", t->method, sizeof t->method)) < 0)
			break;
		if (t->nodes == 0)
			t->nodes = t->scope == PROF_INTER_NODE ? 2 : 1;
		rc = read_points(&c, g, "bytes", t);
		break;
	default:
		rc = MS_ERROR(err, MS_EINVAL, "unknown table kind %d", (int)kind);
		break;
	}
	if (rc == MS_OK) {
		const config_setting_t *fs = config_setting_get_member(g, "fit");
		if (fs) {
			rc = read_fit(&c, fs, t);
		} else {
			char what[160];
			snprintf(what, sizeof what, "%s:%d: %s", file, t->line, c.pfx);
			rc = prof_fit_table(kind == PROF_GEMM ? PROF_MODEL_ROOFLINE : PROF_MODEL_LATBW, t->x, t->t_s, t->n,
					    &t->fit, what, err);
		}
	}
	if (rc == MS_OK)
		rc = add_table(p, t, err);
	if (rc < 0)
		free(t);
	return rc;
}

/* Reads every table of kind key (a list, or for copy a group) in group prof. */
static int read_tables(prof_profile *p, const char *file, const config_setting_t *prof, const char *key,
		       prof_kind kind, ms_error *err)
{
	const config_setting_t *l = config_setting_get_member(prof, key);
	int rc;
	if (!l)
		return MS_OK;
	if (kind == PROF_COPY)
		return read_table(p, file, l, PROF_COPY, 0, err);
	if (config_setting_type(l) != CONFIG_TYPE_LIST)
		return MS_ERROR(err, MS_EFORMAT, "%s:%d: profile.%s must be a list ( { ... }, ... ), not %s", file, line_of(l),
				key, ms_config_type_name(config_setting_type(l)));
	for (int i = 0; i < config_setting_length(l); i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		prof_kind k = kind;
		if (kind == PROF_GATHER) {
			/* permute[]: the op says which kind. */
			const char *op;
			ctx c = {file, err, ""};
			snprintf(c.pfx, sizeof c.pfx, "permute[%d]", i);
			if (config_setting_type(g) != CONFIG_TYPE_GROUP)
				return MS_ERROR(err, MS_EFORMAT, "%s:%d: permute[%d] must be a group { ... }", file, line_of(g), i);
			if ((rc = get_str(&c, g, "op", 1, &op)) < 0)
				return rc;
			if (strcmp(op, "gather") == 0)
				k = PROF_GATHER;
			else if (strcmp(op, "unpermute") == 0)
				k = PROF_UNPERMUTE;
			else
				return MS_ERROR(err, MS_EFORMAT, "%s:%d: permute[%d].op = \"%s\": expected \"gather\" or \"unpermute\"",
						file, line_of(g), i, op);
		}
		if ((rc = read_table(p, file, g, k, i, err)) < 0)
			return rc;
	}
	return MS_OK;
}

/* Two tables that measured the same thing. */
static int same_key(const prof_table *a, const prof_table *b)
{
	if (a->kind != b->kind)
		return 0;
	switch (a->kind) {
	case PROF_GEMM:
		return strcmp(a->dtype, b->dtype) == 0 && a->hidden == b->hidden && a->ffn == b->ffn &&
		       a->experts == b->experts && a->pass == b->pass && strcmp(a->method, b->method) == 0;
	case PROF_COPY: return 1;
	case PROF_GATHER:
	case PROF_UNPERMUTE:
		return strcmp(a->dtype, b->dtype) == 0 && a->hidden == b->hidden && a->topk == b->topk;
	case PROF_ALLTOALL: return a->scope == b->scope && a->ranks == b->ranks;
	default: return 0; /* alltoallv: several matrices may be measured */
	}
}

/* --- files ------------------------------------------------------------------------- */

static int read_datasheet_gpu(prof_profile *p, prof_file *f, const config_setting_t *gpu, ms_error *err)
{
	ctx c = {f->path, err, "gpu"};
	double bf16, fp8, tf32, hbm, nv;
	int rc, has_nv;
	if (p->gpu.has_peaks)
		return MS_ERROR(err, MS_EINVAL, "%s and %s are both datasheet profiles; give one", p->gpu.file, f->path);
	if ((rc = get_num(&c, gpu, "peak_bf16_TFLOPs", 1, 0, 1, &bf16, NULL)) < 0 ||
	    (rc = get_num(&c, gpu, "peak_fp8_TFLOPs", 1, 0, 0, &fp8, NULL)) < 0 ||
	    (rc = get_num(&c, gpu, "peak_tf32_TFLOPs", 1, 0, 1, &tf32, NULL)) < 0 ||
	    (rc = get_num(&c, gpu, "hbm_GBps", 1, 0, 1, &hbm, NULL)) < 0 ||
	    (rc = get_num(&c, gpu, "nvlink_GBps", 0, 0, 0, &nv, &has_nv)) < 0)
		return rc;
	p->gpu.has_peaks = 1;
	p->gpu.bf16_Fps = bf16 * 1e12;
	p->gpu.fp8_Fps = fp8 * 1e12;
	p->gpu.tf32_Fps = tf32 * 1e12;
	p->gpu.hbm_Bps = hbm * 1e9;
	p->gpu.nvlink_Bps = has_nv ? nv * 1e9 : 0.0;
	p->gpu.file = f->path;
	return MS_OK;
}

/* Every float in the file must be finite ("1e999" parses as inf): the writer copies them. */
static int check_finite(const prof_file *f, const config_setting_t *s, ms_error *err)
{
	int t = config_setting_type(s), rc;
	if (t == CONFIG_TYPE_FLOAT && !isfinite(config_setting_get_float(s))) {
		const config_setting_t *named = s;
		while (named && !config_setting_name(named))
			named = config_setting_parent(named);
		return MS_ERROR(err, MS_ERANGE, "%s:%d: %s = %g is not a finite number", f->path, line_of(s),
				named && config_setting_name(named) ? config_setting_name(named) : "a value",
				config_setting_get_float(s));
	}
	if (t == CONFIG_TYPE_GROUP || t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY)
		for (int i = 0; i < config_setting_length(s); i++)
			if ((rc = check_finite(f, config_setting_get_elem(s, (unsigned)i), err)) < 0)
				return rc;
	return MS_OK;
}

static int read_file(prof_profile *p, prof_file *f, ms_error *err)
{
	const config_setting_t *root, *prof, *prov, *gpu;
	const char *source;
	ctx c = {f->path, err, "profile"};
	int rc, ntables0 = p->ntables;
	static const struct {
		const char *key;
		prof_kind kind;
	} lists[] = {{"gemm", PROF_GEMM},         {"copy", PROF_COPY},          {"permute", PROF_GATHER},
		     {"alltoall", PROF_ALLTOALL}, {"alltoallv", PROF_ALLTOALLV}};

	config_init(&f->cfg);
	f->inited = 1;
	if (!config_read_file(&f->cfg, f->path)) {
		if (config_error_type(&f->cfg) == CONFIG_ERR_FILE_IO)
			return MS_ERROR(err, MS_EIO, "cannot read profile '%s': %s", f->path,
					errno ? strerror(errno) : "no such file or unreadable");
		return MS_ERROR(err, MS_EFORMAT, "%s:%d: %s", f->path, config_error_line(&f->cfg), config_error_text(&f->cfg));
	}
	root = config_root_setting(&f->cfg);
	prof = config_setting_get_member(root, "profile");
	if (!prof || config_setting_type(prof) != CONFIG_TYPE_GROUP)
		return MS_ERROR(err, MS_EFORMAT, "%s:%d: not a calibration profile: no 'profile = { ... };' group",
				f->path, prof ? line_of(prof) : 1);
	f->prof = prof;
	if ((rc = check_finite(f, prof, err)) < 0)
		return rc;
	for (int i = 0; i < config_setting_length(prof); i++) {
		const config_setting_t *s = config_setting_get_elem(prof, (unsigned)i);
		size_t k;
		for (k = 0; k < sizeof top_keys / sizeof top_keys[0]; k++)
			if (strcmp(config_setting_name(s), top_keys[k]) == 0)
				break;
		if (k == sizeof top_keys / sizeof top_keys[0])
			return MS_ERROR(err, MS_EFORMAT,
					"%s:%d: profile.%s is not a profile key (known: name, source, program, provenance, gpu, "
					"gemm, copy, permute, alltoall, alltoallv, inputs, fit)",
					f->path, line_of(s), config_setting_name(s));
	}
	if ((rc = get_str(&c, prof, "name", 1, &f->name)) < 0 || (rc = get_str(&c, prof, "source", 1, &source)) < 0 ||
	    (rc = get_str(&c, prof, "program", 0, &f->program)) < 0)
		return rc;
	if (strcmp(source, "datasheet") == 0)
		f->datasheet = 1;
	else if (strcmp(source, "measured") != 0)
		return MS_ERROR(err, MS_EFORMAT, "%s:%d: profile.source = \"%s\": expected \"measured\" or \"datasheet\"",
				f->path, line_of(config_setting_get_member(prof, "source")), source);
	prov = config_setting_get_member(prof, "provenance");
	if (!prov)
		return missing(&c, prof, "provenance");
	if (config_setting_type(prov) != CONFIG_TYPE_GROUP)
		return wrong_type(&c, prov, "provenance", "a group");
	gpu = config_setting_get_member(prof, "gpu");
	if (gpu && config_setting_type(gpu) != CONFIG_TYPE_GROUP)
		return wrong_type(&c, gpu, "gpu", "a group");
	if (f->datasheet) {
		const char *cit;
		ctx cp = {f->path, err, "provenance"};
		if ((rc = get_str(&cp, prov, "citation", 1, &cit)) < 0)
			return rc;
		if (!cit[0])
			return MS_ERROR(err, MS_EFORMAT, "%s:%d: provenance.citation is empty: a datasheet profile cites its datasheet",
					f->path, line_of(config_setting_get_member(prov, "citation")));
		if (!gpu)
			return missing(&c, prof, "gpu");
		for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
			if (config_setting_get_member(prof, lists[i].key))
				return MS_ERROR(err, MS_EFORMAT,
						"%s:%d: profile.%s in a datasheet profile: measured tables belong in a profile with "
						"source = \"measured\"",
						f->path, line_of(config_setting_get_member(prof, lists[i].key)), lists[i].key);
		return read_datasheet_gpu(p, f, gpu, err);
	}
	if (gpu) {
		static const char *const peaks[] = {"peak_bf16_TFLOPs", "peak_fp8_TFLOPs", "peak_tf32_TFLOPs"};
		for (size_t i = 0; i < 3; i++)
			if (config_setting_get_member(gpu, peaks[i]))
				return MS_ERROR(err, MS_EFORMAT,
						"%s:%d: gpu.%s in a measured profile: peaks belong in a datasheet profile (source "
						"= \"datasheet\"); give both files",
						f->path, line_of(config_setting_get_member(gpu, peaks[i])), peaks[i]);
	}
	{
		ctx cp = {f->path, err, "provenance"};
		if ((rc = get_str(&cp, prov, "gpu", 0, &f->prov_gpu)) < 0)
			return rc;
		f->prov_gpu_line = line_of(config_setting_get_member(prov, "gpu"));
	}
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
		if ((rc = read_tables(p, f->path, prof, lists[i].key, lists[i].kind, err)) < 0)
			return rc;
	if (p->ntables == ntables0 && !config_setting_get_member(prof, "inputs"))
		return MS_ERROR(err, MS_EFORMAT,
				"%s:%d: a measured profile with no table (gemm, copy, permute, alltoall, alltoallv): nothing was "
				"measured",
				f->path, line_of(prof));
	return MS_OK;
}

/* Appends s to the malloc'd string *dst with sep between entries. */
static int append(char **dst, const char *sep, const char *s)
{
	size_t a = *dst ? strlen(*dst) : 0, b = strlen(sep), c = strlen(s);
	char *n = realloc(*dst, a + b + c + 1);
	if (!n)
		return -1;
	if (a)
		memcpy(n + a, sep, b);
	else
		b = 0;
	memcpy(n + a + b, s, c + 1);
	*dst = n;
	return 0;
}

int prof_profile_load(prof_profile **out, const char *const *paths, int n, ms_error *err)
{
	prof_profile *p;
	int rc = MS_OK;
	*out = NULL;
	if (n < 1)
		return MS_ERROR(err, MS_EINVAL, "no profile file given");
	if (n > PROF_MAX_FILES)
		return MS_ERROR(err, MS_EINVAL, "%d profile files given; at most %d are read together", n, PROF_MAX_FILES);
	p = calloc(1, sizeof *p);
	if (!p)
		return MS_ERROR(err, MS_ENOMEM, "out of memory reading profiles");
	for (int i = 0; i < n && rc == MS_OK; i++) {
		prof_file *f = &p->files[p->nfiles];
		size_t len = strlen(paths[i]);
		f->path = malloc(len + 1);
		if (!f->path) {
			rc = MS_ERROR(err, MS_ENOMEM, "out of memory reading profiles");
			break;
		}
		memcpy(f->path, paths[i], len + 1);
		p->nfiles++;
		errno = 0;
		if ((rc = read_file(p, f, err)) < 0)
			break;
		if (append(&p->paths, ", ", f->path) < 0 ||
		    ((!p->names || !strstr(p->names, f->name)) && append(&p->names, "; ", f->name) < 0))
			rc = MS_ERROR(err, MS_ENOMEM, "out of memory reading profiles");
	}
	/* Measured files of one profile describe one GPU. */
	for (int i = 0; i < p->nfiles && rc == MS_OK; i++)
		for (int j = 0; j < i; j++) {
			const prof_file *a = &p->files[j], *b = &p->files[i];
			if (a->prov_gpu && b->prov_gpu && strcmp(a->prov_gpu, b->prov_gpu) != 0) {
				rc = MS_ERROR(err, MS_EINVAL,
					      "%s:%d: provenance.gpu = \"%s\" but %s:%d has \"%s\": the files were measured on "
					      "different GPUs",
					      b->path, b->prov_gpu_line, b->prov_gpu, a->path, a->prov_gpu_line, a->prov_gpu);
				break;
			}
		}
	/* Tables are disjoint. */
	for (int i = 0; i < p->ntables && rc == MS_OK; i++)
		for (int j = 0; j < i; j++)
			if (same_key(p->tables[i], p->tables[j])) {
				char a[256], b[256];
				rc = MS_ERROR(err, MS_EINVAL, "%s measures the same as %s; the profiles overlap (give each table once)",
					      prof_table_where(p->tables[i], a, sizeof a),
					      prof_table_where(p->tables[j], b, sizeof b));
				break;
			}
	if (rc < 0) {
		prof_profile_destroy(p);
		return rc;
	}
	*out = p;
	return MS_OK;
}

void prof_profile_destroy(prof_profile *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->ntables; i++)
		free(p->tables[i]);
	free(p->tables);
	for (int i = 0; i < p->nfiles; i++) {
		if (p->files[i].inited)
			config_destroy(&p->files[i].cfg);
		free(p->files[i].path);
	}
	free(p->paths);
	free(p->names);
	free(p);
}

const char *prof_profile_paths(const prof_profile *p)
{
	return p->paths ? p->paths : "";
}

const char *prof_profile_name(const prof_profile *p)
{
	return p->names ? p->names : "";
}

int prof_profile_is_datasheet(const prof_profile *p)
{
	for (int i = 0; i < p->nfiles; i++)
		if (!p->files[i].datasheet)
			return 0;
	return 1;
}

const prof_gpu *prof_profile_gpu(const prof_profile *p)
{
	return &p->gpu;
}

int prof_profile_ntables(const prof_profile *p)
{
	return p->ntables;
}

const prof_table *prof_profile_table(const prof_profile *p, int i)
{
	MS_ASSERT(i >= 0 && i < p->ntables, "table %d of %d", i, p->ntables);
	return p->tables[i];
}

int prof_profile_fit_all(prof_profile *p, ms_error *err)
{
	for (int i = 0; i < p->ntables; i++) {
		prof_table *t = p->tables[i];
		char what[256];
		int rc = prof_fit_table(t->kind == PROF_GEMM ? PROF_MODEL_ROOFLINE : PROF_MODEL_LATBW, t->x, t->t_s, t->n,
					&t->fit, prof_table_where(t, what, sizeof what), err);
		if (rc < 0)
			return rc;
		t->fit_read = 0;
	}
	return MS_OK;
}

void prof_table_curve(const prof_table *t, prof_curve *c)
{
	prof_curve_init(c, t->x, t->t_s, t->n, &t->fit);
}

/* --- lookups ----------------------------------------------------------------------- */

static int method_rank(const char *m)
{
	static const char *const order[] = {"grouped_batched", "lt_strided_batched", "strided_batched",
					    "lt_single",       "single",             "loop"};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (strcmp(m, order[i]) == 0)
			return (int)i;
	return (int)(sizeof order / sizeof order[0]);
}

/* Is a a better choice of experts than b for local experts? */
static int better_experts(int a, int b, int local)
{
	if (a == b)
		return 0;
	if (a == local || b == local)
		return a == local;
	if (a < local && b < local)
		return a > b;
	if (a > local && b > local)
		return a < b;
	return a < local; /* below beats above */
}

const prof_table *prof_profile_find_gemm(const prof_profile *p, const char *dtype, int hidden, int ffn,
					 prof_pass pass, int local_experts)
{
	const prof_table *best = NULL;
	for (int i = 0; i < p->ntables; i++) {
		const prof_table *t = p->tables[i];
		if (t->kind != PROF_GEMM || t->pass != pass || t->hidden != hidden || t->ffn != ffn ||
		    strcmp(t->dtype, dtype) != 0)
			continue;
		if (!best || better_experts(t->experts, best->experts, local_experts) ||
		    (t->experts == best->experts && method_rank(t->method) < method_rank(best->method)))
			best = t;
	}
	return best;
}

const char *prof_profile_gemm_shapes(const prof_profile *p, char *buf, size_t len)
{
	size_t used = 0;
	int shown = 0;
	buf[0] = '\0';
	for (int i = 0; i < p->ntables; i++) {
		const prof_table *t = p->tables[i];
		int seen = 0, experts[32], ne = 0, passes = 0;
		if (t->kind != PROF_GEMM)
			continue;
		for (int j = 0; j < i && !seen; j++) {
			const prof_table *u = p->tables[j];
			seen = u->kind == PROF_GEMM && u->hidden == t->hidden && u->ffn == t->ffn && strcmp(u->dtype, t->dtype) == 0;
		}
		if (seen)
			continue;
		for (int j = i; j < p->ntables; j++) {
			const prof_table *u = p->tables[j];
			int k;
			if (u->kind != PROF_GEMM || u->hidden != t->hidden || u->ffn != t->ffn || strcmp(u->dtype, t->dtype) != 0)
				continue;
			passes |= 1 << u->pass;
			for (k = 0; k < ne && experts[k] != u->experts; k++)
				;
			if (k == ne && ne < 32)
				experts[ne++] = u->experts;
		}
		/* experts in increasing order */
		for (int a = 1; a < ne; a++)
			for (int b = a; b > 0 && experts[b] < experts[b - 1]; b--) {
				int tmp = experts[b];
				experts[b] = experts[b - 1];
				experts[b - 1] = tmp;
			}
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s %dx%d (experts", shown ? "; " : "", t->dtype,
						 t->hidden, t->ffn);
		for (int k = 0; k < ne && used < len; k++)
			used += (size_t)snprintf(buf + used, len - used, "%s %d", k ? "," : "", experts[k]);
		for (int ps = 0, first = 1; ps < PROF_NPASSES && used < len; ps++)
			if (passes & (1 << ps)) {
				used += (size_t)snprintf(buf + used, len - used, "%s %s", first ? ";" : ",", prof_pass_name(ps));
				first = 0;
			}
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, ")");
		shown++;
	}
	if (!shown)
		snprintf(buf, len, "none");
	return buf;
}

const prof_table *prof_profile_find(const prof_profile *p, prof_kind k)
{
	for (int i = 0; i < p->ntables; i++)
		if (p->tables[i]->kind == k)
			return p->tables[i];
	return NULL;
}

const prof_table *prof_profile_find_permute(const prof_profile *p, prof_kind k, int hidden, int topk)
{
	const prof_table *best = NULL;
	for (int i = 0; i < p->ntables; i++) {
		const prof_table *t = p->tables[i];
		if (t->kind != k)
			continue;
		if (!best) {
			best = t;
			continue;
		}
		{
			double dt = fabs(log((double)t->hidden / hidden)), db = fabs(log((double)best->hidden / hidden));
			if (dt < db - 1e-12 || (dt <= db + 1e-12 && abs(t->topk - topk) < abs(best->topk - topk)))
				best = t;
		}
	}
	return best;
}

const prof_table *prof_profile_find_alltoall(const prof_profile *p, prof_scope scope, int ranks,
					     double *bytes_scale)
{
	const prof_table *best = NULL;
	*bytes_scale = 1.0;
	for (int i = 0; i < p->ntables; i++) {
		const prof_table *t = p->tables[i];
		if (t->kind != PROF_ALLTOALL || t->scope != scope)
			continue;
		if (!best || abs(t->ranks - ranks) < abs(best->ranks - ranks) ||
		    (abs(t->ranks - ranks) == abs(best->ranks - ranks) && t->ranks > best->ranks))
			best = t;
	}
	if (best && best->ranks != ranks && best->ranks > 1 && ranks > 1)
		*bytes_scale = (1.0 - 1.0 / ranks) / (1.0 - 1.0 / best->ranks);
	return best;
}

int prof__profile_nfiles(const prof_profile *p)
{
	return p->nfiles;
}

const void *prof__profile_file(const prof_profile *p, int i, const char **path, int *datasheet)
{
	MS_ASSERT(i >= 0 && i < p->nfiles, "file %d of %d", i, p->nfiles);
	*path = p->files[i].path;
	*datasheet = p->files[i].datasheet;
	return p->files[i].prof;
}
