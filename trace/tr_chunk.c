/*
 * tr_chunk.c - direct chunk decoding for the trace reader (see tr_chunk.h for why).
 *
 * Per chunk: H5Dget_chunk_storage_size + H5Dread_chunk (compressed bytes), inflate (zlib,
 * adler32 checked), unshuffle (HDF5's shuffle filter stores byte j of element i at
 * j * n + i), all into buffers owned here; then the requested rows are copied out. The
 * filter mask of a chunk says which filters were skipped when it was written (bit i for
 * pipeline entry i) and is honoured. O(chunk bytes) per decoded chunk, O(n k) per read.
 */
#include "trace/tr_chunk.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#define ZLIB_CONST /* const next_in */
#include <zlib.h>

#include "trace/tr_h5.h"

/* What one decoder needs of its own: a zlib stream and a buffer for the inflated bytes. */
typedef struct decoder {
	z_stream zs;
	int zs_ready;
	unsigned char *tmp; /* [cbytes] */
} decoder;

/* The prefetch job: a chunk read (compressed) by the caller's thread, decoded by the worker. */
typedef struct job {
	int64_t key;        /* -1: none */
	int state;          /* JOB_* */
	int ok;
	unsigned char *raw; /* compressed bytes (owned, grown as needed) */
	size_t len, cap;
	uint32_t mask;
	unsigned char *out; /* [cbytes], swapped into a slot on a hit */
} job;

enum { JOB_NONE, JOB_POSTED, JOB_DONE };

struct tr__chunks {
	hid_t ds;
	int layers;
	int width;          /* W */
	size_t elem;        /* element bytes */
	int64_t chunk;      /* C tokens per chunk */
	int64_t tchunks;    /* chunks along T */
	size_t cbytes;      /* C W elem */
	int shuffle_at, deflate_at; /* pipeline positions, -1 if absent */
	int nslots;
	unsigned char **slot; /* [nslots] decoded chunks, allocated when first filled */
	int64_t *key;       /* [nslots]: layer * tchunks + tc held by the slot, -1 empty */
	uint64_t *used;     /* [nslots]: tick of the last use (least recently used goes first) */
	uint64_t tick;
	unsigned char *raw;
	size_t raw_cap;
	decoder dec;        /* the caller's thread */
	int64_t last_key;   /* the previous chunk decoded or taken, for the prediction */
	/* Read-ahead: one worker thread decodes the chunk the access pattern predicts next. */
	int threaded;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	decoder wdec;       /* the worker's */
	job job;
};

static int slots_for(const tr__chunks *c, size_t cache_bytes)
{
	size_t n = (cache_bytes ? cache_bytes : tr__cache_default(c->cbytes, c->layers, (size_t)(c->layers * c->tchunks))) /
		   c->cbytes;
	size_t all = (size_t)c->layers * (size_t)c->tchunks;
	n = n < all ? n : all;
	n = n < 1 ? 1 : n;
	return n > 1000000 ? 1000000 : (int)n;
}

/* The slot holding chunk `key`, or -1. A linear scan: a few hundred slots at most, once
 * per chunk a read touches. */
static int find(const tr__chunks *c, int64_t key)
{
	for (int s = 0; s < c->nslots; s++)
		if (c->key[s] == key)
			return s;
	return -1;
}

/* An empty slot, else the least recently used one. */
static int victim(const tr__chunks *c)
{
	int best = 0;
	for (int s = 0; s < c->nslots; s++) {
		if (c->key[s] < 0)
			return s;
		if (c->used[s] < c->used[best])
			best = s;
	}
	return best;
}

static int decoder_init(tr__chunks *c, decoder *d)
{
	d->tmp = malloc(c->cbytes);
	if (!d->tmp)
		return -1;
	if (c->deflate_at >= 0) {
		if (inflateInit2(&d->zs, 15) != Z_OK)
			return -1;
		d->zs_ready = 1;
	}
	return 0;
}

static void decoder_fini(decoder *d)
{
	if (d->zs_ready)
		inflateEnd(&d->zs);
	d->zs_ready = 0;
	free(d->tmp);
	d->tmp = NULL;
}

static int little_endian(void)
{
	const uint16_t one = 1;
	unsigned char b;
	memcpy(&b, &one, 1);
	return b == 1;
}

/* Bytes 0..3 of x to bytes 0, 2, 4, 6 of the result. */
static inline uint64_t spread2(uint32_t x)
{
	uint64_t v = x;
	v = (v | v << 16) & 0x0000FFFF0000FFFFull;
	return (v | v << 8) & 0x00FF00FF00FF00FFull;
}

