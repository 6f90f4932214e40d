/*
 * rt_trace.c - a router trace as the simulator's source of decisions (see rt_trace.h
 * for the token mapping, docs/trace-format.md for the file).
 *
 * Reads through the trace module's streaming reader (trace/tr_reader.h): per (layer,
 * member) tokens_per_rank rankings, so memory does not grow with the trace. At open, one
 * streaming pass over the token metadata builds the runs of consecutive tokens of each
 * recorded rank (a run list, small: about steps x ranks entries). The reader serves one
 * thread at a time, so fetches take a lock (routing runs on several threads).
 *
 * The trace's full validation (ids in range, distinct, finite scores) is `moesim trace
 * validate`; here every ranking read is checked for ids in range, since a bad id would
 * index out of bounds downstream.
 */
#include "routing/rt_trace.h"

#include "routing/rt_policy.h"

#include "trace/tr_isolate.h"
#include "trace/tr_reader.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run {
	int64_t start;  /* first trace token */
	int64_t len;
	int64_t offset; /* position of the run's first token in its rank's stream */
} run;

typedef struct stream {
	run *runs;
	int n, cap;
	int64_t len;    /* tokens in the stream */
	int warned;
} stream;

struct rt_trace {
	char path[SCN_PATH_MAX];
	tr_reader *rd;
	int L, E, K, layers, top_k, world;
	int all_scores;     /* K = E, or /routing/logits */
	int n_labels;       /* domain labels, 0 without */
	int16_t *label;     /* [T] each token's domain label, NULL without */
	int16_t *ws_ids;    /* [tokens_per_rank * K] workspaces of rt_trace_fetch_matrix */
	float *ws_sc;
	int64_t T, tokens_per_rank;
	int n_streams;      /* recorded ranks R */
	stream *streams;
	int share;          /* simulated ranks per stream: ceil(GPUs per pipeline stage / R) */
	pthread_mutex_t lock; /* the HDF5 library is not thread-safe: one reader at a time */
	int lock_ready;
};

static int add_run(stream *s, int64_t start, ms_error *err)
{
	if (s->n > 0 && s->runs[s->n - 1].start + s->runs[s->n - 1].len == start) {
		s->runs[s->n - 1].len++;
	} else {
		if (s->n == s->cap) {
			int cap = s->cap ? s->cap * 2 : 16;
			run *r = realloc(s->runs, (size_t)cap * sizeof *r);
			if (!r)
				return MS_ERROR(err, MS_ENOMEM, "out of memory indexing the trace's ranks");
			s->runs = r;
			s->cap = cap;
		}
		s->runs[s->n] = (run){start, 1, s->len};
		s->n++;
	}
	s->len++;
	return MS_OK;
}

/* One pass over the token metadata: the runs of each recorded rank. */
static int index_ranks(rt_trace *t, ms_error *err)
{
	enum { BLOCK = 65536 };
	tr_token *buf = ms_malloc(err, BLOCK * sizeof *buf, "trace index");
	int max_rank = -1, rc = MS_OK;
	if (!buf)
		return MS_ENOMEM;
	for (int64_t t0 = 0; t0 < t->T; t0 += BLOCK) {
		int64_t count = t->T - t0 < BLOCK ? t->T - t0 : BLOCK;
		if ((rc = tr_read_tokens(t->rd, t0, count, buf, err)) < 0)
			goto done;
		for (int64_t i = 0; i < count; i++) {
			int r = buf[i].rank;
			if (r < 0 || r >= (1 << 20)) {
				rc = MS_ERROR(err, MS_EFORMAT, "%s: /tokens/rank[%lld] = %d is out of range (0 .. 2^20)",
					      t->path, (long long)(t0 + i), r);
				goto done;
			}
			if (r > max_rank) {
				stream *ns = realloc(t->streams, (size_t)(r + 1) * sizeof *ns);
				if (!ns) {
					rc = MS_ERROR(err, MS_ENOMEM, "out of memory indexing the trace's ranks");
					goto done;
				}
				memset(ns + max_rank + 1, 0, (size_t)(r - max_rank) * sizeof *ns);
				t->streams = ns;
				max_rank = r;
				t->n_streams = max_rank + 1;
			}
			if ((rc = add_run(&t->streams[r], t0 + i, err)) < 0)
				goto done;
			if (t->label)
				t->label[t0 + i] = buf[i].domain >= 0 && buf[i].domain < t->n_labels ? buf[i].domain : -1;
		}
	}
	t->n_streams = max_rank + 1;
	for (int r = 0; r < t->n_streams; r++)
		if (t->streams[r].len == 0) {
			rc = MS_ERROR(err, MS_EFORMAT, "%s: recorded rank %d has no tokens (ranks must be 0 .. %d without gaps)",
				      t->path, r, t->n_streams - 1);
			goto done;
		}
done:
	free(buf);
	return rc;
}

