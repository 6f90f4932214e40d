/*
 * sw_table.h - a finished sweep as a table: one row per point in point order, every
 * input (the swept keys first, then every other scenario key as the point resolved
 * it) and every output column (sw_record.h), its Pareto mark and its rank; written as
 * CSV and as HDF5 (one dataset per column, docs/sweeps.md) and shown as the ranked
 * comparison on the terminal.
 *
 * Ranking: points that ran, by throughput per GPU, highest first (ties by point).
 * Pareto-best: no other point that ran has at least as much throughput (tokens/s), at
 * most as many drops (token-expert pairs) and at most as many GPUs - or, where
 * cluster.gpu_hour_cost is given, at most the cost per hour - and, in a decode sweep,
 * at most the time per output token (a larger batch always serves more tokens/s; what
 * it costs is latency), and is better in one of them. Points that did not run are
 * listed with their reason.
 *
 * Same records, same bytes: nothing depends on which process ran a point or when.
 */
#ifndef SW_TABLE_H
#define SW_TABLE_H

#include <stdint.h>
#include <stdio.h>

#include "sweep/sw_record.h"
#include "sweep/sw_spec.h"

typedef struct sw_table {
	const sw_spec *sp;
	const sw_record *rec;   /* [npoints], borrowed */
	int64_t n;
	int *pareto;            /* [n] 1 when Pareto-best */
	int64_t *rank;          /* [n] 1-based rank among the points that ran; 0 when it did not run */
	int64_t *order;         /* the points that ran, best first */
	int64_t nran;
	int by_cost;            /* every point that ran has a cost */
	int by_tpot;            /* every point that ran decodes: time per output token is an objective */
	char **inputs;          /* [n] each point's resolved values, NUL-separated ("" when its scenario did not load) */
	size_t *input_off;      /* [n][scn_key_count()] where key k's value starts in inputs[i] */
} sw_table;

int sw_table_init(sw_table *t, const sw_spec *sp, const sw_record *rec, ms_error *err);
void sw_table_fini(sw_table *t);

/*
 * Marks the Pareto-best of n points with k objectives each, obj[i x k + d], all to be
 * minimised. A point that beats another comes before it in lexicographic order, so,
 * sorted, each point is compared only with the front found so far (dominance is
 * transitive: a point beaten by a dominated one is beaten by the front too): O(n log n +
 * n x front x k).
 */
void sw_pareto(int64_t n, int k, const double *obj, int *best);

int sw_table_write_csv(const sw_table *t, const char *path, ms_error *err);
int sw_table_write_h5(const sw_table *t, const char *path, ms_error *err);

/* The comparison: at most max_rows ranked rows (the Pareto-best always shown), then the points that did not run. */
void sw_table_print(FILE *f, const sw_table *t, int max_rows);

#endif
