/*
 * topo_route.h - routes between GPUs over a topo_graph: which directed links a
 * transfer crosses, and with what fraction of its bytes.
 *
 * Rules (docs/network.md):
 *   - a GPU to itself crosses nothing;
 *   - two GPUs of one NVLink domain: GPU -> NVSwitch -> GPU (NVLink is always preferred);
 *   - otherwise GPU -> its NIC (PCIe) -> shortest paths in hops over switches -> the
 *     destination's NIC -> GPU. GPUs and NVSwitches never forward network traffic, and
 *     a NIC forwards only between its own GPUs and its switch. Two GPUs on one NIC go
 *     GPU -> NIC -> GPU.
 *   - equal-cost paths: TOPO_ECMP_HASH puts the whole flow on one path, choosing at
 *     each switch among its equal-cost next hops by a hash of (seed, source GPU,
 *     destination GPU, switch), so one GPU pair always takes one path and the choice
 *     does not depend on the order flows are routed in; TOPO_ECMP_EVEN splits the flow
 *     evenly among the next hops at every vertex (per-hop splitting, as switches do;
 *     on fat trees and rails this is also an even split over all paths).
 *
 * Cost: distances to each destination attachment (the switch a NIC hangs from, or the
 * NIC itself when it has several) are computed by one reverse BFS, O(V + E), the first
 * time they are needed and cached (2 bytes x vertices per attachment); a route is then
 * O(links on the route x degree).
 */
#ifndef TOPO_ROUTE_H
#define TOPO_ROUTE_H

#include <stdint.h>

#include "common/ms_error.h"
#include "topology/topo_graph.h"

typedef enum { TOPO_ECMP_HASH, TOPO_ECMP_EVEN } topo_ecmp;

typedef struct topo_route {
	int n;            /* links used */
	int cap;          /* allocated entries */
	int *link;        /* link ids; a single path in path order */
	double *weight;   /* fraction of the flow's bytes on each link (1 on a single path) */
	double latency_s; /* path latency (even split: weighted by the fractions) */
	int hops;         /* links on each path */
} topo_route;

void topo_route_init(topo_route *r);
void topo_route_fini(topo_route *r);

typedef struct topo_router topo_router;

/* A router over g (which must outlive it); not thread-safe (it caches). */
topo_router *topo_router_create(const topo_graph *g, topo_ecmp ecmp, uint64_t seed, ms_error *err);
void topo_router_destroy(topo_router *r);

/* The route from GPU src to GPU dst into out (grown as needed). Fails only on memory. */
int topo_router_route(topo_router *r, int src, int dst, topo_route *out, ms_error *err);

/* Number of equal-cost network paths from src to dst (1 inside a domain); < 0 on error. */
double topo_router_count_paths(topo_router *r, int src, int dst, ms_error *err);

topo_ecmp topo_router_ecmp(const topo_router *r);

#endif
