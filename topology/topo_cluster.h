/*
 * topo_cluster.h - the cluster as the network sees it: GPUs grouped in nodes, each
 * node one NVLink/NVSwitch domain, each GPU reaching the network through a NIC
 * (nics_per_node NICs per node, GPUs split evenly among them).
 *
 * With a calibration profile (cluster.profile), its all-to-all tables set the NVLink
 * and NIC rates and latencies the scenario leaves at their defaults (hardware/hw_rates.h).
 *
 * Ranks are numbered node-major (topo_rank.h holds the rank arithmetic, shared with
 * topo_graph.h). This is the first, switch-free view; fat-trees and rails come with
 * the flow-level network (topo_graph.h). topo_cluster_init is O(1) plus reading the
 * profile, if any.
 */
#ifndef TOPO_CLUSTER_H
#define TOPO_CLUSTER_H

#include "common/ms_error.h"
#include "hardware/hw_rates.h"
#include "profile/prof_profile.h"
#include "scenario/scn_scenario.h"
#include "topology/topo_rank.h"

typedef struct topo_cluster {
	int nodes;
	int gpus_per_node;
	int nics_per_node;
	int world;
	int domain_size;      /* GPUs per NVLink domain (network.nvlink_domain, else gpus_per_node) */
	hw_links links;       /* rates and latencies, resolved by hardware/hw_rates.h */
} topo_cluster;

/* The cluster of scenario s; its link rates come from hardware/hw_rates.h with the
 * run's profile p (NULL without one), which decides what overrides what. */
int topo_cluster_init(topo_cluster *t, const scn_scenario *s, const prof_profile *p, ms_error *err);

static inline int topo_node_of(const topo_cluster *t, int rank)
{
	return topo_rank_node(rank, t->gpus_per_node);
}

/* The NVLink domain of a rank: GPUs of one domain talk over NVLink, others over NICs. */
static inline int topo_domain_of(const topo_cluster *t, int rank)
{
	return topo_rank_domain(rank, t->domain_size);
}

/* Global index of the NIC rank uses to leave its node. */
static inline int topo_nic_of(const topo_cluster *t, int rank)
{
	return topo_rank_nic(rank, t->gpus_per_node, t->nics_per_node);
}

#endif
