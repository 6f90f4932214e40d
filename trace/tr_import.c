/*
 * tr_import.c - jsonl, vLLM and Megatron-Core router decisions into moesim traces (see
 * tr_import.h for the formats, docs/trace-tools.md for the details and sources).
 *
 * Every importer fills one in-memory table, token-major: ids[t][l][k], scores, optional
 * logits, token metadata, and a have[t][l] map; `finish` checks that every (token, layer)
 * was given, sorts the tokens by (step, rank, sequence, position) with a stable merge sort
 * (a duplicate key is an error), and streams them through tr_writer in chunk-sized blocks.
 * Inputs whose shape is not known up front (generic jsonl, Megatron) are read twice: a
 * first pass sizes the table, the second fills it.
 */
#include "trace/tr_import.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/ms_json.h"
#include "trace/tr_npy.h"
#include "trace/tr_writer.h"

#define MAX_TOKENS ((int64_t)1 << 40)
#define MAX_LAYERS 100000

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

enum { M_STEP = 1, M_SEQ = 2, M_POS = 4, M_RANK = 8, M_DOM = 16 };

typedef struct imp {
	int L, K, LE;      /* LE: logits width, 0 without logits */
	int max_id;
	int64_t T, cap;    /* tokens used, allocated */
	int16_t *ids;      /* [cap][L][K] */
	float *scores;     /* [cap][L][K] */
	float *logits;     /* [cap][L][LE] */
	uint8_t *have;     /* [cap][L] */
	uint8_t *mask;     /* [cap] metadata given (M_*) */
	int32_t *meta_line; /* [cap] line that first gave metadata */
	tr_token *tok;     /* [cap] */
	int D, dcap;
	char **names;
	int has_scores;
	tr_score_kind kind;
	char source[1024];
	char note[240];    /* from the importer */
	char enote[240];   /* from finish */
} imp;

static void imp_free(imp *m)
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

