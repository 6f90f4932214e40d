/*
 * scn_scenario.c - table-driven scenario loading and validation (see scn_scenario.h).
 *
 * Each key is one row of `keys`: its type, where it lives in scn_scenario, its
 * default (NULL: required), the allowed range or choices, its unit and its
 * documentation. The same row serves the file parser, --set, the range checks and
 * the generated reference (moesim keys), so they cannot drift apart.
 *
 * Order of a load: parse the file (syntax errors with file:line from libconfig), reject
 * unknown sections and keys (with a suggestion), take each key from --set, else the
 * file, else the default, checking type and range, then resolve derived defaults
 * (value 0 = "derive") and check the rules that span keys.
 */
#include "scenario/scn_scenario.h"

#include <ctype.h>
#include <errno.h>
#include <libconfig.h>

#include "common/ms_config.h"
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_INT, T_INT64, T_FLOAT, T_STRING, T_ENUM, T_CF, T_BOOL } ktype;

typedef struct keydef {
	const char *key;     /* "section.name" */
	ktype type;
	size_t off;          /* offset in scn_scenario */
	size_t size;         /* buffer size for strings */
	const char *def;     /* default as text; NULL when required */
	double min, max;     /* inclusive range for numbers */
	const char *choices; /* "a|b|c" for enums, position = value */
	const char *unit;
	const char *doc;
} keydef;

#define OFF(f) offsetof(scn_scenario, f)
#define STR(f) OFF(f), sizeof(((scn_scenario *)0)->f)
#define NUM(f) OFF(f), 0
#define BIG 1e18

