/*
 * scn_scenario.h - the scenario: every input value of a run, loaded once from a
 * libconfig file (or the built-in default), overridden by --set, and validated.
 *
 * Loading is table-driven (scn_scenario.c holds one row per key: type, default,
 * allowed range, unit, documentation), so unknown keys, wrong types and values out
 * of range are all reported the same way, naming file:line, the key and what is
 * allowed. After scn_scenario_load returns MS_OK every field is valid and every
 * cross-field rule holds (top_k <= experts, ep divides the GPUs, ...); later modules
 * do not re-validate.
 *
 * Data flows one way: scenario -> topology/model -> routing -> engine -> output.
 */
#ifndef SCN_SCENARIO_H
#define SCN_SCENARIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/ms_error.h"

#define SCN_NAME_MAX 128
#define SCN_PATH_MAX 1024
#define SCN_MAX_OVERRIDES 64
#define SCN_MAX_KEYS 160

typedef enum { SCN_DTYPE_BF16, SCN_DTYPE_FP16, SCN_DTYPE_FP8, SCN_DTYPE_FP32 } scn_dtype;
typedef enum { SCN_MODE_TRAINING, SCN_MODE_PREFILL, SCN_MODE_DECODE } scn_mode;
typedef enum { SCN_DIST_UNIFORM, SCN_DIST_ZIPF, SCN_DIST_BALANCED } scn_distribution;
typedef enum { SCN_SCOPE_RANK, SCN_SCOPE_GLOBAL } scn_capacity_scope;
typedef enum { SCN_DROP_PROBS, SCN_DROP_POSITION } scn_drop_policy;
/* routing.router, in rt_policy_kind's order (routing/rt_policy.h). */
typedef enum { SCN_ROUTER_TOPK, SCN_ROUTER_EXPERT_CHOICE, SCN_ROUTER_BIAS_BALANCED, SCN_ROUTER_BPR } scn_router;
typedef enum { SCN_PLACE_CONTIGUOUS, SCN_PLACE_ROUND_ROBIN, SCN_PLACE_FILE, SCN_PLACE_LOAD_AWARE } scn_placement;
typedef enum { SCN_SRC_SYNTHETIC, SCN_SRC_TRACE } scn_routing_source;
typedef enum { SCN_NET_ANALYTIC, SCN_NET_FLOW } scn_net_model;
typedef enum { SCN_TOPO_SINGLE_SWITCH, SCN_TOPO_FAT_TREE, SCN_TOPO_RAIL, SCN_TOPO_CUSTOM } scn_topology;
typedef enum { SCN_ECMP_HASH, SCN_ECMP_EVEN } scn_ecmp;
typedef enum { SCN_A2A_FLAT, SCN_A2A_PAIRWISE, SCN_A2A_HIERARCHICAL, SCN_A2A_NCCL, SCN_A2A_AUTO } scn_alltoall;
/* How tokens cross the EP group (docs/network.md, "Dispatchers"). */
typedef enum { SCN_DISP_MEGATRON, SCN_DISP_DEEPEP, SCN_DISP_DEEPEP_LL } scn_dispatcher;
/* What a dispatcher sends once (network.dedup, network.combine_reduce; "auto" resolved). */
typedef enum { SCN_DEDUP_NONE, SCN_DEDUP_GPU, SCN_DEDUP_NODE, SCN_DEDUP_AUTO } scn_dedup;
/* Attention of every layer (model.attention). */
typedef enum { SCN_ATTN_MHA, SCN_ATTN_GQA, SCN_ATTN_MLA } scn_attention;
/* How communication overlaps computation (schedule.overlap). */
typedef enum { SCN_OVERLAP_NONE, SCN_OVERLAP_TWO_BATCH, SCN_OVERLAP_DUALPIPE } scn_overlap;
/* Activation recomputation in training (training.recompute, Megatron's --recompute-granularity). */
typedef enum { SCN_RECOMPUTE_NONE, SCN_RECOMPUTE_SELECTIVE, SCN_RECOMPUTE_FULL } scn_recompute;

