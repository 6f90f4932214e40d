/*
 * simgrid_check.cpp - moesim's flow model against SimGrid's max-min model on the same
 * platforms and flows (tests/simgrid_common.hpp says how they are made the same).
 * Every flow's finishing time must agree within 1 % of its duration. Cases: random
 * flows with random start times on oversubscribed 2- and 3-tier fat trees, a rail-
 * optimized cluster and a custom file, plus a skewed all-to-all. Exit 0 when all agree.
 *
 *   make net-simgrid-check     (needs libsimgrid-dev; skipped with a message otherwise)
 */
#include "tests/simgrid_common.hpp"

#include <gsl/gsl_rng.h>

static topo_spec base_spec(topo_shape shape, int nodes, int gpn, int nics)
{
	topo_spec s;
	std::memset(&s, 0, sizeof s);
	s.shape = shape;
	s.nodes = nodes;
	s.gpus_per_node = gpn;
	s.nvlink_domain = gpn;
	s.nics_per_node = nics;
	s.nvlink_Bps = 450e9;
	s.nvlink_latency_s = 3e-6;
	s.pcie_Bps = 0;
	s.nic_Bps = 50e9;
	s.nic_latency_s = 5e-6;
	s.link_latency_s = 0.5e-6;
	s.tiers = 2;
	s.oversubscription = 1;
	s.switch_radix = 8;
	return s;
}

/* nf flows between random GPUs, 0.1 to 64 MB, starting within the first 2 ms. */
static void random_flows(sg_case &c, gsl_rng *r, int nf)
{
	for (int i = 0; i < nf; i++) {
		int a = (int)gsl_rng_uniform_int(r, (unsigned long)c.g->world);
		int b = (int)gsl_rng_uniform_int(r, (unsigned long)c.g->world);
		double bytes = std::floor(1e5 + gsl_rng_uniform(r) * 64e6);
		c.flows.push_back(sg_make_flow(a, b, bytes, gsl_rng_uniform(r) * 2e-3));
	}
}

int main(int argc, char **argv)
{
	std::vector<sg_case> cases;
	gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
	const char *src = std::getenv("MOESIM_SRC");
	std::string dumbbell = std::string(src ? src : ".") + "/tests/data/topologies/dumbbell.txt";
	int failed = 0;
	gsl_rng_set(r, 2385);
	{
		sg_case c;
		topo_spec s = base_spec(TOPO_FAT_TREE, 8, 4, 4);
		s.oversubscription = 3; /* radix 8: 6 down, 2 up */
		c.name = "fat tree 2 tiers 3:1, 400 random flows";
		c.g = sg_graph(s);
		random_flows(c, r, 400);
		cases.push_back(std::move(c));
	}
	{
		sg_case c;
		topo_spec s = base_spec(TOPO_FAT_TREE, 8, 2, 2);
		s.switch_radix = 4;
		s.tiers = 3;
		s.pcie_Bps = 32e9; /* PCIe below the NIC: a constraint too */
		c.name = "fat tree 3 tiers k=4, PCIe 32 GB/s, 300 random flows";
		c.g = sg_graph(s);
		random_flows(c, r, 300);
		cases.push_back(std::move(c));
	}
	{
		sg_case c;
		topo_spec s = base_spec(TOPO_RAIL, 8, 4, 4);
		c.name = "rail 8 x 4, skewed all-to-all (64 experts, top-4)";
		c.g = sg_graph(s);
		sg_add_alltoall(c, 42, 64, 4, 512, 1.0, 7168 * 2);
		cases.push_back(std::move(c));
	}
	{
		sg_case c;
		topo_spec s = base_spec(TOPO_CUSTOM, 4, 2, 2);
		s.file = dumbbell.c_str();
		c.name = "custom dumbbell, 200 random flows";
		c.g = sg_graph(s);
		random_flows(c, r, 200);
		cases.push_back(std::move(c));
	}
	{
		sg_case c;
		topo_spec s = base_spec(TOPO_SINGLE_SWITCH, 4, 4, 2);
		s.nvlink_domain = 8; /* NVLink domains of two nodes, 2 GPUs per NIC */
		c.name = "single switch, NVLink domains over 2 nodes, shared NICs, 300 random flows";
		c.g = sg_graph(s);
		random_flows(c, r, 300);
		cases.push_back(std::move(c));
	}
	gsl_rng_free(r);
	for (sg_case &c : cases)
		sg_run_ours(c, 7);
	sg_run_simgrid(cases, &argc, argv);
	for (sg_case &c : cases) {
		int n;
		double worst = sg_max_rel(c, &n);
		std::printf("%-75s %5d flows, max difference %.2e of a flow's duration %s\n", c.name.c_str(), n, worst,
			    worst <= 0.01 ? "ok" : "FAIL");
		failed |= worst > 0.01 || n == 0;
		topo_graph_destroy(c.g);
	}
	std::printf(failed ? "simgrid check: FAILED\n" : "simgrid check: every flow within 1%% of SimGrid\n");
	return failed ? 1 : 0;
}
