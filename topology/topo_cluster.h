/*
 * topo_cluster.h - the cluster as the network sees it: GPUs grouped in nodes, each
 * node one NVLink/NVSwitch domain, each GPU reaching the network through a NIC
 * (nics_per_node NICs per node, GPUs split evenly among them).
 *
 * With a calibration profile (cluster.profile), its all-to-all tables set the NVLink
 * and NIC rates and latencies the scenario leaves at their defaults (hardware/hw_rates.h).
 *
 * Ranks are numbered node-major: rank r is GPU r % gpus_per_node of node
 * r / gpus_per_node. This is the first, switch-free view; fat-trees and rails come
 * with the flow-level network.
 */
#ifndef TOPO_CLUSTER_H
#define TOPO_CLUSTER_H

#include "common/ms_error.h"
#include "profile/prof_profile.h"
#include "scenario/scn_scenario.h"

typedef struct topo_cluster {
	int nodes;
	int gpus_per_node;
	int nics_per_node;
	int world;
	int domain_size;      /* GPUs per NVLink domain (network.nvlink_domain, else gpus_per_node) */
	double nvlink_Bps;    /* per GPU, per direction */
	double nvlink_latency_s;
	double nic_Bps;       /* per NIC, per direction */
	double nic_latency_s;
	int calibrated_nvlink;  /* NVLink rate and latency from a profile's intra-node all-to-all */
	int calibrated_nic;     /* NIC rate and latency from its inter-node all-to-all */
} topo_cluster;

/* The cluster of scenario s; its link rates come from hardware/hw_rates.h with the
 * run's profile p (NULL without one), which decides what overrides what. */
int topo_cluster_init(topo_cluster *t, const scn_scenario *s, const prof_profile *p, ms_error *err);

static inline int topo_node_of(const topo_cluster *t, int rank)
{
	return rank / t->gpus_per_node;
}

/* The NVLink domain of a rank: GPUs of one domain talk over NVLink, others over NICs. */
static inline int topo_domain_of(const topo_cluster *t, int rank)
{
	return rank / t->domain_size;
}

/* The most domains (NVLink domains, or nodes) of `per` GPUs that `members` consecutive
 * ranks can span, starting anywhere: one more than fit when the start is not aligned.
 * The router and the flow model size their per-domain tables with it. */
static inline int topo_span_max(int members, int per)
{
	return (members + per - 2) / per + 1;
}

/* Global index of the NIC rank uses to leave its node. */
static inline int topo_nic_of(const topo_cluster *t, int rank)
{
	int local = rank % t->gpus_per_node;
	return topo_node_of(t, rank) * t->nics_per_node + local / (t->gpus_per_node / t->nics_per_node);
}

#endif