/* Bytes 0, 1 of x to bytes 0, 4 of the result. */
static inline uint64_t spread4(uint32_t x)
{
	return (uint64_t)(x & 0xFF) | (uint64_t)(x & 0xFF00) << 24;
}

/*
 * HDF5's shuffle undone: byte j of element i is at in[j * n + i]. On little-endian hosts
 * 2- and 4-byte elements are regrouped 8 and 4 at a time with 64-bit shifts and masks
 * (about 3x the byte loop; the compiler does not vectorise the interleaving stores).
 */
static void unshuffle(const unsigned char *in, unsigned char *out, size_t n, size_t elem)
{
	size_t i = 0;
	if (elem == 2 && little_endian()) {
		const unsigned char *b0 = in, *b1 = in + n;
		for (; i + 8 <= n; i += 8) {
			uint64_t a, b, lo, hi;
			memcpy(&a, b0 + i, 8);
			memcpy(&b, b1 + i, 8);
			lo = spread2((uint32_t)a) | spread2((uint32_t)b) << 8;
			hi = spread2((uint32_t)(a >> 32)) | spread2((uint32_t)(b >> 32)) << 8;
			memcpy(out + 2 * i, &lo, 8);
			memcpy(out + 2 * i + 8, &hi, 8);
		}
	} else if (elem == 4 && little_endian()) {
		const unsigned char *b0 = in, *b1 = in + n, *b2 = in + 2 * n, *b3 = in + 3 * n;
		for (; i + 4 <= n; i += 4) {
			uint32_t a0, a1, a2, a3;
			uint64_t lo, hi;
			memcpy(&a0, b0 + i, 4);
			memcpy(&a1, b1 + i, 4);
			memcpy(&a2, b2 + i, 4);
			memcpy(&a3, b3 + i, 4);
			lo = spread4(a0) | spread4(a1) << 8 | spread4(a2) << 16 | spread4(a3) << 24;
			hi = spread4(a0 >> 16) | spread4(a1 >> 16) << 8 | spread4(a2 >> 16) << 16 | spread4(a3 >> 16) << 24;
			memcpy(out + 4 * i, &lo, 8);
			memcpy(out + 4 * i + 8, &hi, 8);
		}
	}
	for (; i < n; i++)
		for (size_t j = 0; j < elem; j++)
			out[i * elem + j] = in[j * n + i];
}

/* Undoes the filters on one chunk's stored bytes into dst (cbytes). No HDF5 call: safe on
 * the worker thread. 0 or -1. */
static int decode_bytes(tr__chunks *c, decoder *d, const unsigned char *raw, size_t len, uint32_t mask,
			unsigned char *dst)
{
	const unsigned char *data = raw;
	int shuffled = c->shuffle_at >= 0 && !(mask & (1u << c->shuffle_at));
	if (c->deflate_at >= 0 && !(mask & (1u << c->deflate_at))) {
		unsigned char *out = shuffled ? d->tmp : dst;
		if (inflateReset(&d->zs) != Z_OK)
			return -1;
		d->zs.next_in = raw;
		d->zs.avail_in = (uInt)len;
		d->zs.next_out = out;
		d->zs.avail_out = (uInt)c->cbytes;
		if (inflate(&d->zs, Z_FINISH) != Z_STREAM_END || d->zs.total_out != c->cbytes)
			return -1;
		data = out;
		len = c->cbytes;
	}
	if (len != c->cbytes)
		return -1;
	if (shuffled)
		unshuffle(data, dst, c->cbytes / c->elem, c->elem);
	else if (data != dst)
		memcpy(dst, data, c->cbytes);
	return 0;
}

/* Reads the stored bytes of chunk `key` into *buf (grown); *len 0 means never written. */
static int read_raw(tr__chunks *c, int64_t key, unsigned char **buf, size_t *cap, size_t *len, uint32_t *mask)
{
	int layer = (int)(key / c->tchunks);
	hsize_t offset[3] = {(hsize_t)layer, (hsize_t)((key % c->tchunks) * c->chunk), 0}, nbytes = 0;
	*mask = 0;
	if (H5Dget_chunk_storage_size(c->ds, offset, &nbytes) < 0)
		return -1;
	*len = (size_t)nbytes;
	if (nbytes == 0)
		return 0;
	if (nbytes > *cap) {
		void *p = realloc(*buf, (size_t)nbytes);
		if (!p)
			return -1;
		*buf = p;
		*cap = (size_t)nbytes;
	}
	return H5Dread_chunk(c->ds, H5P_DEFAULT, offset, mask, *buf) < 0 ? -1 : 0;
}

