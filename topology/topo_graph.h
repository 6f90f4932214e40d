/*
 * topo_graph.h - the cluster as a graph of directed links: GPUs, NVLink/NVSwitch
 * domains, the PCIe hop to each NIC, NICs and switches, for the flow-level network
 * (network/net_model.h) and `moesim topo`.
 *
 * Vertices are numbered by kind: GPUs first (vertex g is rank g, numbered node-major
 * as topo_rank.h does: rank r is GPU r % gpus_per_node of node r / gpus_per_node),
 * then one NVSwitch per NVLink domain of two or more GPUs, then NICs (NIC n is NIC
 * n % nics_per_node of node n / nics_per_node; GPU r uses topo_nic_of), then switches.
 * Every link is directed and comes with its reverse: links 2i and 2i+1 are the two
 * directions of one cable (rev = l ^ 1), each with its own capacity and latency.
 *
 * Shapes (docs/network.md states the arithmetic):
 *   single switch  every NIC on one switch;
 *   fat tree       2 tiers (leaf, spine) or 3 (leaf, aggregation, core) built from
 *                  switches of `switch_radix` ports; leaves have d down and u up ports
 *                  with d / u <= oversubscription; aggregation and core are 1:1;
 *   rail           NIC i of every node on rail i's leaf switch(es); spines join rails;
 *   custom         switches and links from a text file (topo_graph_create's file).
 * Switch-to-switch and NIC-to-switch links run at the NIC's speed.
 *
 * Invariants after topo_graph_create returns: every NIC reaches every other NIC over
 * switches; GPUs and NVSwitches never forward traffic between the network and
 * anything else (routes: topology/topo_route.h). The graph is immutable afterwards
 * and may be shared read-only.
 *
 * Memory: O(V + E); building is O(V + E) (plus O(NICs x (V + E)) to check a custom file).
 *
 * Files: topo_graph.c (the object: spec, create, destroy), topo_build.c (the switch
 * side of each generated shape), topo_file.c (custom files), topo_maxflow.c
 * (bisection), topo_dot.c (DOT); topo_build.h is their internal interface.
 */
#ifndef TOPO_GRAPH_H
#define TOPO_GRAPH_H

#include <stdint.h>
#include <stdio.h>

#include "common/ms_error.h"
#include "hardware/hw_link.h"
#include "profile/prof_profile.h"
#include "scenario/scn_scenario.h"
#include "topology/topo_rank.h"

typedef enum { TOPO_SINGLE_SWITCH, TOPO_FAT_TREE, TOPO_RAIL, TOPO_CUSTOM } topo_shape;

typedef enum { TOPO_V_GPU, TOPO_V_NVSWITCH, TOPO_V_NIC, TOPO_V_SWITCH } topo_vkind;

/* What the topology is built from; topo_spec_from_scenario fills it from a scenario. */
typedef struct topo_spec {
	topo_shape shape;
	int nodes, gpus_per_node;
	int nvlink_domain;       /* GPUs per NVLink domain (divides the GPUs; a multiple or divisor of gpus_per_node) */
	int nics_per_node;       /* divides gpus_per_node */
	double nvlink_Bps;       /* per GPU, per direction */
	double nvlink_latency_s; /* one GPU-to-GPU transfer over NVLink (two hops, half each) */
	double pcie_Bps;         /* GPU <-> NIC per direction; 0 = not a constraint */
	double nic_Bps;          /* per NIC, per direction; also every switch port */
	double nic_latency_s;    /* a transfer's two NIC hops together (half each) */
	double link_latency_s;   /* each NIC-switch and switch-switch hop */
	int tiers;               /* fat tree: 2 or 3 */
	double oversubscription; /* leaf down:up, >= 1 */
	int switch_radix;        /* ports per switch, >= 4 */
	const char *file;        /* custom topology file */
} topo_spec;

typedef struct topo_link {
	int src, dst;      /* vertices */
	int cls;           /* hw_link_class */
	double bw_Bps;     /* capacity; INFINITY = not a constraint */
	double latency_s;  /* paid by a flow before it takes bandwidth */
} topo_link;

typedef struct topo_vertex {
	int kind;  /* topo_vkind */
	int tier;  /* switches: 1 leaf, 2 spine/aggregation, 3 core; 0 otherwise (and custom) */
	int index; /* within its kind */
} topo_vertex;

/* Read-only after creation. */
typedef struct topo_graph {
	topo_spec spec;         /* as given (file points into file_path) */
	char file_path[SCN_PATH_MAX];
	int world, n_domains, domain_size, n_nics, n_switches;
	int n_vertices, n_links;
	int v_nvswitch0, v_nic0, v_switch0; /* first vertex of each kind */
	topo_vertex *v;
	topo_link *links;
	char **names;           /* per vertex, e.g. "gpu3", "nic3", "leaf0", "spine5" */
	int *out_start, *out_link; /* CSR: out_link[out_start[v] .. out_start[v+1]) */
	int *in_start, *in_link;
	int *gpu_up, *gpu_down;   /* per GPU: link to / from its NVSwitch, -1 if alone */
	int *pcie_up, *pcie_down; /* per GPU: link to / from its NIC */
	/* Shape arithmetic, for `moesim topo` and closed forms. */
	int leaf_down, leaf_up;   /* ports per leaf (fat tree, rail) */
	int n_leaves, n_spines, n_pods, n_cores;
	char *names_buf;
} topo_graph;

/*
 * Fills spec from a scenario. path_buf (SCN_PATH_MAX bytes) receives network.file,
 * taken relative to the scenario file's directory; spec->file points into it.
 * Checks what the scenario loader cannot: NVLink domain vs nodes, the GPU's NVLink
 * datasheet value, custom needing a file. Messages name the scenario line.
 */
/* p: the run's calibration profile (NULL without one), handed to topo_cluster_init. */
int topo_spec_from_scenario(topo_spec *spec, char *path_buf, const scn_scenario *s, const prof_profile *p,
			    ms_error *err);

/*
 * Builds the graph. Errors (one line): a shape that does not fit the switch radix,
 * values out of range, and for a custom file "FILE:LINE: what is wrong". When the
 * spec came from a scenario, s (else NULL) lets messages name the scenario key.
 */
topo_graph *topo_graph_create(const topo_spec *spec, const scn_scenario *s, ms_error *err);
void topo_graph_destroy(topo_graph *g);

/* Convenience: topo_spec_from_scenario + topo_graph_create. */
topo_graph *topo_graph_from_scenario(const scn_scenario *s, const prof_profile *p, ms_error *err);

static inline int topo_graph_domain_of(const topo_graph *g, int gpu)
{
	return topo_rank_domain(gpu, g->domain_size);
}

static inline int topo_graph_nic_of(const topo_graph *g, int gpu)
{
	return topo_rank_nic(gpu, g->spec.gpus_per_node, g->spec.nics_per_node);
}

const char *topo_shape_name(topo_shape s);

/*
 * Bisection bandwidth (B/s, one direction): the maximum flow from the GPUs of nodes
 * 0 .. nodes/2 - 1 to the GPUs of the other nodes over every link (NVLink included),
 * by Dinic's max-flow; 0 when there is a single node. Equals the minimum cut between
 * the halves.
 */
double topo_graph_bisection_Bps(const topo_graph *g, ms_error *err);

/* Writes the graph as Graphviz DOT (one edge per cable, labelled with its capacity). */
void topo_graph_write_dot(const topo_graph *g, FILE *f);

#endif