static const keydef keys[] = {
	{"model.name", T_STRING, STR(model.name), "custom", 0, 0, NULL, "", "A label for the model, shown in outputs."},
	{"model.hidden", T_INT, NUM(model.hidden), NULL, 1, 1 << 20, NULL, "elements", "Model width (d_model)."},
	{"model.ffn_hidden", T_INT, NUM(model.ffn_hidden), NULL, 1, 1 << 22, NULL, "elements",
	 "FFN width of one routed expert (SwiGLU: gate and up are hidden x ffn_hidden, down is ffn_hidden x hidden)."},
	{"model.experts", T_INT, NUM(model.experts), NULL, 1, 65536, NULL, "", "Routed experts per MoE layer."},
	{"model.top_k", T_INT, NUM(model.top_k), NULL, 1, 64, NULL, "", "Experts per token the model routes to."},
	{"model.moe_layers", T_INT, NUM(model.moe_layers), NULL, 1, 4096, NULL, "",
	 "MoE layers; each is an attention block followed by a routed expert FFN."},
	{"model.dense_layers", T_INT, NUM(model.dense_layers), "0", 0, 4096, NULL, "",
	 "Leading dense layers (attention + dense FFN of model.dense_ffn_hidden) before the MoE layers "
	 "(DeepSeek-V3: 3, first_k_dense_replace)."},
	{"model.dense_ffn_hidden", T_INT, NUM(model.dense_ffn_hidden), "0", 0, 1 << 22, NULL, "elements",
	 "FFN width of a dense layer (SwiGLU); 0 means ffn_hidden."},
	{"model.moe_every", T_INT, NUM(model.moe_every), "1", 1, 64, NULL, "",
	 "After the leading dense layers, every moe_every-th layer is an MoE layer and the others are dense "
	 "(Megatron-Core's moe_layer_freq; GShard's every other layer is 2). Layers in all: dense_layers + "
	 "moe_layers x moe_every."},
	{"model.shared_experts", T_INT, NUM(model.shared_experts), "0", 0, 64, NULL, "",
	 "Shared experts per MoE layer, computed for every token beside the routed ones (DeepSeek-V3: 1, "
	 "Qwen1.5-MoE: 4)."},
	{"model.shared_ffn_hidden", T_INT, NUM(model.shared_ffn_hidden), "0", 0, 1 << 22, NULL, "elements",
	 "FFN width of one shared expert (SwiGLU); 0 means ffn_hidden."},
	{"model.attention", T_ENUM, NUM(model.attention), "gqa", 0, 0, "mha|gqa|mla", "",
	 "Attention: mha (kv_heads = heads), gqa (grouped-query, model.kv_heads), mla (DeepSeek-V2/V3 multi-head "
	 "latent attention with model.q_lora_rank, kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim)."},
	{"model.q_lora_rank", T_INT, NUM(model.q_lora_rank), "0", 0, 1 << 20, NULL, "elements",
	 "MLA query compression rank (DeepSeek-V3: 1536); 0 projects queries directly."},
	{"model.kv_lora_rank", T_INT, NUM(model.kv_lora_rank), "512", 1, 1 << 20, NULL, "elements",
	 "MLA key/value compression rank (DeepSeek-V2/V3: 512): the cached latent's width."},
	{"model.qk_nope_head_dim", T_INT, NUM(model.qk_nope_head_dim), "128", 1, 65536, NULL, "elements",
	 "MLA per-head query/key width without position encoding (DeepSeek-V3: 128)."},
	{"model.qk_rope_head_dim", T_INT, NUM(model.qk_rope_head_dim), "64", 0, 65536, NULL, "elements",
	 "MLA per-head rotary width, also the shared rotary key's (DeepSeek-V3: 64)."},
	{"model.v_head_dim", T_INT, NUM(model.v_head_dim), "128", 1, 65536, NULL, "elements",
	 "MLA per-head value width (DeepSeek-V3: 128)."},
	{"model.vocab", T_INT, NUM(model.vocab), "32000", 1, 1 << 24, NULL, "tokens",
	 "Vocabulary size: the embedding and the LM head (untied) are vocab x hidden."},
	{"model.mtp_layers", T_INT, NUM(model.mtp_layers), "0", 0, 16, NULL, "",
	 "Multi-token-prediction modules after the last layer (DeepSeek-V3: 1), each a projection, one MoE "
	 "layer and the shared LM head, on the last pipeline stage."},
	{"model.heads", T_INT, NUM(model.heads), "32", 1, 4096, NULL, "", "Attention query heads."},
	{"model.kv_heads", T_INT, NUM(model.kv_heads), "0", 0, 4096, NULL, "",
	 "Key/value heads (grouped-query attention); 0 means equal to heads. Must divide heads."},
	{"model.head_dim", T_INT, NUM(model.head_dim), "0", 0, 65536, NULL, "elements",
	 "Width of one attention head; 0 means hidden / heads."},
	{"model.dtype", T_ENUM, NUM(model.dtype), "bf16", 0, 0, "bf16|fp16|fp8|fp32", "",
	 "Activation dtype of expert GEMMs (and of tokens on the wire unless dispatch_dtype/combine_dtype say otherwise)."},
	{"model.dispatch_dtype", T_ENUM, NUM(model.dispatch_dtype), "model", 0, 0, "bf16|fp16|fp8|fp32|model", "",
	 "Dtype of tokens dispatched to the experts on the wire; fp8 carries a float32 scale per 128 elements "
	 "(DeepEP, DeepSeek-V3's FP8 dispatch). model: the same as model.dtype."},
	{"model.combine_dtype", T_ENUM, NUM(model.combine_dtype), "model", 0, 0, "bf16|fp16|fp8|fp32|model", "",
	 "Dtype of expert outputs combined back on the wire (production systems combine in bf16). model: "
	 "the same as model.dtype."},

	{"cluster.gpu", T_STRING, STR(cluster.gpu), "h100-sxm", 0, 0, NULL, "",
	 "GPU model; see `moesim gpus` for the built-in datasheet entries."},
	{"cluster.nodes", T_INT, NUM(cluster.nodes), NULL, 1, 1 << 20, NULL, "", "Nodes in the cluster."},
	{"cluster.gpus_per_node", T_INT, NUM(cluster.gpus_per_node), "8", 1, 1024, NULL, "",
	 "GPUs per node; all GPUs of a node share one NVLink/NVSwitch domain."},
	{"cluster.nvlink_GBps", T_FLOAT, NUM(cluster.nvlink_GBps), "0", 0, 1e6, NULL, "GB/s",
	 "NVLink bandwidth per GPU, per direction (1 GB = 1e9 B); 0 takes the GPU's datasheet value."},
	{"cluster.nvlink_latency_us", T_FLOAT, NUM(cluster.nvlink_latency_us), "3.0", 0, 1e6, NULL, "us",
	 "Latency of one all-to-all inside a node, paid once per collective (an assumption until calibrated)."},
	{"cluster.nics_per_node", T_INT, NUM(cluster.nics_per_node), "0", 0, 1024, NULL, "",
	 "Network interfaces per node; 0 means one per GPU. Must divide gpus_per_node."},
	{"cluster.nic_Gbps", T_FLOAT, NUM(cluster.nic_Gbps), "400", 1e-3, 1e7, NULL, "Gb/s",
	 "Bandwidth of one NIC, per direction (1 Gb = 1e9 bit)."},
	{"cluster.nic_latency_us", T_FLOAT, NUM(cluster.nic_latency_us), "5.0", 0, 1e6, NULL, "us",
	 "Latency of one all-to-all across nodes, paid once per collective (an assumption until calibrated)."},
	{"cluster.gemm_efficiency", T_FLOAT, NUM(cluster.gemm_efficiency), "0.6", 1e-3, 1, NULL, "fraction",
	 "Achieved fraction of the GPU's peak dense FLOP/s in expert GEMMs (used until a calibrated profile is given)."},
	{"cluster.dense_efficiency", T_FLOAT, NUM(cluster.dense_efficiency), "0.5", 1e-3, 1, NULL, "fraction",
	 "Achieved fraction of peak FLOP/s in the attention block (projections and attention)."},
	{"cluster.memory_efficiency", T_FLOAT, NUM(cluster.memory_efficiency), "0.8", 1e-3, 1, NULL, "fraction",
	 "Achieved fraction of peak HBM bandwidth in permute/unpermute copies."},

	{"cluster.profile", T_STRING, STR(cluster.profile), "", 0, 0, NULL, "path",
	 "Calibration profile (docs/profile-format.md): one file or a comma-separated list read as one; its "
	 "measured tables replace the expert GEMM and copy rooflines, a datasheet profile's peaks the built-in "
	 "ones. Relative paths are taken from the scenario file's directory. Empty for none."},

	{"cluster.gpu_memory_GiB", T_FLOAT, NUM(cluster.gpu_memory_GiB), "0", 0, 1e6, NULL, "GiB",
	 "HBM capacity per GPU; 0 takes the GPU's datasheet value (`moesim gpus`)."},
	{"cluster.gpu_hour_cost", T_FLOAT, NUM(cluster.gpu_hour_cost), "0", 0, 1e9, NULL, "$/GPU-hour",
	 "What one GPU costs per hour (any currency): `moesim sweep` reports each point's cost per hour and per "
	 "million tokens and ranks its Pareto-best points by cost instead of GPU count; 0 for no cost."},
	{"cluster.reserved_memory_GiB", T_FLOAT, NUM(cluster.reserved_memory_GiB), "0", 0, 1e6, NULL, "GiB",
	 "Memory per GPU the model cannot use (CUDA context, allocator fragmentation), subtracted from the capacity "
	 "in the memory check; 0 until measured for the software stack."},

	{"network.model", T_ENUM, NUM(network.model), "flow", 0, 0, "analytic|flow", "",
	 "analytic: bottleneck bound per link class (fast); flow: flow-level max-min sharing over the topology."},
	{"network.topology", T_ENUM, NUM(network.topology), "fat_tree", 0, 0, "single_switch|fat_tree|rail|custom", "",
	 "How NICs are connected: one switch; a fat-tree; rail-optimized (NIC i of every node on rail switch i, "
	 "spines across rails); or a custom topology from network.file."},
	{"network.tiers", T_INT, NUM(network.tiers), "2", 2, 3, NULL, "", "Switch levels of a fat-tree."},
	{"network.oversubscription", T_FLOAT, NUM(network.oversubscription), "1.0", 1, 64, NULL, "ratio",
	 "Leaf switch down:up bandwidth (1 = non-blocking, 2 = 2:1)."},
	{"network.switch_radix", T_INT, NUM(network.switch_radix), "64", 4, 1024, NULL, "ports", "Ports per switch."},
	{"network.link_latency_us", T_FLOAT, NUM(network.link_latency_us), "0.5", 0, 1e6, NULL, "us",
	 "Latency per network hop (cable and switch), paid before a flow takes bandwidth."},
	{"network.pcie_GBps", T_FLOAT, NUM(network.pcie_GBps), "0", 0, 1e6, NULL, "GB/s",
	 "GPU to NIC PCIe bandwidth per direction; 0 means it is not a bottleneck."},
	{"network.nvlink_domain", T_INT, NUM(network.nvlink_domain), "0", 0, 1 << 20, NULL, "GPUs",
	 "GPUs per NVLink/NVSwitch domain (e.g. 72 for NVL72); 0 means gpus_per_node."},
	{"network.file", T_STRING, STR(network.file), "", 0, 0, NULL, "path", "Custom topology file (network.topology = \"custom\")."},
	{"network.ecmp", T_ENUM, NUM(network.ecmp), "hash", 0, 0, "hash|even", "",
	 "Equal-cost paths: hash (each flow on one path, chosen by a seeded hash) or even (split over all)."},
	{"network.batch_window", T_FLOAT, NUM(network.batch_window), "0", 0, 0.5, NULL, "fraction",
	 "Flow model only: events within this fraction of a collective's elapsed time of the earliest are handled "
	 "with one re-solve of the sharing, at the last of them (flows finish at their own times; freed bandwidth "
	 "and joining flows wait to the window's end). 0: exact. 1e-3 to 1e-2 speeds up all-to-alls of thousands "
	 "of GPUs at a measured cost of well under 1 % (docs/network.md)."},
	{"network.alltoall", T_ENUM, NUM(network.alltoall), "auto", 0, 0, "flat|pairwise|hierarchical|nccl|auto", "",
	 "All-to-all algorithm of the megatron dispatcher (DeepEP's kernels move their own legs): flat (all pairs at "
	 "once), pairwise (n-1 synchronised stages), hierarchical (once per node over the network to the same-rail "
	 "GPU, forwarded over NVLink in chunks, as DeepEP), nccl (NCCL's p2p schedule: bounded channels and batches "
	 "of 8 peers); auto: nccl for megatron, flat for DeepEP's own legs."},
	{"network.dispatcher", T_ENUM, NUM(network.dispatcher), "megatron", 0, 0, "megatron|deepep|deepep_ll", "",
	 "How MoE tokens cross the EP group (docs/network.md): megatron (Megatron-Core's all-to-all dispatcher: "
	 "one copy per token-expert pair, combine sends every pair back), deepep (DeepEP normal kernels: a token "
	 "once per destination GPU and once per destination node, combine reduced per GPU and per node), "
	 "deepep_ll (DeepEP low-latency kernels: every selection sent directly, combine likewise)."},
	{"network.dedup", T_ENUM, NUM(network.dedup), "auto", 0, 0, "none|gpu|node|auto", "",
	 "What a dispatch sends once: none (every token-expert pair), gpu (a token once per destination GPU, "
	 "directly), node (once per destination GPU inside an NVLink domain, once per destination domain over the "
	 "network to the same-rail GPU, which forwards it); auto: the dispatcher's (megatron none, deepep node, "
	 "deepep_ll none)."},
	{"network.combine_reduce", T_ENUM, NUM(network.combine_reduce), "auto", 0, 0, "none|gpu|node|auto", "",
	 "Where combine reduces a token's expert outputs before the wire: none (every pair goes back), gpu (summed "
	 "per GPU), node (per GPU, then per domain at the same-rail relay); auto: the dispatcher's (megatron none, "
	 "deepep node, deepep_ll none)."},
	{"network.nvlink_efficiency", T_FLOAT, NUM(network.nvlink_efficiency), "0.82", 1e-3, 1, NULL, "fraction",
	 "Achieved fraction of NVLink's line rate (NCCL's effective 370 of 450 GB/s on H100, nccl-tests issue 212; a "
	 "measured profile's rate is used as is)."},
	{"network.nic_efficiency", T_FLOAT, NUM(network.nic_efficiency), "0.96", 1e-3, 1, NULL, "fraction",
	 "Achieved fraction of a NIC's line rate (48 of 50 GB/s for ConnectX-7 NDR, nccl-tests issue 267; a measured "
	 "profile's rate is used as is)."},
	{"network.launch_us", T_FLOAT, NUM(network.launch_us), "3.1", 0, 1e6, NULL, "us",
	 "Launch and setup of one collective kernel, paid before its first byte moves (an all-to-all that moves "
	 "nothing takes 3.1 us in nccl-tests, DeepEP issue 303)."},
	{"network.peer_message_us", T_FLOAT, NUM(network.peer_message_us), "0", 0, 1e6, NULL, "us",
	 "Cost of issuing one message to one peer, serial per GPU; 0 until calibrated (no separate published "
	 "measurement)."},
	{"network.nic_message_rate_Mps", T_FLOAT, NUM(network.nic_message_rate_Mps), "0", 0, 1e6, NULL, "M msg/s",
	 "Messages per second one NIC can send (and receive); 0 for no limit until calibrated (no published "
	 "ConnectX-7 figure was found)."},

	{"parallel.tp", T_INT, NUM(parallel.tp), "1", 1, 1024, NULL, "",
	 "Tensor-parallel degree of attention and dense layers, with sequence parallelism (Megatron-Core)."},
	{"parallel.cp", T_INT, NUM(parallel.cp), "1", 1, 1024, NULL, "", "Context-parallel degree (sequence split over GPUs)."},
	{"parallel.pp", T_INT, NUM(parallel.pp), "1", 1, 4096, NULL, "", "Pipeline-parallel stages."},
	{"parallel.vpp", T_INT, NUM(parallel.vpp), "1", 1, 1024, NULL, "",
	 "Virtual pipeline stages (model chunks) per pipeline rank: > 1 runs Megatron's interleaved 1F1B."},
	{"parallel.first_stage_layers", T_INT, NUM(parallel.first_stage_layers), "0", 0, 4096, NULL, "",
	 "Layers on the first pipeline stage (Megatron's --decoder-first-pipeline-num-layers), the rest split "
	 "evenly over the later stages; 0 for an even split. Needs vpp = 1."},
	{"parallel.last_stage_layers", T_INT, NUM(parallel.last_stage_layers), "0", 0, 4096, NULL, "",
	 "Layers on the last pipeline stage (Megatron's --decoder-last-pipeline-num-layers); 0 for an even split. "
	 "Needs vpp = 1."},
	{"parallel.ep", T_INT, NUM(parallel.ep), NULL, 1, 1 << 20, NULL, "",
	 "Expert-parallel degree: GPUs an MoE layer's experts are spread over. Must divide the experts."},
	{"parallel.etp", T_INT, NUM(parallel.etp), "1", 1, 1024, NULL, "", "Expert tensor-parallel degree (expert GEMMs split)."},
	{"parallel.dp", T_INT, NUM(parallel.dp), "0", 0, 1 << 20, NULL, "",
	 "Data-parallel degree; 0 means GPUs / (tp x cp x pp), which it must equal."},

	{"training.distributed_optimizer", T_BOOL, NUM(training.distributed_optimizer), "true", 0, 1, NULL, "",
	 "Megatron's distributed optimizer (ZeRO-1): fp32 master weights and Adam moments sharded over the data-"
	 "parallel group; gradients reduce-scattered and parameters all-gathered in buckets. false: all-reduce and "
	 "full optimizer states on every GPU."},
	{"training.recompute", T_ENUM, NUM(training.recompute), "none", 0, 0, "none|selective|full", "",
	 "Activation recomputation (Megatron's --recompute-granularity): selective recomputes the attention core, "
	 "full keeps only each layer's input and reruns its forward in backward."},
	{"training.overlap_grad_reduce", T_BOOL, NUM(training.overlap_grad_reduce), "true", 0, 1, NULL, "",
	 "Launch each gradient bucket's reduction as soon as the last micro-batch's backward has produced it "
	 "(Megatron's overlap_grad_reduce); false: after the whole backward."},
	{"training.tp_comm_overlap", T_BOOL, NUM(training.tp_comm_overlap), "false", 0, 1, NULL, "",
	 "Overlap each tensor-parallel block's all-gather and reduce-scatter with its GEMMs, on the communication "
	 "stream (Megatron-LM's --tp-comm-overlap with TransformerEngine's userbuffers); with tp > 1."},
	{"training.bucket_params", T_INT64, NUM(training.bucket_params), "0", 0, 1e12, NULL, "parameters",
	 "Parameters per gradient bucket; 0 means Megatron-Core's default max(40,000,000, 1,000,000 x dp x cp)."},
	{"training.grad_fp32", T_BOOL, NUM(training.grad_fp32), "true", 0, 1, NULL, "",
	 "Accumulate and reduce gradients in fp32 (Megatron does for bf16 training); false: in the model dtype."},

	{"schedule.overlap", T_ENUM, NUM(schedule.overlap), "none", 0, 0, "none|two_batch|dualpipe", "",
	 "How the MoE all-to-alls overlap computation: none (every GPU waits for its dispatch and combine); "
	 "two_batch (each micro-batch split in two halves, one half's all-to-all on a communication stream while "
	 "the other computes, as SGLang's two-batch overlap and DeepEP's examples); dualpipe (DeepSeek-V3's "
	 "DualPipe, training: pipeline ranks hold two stages, half the micro-batches flow each way, and each "
	 "forward chunk runs overlapped with a backward chunk, their all-to-alls on the communication stream)."},
	{"schedule.comm_sms", T_INT, NUM(schedule.comm_sms), "20", 0, 1024, NULL, "SMs",
	 "SMs an overlapped all-to-all kernel occupies; computation beside it runs on the rest (DeepSeek-V3 report, "
	 "sec. 3.2.2: 20 of the H800's 132 SMs drive IB and NVLink at full rate). Only with schedule.overlap other "
	 "than none."},

	{"workload.mode", T_ENUM, NUM(workload.mode), "training", 0, 0, "training|prefill|decode", "",
	 "training: forward and backward of every layer; prefill and decode: forward only."},
	{"workload.global_batch", T_INT64, NUM(workload.global_batch), "0", 0, 1e12, NULL, "sequences",
	 "Sequences per training step over all data-parallel ranks; 0 means micro_batch x dp (one micro-batch per "
	 "pipeline). Must be a multiple of micro_batch x dp."},
	{"workload.micro_batch", T_INT64, NUM(workload.micro_batch), "0", 0, 1e9, NULL, "sequences",
	 "Sequences per micro-batch per data-parallel rank (in decode: sequences decoding at once per rank); 0 "
	 "derives it from tokens_per_rank, else 1."},
	{"workload.tokens_per_rank", T_INT64, NUM(workload.tokens_per_rank), "0", 0, 1e9, NULL, "tokens",
	 "Tokens one GPU's MoE layer routes per micro-batch: micro_batch x seq_len / (tp x cp) (decode: "
	 "micro_batch / tp); 0 derives it. Given alone (older scenarios) it sets micro_batch."},
	{"workload.routed_microbatches", T_INT, NUM(workload.routed_microbatches), "0", 0, 1 << 20, NULL, "",
	 "Distinct routings drawn per step for each layer and EP group; micro-batch i replays routing i mod this "
	 "(a sample, to bound the cost of huge batches); 0 routes every micro-batch."},
	{"workload.seq_len", T_INT, NUM(workload.seq_len), "4096", 1, 1 << 24, NULL, "tokens",
	 "Sequence length (sets the attention cost in training and prefill)."},
	{"workload.context_len", T_INT, NUM(workload.context_len), "0", 0, 1 << 24, NULL, "tokens",
	 "KV-cache length each decoded token attends to; 0 means seq_len."},
	{"workload.steps", T_INT, NUM(workload.steps), "1", 1, 1000000, NULL, "", "Steps to simulate (fresh routing each step)."},
	{"workload.seed", T_INT64, NUM(workload.seed), "1", 0, 9.2e18, NULL, "", "Seed of every random stream."},

	{"routing.source", T_ENUM, NUM(routing.source), "synthetic", 0, 0, "synthetic|trace", "",
	 "synthetic: draw router decisions (routing.distribution); trace: replay a recorded router trace (routing.trace)."},
	{"routing.trace", T_STRING, STR(routing.trace), "", 0, 0, NULL, "path",
	 "Router trace to replay (HDF5, docs/trace-format.md); a relative path is taken from the scenario file's directory."},
	{"routing.distribution", T_ENUM, NUM(routing.distribution), "zipf", 0, 0, "uniform|zipf|balanced", "",
	 "Synthetic routing: uniform (every expert equally likely), zipf (expert popularity ~ 1/rank^zipf_s, "
	 "ranks shuffled per layer), balanced (token i goes to experts i*k .. i*k+k-1 mod E: exactly even)."},
	{"routing.zipf_s", T_FLOAT, NUM(routing.zipf_s), "1.0", 0, 10, NULL, "", "Zipf exponent of expert popularity."},
	{"routing.top_k", T_INT, NUM(routing.top_k), "0", 0, 64, NULL, "",
	 "Experts per token in the run; 0 means model.top_k. At most model.experts."},
	{"routing.capacity_factor", T_CF, NUM(routing.capacity_factor), "1.25", 1e-6, 1e6, NULL, "",
	 "Expert capacity = ceil(capacity_factor x tokens x top_k / experts) over the capacity scope; "
	 "\"dropless\" for no capacity."},
	{"routing.capacity_scope", T_ENUM, NUM(routing.capacity_scope), "rank", 0, 0, "rank|global", "",
	 "rank: each GPU drops against its own tokens' capacity (Megatron-Core); global: one capacity per "
	 "expert over the tokens of the whole EP group."},
	{"routing.drop_policy", T_ENUM, NUM(routing.drop_policy), "probs", 0, 0, "probs|position", "",
	 "Which tokens an over-full expert keeps: probs, the highest router scores; position, the earliest tokens."},
	{"routing.router", T_ENUM, NUM(routing.router), "topk", 0, 0, "topk|expert_choice|bias_balanced|bpr", "",
	 "Router applied to the routing's scores in each capacity scope (docs/routing.md): topk (what the trace "
	 "chose, or the synthetic draw), expert_choice (each expert its capacity's best tokens), bias_balanced "
	 "(DeepSeek-V3's auxiliary-loss-free bias, updated once per step), bpr (batch-prioritised routing). Other "
	 "than topk: a trace's full ranking or logits, or synthetic scores for every expert (not with distribution "
	 "balanced)."},
	{"routing.bias_gamma", T_FLOAT, NUM(routing.bias_gamma), "0.001", 0, 1e6, NULL, "",
	 "bias_balanced's bias update speed: after each step every expert's bias moves by this against its load "
	 "error (DeepSeek-V3, sec. 2.1.2; 0.001 is its value, sec. 4.2)."},
	{"routing.placement", T_ENUM, NUM(routing.placement), "contiguous", 0, 0, "contiguous|round_robin|file|load_aware", "",
	 "Expert placement in each EP group: contiguous (expert e on GPU e / (E/ep)), round_robin (GPU e mod ep), "
	 "file (routing.placement_file), or load_aware (DeepSeek's EPLB with routing.redundant_experts replicas)."},
	{"routing.placement_file", T_STRING, STR(routing.placement_file), "", 0, 0, NULL, "path",
	 "Placement file: lines \"EXPERT GPU\" or \"LAYER EXPERT GPU\" (GPU = index in the EP group); an expert on "
	 "several GPUs is replicated."},
	{"routing.redundant_experts", T_INT, NUM(routing.redundant_experts), "0", 0, 65536, NULL, "replicas",
	 "Extra expert replicas per EP group for load_aware placement; experts + redundant_experts must be a "
	 "multiple of ep."},
	{"routing.node_limit", T_INT, NUM(routing.node_limit), "0", 0, 1 << 20, NULL, "nodes",
	 "Node-limited routing (DeepSeek-V3, sec. 2.1.2): each token's experts come from at most this many nodes, "
	 "those whose experts have the best ceil(top_k / node_limit) scores; synthetic routing draws the scores "
	 "(docs/model.md); 0 for no limit."},
	{"routing.pad_to_capacity", T_BOOL, NUM(routing.pad_to_capacity), "false", 0, 1, NULL, "",
	 "Pad every expert's input to its capacity (Megatron-Core's moe_pad_expert_input_to_capacity): experts "
	 "compute capacity-sized buffers, and in the rank scope the all-to-all moves them (docs/model.md). Needs a "
	 "numeric capacity_factor."},

	{"output.h5", T_STRING, STR(output.h5), "", 0, 0, NULL, "path",
	 "HDF5 file to write (same as -o); empty for none."},
};

