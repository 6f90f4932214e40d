/*
 * hw_link.h - the classes of link a cluster is built from, as hardware facts shared by
 * the topology (which lays them) and everything that reports on them. Each class has
 * its own rate and latency in the scenario (cluster.nvlink_GBps, network.pcie_GBps,
 * cluster.nic_Gbps, ...), resolved by hw_rates.h; the switch tiers run at the NIC rate
 * (docs/network.md).
 */
#ifndef HW_LINK_H
#define HW_LINK_H

typedef enum {
	HW_LINK_NVLINK, /* GPU <-> the NVSwitch of its NVLink domain */
	HW_LINK_PCIE,   /* GPU <-> its NIC */
	HW_LINK_NIC,    /* NIC <-> its switch */
	HW_LINK_TIER1,  /* leaf <-> spine (or aggregation) */
	HW_LINK_TIER2,  /* aggregation <-> core */
	HW_LINK_CUSTOM, /* switch <-> switch, from a custom topology file */
	HW_LINK_COUNT
} hw_link_class;

/* "nvlink", "pcie", "nic", "tier1", "tier2", "custom"; "?" for anything else. */
const char *hw_link_class_name(int cls);

#endif
