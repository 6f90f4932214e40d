/*
 * topo_rank.h - where a rank sits: its node, its NVLink domain and the NIC it leaves
 * its node through. The one place this arithmetic is written; the switch-free view
 * (topo_cluster.h) and the graph (topo_graph.h) both call it.
 *
 * Ranks are numbered node-major: rank r is GPU r % gpus_per_node of node
 * r / gpus_per_node. NVLink domains are runs of domain_size consecutive ranks
 * (domain_size a multiple or a divisor of gpus_per_node). A node's GPUs split evenly
 * among its nics_per_node NICs (nics_per_node divides gpus_per_node), local GPUs
 * 0 .. gpus_per_node / nics_per_node - 1 on the first; NICs are numbered node-major
 * too. Callers check those divisibility conditions once (topo_graph_create,
 * scenario loading); these functions assume them. All O(1).
 */
#ifndef TOPO_RANK_H
#define TOPO_RANK_H

/* GPUs per NVLink domain: network.nvlink_domain, where 0 means one domain per node. */
static inline int topo_rank_domain_size(int nvlink_domain, int gpus_per_node)
{
	return nvlink_domain > 0 ? nvlink_domain : gpus_per_node;
}

static inline int topo_rank_node(int rank, int gpus_per_node)
{
	return rank / gpus_per_node;
}

/* The NVLink domain of a rank: GPUs of one domain talk over NVLink, others over NICs. */
static inline int topo_rank_domain(int rank, int domain_size)
{
	return rank / domain_size;
}

/* Global index of the NIC rank uses to leave its node. */
static inline int topo_rank_nic(int rank, int gpus_per_node, int nics_per_node)
{
	return (rank / gpus_per_node) * nics_per_node + (rank % gpus_per_node) / (gpus_per_node / nics_per_node);
}

/* The most domains (NVLink domains, or nodes) of `per` GPUs that `members` consecutive
 * ranks can span, starting anywhere: one more than fit when the start is not aligned.
 * The router and the flow model size their per-domain tables with it. */
static inline int topo_rank_span_max(int members, int per)
{
	return (members + per - 2) / per + 1;
}

#endif
