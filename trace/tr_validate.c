/*
 * tr_validate.c - full trace validation (see tr_validate.h).
 *
 * The header is checked by tr__header_open in strict mode; when it is usable the data is
 * scanned in blocks of one chunk (token metadata once per block, then every layer), so
 * each chunk is decompressed once and memory does not depend on T. Duplicate ids are
 * found with a stamp array over experts (O(K) per token, not O(K^2): full rankings of 256
 * experts are common). Problems past max_report are counted without being formatted.
 *
 * Two header rules are checked here rather than by the shared header reader, which the
 * replay also uses and which is lenient on purpose: root attributes must be scalars (the
 * reader takes a one-element array as its value), and `created` must be an ISO 8601
 * date-time. tests/data/traces/make_bad.py holds the bad files both validators (this one
 * and tools/moesim_record.py's) must reject.
 */
#include "trace/tr_validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/tr_h5.h"

typedef struct vctx {
	tr_problem_fn report;
	void *ctx;
	int64_t max_report;
	int64_t count;
	const char *path;
} vctx;

static void forward(void *c, const char *msg)
{
	vctx *v = c;
	if (v->count < v->max_report && v->report)
		v->report(v->ctx, msg);
	v->count++;
}

static void problem(vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(vctx *v, const char *fmt, ...)
{
	char msg[MS_ERROR_MSG_MAX];
	int n;
	va_list ap;
	if (v->count >= v->max_report || !v->report) {
		v->count++;
		return;
	}
	n = snprintf(msg, sizeof msg, "%s: ", v->path);
	if (n < 0 || (size_t)n >= sizeof msg)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	va_end(ap);
	forward(v, msg);
}

typedef struct buffers {
	int16_t *ids;
	float *scores, *logits;
	int32_t *step, *pos, *rank;
	int64_t *seq;
	int16_t *dom;
	uint64_t *stamp; /* [E]: last token-serial that listed the expert, + its rank in the low bits */
} buffers;

static void free_buffers(buffers *b)
{
	free(b->ids);
	free(b->scores);
	free(b->logits);
	free(b->step);
	free(b->pos);
	free(b->rank);
	free(b->seq);
	free(b->dom);
	free(b->stamp);
}

/* 0 if every piece of token metadata in the block is readable, else reports and returns -1. */
static int check_tokens(vctx *v, tr__header *h, buffers *b, int64_t t0, int64_t n, int *have_prev, int64_t prev[4])
{
	struct {
		int which;
		hid_t type;
		void *buf;
	} rd[5] = {
		{TR__DS_STEP, H5T_NATIVE_INT32, b->step},     {TR__DS_SEQUENCE, H5T_NATIVE_INT64, b->seq},
		{TR__DS_POSITION, H5T_NATIVE_INT32, b->pos},  {TR__DS_RANK, H5T_NATIVE_INT32, b->rank},
		{TR__DS_DOMAIN, H5T_NATIVE_INT16, b->dom},
	};
	int D = h->info.num_domains, ok = 1;
	for (int i = 0; i < 5; i++) {
		if (h->ds[rd[i].which] < 0)
			continue;
		if (tr__read_block(h->ds[rd[i].which], rd[i].type, 1, 0, t0, n, 0, rd[i].buf) < 0) {
			problem(v, "%s: cannot read tokens %lld..%lld: the file is truncated or corrupt", tr__ds_path[rd[i].which],
				(long long)t0, (long long)(t0 + n - 1));
			ok = 0;
		}
	}
	if (!ok) {
		*have_prev = 0;
		return -1;
	}
	for (int64_t i = 0; i < n; i++) {
		int64_t t = t0 + i, key[4] = {b->step[i], b->rank[i], b->seq[i], b->pos[i]};
		if (b->rank[i] < 0)
			problem(v, "/tokens/rank[%lld] = %d is negative", (long long)t, b->rank[i]);
		if (b->pos[i] < 0)
			problem(v, "/tokens/position[%lld] = %d is negative", (long long)t, b->pos[i]);
		if (h->ds[TR__DS_DOMAIN] >= 0 && (b->dom[i] < 0 || b->dom[i] >= D))
			problem(v, "/tokens/domain[%lld] = %d is out of range: %d domain names", (long long)t, b->dom[i], D);
		if (*have_prev) {
			int c = 0;
			for (int q = 0; q < 4 && c == 0; q++)
				c = key[q] > prev[q] ? 1 : key[q] < prev[q] ? -1 : 0;
			if (c <= 0)
				problem(v,
					"token %lld (step %lld, rank %lld, sequence %lld, position %lld) %s token %lld (step %lld, "
					"rank %lld, sequence %lld, position %lld): tokens must be strictly ordered by step, rank, "
					"sequence, position",
					(long long)t, (long long)key[0], (long long)key[1], (long long)key[2], (long long)key[3],
					c == 0 ? "repeats" : "comes after", (long long)t - 1, (long long)prev[0], (long long)prev[1],
					(long long)prev[2], (long long)prev[3]);
		}
		memcpy(prev, key, sizeof key);
		*have_prev = 1;
	}
	return 0;
}

static int close_enough(double got, double want)
{
	return fabs(got - want) <= 1e-6 + 1e-4 * fabs(want);
}

static void check_layer(vctx *v, tr__header *h, buffers *b, int l, int64_t t0, int64_t n, uint64_t *serial)
{
	const int K = h->info.depth, E = h->info.num_experts;
	const tr_score_kind kind = h->info.score_kind;
	int have_logits = h->ds[TR__DS_LOGITS] >= 0, ok = 1;
	if (tr__read_block(h->ds[TR__DS_IDS], H5T_NATIVE_INT16, 3, l, t0, n, K, b->ids) < 0) {
		problem(v, "/routing/expert_ids: cannot read layer %d, tokens %lld..%lld: the file is truncated or corrupt", l,
			(long long)t0, (long long)(t0 + n - 1));
		ok = 0;
	}
	if (tr__read_block(h->ds[TR__DS_SCORES], H5T_NATIVE_FLOAT, 3, l, t0, n, K, b->scores) < 0) {
		problem(v, "/routing/scores: cannot read layer %d, tokens %lld..%lld: the file is truncated or corrupt", l,
			(long long)t0, (long long)(t0 + n - 1));
		ok = 0;
	}
	if (have_logits && tr__read_block(h->ds[TR__DS_LOGITS], H5T_NATIVE_FLOAT, 3, l, t0, n, E, b->logits) < 0) {
		problem(v, "/routing/logits: cannot read layer %d, tokens %lld..%lld: the file is truncated or corrupt", l,
			(long long)t0, (long long)(t0 + n - 1));
		have_logits = 0;
	}
	if (!ok)
		return;
	for (int64_t i = 0; i < n; i++) {
		const int16_t *id = b->ids + i * K;
		const float *sc = b->scores + i * K;
		const float *lg = have_logits ? b->logits + i * E : NULL;
		long long t = (long long)(t0 + i);
		int logits_ok = lg != NULL;
		uint64_t s = ++*serial;
		for (int j = 0; j < K; j++) {
			if (id[j] < 0 || id[j] >= E) {
				problem(v, "/routing/expert_ids[%d, %lld, %d] = %d is out of range: num_experts = %d", l, t, j, id[j], E);
				logits_ok = 0;
			} else if ((b->stamp[id[j]] >> 16) == s) {
				problem(v, "/routing/expert_ids[%d, %lld, %d] = %d repeats [%d, %lld, %d]: a token's experts must be distinct",
					l, t, j, id[j], l, t, (int)(b->stamp[id[j]] & 0xFFFF));
			} else {
				b->stamp[id[j]] = s << 16 | (uint64_t)j;
			}
			if (!isfinite(sc[j])) {
				problem(v, "/routing/scores[%d, %lld, %d] = %g is not finite", l, t, j, (double)sc[j]);
				logits_ok = 0;
				continue;
			}
			if (kind != TR_SCORE_OTHER && (sc[j] < 0 || sc[j] > 1))
				problem(v, "/routing/scores[%d, %lld, %d] = %g is outside [0, 1] (score_kind %s)", l, t, j, (double)sc[j],
					tr_score_kind_name(kind));
			if (kind == TR_SCORE_SOFTMAX && j > 0 && isfinite(sc[j - 1]) && sc[j] > sc[j - 1])
				problem(v,
					"/routing/scores[%d, %lld, %d] = %g exceeds [%d, %lld, %d] = %g: softmax scores must not "
					"increase along the ranking",
					l, t, j, (double)sc[j], l, t, j - 1, (double)sc[j - 1]);
		}
		if (lg) {
			double mx = -INFINITY, sum = 0;
			for (int e = 0; e < E; e++) {
				if (!isfinite(lg[e])) {
					problem(v, "/routing/logits[%d, %lld, %d] = %g is not finite", l, t, e, (double)lg[e]);
					logits_ok = 0;
				} else if (lg[e] > mx) {
					mx = lg[e];
				}
			}
			if (logits_ok && kind == TR_SCORE_SOFTMAX) {
				for (int e = 0; e < E; e++)
					sum += exp((double)lg[e] - mx);
				for (int j = 0; j < K; j++) {
					double want = exp((double)lg[id[j]] - mx) / sum;
					if (!close_enough(sc[j], want)) {
						problem(v, "/routing/scores[%d, %lld, %d] = %g does not match /routing/logits: softmax gives %g",
							l, t, j, (double)sc[j], want);
						break;
					}
				}
			} else if (logits_ok && kind == TR_SCORE_SIGMOID) {
				for (int j = 0; j < K; j++) {
					double want = 1.0 / (1.0 + exp(-(double)lg[id[j]]));
					if (!close_enough(sc[j], want)) {
						problem(v, "/routing/scores[%d, %lld, %d] = %g does not match /routing/logits: sigmoid gives %g",
							l, t, j, (double)sc[j], want);
						break;
					}
				}
			}
		}
	}
}

/* Days in month m (1..12) of year y, Gregorian. */
static int month_days(int y, int m)
{
	static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : d[m - 1];
}

/* Reads exactly n digits at *p into *v and advances; 0 if they are not there. */
static int digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return 0;
		*v = *v * 10 + (**p - '0');
	}
	return 1;
}

