/*
 * tr_reader.c - streaming reads of a router trace (see tr_reader.h).
 *
 * Each read selects one hyperslab [layer, t0 .. t0+n, 0 .. k) of a chunked, compressed
 * dataset and lets HDF5 decompress the chunks it touches into the dataset's chunk cache.
 * The cache of each routing dataset is sized for one chunk per layer (capped), with a
 * prime number of hash slots larger than the number of chunks in the file where possible,
 * so two chunks never evict each other by colliding; w0 = 1 evicts fully read chunks
 * first, which is what a sequential reader wants.
 *
 * Cost: O(n k) per read plus the decompression of each touched chunk once.
 */
#include "trace/tr_reader.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trace/tr_chunk.h"
#include "trace/tr_h5.h"

#define SCRATCH_TOKENS 65536 /* token-metadata scratch, in int64 elements */

struct tr_reader {
	tr__header h;
	void *scratch; /* SCRATCH_TOKENS x 8 bytes, reused as int64, int32 or int16 */
	tr__chunks *fast[TR__DS_LOGITS + 1]; /* direct chunk decoding, NULL: H5Dread */
};

/* The memory type of each routing dataset. */
static hid_t mem_type(int which)
{
	return which == TR__DS_IDS ? H5T_NATIVE_INT16 : H5T_NATIVE_FLOAT;
}

/* The first header problem becomes the error message. */
static void first_problem(void *ctx, const char *msg)
{
	ms_error *err = ctx;
	MS_ERROR(err, MS_EFORMAT, "%s", msg);
}

/* Bytes of one chunk of ds (decompressed; 0 when not chunked), and the number of chunks in
 * the dataset. */
static size_t chunk_bytes(hid_t ds, size_t *nchunks)
{
	tr__layout l;
	size_t bytes;
	*nchunks = 1;
	if (tr__layout_get(ds, &l) < 0 || !l.chunked)
		return 0;
	bytes = l.elem;
	for (int i = 0; i < l.rank; i++) {
		bytes *= (size_t)l.chunk[i];
		*nchunks *= (size_t)((l.dims[i] + l.chunk[i] - 1) / (l.chunk[i] ? l.chunk[i] : 1));
	}
	return bytes;
}

/* Reopens dataset `which` with a chunk cache of `bytes` (0: the default for that dataset). */
static int reopen_cached(tr_reader *r, int which, size_t bytes, ms_error *err)
{
	tr__header *h = &r->h;
	size_t nchunks, cb = chunk_bytes(h->ds[which], &nchunks), fit, slots;
	hid_t dapl, ds;
	if (cb == 0)
		return MS_OK; /* contiguous: no chunk cache */
	if (bytes == 0) {
		if (which <= TR__DS_LOGITS) {
			bytes = tr__cache_default(cb, h->info.num_layers, nchunks);
		} else {
			bytes = 2 * cb;
		}
	}
	bytes = bytes > cb ? bytes : cb;
	fit = bytes / cb;
	slots = 100 * fit > nchunks + 1 ? 100 * fit : nchunks + 1;
	slots = tr__next_prime(slots < 101 ? 101 : slots > 262139 ? 262139 : slots);
	dapl = H5Pcreate(H5P_DATASET_ACCESS);
	if (dapl < 0 || H5Pset_chunk_cache(dapl, slots, bytes, 1.0) < 0) {
		if (dapl >= 0)
			H5Pclose(dapl);
		return MS_ERROR(err, MS_EIO, "%s: cannot set the chunk cache of %s", h->info.path, tr__ds_path[which]);
	}
	/* Close first: while a dataset is open, a second open shares its chunk cache (HDF5
	 * keeps one shared object per dataset) and ignores the new access properties. */
	H5Dclose(h->ds[which]);
	ds = H5Dopen2(h->file, tr__ds_path[which], dapl);
	H5Pclose(dapl);
	h->ds[which] = ds;
	if (ds < 0)
		return MS_ERROR(err, MS_EIO, "%s: cannot reopen %s", h->info.path, tr__ds_path[which]);
	return MS_OK;
}

tr_reader *tr_open(const char *path, ms_error *err)
{
	tr_reader *r = ms_calloc(err, 1, sizeof *r, "trace reader");
	if (!r)
		return NULL;
	if (tr__header_open(&r->h, path, 0, first_problem, err) < 0) {
		tr__header_close(&r->h);
		free(r);
		return NULL;
	}
	r->scratch = ms_malloc(err, SCRATCH_TOKENS * sizeof(int64_t), "trace reader scratch");
	if (!r->scratch || tr_set_cache(r, 0, err) < 0) {
		tr_close(r);
		return NULL;
	}
	for (int which = TR__DS_STEP; which <= TR__DS_DOMAIN; which++)
		if (r->h.ds[which] >= 0 && reopen_cached(r, which, 0, err) < 0) {
			tr_close(r);
			return NULL;
		}
	return r;
}

