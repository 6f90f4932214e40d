/*
 * tr_import.h - converting router decisions recorded by other tools into moesim traces
 * (`moesim trace import`; source formats and their provenance in docs/trace-tools.md):
 *
 *  - jsonl: one JSON object per line and (token, layer): {"layer": 3, "token": 17,
 *    "experts": [5, 1], "probs": [0.61, 0.22], "step": 0, "sequence": 4, "position": 9,
 *    "rank": 0, "domain": "code"}; layer, token, experts required.
 *  - vllm: what vLLM returns with --enable-return-routed-experts: expert ids [tokens,
 *    num_moe_layers, top_k] as a .npy file (CompletionOutput.routed_experts saved with
 *    numpy.save; one file per sequence), or JSON responses (one per line, or one per file)
 *    whose prompt_routed_experts / choices[].routed_experts are base64 .npy strings or
 *    nested lists.
 *  - megatron: Megatron-Core's router trace (megatron/core/transformer/moe/router_trace.py,
 *    --moe-routing-trace-path): router_trace_rank{R}.jsonl files, one record per (step,
 *    layer, micro-batch) with "top_indices", and the optional logits_rank{R}.bin sidecar
 *    (bfloat16 logits) next to them. A directory argument means every
 *    router_trace_rank*.jsonl in it.
 *
 * The importers hold the whole trace in memory (O(T L (K + E if logits)) bytes): the
 * sources are not ordered the way the format requires, and are small next to a recorded
 * HDF5 trace. Tokens are sorted into (step, rank, sequence, position) order; a duplicate
 * key, a missing (token, layer), an id out of range or repeated, is an error naming the
 * input file and line.
 */
#ifndef TR_IMPORT_H
#define TR_IMPORT_H

#include <stdint.h>

#include "common/ms_error.h"
#include "trace/tr_reader.h"

typedef enum tr_import_format { TR_IMPORT_JSONL, TR_IMPORT_VLLM, TR_IMPORT_MEGATRON } tr_import_format;

/* "jsonl", "vllm", "megatron"; 0 or -1. */
int tr_import_format_parse(const char *s, tr_import_format *out);

typedef struct tr_import_opts {
	tr_import_format format;
	int experts;              /* E; 0: the logits' width, else the largest id + 1 */
	int score_kind_set;       /* score_kind given (inputs with probabilities or logits) */
	tr_score_kind score_kind;
	int top_k;                /* > 0: written as the attribute top_k */
	const char *model;        /* NULL: "unknown" */
	const char *created;      /* NULL: TR_CREATED_UNKNOWN */
} tr_import_opts;

typedef struct tr_import_result {
	int64_t tokens;
	int layers, experts, depth;
	char note[512];           /* something the user should know (empty if nothing) */
} tr_import_result;

/* Converts inputs[0..n) into the trace `out` (complete or absent). */
int tr_import(const char *const *inputs, int n, const char *out, int force, const tr_import_opts *o,
	      tr_import_result *res, ms_error *err);

#endif
