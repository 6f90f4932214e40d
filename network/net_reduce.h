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
 */
#ifndef NET_REDUCE_H
#define NET_REDUCE_H

#include <stdint.h>

#include "common/ms_error.h"
#include "network/net_model.h"
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
 * their own). Tree all-reduce: a lower bound, bandwidth plus the latency of the
 * longest path: a member inner in one tree sends S/2 up and S/2 to each of two
 * children, and S/2 up in the tree where it is a leaf, 2S in all (S for n = 2, where
 * both are roots or leaves), so at least 2S / B (S / B), plus 2 x depth x latency
 * (depth = floor(log2 n)) for the first chunk to go up and back down.
 */
double net_red_ring_time(net_red_op op, int n, double bytes, double bw_Bps, double latency_s);
double net_red_tree_bound(int n, double bytes, double bw_Bps, double latency_s);

#endif