/* Decodes chunk `key` on the caller's thread. */
static int decode(tr__chunks *c, int64_t key, unsigned char *dst)
{
	size_t len;
	uint32_t mask;
	if (read_raw(c, key, &c->raw, &c->raw_cap, &len, &mask) < 0)
		return -1;
	if (len == 0) {
		memset(dst, 0, c->cbytes); /* never written: HDF5 would return the fill value, 0 */
		return 0;
	}
	return decode_bytes(c, &c->dec, c->raw, len, mask, dst);
}

static void *worker(void *arg)
{
	tr__chunks *c = arg;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->stop && c->job.state != JOB_POSTED)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->mu);
		{
			int ok = c->job.len == 0 ? (memset(c->job.out, 0, c->cbytes), 1)
						 : decode_bytes(c, &c->wdec, c->job.raw, c->job.len, c->job.mask, c->job.out) == 0;
			pthread_mutex_lock(&c->mu);
			c->job.ok = ok;
			c->job.state = JOB_DONE;
			pthread_cond_broadcast(&c->cv);
		}
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Waits for the posted job, if any, to finish. */
static void job_wait(tr__chunks *c)
{
	pthread_mutex_lock(&c->mu);
	while (c->job.state == JOB_POSTED)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

/* Forgets the job (finished or never posted). The state is shared with the worker. */
static void job_reset(tr__chunks *c)
{
	if (c->threaded)
		pthread_mutex_lock(&c->mu);
	c->job.key = -1;
	c->job.state = JOB_NONE;
	if (c->threaded)
		pthread_mutex_unlock(&c->mu);
}

/* The chunk after `key` in the order the last two distinct chunks suggest: the next token
 * block of the same layer (layer-major reading) or the same block of the next layer
 * (token-major, the default); -1 past the end. */
static int64_t predict(const tr__chunks *c, int64_t key)
{
	int64_t l = key / c->tchunks, tc = key % c->tchunks;
	if (c->last_key >= 0 && c->last_key == key - 1 && tc > 0) {
		if (tc + 1 < c->tchunks)
			return key + 1;
		return l + 1 < c->layers ? (l + 1) * c->tchunks : -1;
	}
	if (l + 1 < c->layers)
		return key + c->tchunks;
	return tc + 1 < c->tchunks ? tc + 1 : -1;
}

/* Starts decoding `key` on the worker unless a slot already holds it. */
static void prefetch(tr__chunks *c, int64_t key)
{
	if (key < 0 || !c->threaded || find(c, key) >= 0 || c->job.key == key)
		return;
	job_wait(c);
	if (read_raw(c, key, &c->job.raw, &c->job.cap, &c->job.len, &c->job.mask) < 0) {
		job_reset(c);
		return; /* the synchronous path will report it when the chunk is needed */
	}
	pthread_mutex_lock(&c->mu);
	c->job.key = key;
	c->job.state = JOB_POSTED;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void tr__chunks_set_cache(tr__chunks *c, size_t cache_bytes)
{
	int n = slots_for(c, cache_bytes);
	if (c->threaded)
		job_wait(c);
	job_reset(c);
	for (int s = 0; s < c->nslots; s++)
		free(c->slot[s]);
	free(c->slot);
	free(c->key);
	free(c->used);
	c->slot = calloc((size_t)n, sizeof *c->slot);
	c->key = malloc((size_t)n * sizeof *c->key);
	c->used = calloc((size_t)n, sizeof *c->used);
	c->nslots = c->slot && c->key && c->used ? n : 0;
	for (int s = 0; s < c->nslots; s++)
		c->key[s] = -1;
	c->last_key = -1;
}

/* Process-wide: readers opened while it is 0 read through HDF5's own path. */
static atomic_int own_decoder = 1;

void tr__chunks_enable(int on)
{
	atomic_store(&own_decoder, on != 0);
}

tr__chunks *tr__chunks_open(hid_t ds, hid_t mem_type, int layers, size_t cache_bytes)
{
	tr__chunks *c = NULL;
	tr__layout lay;
	hid_t dcpl = -1, ft = -1;
	const hsize_t *cd = lay.chunk, *dims = lay.dims;
	int nf, ok = 0;
	if (!atomic_load(&own_decoder))
		return NULL;
	if (tr__layout_get(ds, &lay) < 0 || lay.rank != 3 || !lay.chunked)
		return NULL;
	if (cd[0] != 1 || cd[2] != dims[2] || cd[1] < 1 || dims[0] != (hsize_t)layers || dims[1] == 0)
		return NULL;
	dcpl = H5Dget_create_plist(ds);
	ft = H5Dget_type(ds);
	if (dcpl < 0 || ft < 0 || H5Tequal(ft, mem_type) <= 0)
		goto out;
	c = calloc(1, sizeof *c);
	if (!c)
		goto out;
	c->ds = ds;
	c->layers = layers;
	c->width = (int)dims[2];
	c->elem = H5Tget_size(mem_type);
	c->chunk = (int64_t)cd[1];
	c->tchunks = (int64_t)((dims[1] + cd[1] - 1) / cd[1]);
	c->cbytes = (size_t)cd[1] * (size_t)cd[2] * c->elem;
	c->shuffle_at = c->deflate_at = -1;
	c->job.key = -1;
	nf = H5Pget_nfilters(dcpl);
	for (int i = 0; i < nf; i++) {
		unsigned flags, cv[8];
		size_t ncv = 8;
		char name[64];
		H5Z_filter_t f = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncv, cv, sizeof name, name, NULL);
		if (f == H5Z_FILTER_SHUFFLE && c->shuffle_at < 0 && c->deflate_at < 0)
			c->shuffle_at = i;
		else if (f == H5Z_FILTER_DEFLATE && c->deflate_at < 0)
			c->deflate_at = i;
		else
			goto out; /* another filter, or an order we do not undo: let HDF5 do it */
	}
	if (decoder_init(c, &c->dec) < 0)
		goto out;
	/* The worker only pays off when there is more than one chunk to read. */
	if ((int64_t)layers * c->tchunks > 1 && decoder_init(c, &c->wdec) == 0 && (c->job.out = malloc(c->cbytes)) != NULL &&
	    pthread_mutex_init(&c->mu, NULL) == 0) {
		if (pthread_cond_init(&c->cv, NULL) != 0) {
			pthread_mutex_destroy(&c->mu);
		} else if (pthread_create(&c->thread, NULL, worker, c) != 0) {
			pthread_cond_destroy(&c->cv);
			pthread_mutex_destroy(&c->mu);
		} else {
			c->threaded = 1;
		}
	}
	tr__chunks_set_cache(c, cache_bytes);
	ok = c->nslots > 0;
out:
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (ft >= 0)
		H5Tclose(ft);
	if (!ok) {
		tr__chunks_close(c);
		return NULL;
	}
	return c;
}

void tr__chunks_close(tr__chunks *c)
{
	if (!c)
		return;
	if (c->threaded) {
		pthread_mutex_lock(&c->mu);
		c->stop = 1;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thread, NULL);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
	}
	decoder_fini(&c->dec);
	decoder_fini(&c->wdec);
	for (int s = 0; c->slot && s < c->nslots; s++)
		free(c->slot[s]);
	free(c->slot);
	free(c->key);
	free(c->used);
	free(c->raw);
	free(c->job.raw);
	free(c->job.out);
	free(c);
}

