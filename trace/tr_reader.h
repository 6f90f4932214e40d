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

#define TR_FORMAT_NAME "moesim-trace"
#define TR_FORMAT_VERSION 1
#define TR_CHUNK_TOKENS 65536 /* chunk length along T that writers use */
#define TR_MAX_EXPERTS 32767  /* ids are int16 */

typedef enum tr_score_kind { TR_SCORE_SOFTMAX = 0, TR_SCORE_SIGMOID = 1, TR_SCORE_OTHER = 2 } tr_score_kind;

/* "softmax", "sigmoid", "other". */
const char *tr_score_kind_name(tr_score_kind k);

/* Parses a score kind name; returns 0, or -1 when s is not one. */
int tr_score_kind_parse(const char *s, tr_score_kind *out);

/* Metadata of one token (the /tokens/ datasets at one index). */
typedef struct tr_token {
	int64_t sequence; /* sequence (sample) id */
	int32_t step;     /* training or inference step */
	int32_t position; /* position in the sequence */
	int32_t rank;     /* data-parallel rank the token was recorded on */
	int16_t domain;   /* index into tr_info.domain_names; -1 when the trace has no domains */
} tr_token;

/* -1, 0, 1 comparing tokens in the order a trace stores them: by (step, rank, sequence,
 * position); domain is not part of the key. */
int tr_token_cmp(const tr_token *a, const tr_token *b);

/* What the header says. Strings and arrays are owned by the reader (valid until tr_close). */
typedef struct tr_info {
	const char *path;         /* as passed to tr_open */
	int num_layers;           /* L */
	int num_experts;          /* E */
	int depth;                /* K: ranked experts stored per token and layer */
	int64_t num_tokens;       /* T */
	int top_k;                /* optional attribute top_k (experts the model used); 0 when absent */
	tr_score_kind score_kind;
	int has_logits;           /* /routing/logits present */
	int has_domain;           /* /tokens/domain present */
	int num_domains;          /* D, 0 without domains */
	const char *const *domain_names; /* [D] */
	const char *model;
	const char *source;
	const char *created;
	int64_t chunk_tokens;     /* chunk length along T of /routing/expert_ids (0: not chunked) */
} tr_info;

typedef struct tr_reader tr_reader;

/*
 * Opens a trace and checks its header. On failure returns NULL with a one-line message
 * naming the file and what is wrong ("trace.h5: missing dataset /routing/scores").
 */
tr_reader *tr_open(const char *path, ms_error *err);

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

/* Reads the metadata of tokens [t0, t0+n) into out[0..n). Any n: read in pieces internally. */
int tr_read_tokens(tr_reader *r, int64_t t0, int64_t n, tr_token *out, ms_error *err);

/*
 * Sets the cache of decoded chunks of each routing dataset (ids, scores, logits) to `bytes`
 * (at least one chunk is always kept). 0 restores the default: room for L + 1 chunks or
 * TR_CACHE_MIN_BYTES, whichever is more, at most TR_CACHE_MAX_BYTES (but never fewer than
 * two chunks), and never more chunks than the dataset has. Chunks are evicted least
 * recently used first; memory is taken only as chunks are read.
 */
#define TR_CACHE_MIN_BYTES ((size_t)64 << 20)
#define TR_CACHE_MAX_BYTES ((size_t)256 << 20)
int tr_set_cache(tr_reader *r, size_t bytes, ms_error *err);

#endif
