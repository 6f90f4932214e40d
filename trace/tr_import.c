/*
 * tr_import.c - `moesim trace import`: the table the three importers fill
 * (tr_import_internal.h), the helpers they share, and writing the table out as a trace
 * (formats in tr_import.h, details and sources in docs/trace-tools.md).
 *
 * The importers (tr_import_jsonl.c, tr_import_vllm.c, tr_import_megatron.c) fill one
 * in-memory table, token-major: ids[t][l][k], scores, optional logits, token metadata, and
 * a have[t][l] map; `finish` checks that every (token, layer) was given, sorts the tokens
 * by (step, rank, sequence, position) with a stable merge sort (a duplicate key is an
 * error), and streams them through tr_writer in chunk-sized blocks, so the output is
 * complete or absent. Inputs whose shape is not known up front (generic jsonl, Megatron)
 * are read twice: a first pass sizes the table, the second fills it.
 */
#include "trace/tr_import.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/tr_import_internal.h"
#include "common/ms_file.h"
#include "trace/tr_writer.h"

int tr_import_format_parse(const char *s, tr_import_format *out)
{
	if (strcmp(s, "jsonl") == 0)
		*out = TR_IMPORT_JSONL;
	else if (strcmp(s, "vllm") == 0)
		*out = TR_IMPORT_VLLM;
	else if (strcmp(s, "megatron") == 0)
		*out = TR_IMPORT_MEGATRON;
	else
		return -1;
	return 0;
}

static void imp_free(tr__imp *m)
{
	free(m->ids);
	free(m->scores);
	free(m->logits);
	free(m->have);
	free(m->mask);
	free(m->meta_line);
	free(m->tok);
	for (int d = 0; d < m->D; d++)
		free(m->names[d]);
	free(m->names);
}

int tr__imp_reserve(tr__imp *m, int64_t n, ms_error *err)
{
	int64_t nc;
	size_t L = (size_t)m->L, K = (size_t)m->K, LE = (size_t)m->LE;
	void *p;
	if (n <= m->cap)
		return MS_OK;
	if (n > TR__IMP_MAX_TOKENS)
		return MS_ERROR(err, MS_ERANGE, "more than 2^40 tokens");
	nc = m->cap ? m->cap : 1024;
	while (nc < n)
		nc *= 2;
#define GROW(field, per)                                                                               \
	do {                                                                                           \
		p = realloc(m->field, (size_t)nc * (per) * sizeof *m->field);                            \
		if (!p)                                                                                \
			goto nomem;                                                                    \
		m->field = p;                                                                          \
		memset(m->field + (size_t)m->cap * (per), 0, (size_t)(nc - m->cap) * (per) * sizeof *m->field); \
	} while (0)
	GROW(ids, L * K);
	GROW(scores, L * K);
	if (LE)
		GROW(logits, L * LE);
	GROW(have, L);
	GROW(mask, 1);
	GROW(meta_line, 1);
	GROW(tok, 1);
#undef GROW
	m->cap = nc;
	return MS_OK;
nomem:
	return MS_ERROR(err, MS_ENOMEM,
			"out of memory holding %lld tokens x %d layers in memory (importers keep the whole trace; split the "
			"input)",
			(long long)n, m->L);
}

int tr__imp_domain(tr__imp *m, const char *name, ms_error *err)
{
	for (int d = 0; d < m->D; d++)
		if (strcmp(m->names[d], name) == 0)
			return d;
	if (m->D == 32767)
		return MS_ERROR(err, MS_ERANGE, "more than 32767 domains");
	if (m->D == m->dcap) {
		int nc = m->dcap ? 2 * m->dcap : 8;
		void *p = realloc(m->names, (size_t)nc * sizeof *m->names);
		if (!p)
			return MS_ERROR(err, MS_ENOMEM, "out of memory");
		m->names = p;
		m->dcap = nc;
	}
	if (!(m->names[m->D] = strdup(name)))
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	return m->D++;
}

/* ---- sorting and writing ---- */

void tr__imp_sort_stable(int64_t *idx, int64_t *tmp, int64_t n, tr__imp_cmp_fn cmp, const void *ctx)
{
	for (int64_t i = 0; i < n; i++)
		idx[i] = i;
	for (int64_t w = 1; w < n; w *= 2) {
		for (int64_t lo = 0; lo < n; lo += 2 * w) {
			int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, a = lo, b = mid, o = lo;
			while (a < mid && b < hi)
				tmp[o++] = cmp(ctx, idx[b], idx[a]) < 0 ? idx[b++] : idx[a++];
			while (a < mid)
				tmp[o++] = idx[a++];
			while (b < hi)
				tmp[o++] = idx[b++];
		}
		memcpy(idx, tmp, (size_t)n * sizeof *idx);
	}
}

