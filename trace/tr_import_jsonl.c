/*
 * tr_import_jsonl.c - the generic JSON-lines importer (`moesim trace import --format
 * jsonl`): one object per line and (token, layer), {"layer", "token", "experts",
 * optional "probs", "step", "sequence", "position", "rank", "domain"} (tr_import.h).
 *
 * Two passes over the files: the first checks every line's shape and finds L, K and T
 * (the largest layer and token + 1), the second fills the table. Lines may come in any
 * order; a (token, layer) given twice, or metadata a token's lines disagree on, is an
 * error naming both lines. O(lines) time; memory one line plus the table.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trace/tr_import_internal.h"

/* What the line function needs besides the line. */
typedef struct jsonl_ctx {
	tr__imp *m;
	int pass;
	const tr_import_opts *o;
	int64_t *lines;       /* pass 1: routing lines seen */
	char *max_where;      /* pass 1: where the largest token was (path:line) */
	size_t max_where_len;
} jsonl_ctx;

/* One (token, layer) record: pass 1 sizes the table, pass 2 fills it. */
static int jsonl_line(void *ctx, ms_json *j, const char *path, int file, int lineno, ms_error *err)
{
	const jsonl_ctx *c = ctx;
	tr__imp *m = c->m;
	const int pass = c->pass;
	const tr_import_opts *o = c->o;
	char where[1100];
	const ms_json_node *root = ms_json_root(j), *ex, *pr, *dn;
	int64_t layer, token, v;
	int k, has_probs;
	(void)file;
	snprintf(where, sizeof where, "%s:%d", path, lineno);
	if (root->type != MS_JSON_OBJECT)
		return MS_ERROR(err, MS_EINVAL, "%s: expected a JSON object per line", where);
	if (tr__imp_int_field(j, root, "layer", 0, TR__IMP_MAX_LAYERS - 1, &layer, where, err) <= 0 ||
	    tr__imp_int_field(j, root, "token", 0, TR__IMP_MAX_TOKENS - 1, &token, where, err) <= 0)
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
		if (token + 1 > m->T) {
			m->T = token + 1;
			snprintf(c->max_where, c->max_where_len, "%s", where);
		}
		++*c->lines;
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
		if ((rc = tr__imp_check_ids(m, id, k, where, err)) < 0)
			return rc;
		/* Metadata: the same token may carry it on several lines; they must agree. */
		{
			static const struct {
				const char *key;
				int bit;
				int64_t lo, hi;
			} f[4] = {{"step", TR__M_STEP, 0, INT32_MAX}, {"sequence", TR__M_SEQ, INT64_MIN, INT64_MAX},
				  {"position", TR__M_POS, 0, INT32_MAX}, {"rank", TR__M_RANK, 0, INT32_MAX}};
			for (int i = 0; i < 4; i++) {
				int got = tr__imp_int_field(j, root, f[i].key, f[i].lo, f[i].hi, &v, where, err);
				int64_t cur;
				if (got < 0)
					return err->code;
				if (!got)
					continue;
				cur = f[i].bit == TR__M_STEP ? tk->step : f[i].bit == TR__M_SEQ ? tk->sequence : f[i].bit == TR__M_POS ? tk->position : tk->rank;
				if ((m->mask[token] & f[i].bit) && cur != v)
					return MS_ERROR(err, MS_EINVAL, "%s: token %lld has \"%s\" %lld here but %lld on line %d", where,
							(long long)token, f[i].key, (long long)v, (long long)cur, m->meta_line[token]);
				if (f[i].bit == TR__M_STEP)
					tk->step = (int32_t)v;
				else if (f[i].bit == TR__M_SEQ)
					tk->sequence = v;
				else if (f[i].bit == TR__M_POS)
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
			if ((d = tr__imp_domain(m, name, err)) < 0)
				return d;
			if ((m->mask[token] & TR__M_DOM) && tk->domain != d)
				return MS_ERROR(err, MS_EINVAL, "%s: token %lld has domain \"%s\" here but \"%s\" on line %d", where,
						(long long)token, name, m->names[tk->domain], m->meta_line[token]);
			tk->domain = (int16_t)d;
			if (!m->mask[token])
				m->meta_line[token] = lineno;
			m->mask[token] |= TR__M_DOM;
		}
	}
	return MS_OK;
}

int tr__import_jsonl(tr__imp *m, const char *const *inputs, int n, const tr_import_opts *o, ms_error *err)
{
	ms_json j;
	int rc = MS_OK;
	int64_t lines = 0;
	char max_where[1100] = "";
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
			/* The table is dense in tokens: with more tokens than lines some token has
			 * no line at all, so refuse before allocating for a token id far beyond
			 * the input (found by fuzzing: one line with token 22147483648 asked for
			 * 256 GiB; tests/fuzz/regress/import_jsonl/). With T <= lines the table is
			 * proportionate to the input and the fill pass names the missing cell. */
			if (m->T > lines) {
				rc = MS_ERROR(err, MS_EINVAL,
					      "%s: token %lld, but the input has only %lld line%s: tokens must be numbered "
					      "0 .. T-1 with one line per layer each",
					      max_where, (long long)(m->T - 1), (long long)lines, lines == 1 ? "" : "s");
				break;
			}
			{
				int64_t T = m->T;
				m->T = 0;
				if ((rc = tr__imp_reserve(m, T, err)) < 0)
					break;
				m->T = T;
			}
		}
		for (int f = 0; f < n && rc == MS_OK; f++) {
			jsonl_ctx c = {m, pass, o, &lines, max_where, sizeof max_where};
			rc = tr__imp_each_line(inputs[f], f, &j, jsonl_line, &c, err);
		}
	}
	ms_json_fini(&j);
	snprintf(m->source, sizeof m->source, "moesim trace import --format jsonl from %s%s%s", inputs[0],
		 n > 1 ? " and more" : "", m->has_scores ? "" : " (no probabilities recorded: scores set to 1/depth)");
	return rc;
}