void tr_use_own_decoder(int on)
{
	tr__chunks_enable(on);
}

void tr_close(tr_reader *r)
{
	if (!r)
		return;
	for (int which = TR__DS_IDS; which <= TR__DS_LOGITS; which++)
		tr__chunks_close(r->fast[which]);
	tr__header_close(&r->h);
	free(r->scratch);
	free(r);
}

const tr_info *tr_get_info(const tr_reader *r)
{
	return &r->h.info;
}

int tr_set_cache(tr_reader *r, size_t bytes, ms_error *err)
{
	for (int which = TR__DS_IDS; which <= TR__DS_LOGITS; which++) {
		tr__chunks_close(r->fast[which]);
		r->fast[which] = NULL;
		if (r->h.ds[which] < 0)
			continue;
		if (reopen_cached(r, which, bytes, err) < 0)
			return err ? err->code : MS_EIO;
		r->fast[which] = tr__chunks_open(r->h.ds[which], mem_type(which), r->h.info.num_layers, bytes);
	}
	return MS_OK;
}

static int check_block(const tr_reader *r, int layer, int64_t t0, int64_t n, ms_error *err)
{
	const tr_info *in = &r->h.info;
	if (layer < 0 || layer >= in->num_layers)
		return MS_ERROR(err, MS_ERANGE, "%s: layer %d is out of range: num_layers = %d", in->path, layer,
				in->num_layers);
	if (t0 < 0 || n < 0 || t0 > in->num_tokens || n > in->num_tokens - t0)
		return MS_ERROR(err, MS_ERANGE, "%s: tokens %lld..%lld are out of range: num_tokens = %lld", in->path,
				(long long)t0, (long long)(t0 + n - 1), (long long)in->num_tokens);
	return MS_OK;
}

static int read_slab3(tr_reader *r, int which, int layer, int64_t t0, int64_t n, int k, void *buf, ms_error *err)
{
	int rc = r->fast[which] ? tr__chunks_read(r->fast[which], layer, t0, n, k, buf)
				: tr__read_block(r->h.ds[which], mem_type(which), 3, layer, t0, n, k, buf);
	if (rc < 0)
		return MS_ERROR(err, MS_EIO, "%s: %s: cannot read layer %d, tokens %lld..%lld: the file is truncated or corrupt",
				r->h.info.path, tr__ds_path[which], layer, (long long)t0, (long long)(t0 + n - 1));
	return MS_OK;
}

int tr_read_routing_topk(tr_reader *r, int layer, int64_t t0, int64_t n, int k, int16_t *ids, float *scores,
			 ms_error *err)
{
	int rc = check_block(r, layer, t0, n, err);
	if (rc < 0)
		return rc;
	if (k < 1 || k > r->h.info.depth)
		return MS_ERROR(err, MS_ERANGE, "%s: top-%d is out of range: the trace records depth %d", r->h.info.path, k,
				r->h.info.depth);
	if (ids && (rc = read_slab3(r, TR__DS_IDS, layer, t0, n, k, ids, err)) < 0)
		return rc;
	if (scores && (rc = read_slab3(r, TR__DS_SCORES, layer, t0, n, k, scores, err)) < 0)
		return rc;
	return MS_OK;
}

int tr_read_routing(tr_reader *r, int layer, int64_t t0, int64_t n, int16_t *ids, float *scores, ms_error *err)
{
	return tr_read_routing_topk(r, layer, t0, n, r->h.info.depth, ids, scores, err);
}

int tr_read_logits(tr_reader *r, int layer, int64_t t0, int64_t n, float *logits, ms_error *err)
{
	int rc = check_block(r, layer, t0, n, err);
	if (rc < 0)
		return rc;
	if (!r->h.info.has_logits)
		return MS_ERROR(err, MS_EINVAL, "%s: the trace has no /routing/logits", r->h.info.path);
	return read_slab3(r, TR__DS_LOGITS, layer, t0, n, r->h.info.num_experts, logits, err);
}

