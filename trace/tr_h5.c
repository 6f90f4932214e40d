/*
 * tr_h5.c - opening a trace and checking its header (see tr_h5.h). Every HDF5 identifier
 * opened here is either stored in the tr__header (and closed by tr__header_close) or
 * closed before the function returns, on every path.
 *
 * Attributes: integers are read through HDF5's conversion to int64 (any integer width is
 * accepted unless strict); strings may be fixed-length (NUL-padded or not) or
 * variable-length, ASCII or UTF-8.
 */
#include "trace/tr_h5.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ms_h5.h"

const char *const tr__ds_path[TR__NDS] = {
	"/routing/expert_ids", "/routing/scores", "/routing/logits", "/tokens/step",        "/tokens/sequence",
	"/tokens/position",    "/tokens/rank",    "/tokens/domain",  "/tokens/domain_names",
};

void tr__h5_quiet(void)
{
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

size_t tr__cache_default(size_t chunk_bytes, int layers, size_t chunks)
{
	size_t want = ((size_t)layers + 1) * chunk_bytes, all = chunks * chunk_bytes;
	want = want > TR_CACHE_MIN_BYTES ? want : TR_CACHE_MIN_BYTES;
	want = want < TR_CACHE_MAX_BYTES ? want : TR_CACHE_MAX_BYTES;
	want = want > 2 * chunk_bytes ? want : 2 * chunk_bytes;
	return want < all ? want : all;
}

size_t tr__next_prime(size_t n)
{
	if (n <= 2)
		return 2;
	for (n |= 1;; n += 2) {
		size_t d = 3;
		while (d * d <= n && n % d != 0)
			d += 2;
		if (d * d > n)
			return n;
	}
}

herr_t tr__read_block(hid_t ds, hid_t mem_type, int rank, int layer, int64_t t0, int64_t n, int k, void *buf)
{
	hsize_t start[3] = {(hsize_t)layer, (hsize_t)t0, 0}, count[3] = {1, (hsize_t)n, (hsize_t)k};
	const hsize_t *s0 = rank == 3 ? start : start + 1, *c0 = rank == 3 ? count : count + 1;
	herr_t rc = -1;
	hid_t fs, ms;
	if (n == 0)
		return 0;
	fs = H5Dget_space(ds);
	/* The memory space has the selection's own shape: with a flattened 1-D one, HDF5 maps
	 * the elements of a 3-D selection to chunks one by one (H5S_select_iterate) instead of
	 * by hyperslab. */
	ms = H5Screate_simple(rank, c0, NULL);
	if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, s0, NULL, c0, NULL) >= 0)
		rc = H5Dread(ds, mem_type, ms, fs, H5P_DEFAULT, buf);
	if (ms >= 0)
		H5Sclose(ms);
	if (fs >= 0)
		H5Sclose(fs);
	return rc;
}

int tr__layout_get(hid_t ds, tr__layout *l)
{
	hid_t dcpl = H5Dget_create_plist(ds), ft = H5Dget_type(ds), sp = H5Dget_space(ds);
	int ok = 0;
	memset(l, 0, sizeof *l);
	l->rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
	if (dcpl >= 0 && ft >= 0 && l->rank >= 1 && l->rank <= 3 && H5Sget_simple_extent_dims(sp, l->dims, NULL) >= 0) {
		ok = 1;
		l->elem = H5Tget_size(ft);
		l->chunked = H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, l->rank, l->chunk) == l->rank;
	}
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (ft >= 0)
		H5Tclose(ft);
	if (sp >= 0)
		H5Sclose(sp);
	return ok ? 0 : -1;
}

void tr__problem(tr__header *h, const char *fmt, ...)
{
	char msg[MS_ERROR_MSG_MAX];
	int n = snprintf(msg, sizeof msg, "%s: ", h->info.path);
	va_list ap;
	if (n < 0 || (size_t)n >= sizeof msg)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	va_end(ap);
	h->problems++;
	if (h->report)
		h->report(h->ctx, msg);
}