#define NKEYS (sizeof keys / sizeof keys[0])

_Static_assert(sizeof(scn_mode) == sizeof(int), "enum fields are stored as int");
_Static_assert(NKEYS <= SCN_MAX_KEYS, "raise SCN_MAX_KEYS");

static const char *const sections[] = {"model",	   "cluster", "network", "parallel", "training",
				       "schedule", "workload", "routing",  "output",  "sweep"};
#define NSECTIONS (sizeof sections / sizeof sections[0])

typedef struct loader {
	scn_scenario *s;
	const char *name; /* file name for messages */
	ms_error *err;
	const int *line;  /* per override: its line in the text, 0 for --set (NULL: all --set) */
} loader;

static int find_key(const char *key)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].key, key) == 0)
			return (int)i;
	return -1;
}

/* Levenshtein distance, for "did you mean" suggestions on short key names. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[128], cur[128];
	if (la >= 127 || lb >= 127)
		return 1000;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
	}
	return prev[lb];
}

/* Writes a suggestion like " (did you mean 'routing.top_k'?)" or the section's keys. */
static void suggest(const char *key, char *buf, size_t len)
{
	size_t best = 1000;
	int bi = -1;
	for (size_t i = 0; i < NKEYS; i++) {
		size_t d = edit_distance(key, keys[i].key);
		if (d < best) {
			best = d;
			bi = (int)i;
		}
	}
	if (bi >= 0 && best <= 3)
		snprintf(buf, len, " (did you mean '%s'?)", keys[bi].key);
	else
		snprintf(buf, len, "; see `moesim keys` for every key");
}

