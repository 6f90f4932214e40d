/*
 * tr_writer.c - chunk-buffered trace writer (see tr_writer.h).
 *
 * The buffer holds up to C = chunk_tokens tokens of every layer. When it is full, every
 * dataset grows by C along T and one hyperslab per layer is written: exactly one chunk,
 * compressed once (shuffle + gzip level 4, as docs/trace-format.md asks). Datasets are
 * created at the first flush, so a trace shorter than one chunk gets the chunk length
 * min(T, C) (1 for T = 0), as the format prescribes. Attributes are written at the end,
 * when num_tokens is known, always in the same order.
 *
 * Every HDF5 identifier is closed on every path. The file is an atomic output
 * (common/ms_file.h): HDF5 writes the temporary name, removed on failure.
 */
#include "trace/tr_writer.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_file.h"
#include "trace/tr_h5.h"

#define GZIP_LEVEL 4

struct tr_writer {
	tr_meta m;
	char *path;        /* the final name, for messages */
	ms_file out;       /* its temporary file */
	char **names;      /* copies of the domain names */
	char *model, *source, *created, *description; /* copies; m points at them */
	hid_t file, fcpl, dcpl_obj, gcpl;
	hid_t ds[TR__NDS]; /* -1 until created */
	int64_t chunk;     /* C */
	int64_t nbuf;      /* tokens buffered */
	int64_t written;   /* tokens flushed */
	int16_t *ids;      /* [L][C][K] */
	float *scores;     /* [L][C][K] */
	float *logits;     /* [L][C][E] */
	int32_t *step, *pos, *rank;
	int64_t *seq;
	int16_t *dom;
	int have_last;
	tr_token last;     /* the last token appended, for the order check */
	int failed;
};

static int h5_fail(tr_writer *w, ms_error *err, const char *what)
{
	w->failed = 1;
	return MS_ERROR(err, MS_EIO, "cannot write %s to '%s' (disk full or directory not writable?)", what,
			ms_file_tmp_path(&w->out));
}

static char *dup_str(const char *s, const char *dflt)
{
	return strdup(s ? s : dflt);
}