/*
 * Whether s is an ISO 8601 date or date-time in the extended form the recorder writes
 * and Python's datetime.fromisoformat reads: YYYY-MM-DD, optionally followed by T (or a
 * space) and HH[:MM[:SS[.fraction]]], optionally followed by Z or +HH[:MM] / -HH[:MM].
 */
static int iso8601(const char *s)
{
	int y, mo, d, hh, mm, ss;
	if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' || !digits(&s, 2, &d))
		return 0;
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
		return 0;
	if (*s == '\0')
		return 1;
	if (*s != 'T' && *s != ' ')
		return 0;
	s++;
	if (!digits(&s, 2, &hh) || hh > 23)
		return 0;
	if (*s == ':') {
		s++;
		if (!digits(&s, 2, &mm) || mm > 59)
			return 0;
		if (*s == ':') {
			s++;
			if (!digits(&s, 2, &ss) || ss > 59)
				return 0;
			if (*s == '.' || *s == ',') {
				int n = 0;
				for (s++; *s >= '0' && *s <= '9'; s++)
					n++;
				if (n == 0)
					return 0;
			}
		}
	}
	if (*s == 'Z')
		return s[1] == '\0';
	if (*s == '+' || *s == '-') {
		s++;
		if (!digits(&s, 2, &hh) || hh > 23)
			return 0;
		if (*s == ':') {
			s++;
			if (!digits(&s, 2, &mm) || mm > 59)
				return 0;
		}
	}
	return *s == '\0';
}

