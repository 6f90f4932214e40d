/*
 * sim_dispatch.h - what an MoE dispatcher puts on the links: its wire format (bytes
 * per token, metadata included) and, from a routed EP group, the transfer matrix of one
 * all-to-all: T[i][j], the bytes member i sends to member j over the one link class
 * between them (NVLink inside an NVLink domain, the network across), relay legs
 * included. Both network models take T as it is, so the dispatcher decides the bytes
 * and the network decides the time.
 *
 * Dispatchers (network.dispatcher; docs/network.md, "Dispatchers", with the sources):
 *   megatron   Megatron-Core's MoEAlltoAllTokenDispatcher (megatron/core/transformer/moe/
 *              token_dispatcher.py, token_dispatch): tokens are permuted per expert and
 *              one all-to-all moves every (token, expert) pair, a second one its float32
 *              probability; combine (token_combine) moves every pair back. T[i][j] =
 *              pairs[i][j] x row.
 *   deepep     DeepEP's normal kernels (csrc/kernels/legacy/intranode.cu and
 *              internode.cu, dispatch / combine): inside an NVLink domain a token goes
 *              once to each destination GPU (gpu_tokens); to another domain it crosses the
 *              network once per destination domain (domain_tokens), to the GPU of that
 *              domain at the sender's own position (the same rail), which forwards it over
 *              NVLink once to each destination GPU there. Combine is the mirror: each GPU
 *              sends its reduced partial sum of a token to the relay, which reduces per
 *              domain and sends once over the network. The forwarding is chunked, so
 *              both legs run at once: T holds them side by side.
 *   deepep_ll  DeepEP's low-latency kernels (internode_ll.cu): every (token, expert)
 *              selection is one message straight to the expert's GPU; combine likewise.
 *
 * The presets' de-duplication can be set apart (network.dedup, network.combine_reduce:
 * none = per pair, gpu = once per destination GPU directly, node = DeepEP's per GPU and
 * per domain through the relay); the wire format stays the dispatcher's, its same-domain
 * row used on direct legs and its other-domain row on relayed ones.
 *
 * Per-token bytes (H = model.hidden, K = top_k, e = bytes per element of the wire dtype,
 * s = 4 ceil(H / 128) for fp8's float32 block scales, else 0):
 *   megatron   to experts  H e + s + 4 (the probability)      back  H e + s
 *   deepep     to experts, same domain   H e + s + 4 + 8K + 4K   (x, scales, source index,
 *              int64 top-k ids, float top-k weights: intranode.cu's channel buffers)
 *              to experts, other domain  align16(H e + 8 + s + 4K + 4K)  (get_num_bytes_
 *              per_token in internode.cu, on both legs)
 *              back, same domain  H e + 4 + 4K;   back, other domain  align16(H e + 8 + 4K)
 *   deepep_ll  to experts  16 + H e + s  (num_bytes_per_msg: source index and 3 reserved
 *              ints, then x and scales)      back  H e + 4 H / 128 (num_bytes_per_slot)
 */
#ifndef SIM_DISPATCH_H
#define SIM_DISPATCH_H

#include <stdint.h>

#include "scenario/scn_scenario.h"

typedef struct sim_wire {
	scn_dispatcher kind;       /* the wire format and the launches */
	scn_dedup dedup, reduce;   /* what is sent once towards the experts, and back */
	double to_intra, to_net;     /* bytes per token towards the experts: same domain, other domain */
	double back_intra, back_net; /* bytes per token back from the experts */
	int launches_to, launches_back; /* kernels (collectives) launched per direction */
	double naive_to, naive_back; /* bytes per (token, expert) pair of a per-pair copy in the same dtypes */
} sim_wire;

void sim_wire_init(sim_wire *w, const scn_scenario *s);

/* One EP group's routing counts, as the router gives them (rt_group_routing). */
typedef struct sim_counts {
	int P;                      /* members */
	const int *ranks;           /* [P] global ranks, consecutive */
	int domain_size;            /* GPUs per NVLink domain */
	const int32_t *pairs;       /* [P][P] (token, expert) pairs member i sends to member j */
	const int32_t *gpu_tokens;  /* [P][P] distinct tokens member i sends to member j */
	const int32_t *dom_tokens;  /* [P][nd_stride] distinct tokens member i sends to each domain */
	int nd_stride;
} sim_counts;

/*
 * Fills T[P][P] (bytes) and, if M is not NULL, M[P][P] (messages: one per selection for
 * deepep_ll, else one per non-empty transfer) for one all-to-all: towards the experts
 * (to_experts = 1) or back. The diagonal is 0 (a GPU's own tokens cross no link).
 * naive (may be NULL) receives what a copy per (token, expert) pair would have moved:
 * [0] inside NVLink domains, [1] across them (for the de-duplication factors).
 */
void sim_dispatch_transfers(const sim_wire *w, int to_experts, const sim_counts *c, double *T, double *M,
			    double naive[2]);

#endif
