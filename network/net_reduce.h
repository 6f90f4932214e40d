/*
 * net_reduce.h - all-reduce, all-gather and reduce-scatter among a group of GPUs as
 * flows on the flow model (net_model.h), and their closed forms.
 *
 * Sizes are nccl-tests' (src/all_reduce.cu, all_gather.cu, reduce_scatter.cu
 * *GetCollByteCount): S is the all-reduce buffer of every rank, the all-gather's
 * gathered output (each rank contributes S / n) and the reduce-scatter's input (each
 * rank keeps S / n). Algorithms (docs/network.md):
 *
 *   ring  the members in order form a ring, member i sending to i + 1 mod n (across
 *         NVLink domains, min(NICs per node, members per domain) rings of S / R each,
 *         entering and leaving every domain through different GPUs, so on different
 *         NICs, as NCCL's channels; net_reduce.c ring_build). Reduce-
 *         scatter and all-gather are n - 1 steps of S / n bytes per member, all-reduce
 *         2(n - 1) (reduce-scatter then all-gather, as NCCL's ring all-reduce, src/device/
 *         all_reduce.h runRing); member i sends step s once its send of step s - 1 and
 *         its receive of step s - 1 are done (it forwards what it received). Every step
 *         pays its route's latency, so on identical links the time is steps x (latency +
 *         S / (n B)): for all-reduce 2(n-1)/n x S/B + 2(n-1) x latency.
 *   tree  all-reduce only, NCCL's double binary tree (src/graph/trees.cc): two binary
 *         trees, the second the mirror of the first (member n-1-p at heap position p), so
 *         that a member inner in one is a leaf in the other; each carries half of S, in
 *         chunks, reduced up and broadcast down, pipelined: a member sends chunk c up once
 *         its children's chunk c has arrived, the root starts broadcasting chunk c once it
 *         has reduced it, and a member passes chunk c down once it has received it.
 *         Chunks sent back to back stream without paying latency again (as the relay of
 *         net_coll.h).
 *
 * Flows carry tags NET_COLL_TAG(id, k), as net_coll's. Cost: ring 2(n-1) x n flows;
 * tree 4 (n - 1) x chunks.
 *
 * The same collectives analytically on the cluster (topo_cluster.h), for network.model
 * = analytic, below: net_red_analytic_time, and net_p2p_analytic_time for one send.
 */
#ifndef NET_REDUCE_H
#define NET_REDUCE_H

#include <stdint.h>

#include "common/ms_error.h"
#include "network/net_alltoall.h"
#include "network/net_model.h"
#include "topology/topo_cluster.h"
#include "topology/topo_graph.h"

typedef enum { NET_RED_ALLREDUCE, NET_RED_ALLGATHER, NET_RED_REDUCESCATTER } net_red_op;
typedef enum { NET_RED_RING, NET_RED_TREE } net_red_algo;

const char *net_red_op_name(net_red_op op);
const char *net_red_algo_name(net_red_algo a);

typedef struct net_red net_red;

/* A collective's state for groups of up to max_members GPUs of g. */
net_red *net_red_create(const topo_graph *g, int max_members, ms_error *err);
void net_red_destroy(net_red *c);

/* Tree chunks: chunk_bytes each (default 512 KiB, NCCL's SIMPLE step: a 4 MiB buffer over
 * NCCL_STEPS = 8, init.cc computeBuffSizes), at most max_chunks per tree (default 64). */
void net_red_set_chunks(net_red *c, double chunk_bytes, int max_chunks);

/*
 * Starts op at time now on m among ranks[0..n-1] (S = bytes as above). The tree is for
 * all-reduce only (asserted). Returns 1 if already complete (n = 1 or nothing to
 * send), 0 if flows are in flight, or a negative code.
 */
int net_red_start(net_red *c, net_model *m, double now, net_red_op op, net_red_algo algo, const int *ranks, int n,
		  double bytes, uint32_t id, ms_error *err);

/* Its flow tag finished at time now; may start flows. 1 when the collective has just
 * completed, 0 if it continues, or a negative code. */
int net_red_flow_done(net_red *c, net_model *m, double now, uint64_t tag, ms_error *err);

int net_red_running(const net_red *c);
double net_red_end_time(const net_red *c);
long net_red_flows(const net_red *c);

/* Times one in isolation from t = 0 (m must be idle; it is reset). */
int net_red_time(net_model *m, net_red_op op, net_red_algo algo, const int *ranks, int n, double bytes,
		 double *time_s, long *flows, ms_error *err);