const char *scn_where(const scn_scenario *s, const char *key, char *buf, size_t len)
{
	int i = find_key(key);
	int o = i >= 0 ? s->origin[i] : 0;
	if (o > 0)
		snprintf(buf, len, "%s:%d", s->source, o);
	else if (o < 0)
		snprintf(buf, len, "--set %s", s->override_text[-o - 1]);
	else
		snprintf(buf, len, "%s (default of %s)", s->source, key);
	return buf;
}

int scn_is_set(const scn_scenario *s, const char *key)
{
	int i = find_key(key);
	return i >= 0 && s->origin[i] != 0;
}

int scn_from_set(const scn_scenario *s, const char *key)
{
	int i = find_key(key);
	return i >= 0 && s->origin[i] < 0;
}

#define WHERE(s, key) scn_where((s), (key), wbuf, sizeof wbuf)

static void store_int(scn_scenario *s, const keydef *k, int64_t v)
{
	char *p = (char *)s + k->off;
	if (k->type == T_INT64) {
		memcpy(p, &v, sizeof v);
	} else {
		int iv = (int)v;
		memcpy(p, &iv, sizeof iv);
	}
}

static void store_double(scn_scenario *s, const keydef *k, double v)
{
	memcpy((char *)s + k->off, &v, sizeof v);
}

/* The range message; why (may be "") says what is wrong before the allowed range. */
static int range_error(loader *L, const keydef *k, const char *where, const char *text, const char *why)
{
	if (k->max >= BIG / 10 || k->max >= 9e18)
		return MS_ERROR(L->err, MS_EINVAL, "%s: %s = %s is out of range: %sit must be at least %.17g", where,
				k->key, text, why, k->min);
	return MS_ERROR(L->err, MS_EINVAL, "%s: %s = %s is out of range: %sallowed %.17g to %.17g%s%s", where, k->key,
			text, why, k->min, k->max, k->unit[0] ? " " : "", k->unit);
}

static int check_range(loader *L, const keydef *k, const char *where, double v, const char *text)
{
	if (!(v >= k->min && v <= k->max))
		return range_error(L, k, where, text, "");
	return MS_OK;
}

static int store_enum(loader *L, const keydef *k, const char *where, const char *v)
{
	const char *c = k->choices;
	int idx = 0;
	size_t n = strlen(v);
	while (*c) {
		const char *bar = strchr(c, '|');
		size_t len = bar ? (size_t)(bar - c) : strlen(c);
		if (len == n && strncmp(c, v, n) == 0) {
			memcpy((char *)L->s + k->off, &idx, sizeof idx);
			return MS_OK;
		}
		idx++;
		c += len + (bar ? 1 : 0);
	}
	return MS_ERROR(L->err, MS_EINVAL, "%s: %s = \"%s\" is not allowed: choose one of %s", where, k->key, v,
			k->choices);
}

static int store_string(loader *L, const keydef *k, const char *where, const char *v)
{
	if (k->type == T_ENUM)
		return store_enum(L, k, where, v);
	if (strlen(v) >= k->size)
		return MS_ERROR(L->err, MS_EINVAL, "%s: %s is too long (%zu characters, at most %zu)", where, k->key,
				strlen(v), k->size - 1);
	memcpy((char *)L->s + k->off, v, strlen(v) + 1);
	return MS_OK;
}

