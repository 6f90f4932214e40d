/*
 * net_alltoall.c - bottleneck-bound all-to-all timing (see net_alltoall.h).
 * O(n^2) per call in the group size n; the workspace is sized once, in one block.
 */
#include "network/net_alltoall.h"

#include <stdlib.h>
#include <string.h>

struct net_alltoall {
	const topo_cluster *t;
	int max_group;
	double *nv_tx, *nv_rx; /* per member */
	double *nic_tx, *nic_rx; /* per NIC of the cluster */
	int n_nics;
};

net_alltoall *net_alltoall_create(const topo_cluster *t, int max_group, ms_error *err)
{
	net_alltoall *a = ms_calloc(err, 1, sizeof *a, "all-to-all workspace");
	if (!a)
		return NULL;
	a->t = t;
	a->max_group = max_group;
	a->n_nics = t->nodes * t->nics_per_node;
	/* One block: nv_tx, nv_rx (max_group each), nic_tx, nic_rx (n_nics each). */
	a->nv_tx = ms_calloc(err, 2 * (size_t)max_group + 2 * (size_t)a->n_nics, sizeof(double), "all-to-all workspace");
	if (!a->nv_tx) {
		free(a);
		return NULL;
	}
	a->nv_rx = a->nv_tx + max_group;
	a->nic_tx = a->nv_rx + max_group;
	a->nic_rx = a->nic_tx + a->n_nics;
	return a;
}

void net_alltoall_destroy(net_alltoall *a)
{
	if (!a)
		return;
	free(a->nv_tx); /* the whole workspace */
	free(a);
}

void net_alltoall_costs(net_alltoall *a, const int *ranks, int n, const double *bytes, const double *msgs,
			const net_costs *costs, double *overhead_s, double *msg_floor_s)
{
	const topo_cluster *t = a->t;
	double peers_max = 0, msg_max = 0;
	*overhead_s = *msg_floor_s = 0;
	if (!costs)
		return;
	for (int i = 0; i < n; i++)
		a->nic_tx[topo_nic_of(t, ranks[i])] = a->nic_rx[topo_nic_of(t, ranks[i])] = 0.0;
	for (int i = 0; i < n; i++) {
		int di = topo_domain_of(t, ranks[i]), peers = 0;
		for (int j = 0; j < n; j++) {
			size_t k = (size_t)i * n + j;
			double m;
			if (i == j || bytes[k] <= 0)
				continue;
			peers++;
			m = msgs ? msgs[k] : 1.0;
			if (topo_domain_of(t, ranks[j]) != di) {
				a->nic_tx[topo_nic_of(t, ranks[i])] += m;
				a->nic_rx[topo_nic_of(t, ranks[j])] += m;
			}
		}
		if (peers > peers_max)
			peers_max = peers;
	}
	for (int i = 0; i < n; i++) {
		int nic = topo_nic_of(t, ranks[i]);
		double m = a->nic_tx[nic] > a->nic_rx[nic] ? a->nic_tx[nic] : a->nic_rx[nic];
		if (m > msg_max)
			msg_max = m;
	}
	*overhead_s = costs->launches * costs->launch_s + peers_max * costs->peer_message_s;
	if (costs->nic_message_rate > 0)
		*msg_floor_s = msg_max / costs->nic_message_rate;
}

void net_alltoall_time(net_alltoall *a, const int *ranks, int n, const double *bytes, const double *msgs,
		       const net_costs *costs, net_alltoall_stats *out)
{
	double overhead_s, floor_s;
	const topo_cluster *t = a->t;
	double nv_max = 0, nic_max = 0, nv_total = 0, nic_total = 0, time = 0;
	int hot_nv = -1, hot_nic = -1;
	MS_ASSERT(n <= a->max_group, "group of %d exceeds workspace of %d", n, a->max_group);
	net_alltoall_costs(a, ranks, n, bytes, msgs, costs, &overhead_s, &floor_s);
	memset(a->nv_tx, 0, (size_t)n * sizeof(double));
	memset(a->nv_rx, 0, (size_t)n * sizeof(double));
	/* Only the NICs of the group's GPUs are touched; clear those. */
	for (int i = 0; i < n; i++)
		a->nic_tx[topo_nic_of(t, ranks[i])] = a->nic_rx[topo_nic_of(t, ranks[i])] = 0.0;
	for (int i = 0; i < n; i++) {
		int di = topo_domain_of(t, ranks[i]);
		const double *row = bytes + (size_t)i * n;
		for (int j = 0; j < n; j++) {
			double b = row[j];
			if (i == j || b <= 0)
				continue;
			if (topo_domain_of(t, ranks[j]) == di) {
				a->nv_tx[i] += b;
				a->nv_rx[j] += b;
				nv_total += b;
			} else {
				a->nic_tx[topo_nic_of(t, ranks[i])] += b;
				a->nic_rx[topo_nic_of(t, ranks[j])] += b;
				nic_total += b;
			}
		}
	}
	for (int i = 0; i < n; i++) {
		double m = a->nv_tx[i] > a->nv_rx[i] ? a->nv_tx[i] : a->nv_rx[i];
		int nic = topo_nic_of(t, ranks[i]);
		double mn = a->nic_tx[nic] > a->nic_rx[nic] ? a->nic_tx[nic] : a->nic_rx[nic];
		if (m > nv_max) {
			nv_max = m;
			hot_nv = ranks[i];
		}
		if (mn > nic_max) {
			nic_max = mn;
			hot_nic = nic;
		}
	}
	if (nv_max > 0)
		time = nv_max / t->links.nvlink_Bps + t->links.nvlink_latency_s;
	if (nic_max > 0) {
		double tn = nic_max / t->links.nic_Bps + t->links.nic_latency_s;
		if (tn > time)
			time = tn;
	}
	if (floor_s > time)
		time = floor_s;
	if (time > 0 || overhead_s > 0)
		time += overhead_s;
	out->time_s = time;
	out->overhead_s = overhead_s;
	out->msg_floor_s = floor_s;
	out->nvlink_max_bytes = nv_max;
	out->nic_max_bytes = nic_max;
	out->nvlink_bytes = nv_total;
	out->nic_bytes = nic_total;
	out->hot_nvlink_rank = hot_nv;
	out->hot_nic = hot_nic;
}