void rt_trace_close(rt_trace *t)
{
	if (!t)
		return;
	if (t->lock_ready)
		pthread_mutex_destroy(&t->lock);
	tr_close(t->rd);
	for (int r = 0; t->streams && r < t->n_streams; r++)
		free(t->streams[r].runs);
	free(t->streams);
	free(t->label);
	free(t->ws_ids);
	free(t->ws_sc);
	free(t);
}

rt_trace *rt_trace_open(const scn_scenario *s, const ms_warn *warn, ms_error *err)
{
	char wbuf[SCN_PATH_MAX + 160];
	int other_scores = 0;
	rt_trace *t = ms_calloc(err, 1, sizeof *t, "trace");
	if (!t)
		return NULL;
	if (pthread_mutex_init(&t->lock, NULL) != 0) {
		MS_ERROR(err, MS_ENOMEM, "cannot create the trace reader's lock");
		free(t);
		return NULL;
	}
	t->lock_ready = 1;
	if (scn_resolve_path(s, "routing.trace", s->routing.trace, t->path, sizeof t->path, err) < 0)
		goto fail;
	{
		ms_error rerr;
		const tr_info *info;
		ms_error_clear(&rerr);
		/* The first read in a child (trace/tr_isolate.h): a file that crashes HDF5 is
		 * an error message here too, as in `moesim trace info`. */
		if (tr_probe(t->path, &rerr) == MS_OK)
			t->rd = tr_open(t->path, &rerr);
		if (!t->rd) {
			MS_ERROR(err, rerr.code, "%s: routing.trace: %s", scn_where(s, "routing.trace", wbuf, sizeof wbuf),
				 rerr.msg);
			goto fail;
		}
		info = tr_get_info(t->rd);
		t->L = info->num_layers;
		t->E = info->num_experts;
		t->K = info->depth;
		t->T = info->num_tokens;
		other_scores = info->score_kind == TR_SCORE_OTHER;
		t->all_scores = t->K == t->E || info->has_logits;
		t->n_labels = info->has_domain ? info->num_domains : 0;
	}
	if (t->T < 1) {
		MS_ERROR(err, MS_EFORMAT, "%s: the trace has no tokens", t->path);
		goto fail;
	}
	if (t->E != s->model.experts) {
		MS_ERROR(err, MS_EINVAL, "%s: the trace %s has %d experts per layer but model.experts = %d",
			 scn_where(s, "routing.trace", wbuf, sizeof wbuf), t->path, t->E, s->model.experts);
		goto fail;
	}
	if (t->K < s->routing.top_k) {
		MS_ERROR(err, MS_EINVAL, "%s: routing.top_k = %d but the trace %s ranks only %d experts per token",
			 scn_where(s, "routing.top_k", wbuf, sizeof wbuf), s->routing.top_k, t->path, t->K);
		goto fail;
	}
	/* routing.router (rt_policy.h): which scores the router needs, refused here where the
	 * trace's path is known. */
	if (s->routing.router != SCN_ROUTER_TOPK && other_scores) {
		MS_ERROR(err, MS_EINVAL,
			 "%s: routing.router = \"%s\" compares scores across tokens, but the trace %s has score_kind "
			 "\"other\", whose scores cannot be compared: record softmax or sigmoid scores, or use "
			 "routing.router = \"topk\"",
			 scn_where(s, "routing.router", wbuf, sizeof wbuf), scn_router_name(s->routing.router), t->path);
		goto fail;
	}
	if (rt_policy_needs_all_scores((rt_policy_kind)s->routing.router) && !t->all_scores) {
		MS_ERROR(err, MS_EINVAL,
			 "%s: routing.router = \"%s\" needs every expert's score, but the trace %s ranks only %d of its "
			 "%d experts per token and has no /routing/logits: record it with the full ranking (depth = "
			 "num_experts) or with logits, or use routing.router = \"topk\" or \"bpr\"",
			 scn_where(s, "routing.router", wbuf, sizeof wbuf), scn_router_name(s->routing.router), t->path,
			 t->K, t->E);
		goto fail;
	}
	if (t->n_labels > 0 && !(t->label = ms_malloc(err, (size_t)t->T * sizeof *t->label, "trace domain labels")))
		goto fail;
	if (index_ranks(t, err) < 0)
		goto fail;
	t->layers = s->model.moe_layers;
	t->top_k = s->routing.top_k;
	t->world = scn_world(s) / s->parallel.pp; /* a layer is routed by one stage's GPUs */
	/* A routing is one micro-batch, or half of one under two-batch overlap (sim_plan.c). */
	t->tokens_per_rank = s->workload.tokens_per_rank / (s->schedule.overlap == SCN_OVERLAP_TWO_BATCH ? 2 : 1);
	t->share = (t->world + t->n_streams - 1) / t->n_streams;
	t->ws_ids = ms_malloc(err, (size_t)t->tokens_per_rank * (size_t)t->K * sizeof *t->ws_ids, "trace rankings");
	t->ws_sc = ms_malloc(err, (size_t)t->tokens_per_rank * (size_t)t->K * sizeof *t->ws_sc, "trace rankings");
	if (!t->ws_ids || !t->ws_sc)
		goto fail;
	if (t->L < t->layers)
		ms_warn_emit(warn, "the trace %s has %d MoE layers, the model %d: layer l replays trace layer l mod %d",
			     t->path, t->L, t->layers, t->L);
	{
		/* Tokens a run takes from the shortest stream. */
		int64_t need = (int64_t)s->workload.steps * s->workload.routed_microbatches * t->share *
			       s->workload.tokens_per_rank;
		int64_t shortest = t->streams[0].len;
		for (int r = 1; r < t->n_streams; r++)
			shortest = t->streams[r].len < shortest ? t->streams[r].len : shortest;
		if (need > shortest)
			ms_warn_emit(warn, "the run replays %lld tokens per recorded rank but the trace %s has %lld for its "
				     "shortest rank: tokens are reused from the start",
				     (long long)need, t->path, (long long)shortest);
	}
	return t;
fail:
	rt_trace_close(t);
	return NULL;
}