static int tok_index_cmp(const void *ctx, int64_t a, int64_t b)
{
	const tr_token *tok = ctx;
	return tr_token_cmp(&tok[a], &tok[b]);
}

static int finish(tr__imp *m, const char *what, const char *out, int force, const tr_import_opts *o, tr_import_result *res,
		  ms_error *err)
{
	const int L = m->L, K = m->K;
	const int64_t T = m->T, B = TR_CHUNK_TOKENS;
	int E, rc = MS_OK;
	int64_t *idx = NULL, *tmp = NULL;
	int16_t *bids = NULL;
	float *bsc = NULL, *blg = NULL;
	tr_token *btok = NULL;
	tr_writer *w = NULL;
	tr_meta meta;
	const char **names = NULL;
	if (T == 0)
		return MS_ERROR(err, MS_EINVAL, "%s: no routing decisions found", what);
	for (int64_t t = 0; t < T; t++)
		for (int l = 0; l < L; l++)
			if (!m->have[(size_t)t * L + l])
				return MS_ERROR(err, MS_EINVAL, "%s: token %lld has no routing for layer %d (every token needs all %d layers)",
						what, (long long)t, l, L);
	E = o->experts > 0 ? o->experts : m->LE > 0 ? m->LE : m->max_id + 1;
	if (m->max_id >= E)
		return MS_ERROR(err, MS_EINVAL, "%s: expert id %d is out of range: --experts %d", what, m->max_id, E);
	if (m->LE > 0 && m->LE != E)
		return MS_ERROR(err, MS_EINVAL, "%s: the logits have %d experts but --experts is %d", what, m->LE, E);
	if (K > E)
		return MS_ERROR(err, MS_EINVAL, "%s: %d experts listed per token but only %d experts", what, K, E);
	if (o->experts == 0 && m->LE == 0)
		snprintf(m->enote, sizeof m->enote,
			 "num_experts = %d, the largest expert id + 1 (pass --experts E if the model has more experts)", E);
	if (o->top_k > K)
		return MS_ERROR(err, MS_EINVAL, "--top-k %d exceeds the %d experts recorded per token", o->top_k, K);
	/* Default missing metadata: one sequence, positions = token index. */
	for (int64_t t = 0; t < T; t++) {
		tr_token *tk = &m->tok[t];
		if (!(m->mask[t] & TR__M_POS))
			tk->position = (int32_t)(t < INT32_MAX ? t : INT32_MAX);
		if (m->D > 0 && !(m->mask[t] & TR__M_DOM))
			return MS_ERROR(err, MS_EINVAL, "%s: token %lld has no domain, but others have", what, (long long)t);
		if (m->D == 0)
			tk->domain = -1;
	}
	idx = malloc((size_t)T * sizeof *idx);
	tmp = malloc((size_t)T * sizeof *tmp);
	bids = malloc((size_t)L * B * K * sizeof *bids);
	bsc = malloc((size_t)L * B * K * sizeof *bsc);
	blg = m->LE ? malloc((size_t)L * B * m->LE * sizeof *blg) : NULL;
	btok = malloc((size_t)B * sizeof *btok);
	if (!idx || !tmp || !bids || !bsc || (m->LE && !blg) || !btok) {
		rc = MS_ERROR(err, MS_ENOMEM, "out of memory sorting %lld tokens", (long long)T);
		goto out;
	}
	tr__imp_sort_stable(idx, tmp, T, tok_index_cmp, m->tok);
	for (int64_t i = 1; i < T; i++)
		if (tr_token_cmp(&m->tok[idx[i - 1]], &m->tok[idx[i]]) == 0) {
			const tr_token *a = &m->tok[idx[i]];
			rc = MS_ERROR(err, MS_EINVAL,
				      "%s: tokens %lld and %lld have the same step %d, rank %d, sequence %lld, position %d "
				      "(give \"sequence\"/\"position\" to tell them apart)",
				      what, (long long)idx[i - 1], (long long)idx[i], a->step, a->rank, (long long)a->sequence,
				      a->position);
			goto out;
		}
	memset(&meta, 0, sizeof meta);
	meta.num_layers = L;
	meta.num_experts = E;
	meta.depth = K;
	meta.top_k = o->top_k;
	meta.score_kind = m->kind;
	meta.model = o->model ? o->model : "unknown";
	meta.source = m->source;
	meta.created = o->created;
	meta.has_logits = m->LE > 0;
	meta.num_domains = m->D;
	if (m->D > 0) {
		names = malloc((size_t)m->D * sizeof *names);
		if (!names) {
			rc = MS_ERROR(err, MS_ENOMEM, "out of memory");
			goto out;
		}
		for (int d = 0; d < m->D; d++)
			names[d] = m->names[d];
		meta.domain_names = names;
	}
	w = tr_writer_create(out, force, &meta, err);
	if (!w) {
		rc = err ? err->code : MS_EIO;
		goto out;
	}
	for (int64_t t0 = 0; t0 < T; t0 += B) {
		int64_t n = T - t0 < B ? T - t0 : B;
		for (int64_t i = 0; i < n; i++) {
			int64_t t = idx[t0 + i];
			btok[i] = m->tok[t];
			for (int l = 0; l < L; l++) {
				memcpy(bids + ((size_t)l * n + i) * K, m->ids + ((size_t)t * L + l) * K, (size_t)K * sizeof *bids);
				memcpy(bsc + ((size_t)l * n + i) * K, m->scores + ((size_t)t * L + l) * K, (size_t)K * sizeof *bsc);
				if (blg)
					memcpy(blg + ((size_t)l * n + i) * m->LE, m->logits + ((size_t)t * L + l) * m->LE,
					       (size_t)m->LE * sizeof *blg);
			}
		}
		if ((rc = tr_writer_append(w, n, bids, bsc, blg, btok, err)) < 0)
			goto out;
	}
	rc = tr_writer_finish(w, err);
	w = NULL;
	if (rc == MS_OK && res) {
		res->tokens = T;
		res->layers = L;
		res->experts = E;
		res->depth = K;
		snprintf(res->note, sizeof res->note, "%s%s%s", m->note, m->note[0] && m->enote[0] ? "; " : "", m->enote);
	}
out:
	tr_writer_abort(w);
	free(names);
	free(idx);
	free(tmp);
	free(bids);
	free(bsc);
	free(blg);
	free(btok);
	return rc;
}