/* The header rules the shared reader leaves to the validator (see the top of the file). */
static void check_root_attributes(vctx *v, const tr__header *h)
{
	static const char *const names[] = {"format", "version",    "num_layers", "num_experts", "depth", "num_tokens",
					    "model",  "score_kind", "source",     "created",     "top_k"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		hid_t a, sp;
		if (H5Aexists(h->file, names[i]) <= 0 || (a = H5Aopen(h->file, names[i], H5P_DEFAULT)) < 0)
			continue; /* missing: reported by the header reader when required */
		sp = H5Aget_space(a);
		if (sp >= 0 && H5Sget_simple_extent_type(sp) != H5S_SCALAR) {
			hsize_t dims[8] = {0};
			int rank = H5Sget_simple_extent_ndims(sp);
			char shape[96] = "";
			size_t n = 0;
			if (rank > 0 && rank <= 8) {
				H5Sget_simple_extent_dims(sp, dims, NULL);
				for (int j = 0; j < rank && n < sizeof shape; j++)
					n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%llu", j ? ", " : "",
							      (unsigned long long)dims[j]);
			}
			problem(v, "root attribute '%s' is not a scalar (shape [%s]): the format stores one value", names[i],
				shape);
		}
		if (sp >= 0)
			H5Sclose(sp);
		H5Aclose(a);
	}
	if (h->created && !iso8601(h->created))
		problem(v, "root attribute 'created' = '%s' is not an ISO 8601 date-time (e.g. 2026-11-22T08:30:00Z)",
			h->created);
}

