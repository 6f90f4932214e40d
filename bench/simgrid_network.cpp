/*
 * simgrid_network.cpp - the SimGrid counterpart of bench/bench_network.c: the same
 * skewed 128- or 256-GPU all-to-all (16 or 32 nodes x 8 H100, 2-tier fat tree of radix
 * 64, 400 Gb/s NICs; 256 experts, top-8, 4,096 tokens per GPU, 14,336 bytes per
 * token-expert pair, Zipf s = 1, seed 42; 16,256 or 65,280 flows) in moesim's exact flow
 * model and in SimGrid's max-min model (tests/simgrid_common.hpp), printing both
 * completion times, their ratio, the largest per-flow difference and both wall times.
 * One size per process: SimGrid has one engine per process, and its wall time is the
 * size's own.
 *
 *   make net-simgrid-bench   (needs libsimgrid-dev): 128 GPUs, then 256
 *   simgrid_network [128|256] [SimGrid options]
 */
#include "tests/simgrid_common.hpp"

int main(int argc, char **argv)
{
	int nodes = 16;
	if (argc > 1 && (std::strcmp(argv[1], "128") == 0 || std::strcmp(argv[1], "256") == 0)) {
		nodes = std::atoi(argv[1]) / 8;
		argv[1] = argv[0]; /* SimGrid parses the rest */
		argc--;
		argv++;
	}
	std::vector<sg_case> cases(1);
	sg_case &c = cases[0];
	topo_spec s;
	std::memset(&s, 0, sizeof s);
	s.shape = TOPO_FAT_TREE;
	s.nodes = nodes;
	s.gpus_per_node = 8;
	s.nvlink_domain = 8;
	s.nics_per_node = 8;
	s.nvlink_Bps = 450e9;
	s.nvlink_latency_s = 3e-6;
	s.nic_Bps = 50e9;
	s.nic_latency_s = 5e-6;
	s.link_latency_s = 0.5e-6;
	s.tiers = 2;
	s.oversubscription = 1;
	s.switch_radix = 64;
	c.name = std::to_string(nodes * 8) + " GPUs";
	c.g = sg_graph(s);
	sg_add_alltoall(c, 42, 256, 8, 4096, 1.0, 7168 * 2);
	sg_run_ours(c, 42);
	double sg_wall = sg_run_simgrid(cases, &argc, argv);
	double ours = 0, theirs = 0;
	int n;
	for (const sg_flow &f : c.flows) {
		ours = std::max(ours, f.ours);
		theirs = std::max(theirs, f.theirs);
	}
	double worst = sg_max_rel(c, &n);
	std::printf("skewed all-to-all, %d GPUs (%d x 8), fat tree 2 tiers radix 64, 400 Gb/s, %zu flows\n",
		    nodes * 8, nodes, c.flows.size());
	std::printf("  completion   moesim %.6f ms   SimGrid %.6f ms   ratio %.9f\n", ours * 1e3, theirs * 1e3,
		    ours / theirs);
	std::printf("  per flow     largest difference %.2e of a flow's duration (%d flows)\n", worst, n);
	std::printf("  wall time    moesim %.3f s   SimGrid %.3f s   SimGrid / moesim %.1f x\n", c.our_wall_s, sg_wall,
		    sg_wall / c.our_wall_s);
	topo_graph_destroy(c.g);
	return worst <= 0.01 ? 0 : 1;
}