tr_writer *tr_writer_create(const char *path, int force, const tr_meta *m, ms_error *err)
{
	tr_writer *w;
	size_t L, K, E, C;
	if (m->num_layers < 1 || m->num_experts < 1 || m->num_experts > TR_MAX_EXPERTS || m->depth < 1 ||
	    m->depth > m->num_experts || m->top_k < 0 || m->top_k > m->depth || m->num_domains < 0 ||
	    m->num_domains > 32767 || m->chunk_tokens < 0) {
		MS_ERROR(err, MS_EINVAL,
			 "%s: invalid trace shape: %d layers, %d experts, depth %d, top_k %d, %d domains (need layers >= 1, "
			 "1 <= depth <= experts <= %d, top_k <= depth)",
			 path, m->num_layers, m->num_experts, m->depth, m->top_k, m->num_domains, TR_MAX_EXPERTS);
		return NULL;
	}
	w = ms_calloc(err, 1, sizeof *w, "trace writer");
	if (!w)
		return NULL;
	w->m = *m;
	w->file = w->fcpl = w->dcpl_obj = w->gcpl = -1;
	for (int i = 0; i < TR__NDS; i++)
		w->ds[i] = -1;
	if (ms_file_begin(&w->out, path, force, err) < 0) {
		tr_writer_abort(w);
		return NULL;
	}
	L = (size_t)m->num_layers;
	K = (size_t)m->depth;
	E = (size_t)m->num_experts;
	w->chunk = m->chunk_tokens > 0 ? m->chunk_tokens : TR_CHUNK_TOKENS;
	C = (size_t)w->chunk;
	w->path = strdup(path);
	/* Own copies of the strings: the caller's buffers may not outlive the writer. */
	w->model = dup_str(m->model, "unknown");
	w->source = dup_str(m->source, "moesim");
	w->created = dup_str(m->created, TR_CREATED_UNKNOWN);
	w->description = m->description ? strdup(m->description) : NULL;
	w->m.model = w->model;
	w->m.source = w->source;
	w->m.created = w->created;
	w->m.description = w->description;
	if (!w->model || !w->source || !w->created || (m->description && !w->description))
		goto nomem;
	if (m->num_domains > 0) {
		w->names = calloc((size_t)m->num_domains, sizeof *w->names);
		if (!w->names)
			goto nomem;
		for (int d = 0; d < m->num_domains; d++)
			if (!(w->names[d] = strdup(m->domain_names[d] ? m->domain_names[d] : "")))
				goto nomem;
		w->m.domain_names = (const char *const *)w->names;
	} else {
		w->m.domain_names = NULL;
	}
	w->ids = malloc(L * C * K * sizeof *w->ids);
	w->scores = malloc(L * C * K * sizeof *w->scores);
	w->logits = m->has_logits ? malloc(L * C * E * sizeof *w->logits) : NULL;
	w->step = malloc(C * sizeof *w->step);
	w->pos = malloc(C * sizeof *w->pos);
	w->rank = malloc(C * sizeof *w->rank);
	w->seq = malloc(C * sizeof *w->seq);
	w->dom = malloc(C * sizeof *w->dom);
	if (!w->path || !w->ids || !w->scores || (m->has_logits && !w->logits) || !w->step || !w->pos ||
	    !w->rank || !w->seq || !w->dom)
		goto nomem;
	tr__h5_quiet();
	w->fcpl = H5Pcreate(H5P_FILE_CREATE);
	w->dcpl_obj = H5Pcreate(H5P_DATASET_CREATE);
	w->gcpl = H5Pcreate(H5P_GROUP_CREATE);
	if (w->fcpl < 0 || w->dcpl_obj < 0 || w->gcpl < 0 || H5Pset_obj_track_times(w->fcpl, 0) < 0 ||
	    H5Pset_obj_track_times(w->dcpl_obj, 0) < 0 || H5Pset_obj_track_times(w->gcpl, 0) < 0) {
		MS_ERROR(err, MS_EIO, "%s: cannot set up HDF5 property lists", path);
		tr_writer_abort(w);
		return NULL;
	}
	w->file = H5Fcreate(ms_file_tmp_path(&w->out), H5F_ACC_TRUNC, w->fcpl, H5P_DEFAULT);
	if (w->file < 0) {
		MS_ERROR(err, MS_EIO, "cannot create HDF5 file '%s' (is the directory writable?)",
			 ms_file_tmp_path(&w->out));
		tr_writer_abort(w);
		return NULL;
	}
	{
		hid_t g1 = H5Gcreate2(w->file, "routing", H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
		hid_t g2 = H5Gcreate2(w->file, "tokens", H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
		if (g1 >= 0)
			H5Gclose(g1);
		if (g2 >= 0)
			H5Gclose(g2);
		if (g1 < 0 || g2 < 0) {
			h5_fail(w, err, "groups");
			tr_writer_abort(w);
			return NULL;
		}
	}
	return w;
nomem:
	MS_ERROR(err, MS_ENOMEM, "out of memory for the trace writer of '%s' (%d layers x %lld tokens per chunk)", path,
		 m->num_layers, (long long)w->chunk);
	tr_writer_abort(w);
	return NULL;
}

int64_t tr_writer_tokens(const tr_writer *w)
{
	return w->written + w->nbuf;
}

/* Creates dataset `which` with the given rank, inner width and chunk length. */
static int create_ds(tr_writer *w, int which, hid_t type, int rank, hsize_t width, hsize_t chunk, ms_error *err)
{
	hsize_t dims[3], maxd[3], cd[3];
	hid_t sp, dcpl, ds;
	if (rank == 3) {
		dims[0] = maxd[0] = (hsize_t)w->m.num_layers;
		dims[1] = 0;
		maxd[1] = H5S_UNLIMITED;
		dims[2] = maxd[2] = width;
		cd[0] = 1;
		cd[1] = chunk;
		cd[2] = width;
	} else {
		dims[0] = 0;
		maxd[0] = H5S_UNLIMITED;
		cd[0] = chunk;
	}
	sp = H5Screate_simple(rank, dims, maxd);
	dcpl = H5Pcopy(w->dcpl_obj);
	if (sp < 0 || dcpl < 0 || H5Pset_chunk(dcpl, rank, cd) < 0 || H5Pset_shuffle(dcpl) < 0 ||
	    H5Pset_deflate(dcpl, GZIP_LEVEL) < 0 || H5Pset_fill_time(dcpl, H5D_FILL_TIME_IFSET) < 0) {
		if (sp >= 0)
			H5Sclose(sp);
		if (dcpl >= 0)
			H5Pclose(dcpl);
		return h5_fail(w, err, tr__ds_path[which]);
	}
	ds = H5Dcreate2(w->file, tr__ds_path[which], type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	H5Sclose(sp);
	H5Pclose(dcpl);
	if (ds < 0)
		return h5_fail(w, err, tr__ds_path[which]);
	w->ds[which] = ds;
	return MS_OK;
}

static int create_all(tr_writer *w, hsize_t chunk, ms_error *err)
{
	int rc = MS_OK;
	hsize_t K = (hsize_t)w->m.depth, E = (hsize_t)w->m.num_experts;
	if (!rc)
		rc = create_ds(w, TR__DS_IDS, H5T_STD_I16LE, 3, K, chunk, err);
	if (!rc)
		rc = create_ds(w, TR__DS_SCORES, H5T_IEEE_F32LE, 3, K, chunk, err);
	if (!rc && w->m.has_logits)
		rc = create_ds(w, TR__DS_LOGITS, H5T_IEEE_F32LE, 3, E, chunk, err);
	if (!rc)
		rc = create_ds(w, TR__DS_STEP, H5T_STD_I32LE, 1, 0, chunk, err);
	if (!rc)
		rc = create_ds(w, TR__DS_SEQUENCE, H5T_STD_I64LE, 1, 0, chunk, err);
	if (!rc)
		rc = create_ds(w, TR__DS_POSITION, H5T_STD_I32LE, 1, 0, chunk, err);
	if (!rc)
		rc = create_ds(w, TR__DS_RANK, H5T_STD_I32LE, 1, 0, chunk, err);
	if (!rc && w->m.num_domains > 0)
		rc = create_ds(w, TR__DS_DOMAIN, H5T_STD_I16LE, 1, 0, chunk, err);
	return rc;
}

/* Grows dataset which to `total` tokens and writes buf into [.., written .. total, ..). */
static int write_block(tr_writer *w, int which, hid_t mem_type, int rank, hsize_t width, const void *buf, ms_error *err)
{
	hid_t ds = w->ds[which], fs = -1, ms = -1;
	hsize_t n = (hsize_t)w->nbuf, t0 = (hsize_t)w->written;
	int ok = 1;
	if (rank == 3) {
		hsize_t dims[3] = {(hsize_t)w->m.num_layers, t0 + n, width};
		hsize_t mdim[3] = {1, n, width}; /* the selection's shape: HDF5's fast path (see tr__read3) */
		ok = H5Dset_extent(ds, dims) >= 0;
		if (ok) {
			fs = H5Dget_space(ds);
			ms = H5Screate_simple(3, mdim, NULL);
			ok = fs >= 0 && ms >= 0;
		}
		/* One layer at a time: each hyperslab is whole chunks of one layer. */
		for (int l = 0; ok && l < w->m.num_layers; l++) {
			hsize_t start[3] = {(hsize_t)l, t0, 0}, count[3] = {1, n, width};
			const char *b = (const char *)buf + (size_t)l * (size_t)w->chunk * (size_t)width * H5Tget_size(mem_type);
			ok = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
			     H5Dwrite(ds, mem_type, ms, fs, H5P_DEFAULT, b) >= 0;
		}
	} else {
		hsize_t dims[1] = {t0 + n}, start[1] = {t0}, count[1] = {n};
		ok = H5Dset_extent(ds, dims) >= 0;
		if (ok) {
			fs = H5Dget_space(ds);
			ms = H5Screate_simple(1, count, NULL);
			ok = fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
			     H5Dwrite(ds, mem_type, ms, fs, H5P_DEFAULT, buf) >= 0;
		}
	}
	if (fs >= 0)
		H5Sclose(fs);
	if (ms >= 0)
		H5Sclose(ms);
	return ok ? MS_OK : h5_fail(w, err, tr__ds_path[which]);
}

static int flush(tr_writer *w, ms_error *err)
{
	int rc = MS_OK;
	hsize_t K = (hsize_t)w->m.depth, E = (hsize_t)w->m.num_experts;
	if (w->ds[TR__DS_IDS] < 0) {
		/* First flush: the chunk length is min(T, C), or C when T >= C. */
		hsize_t chunk = w->nbuf > 0 ? (hsize_t)w->nbuf : 1;
		if ((rc = create_all(w, chunk, err)) < 0)
			return rc;
	}
	if (w->nbuf == 0)
		return MS_OK;
	if (!rc)
		rc = write_block(w, TR__DS_IDS, H5T_NATIVE_INT16, 3, K, w->ids, err);
	if (!rc)
		rc = write_block(w, TR__DS_SCORES, H5T_NATIVE_FLOAT, 3, K, w->scores, err);
	if (!rc && w->m.has_logits)
		rc = write_block(w, TR__DS_LOGITS, H5T_NATIVE_FLOAT, 3, E, w->logits, err);
	if (!rc)
		rc = write_block(w, TR__DS_STEP, H5T_NATIVE_INT32, 1, 0, w->step, err);
	if (!rc)
		rc = write_block(w, TR__DS_SEQUENCE, H5T_NATIVE_INT64, 1, 0, w->seq, err);
	if (!rc)
		rc = write_block(w, TR__DS_POSITION, H5T_NATIVE_INT32, 1, 0, w->pos, err);
	if (!rc)
		rc = write_block(w, TR__DS_RANK, H5T_NATIVE_INT32, 1, 0, w->rank, err);
	if (!rc && w->m.num_domains > 0)
		rc = write_block(w, TR__DS_DOMAIN, H5T_NATIVE_INT16, 1, 0, w->dom, err);
	w->written += w->nbuf;
	w->nbuf = 0;
	return rc;
}

/* Checks one token's values; returns MS_OK or MS_EINVAL with a message. */
static int check_token(tr_writer *w, int64_t t, const tr_token *tok, ms_error *err)
{
	if (tok->rank < 0 || tok->position < 0)
		return MS_ERROR(err, MS_EINVAL, "%s: token %lld has rank %d and position %d; both must be >= 0", w->path,
				(long long)t, tok->rank, tok->position);
	if (w->m.num_domains > 0 && (tok->domain < 0 || tok->domain >= w->m.num_domains))
		return MS_ERROR(err, MS_EINVAL, "%s: token %lld has domain %d, out of range: %d domain names", w->path,
				(long long)t, tok->domain, w->m.num_domains);
	if (w->have_last && tr_token_cmp(&w->last, tok) >= 0)
		return MS_ERROR(err, MS_EINVAL,
				"%s: token %lld (step %d, rank %d, sequence %lld, position %d) does not follow token %lld "
				"(step %d, rank %d, sequence %lld, position %d): tokens must be strictly ordered by step, rank, "
				"sequence, position",
				w->path, (long long)t, tok->step, tok->rank, (long long)tok->sequence, tok->position,
				(long long)t - 1, w->last.step, w->last.rank, (long long)w->last.sequence, w->last.position);
	w->last = *tok;
	w->have_last = 1;
	return MS_OK;
}

static int check_routing(tr_writer *w, int l, int64_t t, const int16_t *id, const float *sc, const float *lg,
			 ms_error *err)
{
	int K = w->m.depth, E = w->m.num_experts;
	for (int j = 0; j < K; j++) {
		if (id[j] < 0 || id[j] >= E)
			return MS_ERROR(err, MS_EINVAL, "%s: layer %d, token %lld: expert id %d (rank %d) is out of range: %d experts",
					w->path, l, (long long)t, id[j], j, E);
		for (int i = 0; i < j; i++)
			if (id[i] == id[j])
				return MS_ERROR(err, MS_EINVAL,
						"%s: layer %d, token %lld: expert %d is listed twice (ranks %d and %d)", w->path, l,
						(long long)t, id[j], i, j);
		if (!isfinite(sc[j]))
			return MS_ERROR(err, MS_EINVAL, "%s: layer %d, token %lld: score %g (rank %d) is not finite", w->path, l,
					(long long)t, (double)sc[j], j);
		if (w->m.score_kind != TR_SCORE_OTHER && (sc[j] < 0 || sc[j] > 1))
			return MS_ERROR(err, MS_EINVAL, "%s: layer %d, token %lld: %s score %g (rank %d) is outside [0, 1]",
					w->path, l, (long long)t, tr_score_kind_name(w->m.score_kind), (double)sc[j], j);
		if (w->m.score_kind == TR_SCORE_SOFTMAX && j > 0 && sc[j] > sc[j - 1])
			return MS_ERROR(err, MS_EINVAL,
					"%s: layer %d, token %lld: softmax score %g at rank %d exceeds %g at rank %d: experts "
					"must be listed best first",
					w->path, l, (long long)t, (double)sc[j], j, (double)sc[j - 1], j - 1);
	}
	if (lg)
		for (int e = 0; e < E; e++)
			if (!isfinite(lg[e]))
				return MS_ERROR(err, MS_EINVAL, "%s: layer %d, token %lld: logit of expert %d is not finite",
						w->path, l, (long long)t, e);
	return MS_OK;
}

int tr_writer_append(tr_writer *w, int64_t n, const int16_t *ids, const float *scores, const float *logits,
		     const tr_token *tokens, ms_error *err)
{
	size_t K = (size_t)w->m.depth, E = (size_t)w->m.num_experts, C = (size_t)w->chunk;
	int rc;
	if (w->failed)
		return MS_ERROR(err, MS_EINVAL, "%s: the trace writer failed earlier", w->path);
	if (w->m.has_logits && !logits)
		return MS_ERROR(err, MS_EINVAL, "%s: the trace has logits but none were given", w->path);
	for (int64_t i = 0; i < n;) {
		int64_t m = (int64_t)C - w->nbuf < n - i ? (int64_t)C - w->nbuf : n - i;
		for (int64_t q = 0; q < m; q++) {
			int64_t t = w->written + w->nbuf + q;
			const tr_token *tok = &tokens[i + q];
			size_t b = (size_t)(w->nbuf + q);
			if ((rc = check_token(w, t, tok, err)) < 0) {
				w->failed = 1;
				return rc;
			}
			w->step[b] = tok->step;
			w->seq[b] = tok->sequence;
			w->pos[b] = tok->position;
			w->rank[b] = tok->rank;
			w->dom[b] = w->m.num_domains > 0 ? tok->domain : 0;
			for (int l = 0; l < w->m.num_layers; l++) {
				size_t src = ((size_t)l * (size_t)n + (size_t)(i + q)) * K, dst = ((size_t)l * C + b) * K;
				const float *lg = logits ? logits + ((size_t)l * (size_t)n + (size_t)(i + q)) * E : NULL;
				if ((rc = check_routing(w, l, t, ids + src, scores + src, lg, err)) < 0) {
					w->failed = 1;
					return rc;
				}
				memcpy(w->ids + dst, ids + src, K * sizeof *ids);
				memcpy(w->scores + dst, scores + src, K * sizeof *scores);
				if (lg)
					memcpy(w->logits + ((size_t)l * C + b) * E, lg, E * sizeof *lg);
			}
		}
		w->nbuf += m;
		i += m;
		if (w->nbuf == (int64_t)C && (rc = flush(w, err)) < 0)
			return rc;
	}
	return MS_OK;
}

/* A fixed-length string attribute as h5py writes them: no terminating NUL, NUL-padded. */
static int attr_str(hid_t loc, const char *name, const char *v)
{
	size_t n = strlen(v);
	int ascii = 1, ok;
	hid_t st = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), at = -1;
	for (size_t i = 0; i < n; i++)
		ascii &= (unsigned char)v[i] < 0x80;
	ok = st >= 0 && sp >= 0 && H5Tset_size(st, n ? n : 1) >= 0 && H5Tset_strpad(st, H5T_STR_NULLPAD) >= 0 &&
	     H5Tset_cset(st, ascii ? H5T_CSET_ASCII : H5T_CSET_UTF8) >= 0;
	if (ok) {
		char *buf = calloc(n ? n : 1, 1);
		at = H5Acreate2(loc, name, st, sp, H5P_DEFAULT, H5P_DEFAULT);
		if (buf)
			memcpy(buf, v, n);
		ok = buf && at >= 0 && H5Awrite(at, st, buf) >= 0;
		free(buf);
	}
	if (at >= 0)
		H5Aclose(at);
	if (sp >= 0)
		H5Sclose(sp);
	if (st >= 0)
		H5Tclose(st);
	return ok ? 0 : -1;
}

static int attr_int(hid_t loc, const char *name, hid_t file_type, int64_t v)
{
	hid_t sp = H5Screate(H5S_SCALAR), at = sp >= 0 ? H5Acreate2(loc, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
	int ok = at >= 0 && H5Awrite(at, H5T_NATIVE_INT64, &v) >= 0;
	if (at >= 0)
		H5Aclose(at);
	if (sp >= 0)
		H5Sclose(sp);
	return ok ? 0 : -1;
}

static int write_domain_names(tr_writer *w)
{
	size_t width = 1, D = (size_t)w->m.num_domains;
	hsize_t dims[1] = {D};
	char *buf;
	int ascii = 1, ok;
	hid_t st, sp, ds = -1;
	for (size_t d = 0; d < D; d++) {
		size_t n = strlen(w->names[d]);
		width = n > width ? n : width;
		for (size_t i = 0; i < n; i++)
			ascii &= (unsigned char)w->names[d][i] < 0x80;
	}
	buf = calloc(D, width);
	if (!buf)
		return -1;
	for (size_t d = 0; d < D; d++)
		memcpy(buf + d * width, w->names[d], strlen(w->names[d]));
	st = H5Tcopy(H5T_C_S1);
	sp = H5Screate_simple(1, dims, NULL);
	ok = st >= 0 && sp >= 0 && H5Tset_size(st, width) >= 0 && H5Tset_strpad(st, H5T_STR_NULLPAD) >= 0 &&
	     H5Tset_cset(st, ascii ? H5T_CSET_ASCII : H5T_CSET_UTF8) >= 0;
	if (ok) {
		ds = H5Dcreate2(w->file, tr__ds_path[TR__DS_DOMAIN_NAMES], st, sp, H5P_DEFAULT, w->dcpl_obj, H5P_DEFAULT);
		ok = ds >= 0 && H5Dwrite(ds, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
	}
	if (ds >= 0)
		H5Dclose(ds);
	if (sp >= 0)
		H5Sclose(sp);
	if (st >= 0)
		H5Tclose(st);
	free(buf);
	return ok ? 0 : -1;
}

static int write_attrs(tr_writer *w, ms_error *err)
{
	const tr_meta *m = &w->m;
	hid_t root = H5Gopen2(w->file, "/", H5P_DEFAULT);
	int bad = root < 0;
	if (!bad)
		bad |= attr_str(root, "format", TR_FORMAT_NAME);
	if (!bad)
		bad |= attr_int(root, "version", H5T_STD_I32LE, TR_FORMAT_VERSION);
	if (!bad)
		bad |= attr_int(root, "num_layers", H5T_STD_I32LE, m->num_layers);
	if (!bad)
		bad |= attr_int(root, "num_experts", H5T_STD_I32LE, m->num_experts);
	if (!bad)
		bad |= attr_int(root, "depth", H5T_STD_I32LE, m->depth);
	if (!bad)
		bad |= attr_int(root, "num_tokens", H5T_STD_I64LE, w->written);
	if (!bad)
		bad |= attr_str(root, "model", m->model);
	if (!bad)
		bad |= attr_str(root, "score_kind", tr_score_kind_name(m->score_kind));
	if (!bad)
		bad |= attr_str(root, "source", m->source);
	if (!bad)
		bad |= attr_str(root, "created", m->created);
	if (!bad && m->top_k > 0)
		bad |= attr_int(root, "top_k", H5T_STD_I32LE, m->top_k);
	if (!bad && m->description)
		bad |= attr_str(root, "description", m->description);
	if (root >= 0)
		H5Gclose(root);
	return bad ? h5_fail(w, err, "root attributes") : MS_OK;
}

int tr_writer_finish(tr_writer *w, ms_error *err)
{
	int rc = MS_OK;
	if (w->failed) {
		tr_writer_abort(w);
		return MS_ERROR(err, MS_EINVAL, "trace writer failed earlier");
	}
	rc = flush(w, err);
	if (!rc && w->m.num_domains > 0 && write_domain_names(w) < 0)
		rc = h5_fail(w, err, tr__ds_path[TR__DS_DOMAIN_NAMES]);
	if (!rc)
		rc = write_attrs(w, err);
	for (int i = 0; i < TR__NDS; i++)
		if (w->ds[i] >= 0) {
			if (H5Dclose(w->ds[i]) < 0 && !rc)
				rc = h5_fail(w, err, tr__ds_path[i]);
			w->ds[i] = -1;
		}
	if (H5Fclose(w->file) < 0 && !rc)
		rc = h5_fail(w, err, "the file's last blocks");
	w->file = -1;
	if (!rc)
		rc = ms_file_commit(&w->out, err);
	tr_writer_abort(w); /* after a commit, this only frees w */
	return rc;
}

void tr_writer_abort(tr_writer *w)
{
	if (!w)
		return;
	for (int i = 0; i < TR__NDS; i++)
		if (w->ds[i] >= 0)
			H5Dclose(w->ds[i]);
	if (w->file >= 0)
		H5Fclose(w->file);
	if (w->fcpl >= 0)
		H5Pclose(w->fcpl);
	if (w->dcpl_obj >= 0)
		H5Pclose(w->dcpl_obj);
	if (w->gcpl >= 0)
		H5Pclose(w->gcpl);
	ms_file_abort(&w->out);
	if (w->names)
		for (int d = 0; d < w->m.num_domains; d++)
			free(w->names[d]);
	free(w->names);
	free(w->model);
	free(w->source);
	free(w->created);
	free(w->description);
	free(w->path);
	free(w->ids);
	free(w->scores);
	free(w->logits);
	free(w->step);
	free(w->pos);
	free(w->rank);
	free(w->seq);
	free(w->dom);
	free(w);
}