int tr_read_score_matrix(tr_reader *r, int layer, int64_t t0, int64_t n, int k, float *mat, int16_t *ids_ws,
			 float *sc_ws, ms_error *err)
{
	const tr_info *in = &r->h.info;
	const int E = in->num_experts, K = in->depth;
	int rc;
	if (k == E && K < E) {
		if (!in->has_logits)
			return MS_ERROR(err, MS_EINVAL,
					"%s: every expert's score is needed, but the trace ranks only %d of its %d experts "
					"and has no /routing/logits",
					in->path, K, E);
		if ((rc = tr_read_logits(r, layer, t0, n, mat, err)) < 0)
			return rc;
		for (int64_t i = 0; i < n; i++) {
			float *x = mat + i * E;
			if (in->score_kind == TR_SCORE_SIGMOID) {
				for (int e = 0; e < E; e++)
					x[e] = (float)(1.0 / (1.0 + exp(-(double)x[e])));
			} else {
				double mx = x[0], sum = 0;
				for (int e = 1; e < E; e++)
					mx = x[e] > mx ? x[e] : mx;
				for (int e = 0; e < E; e++)
					sum += exp((double)x[e] - mx);
				for (int e = 0; e < E; e++)
					x[e] = (float)(exp((double)x[e] - mx) / sum);
			}
		}
		return MS_OK;
	}
	if ((rc = tr_read_routing_topk(r, layer, t0, n, k, ids_ws, sc_ws, err)) < 0)
		return rc;
	for (int64_t i = 0; i < n * E; i++)
		mat[i] = -INFINITY;
	for (int64_t i = 0; i < n; i++)
		for (int j = 0; j < k; j++) {
			int16_t e = ids_ws[i * k + j];
			float v = sc_ws[i * k + j];
			if (e < 0 || e >= E || !isfinite(v) || v < 0)
				return MS_ERROR(err, MS_EFORMAT,
						"%s: /routing/expert_ids[%d, %lld, %d] = %d with score %g is not a valid "
						"choice of %d experts (run moesim trace validate)",
						in->path, layer, (long long)(t0 + i), j, e, (double)v, E);
			mat[i * E + e] = v;
		}
	return MS_OK;
}

static int read_slab1(tr_reader *r, int which, hid_t mem_type, int64_t t0, int64_t n, void *buf, ms_error *err)
{
	if (tr__read_block(r->h.ds[which], mem_type, 1, 0, t0, n, 0, buf) < 0)
		return MS_ERROR(err, MS_EIO, "%s: %s: cannot read tokens %lld..%lld: the file is truncated or corrupt",
				r->h.info.path, tr__ds_path[which], (long long)t0, (long long)(t0 + n - 1));
	return MS_OK;
}

int tr_read_tokens(tr_reader *r, int64_t t0, int64_t n, tr_token *out, ms_error *err)
{
	int rc = check_block(r, 0, t0, n, err);
	if (rc < 0)
		return rc;
	for (int64_t done = 0; done < n;) {
		int64_t m = n - done < SCRATCH_TOKENS ? n - done : SCRATCH_TOKENS, s = t0 + done;
		tr_token *o = out + done;
		int64_t *i64 = r->scratch;
		int32_t *i32 = r->scratch;
		int16_t *i16 = r->scratch;
		if ((rc = read_slab1(r, TR__DS_SEQUENCE, H5T_NATIVE_INT64, s, m, i64, err)) < 0)
			return rc;
		for (int64_t i = 0; i < m; i++)
			o[i].sequence = i64[i];
		if ((rc = read_slab1(r, TR__DS_STEP, H5T_NATIVE_INT32, s, m, i32, err)) < 0)
			return rc;
		for (int64_t i = 0; i < m; i++)
			o[i].step = i32[i];
		if ((rc = read_slab1(r, TR__DS_POSITION, H5T_NATIVE_INT32, s, m, i32, err)) < 0)
			return rc;
		for (int64_t i = 0; i < m; i++)
			o[i].position = i32[i];
		if ((rc = read_slab1(r, TR__DS_RANK, H5T_NATIVE_INT32, s, m, i32, err)) < 0)
			return rc;
		for (int64_t i = 0; i < m; i++)
			o[i].rank = i32[i];
		if (r->h.info.has_domain) {
			if ((rc = read_slab1(r, TR__DS_DOMAIN, H5T_NATIVE_INT16, s, m, i16, err)) < 0)
				return rc;
			for (int64_t i = 0; i < m; i++)
				o[i].domain = i16[i];
		} else {
			for (int64_t i = 0; i < m; i++)
				o[i].domain = -1;
		}
		done += m;
	}
	return MS_OK;
}
