/*
 * tr_reader.h - streaming reader of moesim router traces (HDF5, format version 1,
 * schema in docs/trace-format.md; commands and measured numbers in docs/trace-tools.md).
 *
 * A trace holds, for L MoE layers and T tokens, the K best-ranked experts of every token
 * and their router scores (/routing/expert_ids int16 [L, T, K], /routing/scores float32
 * [L, T, K], optionally /routing/logits float32 [L, T, E]) and per-token metadata
 * (/tokens/step, sequence, position, rank, and optionally domain).
 *
 * tr_open reads and checks the header only: root attributes, the presence, rank, shape and
 * numeric class of every dataset. It does not read the routing data; `moesim trace validate`
 * (tr_validate.h) checks every value. The reader is lenient about widths (HDF5 converts an
 * int32 expert id or a float64 score on reading), the validator is strict.
 *
 * Memory is independent of T: reads are hyperslabs of [layer, t0 .. t0+n) and the only
 * buffers are a per-dataset HDF5 chunk cache and a fixed scratch for token metadata.
 * The cache of decoded chunks holds at least one chunk per layer (up to a cap, see
 * tr_set_cache), so reading blocks in either order - every layer of one token block, or
 * every token block of one layer - decompresses each chunk once, whatever the block
 * length; replays that jump between the token streams of several recorded ranks get more
 * chunks (64 MiB or more per dataset) before anything is decoded twice.
 *
 * Invariants after tr_open succeeds: 1 <= L, 1 <= K <= E <= TR_MAX_EXPERTS, 0 <= T, every
 * required dataset exists with the shape the attributes give. Ids and scores may still be
 * out of range or non-finite in a file nobody validated: callers that cannot tolerate that
 * run tr_validate first.
 *
 * One reader is not thread-safe; HDF5 serialises calls across readers anyway.
 */
#ifndef TR_READER_H
#define TR_READER_H

#include <stddef.h>
#include <stdint.h>

#include "common/ms_error.h"
#include "trace/tr_format.h"

typedef struct tr_reader tr_reader;

/*
 * Opens a trace and checks its header. On failure returns NULL with a one-line message
 * naming the file and what is wrong ("trace.h5: missing dataset /routing/scores").
 */
tr_reader *tr_open(const char *path, ms_error *err);

/*
 * Whether readers opened from now on decode chunks themselves (1, the default: the fast
 * path of tr_chunk.h) or read through HDF5's own path (0: for tests and benchmarks
 * comparing the two; the CLI sets it from MOESIM_TRACE_HDF5_READ=1). Process-wide.
 */
void tr_use_own_decoder(int on);

/* Closes every HDF5 identifier and frees the reader. NULL is allowed. */
void tr_close(tr_reader *r);

const tr_info *tr_get_info(const tr_reader *r);

/*
 * Reads tokens [t0, t0+n) of one layer: ids[i*K + j] and scores[i*K + j] are the j-th ranked
 * expert of token t0+i and its score. Either output may be NULL to skip that dataset.
 * Requires 0 <= layer < L, 0 <= t0, n >= 0, t0 + n <= T (else MS_ERANGE). Returns MS_OK, or
 * MS_EIO with a message naming the dataset and block when HDF5 cannot read it (a truncated
 * or corrupt file).
 */
int tr_read_routing(tr_reader *r, int layer, int64_t t0, int64_t n, int16_t *ids, float *scores, ms_error *err);

/*
 * The same, for the first k <= K ranked experts only: ids[i*k + j], scores[i*k + j].
 * (The replay of a top-k smaller than the recorded depth reads only what it uses; the
 * chunk is still decompressed whole.)
 */
int tr_read_routing_topk(tr_reader *r, int layer, int64_t t0, int64_t n, int k, int16_t *ids, float *scores,
			 ms_error *err);

/* Reads logits[i*E + e] of tokens [t0, t0+n) of one layer; MS_EINVAL when the trace has none. */
int tr_read_logits(tr_reader *r, int layer, int64_t t0, int64_t n, float *logits, ms_error *err);

/*
 * The score matrix of tokens [t0, t0+n) of one layer, mat[i*E + e], for a router that
 * compares scores across tokens (routing/rt_policy.h): with k < E, the first k ranked
 * experts' recorded scores and -INFINITY for the others (what topk and bpr use); with
 * k = E, every expert's score, from the ranking when it is complete (depth = E), else from
 * /routing/logits: softmax over the E logits, or the sigmoid of each when score_kind is
 * sigmoid. Workspaces ids_ws and sc_ws hold n*min(k, K) entries (unused when the logits
 * are read). MS_ERANGE when k < E exceeds the depth; MS_EINVAL when k = E, the ranking is
 * incomplete and there are no logits; MS_EFORMAT naming the entry when a ranked id is out
 * of range or its score is not finite or negative (`moesim trace validate` says more).
 */
int tr_read_score_matrix(tr_reader *r, int layer, int64_t t0, int64_t n, int k, float *mat, int16_t *ids_ws,
			 float *sc_ws, ms_error *err);

/* Reads the metadata of tokens [t0, t0+n) into out[0..n). Any n: read in pieces internally. */
int tr_read_tokens(tr_reader *r, int64_t t0, int64_t n, tr_token *out, ms_error *err);

/*
 * Sets the cache of decoded chunks of each routing dataset (ids, scores, logits) to `bytes`
 * (at least one chunk is always kept). 0 restores the default: room for L + 1 chunks or
 * TR_CACHE_MIN_BYTES, whichever is more, at most TR_CACHE_MAX_BYTES (both in tr_format.h;
 * but never fewer than two chunks), and never more chunks than the dataset has. Chunks are
 * evicted least recently used first; memory is taken only as chunks are read.
 */
int tr_set_cache(tr_reader *r, size_t bytes, ms_error *err);

#endif
