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
 *                 nodes), which forwards bytes[i][j] to each member j of D over
 *                 NVLink. The relay is pipelined in chunks (DeepEP's internode
 *                 kernels): the network transfer goes as K equal chunks one after the
 *                 other (relay_chunk_bytes each, at most relay_max_chunks), and the
 *                 relay forwards each chunk's share of bytes[i][j] as soon as the
 *                 chunk has arrived and its previous forward to j is done, so both
 *                 legs run at once. Only the first chunk of a leg, and a forward the
 *                 relay had to wait for, pay their route's latency; chunks that follow
 *                 back to back stream on without it.
 *                 The network transfer carries domain_bytes[i*nd + d] if given (bytes
 *                 with each token counted once per destination domain, the dedup
 *                 DeepEP does), else the sum of bytes[i][j] over j in D. Domains are
 *                 indexed d = 0 .. nd - 1 in the order members first appear in ranks.
 *                 Pairs inside one domain are direct NVLink flows.
 *   nccl          NCCL's all-to-all (nccl-tests' alltoall: one ncclSend and one
 *                 ncclRecv per peer in a group), scheduled as NCCL does it: every
 *                 member walks NCCL's p2p schedule of rounds (init.cc ncclP2pSchedule),
 *                 round r's send and receive are split into parts over channels
 *                 base(r) .. (enqueue.cc addP2pToPlan, channel.h
 *                 ncclP2pChannelBaseForRound), rounds of one group of 8 share a batch
 *                 on a channel and a channel runs its batches one after the other
 *                 (enqueue.cc ncclAddWorkBatchToPlan). A part is one flow, started
 *                 when both ends' channels have reached its batch; small intra-domain
 *                 parts use the LL protocol, which doubles their bytes on the wire.
 *                 docs/network.md gives the derivation and the parameters.
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

typedef enum { NET_A2A_FLAT, NET_A2A_PAIRWISE, NET_A2A_HIERARCHICAL, NET_A2A_NCCL } net_a2a_algo;

#define NET_COLL_TAG(id, k) (((uint64_t)(uint32_t)(id) << 32) | (uint64_t)(uint32_t)(k))
#define NET_COLL_TAG_ID(tag) ((uint32_t)((uint64_t)(tag) >> 32))

const char *net_a2a_algo_name(net_a2a_algo a);

typedef struct net_coll net_coll;

/*
 * Parameters of the nccl and hierarchical algorithms (docs/network.md cites each
 * default). A collective starts with net_coll_params_default's values.
 */
typedef struct net_coll_params {
	int nccl_channels;              /* NCCL's p2p channels (comm->p2pnChannels): a power of 2, 1 .. 64; 16 */
	int nccl_net_channels_per_peer; /* channels per network peer before NCCL's reductions; 0: NCCL's rule
					   max(1, ceil(NIC GB/s / 14)) (paths.cc ncclTopoGetNchannels) */
	double nccl_chunk_bytes;        /* p2p chunk; 0: NCCL's default, 128 KiB when the group spans NVLink
					   domains (NCCL_P2P_NET_CHUNKSIZE), else 512 KiB (NCCL_P2P_NVL_CHUNKSIZE) */
	double relay_chunk_bytes;       /* hierarchical relay chunk: 8 tokens x 7168 x 2 bytes = 114,688 */
	int relay_max_chunks;           /* chunks per network leg at most (larger chunks beyond): 8 */
} net_coll_params;

void net_coll_params_default(net_coll_params *p);

/* A collective's state for groups of up to max_members GPUs of g. */
net_coll *net_coll_create(const topo_graph *g, int max_members, ms_error *err);
void net_coll_destroy(net_coll *c);

/* Sets the parameters for the collectives started after it (values asserted in range). */
void net_coll_set_params(net_coll *c, const net_coll_params *p);

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
	uint64_t solves, incidences;         /* flow model work (net_maxmin_stats) */
	uint64_t resolved, changed;
} net_a2a_result;

/*
 * Times one all-to-all in isolation: m must have no flow in flight; it is reset to
 * time 0, the collective starts at 0 and the model runs until it completes. Fills
 * out (link bytes stay readable through net_model_link_bytes).
 */
int net_a2a_time(net_model *m, net_a2a_algo algo, const int *ranks, int n, const double *bytes,
		 const double *domain_bytes, net_a2a_result *out, ms_error *err);

/* Same with explicit parameters (NULL: the defaults). */
int net_a2a_time_params(net_model *m, net_a2a_algo algo, const net_coll_params *p, const int *ranks, int n,
			const double *bytes, const double *domain_bytes, net_a2a_result *out, ms_error *err);

/* The k most utilised constrained links over [0, time_s] (by net_model_link_bytes). */
int net_hot_links(const net_model *m, double time_s, int k, net_link_load *out);

#endif