/*
 * Closed forms on identical links of bw_Bps per direction and route latency latency_s:
 * ring: steps x (latency + S / (n B)), steps = 2(n-1) for all-reduce, n-1 otherwise
 * (exact for the flow model when each member's sends and receives have a port of
 * their own). Tree all-reduce: bandwidth plus the latency of the longest path: a
 * member inner in one tree sends S/2 up and S/2 to each of two children, and S/2 up in
 * the tree where it is a leaf, 2S in all (S for n = 2, where both are roots or leaves),
 * so at least 2S / B (S / B), plus 2 x depth x latency (depth = floor(log2 n)) for the
 * first chunk to go up and back down. The bandwidth term is a lower bound of the flow
 * model; the sum is one only when bandwidth dominates, as a tree's chunks move during
 * the other tree's latency (6 GPUs, 7.3 MB, 369 GB/s, 3 us: the flow model is 9 %
 * below the sum, tests/check_reduce.c).
 */
double net_red_ring_time(net_red_op op, int n, double bytes, double bw_Bps, double latency_s);
double net_red_tree_bound(int n, double bytes, double bw_Bps, double latency_s);

/*
 * ---- Analytic times on the cluster ----------------------------------------------------
 *
 * Closed forms, bottleneck per port, on topo_cluster's links as net_alltoall.h takes
 * them: an NVLink port per GPU and direction at B_nv = links.nvlink_Bps with latency
 * a_nv = links.nvlink_latency_s, a NIC per direction at B_nic = links.nic_Bps with
 * a_nic = links.nic_latency_s (both achieved rates: line rate x network.nvlink_efficiency
 * or nic_efficiency, or a profile's measurement, hardware/hw_rates.h); the network core
 * is non-blocking and its per-hop latency (network.link_latency_us) is not counted.
 * Members may be any distinct ranks: several NVLink domains and nodes, strided (DP
 * groups {0, 16, 32, ...}).
 *
 * Ring, the rings the flow model runs (the same ring_layout, net_reduce.c): R rings
 * (R = min(NICs per node, members per domain) across domains, else 1), each carrying
 * S / R, so every step moves b = S / (n R) per ring and member. Per step, rho_nv is the
 * most ring hops inside a domain that one member's NVLink port sends or receives, and
 * rho_nic the most hops between domains that one NIC sends or receives (each ring leaves
 * a domain by one GPU, so its NIC, and enters the next by another). A step takes its
 * slowest hop:
 *     step = max(a_nv + b rho_nv / B_nv,  a_nic + b rho_nic / B_nic)   (classes in use)
 *     T    = launches x launch_s + steps x step,
 *     steps = 2(n-1) for all-reduce (reduce-scatter then all-gather on the ring, NCCL
 *     src/device/all_reduce.h runRing: n-1 reduce steps then n-1 copy steps of one chunk
 *     of S/n each), n-1 for all-gather and reduce-scatter (NCCL src/graph/tuning.cc:
 *     nsteps = 2(nRanks-1), or nRanks-1).
 * So in one domain T = steps (a_nv + S / (n B_nv)), net_red_ring_time; members each alone
 * in a domain on their own NICs, steps (a_nic + S / (n B_nic)); D domains of m members and
 * a NIC per GPU, R = min(NICs, m) rings, rho_nic = 1 and rho_nv = R (R - 1 when R = m,
 * every member being some ring's exit). In nccl-tests' terms (doc/PERFORMANCE.md:
 * algbw = S / t, busbw = algbw x 2(n-1)/n for all-reduce, x (n-1)/n for all-gather and
 * reduce-scatter) the ring's busbw, S / (n step), is R b / step: without latency B_nv in
 * one domain, R B_nic / rho_nic across domains when the NICs are the bottleneck.
 * Against the flow model: every flow's max-min rate is at least its ports' rate over the
 * flows they carry, and member i sends step s when its step s-1 send and receive are
 * done, so the flow time is at most T; it is at least steps x b rho / B of the busiest
 * port (every byte crosses it), so at most steps x the larger latency below T. They are
 * equal when every port carries the same flows through whole steps, as in every layout
 * of tests/check_reduce.c (one domain; 2 x 8 GPUs NIC- and NVLink-bound; 4 NICs; two
 * rings behind one NIC; strided groups: within 1e-15).
 *
 * Tree (all-reduce), the double binary tree the flow model runs (NCCL src/graph/
 * trees.cc ncclGetDtree; here a binary heap over the members in order and its mirror):
 * each tree carries S / 2 up every edge and back down. V_i is the bytes member i's
 * NVLink port sends (or receives) over edges inside its domain, W_nic those a NIC carries
 * over edges between domains, P_t the most latency on a root-to-leaf path of tree t
 * (a_nv or a_nic per edge):
 *     T = launches x launch_s + max(max_i V_i / B_nv, max W_nic / B_nic) + 2 max_t P_t,
 * which on one domain is net_red_tree_bound(n, S, B_nv, a_nv): inner in one tree and a
 * leaf in the other, a member moves 2S (S for n = 2). NCCL's own model has the same
 * shape (src/graph/tuning.cc: tree algbw = busbw / 2, latency 2 x (intra-node depth x
 * intraLat + log2(nodes) x interLat)). Against the flow model: it is never below the
 * bandwidth term (T - latency_s - overhead). The flow model sends S / 2 per tree in K
 * chunks of at most 512 KiB, K <= 64 (net_red_set_chunks): with K = 64 (S >= 64 MiB) it is
 * within 2 / K above T (a chunk stage of the busiest port before its first chunk and one
 * after its last; measured +0.2 to +0.7 %); with few chunks it is slower, the chunks
 * being stored and forwarded down the depth (1 MB among 4 nodes, one chunk per tree:
 * +41 %); in between, the latency counted in series overlaps the other tree's bytes
 * (7.3 MB in one domain of 6: -9 %).
 *
 * Not counted: the NIC message rate (one message per ring hop and step is far below any
 * NIC's rate at sizes where bandwidth matters) and per-peer issue for the collectives (a
 * ring's sends are posted by its kernel over connections set up once). Two members of
 * different domains behind one NIC are counted on that NIC, as net_alltoall does (the
 * flow model's route joins them through it without crossing the switch). S <= 0 or
 * n = 1 take 0 (NCCL returns at once for a count of 0, src/enqueue.cc); the flow
 * model's empty steps would pay their latency.
 */
