/*
 * simgrid_common.hpp - the same platform and the same flows in moesim's flow model
 * and in SimGrid, for tests/simgrid_check.cpp and bench/simgrid_network.cpp.
 *
 * Platform: one SimGrid host per GPU, one SimGrid link per directed moesim link
 * that constrains (finite capacity), with moesim's capacity and zero latency, and for
 * every (source, destination) pair the explicit route moesim's router chose (hash
 * ECMP, same seed). SimGrid's CM02 model with latency and bandwidth factors 1,
 * weight-S 0, TCP-gamma 0 and no cross-traffic is plain max-min sharing (each flow's
 * LMM variable has penalty 1 when its route latency is 0: network_cm02.cpp). Route
 * latency is reproduced by starting each SimGrid communication when its moesim flow
 * joins the sharing (start + latency), because SimGrid otherwise weighs a flow's share
 * by its route latency (RTT-unfair TCP), which is not the max-min model.
 *
 * Several cases run in one SimGrid simulation (one engine per process) on disjoint
 * hosts and links, so they cannot interact.
 */
#ifndef SIMGRID_COMMON_HPP
#define SIMGRID_COMMON_HPP

extern "C" {
#include "network/net_model.h"
#include "network/net_synth.h"
#include "topology/topo_graph.h"
#include "topology/topo_route.h"
}

#include <simgrid/s4u.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

struct sg_flow {
	int src, dst;
	double bytes, start;
	double latency = 0;
	std::vector<int> links; /* constrained links of its route */
	double ours = -1, theirs = -1;
};

static sg_flow sg_make_flow(int src, int dst, double bytes, double start)
{
	sg_flow f;
	f.src = src;
	f.dst = dst;
	f.bytes = bytes;
	f.start = start;
	return f;
}

struct sg_case {
	std::string name;
	topo_graph *g = nullptr;
	std::vector<sg_flow> flows;
	double our_wall_s = 0;
};

static double sg_now_s()
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static void sg_die(const char *what, const ms_error &err)
{
	std::fprintf(stderr, "simgrid check: %s: %s\n", what, err.msg);
	std::exit(2);
}

static topo_graph *sg_graph(const topo_spec &s)
{
	ms_error err;
	ms_error_clear(&err);
	topo_graph *g = topo_graph_create(&s, nullptr, &err);
	if (!g)
		sg_die("topology", err);
	return g;
}

static void sg_done(void *ctx, double t, uint64_t tag)
{
	static_cast<sg_case *>(ctx)->flows[tag].ours = t;
}

/* Routes every flow (hash ECMP with seed) and runs moesim's model on them. */
static void sg_run_ours(sg_case &c, uint64_t seed)
{
	ms_error err;
	ms_error_clear(&err);
	topo_router *r = topo_router_create(c.g, TOPO_ECMP_HASH, seed, &err);
	net_model *m = net_model_create(c.g, TOPO_ECMP_HASH, seed, &err);
	if (!r || !m)
		sg_die("model", err);
	topo_route rt;
	topo_route_init(&rt);
	std::vector<size_t> order(c.flows.size());
	for (size_t i = 0; i < order.size(); i++)
		order[i] = i;
	std::stable_sort(order.begin(), order.end(),
			 [&](size_t a, size_t b) { return c.flows[a].start < c.flows[b].start; });
	double t0 = sg_now_s();
	for (size_t i : order) {
		sg_flow &f = c.flows[i];
		if (net_model_advance(m, f.start, sg_done, &c, &err) < 0 ||
		    topo_router_route(r, f.src, f.dst, &rt, &err) < 0 ||
		    net_model_add_route(m, f.start, f.start, &rt, f.bytes, i, &err) < 0)
			sg_die("model", err);
		f.latency = rt.latency_s;
		f.links.clear();
		for (int k = 0; k < rt.n; k++)
			if (std::isfinite(c.g->links[rt.link[k]].bw_Bps))
				f.links.push_back(rt.link[k]);
	}
	if (net_model_advance(m, INFINITY, sg_done, &c, &err) < 0)
		sg_die("model", err);
	c.our_wall_s = sg_now_s() - t0;
	topo_route_fini(&rt);
	net_model_destroy(m);
	topo_router_destroy(r);
}

struct sg_start {
	double at;
	sg_case *c;
	size_t flow;
	simgrid::s4u::Host *src, *dst;
};

/*
 * Runs every case's flows in one SimGrid simulation; fills theirs. Returns SimGrid's
 * wall time (platform building excluded).
 */