typedef struct scn_scenario {
	char source[SCN_PATH_MAX]; /* file the scenario came from, or "<built-in default>" */

	struct {
		char name[SCN_NAME_MAX];
		int hidden;      /* model width d_model */
		int ffn_hidden;  /* one expert's FFN width */
		int experts;     /* routed experts per MoE layer */
		int top_k;       /* experts per token the model was trained with */
		int moe_layers;  /* MoE layers (each: attention + routed FFN) */
		int dense_layers;     /* leading dense layers (attention + dense FFN) before the MoE part */
		int dense_ffn_hidden; /* FFN width of a dense layer (resolved: never 0) */
		int moe_every;        /* after the leading dense layers, every moe_every-th layer is MoE */
		int layers;           /* derived: dense_layers + moe_layers x moe_every */
		int shared_experts;   /* shared experts per MoE layer (every token goes through them) */
		int shared_ffn_hidden;/* FFN width of one shared expert (resolved: never 0) */
		scn_attention attention;
		int q_lora_rank;      /* MLA: query compression rank, 0 for none */
		int kv_lora_rank;     /* MLA: key/value compression rank */
		int qk_nope_head_dim; /* MLA: per-head query/key width without rotary part */
		int qk_rope_head_dim; /* MLA: per-head rotary width (the shared rotary key too) */
		int v_head_dim;       /* MLA: per-head value width */
		int vocab;            /* vocabulary: embedding and LM head */
		int mtp_layers;       /* multi-token-prediction modules (DeepSeek-V3), 0 for none */
		int heads;       /* attention query heads */
		int kv_heads;    /* key/value heads (GQA) */
		int head_dim;    /* per-head width */
		scn_dtype dtype; /* activation dtype of expert GEMMs (and the wire's default) */
		int dtype_bytes;
		scn_dtype dispatch_dtype; /* tokens on the wire to the experts (default dtype) */
		scn_dtype combine_dtype;  /* expert outputs on the wire back (default dtype) */
	} model;

	struct {
		char gpu[SCN_NAME_MAX];
		int nodes;
		int gpus_per_node;
		double nvlink_GBps;      /* per GPU, per direction, GB/s (1e9 B/s) */
		double nvlink_latency_us;
		int nics_per_node;
		double nic_Gbps;         /* per NIC, per direction, Gb/s (1e9 bit/s) */
		double nic_latency_us;
		double gemm_efficiency;  /* achieved / peak dense FLOP/s for expert GEMMs */
		double dense_efficiency; /* achieved / peak for the attention block */
		double memory_efficiency;/* achieved / peak HBM bandwidth for copies */
		char profile[SCN_PATH_MAX]; /* calibration profile, "" for datasheet + efficiencies */
		double gpu_memory_GiB;   /* HBM capacity per GPU (resolved from the datasheet when 0) */
		double reserved_memory_GiB; /* per GPU, not available to the model (CUDA context, allocator) */
		double gpu_hour_cost;    /* per GPU per hour, any currency; 0 for none (moesim sweep's cost columns) */
	} cluster;

	struct {
		scn_net_model model;
		scn_topology topology;
		int tiers;               /* fat-tree levels above the NICs: 2 or 3 */
		double oversubscription; /* leaf down:up bandwidth ratio, >= 1 */
		int switch_radix;        /* ports per switch */
		double link_latency_us;  /* per hop, cables and switches */
		double pcie_GBps;        /* GPU <-> NIC, per direction; 0 = not a bottleneck */
		int nvlink_domain;       /* GPUs per NVLink domain; 0 = gpus_per_node */
		char file[SCN_PATH_MAX]; /* custom topology */
		scn_ecmp ecmp;
		double batch_window;     /* flow model batching, a fraction of each collective's elapsed time; 0 exact */
		scn_alltoall alltoall;   /* resolved: never SCN_A2A_AUTO after loading */
		scn_dispatcher dispatcher;
		scn_dedup dedup;          /* towards the experts: per pair, per GPU, per GPU and domain (relay) */
		scn_dedup combine_reduce; /* back: per pair, reduced per GPU, per GPU and domain (relay) */
		double nvlink_efficiency; /* achieved / line rate of NVLink in an all-to-all */
		double nic_efficiency;    /* achieved / line rate of a NIC */
		double launch_us;         /* kernel launch and setup, once per collective */
		double peer_message_us;   /* issue cost of one message to one peer, serial per GPU */
		double nic_message_rate_Mps; /* messages per second one NIC handles, millions; 0 = no limit */
	} network;

	/* Megatron-Core's layout (docs/parallel.md); dp resolved: world / (tp x cp x pp). */
	struct {
		int tp, cp, pp, vpp, ep, etp, dp;
		int first_stage_layers; /* layers on the first pipeline stage, 0 for an even split */
		int last_stage_layers;  /* layers on the last pipeline stage, 0 for an even split */
	} parallel;

	struct {
		int distributed_optimizer;   /* 1: optimizer states (and master weights) sharded over DP */
		scn_recompute recompute;
		int overlap_grad_reduce;     /* 1: gradient reduce-scatter in buckets during the last backward */
		int tp_comm_overlap;         /* 1: TP collectives on the communication stream beside their GEMMs */
		int64_t bucket_params;       /* parameters per gradient bucket (resolved: never 0) */
		int grad_fp32;               /* 1: gradients accumulated and reduced in fp32 */
	} training;

	struct {
		scn_overlap overlap;
		int comm_sms;        /* SMs an overlapped all-to-all kernel takes from computation */
	} schedule;

	struct {
		scn_mode mode;
		int64_t global_batch;    /* sequences per step (resolved) */
		int64_t micro_batch;     /* sequences per micro-batch per DP rank (resolved) */
		int64_t microbatches;    /* derived: global_batch / (micro_batch x dp) */
		int routed_microbatches; /* distinct routings per step per layer (resolved: 1..microbatches) */
		int64_t tokens_per_rank; /* tokens one GPU's MoE layer routes per micro-batch (resolved) */
		int seq_len;
		int context_len;
		int steps;
		uint64_t seed;
	} workload;

	struct {
		scn_routing_source source;
		char trace[SCN_PATH_MAX];  /* router trace (HDF5) when source = trace */
		scn_distribution distribution;
		double zipf_s;
		int top_k;                /* experts per token used in the run */
		double capacity_factor;   /* <= 0 means dropless */
		scn_capacity_scope capacity_scope;
		scn_drop_policy drop_policy;
		scn_router router;        /* applied to a replayed trace's scores (docs/routing.md) */
		double bias_gamma;        /* bias_balanced's update speed per step */
		scn_placement placement;
		char placement_file[SCN_PATH_MAX];
		int redundant_experts;    /* extra replicas per EP group (load_aware) */
		int node_limit;           /* max nodes a token's experts may span; 0 = no limit */
		int pad_to_capacity;      /* 1: experts and the all-to-all work on capacity-sized buffers */
	} routing;

	struct {
		char h5[SCN_PATH_MAX]; /* HDF5 output path, "" for none */
	} output;

	/* Where each key's value came from: > 0 a line of source, 0 the default,
	 * < 0 the (-n)th --set item. Indexed by key id; read through scn_where. */
	int origin[SCN_MAX_KEYS];
	char override_text[SCN_MAX_OVERRIDES][SCN_NAME_MAX];
} scn_scenario;

