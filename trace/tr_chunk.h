/*
 * tr_chunk.h - internal to trace/: the reader's fast path for chunked routing datasets.
 *
 * HDF5's own read path (H5Dread through the chunk cache) spends about a third of its time
 * outside decompression: filter pipeline bookkeeping, a copy into the chunk cache and
 * another into the caller's buffer. For the layout moesim traces use - chunks of [1, C, W]
 * covering the full width, filtered by shuffle and/or deflate, stored as the native type -
 * this module reads each chunk's compressed bytes (H5Dread_chunk), inflates them with
 * zlib and unshuffles them straight into a decoded-chunk slot, from which reads copy the
 * requested rows. Any other layout, filter or type gets NULL from tr__chunks_open and the
 * reader uses H5Dread. Integrity is kept: zlib checks each chunk's adler32, and sizes are
 * checked against the chunk shape.
 *
 * Slots: decoded chunks, as many as the budget allows (tr_set_cache; by default at least
 * one per layer, so layer-major and token-major reading both decode every chunk once),
 * found by key and evicted least recently used first.
 *
 * zlib is linked (pkg-config zlib; the same library HDF5's deflate filter uses).
 * MOESIM_TRACE_HDF5_READ=1 turns the fast path off (for comparisons).
 */
#ifndef TR_CHUNK_H
#define TR_CHUNK_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tr__chunks tr__chunks;

/*
 * Fast reader of a 3-D routing dataset [L, T, W] whose elements are mem_type; NULL when
 * the dataset does not qualify (the caller then reads with H5Dread). cache_bytes: budget
 * for decoded chunks (0: the default of tr_set_cache).
 */
tr__chunks *tr__chunks_open(hid_t ds, hid_t mem_type, int layers, size_t cache_bytes);

/* 0: tr__chunks_open returns NULL from now on (readers use HDF5's path); 1: the default. */
void tr__chunks_enable(int on);
void tr__chunks_close(tr__chunks *c);
void tr__chunks_set_cache(tr__chunks *c, size_t cache_bytes);

/* Reads [layer, t0 .. t0+n, 0 .. k) into out (k elements per token). 0, or -1 when a chunk
 * cannot be read or decoded (truncated or corrupt file). */
int tr__chunks_read(tr__chunks *c, int layer, int64_t t0, int64_t n, int k, void *out);

#endif
