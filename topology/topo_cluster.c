/*
 * topo_cluster.c - the node/NVLink/NIC view of the cluster (see topo_cluster.h): the
 * scenario's cluster shape, with link rates resolved by hardware/hw_rates.h from the
 * scenario, the datasheet and the run's profile. O(1).
 */
#include "topology/topo_cluster.h"

#include "hardware/hw_rates.h"

int topo_cluster_init(topo_cluster *t, const scn_scenario *s, const prof_profile *p, ms_error *err)
{
	t->nodes = s->cluster.nodes;
	t->gpus_per_node = s->cluster.gpus_per_node;
	t->nics_per_node = s->cluster.nics_per_node;
	t->world = t->nodes * t->gpus_per_node;
	t->domain_size = topo_rank_domain_size(s->network.nvlink_domain, t->gpus_per_node);
	return hw_links_resolve(&t->links, s, p, t->domain_size, t->world, t->gpus_per_node, t->nics_per_node, err);
}
