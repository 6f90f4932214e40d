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
 *
 * Costs beyond bandwidth (net_costs, named scenario keys, docs/network.md): every
 * kernel launch of the collective (launch_s each), then each GPU issues its messages to
 * its peers one after another (peer_message_s per peer it sends to), paid before the
 * first byte moves; and a NIC handles at most nic_message_rate messages per second,
 * sent or received, which bounds the network leg from below:
 *   time = launches x launch_s + max over GPUs (peers x peer_message_s)
 *          + max(NVLink term, NIC term, max NIC messages / nic_message_rate).
 */
#ifndef NET_ALLTOALL_H
#define NET_ALLTOALL_H

#include "common/ms_error.h"
#include "topology/topo_cluster.h"

/* Costs beyond bandwidth; all zero: pure bandwidth and link latency. */
typedef struct net_costs {
	double launch_s;         /* per kernel launch */
	int launches;            /* kernels the collective launches */
	double peer_message_s;   /* per peer a GPU sends to, serial per GPU */
	double nic_message_rate; /* messages per second per NIC and direction; 0 for no limit */
} net_costs;

typedef struct net_alltoall_stats {
	double time_s;
	double overhead_s;        /* launches and message issue, before any byte moves */
	double msg_floor_s;       /* busiest NIC's messages / nic_message_rate (0 without a rate) */
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
 * n x n row-major matrix (bytes[i*n + j] sent from member i to member j); msgs the
 * messages of each transfer (NULL: one per non-empty transfer); costs may be NULL.
 */
void net_alltoall_time(net_alltoall *a, const int *ranks, int n, const double *bytes, const double *msgs,
		       const net_costs *costs, net_alltoall_stats *out);

/* The cost terms alone (for the flow model, which times the bytes itself): the
 * overhead before the first byte moves and the NIC message floor. */
void net_alltoall_costs(net_alltoall *a, const int *ranks, int n, const double *bytes, const double *msgs,
			const net_costs *costs, double *overhead_s, double *msg_floor_s);

#endif
