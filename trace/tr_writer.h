/*
 * tr_writer.h - writing moesim router traces (format version 1, docs/trace-format.md),
 * used by `moesim trace synth` and `moesim trace import`.
 *
 * Tokens are appended in blocks of any length; the writer buffers up to one chunk
 * (TR_CHUNK_TOKENS tokens, all layers) and writes whole chunks, so memory is O(L x chunk x
 * (K + E if logits)) whatever T is, and every chunk is compressed once.
 *
 * The output is complete or absent: the file is written as PATH.tmp.PID and renamed onto
 * PATH by tr_writer_finish; an existing PATH is kept unless force. The bytes depend only
 * on what was appended and on tr_meta: no object timestamps (H5Pset_obj_track_times off),
 * and `created` is whatever the caller passes (default TR_CREATED_UNKNOWN, so synthetic
 * traces written twice are identical).
 *
 * Every value is checked on append (ids in range and distinct per token, finite scores,
 * softmax scores in [0, 1] and non-increasing, sigmoid scores in [0, 1], finite logits,
 * ranks and positions >= 0, domains < D, tokens strictly increasing by (step, rank,
 * sequence, position)), so a file the writer completes passes `moesim trace validate`.
 */
#ifndef TR_WRITER_H
#define TR_WRITER_H

#include <stdint.h>

#include "common/ms_error.h"
#include "trace/tr_reader.h"

/* `created` of traces with no recording date (synthetic, or imported without --created). */
#define TR_CREATED_UNKNOWN "1970-01-01T00:00:00Z"

typedef struct tr_meta {
	int num_layers;           /* L >= 1 */
	int num_experts;          /* E in 1..TR_MAX_EXPERTS */
	int depth;                /* K in 1..E */
	int top_k;                /* > 0: written as the optional attribute top_k (<= K) */
	tr_score_kind score_kind;
	const char *model;        /* NULL: "unknown" */
	const char *source;       /* NULL: "moesim" */
	const char *created;      /* NULL: TR_CREATED_UNKNOWN */
	const char *description;  /* NULL: no description attribute */
	int has_logits;           /* write /routing/logits */
	int num_domains;          /* D; 0: no /tokens/domain */
	const char *const *domain_names; /* [D] */
	int64_t chunk_tokens;     /* 0: TR_CHUNK_TOKENS */
} tr_meta;

typedef struct tr_writer tr_writer;

/* Starts PATH.tmp.PID. MS_EEXIST when path exists and !force. */
tr_writer *tr_writer_create(const char *path, int force, const tr_meta *m, ms_error *err);

/*
 * Appends n tokens. Layouts follow the file: ids[(l*n + i)*K + j], scores likewise,
 * logits[(l*n + i)*E + e] (NULL unless has_logits), tokens[i] (domain ignored when D = 0).
 * On a bad value returns MS_EINVAL naming the token (its index in the output) and what is
 * wrong; the writer is then unusable except for tr_writer_abort.
 */
int tr_writer_append(tr_writer *w, int64_t n, const int16_t *ids, const float *scores, const float *logits,
		     const tr_token *tokens, ms_error *err);

/* Writes what is buffered and the attributes, closes and renames. Frees w in every case. */
int tr_writer_finish(tr_writer *w, ms_error *err);

/* Removes the temporary file and frees w. NULL is allowed. */
void tr_writer_abort(tr_writer *w);

/* Tokens appended so far. */
int64_t tr_writer_tokens(const tr_writer *w);

#endif