int64_t tr_validate(const char *path, tr_problem_fn report, void *ctx, int64_t max_report, ms_error *err)
{
	vctx v = {report, ctx, max_report, 0, path};
	tr__header h;
	buffers b;
	int64_t block, T;
	size_t K, E;
	int have_prev = 0;
	int64_t prev[4];
	uint64_t serial = 0;
	memset(&b, 0, sizeof b);
	if (tr__header_open(&h, path, 1, forward, &v) < 0) {
		if (h.file >= 0)
			check_root_attributes(&v, &h);
		tr__header_close(&h);
		return v.count > 0 ? v.count : 1;
	}
	check_root_attributes(&v, &h);
	T = h.info.num_tokens;
	K = (size_t)h.info.depth;
	E = (size_t)h.info.num_experts;
	block = h.info.chunk_tokens > 0 ? h.info.chunk_tokens : TR_CHUNK_TOKENS;
	if (block > T)
		block = T > 0 ? T : 1;
	b.ids = malloc((size_t)block * K * sizeof *b.ids);
	b.scores = malloc((size_t)block * K * sizeof *b.scores);
	b.logits = h.info.has_logits ? malloc((size_t)block * E * sizeof *b.logits) : NULL;
	b.step = malloc((size_t)block * sizeof *b.step);
	b.pos = malloc((size_t)block * sizeof *b.pos);
	b.rank = malloc((size_t)block * sizeof *b.rank);
	b.seq = malloc((size_t)block * sizeof *b.seq);
	b.dom = malloc((size_t)block * sizeof *b.dom);
	b.stamp = calloc(E, sizeof *b.stamp);
	if (!b.ids || !b.scores || (h.info.has_logits && !b.logits) || !b.step || !b.pos || !b.rank || !b.seq || !b.dom ||
	    !b.stamp) {
		free_buffers(&b);
		tr__header_close(&h);
		return MS_ERROR(err, MS_ENOMEM, "out of memory validating '%s' (blocks of %lld tokens)", path, (long long)block);
	}
	for (int64_t t0 = 0; t0 < T; t0 += block) {
		int64_t n = T - t0 < block ? T - t0 : block;
		check_tokens(&v, &h, &b, t0, n, &have_prev, prev);
		for (int l = 0; l < h.info.num_layers; l++)
			check_layer(&v, &h, &b, l, t0, n, &serial);
	}
	free_buffers(&b);
	tr__header_close(&h);
	return v.count;
}
