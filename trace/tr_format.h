/*
 * tr_format.h - the vocabulary of the moesim trace format (version 1, docs/trace-format.md)
 * that the reader, the writer, the header checks and the chunk decoder share: the format's
 * name and version, its limits, the score kinds, a token's metadata and the order tokens
 * are stored in, and what a header says (tr_info).
 *
 * It depends on nothing in trace/, so that every file there can include it without the
 * low-level ones (tr_h5, tr_chunk) reaching back up to the public reader header
 * (tr_reader.h, which includes this one: callers see no difference).
 */
#ifndef TR_FORMAT_H
#define TR_FORMAT_H

#include <stddef.h>
#include <stdint.h>

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

/* Bounds of the default chunk cache of a routing dataset (tr_set_cache, tr__cache_default). */
#define TR_CACHE_MIN_BYTES ((size_t)64 << 20)
#define TR_CACHE_MAX_BYTES ((size_t)256 << 20)

#endif