/* Parses a value given as text (a default or a --set value) into key k. */
static int parse_text(loader *L, const keydef *k, const char *where, const char *text)
{
	char *end;
	switch (k->type) {
	case T_INT:
	case T_INT64: {
		long long v;
		errno = 0;
		v = strtoll(text, &end, 10);
		if (errno || end == text || *end)
			return MS_ERROR(L->err, MS_EINVAL, "%s: %s = %s is not an integer", where, k->key, text);
		if (check_range(L, k, where, (double)v, text) < 0)
			return L->err->code;
		store_int(L->s, k, v);
		return MS_OK;
	}
	case T_CF:
		if (strcmp(text, "dropless") == 0 || strcmp(text, "\"dropless\"") == 0) {
			store_double(L->s, k, 0.0);
			return MS_OK;
		}
		/* fall through */
	case T_FLOAT: {
		double v;
		errno = 0;
		v = strtod(text, &end);
		if ((errno && errno != ERANGE) || end == text || *end || isnan(v))
			return MS_ERROR(L->err, MS_EINVAL, "%s: %s = %s is not a number%s", where, k->key, text,
					k->type == T_CF ? " or \"dropless\"" : "");
		/* A number too small or too large for a double (strtod's ERANGE: 1e-308 is below
		 * the smallest normal double, 2.2e-308; 1e400 overflows) is a number out of range,
		 * not a typo: say so, with the range the key allows. */
		if (errno == ERANGE || isinf(v))
			return range_error(L, k, where, text,
					   isinf(v) || fabs(v) > 1.0 ? "too large for a double (above 1.8e308); "
								     : "too small for a double (below 2.2e-308); ");
		if (check_range(L, k, where, v, text) < 0)
			return L->err->code;
		store_double(L->s, k, v);
		return MS_OK;
	}
	case T_BOOL: {
		int v = strcmp(text, "true") == 0 ? 1 : strcmp(text, "false") == 0 ? 0 : -1;
		if (v < 0)
			return MS_ERROR(L->err, MS_EINVAL, "%s: %s = %s is not allowed: give true or false", where, k->key,
					text);
		memcpy((char *)L->s + k->off, &v, sizeof v);
		return MS_OK;
	}
	case T_STRING:
	case T_ENUM: {
		char buf[SCN_PATH_MAX];
		size_t n = strlen(text);
		if (n >= 2 && text[0] == '"' && text[n - 1] == '"') {
			if (n - 2 >= sizeof buf)
				return MS_ERROR(L->err, MS_EINVAL, "%s: %s is too long", where, k->key);
			memcpy(buf, text + 1, n - 2);
			buf[n - 2] = '\0';
			return store_string(L, k, where, buf);
		}
		return store_string(L, k, where, text);
	}
	}
	return MS_ERROR(L->err, MS_EINVAL, "%s: %s has an unknown type", where, k->key);
}

/* Takes key k from a libconfig setting. */
static int parse_setting(loader *L, const keydef *k, const char *where, const config_setting_t *st)
{
	int t = config_setting_type(st);
	char text[64];
	switch (k->type) {
	case T_INT:
	case T_INT64:
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return MS_ERROR(L->err, MS_EINVAL, "%s: %s must be an integer, not %s", where, k->key,
					ms_config_type_name(t));
		snprintf(text, sizeof text, "%lld", config_setting_get_int64(st));
		return parse_text(L, k, where, text);
	case T_CF:
		if (t == CONFIG_TYPE_STRING) {
			const char *v = config_setting_get_string(st);
			if (strcmp(v, "dropless") == 0)
				return parse_text(L, k, where, v);
			return MS_ERROR(L->err, MS_EINVAL, "%s: %s = \"%s\" is not allowed: give a number > 0 or \"dropless\"",
					where, k->key, v);
		}
		/* fall through */
	case T_FLOAT:
		if (t == CONFIG_TYPE_FLOAT)
			snprintf(text, sizeof text, "%.17g", config_setting_get_float(st));
		else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			snprintf(text, sizeof text, "%lld", config_setting_get_int64(st));
		else
			return MS_ERROR(L->err, MS_EINVAL, "%s: %s must be a number, not %s", where, k->key, ms_config_type_name(t));
		return parse_text(L, k, where, text);
	case T_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			return MS_ERROR(L->err, MS_EINVAL, "%s: %s must be true or false (no quotes), not %s", where, k->key,
					ms_config_type_name(t));
		return parse_text(L, k, where, config_setting_get_bool(st) ? "true" : "false");
	case T_STRING:
	case T_ENUM:
		if (t != CONFIG_TYPE_STRING)
			return MS_ERROR(L->err, MS_EINVAL, "%s: %s must be a string in double quotes, not %s", where,
					k->key, ms_config_type_name(t));
		return store_string(L, k, where, config_setting_get_string(st));
	}
	return MS_ERROR(L->err, MS_EINVAL, "%s: %s has an unknown type", where, k->key);
}

/* Rejects sections and keys the table does not know. */
static int check_unknown(loader *L, const config_t *cfg)
{
	const config_setting_t *root = config_root_setting(cfg);
	char sug[160];
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *sec = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(sec);
		size_t j;
		for (j = 0; j < NSECTIONS; j++)
			if (strcmp(name, sections[j]) == 0)
				break;
		if (j == NSECTIONS)
			return MS_ERROR(L->err, MS_EINVAL,
					"%s:%u: unknown section '%s': sections are model, cluster, network, parallel, training, "
					"schedule, workload, routing, output, sweep",
					L->name, config_setting_source_line(sec), name);
		if (config_setting_type(sec) != CONFIG_TYPE_GROUP)
			return MS_ERROR(L->err, MS_EINVAL, "%s:%u: '%s' must be a group: %s = { key = value; ... };",
					L->name, config_setting_source_line(sec), name, name);
		/* The sweep section's lists are sweep/sw_spec.c's to read (moesim sweep); a run
		 * loads the scenario without them. */
		if (strcmp(name, "sweep") == 0)
			continue;
		for (int e = 0; e < config_setting_length(sec); e++) {
			const config_setting_t *st = config_setting_get_elem(sec, (unsigned)e);
			char full[256];
			snprintf(full, sizeof full, "%s.%s", name, config_setting_name(st));
			if (find_key(full) < 0) {
				suggest(full, sug, sizeof sug);
				return MS_ERROR(L->err, MS_EINVAL, "%s:%u: unknown key '%s'%s", L->name,
						config_setting_source_line(st), full, sug);
			}
		}
	}
	return MS_OK;
}

/* Splits "--set" items; the last item for a key wins. Returns the item index or -1. */
static int find_override(const scn_overrides *ov, const char *key, const char **value)
{
	int found = -1;
	size_t n = strlen(key);
	for (int i = 0; ov && i < ov->n; i++) {
		const char *it = ov->items[i];
		if (strncmp(it, key, n) == 0 && it[n] == '=') {
			found = i;
			*value = it + n + 1;
		}
	}
	return found;
}

static int check_overrides(loader *L, const scn_overrides *ov)
{
	char sug[160];
	if (!ov)
		return MS_OK;
	if (ov->n > SCN_MAX_OVERRIDES)
		return MS_ERROR(L->err, MS_EINVAL, "too many --set options (%d, at most %d)", ov->n, SCN_MAX_OVERRIDES);
	for (int i = 0; i < ov->n; i++) {
		const char *it = ov->items[i], *eq = strchr(it, '=');
		char key[SCN_NAME_MAX];
		size_t n;
		if (!eq || eq == it)
			return MS_ERROR(L->err, MS_EINVAL, "--set %s: expected section.key=value, e.g. --set routing.top_k=2",
					it);
		n = (size_t)(eq - it);
		if (n >= sizeof key)
			return MS_ERROR(L->err, MS_EINVAL, "--set %s: key too long", it);
		memcpy(key, it, n);
		key[n] = '\0';
		if (find_key(key) < 0) {
			suggest(key, sug, sizeof sug);
			return MS_ERROR(L->err, MS_EINVAL, "--set %s: unknown key '%s'%s", it, key, sug);
		}
		snprintf(L->s->override_text[i], sizeof L->s->override_text[i], "%s", it);
	}
	return MS_OK;
}

static int load_values(loader *L, const config_t *cfg, const scn_overrides *ov)
{
	char wbuf[SCN_PATH_MAX + 160];
	for (size_t i = 0; i < NKEYS; i++) {
		const keydef *k = &keys[i];
		const char *value = NULL;
		int oi = find_override(ov, k->key, &value);
		const config_setting_t *st = cfg ? config_lookup(cfg, k->key) : NULL;
		if (oi >= 0) {
			/* An item from a scenario file's line (a sweep point's value) counts as
			 * written there: messages and relative paths follow that file. */
			L->s->origin[i] = L->line && L->line[oi] > 0 ? L->line[oi] : -(oi + 1);
			if (parse_text(L, k, WHERE(L->s, k->key), value) < 0)
				return L->err->code;
		} else if (st) {
			L->s->origin[i] = (int)config_setting_source_line(st);
			if (parse_setting(L, k, WHERE(L->s, k->key), st) < 0)
				return L->err->code;
		} else if (k->def) {
			L->s->origin[i] = 0;
			if (parse_text(L, k, WHERE(L->s, k->key), k->def) < 0)
				return L->err->code;
		} else {
			char sec[64];
			const char *dot = strchr(k->key, '.');
			snprintf(sec, sizeof sec, "%.*s", (int)(dot - k->key), k->key);
			return MS_ERROR(L->err, MS_EINVAL, "%s: missing required key %s: add `%s = ...;` to the %s section (%s)",
					L->name, k->key, dot + 1, sec, k->doc);
		}
	}
	return MS_OK;
}

/*
 * The batch: tokens_per_rank (one GPU's MoE tokens per micro-batch), micro_batch and
 * global_batch, each derivable from the others. Training and prefill: tokens_per_rank =
 * micro_batch x seq_len / (tp x cp) (sequence and context parallelism split the
 * sequence); decode: micro_batch / tp (one new token per sequence, split over the TP
 * group for the MoE layer as sequence parallelism does). Older scenarios give only
 * tokens_per_rank (one micro-batch per step); a tokens_per_rank that is not a whole
 * number of sequences (below seq_len) is allowed there as a partial sequence.
 */