static double sg_run_simgrid(std::vector<sg_case> &cases, int *argc, char **argv)
{
	namespace s4u = simgrid::s4u;
	s4u::Engine e(argc, argv);
	for (const char *cfg : {"network/model:CM02", "network/latency-factor:1", "network/bandwidth-factor:1",
				"network/weight-S:0", "network/TCP-gamma:0", "network/crosstraffic:0"})
		e.set_config(cfg);
	auto *zone = s4u::create_full_zone("moesim");
	std::vector<sg_start> starts;
	for (size_t k = 0; k < cases.size(); k++) {
		sg_case &c = cases[k];
		std::vector<s4u::Host *> host(c.g->world, nullptr);
		std::vector<s4u::Link *> link(c.g->n_links, nullptr);
		std::map<std::pair<int, int>, bool> routed;
		for (size_t i = 0; i < c.flows.size(); i++) {
			sg_flow &f = c.flows[i];
			if (f.src == f.dst || f.links.empty())
				continue; /* crosses no constraint: nothing to compare */
			for (int gpu : {f.src, f.dst})
				if (!host[gpu])
					host[gpu] = zone->create_host("c" + std::to_string(k) + "g" + std::to_string(gpu), 1e9);
			std::vector<s4u::LinkInRoute> lr;
			for (int l : f.links) {
				if (!link[l]) {
					link[l] = zone->create_link("c" + std::to_string(k) + "l" + std::to_string(l),
								    c.g->links[l].bw_Bps);
					link[l]->set_latency(0);
					link[l]->seal();
				}
				lr.emplace_back(link[l]);
			}
			if (!routed[{f.src, f.dst}]) {
				routed[{f.src, f.dst}] = true;
				zone->add_route(host[f.src]->get_netpoint(), host[f.dst]->get_netpoint(), nullptr, nullptr, lr,
						false);
			}
			starts.push_back({f.start + f.latency, &c, i, host[f.src], host[f.dst]});
		}
	}
	s4u::Host *driver_host = zone->create_host("driver", 1e9);
	zone->seal();
	std::stable_sort(starts.begin(), starts.end(), [](const sg_start &a, const sg_start &b) { return a.at < b.at; });
	s4u::Actor::create("driver", driver_host, [&]() {
		std::vector<s4u::CommPtr> comms;
		comms.reserve(starts.size());
		for (const sg_start &s : starts) {
			if (s.at > s4u::Engine::get_clock())
				s4u::this_actor::sleep_until(s.at);
			s4u::CommPtr c = s4u::Comm::sendto_init(s.src, s.dst);
			c->set_payload_size((uint64_t)std::llround(s.c->flows[s.flow].bytes));
			c->start();
			comms.push_back(c);
		}
		s4u::Comm::wait_all(comms);
		/* The kernel's finishing time: an s4u completion is only noticed when the
		 * driver waits, which may be later. */
		for (size_t i = 0; i < comms.size(); i++)
			starts[i].c->flows[starts[i].flow].theirs = comms[i]->get_finish_time();
	});
	double t0 = sg_now_s();
	e.run();
	return sg_now_s() - t0;
}

/* Largest |ours - theirs| relative to the flow's duration in SimGrid; counts compared flows. */
static double sg_max_rel(const sg_case &c, int *compared)
{
	double worst = 0;
	*compared = 0;
	for (const sg_flow &f : c.flows) {
		if (f.theirs < 0)
			continue;
		double dur = f.theirs - f.start;
		double rel = std::fabs(f.ours - f.theirs) / std::max(dur, 1e-15);
		worst = std::max(worst, rel);
		(*compared)++;
	}
	return worst;
}

/* The skewed dispatch all-to-all of a bench or check case: flows between every pair. */
static void sg_add_alltoall(sg_case &c, uint64_t seed, int experts, int top_k, long tokens, double zipf_s,
			    double token_bytes)
{
	int n = c.g->world;
	std::vector<double> b((size_t)n * n);
	ms_error err;
	ms_error_clear(&err);
	if (net_synth_dispatch(seed, n, experts, top_k, tokens, zipf_s, token_bytes, c.g->domain_size, b.data(), nullptr,
			       &err) < 0)
		sg_die("synthetic all-to-all", err);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			if (i != j && b[(size_t)i * n + j] > 0)
				c.flows.push_back(sg_make_flow(i, j, b[(size_t)i * n + j], 0.0));
}

#endif