/*
 * Layers [*lo, *hi) of virtual pipeline stage v (0 .. pp x vpp - 1; v = chunk x pp + pp
 * rank): an even split, or, with parallel.first_stage_layers / last_stage_layers
 * (Megatron-Core's num_layers_in_first_pipeline_stage / _last_, transformer_config.py),
 * those on the first and last stage and the rest evenly over the stages between. The
 * layout's rules (parallel/par_layout.c) make the split exact.
 */
static inline void scn_stage_layers(const scn_scenario *s, int v, int *lo, int *hi)
{
	int nv = s->parallel.pp * s->parallel.vpp, L = s->model.layers;
	int f = s->parallel.first_stage_layers, l = s->parallel.last_stage_layers;
	int middle = nv - (f > 0) - (l > 0), per, i;
	if (!f && !l) {
		*lo = (int)((int64_t)v * L / nv);
		*hi = (int)((int64_t)(v + 1) * L / nv);
		return;
	}
	if (f && v == 0) {
		*lo = 0;
		*hi = f;
		return;
	}
	if (l && v == nv - 1) {
		*lo = L - l;
		*hi = L;
		return;
	}
	per = middle > 0 ? (L - f - l) / middle : 0;
	i = v - (f > 0);
	*lo = f + i * per;
	*hi = *lo + per;
}