int rt_trace_depth(const rt_trace *t)
{
	return t->K;
}

int rt_trace_all_scores(const rt_trace *t)
{
	return t->all_scores;
}

int rt_trace_labels(const rt_trace *t)
{
	return t->n_labels;
}

/* Reads n rankings of trace layer tl from trace token t0 into ids/scores. */
static int read_block(rt_trace *t, int tl, int64_t t0, int64_t n, int16_t *ids, float *scores, ms_error *err)
{
	if (tr_read_routing(t->rd, tl, t0, n, ids, scores, err) < 0)
		return err->code;
	for (int64_t i = 0; i < n * t->K; i++) {
		if (ids[i] < 0 || ids[i] >= t->E)
			return MS_ERROR(err, MS_EFORMAT, "%s: /routing/expert_ids[%d, %lld, %lld] = %d is out of range: "
					"num_experts = %d (run `moesim trace validate`)",
					t->path, tl, (long long)(t0 + i / t->K), (long long)(i % t->K), ids[i], t->E);
		/* What `trace validate` refuses, replay refuses too: a score that is not finite
		 * would reorder drop_policy = "probs" silently. */
		if (!isfinite(scores[i]))
			return MS_ERROR(err, MS_EFORMAT, "%s: /routing/scores[%d, %lld, %lld] = %g is not finite (run "
					"`moesim trace validate`)",
					t->path, tl, (long long)(t0 + i / t->K), (long long)(i % t->K), (double)scores[i]);
	}
	return MS_OK;
}

/* What one fetch fills (any may be NULL; ids and scores together): the rankings, the score
 * matrix, the labels. */
typedef struct fetch_out {
	int16_t *ids;
	float *scores;
	float *mat;
	int mat_k;          /* the ranked experts mat takes (E: every expert's score) */
	int16_t *labels;
} fetch_out;

static int fetch(rt_trace *t, int step, int layer, int rank, const fetch_out *o, ms_error *err);