typedef struct net_red_analytic net_red_analytic;

typedef struct net_red_analytic_stats {
	double time_s;     /* the whole collective, overhead included */
	double overhead_s; /* launches x launch_s, before the first byte moves */
	double nvlink_s;   /* ring: a_nv + b rho_nv / B_nv per step; tree: max V_i / B_nv (0: no NVLink edge) */
	double nic_s;      /* ring: a_nic + b rho_nic / B_nic per step; tree: max W_nic / B_nic (0: none) */
	double latency_s;  /* tree: 2 max_t P_t; ring: 0 (in the step terms) */
	int rings;         /* ring: R; tree: 2 */
	int steps;         /* ring: 2(n-1) or n-1; tree: 0 */
	int rho_nvlink;    /* ring: rho_nv, tree: 0 */
	int rho_nic;       /* ring: rho_nic, tree: 0 */
} net_red_analytic_stats;

/* Workspace for groups of up to max_members GPUs on cluster t (t must outlive it), as
 * net_alltoall_create: O(max_members x NICs per node + NVLink domains + NICs) memory,
 * allocated once. */
net_red_analytic *net_red_analytic_create(const topo_cluster *t, int max_members, ms_error *err);
void net_red_analytic_destroy(net_red_analytic *a);

/*
 * The analytic time of op among ranks[0..n-1] (S = bytes as above; the tree for all-
 * reduce only, asserted); costs may be NULL (no overhead). out (may be NULL) receives
 * the terms. O(R n) for a ring, O(n log n) for the tree; allocates nothing.
 */
double net_red_analytic_time(net_red_analytic *a, net_red_op op, net_red_algo algo, const int *ranks, int n,
			     double bytes, const net_costs *costs, net_red_analytic_stats *out);

/*
 * One send of bytes from rank src to rank dst: a_nv + S / B_nv inside one NVLink domain,
 * a_nic + S / B_nic otherwise, plus launches x launch_s and one peer_message_s (the
 * send is issued to one peer); 0 when src = dst or S <= 0. O(1).
 *
 * On the flow model a send is one flow on the route between the two GPUs, so no helper
 * is needed: net_model_add(m, now, src, dst, bytes, tag, err) starts it (add it at
 * now + the overhead above to pay the costs), and net_model_advance's callback reports
 * the tag when it is done, after its route's latency (its switch hops' included) and
 * its bytes at its max-min rate; alone on its links, exactly the time above plus
 * network.link_latency_us per switch hop (tests/check_reduce.c p2p_against_one_flow).
 */
double net_p2p_analytic_time(const topo_cluster *t, int src, int dst, double bytes, const net_costs *costs);

#endif