/* The built-in default scenario's text (scenarios/default.cfg, compiled in). */
extern const char scn_default_text[];

/* A --set override: "section.key=value". */
typedef struct scn_overrides {
	int n;
	const char *items[SCN_MAX_OVERRIDES];
} scn_overrides;

/*
 * Loads and validates a scenario. path NULL loads the built-in default. overrides
 * may be NULL. On error returns a negative code with err naming file:line (or the
 * --set item), the key and what is allowed; *s is then unspecified.
 */
int scn_scenario_load(scn_scenario *s, const char *path, const scn_overrides *ov, ms_error *err);

/* Same, from text held in memory; name is used in messages in place of a file name. */
int scn_scenario_load_text(scn_scenario *s, const char *text, const char *name, const scn_overrides *ov,
			   ms_error *err);

/*
 * scn_scenario_load_text, where line[i] > 0 says override i was written on that line of
 * the scenario text itself (a sweep point's value, sweep/sw_spec.h): messages then name
 * name:line, and a relative path is taken from the file's directory, as if the value
 * stood in its section. line[i] = 0 is a --set item; line may be NULL.
 */
int scn_scenario_load_text_at(scn_scenario *s, const char *text, const char *name, const scn_overrides *ov,
			      const int *line, ms_error *err);

/* Number of GPUs in the cluster. */
static inline int scn_world(const scn_scenario *s)
{
	return s->cluster.nodes * s->cluster.gpus_per_node;
}

/*
 * Formats where key ("section.key") got its value, for messages by later modules:
 * "run.cfg:14", "--set routing.top_k=9" or "run.cfg (default of routing.top_k)".
 * Returns buf.
 */
const char *scn_where(const scn_scenario *s, const char *key, char *buf, size_t len);

/* Whether key ("section.key") was given in the file or by --set (not a default). */
int scn_is_set(const scn_scenario *s, const char *key);

/* 1 if key's value came from a --set item. */
int scn_from_set(const scn_scenario *s, const char *key);

/*
 * The file that scenario key `key` names with `value` (one name; cluster.profile's
 * comma list is split by its reader), written into out[len]. The one rule for every
 * such key: an absolute name as given; a name from --set from the working directory
 * (where the user typed it); a name from a scenario file from that file's directory;
 * a name in the built-in default from the data directory's scenarios/ (ms_path.h),
 * as the built-in default is scenarios/default.cfg. Errors name the key's origin.
 */
int scn_resolve_path(const scn_scenario *s, const char *key, const char *value, char *out, size_t len, ms_error *err);

/*
 * The key table, for tools that handle every key alike (moesim sweep's columns):
 * scn_key_count keys, i from 0; scn_key_name(i) "section.key" (NULL out of range);
 * scn_key_index the i of a name, -1 when unknown; scn_key_unit its unit ("" for none);
 * scn_key_is_number whether its values are numbers (integers or floats; not "dropless",
 * strings, enums or booleans).
 * scn_value_text writes key i's value in s as text a --set item takes (strings without
 * quotes, floats with 17 digits) and returns buf.
 */
int scn_key_count(void);
const char *scn_key_name(int i);
int scn_key_index(const char *key);
const char *scn_key_unit(int i);
int scn_key_is_number(int i);
const char *scn_value_text(const scn_scenario *s, int i, char *buf, size_t len);

/*
 * Checks one value for one key as a --set item would be checked (the key known, the
 * text of its type, in its range), without the rules that span keys; where ("sweep.cfg:
 * 12") starts the message. MS_OK or MS_EINVAL.
 */
int scn_value_check(const char *key, const char *text, const char *where, ms_error *err);

/* Writes every resolved value as a libconfig scenario (derived defaults filled in). */
void scn_write_resolved(FILE *f, const scn_scenario *s);

/* Writes the reference of every key (Markdown table rows) to f. */
void scn_write_reference(FILE *f);

const char *scn_mode_name(scn_mode m);
const char *scn_dtype_name(scn_dtype d);
/* routing.router's value: "topk", "expert_choice", "bias_balanced", "bpr". */
const char *scn_router_name(scn_router r);

#endif
