/*
 * rt_placement.h - where each expert lives inside an EP group, per MoE layer, with
 * optional replicas of hot experts.
 *
 * A placement maps every expert to one or more replicas; a replica is a slot on one
 * member GPU. Placements: contiguous (expert e on member e / (E/P)), round-robin
 * (member e mod P), from a file, or load-aware with R redundant replicas, as
 * DeepSeek's EPLB does (DeepSeek-AI 2025, github.com/deepseek-ai/EPLB, the global
 * policy): first give replicas one by one to the expert with the highest load per
 * replica, then pack the E + R replicas onto the P members, heaviest first, each onto
 * the least-loaded member that still has a free slot ((E + R) / P slots each).
 *
 * Tokens of a replicated expert are split among its replicas: from each source member,
 * count / r to each of the r replicas, the remainder one each to the first replicas in
 * order starting at (source member mod r), so the split is even and deterministic.
 */
#ifndef RT_PLACEMENT_H
#define RT_PLACEMENT_H

#include <stdint.h>

#include "common/ms_error.h"

typedef struct rt_placement {
	int experts, members, layers;
	int slots;          /* replicas per member (max over members) */
	/* per layer l: replicas of expert e are rep_member[l][rep_start[e] .. rep_start[e+1]) */
	int32_t **rep_start;  /* [layers][experts + 1] */
	int32_t **rep_member; /* [layers][replicas] member of each replica */
	int32_t **rep_slot;   /* [layers][replicas] slot index on that member */
} rt_placement;

/* Contiguous (round_robin = 0) or round-robin placement, the same for every layer. */
int rt_placement_init_static(rt_placement *pl, int experts, int members, int layers, int round_robin, ms_error *err);

/*
 * Load-aware placement: per layer, `redundant` extra replicas given to the hottest
 * experts, then balanced packing. load is [layers][experts] (any non-negative unit).
 * (experts + redundant) must be a multiple of members.
 */
int rt_placement_init_eplb(rt_placement *pl, int experts, int members, int layers, int redundant,
			   const double *load, ms_error *err);

/*
 * From a text file: lines "EXPERT GPU" (every layer) or "LAYER EXPERT GPU" (one
 * layer), '#' comments. An expert listed on several GPUs has replicas there. Every
 * expert of every layer must be placed; GPU is the member index in the EP group.
 */
int rt_placement_init_file(rt_placement *pl, const char *path, int experts, int members, int layers, ms_error *err);

void rt_placement_fini(rt_placement *pl);

/* Number of replicas of expert e in layer l. */
static inline int rt_placement_replicas(const rt_placement *pl, int l, int e)
{
	return pl->rep_start[l][e + 1] - pl->rep_start[l][e];
}

/* Number of slots on member m in layer l. */
int rt_placement_member_slots(const rt_placement *pl, int l, int m);

/*
 * Distributes count token-expert pairs from source member src to the replicas of
 * expert e in layer l: adds to pairs[src * members + member] (unless pairs is NULL) and
 * to slot_load[member * slots + slot]. Replica (rep_start[l][e] + (src + i) mod r) takes
 * count / r, plus one for i < count mod r: so the n-th of the pairs goes to the one with
 * i = n mod r, which is how the router places single tokens (rt_router.c).
 */
void rt_placement_split(const rt_placement *pl, int l, int e, int src, int64_t count, int64_t *pairs,
			int64_t *slot_load);

#endif
