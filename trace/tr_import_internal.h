/*
 * tr_import_internal.h - internal to trace/: what the three importers (tr_import_jsonl.c,
 * tr_import_vllm.c, tr_import_megatron.c) share with tr_import.c, which owns the table
 * they fill and writes it out (see tr_import.h for the formats).
 *
 * The table is token-major: for token t and layer l, cell t L + l holds K ranked expert
 * ids and scores (and LE logits), and have[cell] says whether an input gave it. An
 * importer sizes the table with tr__imp_reserve, fills cells and token metadata, and
 * sets source and kind; tr_import then checks that every cell was given, sorts the
 * tokens into the format's order and writes the trace. Importers report errors naming
 * the input file and line; they never write the output.
 */
#ifndef TR_IMPORT_INTERNAL_H
#define TR_IMPORT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/ms_error.h"
#include "common/ms_json.h"
#include "trace/tr_import.h"

#define TR__IMP_MAX_TOKENS ((int64_t)1 << 40)
#define TR__IMP_MAX_LAYERS 100000

/* Which metadata an input gave for a token (tr__imp.mask); the rest is defaulted. */
enum { TR__M_STEP = 1, TR__M_SEQ = 2, TR__M_POS = 4, TR__M_RANK = 8, TR__M_DOM = 16 };

typedef struct tr__imp {
	int L, K, LE;       /* LE: logits width, 0 without logits */
	int max_id;         /* largest expert id seen, -1 before any */
	int64_t T, cap;     /* tokens used, allocated */
	int16_t *ids;       /* [cap][L][K] */
	float *scores;      /* [cap][L][K] */
	float *logits;      /* [cap][L][LE] */
	uint8_t *have;      /* [cap][L] */
	uint8_t *mask;      /* [cap] metadata given (TR__M_*) */
	int32_t *meta_line; /* [cap] line that first gave metadata */
	tr_token *tok;      /* [cap] */
	int D, dcap;        /* domain names */
	char **names;
	int has_scores;
	tr_score_kind kind;
	char source[1024];  /* the trace's source attribute, set by the importer */
	char note[240];     /* from the importer, for the user */
	char enote[240];    /* from tr_import's checks */
} tr__imp;

/* The importers: fill m from inputs[0..n). */
int tr__import_jsonl(tr__imp *m, const char *const *inputs, int n, const tr_import_opts *o, ms_error *err);
int tr__import_vllm(tr__imp *m, const char *const *inputs, int n, const tr_import_opts *o, ms_error *err);
int tr__import_megatron(tr__imp *m, const char *const *inputs, int n, const tr_import_opts *o, ms_error *err);

/* Grows the table to at least n tokens (new cells zeroed); m->T is not changed. */
int tr__imp_reserve(tr__imp *m, int64_t n, ms_error *err);

/* The index of domain `name`, added if new. */
int tr__imp_domain(tr__imp *m, const char *name, ms_error *err);

/* Checks one token's ids (distinct; where names it in the message) and updates max_id. */
int tr__imp_check_ids(tr__imp *m, const int16_t *id, int n, const char *where, ms_error *err);

/* A JSON integer member: 1 when present and an integer in [lo, hi], 0 when absent or
 * null, -1 (message "WHERE: \"key\" must be an integer in lo..hi") otherwise. */
int tr__imp_int_field(const ms_json *j, const ms_json_node *obj, const char *key, int64_t lo, int64_t hi, int64_t *v,
		      const char *where, ms_error *err);


/* 1 when s[0..n) holds only blanks (spaces, tabs, CR, LF): a line JSON-lines readers skip. */
int tr__imp_blank(const char *s, size_t n);

/*
 * Reads the JSON-lines file path (input number `file`) a line at a time: every line that
 * is not blank is parsed into j (errors name path:line:column) and passed to fn with its
 * number. Stops at the first error. Memory: one line.
 */
typedef int (*tr__imp_line_fn)(void *ctx, ms_json *j, const char *path, int file, int lineno, ms_error *err);
int tr__imp_each_line(const char *path, int file, ms_json *j, tr__imp_line_fn fn, void *ctx, ms_error *err);

/* Sorts idx to a stable order of 0..n-1 by cmp(ctx, a, b) (bottom-up merge sort: O(n log n),
 * tmp holds n). Stable, so records that compare equal keep the order the inputs gave. */
typedef int (*tr__imp_cmp_fn)(const void *ctx, int64_t a, int64_t b);
void tr__imp_sort_stable(int64_t *idx, int64_t *tmp, int64_t n, tr__imp_cmp_fn cmp, const void *ctx);

#endif
