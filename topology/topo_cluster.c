/*
 * topo_cluster.c - the node/NVLink/NIC view of the cluster (see topo_cluster.h): the
 * scenario's cluster shape, with link rates resolved by hardware/hw_rates.h from the
 * scenario, the datasheet and the run's profile. O(1).
 */
#include "topology/topo_cluster.h"

#include "hardware/hw_rates.h"

int topo_cluster_init(topo_cluster *t, const scn_scenario *s, const prof_profile *p, ms_error *err)
{
	hw_links hw;
	int rc;
	t->nodes = s->cluster.nodes;
	t->gpus_per_node = s->cluster.gpus_per_node;
	t->nics_per_node = s->cluster.nics_per_node;
	t->world = t->nodes * t->gpus_per_node;
	t->domain_size = topo_rank_domain_size(s->network.nvlink_domain, t->gpus_per_node);
	if ((rc = hw_links_resolve(&hw, s, p, t->domain_size, t->world, t->gpus_per_node, t->nics_per_node, err)) < 0)
		return rc;
	t->nvlink_Bps = hw.nvlink_Bps;
	t->nvlink_latency_s = hw.nvlink_latency_s;
	t->nic_Bps = hw.nic_Bps;
	t->nic_latency_s = hw.nic_latency_s;
	t->calibrated_nvlink = hw.calibrated_nvlink;
	t->calibrated_nic = hw.calibrated_nic;
	return MS_OK;
}