int rt_trace_fetch(rt_trace *t, int step, int layer, int rank, int16_t *ids, float *scores, int16_t *labels,
		   ms_error *err)
{
	fetch_out o = {ids, scores, NULL, 0, labels};
	int rc;
	pthread_mutex_lock(&t->lock);
	rc = fetch(t, step, layer, rank, &o, err);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int rt_trace_fetch_matrix(rt_trace *t, int step, int layer, int rank, int all, float *mat, int16_t *labels,
			  ms_error *err)
{
	fetch_out o = {NULL, NULL, mat, all ? t->E : t->K, labels};
	int rc;
	MS_ASSERT(!all || t->all_scores, "every score of a trace ranking %d of %d experts without logits", t->K, t->E);
	pthread_mutex_lock(&t->lock);
	rc = fetch(t, step, layer, rank, &o, err);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* Trace tokens [t0, t0 + n) of trace layer tl into the outputs at token offset `done`. */
static int read_piece(rt_trace *t, int tl, int64_t t0, int64_t n, int64_t done, const fetch_out *o, ms_error *err)
{
	if (o->ids && read_block(t, tl, t0, n, o->ids + done * t->K, o->scores + done * t->K, err) < 0)
		return err->code;
	if (o->mat && tr_read_score_matrix(t->rd, tl, t0, n, o->mat_k, o->mat + done * t->E, t->ws_ids, t->ws_sc, err) < 0)
		return err->code;
	for (int64_t i = 0; o->labels && i < n; i++)
		o->labels[done + i] = t->label ? t->label[t0 + i] : -1;
	return MS_OK;
}

static int fetch(rt_trace *t, int step, int layer, int rank, const fetch_out *o, ms_error *err)
{
	stream *s = &t->streams[rank % t->n_streams];
	int64_t pos = (((int64_t)step * t->share + rank / t->n_streams) * t->tokens_per_rank) % s->len;
	int64_t done = 0;
	int tl = layer % t->L;
	/* Find the run holding pos (binary search on offsets), then copy run pieces. */
	int lo = 0, hi = s->n - 1;
	while (lo < hi) {
		int mid = (lo + hi + 1) / 2;
		if (s->runs[mid].offset <= pos)
			lo = mid;
		else
			hi = mid - 1;
	}
	while (done < t->tokens_per_rank) {
		const run *r = &s->runs[lo];
		int64_t in_run = pos - r->offset, n = r->len - in_run;
		if (n > t->tokens_per_rank - done)
			n = t->tokens_per_rank - done;
		if (read_piece(t, tl, r->start + in_run, n, done, o, err) < 0)
			return err->code;
		done += n;
		pos += n;
		if (pos == r->offset + r->len) {
			lo++;
			if (lo == s->n) { /* cycle */
				lo = 0;
				pos = 0;
			}
		}
	}
	return MS_OK;
}

int rt_trace_layer_loads(rt_trace *t, int top_k, double *load, ms_error *err)
{
	enum { BLOCK = 16384 };
	int16_t *ids = ms_malloc(err, (size_t)BLOCK * t->K * sizeof *ids, "trace loads");
	float *scores = ms_malloc(err, (size_t)BLOCK * t->K * sizeof *scores, "trace loads");
	double *tl_load = ms_calloc(err, (size_t)t->L * t->E, sizeof *tl_load, "trace loads");
	int rc = MS_OK;
	if (!ids || !scores || !tl_load) {
		rc = MS_ENOMEM;
		goto done;
	}
	for (int l = 0; l < t->L; l++)
		for (int64_t t0 = 0; t0 < t->T; t0 += BLOCK) {
			int64_t n = t->T - t0 < BLOCK ? t->T - t0 : BLOCK;
			if ((rc = read_block(t, l, t0, n, ids, scores, err)) < 0)
				goto done;
			for (int64_t i = 0; i < n; i++)
				for (int j = 0; j < top_k; j++)
					tl_load[(size_t)l * t->E + ids[i * t->K + j]] += 1.0;
		}
	for (int l = 0; l < t->layers; l++)
		for (int e = 0; e < t->E; e++)
			load[(size_t)l * t->E + e] = tl_load[(size_t)(l % t->L) * t->E + e] / (double)t->T;
done:
	free(ids);
	free(scores);
	free(tl_load);
	return rc;
}