void tr__type_name(hid_t type, char *buf, size_t len)
{
	size_t size = H5Tget_size(type);
	switch (H5Tget_class(type)) {
	case H5T_INTEGER:
		snprintf(buf, len, "%s%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int", size * 8);
		break;
	case H5T_FLOAT:
		snprintf(buf, len, "float%zu", size * 8);
		break;
	case H5T_STRING:
		snprintf(buf, len, "string");
		break;
	case H5T_COMPOUND:
		snprintf(buf, len, "compound");
		break;
	case H5T_ENUM:
		snprintf(buf, len, "enum");
		break;
	default:
		snprintf(buf, len, "HDF5 class %d", (int)H5Tget_class(type));
		break;
	}
}

/* Whether every component of an absolute path exists (H5Lexists fails on a missing parent). */
static int path_exists(hid_t file, const char *path)
{
	char buf[256];
	size_t n = strlen(path);
	if (n >= sizeof buf)
		return 0;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] == '/' || buf[i] == '\0') {
			char c = buf[i];
			buf[i] = '\0';
			if (H5Lexists(file, buf, H5P_DEFAULT) <= 0)
				return 0;
			buf[i] = c;
		}
	}
	return 1;
}

enum { ATTR_OK = 0, ATTR_MISSING = -1, ATTR_BADTYPE = -2, ATTR_UNREADABLE = -3 };

/* Opens attribute name of the root; checks it is one value of class cls. */
static int open_attr(hid_t file, const char *name, H5T_class_t cls, hid_t *a, hid_t *ft)
{
	hid_t sp;
	hssize_t np;
	if (H5Aexists(file, name) <= 0)
		return ATTR_MISSING;
	*a = H5Aopen(file, name, H5P_DEFAULT);
	if (*a < 0)
		return ATTR_UNREADABLE;
	*ft = H5Aget_type(*a);
	sp = H5Aget_space(*a);
	np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
	if (sp >= 0)
		H5Sclose(sp);
	if (*ft < 0 || H5Tget_class(*ft) != cls || np != 1) {
		if (*ft >= 0)
			H5Tclose(*ft);
		H5Aclose(*a);
		return ATTR_BADTYPE;
	}
	return ATTR_OK;
}

static void attr_problem(tr__header *h, const char *name, int rc, const char *want)
{
	if (rc == ATTR_MISSING)
		tr__problem(h, "missing root attribute '%s' (%s)", name, want);
	else if (rc == ATTR_BADTYPE)
		tr__problem(h, "root attribute '%s' is not one %s value", name, want);
	else
		tr__problem(h, "cannot read root attribute '%s' (corrupt file?)", name);
}

/* A required (or optional) string attribute; NULL after a reported problem or when absent. */
static char *get_str(tr__header *h, const char *name, int required)
{
	hid_t a, ft;
	char *s;
	int rc = open_attr(h->file, name, H5T_STRING, &a, &ft);
	if (rc == ATTR_MISSING && !required)
		return NULL;
	if (rc != ATTR_OK) {
		attr_problem(h, name, rc, "string");
		return NULL;
	}
	s = ms_h5_attr_string(a, ft);
	if (!s)
		attr_problem(h, name, ATTR_UNREADABLE, "string");
	H5Tclose(ft);
	H5Aclose(a);
	return s;
}

/*
 * An integer attribute into *v. want_size: the documented width in bytes (4 or 8), checked
 * when strict. Returns 1 when read, 0 when absent (optional) or after a reported problem.
 */
static int get_int(tr__header *h, const char *name, int required, size_t want_size, int64_t *v)
{
	hid_t a, ft;
	int ok = 0;
	int rc = open_attr(h->file, name, H5T_INTEGER, &a, &ft);
	if (rc == ATTR_MISSING && !required)
		return 0;
	if (rc != ATTR_OK) {
		attr_problem(h, name, rc, want_size == 8 ? "int64" : "int32");
		return 0;
	}
	if (h->strict && (H5Tget_size(ft) != want_size || H5Tget_sign(ft) != H5T_SGN_2)) {
		char tn[32];
		tr__type_name(ft, tn, sizeof tn);
		tr__problem(h, "root attribute '%s' has type %s, expected %s", name, tn, want_size == 8 ? "int64" : "int32");
	} else if (H5Aread(a, H5T_NATIVE_INT64, v) < 0) {
		attr_problem(h, name, ATTR_UNREADABLE, "integer");
	} else {
		ok = 1;
	}
	H5Tclose(ft);
	H5Aclose(a);
	return ok;
}

