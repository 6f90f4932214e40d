/*
 * tr_import_megatron.c - Megatron-Core's router trace (`moesim trace import --format
 * megatron`; megatron/core/transformer/moe/router_trace.py, --moe-routing-trace-path):
 * router_trace_rank{R}.jsonl files, one record per (step, layer, micro-batch) with
 * "top_indices", and the optional bfloat16 logits_rank{R}.bin sidecar next to them
 * (tr_import.h, docs/trace-tools.md).
 *
 * Two passes: the first lists every decoder record (MTP records are skipped and counted),
 * the layout then orders them by (step, rank), numbers each group's micro-batches by
 * appearance (every layer must route the same micro-batches with the same token counts)
 * and assigns tokens; the second pass fills the cells, with scores from the logits when
 * the sidecar is there (experts then ranked by score) and 1/topk when not. O(records log
 * records + ids) time; memory the record list plus the table.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trace/tr_import_internal.h"

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

static int mrec_index_cmp(const void *ctx, int64_t a, int64_t b)
{
	const mrec *r = ctx;
	return mrec_cmp_key(&r[a], &r[b]);
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

/* What the line function needs besides the line. */
typedef struct megatron_ctx {
	tr__imp *m;
	mstate *s;
	int pass;
	int64_t *rec; /* pass 2: the next record of s */
	const tr_import_opts *o;
} megatron_ctx;

/* One router record: pass 1 lists it in s, pass 2 fills its tokens' cells. */
static int megatron_line(void *ctx, ms_json *j, const char *path, int fidx, int lineno, ms_error *err)
{
	const megatron_ctx *c = ctx;
	tr__imp *m = c->m;
	mstate *s = c->s;
	const int pass = c->pass;
	int64_t *rec = c->rec;
	const tr_import_opts *o = c->o;
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
	if (tr__imp_int_field(j, root, "step", 0, INT32_MAX, &step, where, err) <= 0 ||
	    tr__imp_int_field(j, root, "layer", 0, 1000000, &layer, where, err) <= 0 ||
	    tr__imp_int_field(j, root, "rank", 0, INT32_MAX, &rank, where, err) <= 0 ||
	    tr__imp_int_field(j, root, "num_tokens", 0, TR__IMP_MAX_TOKENS, &ntok, where, err) <= 0 ||
	    tr__imp_int_field(j, root, "topk", 1, TR_MAX_EXPERTS, &topk, where, err) <= 0)
		return err && err->code ? err->code
					: MS_ERROR(err, MS_EINVAL,
						   "%s: a router trace record needs \"step\", \"layer\", \"rank\", \"num_tokens\", "
						   "\"topk\"",
						   where);
	ti = ms_json_get(j, root, "top_indices");
	if (!ti || ti->type != MS_JSON_ARRAY || (int64_t)ti->count != ntok)
		return MS_ERROR(err, MS_EINVAL, "%s: \"top_indices\" must be an array of num_tokens = %lld rows", where,
				(long long)ntok);
	if (tr__imp_int_field(j, root, "logit_offset", 0, INT64_MAX, &v, where, err) > 0) {
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
				if ((rc = tr__imp_check_ids(m, id, K, w2, err)) < 0)
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
				m->mask[t] = TR__M_STEP | TR__M_RANK | TR__M_SEQ | TR__M_POS;
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
static int megatron_layout(tr__imp *m, mstate *s, char **files, ms_error *err)
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
	/* Record indices in (step, rank) order, records of one group in file order. */
	{
		int64_t *tmp = malloc((size_t)s->n * sizeof *tmp);
		if (!tmp) {
			free(order);
			return MS_ERROR(err, MS_ENOMEM, "out of memory");
		}
		tr__imp_sort_stable(order, tmp, s->n, mrec_index_cmp, s->r);
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
		if ((rc = tr__imp_reserve(m, t, err)) == MS_OK) {
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

int tr__import_megatron(tr__imp *m, const char *const *inputs, int n, const tr_import_opts *o, ms_error *err)
{
	char **files = NULL;
	int nfiles = 0, rc;
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
			megatron_ctx c = {m, &s, pass, &rec, o};
			rc = tr__imp_each_line(files[f], f, &j, megatron_line, &c, err);
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
	free(s.r);
	free(s.layers);
	ms_json_fini(&j);
	return rc;
}
