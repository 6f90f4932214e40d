/*
 * topo_cluster.c - the node/NVLink/NIC view of the cluster (see topo_cluster.h): the
 * scenario's cluster values, the GPU datasheet's NVLink rate where the scenario gives
 * none, then a calibration profile's fits over what the scenario leaves at defaults.
 *
 * Reading the profile is one function, read_profile(), so that how a profile reaches
 * the topology can change in one place. O(1) apart from reading the profile.
 */
#include "topology/topo_cluster.h"

#include "models/moe_gpu.h"
#include "profile/prof_scenario.h"

/*
 * A calibration profile's all-to-all tables set the link classes the scenario leaves at
 * their defaults: fit t(S) = latency + S / B for S bytes per rank over n ranks (nccl-tests'
 * size) means each GPU's port carries S (n - 1) / n, so the port bandwidth is the bus
 * bandwidth B (n - 1) / n (Jeaugey, nccl-tests issue 130), and the latency is the fit's.
 * Intra-node tables set NVLink; inter-node tables set the NIC when every GPU has its own
 * (each rank's remote share (N - 1) / N of S over N nodes then crosses its NIC), else
 * NICs keep their datasheet rate.
 */
static void apply_profile(topo_cluster *t, const scn_scenario *s, const prof_profile *p)
{
	double scale;
	const prof_gpu *pg = prof_profile_gpu(p);
	const prof_table *a = prof_profile_find_alltoall(p, PROF_INTRA_NODE, t->domain_size, &scale);
	if (pg && pg->nvlink_Bps > 0 && !scn_is_set(s, "cluster.nvlink_GBps"))
		t->nvlink_Bps = pg->nvlink_Bps;
	if (a && a->fit.model == PROF_MODEL_LATBW && a->fit.p[1] > 0 && a->ranks > 1) {
		if (!scn_is_set(s, "cluster.nvlink_GBps"))
			t->nvlink_Bps = (1.0 / a->fit.p[1]) * (a->ranks - 1) / a->ranks;
		if (!scn_is_set(s, "cluster.nvlink_latency_us"))
			t->nvlink_latency_s = a->fit.p[0];
		t->calibrated_nvlink = 1;
	}
	a = prof_profile_find_alltoall(p, PROF_INTER_NODE, t->world, &scale);
	if (a && a->fit.model == PROF_MODEL_LATBW && a->fit.p[1] > 0 && a->nodes > 1 &&
	    t->nics_per_node == t->gpus_per_node) {
		if (!scn_is_set(s, "cluster.nic_Gbps"))
			t->nic_Bps = (1.0 / a->fit.p[1]) * (a->nodes - 1) / a->nodes;
		if (!scn_is_set(s, "cluster.nic_latency_us"))
			t->nic_latency_s = a->fit.p[0];
		t->calibrated_nic = 1;
	}
}

/* Loads cluster.profile, if the scenario names one, and applies it. */
static int read_profile(topo_cluster *t, const scn_scenario *s, ms_error *err)
{
	prof_profile *p;
	int rc;
	if (!s->cluster.profile[0])
		return MS_OK;
	if ((rc = prof_profile_load_scenario(s, &p, err)) < 0)
		return rc;
	apply_profile(t, s, p);
	prof_profile_destroy(p);
	return MS_OK;
}

int topo_cluster_init(topo_cluster *t, const scn_scenario *s, ms_error *err)
{
	char wbuf[SCN_PATH_MAX + 160];
	const moe_gpu *g = moe_gpu_find(s->cluster.gpu);
	t->nodes = s->cluster.nodes;
	t->gpus_per_node = s->cluster.gpus_per_node;
	t->nics_per_node = s->cluster.nics_per_node;
	t->world = t->nodes * t->gpus_per_node;
	t->domain_size = topo_rank_domain_size(s->network.nvlink_domain, t->gpus_per_node);
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
	t->calibrated_nvlink = t->calibrated_nic = 0;
	return read_profile(t, s, err);
}
