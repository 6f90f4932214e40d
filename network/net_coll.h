/*
 * net_coll.h - all-to-all collectives as flows on the flow model (net_model.h).
 *
 * A group is n GPUs (ranks[i] is member i's GPU) and an n x n byte matrix, row-major:
 * bytes[i*n + j] goes from member i to member j. A member's bytes to itself cross no
 * link and make no flow. Algorithms (docs/network.md):
 *
 *   flat          every pair with bytes > 0 is one flow, all started together.
 *   pairwise      n - 1 stages (NCCL's pairwise exchange): in stage s member i sends
 *                 to (i + s) mod n and receives from (i - s) mod n. The flow i -> j of
 *                 stage s starts when both i and j have finished stage s - 1, a member
 *                 finishing a stage when its send and its receive of that stage are
 *                 done (a transfer needs both ends posted). Pairs with 0 bytes still
 *                 synchronise: their flow carries 0 bytes and pays the route latency.
 *   hierarchical  (DeepEP-style) member i's bytes for the members in another NVLink
 *                 domain D cross the network once, to the relay: the GPU of D at i's
 *                 position within its own domain (the same rail when domains are
 *                 nodes); when that transfer is done, the relay forwards bytes[i][j]
 *                 to each member j of D over NVLink (store-and-forward per (i, D)).
 *                 The network transfer carries domain_bytes[i*nd + d] if given (bytes
 *                 with each token counted once per destination domain, the dedup
 *                 DeepEP does), else the sum of bytes[i][j] over j in D. Domains are
 *                 indexed d = 0 .. nd - 1 in the order members first appear in ranks.
 *                 Pairs inside one domain are direct NVLink flows.
 *
 * Flows carry tags NET_COLL_TAG(id, k), id being the caller's 32-bit name for the
 * collective, so an engine running several collectives on one model can route each
 * finished flow to its collective (NET_COLL_TAG_ID).
 */
#ifndef NET_COLL_H
#define NET_COLL_H

#include <stdint.h>

#include "common/ms_error.h"
#include "network/net_model.h"
#include "topology/topo_graph.h"

typedef enum { NET_A2A_FLAT, NET_A2A_PAIRWISE, NET_A2A_HIERARCHICAL } net_a2a_algo;

#define NET_COLL_TAG(id, k) (((uint64_t)(uint32_t)(id) << 32) | (uint64_t)(uint32_t)(k))
#define NET_COLL_TAG_ID(tag) ((uint32_t)((uint64_t)(tag) >> 32))

const char *net_a2a_algo_name(net_a2a_algo a);

typedef struct net_coll net_coll;

/* A collective's state for groups of up to max_members GPUs of g. */
net_coll *net_coll_create(const topo_graph *g, int max_members, ms_error *err);
void net_coll_destroy(net_coll *c);

/*
 * Starts an all-to-all at time now on m (bytes and domain_bytes are copied;
 * domain_bytes may be NULL). Returns 1 if it is already complete (nothing to send),
 * 0 if flows are in flight, or a negative code. The collective must not be running.
 */
int net_coll_start(net_coll *c, net_model *m, double now, net_a2a_algo algo, const int *ranks, int n,
		   const double *bytes, const double *domain_bytes, uint32_t id, ms_error *err);

/*
 * Tells the collective that its flow tag finished at time now (call it from the
 * model's done callback); it may start further flows on m. Returns 1 when the
 * collective has just completed, 0 if it continues, or a negative code.
 */
int net_coll_flow_done(net_coll *c, net_model *m, double now, uint64_t tag, ms_error *err);

int net_coll_running(const net_coll *c);
/* Start and completion times of the last started collective. */
double net_coll_start_time(const net_coll *c);
double net_coll_end_time(const net_coll *c);
/* Flows the last collective started. */
long net_coll_flows(const net_coll *c);

/* A link's load over an interval. */
typedef struct net_link_load {
	int link;
	double bytes;
	double utilisation; /* bytes / (capacity x interval) */
} net_link_load;

#define NET_HOT_LINKS 8

typedef struct net_a2a_result {
	double time_s;                       /* completion time, from 0 */
	long flows;
	double class_bytes[HW_LINK_COUNT];   /* bytes over the links of each class, summed over links */
	double class_max_bytes[HW_LINK_COUNT]; /* busiest link of each class */
	int n_hot;
	net_link_load hot[NET_HOT_LINKS];    /* highest utilisation first */
	uint64_t solves, incidences;         /* flow model work */
} net_a2a_result;

/*
 * Times one all-to-all in isolation: m must have no flow in flight; it is reset to
 * time 0, the collective starts at 0 and the model runs until it completes. Fills
 * out (link bytes stay readable through net_model_link_bytes).
 */
int net_a2a_time(net_model *m, net_a2a_algo algo, const int *ranks, int n, const double *bytes,
		 const double *domain_bytes, net_a2a_result *out, ms_error *err);

/* The k most utilised constrained links over [0, time_s] (by net_model_link_bytes). */
int net_hot_links(const net_model *m, double time_s, int k, net_link_load *out);

#endif
