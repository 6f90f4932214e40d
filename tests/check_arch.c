/*
 * check_arch.c - the whole model (models/moe_arch.h, models/moe_memory.h): FLOPs and
 * parameters part by part against hand computations with awkward shapes, the MFU count
 * against a transcription of Megatron-LM's formula (tests/flops_oracle.py) for Mixtral-8x7B
 * and DeepSeek-V3, the published parameter totals of both, and the memory per GPU: a
 * small model counted by hand (weights, gradients and optimizer exactly, activations from
 * the tensor count of moe_memory.c), the interleaved schedule's in-flight chunks, the KV
 * cache, DeepEP's buffers, Mixtral-8x7B on 8 H100s (does not fit) and layouts that fit,
 * and the advice.
 *
 * Numbers marked "flops_oracle.py" were printed by `/usr/bin/python3 tests/flops_oracle.py`
 * (Megatron-LM d98e8a64); the rest are worked by hand in the comments beside them.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/moe_arch.h"
#include "models/moe_memory.h"
#include "scenario/scn_scenario.h"
#include "test_util.h"

#define ck_contains(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, "expected \"%s\" in: %s", (needle), (hay))
/* Exact but for double rounding (the counts are integers far below 2^53). */
#define ck_eq(got, want) \
	ck_assert_msg(fabs((double)(got) - (double)(want)) <= 1e-12 * fmax(1.0, fabs((double)(want))), \
		      "%s = %.17g, expected %.17g", #got, (double)(got), (double)(want))

/* Loads text with --set style overrides (NULL-terminated list). */
static void load(scn_scenario *s, const char *text, const char *const *set)
{
	scn_overrides ov = {0, {0}};
	ms_error err;
	while (set && set[ov.n])
		ov.items[ov.n] = set[ov.n], ov.n++;
	ms_error_clear(&err);
	if (scn_scenario_load_text(s, text, "check_arch", &ov, &err) < 0)
		ck_abort_msg("%s", err.msg);
}

static void arch(moe_arch *a, const scn_scenario *s)
{
	ms_error err;
	ms_error_clear(&err);
	ck_assert_msg(moe_arch_init(a, s, &err) == MS_OK, "%s", err.msg);
}

static void estimate(moe_memory *m, const scn_scenario *s, const moe_arch *a)
{
	ms_error err;
	ms_error_clear(&err);
	ck_assert_msg(moe_memory_estimate(s, a, m, &err) == MS_OK, "%s", err.msg);
}

/* --- shapes ---------------------------------------------------------------------------- */

/* Awkward GQA: h 1000, 10 heads of 96 (not h / heads), 5 KV heads, experts of 700, dense FFN
 * 1500, 2 shared experts of 300, vocab 5003, 1 MTP module; layers [dense, dense, MoE, dense,
 * MoE] (1 leading dense layer, then every 2nd layer MoE). */
static const char gqa_cfg[] =
	"model = { hidden = 1000; ffn_hidden = 700; experts = 6; top_k = 2; moe_layers = 2; dense_layers = 1;\n"
	"  moe_every = 2; dense_ffn_hidden = 1500; shared_experts = 2; shared_ffn_hidden = 300; heads = 10;\n"
	"  kv_heads = 5; head_dim = 96; attention = \"gqa\"; vocab = 5003; mtp_layers = 1; };\n"
	"cluster = { nodes = 1; gpus_per_node = 2; };\n"
	"parallel = { ep = 2; };\n"
	"workload = { mode = \"training\"; seq_len = 333; micro_batch = 1; };\n";

/* Awkward MLA: q_lora 336, kv_lora 144, nope 72, rope 24, v 80; 2 dense + 3 MoE layers, one
 * shared expert of 300, 2 MTP modules. */
static const char mla_cfg[] =
	"model = { hidden = 1000; ffn_hidden = 700; experts = 6; top_k = 2; moe_layers = 3; dense_layers = 2;\n"
	"  dense_ffn_hidden = 1500; shared_experts = 1; shared_ffn_hidden = 300; heads = 10; attention = \"mla\";\n"
	"  q_lora_rank = 336; kv_lora_rank = 144; qk_nope_head_dim = 72; qk_rope_head_dim = 24; v_head_dim = 80;\n"
	"  vocab = 5003; mtp_layers = 2; };\n"
	"cluster = { nodes = 1; gpus_per_node = 2; };\n"
	"parallel = { ep = 2; };\n"
	"workload = { mode = \"training\"; seq_len = 333; micro_batch = 1; };\n";

/* Mixtral-8x7B (Jiang et al. 2024, Table 1; config.json) on one node of 8 H100s, EP 8. */
static const char mixtral_cfg[] =
	"model = { name = \"mixtral-8x7b\"; hidden = 4096; ffn_hidden = 14336; experts = 8; top_k = 2;\n"
	"  moe_layers = 32; heads = 32; kv_heads = 8; head_dim = 128; attention = \"gqa\"; vocab = 32000; };\n"
	"cluster = { gpu = \"h100-sxm\"; nodes = 1; gpus_per_node = 8; };\n"
	"parallel = { ep = 8; };\n"
	"training = { distributed_optimizer = true; };\n"
	"workload = { mode = \"training\"; seq_len = 4096; micro_batch = 1; };\n";

/* DeepSeek-V3 (DeepSeek-AI 2024, sec. 4.2; config.json), trained with PP 16 and EP 64. */
static const char dsv3_cfg[] =
	"model = { name = \"deepseek-v3\"; hidden = 7168; ffn_hidden = 2048; experts = 256; top_k = 8;\n"
	"  moe_layers = 58; dense_layers = 3; dense_ffn_hidden = 18432; shared_experts = 1; attention = \"mla\";\n"
	"  heads = 128; q_lora_rank = 1536; kv_lora_rank = 512; qk_nope_head_dim = 128; qk_rope_head_dim = 64;\n"
	"  v_head_dim = 128; vocab = 129280; mtp_layers = 1; };\n"
	"cluster = { gpu = \"h800\"; nodes = 256; gpus_per_node = 8; };\n"
	"parallel = { ep = 64; pp = 16; };\n"
	"workload = { mode = \"training\"; seq_len = 4096; micro_batch = 1; global_batch = 15360; };\n";

/* --- FLOPs and parameters ---------------------------------------------------------------- */

START_TEST(layer_pattern)
{
	scn_scenario s;
	moe_arch a;
	static const int want[] = {0, 0, 1, 0, 1};
	load(&s, gqa_cfg, NULL);
	arch(&a, &s);
	ck_assert_int_eq(a.layers, 5);
	for (int l = 0; l < 5; l++)
		ck_assert_msg(moe_arch_is_moe(&a, l) == want[l], "layer %d", l);
	/* moe_every 3 without leading dense layers: [d, d, M, d, d, M]. */
	{
		const char *set[] = {"model.dense_layers=0", "model.moe_every=3", NULL};
		static const int want3[] = {0, 0, 1, 0, 0, 1};
		load(&s, gqa_cfg, set);
		arch(&a, &s);
		ck_assert_int_eq(a.layers, 6);
		for (int l = 0; l < 6; l++)
			ck_assert_msg(moe_arch_is_moe(&a, l) == want3[l], "layer %d", l);
	}
	/* DeepSeek-V3: 3 dense, then 58 MoE. */
	load(&s, dsv3_cfg, NULL);
	arch(&a, &s);
	ck_assert_int_eq(a.layers, 61);
	for (int l = 0; l < 61; l++)
		ck_assert_int_eq(moe_arch_is_moe(&a, l), l >= 3);
}
END_TEST

START_TEST(hand_gqa)
{
	scn_scenario s;
	moe_arch a;
	load(&s, gqa_cfg, NULL);
	arch(&a, &s);
	/* Projections: Q 1000 x 960, K and V 1000 x 480 each, O 960 x 1000. */
	ck_eq(a.attn_params, 1000.0 * (960 + 2 * 480) + 960.0 * 1000); /* 2,880,000 */
	ck_eq(a.attn_proj_flops, 5760000);
	ck_eq(a.attn_core_flops_per_pos, 2.0 * 10 * (96 + 96)); /* 3840 */
	ck_eq(a.attn_tp_replicated_params, 0);
	ck_eq(a.router_flops, 12000);
	ck_eq(a.router_params, 6000);
	ck_eq(a.expert_flops, 6.0 * 1000 * 700);
	ck_eq(a.expert_params, 2100000);
	ck_eq(a.shared_flops, 2 * 6.0 * 1000 * 300); /* both shared experts: 3,600,000 */
	ck_eq(a.shared_params, 1800000);
	ck_eq(a.dense_ffn_flops, 9000000);
	ck_eq(a.dense_ffn_params, 4500000);
	ck_eq(a.head_flops, 2.0 * 1000 * 5003);
	ck_eq(a.embedding_params, 5003000);
	ck_eq(a.head_params, 5003000);
	ck_eq(a.mtp_proj_flops, 4000000);
	ck_eq(a.mtp_extra_params, 2000000 + 3000);
	ck_eq(a.kv_bytes, 2.0 * 5 * 96 * 2); /* 1920 */
	/* Layers: dense 2,880,000 + 2,000 norms + 4,500,000 = 7,382,000; MoE 2,882,000 + 6,000
	 * router + 6 x 2,100,000 + 1,800,000 = 17,288,000 (active: 2 experts, 8,888,000). */
	ck_eq(a.dense_layer_params, 7382000);
	ck_eq(a.moe_layer_params, 17288000);
	ck_eq(a.moe_layer_active_params, 8888000);
	ck_eq(moe_arch_layer_params(&a, 3), 7382000);
	ck_eq(moe_arch_layer_params(&a, 4), 17288000);
	/* 3 dense + 2 MoE + embedding + head + final norm. */
	ck_eq(a.total_params, 3 * 7382000.0 + 2 * 17288000.0 + 2 * 5003000.0 + 1000); /* 66,729,000 */
	ck_eq(a.active_params, 3 * 7382000.0 + 2 * 8888000.0 + 2 * 5003000.0 + 1000); /* 49,929,000 */
	ck_eq(a.mtp_total_params, 2003000.0 + 17288000);
	/* A MoE layer attending 100 positions: 5.76e6 + 384,000 + router 12,000 + 2 x 4.2e6 + 3.6e6. */
	ck_eq(moe_arch_layer_flops(&a, 2, 100), 18156000);
	ck_eq(moe_arch_layer_flops(&a, 1, 100), 5760000.0 + 384000 + 9000000);
	/* MFU count, training: 6 attention blocks (5 layers + MTP) attending 333/2 positions,
	 * 3 dense FFNs, 3 MoE FFNs (2 + MTP) of 2 experts and the shared ones, the MTP's 3 norms
	 * (6h) and projection, the head twice: forward
	 *   6 (5,760,000 + 3840 x 166.5) + 3 x 9e6 + 3 (8.4e6 + 3.6e6) + (6,000 + 4e6) + 2 x 10,006,000
	 *   = 38,396,160 + 27e6 + 36e6 + 4,006,000 + 20,012,000 = 125,414,160; x 3. */
	ck_eq(moe_arch_model_flops_per_token(&a, SCN_MODE_TRAINING), 3 * 125414160.0);
	/* Transcribed Megatron-LM (flops_oracle.py, awkward-gqa): the same. */
	ck_eq(moe_arch_model_flops_per_token(&a, SCN_MODE_TRAINING), 376242480.0);
	/* Prefill: forward, no MTP: 5 (5,760,000 + 639,360) + 27e6 + 24e6 + 10,006,000. */
	ck_eq(moe_arch_model_flops_per_token(&a, SCN_MODE_PREFILL), 5 * 6399360.0 + 27e6 + 24e6 + 10006000);
	/* Decode attends context_len (= seq_len 333 here) positions. */
	ck_eq(moe_arch_model_flops_per_token(&a, SCN_MODE_DECODE), 5 * (5760000.0 + 3840 * 333) + 27e6 + 24e6 + 10006000);
}
END_TEST

START_TEST(hand_mla)
{
	scn_scenario s;
	moe_arch a;
	load(&s, mla_cfg, NULL);
	arch(&a, &s);
	/* q: 1000 x 336 down + 336 x 10 (72 + 24) up = 336,000 + 322,560; kv: 1000 x (144 + 24)
	 * down + 144 x 10 (72 + 80) up = 168,000 + 218,880; o: 10 x 80 x 1000. */
	ck_eq(a.attn_proj_flops, 2.0 * (658560 + 386880 + 800000)); /* 3,690,880 */
	ck_eq(a.attn_params, 658560.0 + 386880 + 800000 + 336 + 144);
	ck_eq(a.attn_tp_replicated_params, 336000.0 + 336 + 168000 + 144);
	ck_eq(a.attn_core_flops_per_pos, 2.0 * 10 * (96 + 80));
	ck_eq(a.kv_bytes, (144 + 24) * 2.0);
	ck_assert_int_eq(a.qk_dim, 96);
	ck_assert_int_eq(a.v_dim, 80);
	/* Training: 7 attention blocks (5 + 2 MTP), each 3,690,880 + 2 (336 + 144) latent-norm
	 * FLOPs + 3520 x 166.5; 2 dense FFNs; 5 MoE FFNs of 2 x 4.2e6 + 1.8e6; 2 x (6,000 +
	 * 4e6); the head 3 times: 29,945,440 + 18e6 + 51e6 + 8,012,000 + 30,018,000. */
	ck_eq(moe_arch_model_flops_per_token(&a, SCN_MODE_TRAINING), 3 * 136975440.0);
	ck_eq(moe_arch_model_flops_per_token(&a, SCN_MODE_TRAINING), 410926320.0); /* flops_oracle.py */
	/* Without query compression: q is 1000 x 960 directly, no q norm. */
	{
		const char *set[] = {"model.q_lora_rank=0", NULL};
		load(&s, mla_cfg, set);
		arch(&a, &s);
		ck_eq(a.attn_proj_flops, 2.0 * (960000 + 386880 + 800000));
		ck_eq(a.attn_tp_replicated_params, 168000.0 + 144);
		ck_eq(moe_arch_model_flops_per_token(&a, SCN_MODE_TRAINING),
		      3 * (7 * (4293760.0 + 288 + 586080) + 18e6 + 51e6 + 8012000 + 30018000));
		ck_eq(moe_arch_model_flops_per_token(&a, SCN_MODE_TRAINING), 423572688.0); /* flops_oracle.py */
	}
}
END_TEST

START_TEST(megatron_and_published_counts)
{
	scn_scenario s;
	moe_arch a;
	load(&s, mixtral_cfg, NULL);
	arch(&a, &s);
	/* flops_oracle.py: mixtral-8x7b: seq 4096 training FLOPs per token = 79706456064;
	 * params total 46702792704 active 12879925248. */
	ck_eq(moe_arch_model_flops_per_token(&a, SCN_MODE_TRAINING), 79706456064.0);
	ck_eq(a.total_params, 46702792704.0);
	ck_eq(a.active_params, 12879925248.0);
	/* Mixtral paper (sec. 2): 46.7B total, 12.9B active. */
	ck_assert(fabs(a.total_params / 46.7e9 - 1) < 0.01);
	ck_assert(fabs(a.active_params / 12.9e9 - 1) < 0.01);

	load(&s, dsv3_cfg, NULL);
	arch(&a, &s);
	/* flops_oracle.py: deepseek-v3: seq 4096 training FLOPs per token = 259992950784. */
	ck_eq(moe_arch_model_flops_per_token(&a, SCN_MODE_TRAINING), 259992950784.0);
	/* flops_oracle.py: params total 682533690368 active 49059568640: Megatron's totals hold
	 * the MTP module's transformer layer (not its projection and norms) in both. */
	ck_eq(a.total_params + a.mtp_layers * a.moe_layer_params, 682533690368.0);
	ck_eq(a.active_params + a.mtp_layers * a.moe_layer_params, 49059568640.0);
	/* DeepSeek-V3 report: 671B total (main model; the Hugging Face card adds 14B of MTP module
	 * weights, its copies of the embedding and head included: 685B), 37B activated. Counted:
	 * 671.03B and 37.55B with the embedding and head (36.63B without the input embedding): the
	 * report's "37B" is rounded down, hence 1.5 % here. */
	ck_eq(a.total_params, 671026404352.0);
	ck_assert(fabs(a.total_params / 671e9 - 1) < 0.01);
	ck_assert(fabs(a.active_params / 37e9 - 1) < 0.015);
	ck_assert(fabs((a.total_params + a.mtp_total_params + 2 * a.embedding_params) / 685e9 - 1) < 0.01);
}
END_TEST

START_TEST(init_errors)
{
	scn_scenario s;
	moe_arch a;
	ms_error err;
	load(&s, gqa_cfg, NULL);
	s.model.layers = 7;
	ms_error_clear(&err);
	ck_assert_int_eq(moe_arch_init(&a, &s, &err), MS_EINVAL);
	ck_contains(err.msg, "model.layers = 7");
	load(&s, gqa_cfg, NULL);
	s.model.hidden = 0;
	ms_error_clear(&err);
	ck_assert_int_eq(moe_arch_init(&a, &s, &err), MS_EINVAL);
	ck_contains(err.msg, "model.hidden");
}
END_TEST

/* --- memory ------------------------------------------------------------------------------ */

/* 3 layers [dense, MoE, MoE], h 1000, 10 heads of 100 with 2 KV heads, 6 experts of 700 (top
 * 2), 1 shared of 300, dense FFN 1500, vocab 5000, 1 MTP module; 18 GPUs as tp 2 x pp 3 x
 * dp 3, ep 3 (2 experts per GPU), so the expert data-parallel size is 18 / (3 x 3) = 2 and the
 * dense one 3. Micro-batches of 2 sequences of 333 tokens: T = 666 / tp = 333 tokens per GPU;
 * global batch 30 = 5 micro-batches per DP rank. */
static const char small_cfg[] =
	"model = { hidden = 1000; ffn_hidden = 700; experts = 6; top_k = 2; moe_layers = 2; dense_layers = 1;\n"
	"  dense_ffn_hidden = 1500; shared_experts = 1; shared_ffn_hidden = 300; heads = 10; kv_heads = 2;\n"
	"  head_dim = 100; attention = \"gqa\"; vocab = 5000; mtp_layers = 1; dtype = \"bf16\"; };\n"
	"cluster = { nodes = 3; gpus_per_node = 6; gpu_memory_GiB = 0.25; reserved_memory_GiB = 0.125; };\n"
	"parallel = { tp = 2; pp = 3; ep = 3; };\n"
	"training = { distributed_optimizer = true; grad_fp32 = true; recompute = \"none\"; };\n"
	"workload = { mode = \"training\"; seq_len = 333; micro_batch = 2; global_batch = 30; };\n";

#define RESERVED (0.125 * 1073741824.0)

START_TEST(hand_memory)
{
	scn_scenario s;
	moe_arch a;
	moe_memory m;
	load(&s, small_cfg, NULL);
	arch(&a, &s);
	ck_assert_int_eq(s.parallel.dp, 3);
	ck_assert_int_eq(s.workload.tokens_per_rank, 333);
	ck_assert_int_eq(s.workload.microbatches, 5);
	estimate(&m, &s, &a);
	ck_assert_int_eq(m.nstages, 3);
	/* Parameters per GPU. Attention 1000 x (1000 + 2 x 200) + 1000 x 1000 = 2.4e6 / tp.
	 * Stage 0: layer 0 (dense) + embedding: 1.2e6 + 2,000 norms + 4.5e6 / 2 + 5e6 / 2. */
	ck_assert_int_eq(m.stage[0].layers, 1);
	ck_assert(m.stage[0].embedding && !m.stage[0].head);
	ck_eq(m.stage[0].dense_params, 1200000.0 + 2000 + 2250000 + 2500000); /* 5,952,000 */
	ck_eq(m.stage[0].expert_params, 0);
	/* Stage 1: layer 1 (MoE): 1.2e6 + 2,000 + router 6,000 (whole on every TP rank) + shared
	 * 900,000 / 2; experts 6 / ep 3 = 2 of 2.1e6. */
	ck_eq(m.stage[1].dense_params, 1658000);
	ck_eq(m.stage[1].expert_params, 4200000);
	/* Stage 2: layer 2 + final norm + head (5e6 / 2) + MTP: projection 2e6 / 2, 3 norms, one
	 * MoE layer. */
	ck_assert(m.stage[2].head && m.stage[2].mtp == 1);
	ck_eq(m.stage[2].dense_params, 1658000.0 + 1000 + 2500000 + 1000000 + 3000 + 1658000); /* 6,820,000 */
	ck_eq(m.stage[2].expert_params, 8400000);
	/* Bytes: bf16 weights, fp32 gradients, 12 B of optimizer per parameter over dp x cp = 3
	 * (dense) or edp = 2 (experts): Megatron's 6 + 12/d. */
	ck_eq(m.stage[0].weights, 2 * 5952000.0);
	ck_eq(m.stage[0].grads, 4 * 5952000.0);
	ck_eq(m.stage[0].optimizer, 12 * 5952000.0 / 3);
	ck_eq(m.stage[1].weights, 2 * 5858000.0);
	ck_eq(m.stage[1].grads, 4 * 5858000.0);
	ck_eq(m.stage[1].optimizer, 12 * 1658000.0 / 3 + 12 * 4200000.0 / 2); /* 31,832,000 */
	ck_eq(m.stage[2].weights, 2 * 15220000.0);
	ck_eq(m.stage[2].grads, 4 * 15220000.0);
	ck_eq(m.stage[2].optimizer, 12 * 6820000.0 / 3 + 12 * 8400000.0 / 2); /* 77,680,000 */

	/* Activations per token (moe_memory.c's tensor count), B = 2, Hkv' = 2 x ceil(2/2) = 2:
	 *   attention 2 (1000 + 1000 + 1000 [Q] + 2 x 200 [K, V] + 1000 [O]) + 4 x 10 = 8,840
	 *   dense FFN 2 (1000 + 1000 + 3 x 1500) = 13,000
	 *   MoE FFN   2 x 2000 + 4 x 6 + 2 (2 x 1000 + 2 x 2100 + 2 x 1000) + 2 x 900 = 22,224
	 * dense layer 21,840 and MoE layer 31,064 bytes per token, T = 333 tokens. */
	ck_eq(moe_memory_layer_activations(&s, &a, 0), 333 * 21840.0);
	ck_eq(moe_memory_layer_activations(&s, &a, 1), 333 * 31064.0);
	/* Stage 0 also keeps the int64 token ids of the sequence per TP rank (8 x 333 x 2) and holds
	 * min(pp - 0, 5) = 3 micro-batches; stage 1 two; stage 2 one, with the final norm and head
	 * inputs and fp32 logits (2 x 2 x 1000 + 4 x 5000) and the MTP module (5 x 2 x 1000 + one
	 * MoE layer + 4 x 5000). */
	ck_eq(m.stage[0].inflight, 3);
	ck_eq(m.stage[0].activations, 3 * (333 * 21840.0 + 333 * 16.0));
	ck_eq(m.stage[1].inflight, 2);
	ck_eq(m.stage[1].activations, 2 * 333 * 31064.0);
	ck_eq(m.stage[2].inflight, 1);
	ck_eq(m.stage[2].activations, 333 * (31064.0 + 24000) + 333 * (10000.0 + 31064 + 20000));
	/* Buffers (megatron dispatcher): T x k x h x (2 + 2) on the stages with MoE layers. */
	ck_eq(m.stage[0].buffers, 0);
	ck_eq(m.stage[1].buffers, 333 * 2 * 1000 * 4.0);
	ck_eq(m.stage[2].buffers, 333 * 2 * 1000 * 4.0);
	ck_eq(m.stage[1].reserved, RESERVED);
	ck_eq(m.stage[2].total, 30440000.0 + 60880000 + 77680000 + 38670624 + 2664000 + RESERVED);
	ck_assert_int_eq(m.peak, 2);
	ck_eq(m.peak_bytes, m.stage[2].total);
	ck_eq(m.capacity, 0.25 * 1073741824.0);
	ck_assert(!m.fits); /* 344.6 MB of 268.4 MB */
	moe_memory_free(&m);

	/* Selective recomputation drops the logsumexp (4 x 10 B per token per layer); full keeps
	 * each layer's input (2 x 1000 B per token) plus the largest layer of one micro-batch. */
	{
		const char *set[] = {"training.recompute=selective", NULL};
		load(&s, small_cfg, set);
		estimate(&m, &s, &a);
		ck_eq(m.stage[0].activations, 3 * (333 * 21800.0 + 333 * 16.0));
		ck_eq(m.stage[1].activations, 2 * 333 * 31024.0);
		moe_memory_free(&m);
	}
	{
		const char *set[] = {"training.recompute=full", NULL};
		load(&s, small_cfg, set);
		estimate(&m, &s, &a);
		ck_eq(m.stage[0].activations, 3 * (333 * 2000.0 + 333 * 16.0) + 333 * 21840.0);
		ck_eq(m.stage[1].activations, 2 * 333 * 2000.0 + 333 * 31064.0);
		ck_eq(m.stage[2].activations, 333 * (2000.0 + 24000 + 30000 + 2000) + 333 * 31064.0);
		moe_memory_free(&m);
	}
	/* Without the distributed optimizer every GPU holds all 12 B; fp16 gradients add an
	 * fp32 copy in the optimizer (Megatron's 4 + 16/d row). */
	{
		const char *set[] = {"training.distributed_optimizer=false", NULL};
		load(&s, small_cfg, set);
		estimate(&m, &s, &a);
		ck_eq(m.stage[1].optimizer, 12 * 5858000.0);
		moe_memory_free(&m);
	}
	{
		const char *set[] = {"training.grad_fp32=false", NULL};
		load(&s, small_cfg, set);
		estimate(&m, &s, &a);
		ck_eq(m.stage[1].grads, 2 * 5858000.0);
		ck_eq(m.stage[1].optimizer, 16 * 1658000.0 / 3 + 16 * 4200000.0 / 2);
		moe_memory_free(&m);
	}
	/* Expert TP 2: each of the 2 local experts split in two, edp = 18 / (3 x 2 x 3) = 1; its
	 * rows gathered over the ETP group (2 x k x T rows of h in, k x T x 3f / 2 x 2 out). */
	{
		const char *set[] = {"parallel.etp=2", NULL};
		load(&s, small_cfg, set);
		estimate(&m, &s, &a);
		ck_eq(m.stage[1].expert_params, 2100000);
		ck_eq(m.stage[1].optimizer, 12 * 1658000.0 / 3 + 12 * 2100000.0);
		ck_eq(moe_memory_layer_activations(&s, &a, 1), 333 * (31064.0 + 2 * 2 * 1000));
		moe_memory_free(&m);
	}
	/* 0.5 GiB holds it. */
	{
		const char *set[] = {"cluster.gpu_memory_GiB=0.5", NULL};
		load(&s, small_cfg, set);
		estimate(&m, &s, &a);
		ck_assert(m.fits);
		moe_memory_free(&m);
	}
}
END_TEST

/* Interleaved 1F1B: 8 MoE layers, pp 2 x vpp 2 (chunks of 2 layers), 8 micro-batches. Rank 0
 * warms up 2 (2 - 0 - 1) + (2 - 1) x 2 = 4 chunk-micro-batches and holds 5: chunks 0, 0, 1, 1,
 * 0 (the i-th of chunk (i / pp) mod vpp); rank 1 holds 3: chunks 0, 0, 1. Rank 0's 5 chunks of
 * 2 layers are 10 layers' worth: L (1 + (pp - 1) / (pp vpp)) = 8 x 1.25, Megatron's penalty. */
START_TEST(interleaved_inflight)
{
	scn_scenario s;
	moe_arch a;
	moe_memory m;
	const char *set[] = {"model.moe_layers=8", "model.dense_layers=0", "model.mtp_layers=0", "parallel.pp=2",
			     "parallel.vpp=2", "parallel.tp=1", "parallel.ep=2", "cluster.nodes=1", "cluster.gpus_per_node=4",
			     "workload.global_batch=32", NULL};
	load(&s, small_cfg, set);
	arch(&a, &s);
	ck_assert_int_eq(s.workload.microbatches, 8);
	estimate(&m, &s, &a);
	double X = moe_memory_layer_activations(&s, &a, 0), T = (double)s.workload.tokens_per_rank;
	double ids = T * 8.0, head = T * (2 * 2 * 1000.0 + 4 * 5000);
	ck_eq(m.stage[0].layers, 4);
	ck_eq(m.stage[0].inflight, 5);
	ck_eq(m.stage[0].activations, 3 * (2 * X + ids) + 2 * (2 * X));
	ck_eq(m.stage[1].inflight, 3);
	ck_eq(m.stage[1].activations, 2 * (2 * X) + (2 * X + head));
	moe_memory_free(&m);
}
END_TEST

/* Inference holds weights (no MTP), the KV cache of every sequence of the DP replica and one
 * layer's working set. Decode, micro_batch 4, context 1000 positions, tp 2: GQA's 2 KV heads
 * are 1 per GPU: 4 x 1000 x 2 x 1 x 100 x 2 B per layer; MLA's latent is not split by tp. */
START_TEST(inference_kv_cache)
{
	scn_scenario s;
	moe_arch a;
	moe_memory m;
	const char *set[] = {"workload.mode=decode", "workload.micro_batch=4", "workload.global_batch=12",
			     "workload.context_len=1000", NULL};
	load(&s, small_cfg, set);
	arch(&a, &s);
	ck_assert_int_eq(s.workload.tokens_per_rank, 2);
	estimate(&m, &s, &a);
	for (int r = 0; r < 3; r++) {
		ck_eq(m.stage[r].grads, 0);
		ck_eq(m.stage[r].optimizer, 0);
		ck_eq(m.stage[r].kv_cache, 4 * 1000 * 2 * 1 * 100 * 2.0);
	}
	ck_assert_int_eq(m.stage[2].mtp, 0);
	ck_eq(m.stage[2].dense_params, 1658000.0 + 1000 + 2500000);
	ck_eq(m.stage[2].weights, 2 * (4159000.0 + 4200000));
	/* Working set: the MoE layer of 2 tokens, and fp32 logits of 4 sequences x 5000 / 2. */
	ck_eq(m.stage[2].activations, 2 * 31064.0 + 4 * 2500 * 4.0);
	moe_memory_free(&m);
	{
		const char *mla[] = {"workload.mode=decode", "workload.micro_batch=4", "workload.global_batch=12",
				     "workload.context_len=1000", "model.attention=mla", "model.q_lora_rank=336",
				     "model.kv_lora_rank=144", "model.qk_nope_head_dim=72", "model.qk_rope_head_dim=24",
				     "model.v_head_dim=80", "model.kv_heads=0", NULL};
		load(&s, small_cfg, mla);
		arch(&a, &s);
		estimate(&m, &s, &a);
		ck_eq(m.stage[1].kv_cache, 4 * 1000 * (144 + 24) * 2.0);
		/* MLA's down projections and latent norms stay whole on both TP ranks. */
		ck_eq(m.stage[1].dense_params,
		      (a.attn_params - 504480) / 2 + 504480 + 2000 + 6000 + 450000);
		moe_memory_free(&m);
	}
}
END_TEST

/* DeepEP's buffers, by its own sizing (deepseek-ai/DeepEP csrc/legacy/config.hpp), h = 1000:
 *  low latency, T = 333, 6 experts: dispatch message 16 + max(2000, 1000 + 7 x 4) = 2016,
 *  combine 7 x 4 + 2000 = 2028; send max(333 x 2016, 6 x 333 x 2028) = 4,051,944, receive
 *  max(6 x 333 x 2016, 4,051,944) = 4,051,944, signal 128; 2 (send + receive + signal) =
 *  16,208,032, rounded as get_low_latency_rdma_size_hint does: 16,208,128.
 *  normal, 3 ranks (the 4-rank config: 256 NVLink receive tokens, 10 channels, no RDMA):
 *  10 x 3 x (2 + 3) x 4 + 10 x 3 x 256 x (2000 + 8 + 128 x 8 + 128 x 4 + 128 x 4) =
 *  31,150,680, rounded up to 128: 31,150,720. */
START_TEST(deepep_buffers)
{
	scn_scenario s;
	moe_arch a;
	moe_memory m;
	{
		const char *set[] = {"network.dispatcher=deepep_ll", NULL};
		load(&s, small_cfg, set);
		arch(&a, &s);
		estimate(&m, &s, &a);
		ck_eq(m.stage[1].buffers, 16208128);
		moe_memory_free(&m);
	}
	{
		const char *set[] = {"network.dispatcher=deepep", NULL};
		load(&s, small_cfg, set);
		estimate(&m, &s, &a);
		ck_eq(m.stage[1].buffers, 31150720);
		ck_eq(m.stage[0].buffers, 0);
		moe_memory_free(&m);
	}
}
END_TEST

START_TEST(mixtral_on_h100)
{
	scn_scenario s;
	moe_arch a;
	moe_memory m;
	char buf[4096];
	load(&s, mixtral_cfg, NULL);
	arch(&a, &s);
	estimate(&m, &s, &a);
	/* 8 GPUs, EP 8, no PP: 1.61B dense + 5.64B expert parameters per GPU; weights, gradients
	 * and optimizer as Megatron's theoretical_memory_usage.py counts them (flops_oracle.py:
	 * "weight+grad+optimizer bytes per GPU = 113510873088": the experts' optimizer is not
	 * sharded, edp = 8 / 8 = 1), plus 34.4 GB of activations: 148 GB > 80 GiB. */
	ck_assert_int_eq(m.nstages, 1);
	ck_eq(m.stage[0].weights + m.stage[0].grads + m.stage[0].optimizer, 113510873088.0);
	ck_assert(!m.fits);
	ck_assert(m.peak_bytes > 110e9);
	ck_eq(m.capacity, 80.0 * 1073741824.0);
	ck_assert_int_eq(moe_memory_advice(&s, &m, buf, sizeof buf), 0);
	ck_contains(buf, "does not fit");
	ck_contains(buf, "weights 14.5, gradients 29.0, optimizer 70.1");
	ck_contains(buf, "training.recompute = \"full\": peak");
	ck_contains(buf, "parallel.pp");
	moe_memory_free(&m);

	/* 16 GPUs, PP 2: 90.7 GB, still too much; the advice finds that full recomputation fits. */
	{
		const char *set[] = {"cluster.nodes=2", "parallel.pp=2", "workload.global_batch=64", NULL};
		load(&s, mixtral_cfg, set);
		estimate(&m, &s, &a);
		ck_assert(!m.fits);
		ck_assert_int_eq(moe_memory_advice(&s, &m, buf, sizeof buf), 0);
		ck_contains(buf, "training.recompute = \"full\": peak 59.1 GB, fits");
		ck_contains(buf, "parallel.pp x 2");
		moe_memory_free(&m);
	}
	/* ... which is a layout that fits on 16 GPUs. */
	{
		const char *set[] = {"cluster.nodes=2", "parallel.pp=2", "workload.global_batch=64",
				     "training.recompute=full", NULL};
		load(&s, mixtral_cfg, set);
		estimate(&m, &s, &a);
		ck_assert(m.fits);
		ck_assert(m.peak_bytes < 60e9);
		ck_assert_int_eq(moe_memory_advice(&s, &m, buf, sizeof buf), 1);
		ck_contains(buf, "fits");
		moe_memory_free(&m);
	}
	/* 32 GPUs, PP 4 x EP 8 fits without recomputation: stage 0 holds 8 layers and the
	 * embedding, 4 micro-batches in flight (62.8 GB); its weights, gradients and optimizer are
	 * Megatron's most loaded shard (flops_oracle.py: 28869238272) less the final norm's
	 * quarter Megatron spreads over the stages (1024 x (6 + 12 / 8) B). */
	{
		const char *set[] = {"cluster.nodes=4", "parallel.pp=4", "workload.global_batch=64", NULL};
		load(&s, mixtral_cfg, set);
		estimate(&m, &s, &a);
		ck_assert(m.fits);
		ck_assert_int_eq(m.peak, 0);
		ck_eq(m.stage[0].inflight, 4);
		ck_eq(m.stage[0].weights + m.stage[0].grads + m.stage[0].optimizer, 28869238272.0 - 1024 * 7.5);
		ck_assert(m.peak_bytes > 60e9 && m.peak_bytes < 65e9);
		moe_memory_free(&m);
	}
}
END_TEST

START_TEST(memory_errors)
{
	scn_scenario s;
	moe_arch a;
	moe_memory m;
	ms_error err;
	load(&s, small_cfg, NULL);
	arch(&a, &s);
	s.parallel.etp = 4; /* 3 x 4 does not divide the 6 GPUs of a stage */
	ms_error_clear(&err);
	ck_assert_int_eq(moe_memory_estimate(&s, &a, &m, &err), MS_EINVAL);
	ck_contains(err.msg, "ep x etp = 3 x 4");
	ck_assert_ptr_null(m.stage);
	{
		scn_overrides ov = {2, {"cluster.gpu=nonesuch", "cluster.gpu_memory_GiB=0"}};
		ms_error_clear(&err);
		if (scn_scenario_load_text(&s, small_cfg, "check_arch", &ov, &err) == MS_OK) {
			ck_assert_int_eq(moe_memory_estimate(&s, &a, &m, &err), MS_EINVAL);
			ck_contains(err.msg, "nonesuch");
		}
	}
}
END_TEST

Suite *arch_suite(void)
{
	Suite *s = suite_create("arch");
	TCase *tc = tcase_create("flops_params");
	tcase_add_test(tc, layer_pattern);
	tcase_add_test(tc, hand_gqa);
	tcase_add_test(tc, hand_mla);
	tcase_add_test(tc, megatron_and_published_counts);
	tcase_add_test(tc, init_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("memory");
	tcase_add_test(tc, hand_memory);
	tcase_add_test(tc, interleaved_inflight);
	tcase_add_test(tc, inference_kv_cache);
	tcase_add_test(tc, deepep_buffers);
	tcase_add_test(tc, mixtral_on_h100);
	tcase_add_test(tc, memory_errors);
	suite_add_tcase(s, tc);
	return s;
}