/* DualPipe's own rules (deepseek-ai/DualPipe, dualpipe/dualpipe.py, DualPipe.step): an even
 * number of pipeline ranks, each holding two stages; micro-batches even and at least twice
 * the ranks (half go each way); a training schedule (its forward-only step is the same
 * bidirectional pipeline without backward, which moesim does not play). */
static int dualpipe_check(loader *L)
{
	scn_scenario *s = L->s;
	char wbuf[SCN_PATH_MAX + 160];
	int pp = s->parallel.pp;
	int64_t m = s->workload.microbatches;
	if (s->schedule.overlap != SCN_OVERLAP_DUALPIPE)
		return MS_OK;
	if (s->workload.mode != SCN_MODE_TRAINING)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: schedule.overlap = \"dualpipe\" is a training schedule and workload.mode is \"%s\"; use "
				"\"two_batch\" or \"none\"",
				WHERE(s, "schedule.overlap"), scn_mode_name(s->workload.mode));
	if (pp < 2 || pp % 2 != 0)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: schedule.overlap = \"dualpipe\" needs an even parallel.pp of at least 2 (DualPipe: "
				"num_ranks %% 2 == 0), and pp = %d",
				WHERE(s, "parallel.pp"), pp);
	if (s->parallel.vpp != 1)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: schedule.overlap = \"dualpipe\" places two stages on each rank itself; set parallel.vpp = "
				"1 (it is %d)",
				WHERE(s, "parallel.vpp"), s->parallel.vpp);
	if (m % 2 != 0 || m < 2 * pp)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: schedule.overlap = \"dualpipe\" needs an even number of micro-batches of at least 2 x pp "
				"= %d (DualPipe: num_chunks %% 2 == 0 and num_chunks >= num_ranks x 2), and global_batch = %lld "
				"gives %lld (micro_batch %lld x dp %d each); raise workload.global_batch to a multiple of "
				"%lld of at least %lld",
				WHERE(s, "workload.global_batch"), 2 * pp, (long long)s->workload.global_batch, (long long)m,
				(long long)s->workload.micro_batch, s->parallel.dp,
				(long long)(2 * s->workload.micro_batch * s->parallel.dp),
				(long long)(2 * pp * s->workload.micro_batch * s->parallel.dp));
	return MS_OK;
}

static int derive_batch(loader *L, scn_scenario *s)
{
	char wbuf[SCN_PATH_MAX + 160];
	int decode = s->workload.mode == SCN_MODE_DECODE;
	int64_t split = decode ? s->parallel.tp : (int64_t)s->parallel.tp * s->parallel.cp;
	int64_t per_seq = decode ? 1 : s->workload.seq_len;
	int64_t tpr = s->workload.tokens_per_rank, mb = s->workload.micro_batch;
	if (tpr == 0 && mb == 0)
		mb = 1;
	if (mb > 0) {
		int64_t want = mb * per_seq;
		if (want % split != 0)
			return MS_ERROR(L->err, MS_EINVAL,
					"%s: workload.micro_batch = %lld sequence(s) of %lld token(s) = %lld tokens do not "
					"split evenly over %s = %lld GPUs; change micro_batch, seq_len or the layout",
					WHERE(s, "workload.micro_batch"), (long long)mb, (long long)per_seq, (long long)want,
					decode ? "tp" : "tp x cp", (long long)split);
		if (tpr > 0 && tpr != want / split)
			return MS_ERROR(L->err, MS_EINVAL,
					"%s: workload.tokens_per_rank = %lld but micro_batch = %lld x %lld / %lld = %lld; give "
					"one of them",
					WHERE(s, "workload.tokens_per_rank"), (long long)tpr, (long long)mb, (long long)per_seq,
					(long long)split, (long long)(want / split));
		tpr = want / split;
	} else {
		int64_t tokens = tpr * split;
		if (!decode && tokens % per_seq != 0 && tokens > per_seq)
			return MS_ERROR(L->err, MS_EINVAL,
					"%s: workload.tokens_per_rank = %lld is not a whole number of sequences of seq_len = %d",
					WHERE(s, "workload.tokens_per_rank"), (long long)tpr, s->workload.seq_len);
		mb = tokens >= per_seq ? tokens / per_seq : 1;
	}
	s->workload.tokens_per_rank = tpr;
	s->workload.micro_batch = mb;
	if (s->workload.global_batch == 0)
		s->workload.global_batch = mb * s->parallel.dp;
	if (s->workload.global_batch % (mb * s->parallel.dp) != 0)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: workload.global_batch = %lld is not a multiple of micro_batch x dp = %lld x %d = %lld "
				"(Megatron: global_batch_size %% (micro_batch_size x data_parallel_size) == 0)",
				WHERE(s, "workload.global_batch"), (long long)s->workload.global_batch, (long long)mb,
				s->parallel.dp, (long long)(mb * s->parallel.dp));
	s->workload.microbatches = s->workload.global_batch / (mb * s->parallel.dp);
	if (s->workload.mode != SCN_MODE_TRAINING && s->workload.microbatches > 1 && s->parallel.pp == 1)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: %s runs one batch per step: global_batch = %lld is %lld micro-batches of %lld per DP "
				"rank; without pipeline stages set global_batch = micro_batch x dp",
				WHERE(s, "workload.global_batch"), scn_mode_name(s->workload.mode),
				(long long)s->workload.global_batch, (long long)s->workload.microbatches, (long long)mb);
	if (s->workload.routed_microbatches == 0 || s->workload.routed_microbatches > s->workload.microbatches)
		s->workload.routed_microbatches = (int)(s->workload.microbatches < (1 << 20) ? s->workload.microbatches : (1 << 20));
	return dualpipe_check(L);
}