int tr__imp_check_ids(tr__imp *m, const int16_t *id, int n, const char *where, ms_error *err)
{
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < j; i++)
			if (id[i] == id[j])
				return MS_ERROR(err, MS_EINVAL, "%s: expert %d is listed twice", where, id[j]);
		m->max_id = id[j] > m->max_id ? id[j] : m->max_id;
	}
	return MS_OK;
}

int tr__imp_int_field(const ms_json *j, const ms_json_node *obj, const char *key, int64_t lo, int64_t hi, int64_t *v,
		      const char *where, ms_error *err)
{
	const ms_json_node *n = ms_json_get(j, obj, key);
	if (!n || n->type == MS_JSON_NULL)
		return 0;
	if (n->type != MS_JSON_NUMBER || !n->is_int || n->i < lo || n->i > hi) {
		MS_ERROR(err, MS_EINVAL, "%s: \"%s\" must be an integer in %lld..%lld", where, key, (long long)lo, (long long)hi);
		return -1;
	}
	*v = n->i;
	return 1;
}

int tr__imp_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

int tr__imp_each_line(const char *path, int file, ms_json *j, tr__imp_line_fn fn, void *ctx, ms_error *err)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = MS_OK;
	if (!fp)
		return MS_ERROR(err, MS_EIO, "cannot read '%s': %s", path, strerror(errno));
	while (rc == MS_OK && (len = getline(&line, &cap, fp)) >= 0) {
		size_t b = (size_t)len;
		lineno++;
		/* Without the line end, an error at the end of the line is reported on it. */
		while (b > 0 && (line[b - 1] == '\n' || line[b - 1] == '\r'))
			b--;
		if (tr__imp_blank(line, b))
			continue;
		if ((rc = ms_json_parse(j, line, b, path, lineno, err)) == MS_OK)
			rc = fn(ctx, j, path, file, lineno, err);
	}
	if (rc == MS_OK && ferror(fp))
		rc = MS_ERROR(err, MS_EIO, "cannot read '%s': %s", path, strerror(errno));
	free(line);
	fclose(fp);
	return rc;
}


int tr_import(const char *const *inputs, int n, const char *out, int force, const tr_import_opts *o,
	      tr_import_result *res, ms_error *err)
{
	tr__imp m;
	int rc;
	memset(&m, 0, sizeof m);
	m.max_id = -1;
	if (res)
		memset(res, 0, sizeof *res);
	if (n < 1)
		return MS_ERROR(err, MS_EINVAL, "no input files");
	if (o->experts < 0 || o->experts > TR_MAX_EXPERTS)
		return MS_ERROR(err, MS_EINVAL, "--experts %d must be in 1..%d", o->experts, TR_MAX_EXPERTS);
	switch (o->format) {
	case TR_IMPORT_JSONL: rc = tr__import_jsonl(&m, inputs, n, o, err); break;
	case TR_IMPORT_VLLM: rc = tr__import_vllm(&m, inputs, n, o, err); break;
	default: rc = tr__import_megatron(&m, inputs, n, o, err); break;
	}
	if (rc == MS_OK)
		rc = finish(&m, inputs[0], out, force, o, res, err);
	imp_free(&m);
	return rc;
}
