/*
 * topo_build.h - internal to topology/: the builder the graph's files share while
 * topo_graph_create runs. Not for other modules (prefix topo__, as libuv's uv__).
 *
 * topo_graph.c owns the builder: it adds the GPUs, NVSwitches and NICs with their
 * cables, calls one shape function (topo_build.c, or topo_file.c for a custom file)
 * to add the switches and the cables above the NICs, then derives the CSR adjacency
 * and checks a custom file's reachability (topo_file.c). A shape function returns
 * MS_OK or a negative code with err set; whatever it added is freed with the graph.
 *
 * Vertex names live in one growable buffer; name_off[v] is vertex v's name in it
 * until topo_graph_create turns the offsets into g->names. Adding a vertex or a
 * cable is amortised O(1).
 */
#ifndef TOPO_BUILD_H
#define TOPO_BUILD_H

#include <stddef.h>

#include "common/ms_error.h"
#include "scenario/scn_scenario.h"
#include "topology/topo_graph.h"

typedef struct topo__builder {
	topo_graph *g;
	int vcap, lcap, nocap;
	size_t *name_off; /* per vertex, into g->names_buf */
	size_t ncap, nlen;
	ms_error *err;
} topo__builder;

/* Grows *p (elements of elem bytes, capacity *cap) to hold need; doubles from 64. */
int topo__grow(void **p, int *cap, int need, size_t elem, ms_error *err);

/* Adds a vertex named by fmt; returns its id or a negative code. */
__attribute__((format(printf, 5, 6))) int topo__add_vertex(topo__builder *b, int kind, int tier, int index,
							   const char *fmt, ...);

/* Adds the two directions of one cable; returns the id of a -> c (c -> a is id + 1). */
int topo__add_cable(topo__builder *b, int a, int c, int cls, double bw, double lat);

/* The name of vertex v while building. */
static inline const char *topo__name(const topo__builder *b, int v)
{
	return b->g->names_buf + b->name_off[v];
}

/*
 * An error in the spec: with s (the spec came from a scenario) the message names the
 * scenario line of key. Returns MS_EINVAL.
 */
__attribute__((format(printf, 4, 5))) int topo__spec_error(ms_error *err, const scn_scenario *s, const char *key,
							   const char *fmt, ...);

/* The shapes (topo_build.c): switches and cables above the NICs. */
int topo__build_single_switch(topo__builder *b);
int topo__build_tree(topo__builder *b, const scn_scenario *s);
int topo__build_rail(topo__builder *b, const scn_scenario *s);

/* A custom file (topo_file.c): its switches and links, then, once the CSR exists,
 * the check that every NIC reaches every other. */
int topo__build_custom(topo__builder *b, const scn_scenario *s);
int topo__check_custom_reach(const topo_graph *g, ms_error *err);

#endif