/* Resolves "0 means derive" defaults and checks rules that span keys. */
static int cross_check(loader *L)
{
	scn_scenario *s = L->s;
	char wbuf[SCN_PATH_MAX + 160];
	int world = s->cluster.nodes * s->cluster.gpus_per_node;
	static const int dtype_bytes[] = {2, 2, 1, 4};

	s->model.dtype_bytes = dtype_bytes[s->model.dtype];
	if ((int)s->model.dispatch_dtype == 4)
		s->model.dispatch_dtype = s->model.dtype;
	if ((int)s->model.combine_dtype == 4)
		s->model.combine_dtype = s->model.dtype;
	if (s->network.dedup == SCN_DEDUP_AUTO)
		s->network.dedup = s->network.dispatcher == SCN_DISP_DEEPEP ? SCN_DEDUP_NODE : SCN_DEDUP_NONE;
	if (s->network.combine_reduce == SCN_DEDUP_AUTO)
		s->network.combine_reduce = s->network.dispatcher == SCN_DISP_DEEPEP ? SCN_DEDUP_NODE : SCN_DEDUP_NONE;
	if (s->network.alltoall == SCN_A2A_AUTO)
		s->network.alltoall = s->network.dispatcher == SCN_DISP_MEGATRON ? SCN_A2A_NCCL : SCN_A2A_FLAT;
	if (s->model.top_k > s->model.experts)
		return MS_ERROR(L->err, MS_EINVAL, "%s: model.top_k = %d but model.experts = %d: top_k must be at most experts",
				WHERE(s, "model.top_k"), s->model.top_k, s->model.experts);
	if (s->routing.top_k == 0)
		s->routing.top_k = s->model.top_k;
	if (s->routing.top_k > s->model.experts)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: routing.top_k = %d but model.experts = %d: top_k must be at most experts",
				WHERE(s, "routing.top_k"), s->routing.top_k, s->model.experts);
	if (s->model.kv_heads == 0)
		s->model.kv_heads = s->model.heads;
	if (s->model.heads % s->model.kv_heads != 0)
		return MS_ERROR(L->err, MS_EINVAL, "%s: model.kv_heads = %d does not divide model.heads = %d",
				WHERE(s, "model.kv_heads"), s->model.kv_heads, s->model.heads);
	if (s->model.head_dim == 0) {
		if (s->model.hidden % s->model.heads != 0)
			return MS_ERROR(L->err, MS_EINVAL,
					"%s: model.heads = %d does not divide model.hidden = %d; set model.head_dim explicitly",
					WHERE(s, "model.heads"), s->model.heads, s->model.hidden);
		s->model.head_dim = s->model.hidden / s->model.heads;
	}
	if (s->cluster.nics_per_node == 0)
		s->cluster.nics_per_node = s->cluster.gpus_per_node;
	if (s->cluster.gpus_per_node % s->cluster.nics_per_node != 0)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: cluster.nics_per_node = %d does not divide cluster.gpus_per_node = %d",
				WHERE(s, "cluster.nics_per_node"), s->cluster.nics_per_node, s->cluster.gpus_per_node);
	if ((int64_t)s->cluster.nodes * s->cluster.gpus_per_node > (1 << 20))
		return MS_ERROR(L->err, MS_EINVAL, "%s: %d nodes x %d GPUs is more than the %d GPUs moesim supports",
				WHERE(s, "cluster.nodes"), s->cluster.nodes, s->cluster.gpus_per_node, 1 << 20);
	{
		/* The layout's own rules (divisibility, group shapes) are parallel/par_layout.c's,
		 * checked before a run; here only what the derived values need. */
		int mp = s->parallel.tp * s->parallel.cp * s->parallel.pp;
		if (world % mp != 0)
			return MS_ERROR(L->err, MS_EINVAL,
					"%s: parallel.tp x cp x pp = %d x %d x %d = %d does not divide the cluster's %d GPUs "
					"(Megatron-Core: world_size %% (tp x cp x pp) == 0); change the layout or cluster.nodes",
					WHERE(s, "parallel.pp"), s->parallel.tp, s->parallel.cp, s->parallel.pp, mp, world);
		if (s->parallel.dp == 0)
			s->parallel.dp = world / mp;
		if (s->parallel.dp * mp != world)
			return MS_ERROR(L->err, MS_EINVAL,
					"%s: parallel.dp = %d but the cluster's %d GPUs / (tp x cp x pp = %d) = %d: dp is what "
					"the other degrees leave; set it to %d or leave it out",
					WHERE(s, "parallel.dp"), s->parallel.dp, world, mp, world / mp, world / mp);
	}
	if (s->workload.mode == SCN_MODE_DECODE && s->parallel.cp > 1)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: parallel.cp = %d in decode: context parallelism splits a sequence's tokens, and a decode "
				"step has one new token per sequence; use cp = 1 (or prefill)",
				WHERE(s, "parallel.cp"), s->parallel.cp);
	if (s->model.dense_ffn_hidden == 0)
		s->model.dense_ffn_hidden = s->model.ffn_hidden;
	if (s->model.shared_ffn_hidden == 0)
		s->model.shared_ffn_hidden = s->model.ffn_hidden;
	s->model.layers = s->model.dense_layers + s->model.moe_layers * s->model.moe_every;
	if (s->model.attention == SCN_ATTN_MHA && s->model.kv_heads != s->model.heads)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: model.attention = \"mha\" but model.kv_heads = %d differs from heads = %d; use "
				"attention = \"gqa\" or leave kv_heads out",
				WHERE(s, "model.kv_heads"), s->model.kv_heads, s->model.heads);
	if (s->cluster.gpu_memory_GiB > 0 && s->cluster.reserved_memory_GiB >= s->cluster.gpu_memory_GiB)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: cluster.reserved_memory_GiB = %g leaves nothing of cluster.gpu_memory_GiB = %g",
				WHERE(s, "cluster.reserved_memory_GiB"), s->cluster.reserved_memory_GiB,
				s->cluster.gpu_memory_GiB);
	if (s->training.bucket_params == 0) {
		/* Megatron-Core distributed_data_parallel_config.py / distributed_data_parallel.py:
		 * bucket_size = max(40000000, 1000000 * data_parallel_world_size). */
		int64_t b = 1000000 * (int64_t)s->parallel.dp * s->parallel.cp;
		s->training.bucket_params = b > 40000000 ? b : 40000000;
	}
	if (s->parallel.ep > world || world % s->parallel.ep != 0)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: parallel.ep = %d does not divide the cluster's %d GPUs (nodes x gpus_per_node)",
				WHERE(s, "parallel.ep"), s->parallel.ep, world);
	if ((s->routing.placement == SCN_PLACE_CONTIGUOUS || s->routing.placement == SCN_PLACE_ROUND_ROBIN) &&
	    s->model.experts % s->parallel.ep != 0)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: parallel.ep = %d does not divide model.experts = %d: every GPU must hold the same "
				"number of experts (or use routing.placement = \"file\" or \"load_aware\")",
				WHERE(s, "parallel.ep"), s->parallel.ep, s->model.experts);
	if (s->routing.placement == SCN_PLACE_LOAD_AWARE &&
	    (s->model.experts + s->routing.redundant_experts) % s->parallel.ep != 0)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: model.experts + routing.redundant_experts = %d + %d is not a multiple of parallel.ep = %d",
				WHERE(s, "routing.redundant_experts"), s->model.experts, s->routing.redundant_experts,
				s->parallel.ep);
	if (s->routing.placement != SCN_PLACE_LOAD_AWARE && s->routing.redundant_experts > 0)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: routing.redundant_experts = %d needs routing.placement = \"load_aware\"",
				WHERE(s, "routing.redundant_experts"), s->routing.redundant_experts);
	if (s->routing.placement == SCN_PLACE_FILE && !s->routing.placement_file[0])
		return MS_ERROR(L->err, MS_EINVAL, "%s: routing.placement = \"file\" needs routing.placement_file",
				WHERE(s, "routing.placement"));
	if (s->routing.source == SCN_SRC_TRACE && !s->routing.trace[0])
		return MS_ERROR(L->err, MS_EINVAL, "%s: routing.source = \"trace\" needs routing.trace = \"FILE.h5\"",
				WHERE(s, "routing.source"));
	if (s->routing.node_limit > 0 && s->routing.source == SCN_SRC_SYNTHETIC &&
	    s->routing.distribution == SCN_DIST_BALANCED)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: routing.node_limit = %d cannot apply to routing.distribution = \"balanced\": balanced "
				"routing fixes every token's experts and has no scores to choose nodes by; use "
				"distribution = \"uniform\" or \"zipf\", or node_limit = 0",
				WHERE(s, "routing.node_limit"), s->routing.node_limit);
	/* Synthetic routing draws every expert's score for the other routers (rt_router.h);
	 * balanced routing has none to draw. */
	if (s->routing.router != SCN_ROUTER_TOPK && s->routing.source == SCN_SRC_SYNTHETIC &&
	    s->routing.distribution == SCN_DIST_BALANCED)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: routing.router = \"%s\" compares router scores, but routing.distribution = "
				"\"balanced\" fixes every token's experts and has no scores; use distribution = "
				"\"uniform\" or \"zipf\", replay a trace (routing.source = \"trace\"), or use "
				"routing.router = \"topk\"",
				WHERE(s, "routing.router"), scn_router_name(s->routing.router));
	if (s->routing.router == SCN_ROUTER_EXPERT_CHOICE && s->routing.capacity_factor <= 0)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: routing.router = \"expert_choice\" needs a numeric routing.capacity_factor: each expert "
				"takes its capacity's best tokens, and \"dropless\" gives it no capacity",
				WHERE(s, "routing.router"));
	if (s->routing.router != SCN_ROUTER_TOPK && s->routing.node_limit > 0)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: routing.router = \"%s\" does not apply routing.node_limit = %d (only topk does); set "
				"node_limit = 0 or routing.router = \"topk\"",
				WHERE(s, "routing.router"), scn_router_name(s->routing.router), s->routing.node_limit);
	if (s->routing.pad_to_capacity && s->routing.capacity_factor <= 0) {
		char cbuf[SCN_PATH_MAX + 160];
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: routing.pad_to_capacity = true needs a numeric routing.capacity_factor, but it is "
				"\"dropless\" (%s): padded buffers are capacity-sized; set capacity_factor (e.g. 1.25) or "
				"pad_to_capacity = false",
				WHERE(s, "routing.pad_to_capacity"),
				scn_where(s, "routing.capacity_factor", cbuf, sizeof cbuf));
	}
	if (s->workload.context_len == 0)
		s->workload.context_len = s->workload.seq_len;
	if (derive_batch(L, s) < 0)
		return L->err->code;
	if (s->schedule.overlap == SCN_OVERLAP_TWO_BATCH && s->workload.tokens_per_rank % 2 != 0)
		return MS_ERROR(L->err, MS_EINVAL,
				"%s: schedule.overlap = \"two_batch\" splits each micro-batch's %lld tokens per GPU in two; "
				"give an even workload.tokens_per_rank (micro_batch x seq_len / (tp x cp))",
				WHERE(s, "schedule.overlap"), (long long)s->workload.tokens_per_rank);
	{
		/* Per-rank token-expert pairs must fit the int32 counters of the routing tables. */
		double pairs = (double)s->workload.tokens_per_rank * s->parallel.ep * s->routing.top_k;
		if (pairs > 2e9)
			return MS_ERROR(L->err, MS_EINVAL,
					"%s: workload.tokens_per_rank = %lld x ep %d x top_k %d token-expert pairs per EP "
					"group exceed 2e9",
					WHERE(s, "workload.tokens_per_rank"), (long long)s->workload.tokens_per_rank,
					s->parallel.ep, s->routing.top_k);
	}
	return MS_OK;
}

