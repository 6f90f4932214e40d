/*
 * par_layout.h - the parallel layout of a training job exactly as Megatron-Core lays
 * it out: which GPUs form each tensor-, context-, data-, pipeline- and expert-parallel
 * group, in the order Megatron's lists hold them, and the rules Megatron refuses a
 * layout by (docs/parallel.md lists them with their sources).
 *
 * Ranks are numbered the way Megatron-Core's RankGenerator numbers them for its default
 * order "tp-cp-ep-dp-pp" (megatron/core/parallel_state.py, initialize_model_parallel):
 * tp varies fastest, pp slowest. The dense layers use the grid tp x cp x dp x pp (the
 * "decoder" generator, ep = 1); the expert layers use etp x ep x edp x pp on the same
 * ranks (the "expert" generator, cp = 1). Both put pp last with the same stride, so a
 * rank has one pipeline stage in both.
 *
 * Every group kind stores three int32 arrays of world entries (members in Megatron's
 * order, rank -> group, rank -> index in the group), so the layout is O(world) per
 * kind in memory and time, never O(world^2): a 100k-GPU world with every kind is
 * about 16 MB. All accessors are O(1).
 */
#ifndef PAR_LAYOUT_H
#define PAR_LAYOUT_H

#include <stdint.h>
#include <stdio.h>

#include "common/ms_error.h"

/*
 * What the layout is computed from. A 0 where a comment says so takes Megatron's
 * default, as its argument parsing does; the resolved value is what par_layout.shape
 * holds afterwards.
 */
typedef struct par_shape {
	int world;            /* GPUs */
	int tp, cp, pp, vpp;  /* vpp: virtual stages per pipeline rank (1 = no interleaving; 0: 1) */
	int ep, etp;          /* expert parallel, expert tensor parallel (0: tp, as Megatron) */
	int dp;               /* 0: derive world / (tp*cp*pp) */
	/* model and workload facts the rules need */
	int layers;           /* total transformer layers (dense + MoE) */
	int first_stage_layers, last_stage_layers; /* uneven first / last stage, 0 for even */
	int experts, heads;
	int kv_heads;         /* query groups (0: heads, i.e. no GQA, as Megatron) */
	int ffn_hidden;
	int moe_ffn_hidden;   /* 0: ffn_hidden, as Megatron */
	int seq_len;          /* tokens per sequence */
	int64_t global_batch, micro_batch; /* sequences */
} par_shape;

/*
 * The group kinds. Each is one get_ranks() call of initialize_model_parallel, named
 * after the token it passes; "decoder" and "expert" say which RankGenerator.
 */
typedef enum par_kind {
	PAR_TP,       /* decoder 'tp': tensor parallel (_TENSOR_MODEL_PARALLEL_GROUP) */
	PAR_CP,       /* decoder 'cp': context parallel */
	PAR_DP,       /* decoder 'dp': data parallel without cp */
	PAR_PP,       /* decoder 'pp': pipeline; a rank's index in it is its stage */
	PAR_DP_CP,    /* decoder 'dp-cp': the dense gradient all-reduce (_DATA_PARALLEL_GROUP_WITH_CP) */
	PAR_TP_CP,    /* decoder 'tp-cp' (_TENSOR_AND_CONTEXT_PARALLEL_GROUP) */
	PAR_TP_DP_CP, /* decoder 'tp-dp-cp' (_TENSOR_AND_DATA_PARALLEL_GROUP_WITH_CP) */
	PAR_MP,       /* decoder 'tp-pp': model parallel (_MODEL_PARALLEL_GROUP) */
	PAR_EP,       /* expert 'ep': the token all-to-all (_EXPERT_MODEL_PARALLEL_GROUP) */
	PAR_ETP,      /* expert 'tp': expert tensor parallel (_EXPERT_TENSOR_PARALLEL_GROUP) */
	PAR_EDP,      /* expert 'dp': the expert gradient all-reduce (_EXPERT_DATA_PARALLEL_GROUP) */
	PAR_TP_EP,    /* expert 'tp-ep' (_EXPERT_TENSOR_AND_MODEL_PARALLEL_GROUP) */
	PAR_TP_EP_PP, /* expert 'tp-ep-pp' (_EXPERT_TENSOR_MODEL_PIPELINE_PARALLEL_GROUP) */
	PAR_NKINDS
} par_kind;

