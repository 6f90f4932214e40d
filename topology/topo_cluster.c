/* topo_cluster.c - the node/NVLink/NIC view of the cluster (see topo_cluster.h). */
#include "topology/topo_cluster.h"

#include "models/moe_gpu.h"

int topo_cluster_init(topo_cluster *t, const scn_scenario *s, ms_error *err)
{
	char wbuf[SCN_PATH_MAX + 160];
	const moe_gpu *g = moe_gpu_find(s->cluster.gpu);
	t->nodes = s->cluster.nodes;
	t->gpus_per_node = s->cluster.gpus_per_node;
	t->nics_per_node = s->cluster.nics_per_node;
	t->world = t->nodes * t->gpus_per_node;
	t->domain_size = s->network.nvlink_domain > 0 ? s->network.nvlink_domain : t->gpus_per_node;
	t->nvlink_Bps = s->cluster.nvlink_GBps * 1e9;
	if (t->nvlink_Bps <= 0) {
		if (!g)
			return MS_ERROR(err, MS_EINVAL, "%s: cluster.gpu = \"%s\" is not a known GPU; set cluster.nvlink_GBps",
					scn_where(s, "cluster.gpu", wbuf, sizeof wbuf), s->cluster.gpu);
		t->nvlink_Bps = g->nvlink_Bps;
	}
	t->nvlink_latency_s = s->cluster.nvlink_latency_us * 1e-6;
	t->nic_Bps = s->cluster.nic_Gbps * 1e9 / 8.0;
	t->nic_latency_s = s->cluster.nic_latency_us * 1e-6;
	return MS_OK;
}
