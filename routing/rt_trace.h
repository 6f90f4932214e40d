/*
 * rt_trace.h - a recorded router trace as a source of routing decisions for the
 * simulator: which trace tokens play which GPU's tokens at which step and layer.
 *
 * Mapping (docs/model.md, "Replaying a trace"): the trace's tokens are grouped by
 * recorded rank into streams (in trace order). A layer is routed by the GPUs of the
 * pipeline stage holding it; the one at position r in its stage replays stream r mod R
 * (R = recorded ranks); the ranks sharing a stream take consecutive chunks of
 * tokens_per_rank tokens (half of them under two-batch overlap, each half its own
 * routing), and each routing (step x routings per step + sample)
 * continues where the previous one stopped; a
 * stream is cycled from its start when it runs out (with a warning). A trace recorded
 * in one process (R = 1) is thus cut into contiguous chunks. Model layer l replays
 * trace layer l mod L_trace (a warning when the trace has fewer layers). A trace with
 * a different expert count, or a ranking shallower than top_k, is an error.
 *
 * Scores: the run's topk reads the ranking; routers that need every expert's score
 * (rt_policy_needs_all_scores) read the complete ranking or, when the ranking is
 * shallower than the expert count, /routing/logits (rt_trace_fetch_matrix); a trace with
 * neither is refused at open. Domain labels, when the trace has them, are kept per token
 * (2 bytes a token) so the run can measure specialisation on what its router kept.
 */
#ifndef RT_TRACE_H
#define RT_TRACE_H

#include <stdint.h>

#include "common/ms_error.h"
#include "scenario/scn_scenario.h"

typedef struct rt_trace rt_trace;

/* Opens the scenario's trace (routing.trace, resolved by scn_resolve_path) and checks
 * it against the model; what it warns about goes to warn (may be NULL). */
rt_trace *rt_trace_open(const scn_scenario *s, const ms_warn *warn, ms_error *err);
void rt_trace_close(rt_trace *t);

/* Recorded ranking depth K. */
int rt_trace_depth(const rt_trace *t);

/* 1 when every expert's score is known: a complete ranking (K = E) or /routing/logits. */
int rt_trace_all_scores(const rt_trace *t);

/* The trace's domain labels (/tokens/domain), 0 when it has none. */
int rt_trace_labels(const rt_trace *t);

/*
 * The rankings of the n = tokens_per_rank tokens that simulated rank `rank` routes at
 * (step, layer): ids[n * K] and scores[n * K], best first; labels[n] (may be NULL) their
 * domain labels (-1 where a token has none, or the trace no labels).
 */
int rt_trace_fetch(rt_trace *t, int step, int layer, int rank, int16_t *ids, float *scores, int16_t *labels,
		   ms_error *err);

/*
 * The same tokens' score matrix mat[n * E] (tr_read_score_matrix): all = 1, every expert's
 * score, from the complete ranking or else from /routing/logits (softmax, or sigmoid by
 * score_kind; requires rt_trace_all_scores); all = 0, the K ranked experts' recorded
 * scores and -INFINITY for the others.
 */
int rt_trace_fetch_matrix(rt_trace *t, int step, int layer, int rank, int all, float *mat, int16_t *labels,
			  ms_error *err);

/* Mean pairs per expert in each model layer over the whole trace, counting each token's
 * first top_k choices: load[layers * experts] (for load-aware placement). */
int rt_trace_layer_loads(rt_trace *t, int top_k, double *load, ms_error *err);

#endif
