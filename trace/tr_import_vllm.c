/*
 * tr_import_vllm.c - vLLM's routed experts (`moesim trace import --format vllm`): what
 * vLLM returns with --enable-return-routed-experts, expert ids [tokens, moe_layers,
 * top_k], as .npy files (one per sequence) or JSON responses (one per file or per line)
 * holding prompt_routed_experts / choices[].routed_experts as base64 .npy or nested lists
 * (tr_import.h, docs/trace-tools.md).
 *
 * One pass: every block of ids is appended as a sequence (a choice continues its prompt's
 * sequence; later choices are sequences of their own). vLLM records ids only, so scores
 * are 1/top_k. A file is read whole (responses are small); O(ids) time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ms_file.h"
#include "trace/tr_import_internal.h"
#include "trace/tr_npy.h"


/* Appends one [tokens, layers, k] block of ids as a new sequence (or its continuation). */
static int vllm_add(tr__imp *m, const tr__npy *a, const ms_json *j, const ms_json_node *list, int64_t n, int L, int k,
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
	if ((rc = tr__imp_reserve(m, m->T + n, err)) < 0)
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
				if ((rc = tr__imp_check_ids(m, id, k, w2, err)) < 0)
					return rc;
				m->have[(size_t)T * L + l] = 1;
				if (ln)
					ln = ms_json_next(j, ln);
			}
			m->tok[T].sequence = seq;
			m->tok[T].position = (int32_t)(pos0 + t);
			m->mask[T] = TR__M_SEQ | TR__M_POS;
			if (tn)
				tn = ms_json_next(j, tn);
		}
	}
	m->T += n;
	return MS_OK;
}

/* Adds a routed-experts value: a .npy buffer, a base64 .npy string or nested lists. */
static int vllm_value(tr__imp *m, const ms_json *j, const ms_json_node *v, const unsigned char *npy, size_t npy_len,
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
		if (a.ndim != 3 || a.kind == 'f' || a.shape[1] < 1 || a.shape[1] > TR__IMP_MAX_LAYERS || a.shape[2] < 1 ||
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
static int vllm_response(tr__imp *m, const ms_json *j, const ms_json_node *r, int64_t *seq, const char *where,
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

int tr__import_vllm(tr__imp *m, const char *const *inputs, int n, const tr_import_opts *o, ms_error *err)
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
		if ((rc = ms_file_read(inputs[f], &buf, &len, err)) < 0)
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
				size_t b = (size_t)((nl ? nl : end) - p);
				lineno++;
				snprintf(where, sizeof where, "%s:%d", inputs[f], lineno);
				if (!tr__imp_blank(p, b)) {
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
