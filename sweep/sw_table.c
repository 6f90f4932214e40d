/*
 * sw_table.c - the sweep's table: ranking, Pareto front, CSV, HDF5, the terminal
 * comparison (see sw_table.h).
 */
#include "sweep/sw_table.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_file.h"
#include "common/ms_h5.h"

/* qsort's comparator takes no context: what it sorts by is file-static for the call
 * (the sweep's master is one thread). */
static const double *sort_obj, *sort_thr;
static int sort_k;

static int cmp_front(const void *a, const void *b)
{
	int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
	for (int d = 0; d < sort_k; d++) {
		double x = sort_obj[i * sort_k + d], y = sort_obj[j * sort_k + d];
		if (x != y)
			return x < y ? -1 : 1;
	}
	return i < j ? -1 : i > j;
}

/* q at most p everywhere and below it somewhere. */
static int dominates(const double *q, const double *p, int k)
{
	int better = 0;
	for (int d = 0; d < k; d++) {
		if (q[d] > p[d])
			return 0;
		better |= q[d] < p[d];
	}
	return better;
}

void sw_pareto(int64_t n, int k, const double *obj, int *best)
{
	int64_t *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx), *front = malloc((size_t)(n > 0 ? n : 1) * sizeof *front);
	int64_t nf = 0;
	MS_ASSERT(idx && front, "out of memory for %lld points", (long long)n);
	for (int64_t i = 0; i < n; i++)
		idx[i] = i;
	sort_obj = obj;
	sort_k = k;
	qsort(idx, (size_t)n, sizeof *idx, cmp_front);
	for (int64_t r = 0; r < n; r++) {
		int64_t p = idx[r];
		int dominated = 0;
		for (int64_t f = 0; f < nf && !dominated; f++)
			dominated = dominates(obj + front[f] * k, obj + p * k, k);
		best[p] = !dominated;
		if (!dominated)
			front[nf++] = p;
	}
	free(idx);
	free(front);
}

static int cmp_rank(const void *a, const void *b)
{
	int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
	if (sort_thr[i] != sort_thr[j])
		return sort_thr[i] > sort_thr[j] ? -1 : 1;
	return i < j ? -1 : i > j;
}

int sw_table_init(sw_table *t, const sw_spec *sp, const sw_record *rec, ms_error *err)
{
	int64_t n = sp->npoints, m = 0;
	int nk = scn_key_count();
	double *obj, *per_gpu;
	int64_t *ran;
	int *best, rc = MS_ENOMEM, nobj;
	scn_scenario *s;
	memset(t, 0, sizeof *t);
	t->sp = sp;
	t->rec = rec;
	t->n = n;
	t->pareto = calloc((size_t)n, sizeof *t->pareto);
	t->rank = calloc((size_t)n, sizeof *t->rank);
	t->order = calloc((size_t)n, sizeof *t->order);
	t->inputs = calloc((size_t)n, sizeof *t->inputs);
	t->input_off = calloc((size_t)n * (size_t)nk, sizeof *t->input_off);
	obj = calloc((size_t)n * 4, sizeof *obj);
	per_gpu = calloc((size_t)n, sizeof *per_gpu);
	ran = calloc((size_t)n, sizeof *ran);
	best = calloc((size_t)n, sizeof *best);
	s = malloc(sizeof *s);
	if (!t->pareto || !t->rank || !t->order || !t->inputs || !t->input_off || !obj || !per_gpu || !ran || !best || !s)
		goto nomem;
	t->by_cost = t->by_tpot = 1;
	for (int64_t i = 0; i < n; i++)
		if (rec[i].status == SW_OK) {
			if (isnan(rec[i].out[SW_O_COST_PER_HOUR]))
				t->by_cost = 0;
			if (isnan(rec[i].out[SW_O_TPOT]))
				t->by_tpot = 0;
			ran[m++] = i;
		}
	if (m == 0)
		t->by_cost = t->by_tpot = 0;
	/* All minimised: throughput negated. */
	nobj = 3 + t->by_tpot;
	for (int64_t k = 0; k < m; k++) {
		const sw_record *r = &rec[ran[k]];
		double *o = obj + k * nobj;
		o[0] = -r->out[SW_O_TOKENS_PER_S];
		o[1] = r->out[SW_O_DROPPED_PAIRS];
		o[2] = t->by_cost ? r->out[SW_O_COST_PER_HOUR] : r->out[SW_O_GPUS];
		if (t->by_tpot)
			o[3] = r->out[SW_O_TPOT];
		per_gpu[ran[k]] = r->out[SW_O_TOKENS_PER_S_PER_GPU];
	}
	sw_pareto(m, nobj, obj, best);
	for (int64_t k = 0; k < m; k++)
		t->pareto[ran[k]] = best[k];
	memcpy(t->order, ran, (size_t)m * sizeof *ran);
	sort_thr = per_gpu;
	qsort(t->order, (size_t)m, sizeof *t->order, cmp_rank);
	for (int64_t k = 0; k < m; k++)
		t->rank[t->order[k]] = k + 1;
	t->nran = m;
	for (int64_t i = 0; i < n; i++) {
		ms_error e;
		char text[SCN_PATH_MAX];
		size_t total = 0;
		char *p;
		int ok;
		ms_error_clear(&e);
		ok = sw_spec_load_point(sp, i, s, &e) == MS_OK;
		for (int k = 0; k < nk; k++)
			total += (ok ? strlen(scn_value_text(s, k, text, sizeof text)) : 0) + 1;
		/* Numbers are at most as long in their shortest form. */
		t->inputs[i] = p = malloc(total);
		if (!p)
			goto nomem;
		for (int k = 0; k < nk; k++) {
			const char *v = ok ? scn_value_text(s, k, text, sizeof text) : "";
			char num[64];
			if (ok && scn_key_is_number(k))
				v = sw_format_double(strtod(v, NULL), num, sizeof num);
			t->input_off[(size_t)i * (size_t)nk + (size_t)k] = (size_t)(p - t->inputs[i]);
			memcpy(p, v, strlen(v) + 1);
			p += strlen(v) + 1;
		}
	}
	rc = MS_OK;
nomem:
	free(obj);
	free(per_gpu);
	free(ran);
	free(best);
	free(s);
	if (rc == MS_OK)
		return MS_OK;
	sw_table_fini(t);
	return MS_ERROR(err, MS_ENOMEM, "out of memory for the sweep's table");
}