/* Puts chunk `key` into a slot (the worker's finished job, or decoded here); its index. */
static int fill(tr__chunks *c, int64_t key)
{
	int s = victim(c);
	c->key[s] = -1;
	if (!c->slot[s] && !(c->slot[s] = malloc(c->cbytes)))
		return -1;
	if (c->threaded && c->job.key == key) {
		int ok;
		job_wait(c);
		ok = c->job.ok;
		job_reset(c);
		if (ok) {
			unsigned char *t = c->slot[s];
			c->slot[s] = c->job.out; /* swap the decoded buffer in */
			c->job.out = t;
			c->key[s] = key;
			return s;
		}
	}
	if (decode(c, key, c->slot[s]) < 0)
		return -1;
	c->key[s] = key;
	return s;
}

int tr__chunks_read(tr__chunks *c, int layer, int64_t t0, int64_t n, int k, void *out)
{
	unsigned char *o = out;
	const size_t row = (size_t)c->width * c->elem, orow = (size_t)k * c->elem;
	for (int64_t t = t0; t < t0 + n;) {
		int64_t tc = t / c->chunk, a = t - tc * c->chunk, b = t0 + n - tc * c->chunk;
		int64_t key = (int64_t)layer * c->tchunks + tc;
		int s = find(c, key);
		b = b < c->chunk ? b : c->chunk;
		if (s < 0) {
			if ((s = fill(c, key)) < 0)
				return -1;
			prefetch(c, predict(c, key));
			c->last_key = key;
		}
		c->used[s] = ++c->tick;
		if (orow == row) {
			memcpy(o, c->slot[s] + (size_t)a * row, (size_t)(b - a) * row);
			o += (size_t)(b - a) * row;
		} else {
			for (int64_t i = a; i < b; i++, o += orow)
				memcpy(o, c->slot[s] + (size_t)i * row, orow);
		}
		t += b - a;
	}
	return 0;
}