static int load(scn_scenario *s, config_t *cfg, const char *name, const scn_overrides *ov, const int *line,
		ms_error *err)
{
	loader L = {s, name, err, line};
	if (check_overrides(&L, ov) < 0)
		return err->code;
	if (check_unknown(&L, cfg) < 0)
		return err->code;
	if (load_values(&L, cfg, ov) < 0)
		return err->code;
	return cross_check(&L);
}

static int syntax_error(const config_t *cfg, const char *name, ms_error *err)
{
	if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
		return MS_ERROR(err, MS_EIO, "cannot read scenario file '%s': %s", name, strerror(errno));
	return MS_ERROR(err, MS_EINVAL, "%s:%d: syntax error: %s (libconfig syntax: key = value; groups in { })",
			config_error_file(cfg) ? config_error_file(cfg) : name, config_error_line(cfg),
			config_error_text(cfg));
}

int scn_scenario_load(scn_scenario *s, const char *path, const scn_overrides *ov, ms_error *err)
{
	config_t cfg;
	int rc;
	FILE *f;
	if (!path)
		return scn_scenario_load_text(s, scn_default_text, "<built-in default>", ov, err);
	memset(s, 0, sizeof *s);
	if (strlen(path) >= sizeof s->source)
		return MS_ERROR(err, MS_EINVAL, "scenario path too long: %s", path);
	snprintf(s->source, sizeof s->source, "%s", path);
	/* Open it ourselves first: libconfig reports a missing file without errno. */
	f = fopen(path, "r");
	if (!f)
		return MS_ERROR(err, MS_EIO, "cannot read scenario file '%s': %s", path, strerror(errno));
	config_init(&cfg);
	if (!config_read(&cfg, f)) {
		rc = syntax_error(&cfg, path, err);
		config_destroy(&cfg);
		fclose(f);
		return rc;
	}
	fclose(f);
	rc = load(s, &cfg, path, ov, NULL, err);
	config_destroy(&cfg);
	return rc;
}

int scn_scenario_load_text(scn_scenario *s, const char *text, const char *name, const scn_overrides *ov,
			   ms_error *err)
{
	return scn_scenario_load_text_at(s, text, name, ov, NULL, err);
}

int scn_scenario_load_text_at(scn_scenario *s, const char *text, const char *name, const scn_overrides *ov,
			      const int *line, ms_error *err)
{
	config_t cfg;
	int rc;
	memset(s, 0, sizeof *s);
	snprintf(s->source, sizeof s->source, "%s", name);
	config_init(&cfg);
	if (!config_read_string(&cfg, text)) {
		rc = syntax_error(&cfg, name, err);
		config_destroy(&cfg);
		return rc;
	}
	rc = load(s, &cfg, name, ov, line, err);
	config_destroy(&cfg);
	return rc;
}

const char *scn_dtype_name(scn_dtype d)
{
	static const char *const names[] = {"bf16", "fp16", "fp8", "fp32"};
	return (unsigned)d < 4 ? names[d] : "?";
}

const char *scn_router_name(scn_router r)
{
	static const char *const names[] = {"topk", "expert_choice", "bias_balanced", "bpr"};
	return (unsigned)r < 4 ? names[r] : "?";
}

const char *scn_mode_name(scn_mode m)
{
	switch (m) {
	case SCN_MODE_TRAINING: return "training";
	case SCN_MODE_PREFILL: return "prefill";
	case SCN_MODE_DECODE: return "decode";
	}
	return "?";
}

void scn_write_reference(FILE *f)
{
	fprintf(f, "| key | type | default | allowed | unit | meaning |\n|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < NKEYS; i++) {
		const keydef *k = &keys[i];
		const char *type = k->type == T_INT || k->type == T_INT64 ? "integer"
				   : k->type == T_FLOAT			  ? "number"
				   : k->type == T_CF			  ? "number or \"dropless\""
				   : k->type == T_BOOL			  ? "boolean"
									  : "string";
		char allowed[128] = "";
		if (k->type == T_ENUM)
			snprintf(allowed, sizeof allowed, "%s", k->choices);
		else if (k->type == T_BOOL)
			snprintf(allowed, sizeof allowed, "true|false");
		else if (k->type != T_STRING && k->max >= 9e17)
			snprintf(allowed, sizeof allowed, ">= %g", k->min);
		else if (k->type != T_STRING)
			snprintf(allowed, sizeof allowed, "%g .. %g", k->min, k->max);
		fprintf(f, "| `%s` | %s | %s | %s | %s | %s |\n", k->key, type, k->def ? (k->def[0] ? k->def : "\"\"") : "required",
			allowed, k->unit, k->doc);
	}
}

/* Key k's value in s as scenario text (strings without quotes). */
static void value_text(const scn_scenario *s, const keydef *k, char *buf, size_t len)
{
	const char *p = (const char *)s + k->off;
	switch (k->type) {
	case T_INT: {
		int v;
		memcpy(&v, p, sizeof v);
		snprintf(buf, len, "%d", v);
		return;
	}
	case T_INT64: {
		int64_t v;
		memcpy(&v, p, sizeof v);
		snprintf(buf, len, "%lld", (long long)v);
		return;
	}
	case T_FLOAT:
	case T_CF: {
		double v;
		memcpy(&v, p, sizeof v);
		if (k->type == T_CF && v <= 0)
			snprintf(buf, len, "dropless");
		else
			snprintf(buf, len, "%.17g", v);
		return;
	}
	case T_BOOL: {
		int v;
		memcpy(&v, p, sizeof v);
		snprintf(buf, len, "%s", v ? "true" : "false");
		return;
	}
	case T_STRING:
		snprintf(buf, len, "%s", p);
		return;
	case T_ENUM: {
		int v;
		const char *c = k->choices;
		memcpy(&v, p, sizeof v);
		for (int j = 0; j < v && c; j++) {
			c = strchr(c, '|');
			if (c)
				c++;
		}
		snprintf(buf, len, "%.*s", c ? (int)(strchr(c, '|') ? (size_t)(strchr(c, '|') - c) : strlen(c)) : 1,
			 c ? c : "?");
		return;
	}
	}
	snprintf(buf, len, "?");
}

int scn_key_count(void)
{
	return (int)NKEYS;
}

const char *scn_key_name(int i)
{
	return i >= 0 && (size_t)i < NKEYS ? keys[i].key : NULL;
}

int scn_key_index(const char *key)
{
	return find_key(key);
}

const char *scn_key_unit(int i)
{
	return keys[i].unit;
}

int scn_key_is_number(int i)
{
	ktype t = keys[i].type;
	return t == T_INT || t == T_INT64 || t == T_FLOAT;
}

const char *scn_value_text(const scn_scenario *s, int i, char *buf, size_t len)
{
	value_text(s, &keys[i], buf, len);
	return buf;
}

int scn_value_check(const char *key, const char *text, const char *where, ms_error *err)
{
	int i = find_key(key), rc;
	scn_scenario *s;
	loader L;
	char sug[160];
	if (i < 0) {
		suggest(key, sug, sizeof sug);
		return MS_ERROR(err, MS_EINVAL, "%s: unknown key '%s'%s", where, key, sug);
	}
	s = calloc(1, sizeof *s);
	if (!s)
		return MS_ERROR(err, MS_ENOMEM, "out of memory");
	L = (loader){s, where, err, NULL};
	rc = parse_text(&L, &keys[i], where, text);
	free(s);
	return rc;
}

void scn_write_resolved(FILE *f, const scn_scenario *s)
{
	const char *cur = "";
	size_t curlen = 0;
	char text[SCN_PATH_MAX];
	for (size_t i = 0; i < NKEYS; i++) {
		const keydef *k = &keys[i];
		const char *dot = strchr(k->key, '.');
		size_t seclen = (size_t)(dot - k->key);
		if (seclen != curlen || strncmp(cur, k->key, seclen) != 0) {
			if (curlen)
				fprintf(f, "};\n");
			fprintf(f, "%.*s = {\n", (int)seclen, k->key);
			cur = k->key;
			curlen = seclen;
		}
		value_text(s, k, text, sizeof text);
		switch (k->type) {
		case T_INT64:
			fprintf(f, "  %s = %sL;\n", dot + 1, text);
			break;
		case T_FLOAT:
		case T_CF:
			if (strcmp(text, "dropless") == 0)
				fprintf(f, "  %s = \"dropless\";\n", dot + 1);
			else
				fprintf(f, "  %s = %s%s;\n", dot + 1, text, strpbrk(text, ".e") ? "" : ".0");
			break;
		case T_STRING:
		case T_ENUM:
			fprintf(f, "  %s = \"%s\";\n", dot + 1, text);
			break;
		default:
			fprintf(f, "  %s = %s;\n", dot + 1, text);
		}
	}
	if (curlen)
		fprintf(f, "};\n");
}
