/*
 * net_alltoall.h - time of one all-to-all among a group of GPUs, from its per-pair
 * byte matrix.
 *
 * The analytic model is the bottleneck bound per link class: NVLink ports (each
 * GPU's egress and ingress inside its NVLink domain: its node, or network.nvlink_domain
 * GPUs) and NICs (each NIC's egress and ingress
 * for traffic between nodes; the network core is taken as non-blocking). Per class,
 * time = max bytes over one port / port bandwidth + the class's latency, paid only
 * when the class carries traffic; the all-to-all takes the larger of the two. A
 * GPU's bytes to itself cross no link (the permute copy accounts for them).
 *
 * It is exact when every port of the bottleneck class carries the same bytes and
 * the other class is idle (the uniform single-node case), and a lower bound otherwise.
 */
#ifndef NET_ALLTOALL_H
#define NET_ALLTOALL_H

#include "common/ms_error.h"
#include "topology/topo_cluster.h"

typedef struct net_alltoall_stats {
	double time_s;
	double nvlink_max_bytes;  /* busiest NVLink port (one direction) */
	double nic_max_bytes;     /* busiest NIC (one direction) */
	double nvlink_bytes;      /* total bytes over NVLink */
	double nic_bytes;         /* total bytes over NICs */
	int hot_nvlink_rank;      /* GPU of the busiest NVLink port, -1 if none */
	int hot_nic;              /* busiest NIC, -1 if none */
} net_alltoall_stats;

typedef struct net_alltoall net_alltoall;

/* Workspace for groups of up to max_group GPUs on cluster t. */
net_alltoall *net_alltoall_create(const topo_cluster *t, int max_group, ms_error *err);
void net_alltoall_destroy(net_alltoall *a);

/*
 * Times one all-to-all. ranks[i] is the global rank of group member i; bytes is the
 * n x n row-major matrix (bytes[i*n + j] sent from member i to member j).
 */
void net_alltoall_time(net_alltoall *a, const int *ranks, int n, const double *bytes, net_alltoall_stats *out);

#endif