/* Grows the table to at least n tokens (zeroed). */
static int imp_reserve(imp *m, int64_t n, ms_error *err)
{
	int64_t nc;
	size_t L = (size_t)m->L, K = (size_t)m->K, LE = (size_t)m->LE;
	void *p;
	if (n <= m->cap)
		return MS_OK;
	if (n > MAX_TOKENS)
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

static int domain_index(imp *m, const char *name, ms_error *err)
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

static int tok_cmp(const tr_token *a, const tr_token *b)
{
	if (a->step != b->step)
		return a->step < b->step ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	if (a->sequence != b->sequence)
		return a->sequence < b->sequence ? -1 : 1;
	if (a->position != b->position)
		return a->position < b->position ? -1 : 1;
	return 0;
}

/* Stable bottom-up merge sort of idx[0..n) by token key. */
static void sort_tokens(const tr_token *tok, int64_t *idx, int64_t *tmp, int64_t n)
{
	for (int64_t w = 1; w < n; w *= 2) {
		for (int64_t lo = 0; lo < n; lo += 2 * w) {
			int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, a = lo, b = mid, o = lo;
			while (a < mid && b < hi)
				tmp[o++] = tok_cmp(&tok[idx[b]], &tok[idx[a]]) < 0 ? idx[b++] : idx[a++];
			while (a < mid)
				tmp[o++] = idx[a++];
			while (b < hi)
				tmp[o++] = idx[b++];
		}
		memcpy(idx, tmp, (size_t)n * sizeof *idx);
	}
}

static int finish(imp *m, const char *what, const char *out, int force, const tr_import_opts *o, tr_import_result *res,
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
		if (!(m->mask[t] & M_POS))
			tk->position = (int32_t)(t < INT32_MAX ? t : INT32_MAX);
		if (m->D > 0 && !(m->mask[t] & M_DOM))
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
	for (int64_t t = 0; t < T; t++)
		idx[t] = t;
	sort_tokens(m->tok, idx, tmp, T);
	for (int64_t i = 1; i < T; i++)
		if (tok_cmp(&m->tok[idx[i - 1]], &m->tok[idx[i]]) == 0) {
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

/* Checks one token's ids (range, distinct) and updates max_id. */
static int check_ids(imp *m, const int16_t *id, int n, const char *where, ms_error *err)
{
	for (int j = 0; j < n; j++) {
		for (int i = 0; i < j; i++)
			if (id[i] == id[j])
				return MS_ERROR(err, MS_EINVAL, "%s: expert %d is listed twice", where, id[j]);
		m->max_id = id[j] > m->max_id ? id[j] : m->max_id;
	}
	return MS_OK;
}

/* Reads a whole file (the vLLM inputs). */
static int slurp(const char *path, char **buf, size_t *len, ms_error *err)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *b;
	if (!f)
		return MS_ERROR(err, MS_EIO, "cannot read '%s': %s", path, strerror(errno));
	b = malloc(cap + 1);
	while (b) {
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		cap *= 2;
		{
			char *q = realloc(b, cap + 1);
			if (!q) {
				free(b);
				b = NULL;
				break;
			}
			b = q;
		}
	}
	if (!b || ferror(f)) {
		int e = errno;
		fclose(f);
		free(b);
		return b ? MS_ERROR(err, MS_EIO, "cannot read '%s': %s", path, strerror(e))
			 : MS_ERROR(err, MS_ENOMEM, "out of memory reading '%s'", path);
	}
	fclose(f);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return MS_OK;
}

/* A JSON integer field: 1 when present and an integer in [lo, hi], 0 when absent, -1 on error. */
static int int_field(const ms_json *j, const ms_json_node *obj, const char *key, int64_t lo, int64_t hi, int64_t *v,
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

/* ---- generic jsonl ---- */

static int jsonl_line(imp *m, ms_json *j, const char *path, int lineno, int pass, const tr_import_opts *o,
		      ms_error *err)
{
	char where[1100];
	const ms_json_node *root = ms_json_root(j), *ex, *pr, *dn;
	int64_t layer, token, v;
	int k, has_probs;
	snprintf(where, sizeof where, "%s:%d", path, lineno);
	if (root->type != MS_JSON_OBJECT)
		return MS_ERROR(err, MS_EINVAL, "%s: expected a JSON object per line", where);
	if (int_field(j, root, "layer", 0, MAX_LAYERS - 1, &layer, where, err) <= 0 ||
	    int_field(j, root, "token", 0, MAX_TOKENS - 1, &token, where, err) <= 0)
		return err && err->code ? err->code
					: MS_ERROR(err, MS_EINVAL, "%s: \"layer\" and \"token\" are required", where);
	ex = ms_json_get(j, root, "experts");
	if (!ex || ex->type != MS_JSON_ARRAY || ex->count == 0 || ex->count > TR_MAX_EXPERTS)
		return MS_ERROR(err, MS_EINVAL, "%s: \"experts\" must be a non-empty array of expert ids", where);
	k = (int)ex->count;
	pr = ms_json_get(j, root, "probs");
	if (pr && pr->type == MS_JSON_NULL)
		pr = NULL;
	has_probs = pr != NULL;
	if (pr && (pr->type != MS_JSON_ARRAY || pr->count != ex->count))
		return MS_ERROR(err, MS_EINVAL, "%s: \"probs\" must be an array as long as \"experts\" (%d)", where, k);
	if (pass == 1) {
		if (m->K == 0) {
			m->K = k;
			m->has_scores = has_probs;
		} else if (k != m->K) {
			return MS_ERROR(err, MS_EINVAL, "%s: %d experts listed, earlier lines list %d: every line needs the same number",
					where, k, m->K);
		} else if (has_probs != m->has_scores) {
			return MS_ERROR(err, MS_EINVAL, "%s: \"probs\" must be given on every line or on none", where);
		}
		m->L = (int)layer + 1 > m->L ? (int)layer + 1 : m->L;
		m->T = token + 1 > m->T ? token + 1 : m->T;
		return MS_OK;
	}
	{
		size_t cell = (size_t)token * m->L + (size_t)layer;
		int16_t *id = m->ids + cell * m->K;
		float *sc = m->scores + cell * m->K;
		tr_token *tk = &m->tok[token];
		const ms_json_node *e = ms_json_first(j, ex), *p = ms_json_first(j, pr);
		int rc;
		if (m->have[cell])
			return MS_ERROR(err, MS_EINVAL, "%s: layer %lld of token %lld was already given", where, (long long)layer,
					(long long)token);
		m->have[cell] = 1;
		for (int q = 0; q < k; q++, e = ms_json_next(j, e)) {
			if (e->type != MS_JSON_NUMBER || !e->is_int || e->i < 0 || e->i >= TR_MAX_EXPERTS ||
			    (o->experts > 0 && e->i >= o->experts))
				return MS_ERROR(err, MS_EINVAL, "%s: \"experts\"[%d] must be an expert id in 0..%d", where, q,
						(o->experts > 0 ? o->experts : TR_MAX_EXPERTS) - 1);
			id[q] = (int16_t)e->i;
			if (p) {
				if (p->type != MS_JSON_NUMBER || !isfinite(p->d))
					return MS_ERROR(err, MS_EINVAL, "%s: \"probs\"[%d] must be a finite number", where, q);
				sc[q] = (float)p->d;
				if (m->kind != TR_SCORE_OTHER && (sc[q] < 0 || sc[q] > 1))
					return MS_ERROR(err, MS_EINVAL, "%s: \"probs\"[%d] = %g is outside [0, 1] (pass --score-kind other)",
							where, q, p->d);
				if (m->kind == TR_SCORE_SOFTMAX && q > 0 && sc[q] > sc[q - 1])
					return MS_ERROR(err, MS_EINVAL,
							"%s: \"probs\"[%d] = %g exceeds \"probs\"[%d]: softmax probabilities must be listed "
							"best first (sort them, or pass --score-kind other)",
							where, q, p->d, q - 1);
				p = ms_json_next(j, p);
			} else {
				sc[q] = 1.0f / (float)k;
			}
		}
		if ((rc = check_ids(m, id, k, where, err)) < 0)
			return rc;
		/* Metadata: the same token may carry it on several lines; they must agree. */
		{
			static const struct {
				const char *key;
				int bit;
				int64_t lo, hi;
			} f[4] = {{"step", M_STEP, 0, INT32_MAX}, {"sequence", M_SEQ, INT64_MIN, INT64_MAX},
				  {"position", M_POS, 0, INT32_MAX}, {"rank", M_RANK, 0, INT32_MAX}};
			for (int i = 0; i < 4; i++) {
				int got = int_field(j, root, f[i].key, f[i].lo, f[i].hi, &v, where, err);
				int64_t cur;
				if (got < 0)
					return err->code;
				if (!got)
					continue;
				cur = f[i].bit == M_STEP ? tk->step : f[i].bit == M_SEQ ? tk->sequence : f[i].bit == M_POS ? tk->position : tk->rank;
				if ((m->mask[token] & f[i].bit) && cur != v)
					return MS_ERROR(err, MS_EINVAL, "%s: token %lld has \"%s\" %lld here but %lld on line %d", where,
							(long long)token, f[i].key, (long long)v, (long long)cur, m->meta_line[token]);
				if (f[i].bit == M_STEP)
					tk->step = (int32_t)v;
				else if (f[i].bit == M_SEQ)
					tk->sequence = v;
				else if (f[i].bit == M_POS)
					tk->position = (int32_t)v;
				else
					tk->rank = (int32_t)v;
				if (!m->mask[token])
					m->meta_line[token] = lineno;
				m->mask[token] |= (uint8_t)f[i].bit;
			}
		}
		dn = ms_json_get(j, root, "domain");
		if (dn && dn->type != MS_JSON_NULL) {
			char num[32];
			const char *name;
			int d;
			if (dn->type == MS_JSON_STRING) {
				name = ms_json_str(j, dn);
			} else if (dn->type == MS_JSON_NUMBER && dn->is_int && dn->i >= 0 && dn->i < 32767) {
				snprintf(num, sizeof num, "%lld", (long long)dn->i);
				name = num;
			} else {
				return MS_ERROR(err, MS_EINVAL, "%s: \"domain\" must be a name or a non-negative integer", where);
			}
			if ((d = domain_index(m, name, err)) < 0)
				return d;
			if ((m->mask[token] & M_DOM) && tk->domain != d)
				return MS_ERROR(err, MS_EINVAL, "%s: token %lld has domain \"%s\" here but \"%s\" on line %d", where,
						(long long)token, name, m->names[tk->domain], m->meta_line[token]);
			tk->domain = (int16_t)d;
			if (!m->mask[token])
				m->meta_line[token] = lineno;
			m->mask[token] |= M_DOM;
		}
	}
	return MS_OK;
}

static int import_jsonl(imp *m, const char *const *inputs, int n, const tr_import_opts *o, ms_error *err)
{
	ms_json j;
	char *line = NULL;
	size_t cap = 0;
	int rc = MS_OK;
	ms_json_init(&j);
	m->kind = TR_SCORE_OTHER;
	for (int pass = 1; pass <= 2 && rc == MS_OK; pass++) {
		if (pass == 2) {
			if (m->K == 0) {
				rc = MS_ERROR(err, MS_EINVAL, "%s: no routing lines", inputs[0]);
				break;
			}
			if (m->has_scores)
				m->kind = o->score_kind_set ? o->score_kind : TR_SCORE_SOFTMAX;
			else if (o->score_kind_set && o->score_kind != TR_SCORE_OTHER) {
				rc = MS_ERROR(err, MS_EINVAL, "--score-kind %s needs \"probs\" in the input",
					      tr_score_kind_name(o->score_kind));
				break;
			}
			{
				int64_t T = m->T;
				m->T = 0;
				if ((rc = imp_reserve(m, T, err)) < 0)
					break;
				m->T = T;
			}
		}
		for (int f = 0; f < n && rc == MS_OK; f++) {
			FILE *fp = fopen(inputs[f], "r");
			ssize_t len;
			int lineno = 0;
			if (!fp) {
				rc = MS_ERROR(err, MS_EIO, "cannot read '%s': %s", inputs[f], strerror(errno));
				break;
			}
			while (rc == MS_OK && (len = getline(&line, &cap, fp)) >= 0) {
				size_t a = 0, b = (size_t)len;
				lineno++;
				while (a < b && (line[a] == ' ' || line[a] == '\t'))
					a++;
				while (b > a && (line[b - 1] == '\n' || line[b - 1] == '\r' || line[b - 1] == ' '))
					b--;
				if (a == b)
					continue;
				if ((rc = ms_json_parse(&j, line, b, inputs[f], lineno, err)) == MS_OK)
					rc = jsonl_line(m, &j, inputs[f], lineno, pass, o, err);
			}
			fclose(fp);
		}
	}
	free(line);
	ms_json_fini(&j);
	snprintf(m->source, sizeof m->source, "moesim trace import --format jsonl from %s%s%s", inputs[0],
		 n > 1 ? " and more" : "", m->has_scores ? "" : " (no probabilities recorded: scores set to 1/depth)");
	return rc;
}

/* ---- vLLM ---- */

/* Appends one [tokens, layers, k] block of ids as a new sequence (or its continuation). */
static int vllm_add(imp *m, const tr__npy *a, const ms_json *j, const ms_json_node *list, int64_t n, int L, int k,
		    int64_t seq, int32_t pos0, const char *where, ms_error *err)
{
	int rc;
	if (m->L == 0) {
		m->L = L;
		m->K = k;
	} else if (L != m->L || k != m->K) {
		return MS_ERROR(err, MS_EINVAL, "%s: routed experts are [%lld, %d, %d] but earlier ones have %d layers, top-%d",
				where, (long long)n, L, k, m->L, m->K);
	}
	if ((rc = imp_reserve(m, m->T + n, err)) < 0)
		return rc;
	{
		const ms_json_node *tn = list ? ms_json_first(j, list) : NULL;
		for (int64_t t = 0; t < n; t++) {
			int64_t T = m->T + t;
			const ms_json_node *ln = tn ? ms_json_first(j, tn) : NULL;
			if (tn && (tn->type != MS_JSON_ARRAY || (int)tn->count != L))
				return MS_ERROR(err, MS_EINVAL, "%s: token %lld: expected %d layers", where, (long long)t, L);
			for (int l = 0; l < L; l++) {
				int16_t *id = m->ids + ((size_t)T * L + l) * k;
				const ms_json_node *en = ln ? ms_json_first(j, ln) : NULL;
				char w2[1200];
				if (ln && (ln->type != MS_JSON_ARRAY || (int)ln->count != k))
					return MS_ERROR(err, MS_EINVAL, "%s: token %lld, layer %d: expected %d expert ids", where,
							(long long)t, l, k);
				for (int q = 0; q < k; q++) {
					int64_t v;
					if (a) {
						int64_t ix[3] = {t, l, q};
						v = tr__npy_get_int(a, tr__npy_flat(a, ix));
					} else {
						if (en->type != MS_JSON_NUMBER || !en->is_int)
							return MS_ERROR(err, MS_EINVAL, "%s: token %lld, layer %d: expert ids must be integers",
									where, (long long)t, l);
						v = en->i;
						en = ms_json_next(j, en);
					}
					if (v < 0 || v >= TR_MAX_EXPERTS)
						return MS_ERROR(err, MS_EINVAL, "%s: token %lld, layer %d: expert id %lld is out of range",
								where, (long long)t, l, (long long)v);
					id[q] = (int16_t)v;
					m->scores[((size_t)T * L + l) * k + q] = 1.0f / (float)k;
				}
				snprintf(w2, sizeof w2, "%s: token %lld, layer %d", where, (long long)t, l);
				if ((rc = check_ids(m, id, k, w2, err)) < 0)
					return rc;
				m->have[(size_t)T * L + l] = 1;
				if (ln)
					ln = ms_json_next(j, ln);
			}
			m->tok[T].sequence = seq;
			m->tok[T].position = (int32_t)(pos0 + t);
			m->mask[T] = M_SEQ | M_POS;
			if (tn)
				tn = ms_json_next(j, tn);
		}
	}
	m->T += n;
	return MS_OK;
}

/* Adds a routed-experts value: a .npy buffer, a base64 .npy string or nested lists. */
static int vllm_value(imp *m, const ms_json *j, const ms_json_node *v, const unsigned char *npy, size_t npy_len,
		      int64_t seq, int32_t pos0, int64_t *added, const char *where, ms_error *err)
{
	tr__npy a;
	char msg[256];
	unsigned char *dec = NULL;
	size_t dlen;
	int rc;
	*added = 0;
	if (v && v->type == MS_JSON_STRING) {
		if (tr__base64_decode(ms_json_str(j, v), v->len, &dec, &dlen) < 0)
			return MS_ERROR(err, MS_EINVAL, "%s: routed experts string is not base64", where);
		npy = dec;
		npy_len = dlen;
	}
	if (npy) {
		if (tr__npy_parse(npy, npy_len, &a, msg, sizeof msg) < 0) {
			free(dec);
			return MS_ERROR(err, MS_EINVAL, "%s: %s", where, msg);
		}
		if (a.ndim != 3 || a.kind == 'f' || a.shape[1] < 1 || a.shape[1] > MAX_LAYERS || a.shape[2] < 1 ||
		    a.shape[2] > TR_MAX_EXPERTS) {
			free(dec);
			return MS_ERROR(err, MS_EINVAL,
					"%s: routed experts must be integers of shape [tokens, moe_layers, top_k]; this array has %d "
					"dimensions of kind '%c'",
					where, a.ndim, a.kind);
		}
		rc = vllm_add(m, &a, NULL, NULL, a.shape[0], (int)a.shape[1], (int)a.shape[2], seq, pos0, where, err);
		if (rc == MS_OK)
			*added = a.shape[0];
		free(dec);
		return rc;
	}
	if (!v || v->type == MS_JSON_NULL)
		return MS_OK;
	if (v->type != MS_JSON_ARRAY)
		return MS_ERROR(err, MS_EINVAL, "%s: routed experts must be a base64 .npy string or nested lists", where);
	if (v->count == 0)
		return MS_OK;
	{
		const ms_json_node *t0 = ms_json_first(j, v), *l0 = ms_json_first(j, t0);
		if (t0->type != MS_JSON_ARRAY || !l0 || l0->type != MS_JSON_ARRAY || l0->count == 0)
			return MS_ERROR(err, MS_EINVAL, "%s: routed experts lists must be [tokens][moe_layers][top_k]", where);
		rc = vllm_add(m, NULL, j, v, (int64_t)v->count, (int)t0->count, (int)l0->count, seq, pos0, where, err);
		if (rc == MS_OK)
			*added = (int64_t)v->count;
		return rc;
	}
}

/* One response object: prompt_routed_experts, then each choice's routed_experts. */
static int vllm_response(imp *m, const ms_json *j, const ms_json_node *r, int64_t *seq, const char *where,
			 ms_error *err)
{
	const ms_json_node *prompt, *choices, *direct;
	int64_t plen = 0, got;
	int rc, any = 0;
	if (r->type != MS_JSON_OBJECT)
		return MS_ERROR(err, MS_EINVAL, "%s: expected a JSON object (a vLLM response or completion output)", where);
	prompt = ms_json_get(j, r, "prompt_routed_experts");
	choices = ms_json_get(j, r, "choices");
	direct = ms_json_get(j, r, "routed_experts");
	if (prompt && prompt->type != MS_JSON_NULL) {
		if ((rc = vllm_value(m, j, prompt, NULL, 0, *seq, 0, &plen, where, err)) < 0)
			return rc;
		any = 1;
	}
	if (choices && choices->type == MS_JSON_ARRAY) {
		int c = 0;
		for (const ms_json_node *ch = ms_json_first(j, choices); ch; ch = ms_json_next(j, ch), c++) {
			/* Choice 0 continues the prompt's sequence; later choices are sequences of their own. */
			int64_t s = c == 0 ? *seq : ++*seq;
			if ((rc = vllm_value(m, j, ms_json_get(j, ch, "routed_experts"), NULL, 0, s, (int32_t)plen, &got, where,
					     err)) < 0)
				return rc;
			any |= got > 0;
		}
	} else if (direct && direct->type != MS_JSON_NULL) {
		if ((rc = vllm_value(m, j, direct, NULL, 0, *seq, (int32_t)plen, &got, where, err)) < 0)
			return rc;
		any = 1;
	}
	if (!any)
		return MS_ERROR(err, MS_EINVAL,
				"%s: no routed experts (\"prompt_routed_experts\", \"choices\"[].\"routed_experts\" or "
				"\"routed_experts\"): was vLLM started with --enable-return-routed-experts?",
				where);
	++*seq;
	return MS_OK;
}

static int import_vllm(imp *m, const char *const *inputs, int n, const tr_import_opts *o, ms_error *err)
{
	int64_t seq = 0;
	int rc = MS_OK;
	ms_json j;
	ms_json_init(&j);
	m->kind = TR_SCORE_OTHER;
	if (o->score_kind_set && o->score_kind != TR_SCORE_OTHER)
		return MS_ERROR(err, MS_EINVAL, "--score-kind: vLLM records expert ids only, no scores");
	for (int f = 0; f < n && rc == MS_OK; f++) {
		char *buf = NULL;
		size_t len = 0;
		if ((rc = slurp(inputs[f], &buf, &len, err)) < 0)
			break;
		if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0) {
			int64_t got;
			rc = vllm_value(m, NULL, NULL, (const unsigned char *)buf, len, seq, 0, &got, inputs[f], err);
			seq++;
		} else if (ms_json_parse(&j, buf, len, inputs[f], MS_JSON_FILE, NULL) == MS_OK) {
			/* One JSON document: a response, or an array of responses. */
			const ms_json_node *root = ms_json_root(&j);
			if (root->type == MS_JSON_ARRAY) {
				for (const ms_json_node *r = ms_json_first(&j, root); r && rc == MS_OK; r = ms_json_next(&j, r))
					rc = vllm_response(m, &j, r, &seq, inputs[f], err);
			} else {
				rc = vllm_response(m, &j, root, &seq, inputs[f], err);
			}
		} else {
			/* JSON lines: one response per line. */
			char *p = buf, *end = buf + len;
			int lineno = 0;
			while (p < end && rc == MS_OK) {
				char *nl = memchr(p, '\n', (size_t)(end - p)), where[1100];
				size_t a = 0, b = (size_t)((nl ? nl : end) - p);
				lineno++;
				while (a < b && (p[a] == ' ' || p[a] == '\t'))
					a++;
				while (b > a && (p[b - 1] == '\r' || p[b - 1] == ' '))
					b--;
				snprintf(where, sizeof where, "%s:%d", inputs[f], lineno);
				if (a < b) {
					ms_error perr;
					ms_error_clear(&perr);
					if ((rc = ms_json_parse(&j, p, b, inputs[f], lineno, &perr)) < 0)
						rc = MS_ERROR(err, rc, "%s (the file is neither a .npy array nor JSON)", perr.msg);
					else
						rc = vllm_response(m, &j, ms_json_root(&j), &seq, where, err);
				}
				p = nl ? nl + 1 : end;
			}
		}
		free(buf);
	}
	ms_json_fini(&j);
	snprintf(m->source, sizeof m->source,
		 "moesim trace import --format vllm from %s%s (vLLM routed_experts: expert ids only; scores set to 1/top_k)",
		 inputs[0], n > 1 ? " and more" : "");
	return rc;
}

/* ---- Megatron-Core router trace ---- */

typedef struct mrec {
	int64_t step;
	int rank, layer, file, line;
	int64_t ntok;
	int li;          /* layer index */
	int mb;          /* micro-batch index within (step, rank, layer) */
	int64_t t0;      /* first token */
	int64_t loff;    /* logits offset, -1 if none */
	int lwidth;      /* logits width */
} mrec;

typedef struct mstate {
	mrec *r;
	int64_t n, cap;
	int *layers;     /* distinct layer numbers, sorted */
	int nlayers;
	int64_t skipped; /* MTP records */
	int with_logits, without_logits;
} mstate;

static int mrec_cmp_key(const mrec *a, const mrec *b)
{
	if (a->step != b->step)
		return a->step < b->step ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* The sidecar logits_rank{R}.bin next to a router_trace_rank{R}.jsonl. */
static void sidecar_path(const char *jsonl, int rank, char *out, size_t n)
{
	const char *slash = strrchr(jsonl, '/');
	int dir = slash ? (int)(slash - jsonl + 1) : 0;
	snprintf(out, n, "%.*slogits_rank%d.bin", dir, jsonl, rank);
}

static float bf16_to_float(const unsigned char *p)
{
	uint32_t u = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 24; /* little-endian bfloat16: the high half of a float32 */
	float x;
	memcpy(&x, &u, sizeof x);
	return x;
}

static int megatron_line(imp *m, mstate *s, ms_json *j, const char *path, int fidx, int lineno, int pass,
			 int64_t *rec, const tr_import_opts *o, ms_error *err)
{
	char where[1100];
	const ms_json_node *root = ms_json_root(j), *blk, *ti;
	int64_t step, layer, rank, ntok, topk, loff = -1, v;
	int lwidth = 0;
	snprintf(where, sizeof where, "%s:%d", path, lineno);
	if (root->type != MS_JSON_OBJECT)
		return MS_ERROR(err, MS_EINVAL, "%s: expected a JSON object (a Megatron router trace record)", where);
	blk = ms_json_get(j, root, "block");
	if (blk && blk->type == MS_JSON_STRING && strcmp(ms_json_str(j, blk), "decoder") != 0) {
		if (pass == 1)
			s->skipped++;
		return MS_OK; /* MTP heads are not MoE layers of the model proper */
	}
	if (int_field(j, root, "step", 0, INT32_MAX, &step, where, err) <= 0 ||
	    int_field(j, root, "layer", 0, 1000000, &layer, where, err) <= 0 ||
	    int_field(j, root, "rank", 0, INT32_MAX, &rank, where, err) <= 0 ||
	    int_field(j, root, "num_tokens", 0, MAX_TOKENS, &ntok, where, err) <= 0 ||
	    int_field(j, root, "topk", 1, TR_MAX_EXPERTS, &topk, where, err) <= 0)
		return err && err->code ? err->code
					: MS_ERROR(err, MS_EINVAL,
						   "%s: a router trace record needs \"step\", \"layer\", \"rank\", \"num_tokens\", "
						   "\"topk\"",
						   where);
	ti = ms_json_get(j, root, "top_indices");
	if (!ti || ti->type != MS_JSON_ARRAY || (int64_t)ti->count != ntok)
		return MS_ERROR(err, MS_EINVAL, "%s: \"top_indices\" must be an array of num_tokens = %lld rows", where,
				(long long)ntok);
	if (int_field(j, root, "logit_offset", 0, INT64_MAX, &v, where, err) > 0) {
		const ms_json_node *shape = ms_json_get(j, root, "logit_shape"), *a, *b;
		a = ms_json_first(j, shape);
		b = ms_json_next(j, a);
		if (!shape || shape->type != MS_JSON_ARRAY || shape->count != 2 || !a->is_int || !b->is_int || a->i != ntok ||
		    b->i < 1 || b->i > TR_MAX_EXPERTS)
			return MS_ERROR(err, MS_EINVAL, "%s: \"logit_shape\" must be [num_tokens, num_experts]", where);
		loff = v;
		lwidth = (int)b->i;
	} else if (err && err->code) {
		return err->code;
	}
	if (pass == 1) {
		if (m->K == 0)
			m->K = (int)topk;
		else if (topk != m->K)
			return MS_ERROR(err, MS_EINVAL, "%s: topk = %lld but earlier records have %d", where, (long long)topk, m->K);
		if (s->n == s->cap) {
			int64_t nc = s->cap ? 2 * s->cap : 256;
			void *p = realloc(s->r, (size_t)nc * sizeof *s->r);
			if (!p)
				return MS_ERROR(err, MS_ENOMEM, "out of memory");
			s->r = p;
			s->cap = nc;
		}
		s->r[s->n] = (mrec){step, (int)rank, (int)layer, fidx, lineno, ntok, 0, 0, 0, loff, lwidth};
		s->n++;
		if (loff >= 0)
			s->with_logits++;
		else
			s->without_logits++;
		return MS_OK;
	}
	{
		const mrec *r = &s->r[(*rec)++];
		const int L = m->L, K = m->K, LE = m->LE;
		unsigned char *raw = NULL;
		int rc = MS_OK;
		MS_ASSERT(r->line == lineno && r->file == fidx, "record %lld: line %d/%d file %d/%d", (long long)*rec, r->line,
			  lineno, r->file, fidx);
		if (LE > 0) {
			char side[1200];
			FILE *f;
			sidecar_path(path, r->rank, side, sizeof side);
			f = fopen(side, "rb");
			raw = malloc((size_t)ntok * (size_t)LE * 2 + 1);
			if (!f || !raw || fseeko(f, (off_t)r->loff, SEEK_SET) != 0 ||
			    fread(raw, 2, (size_t)ntok * (size_t)LE, f) != (size_t)ntok * (size_t)LE) {
				rc = MS_ERROR(err, MS_EIO, "%s: cannot read %lld x %d logits at offset %lld of '%s'%s", where,
					      (long long)ntok, LE, (long long)r->loff, side, f ? " (truncated?)" : "");
			}
			if (f)
				fclose(f);
		}
		{
			int64_t t = r->t0;
			const ms_json_node *row = ms_json_first(j, ti);
			for (int64_t i = 0; i < ntok && rc == MS_OK; i++, t++, row = ms_json_next(j, row)) {
				size_t cell = (size_t)t * L + (size_t)r->li;
				int16_t *id = m->ids + cell * K;
				float *sc = m->scores + cell * K;
				const ms_json_node *e;
				char w2[1200];
				if (row->type != MS_JSON_ARRAY || (int)row->count != K) {
					rc = MS_ERROR(err, MS_EINVAL, "%s: top_indices[%lld] must list topk = %d experts", where,
						      (long long)i, K);
					break;
				}
				e = ms_json_first(j, row);
				for (int q = 0; q < K; q++, e = ms_json_next(j, e)) {
					int lim = LE > 0 ? LE : o->experts > 0 ? o->experts : TR_MAX_EXPERTS;
					if (e->type != MS_JSON_NUMBER || !e->is_int || e->i < 0 || e->i >= lim) {
						rc = MS_ERROR(err, MS_EINVAL, "%s: top_indices[%lld][%d] must be an expert id in 0..%d", where,
							      (long long)i, q, lim - 1);
						break;
					}
					id[q] = (int16_t)e->i;
				}
				if (rc)
					break;
				snprintf(w2, sizeof w2, "%s: top_indices[%lld]", where, (long long)i);
				if ((rc = check_ids(m, id, K, w2, err)) < 0)
					break;
				if (LE > 0) {
					float *lg = m->logits + cell * LE;
					double mx = -INFINITY, sum = 0;
					for (int e2 = 0; e2 < LE; e2++) {
						lg[e2] = bf16_to_float(raw + ((size_t)i * LE + e2) * 2);
						if (!isfinite(lg[e2])) {
							rc = MS_ERROR(err, MS_EINVAL, "%s: logit %d of token %lld is not finite", where, e2,
								      (long long)i);
							break;
						}
						mx = lg[e2] > mx ? lg[e2] : mx;
					}
					if (rc)
						break;
					for (int e2 = 0; e2 < LE; e2++)
						sum += exp(lg[e2] - mx);
					for (int q = 0; q < K; q++) {
						double z = lg[id[q]];
						sc[q] = m->kind == TR_SCORE_SOFTMAX   ? (float)(exp(z - mx) / sum)
							: m->kind == TR_SCORE_SIGMOID ? (float)(1.0 / (1.0 + exp(-z)))
										      : (float)z;
					}
					/* Rank the selected experts by score (routing maps list them by id). */
					for (int q = 1; q < K; q++)
						for (int p2 = q; p2 > 0 && (sc[p2] > sc[p2 - 1] || (sc[p2] == sc[p2 - 1] && id[p2] < id[p2 - 1])); p2--) {
							float ts = sc[p2];
							int16_t tid = id[p2];
							sc[p2] = sc[p2 - 1];
							id[p2] = id[p2 - 1];
							sc[p2 - 1] = ts;
							id[p2 - 1] = tid;
						}
				} else {
					for (int q = 0; q < K; q++)
						sc[q] = 1.0f / (float)K;
				}
				m->have[cell] = 1;
				m->tok[t].step = (int32_t)r->step;
				m->tok[t].rank = r->rank;
				m->tok[t].position = (int32_t)i;
				m->mask[t] = M_STEP | M_RANK | M_SEQ | M_POS;
			}
		}
		free(raw);
		return rc;
	}
}

/* Expands directory arguments into their router_trace_rank*.jsonl files, sorted by rank. */
static int megatron_files(const char *const *inputs, int n, char ***files, int *nfiles, ms_error *err)
{
	char **out = NULL;
	int cnt = 0, cap = 0;
	for (int i = 0; i < n; i++) {
		struct stat st;
		if (stat(inputs[i], &st) != 0) {
			MS_ERROR(err, MS_EIO, "cannot read '%s': %s", inputs[i], strerror(errno));
			goto fail;
		}
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(inputs[i]);
			struct dirent *de;
			int found = 0, *ranks = NULL;
			if (!d) {
				MS_ERROR(err, MS_EIO, "cannot list '%s': %s", inputs[i], strerror(errno));
				goto fail;
			}
			while ((de = readdir(d)) != NULL) {
				int r;
				char tail[8];
				if (sscanf(de->d_name, "router_trace_rank%d.jsonl%1s", &r, tail) == 1 && r >= 0) {
					void *p = realloc(ranks, (size_t)(found + 1) * sizeof *ranks);
					if (!p) {
						free(ranks);
						closedir(d);
						MS_ERROR(err, MS_ENOMEM, "out of memory");
						goto fail;
					}
					ranks = p;
					ranks[found++] = r;
				}
			}
			closedir(d);
			if (found == 0) {
				free(ranks);
				MS_ERROR(err, MS_EINVAL, "%s: no router_trace_rank*.jsonl files in this directory", inputs[i]);
				goto fail;
			}
			qsort(ranks, (size_t)found, sizeof *ranks, cmp_int);
			for (int k = 0; k < found; k++) {
				size_t len = strlen(inputs[i]) + 48;
				if (cnt == cap) {
					int nc = cap ? 2 * cap : 16;
					void *p = realloc(out, (size_t)nc * sizeof *out);
					if (!p) {
						free(ranks);
						MS_ERROR(err, MS_ENOMEM, "out of memory");
						goto fail;
					}
					out = p;
					cap = nc;
				}
				out[cnt] = malloc(len);
				if (!out[cnt]) {
					free(ranks);
					MS_ERROR(err, MS_ENOMEM, "out of memory");
					goto fail;
				}
				snprintf(out[cnt++], len, "%s/router_trace_rank%d.jsonl", inputs[i], ranks[k]);
			}
			free(ranks);
		} else {
			if (cnt == cap) {
				int nc = cap ? 2 * cap : 16;
				void *p = realloc(out, (size_t)nc * sizeof *out);
				if (!p) {
					MS_ERROR(err, MS_ENOMEM, "out of memory");
					goto fail;
				}
				out = p;
				cap = nc;
			}
			if (!(out[cnt] = strdup(inputs[i]))) {
				MS_ERROR(err, MS_ENOMEM, "out of memory");
				goto fail;
			}
			cnt++;
		}
	}
	*files = out;
	*nfiles = cnt;
	return MS_OK;
fail:
	for (int i = 0; i < cnt; i++)
		free(out[i]);
	free(out);
	return err ? err->code : MS_EINVAL;
}

/* Orders the records: (step, rank) groups, micro-batches by appearance; assigns tokens. */
static int megatron_layout(imp *m, mstate *s, char **files, ms_error *err)
{
	int64_t *order = NULL, t = 0;
	int rc = MS_OK;
	if (s->n == 0)
		return MS_ERROR(err, MS_EINVAL, "%s: no decoder router records", files[0]);
	/* Distinct layer numbers. */
	s->layers = malloc((size_t)s->n * sizeof *s->layers);
	order = malloc((size_t)s->n * sizeof *order);
	if (!s->layers || !order) {
		free(order);
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	}
	for (int64_t i = 0; i < s->n; i++)
		s->layers[i] = s->r[i].layer;
	qsort(s->layers, (size_t)s->n, sizeof *s->layers, cmp_int);
	s->nlayers = 0;
	for (int64_t i = 0; i < s->n; i++)
		if (s->nlayers == 0 || s->layers[s->nlayers - 1] != s->layers[i])
			s->layers[s->nlayers++] = s->layers[i];
	m->L = s->nlayers;
	for (int64_t i = 0; i < s->n; i++) {
		int *hit = bsearch(&s->r[i].layer, s->layers, (size_t)s->nlayers, sizeof *s->layers, cmp_int);
		s->r[i].li = (int)(hit - s->layers);
	}
	/* Stable sort of record indices by (step, rank): insertion into runs via merge sort. */
	{
		int64_t *tmp = malloc((size_t)s->n * sizeof *tmp);
		if (!tmp) {
			free(order);
			return MS_ERROR(err, MS_ENOMEM, "out of memory");
		}
		for (int64_t i = 0; i < s->n; i++)
			order[i] = i;
		for (int64_t w = 1; w < s->n; w *= 2) {
			for (int64_t lo = 0; lo < s->n; lo += 2 * w) {
				int64_t mid = lo + w < s->n ? lo + w : s->n, hi = lo + 2 * w < s->n ? lo + 2 * w : s->n;
				int64_t a = lo, b = mid, o = lo;
				while (a < mid && b < hi)
					tmp[o++] = mrec_cmp_key(&s->r[order[b]], &s->r[order[a]]) < 0 ? order[b++] : order[a++];
				while (a < mid)
					tmp[o++] = order[a++];
				while (b < hi)
					tmp[o++] = order[b++];
			}
			memcpy(order, tmp, (size_t)s->n * sizeof *order);
		}
		free(tmp);
	}
	/* Each (step, rank) group: layer l's m-th record is micro-batch m; all layers must agree. */
	for (int64_t g0 = 0; g0 < s->n && rc == MS_OK;) {
		int64_t g1 = g0, nmb = -1;
		int *count = calloc((size_t)m->L, sizeof *count);
		if (!count) {
			rc = MS_ERROR(err, MS_ENOMEM, "out of memory");
			break;
		}
		while (g1 < s->n && mrec_cmp_key(&s->r[order[g1]], &s->r[order[g0]]) == 0)
			g1++;
		for (int64_t i = g0; i < g1; i++) {
			mrec *r = &s->r[order[i]];
			r->mb = count[r->li]++;
		}
		for (int l = 0; l < m->L && rc == MS_OK; l++) {
			if (nmb < 0)
				nmb = count[l];
			if (count[l] != nmb) {
				const mrec *r = &s->r[order[g0]];
				rc = MS_ERROR(err, MS_EINVAL,
					      "%s: step %lld, rank %d: layer %d has %d router records but layer %d has %lld (every "
					      "layer must route the same micro-batches; activation recomputation records a "
					      "forward twice)",
					      files[r->file], (long long)r->step, r->rank, s->layers[l], count[l], s->layers[0],
					      (long long)nmb);
			}
		}
		/* Micro-batch m's tokens: sizes must match across layers. */
		for (int64_t mb = 0; mb < nmb && rc == MS_OK; mb++) {
			int64_t size = -1;
			for (int64_t i = g0; i < g1 && rc == MS_OK; i++) {
				mrec *r = &s->r[order[i]];
				if (r->mb != mb)
					continue;
				if (size < 0)
					size = r->ntok;
				else if (r->ntok != size)
					rc = MS_ERROR(err, MS_EINVAL, "%s:%d: layer %d routes %lld tokens in this micro-batch, other layers %lld",
						      files[r->file], r->line, r->layer, (long long)r->ntok, (long long)size);
				r->t0 = t;
			}
			t += size > 0 ? size : 0;
		}
		free(count);
		g0 = g1;
	}
	/* Sequences: one per micro-batch of a (step, rank); set after the sizes are known. */
	if (rc == MS_OK) {
		int64_t k = 0;
		m->T = 0;
		if ((rc = imp_reserve(m, t, err)) == MS_OK) {
			m->T = t;
			for (int64_t g0 = 0; g0 < s->n; g0++) {
				const mrec *r = &s->r[order[g0]];
				if (r->li != 0)
					continue;
				for (int64_t i = 0; i < r->ntok; i++)
					m->tok[r->t0 + i].sequence = k;
				k++;
			}
		}
	}
	free(order);
	return rc;
}

static int import_megatron(imp *m, const char *const *inputs, int n, const tr_import_opts *o, ms_error *err)
{
	char **files = NULL, *line = NULL;
	int nfiles = 0, rc;
	size_t cap = 0;
	mstate s;
	ms_json j;
	memset(&s, 0, sizeof s);
	ms_json_init(&j);
	if ((rc = megatron_files(inputs, n, &files, &nfiles, err)) < 0)
		return rc;
	for (int pass = 1; pass <= 2 && rc == MS_OK; pass++) {
		int64_t rec = 0;
		if (pass == 2) {
			if (s.with_logits && s.without_logits) {
				rc = MS_ERROR(err, MS_EINVAL, "%s: some router records have logits and some do not", files[0]);
				break;
			}
			if (s.with_logits) {
				int w = s.r[0].lwidth;
				for (int64_t i = 0; i < s.n; i++)
					if (s.r[i].lwidth != w) {
						rc = MS_ERROR(err, MS_EINVAL, "%s:%d: logits of %d experts, earlier records %d",
							      files[s.r[i].file], s.r[i].line, s.r[i].lwidth, w);
						break;
					}
				if (rc)
					break;
				if (o->experts > 0 && o->experts != w) {
					rc = MS_ERROR(err, MS_EINVAL, "--experts %d but the logits have %d experts", o->experts, w);
					break;
				}
				m->LE = w;
				m->kind = o->score_kind_set ? o->score_kind : TR_SCORE_SOFTMAX;
			} else {
				m->kind = TR_SCORE_OTHER;
				if (o->score_kind_set && o->score_kind != TR_SCORE_OTHER) {
					rc = MS_ERROR(err, MS_EINVAL, "--score-kind %s needs the logits sidecar (--moe-routing-trace "
								      "with capture_logits)",
						      tr_score_kind_name(o->score_kind));
					break;
				}
			}
			if ((rc = megatron_layout(m, &s, files, err)) < 0)
				break;
		}
		for (int f = 0; f < nfiles && rc == MS_OK; f++) {
			FILE *fp = fopen(files[f], "r");
			ssize_t len;
			int lineno = 0;
			if (!fp) {
				rc = MS_ERROR(err, MS_EIO, "cannot read '%s': %s", files[f], strerror(errno));
				break;
			}
			while (rc == MS_OK && (len = getline(&line, &cap, fp)) >= 0) {
				size_t b = (size_t)len;
				lineno++;
				while (b > 0 && (line[b - 1] == '\n' || line[b - 1] == '\r' || line[b - 1] == ' '))
					b--;
				if (b == 0)
					continue;
				if ((rc = ms_json_parse(&j, line, b, files[f], lineno, err)) == MS_OK)
					rc = megatron_line(m, &s, &j, files[f], f, lineno, pass, &rec, o, err);
			}
			fclose(fp);
		}
	}
	if (rc == MS_OK) {
		int nl = s.nlayers;
		snprintf(m->source, sizeof m->source,
			 "moesim trace import --format megatron from %s%s (Megatron-Core router_trace.py records; MoE layers are "
			 "Megatron layers %d..%d in order; sequence = micro-batch, position = row of the router input%s)",
			 files[0], nfiles > 1 ? " and more" : "", nl ? s.layers[0] : 0, nl ? s.layers[nl - 1] : 0,
			 m->LE ? "; scores from the bfloat16 logits sidecar, experts ranked by score"
			       : "; no logits: scores set to 1/topk, experts in recorded order");
		if (s.skipped)
			snprintf(m->note, sizeof m->note, "skipped %lld MTP (multi-token prediction) records", (long long)s.skipped);
	}
	for (int i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	free(line);
	free(s.r);
	free(s.layers);
	ms_json_fini(&j);
	return rc;
}

int tr_import(const char *const *inputs, int n, const char *out, int force, const tr_import_opts *o,
	      tr_import_result *res, ms_error *err)
{
	imp m;
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
	case TR_IMPORT_JSONL: rc = import_jsonl(&m, inputs, n, o, err); break;
	case TR_IMPORT_VLLM: rc = import_vllm(&m, inputs, n, o, err); break;
	default: rc = import_megatron(&m, inputs, n, o, err); break;
	}
	if (rc == MS_OK)
		rc = finish(&m, inputs[0], out, force, o, res, err);
	imp_free(&m);
	return rc;
}