/* The groups of one kind: ngroups x size = world. */
typedef struct par_groups {
	int ngroups;
	int size;
	int32_t *members; /* group g's members at [g * size, (g + 1) * size), Megatron's order */
	int32_t *group;   /* rank -> its group */
	int32_t *pos;     /* rank -> its index in the group (its rank in that communicator) */
} par_groups;

typedef struct par_layout {
	par_shape shape;           /* as given, with dp, etp, vpp, kv_heads, moe_ffn_hidden resolved */
	int edp;                   /* expert data parallel: world / (etp * ep * pp) */
	int64_t microbatches;      /* per DP rank and step: global_batch / (micro_batch * dp) */
	int layers_per_chunk;      /* layers / (pp * vpp): one virtual stage's model chunk */
	par_groups groups[PAR_NKINDS];
} par_layout;

/*
 * Checks shape against Megatron-Core's rules and builds every group. On a refused
 * shape returns MS_EINVAL with a message that names the rule, the numbers and a fix;
 * MS_ENOMEM if the arrays cannot be allocated. A failed init leaves nothing to free
 * (par_layout_fini is still safe on it).
 */
int par_layout_init(par_layout *l, const par_shape *shape, ms_error *err);
void par_layout_fini(par_layout *l);

/* "tp", "dp-cp", "edp", ...: the name par_layout_print and docs/parallel.md use. */
const char *par_kind_name(par_kind kind);
/* The kind named name (par_kind_name's spelling), or -1. */
int par_kind_parse(const char *name);

static inline int par_ngroups(const par_layout *l, par_kind kind)
{
	return l->groups[kind].ngroups;
}

/* Members per group of the kind. */
static inline int par_group_size(const par_layout *l, par_kind kind)
{
	return l->groups[kind].size;
}

/* The group of the kind that rank belongs to, in [0, par_ngroups). */
static inline int par_group_of(const par_layout *l, par_kind kind, int rank)
{
	return l->groups[kind].group[rank];
}

/* The members of group `group` of the kind, in Megatron's order (ascending ranks);
 * *members points into the layout and lives as long as it. */
static inline void par_group_members(const par_layout *l, par_kind kind, int group, const int32_t **members, int *n)
{
	const par_groups *g = &l->groups[kind];
	*members = g->members + (int64_t)group * g->size;
	*n = g->size;
}

/* The rank's index inside its group of the kind: its tp rank, dp rank, ... */
static inline int par_coord(const par_layout *l, par_kind kind, int rank)
{
	return l->groups[kind].pos[rank];
}

/* The rank's pipeline stage (pp rank), 0 .. pp - 1. */
static inline int par_stage_of(const par_layout *l, int rank)
{
	return l->groups[PAR_PP].pos[rank];
}

/*
 * Writes the layout to f: a summary line, then per kind each group's members and the
 * nodes they occupy (node = rank / *gpus_per_node). gpus_per_node NULL, or pointing
 * to 0, leaves the nodes out. O(world) per kind.
 */
void par_layout_print(FILE *f, const par_layout *l, const int *gpus_per_node);

/* Its parts, for printing less (`moesim layout --group`, `--rank`): the two summary
 * lines; one kind's header line and its groups; and one group's members and nodes as
 * "ranks 0 8 16 24; nodes 0-3 (4)" with no newline. */
void par_layout_print_summary(FILE *f, const par_layout *l);
void par_layout_print_kind(FILE *f, const par_layout *l, par_kind kind, const int *gpus_per_node);
void par_group_print(FILE *f, const par_layout *l, par_kind kind, int group, const int *gpus_per_node);

#endif
