/*
 * hw_rates.h - the hardware rates a run uses, resolved once from the scenario, the
 * built-in datasheet table (hw_gpu.h) and a calibration profile. This is the one place
 * that decides what overrides what; the compute model (models/) and the network view
 * (topology/) take the resolved numbers and never look at the profile's scalars again.
 *
 * Policy, highest first:
 *   1. a scenario key set explicitly (in the file or with --set): cluster.nvlink_GBps,
 *      nvlink_latency_us, nic_Gbps, nic_latency_us;
 *   2. a measurement in the profile: an all-to-all fit sets NVLink (intra-node table)
 *      and NIC (inter-node table, when every GPU has its own NIC) rate and latency; a
 *      copy table's best rate x2 (read + write) sets the achieved HBM rate;
 *   3. the profile's datasheet block (gpu.peak_*, gpu.hbm_GBps, gpu.nvlink_GBps);
 *   4. the built-in datasheet entry of cluster.gpu;
 *   5. the scenario key's default.
 * The efficiencies (cluster.gemm_efficiency, dense_efficiency, memory_efficiency;
 * network.nvlink_efficiency and nic_efficiency for the links) scale line rates and
 * datasheet peaks (1, 3, 4 and 5: a scenario's cluster.nvlink_GBps is a line rate), never
 * a measurement (2).
 */
#ifndef HW_RATES_H
#define HW_RATES_H

#include "common/ms_error.h"
#include "hardware/hw_gpu.h"
#include "profile/prof_profile.h"
#include "scenario/scn_scenario.h"

/* What the compute model runs at. */
typedef struct hw_compute {
	const hw_gpu *gpu;  /* the built-in entry of cluster.gpu */
	double gemm_Fps;    /* achieved FLOP/s of expert GEMMs in the model's dtype */
	double dense_Fps;   /* achieved FLOP/s of the attention block (bf16, or tf32 for fp32) */
	double mem_Bps;     /* achieved HBM bytes/s */
} hw_compute;

/* What the links run at. */
typedef struct hw_links {
	double nvlink_Bps;  /* per GPU, per direction, achieved (line rate x network.nvlink_efficiency) */
	double nvlink_latency_s;
	double nic_Bps;     /* per NIC, per direction, achieved */
	double nic_latency_s;
	int calibrated_nvlink; /* NVLink rate and latency from the profile's intra-node all-to-all */
	int calibrated_nic;    /* NIC rate and latency from its inter-node all-to-all */
} hw_links;

/* Resolves the compute rates; p may be NULL (no profile). Unknown GPUs and fp8 on a GPU
 * without FP8 tensor cores are errors naming the scenario key. */
int hw_compute_resolve(hw_compute *h, const scn_scenario *s, const prof_profile *p, ms_error *err);

/* Resolves the link rates for a cluster of world GPUs in NVLink domains of domain_size,
 * nics_per_node NICs per node of gpus_per_node GPUs; p may be NULL. */
int hw_links_resolve(hw_links *h, const scn_scenario *s, const prof_profile *p, int domain_size, int world,
		     int gpus_per_node, int nics_per_node, ms_error *err);

#endif