void sw_table_fini(sw_table *t)
{
	for (int64_t i = 0; t->inputs && i < t->n; i++)
		free(t->inputs[i]);
	free(t->inputs);
	free(t->input_off);
	free(t->pareto);
	free(t->rank);
	free(t->order);
	memset(t, 0, sizeof *t);
}

/* Point i's resolved value of scenario key k. */
static const char *input(const sw_table *t, int64_t i, int k)
{
	return t->inputs[i] + t->input_off[(size_t)i * (size_t)scn_key_count() + (size_t)k];
}

static int is_swept(const sw_spec *sp, int k)
{
	for (int j = 0; j < sp->nkeys; j++)
		if (sp->key[j] == k)
			return 1;
	return 0;
}

/* ---- CSV ---- */

static void csv_field(FILE *f, const char *v, int first)
{
	if (!first)
		fputc(',', f);
	if (!strpbrk(v, ",\"\n\r")) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

static void csv_num(FILE *f, double v)
{
	char buf[64];
	fputc(',', f);
	if (!isnan(v))
		fputs(sw_format_double(v, buf, sizeof buf), f);
}

int sw_table_write_csv(const sw_table *t, const char *path, ms_error *err)
{
	const sw_spec *sp = t->sp;
	int nk = scn_key_count();
	ms_file mf;
	FILE *f;
	if (ms_file_open(&mf, path, 1, err) < 0)
		return err->code;
	f = ms_file_stream(&mf);
	csv_field(f, "point", 1);
	csv_field(f, "status", 0);
	for (int j = 0; j < sp->nkeys; j++)
		csv_field(f, scn_key_name(sp->key[j]), 0);
	for (int o = 0; o < SW_NOUT; o++)
		csv_field(f, sw_out_name(o), 0);
	csv_field(f, "pareto", 0);
	csv_field(f, "rank", 0);
	for (int k = 0; k < nk; k++)
		if (!is_swept(sp, k))
			csv_field(f, scn_key_name(k), 0);
	csv_field(f, "reason", 0);
	csv_field(f, "warning", 0);
	fputc('\n', f);
	for (int64_t i = 0; i < t->n; i++) {
		const sw_record *r = &t->rec[i];
		fprintf(f, "%lld", (long long)i);
		csv_field(f, sw_status_name(r->status), 0);
		for (int j = 0; j < sp->nkeys; j++)
			csv_field(f, sw_spec_value(sp, i, j), 0);
		for (int o = 0; o < SW_NOUT; o++)
			csv_num(f, r->out[o]);
		fprintf(f, ",%d,", t->pareto[i]);
		if (t->rank[i])
			fprintf(f, "%lld", (long long)t->rank[i]);
		for (int k = 0; k < nk; k++)
			if (!is_swept(sp, k))
				csv_field(f, input(t, i, k), 0);
		csv_field(f, r->reason, 0);
		csv_field(f, r->warning, 0);
		fputc('\n', f);
	}
	return ms_file_commit(&mf, err);
}

/* ---- HDF5 ---- */

typedef struct h5t {
	hid_t file, dcpl;
	int failed;
	const char *path;
	ms_error *err;
	const char **names; /* the columns in order */
	int ncols;
} h5t;

static void h5_done(h5t *w, hid_t ds, hid_t sp, const char *name, const char *unit, const char *doc)
{
	if (ds < 0) {
		if (!w->failed)
			MS_ERROR(w->err, MS_EIO, "cannot write column %s to HDF5 file '%s'", name, w->path);
		w->failed = 1;
	}
	if (ds >= 0) {
		if (ms_h5_attr_utf8(ds, "unit", unit) < 0 || ms_h5_attr_utf8(ds, "doc", doc) < 0)
			w->failed = 1;
		H5Dclose(ds);
	}
	H5Sclose(sp);
	w->names[w->ncols++] = name;
}

static void h5_nums(h5t *w, const char *name, hid_t type, const void *data, hsize_t n, const char *unit, const char *doc)
{
	hid_t sp = H5Screate_simple(1, &n, NULL);
	hid_t ds = H5Dcreate2(w->file, name, type, sp, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
	if (ds >= 0 && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
		H5Dclose(ds);
		ds = -1;
	}
	h5_done(w, ds, sp, name, unit, doc);
}

/* Strings, fixed width (the longest + 1), NUL-terminated. */
static void h5_strs(h5t *w, const char *name, const char *const *v, hsize_t n, const char *unit, const char *doc)
{
	size_t width = 1;
	char *buf;
	hid_t st, sp, ds = -1;
	for (hsize_t i = 0; i < n; i++)
		if (strlen(v[i]) + 1 > width)
			width = strlen(v[i]) + 1;
	buf = calloc(n ? n : 1, width);
	if (!buf) {
		w->failed = 1;
		MS_ERROR(w->err, MS_ENOMEM, "out of memory");
		return;
	}
	for (hsize_t i = 0; i < n; i++)
		memcpy(buf + i * width, v[i], strlen(v[i]));
	st = H5Tcopy(H5T_C_S1);
	H5Tset_size(st, width);
	H5Tset_strpad(st, H5T_STR_NULLTERM);
	H5Tset_cset(st, H5T_CSET_UTF8); /* h5py: .asstr() gives str */
	sp = H5Screate_simple(1, &n, NULL);
	ds = H5Dcreate2(w->file, name, st, sp, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
	if (ds >= 0 && H5Dwrite(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
		H5Dclose(ds);
		ds = -1;
	}
	H5Tclose(st);
	free(buf);
	h5_done(w, ds, sp, name, unit, doc);
}

int sw_table_write_h5(const sw_table *t, const char *path, ms_error *err)
{
	const sw_spec *sp = t->sp;
	int nk = scn_key_count(), ncols = 2 + sp->nkeys + SW_NOUT + 2 + nk + 2;
	hsize_t n = (hsize_t)t->n;
	h5t w = {-1, -1, 0, path, err, NULL, 0};
	ms_file mf;
	const char **sv = calloc(n ? n : 1, sizeof *sv);
	double *dv = calloc(n ? n : 1, sizeof *dv);
	long long *iv = calloc(n ? n : 1, sizeof *iv);
	hid_t fapl;
	w.names = calloc((size_t)ncols, sizeof *w.names);
	if (!sv || !dv || !iv || !w.names) {
		free(sv);
		free(dv);
		free(iv);
		free(w.names);
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	}
	if (ms_file_begin(&mf, path, 1, err) < 0)
		goto out;
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	fapl = H5Pcreate(H5P_FILE_ACCESS);
	H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
	w.file = H5Fcreate(ms_file_tmp_path(&mf), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
	H5Pclose(fapl);
	if (w.file < 0) {
		MS_ERROR(err, MS_EIO, "cannot create HDF5 file '%s'", path);
		ms_file_abort(&mf);
		goto out;
	}
	w.dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_obj_track_times(w.dcpl, 0);
	for (hsize_t i = 0; i < n; i++)
		iv[i] = (long long)i;
	h5_nums(&w, "point", H5T_NATIVE_LLONG, iv, n, "", "the point's index in the crossing (first axis slowest)");
	for (hsize_t i = 0; i < n; i++)
		sv[i] = sw_status_name(t->rec[i].status);
	h5_strs(&w, "status", sv, n, "", "ok, refused, unfit or failed");
	for (int j = 0; j < sp->nkeys; j++) {
		int k = sp->key[j];
		if (scn_key_is_number(k)) {
			for (hsize_t i = 0; i < n; i++)
				dv[i] = strtod(sw_spec_value(sp, (int64_t)i, j), NULL);
			h5_nums(&w, scn_key_name(k), H5T_NATIVE_DOUBLE, dv, n, scn_key_unit(k), "swept");
		} else {
			for (hsize_t i = 0; i < n; i++)
				sv[i] = sw_spec_value(sp, (int64_t)i, j);
			h5_strs(&w, scn_key_name(k), sv, n, scn_key_unit(k), "swept");
		}
	}
	for (int o = 0; o < SW_NOUT; o++) {
		for (hsize_t i = 0; i < n; i++)
			dv[i] = t->rec[i].out[o];
		h5_nums(&w, sw_out_name(o), H5T_NATIVE_DOUBLE, dv, n, sw_out_unit(o), sw_out_doc(o));
	}
	for (hsize_t i = 0; i < n; i++)
		iv[i] = t->pareto[i];
	h5_nums(&w, "pareto", H5T_NATIVE_LLONG, iv, n, "", "1: Pareto-best (throughput, drops, GPUs or cost)");
	for (hsize_t i = 0; i < n; i++)
		iv[i] = t->rank[i];
	h5_nums(&w, "rank", H5T_NATIVE_LLONG, iv, n, "", "1 = highest throughput per GPU; 0: did not run");
	for (int k = 0; k < nk; k++) {
		if (is_swept(sp, k))
			continue;
		if (scn_key_is_number(k)) {
			for (hsize_t i = 0; i < n; i++)
				dv[i] = input(t, (int64_t)i, k)[0] ? strtod(input(t, (int64_t)i, k), NULL) : NAN;
			h5_nums(&w, scn_key_name(k), H5T_NATIVE_DOUBLE, dv, n, scn_key_unit(k), "resolved scenario value");
		} else {
			for (hsize_t i = 0; i < n; i++)
				sv[i] = input(t, (int64_t)i, k);
			h5_strs(&w, scn_key_name(k), sv, n, scn_key_unit(k), "resolved scenario value");
		}
	}
	for (hsize_t i = 0; i < n; i++)
		sv[i] = t->rec[i].reason;
	h5_strs(&w, "reason", sv, n, "", "why the point did not run");
	for (hsize_t i = 0; i < n; i++)
		sv[i] = t->rec[i].warning;
	h5_strs(&w, "warning", sv, n, "", "the run's first warning");
	h5_strs(&w, "columns", w.names, (hsize_t)w.ncols, "", "every column, in the CSV's order");
	{
		char id[32];
		snprintf(id, sizeof id, "%016llx", (unsigned long long)sp->id);
		if (ms_h5_attr_utf8(w.file, "sweep_id", id) < 0 || ms_h5_attr_utf8(w.file, "scenario", sp->path) < 0)
			w.failed = 1;
	}
	H5Pclose(w.dcpl);
	if (H5Fclose(w.file) < 0 && !w.failed) {
		w.failed = 1;
		MS_ERROR(err, MS_EIO, "cannot write HDF5 file '%s'", path);
	}
	if (w.failed) {
		if (err->code == MS_OK)
			MS_ERROR(err, MS_EIO, "cannot write HDF5 file '%s'", path);
		ms_file_abort(&mf);
	} else {
		ms_file_commit(&mf, err);
	}
out:
	free(sv);
	free(dv);
	free(iv);
	free(w.names);
	return err->code;
}

/* ---- the terminal ---- */

static void print_row(FILE *f, const sw_table *t, int64_t i, const int *width)
{
	const sw_record *r = &t->rec[i];
	char step[32], head[32];
	fprintf(f, "  %4lld %6lld", (long long)t->rank[i], (long long)i);
	for (int j = 0; j < t->sp->nkeys; j++)
		fprintf(f, "  %-*s", width[j], sw_spec_value(t->sp, i, j));
	if (r->out[SW_O_STEP_TIME] < 1e-3)
		snprintf(step, sizeof step, "%.1f us", 1e6 * r->out[SW_O_STEP_TIME]);
	else if (r->out[SW_O_STEP_TIME] < 1)
		snprintf(step, sizeof step, "%.2f ms", 1e3 * r->out[SW_O_STEP_TIME]);
	else
		snprintf(step, sizeof step, "%.3f s", r->out[SW_O_STEP_TIME]);
	if (isnan(r->out[SW_O_MEM_HEADROOM]))
		snprintf(head, sizeof head, "-");
	else
		snprintf(head, sizeof head, "%.1f GiB", r->out[SW_O_MEM_HEADROOM]);
	fprintf(f, "  %12.1f  %11s  %8.3f %%  %10s  %6.0f", r->out[SW_O_TOKENS_PER_S_PER_GPU], step,
		100.0 * r->out[SW_O_DROPPED_PAIRS], head, r->out[SW_O_GPUS]);
	if (t->by_cost)
		fprintf(f, "  %10.2f  %10.4f", r->out[SW_O_COST_PER_HOUR], r->out[SW_O_COST_PER_MTOKEN]);
	fprintf(f, "%s\n", t->pareto[i] ? "  *" : "");
}

void sw_table_print(FILE *f, const sw_table *t, int max_rows)
{
	const sw_spec *sp = t->sp;
	int width[SW_MAX_KEYS];
	int64_t counts[4] = {0, 0, 0, 0}, shown = 0, notrun = 0;
	for (int64_t i = 0; i < t->n; i++)
		counts[t->rec[i].status]++;
	fprintf(f, "moesim sweep: %s: %lld points: %lld ran, %lld refused, %lld unfit, %lld failed\n", sp->path,
		(long long)t->n, (long long)counts[SW_OK], (long long)counts[SW_REFUSED], (long long)counts[SW_UNFIT],
		(long long)counts[SW_FAILED]);
	if (t->nran > 0) {
		fprintf(f, "\n  ranked by throughput per GPU; * Pareto-best in throughput, drops%s %s%s\n\n",
			t->by_tpot ? "," : " and", t->by_cost ? "cost per hour" : "GPUs",
			t->by_tpot ? " and time per output token" : "");
		fprintf(f, "  %4s %6s", "rank", "point");
		for (int j = 0; j < sp->nkeys; j++) {
			const char *name = scn_key_name(sp->key[j]);
			width[j] = (int)strlen(name);
			for (int64_t i = 0; i < t->n; i++)
				if ((int)strlen(sw_spec_value(sp, i, j)) > width[j])
					width[j] = (int)strlen(sw_spec_value(sp, i, j));
			fprintf(f, "  %-*s", width[j], name);
		}
		fprintf(f, "  %12s  %11s  %10s  %10s  %6s", "tokens/s/GPU", "step time", "drops", "headroom", "GPUs");
		if (t->by_cost)
			fprintf(f, "  %10s  %10s", "cost/h", "cost/Mtok");
		fprintf(f, "  pareto\n");
		for (int64_t k = 0; k < t->nran; k++) {
			int64_t i = t->order[k];
			if (k < max_rows || t->pareto[i]) {
				print_row(f, t, i, width);
				shown++;
			}
		}
		if (shown < t->nran)
			fprintf(f, "  ... %lld more in the table\n", (long long)(t->nran - shown));
	}
	for (int64_t i = 0; i < t->n; i++) {
		const sw_record *r = &t->rec[i];
		char label[1024];
		if (r->status == SW_OK)
			continue;
		if (notrun == 0)
			fprintf(f, "\n  not run:\n");
		if (notrun++ >= 50)
			continue;
		sw_spec_label(sp, i, label, sizeof label);
		fprintf(f, "  point %lld (%s): %s: %.400s%s\n", (long long)i, label, sw_status_name(r->status), r->reason,
			strlen(r->reason) > 400 ? " ..." : "");
	}
	if (notrun > 50)
		fprintf(f, "  ... %lld more not run, with their reasons in the table\n", (long long)(notrun - 50));
}