typedef struct ds_spec {
	int which;
	int rank;
	H5T_class_t cls;
	size_t size;      /* strict width in bytes */
	int is_signed;
	const char *dims_doc;
} ds_spec;

/* Opens dataset `path` with its type and space (each < 0 if unreadable); reports and
 * returns -1 when the dataset cannot be opened. */
static hid_t open_typed(tr__header *h, const char *path, hid_t *ft, hid_t *sp)
{
	hid_t ds = H5Dopen2(h->file, path, H5P_DEFAULT);
	if (ds < 0) {
		tr__problem(h, "%s exists but is not a readable dataset", path);
		*ft = *sp = -1;
		return -1;
	}
	*ft = H5Dget_type(ds);
	*sp = H5Dget_space(ds);
	return ds;
}

/* Opens and checks one dataset; leaves it in h->ds[which] or reports and returns -1. */
static int open_ds(tr__header *h, const ds_spec *s, const hsize_t *want)
{
	const char *path = tr__ds_path[s->which];
	hid_t ds, ft, sp;
	hsize_t dims[4] = {0, 0, 0, 0};
	int rank, bad = 0;
	char tn[32];
	if ((ds = open_typed(h, path, &ft, &sp)) < 0)
		return -1;
	rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
	if (ft < 0 || sp < 0 || rank < 0 || rank > 4) {
		tr__problem(h, "%s: cannot read its type or shape (corrupt file?)", path);
		bad = 1;
	}
	if (!bad) {
		H5Sget_simple_extent_dims(sp, dims, NULL);
		tr__type_name(ft, tn, sizeof tn);
		if (H5Tget_class(ft) != s->cls) {
			tr__problem(h, "%s has type %s, expected %s", path, tn,
				    s->cls == H5T_FLOAT ? "float32" : s->size == 8 ? "int64" : s->size == 4 ? "int32" : "int16");
			bad = 1;
		} else if (s->cls == H5T_INTEGER && H5Tget_size(ft) != 1 && H5Tget_size(ft) != 2 && H5Tget_size(ft) != 4 &&
			   H5Tget_size(ft) != 8) {
			/* Even the lenient reader wants a width HDF5 converts sanely (a corrupt type of
			 * 26,628-byte integers made H5Dread overrun its buffers in fuzzing). */
			tr__problem(h, "%s has type %s, expected int%d", path, tn, (int)s->size * 8);
			bad = 1;
		} else if (s->cls == H5T_FLOAT && H5Tget_size(ft) != 4 && H5Tget_size(ft) != 8) {
			tr__problem(h, "%s has type %s, expected float32", path, tn);
			bad = 1;
		} else if (h->strict && s->cls != H5T_STRING &&
			   (H5Tget_size(ft) != s->size || (s->cls == H5T_INTEGER && (H5Tget_sign(ft) == H5T_SGN_2) != s->is_signed))) {
			tr__problem(h, "%s has type %s, expected %s%zu", path, tn, s->cls == H5T_FLOAT ? "float" : "int",
				    s->size * 8);
			bad = 1;
		}
	}
	if (!bad && want) {
		int same = rank == s->rank;
		for (int i = 0; same && i < rank; i++)
			same = dims[i] == want[i];
		if (!same) {
			char got[128] = "", exp[128] = "";
			size_t g = 0, e = 0;
			for (int i = 0; i < rank; i++)
				g += (size_t)snprintf(got + g, sizeof got - g, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
			for (int i = 0; i < s->rank; i++)
				e += (size_t)snprintf(exp + e, sizeof exp - e, "%s%llu", i ? ", " : "", (unsigned long long)want[i]);
			tr__problem(h, "%s has shape [%s], expected [%s] (%s)", path, got, exp, s->dims_doc);
			bad = 1;
		}
	}
	if (ft >= 0)
		H5Tclose(ft);
	if (sp >= 0)
		H5Sclose(sp);
	if (bad) {
		H5Dclose(ds);
		return -1;
	}
	h->ds[s->which] = ds;
	return 0;
}

/* Reads /tokens/domain_names (1-D, fixed or variable strings) into h->domain_names. */
static int read_domain_names(tr__header *h)
{
	hid_t ds, ft, sp;
	hssize_t np;
	int rc = -1;
	const char *path = tr__ds_path[TR__DS_DOMAIN_NAMES];
	if ((ds = open_typed(h, path, &ft, &sp)) < 0)
		return -1;
	np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
	if (ft < 0 || H5Tget_class(ft) != H5T_STRING || sp < 0 || H5Sget_simple_extent_ndims(sp) != 1) {
		tr__problem(h, "%s must be a 1-D array of strings", path);
		goto out;
	}
	if (np > 32768) {
		tr__problem(h, "%s has %lld names; domain ids are int16, so at most 32768", path, (long long)np);
		goto out;
	}
	h->domain_names = calloc((size_t)(np > 0 ? np : 1), sizeof *h->domain_names);
	if (!h->domain_names) {
		tr__problem(h, "out of memory reading %s", path);
		goto out;
	}
	h->info.num_domains = (int)np; /* names still NULL: tr__header_close frees what was read */
	rc = ms_h5_read_strings(ds, ft, (size_t)np, h->domain_names);
	if (rc < 0)
		tr__problem(h, "cannot read %s (corrupt file?)", path);
out:
	if (ft >= 0)
		H5Tclose(ft);
	if (sp >= 0)
		H5Sclose(sp);
	H5Dclose(ds);
	return rc;
}

int tr__header_open(tr__header *h, const char *path, int strict, tr__report_fn report, void *ctx)
{
	int64_t v;
	int before;
	hsize_t L, T, K, E;
	memset(h, 0, sizeof *h);
	h->file = -1;
	for (int i = 0; i < TR__NDS; i++)
		h->ds[i] = -1;
	h->info.path = path;
	h->strict = strict;
	h->report = report;
	h->ctx = ctx;
	tr__h5_quiet();
	/* access(), not a trial open: the file is opened once, by HDF5 (tested with strace). */
	if (access(path, R_OK) != 0) {
		tr__problem(h, "cannot read the file: %s", strerror(errno));
		return -1;
	}
	h->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (h->file < 0) {
		tr__problem(h, "not an HDF5 file, or truncated or corrupt (HDF5 cannot open it)");
		return -1;
	}

	/* Root attributes. */
	before = h->problems;
	{
		char *fmt = get_str(h, "format", 1);
		if (fmt && strcmp(fmt, TR_FORMAT_NAME) != 0)
			tr__problem(h, "root attribute 'format' = '%s', expected '%s' (not a moesim router trace)", fmt,
				    TR_FORMAT_NAME);
		free(fmt);
	}
	if (get_int(h, "version", 1, 4, &v) && v != TR_FORMAT_VERSION)
		tr__problem(h, "trace format version %lld is not supported (this moesim reads version %d)", (long long)v,
			    TR_FORMAT_VERSION);
	if (h->problems > before)
		return -1; /* not a version-1 trace: the rest would only add noise */
	if (get_int(h, "num_layers", 1, 4, &v)) {
		if (v < 1 || v > 1000000)
			tr__problem(h, "root attribute 'num_layers' = %lld must be at least 1", (long long)v);
		else
			h->info.num_layers = (int)v;
	}
	if (get_int(h, "num_experts", 1, 4, &v)) {
		if (v < 1 || v > TR_MAX_EXPERTS)
			tr__problem(h, "root attribute 'num_experts' = %lld must be in 1..%d (ids are int16)", (long long)v,
				    TR_MAX_EXPERTS);
		else
			h->info.num_experts = (int)v;
	}
	if (get_int(h, "depth", 1, 4, &v)) {
		if (v < 1 || (h->info.num_experts > 0 && v > h->info.num_experts))
			tr__problem(h, "root attribute 'depth' = %lld must be in 1..num_experts = %d", (long long)v,
				    h->info.num_experts);
		else if (v > TR_MAX_EXPERTS)
			tr__problem(h, "root attribute 'depth' = %lld is too large", (long long)v);
		else
			h->info.depth = (int)v;
	}
	if (get_int(h, "num_tokens", 1, 8, &v)) {
		if (v < 0)
			tr__problem(h, "root attribute 'num_tokens' = %lld is negative", (long long)v);
		else
			h->info.num_tokens = v;
	}
	if (get_int(h, "top_k", 0, 4, &v)) {
		if (v < 1 || (h->info.depth > 0 && v > h->info.depth))
			tr__problem(h, "root attribute 'top_k' = %lld must be in 1..depth = %d", (long long)v, h->info.depth);
		else
			h->info.top_k = (int)v;
	}
	h->model = get_str(h, "model", 1);
	h->source = get_str(h, "source", 1);
	h->created = get_str(h, "created", 1);
	{
		char *kind = get_str(h, "score_kind", 1);
		if (kind && tr_score_kind_parse(kind, &h->info.score_kind) < 0)
			tr__problem(h, "root attribute 'score_kind' = '%s', expected 'softmax', 'sigmoid' or 'other'", kind);
		free(kind);
	}
	h->info.model = h->model ? h->model : "";
	h->info.source = h->source ? h->source : "";
	h->info.created = h->created ? h->created : "";
	if (h->problems > before)
		return -1;

	/* Datasets. */
	L = (hsize_t)h->info.num_layers;
	T = (hsize_t)h->info.num_tokens;
	K = (hsize_t)h->info.depth;
	E = (hsize_t)h->info.num_experts;
	{
		static const ds_spec specs[] = {
			{TR__DS_IDS, 3, H5T_INTEGER, 2, 1, "num_layers, num_tokens, depth"},
			{TR__DS_SCORES, 3, H5T_FLOAT, 4, 1, "num_layers, num_tokens, depth"},
			{TR__DS_LOGITS, 3, H5T_FLOAT, 4, 1, "num_layers, num_tokens, num_experts"},
			{TR__DS_STEP, 1, H5T_INTEGER, 4, 1, "num_tokens"},
			{TR__DS_SEQUENCE, 1, H5T_INTEGER, 8, 1, "num_tokens"},
			{TR__DS_POSITION, 1, H5T_INTEGER, 4, 1, "num_tokens"},
			{TR__DS_RANK, 1, H5T_INTEGER, 4, 1, "num_tokens"},
			{TR__DS_DOMAIN, 1, H5T_INTEGER, 2, 1, "num_tokens"},
		};
		hsize_t lt_k[3] = {L, T, K}, lt_e[3] = {L, T, E}, t1[1] = {T};
		for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
			const ds_spec *s = &specs[i];
			int optional = s->which == TR__DS_LOGITS || s->which == TR__DS_DOMAIN;
			if (!path_exists(h->file, tr__ds_path[s->which])) {
				if (!optional)
					tr__problem(h, "missing dataset %s", tr__ds_path[s->which]);
				continue;
			}
			open_ds(h, s, s->rank == 1 ? t1 : s->which == TR__DS_LOGITS ? lt_e : lt_k);
		}
	}
	{
		int has_names = path_exists(h->file, tr__ds_path[TR__DS_DOMAIN_NAMES]);
		int has_dom = path_exists(h->file, tr__ds_path[TR__DS_DOMAIN]);
		if (has_dom && !has_names)
			tr__problem(h, "/tokens/domain is present but /tokens/domain_names is missing");
		else if (has_names && !has_dom)
			tr__problem(h, "/tokens/domain_names is present but /tokens/domain is missing");
		else if (has_names && read_domain_names(h) == 0 && h->info.num_domains == 0 && T > 0)
			tr__problem(h, "/tokens/domain_names is empty but there are tokens with a /tokens/domain");
	}
	h->info.has_logits = h->ds[TR__DS_LOGITS] >= 0;
	h->info.has_domain = h->ds[TR__DS_DOMAIN] >= 0;
	h->info.domain_names = (const char *const *)h->domain_names;
	if (h->ds[TR__DS_IDS] >= 0) {
		tr__layout l;
		if (tr__layout_get(h->ds[TR__DS_IDS], &l) == 0 && l.rank == 3 && l.chunked)
			h->info.chunk_tokens = (int64_t)l.chunk[1];
	}
	return h->problems > before ? -1 : 0;
}

void tr__header_close(tr__header *h)
{
	for (int i = 0; i < TR__NDS; i++)
		if (h->ds[i] >= 0) {
			H5Dclose(h->ds[i]);
			h->ds[i] = -1;
		}
	if (h->file >= 0) {
		H5Fclose(h->file);
		h->file = -1;
	}
	free(h->model);
	free(h->source);
	free(h->created);
	if (h->domain_names)
		for (int i = 0; i < h->info.num_domains; i++)
			free(h->domain_names[i]);
	free(h->domain_names);
	h->model = h->source = h->created = NULL;
	h->domain_names = NULL;
}
