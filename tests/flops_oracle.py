#!/usr/bin/python3
"""flops_oracle.py - Megatron-LM's own counts, transcribed, as oracles for tests/check_arch.c.

Two functions of NVIDIA/Megatron-LM at commit d98e8a64ddf34856e74b24714e3bedb2f5a39553
(2026-08-22), copied with only the branches moesim's models take (no hybrid/Mamba, no
linear attention, no latent MoE, no attention output gate):

  - megatron/training/training.py, num_floating_point_operations -> transformer_flops:
    the FLOPs of one global batch that Megatron's MFU/TFLOPs report counts;
  - megatron/training/theoretical_memory_usage.py, compute_weight_and_optimizer_memory:
    parameter counts and the weight + gradient + optimizer bytes of the most loaded shard.

The shapes: Mixtral-8x7B (Jiang et al. 2024, "Mixtral of Experts", Table 1 and the
released config.json: 32 layers, d_model 4096, 32 heads of 128 with 8 KV heads, 8 experts of
14336 with top-2, vocabulary 32000), DeepSeek-V3 (DeepSeek-AI 2024, technical report
sec. 4.2 and config.json: 61 layers of which 3 dense of 18432, d_model 7168, MLA with 128
heads, q_lora 1536, kv_lora 512, nope 128, rope 64, v 128, 256 routed experts of 2048 with
top-8, 1 shared expert of 2048, vocabulary 129280, 1 MTP module), and the two awkward
hand shapes of tests/check_arch.c.

Run:  /usr/bin/python3 tests/flops_oracle.py
The numbers it prints are hard-coded in tests/check_arch.c (each block names this command).
"""
from types import SimpleNamespace


def transformer_flops(args, batch_size):
    """training.py num_floating_point_operations, transformer_flops(), BSHD defaults."""
    seqlen_squared_sum_in_batch = batch_size * args.seq_length * args.seq_length
    total_real_tokens_in_batch = batch_size * args.seq_length

    if not args.group_query_attention:
        args.num_query_groups = args.num_attention_heads
    if args.num_experts is None:
        num_dense_layers = args.num_layers
        num_moe_layers = 0
        num_experts_routed_to = 0
        last_layer_is_moe = 0
    else:
        if isinstance(args.moe_layer_freq, int):
            moe_layer_pattern = [1 if (i % args.moe_layer_freq == 0) else 0 for i in range(args.num_layers)]
        elif isinstance(args.moe_layer_freq, list):
            moe_layer_pattern = args.moe_layer_freq
        else:
            raise RuntimeError("Illegal --moe-layer-freq argument provided!")
        assert len(moe_layer_pattern) == args.num_layers
        num_moe_layers = sum(moe_layer_pattern)
        num_dense_layers = args.num_layers - num_moe_layers
        num_experts_routed_to = args.moe_router_topk
        last_layer_is_moe = moe_layer_pattern[-1]

    if args.mtp_num_layers is not None:
        mtp_num_layers = args.mtp_num_layers
        num_moe_layers += last_layer_is_moe * mtp_num_layers
        num_dense_layers += (1 - last_layer_is_moe) * mtp_num_layers
        num_layers = args.num_layers + mtp_num_layers
    else:
        mtp_num_layers = 0
        num_layers = args.num_layers

    moe_ffn_hidden_size = args.moe_ffn_hidden_size if args.moe_ffn_hidden_size is not None else args.ffn_hidden_size
    shared_expert_ffn_hidden_size = (
        0 if args.moe_shared_expert_intermediate_size is None else args.moe_shared_expert_intermediate_size
    )
    forward_backward_expansion_factor = 3
    fma_expansion_factor = 2
    ffn_expansion_factor = 3 if args.swiglu else 2

    if args.multi_latent_attention:
        assert not args.group_query_attention
        if args.q_lora_rank is None:
            q_term = args.hidden_size * args.num_attention_heads * (args.qk_head_dim + args.qk_pos_emb_head_dim)
        else:
            q_term = args.q_lora_rank * (
                args.hidden_size + args.num_attention_heads * (args.qk_head_dim + args.qk_pos_emb_head_dim) + 1
            )
        standard_self_attn_term = (
            forward_backward_expansion_factor
            * fma_expansion_factor
            * (
                q_term
                + args.kv_lora_rank * (args.hidden_size + args.num_attention_heads * (args.qk_head_dim + args.v_head_dim) + 1)
                + args.hidden_size * args.qk_pos_emb_head_dim
                + (args.num_attention_heads * args.v_head_dim) * args.hidden_size
            )
        )
        standard_self_attn_core_term = (
            forward_backward_expansion_factor
            * fma_expansion_factor
            * (
                args.num_attention_heads * (args.qk_head_dim + args.qk_pos_emb_head_dim) / 2
                + args.num_attention_heads * args.v_head_dim / 2
            )
        )
    else:
        query_projection_size = args.kv_channels * args.num_attention_heads
        key_projection_size = args.kv_channels * args.num_query_groups
        value_projection_size = args.kv_channels * args.num_query_groups
        standard_self_attn_term = (
            forward_backward_expansion_factor
            * fma_expansion_factor
            * (
                args.hidden_size * (query_projection_size + key_projection_size + value_projection_size)
                + query_projection_size * args.hidden_size
            )
        )
        standard_self_attn_core_term = (
            forward_backward_expansion_factor * fma_expansion_factor * query_projection_size / 2 * 2
        )

    num_standard_attention_layers = num_layers
    self_attn_term = standard_self_attn_term * num_standard_attention_layers
    self_attn_core_term = standard_self_attn_core_term * num_standard_attention_layers

    total_floating_point_operations = (
        total_real_tokens_in_batch
        * (
            forward_backward_expansion_factor
            * fma_expansion_factor
            * args.hidden_size
            * (
                (args.ffn_hidden_size * ffn_expansion_factor) * num_dense_layers
                + (moe_ffn_hidden_size * num_experts_routed_to * ffn_expansion_factor) * num_moe_layers
                + (shared_expert_ffn_hidden_size * ffn_expansion_factor) * num_moe_layers
            )
            + self_attn_term
            + forward_backward_expansion_factor
            * fma_expansion_factor
            * mtp_num_layers
            * (3 * args.hidden_size + 2 * args.hidden_size * args.hidden_size)
            + forward_backward_expansion_factor
            * fma_expansion_factor
            * args.hidden_size
            * args.padded_vocab_size
            * (mtp_num_layers + 1)
        )
        + seqlen_squared_sum_in_batch * self_attn_core_term
    )
    return total_floating_point_operations


def weight_and_optimizer(args):
    """theoretical_memory_usage.py compute_weight_and_optimizer_memory (no latent MoE)."""
    query_projection_size = args.kv_channels * args.num_attention_heads
    query_projection_to_hidden_size_ratio = query_projection_size / args.hidden_size
    if not args.group_query_attention:
        args.num_query_groups = args.num_attention_heads
    num_experts = 1 if args.num_experts is None else args.num_experts
    gated_linear_multiplier = 3 / 2 if args.swiglu else 1
    shared_expert_ffn_hidden_size = (
        0 if args.moe_shared_expert_intermediate_size is None else args.moe_shared_expert_intermediate_size
    )
    moe_layer_pattern = args.moe_layer_freq
    num_dense_layers = args.num_layers - sum(moe_layer_pattern)
    num_moe_layers = sum(moe_layer_pattern)
    moe_ffn_hidden_size = args.moe_ffn_hidden_size
    if args.mtp_num_layers is not None:
        mtp_layer_is_moe = moe_layer_pattern[-1]
        mtp_num_moe_layers = mtp_layer_is_moe * args.mtp_num_layers
        mtp_num_dense_layers = (1 - mtp_layer_is_moe) * args.mtp_num_layers
    else:
        mtp_num_moe_layers = 0
        mtp_num_dense_layers = 0
    norm_size = 1 if args.normalization == "RMSNorm" else 2
    if args.multi_latent_attention:
        if args.q_lora_rank is None:
            q_term = args.hidden_size * args.num_attention_heads * (args.qk_head_dim + args.qk_pos_emb_head_dim)
        else:
            q_term = args.q_lora_rank * (
                args.hidden_size + args.num_attention_heads * (args.qk_head_dim + args.qk_pos_emb_head_dim) + norm_size
            )
        self_attn_term = (
            q_term
            + args.kv_lora_rank * (args.hidden_size + args.num_attention_heads * (args.qk_head_dim + args.v_head_dim) + norm_size)
            + args.hidden_size * args.qk_pos_emb_head_dim
            + (args.num_attention_heads * args.v_head_dim) * args.hidden_size
        )
    else:
        self_attn_term = (
            2 * args.hidden_size * args.hidden_size
            * ((1 + (args.num_query_groups / args.num_attention_heads)) * query_projection_to_hidden_size_ratio)
        )
    embedding_size = args.hidden_size * args.padded_vocab_size
    final_layernorm = norm_size * args.hidden_size
    num_parameters_in_embedding_layers = 2 * embedding_size if args.untie_embeddings_and_output_weights else embedding_size
    attention_params = self_attn_term
    dense_mlp_params = 2 * args.hidden_size * args.ffn_hidden_size * gated_linear_multiplier
    shared_expert_params = 2 * args.hidden_size * shared_expert_ffn_hidden_size * gated_linear_multiplier
    routed_expert_params = 2 * args.hidden_size * moe_ffn_hidden_size * num_experts * gated_linear_multiplier
    active_routed_expert_params = 2 * args.hidden_size * moe_ffn_hidden_size * args.moe_router_topk * gated_linear_multiplier
    layernorm_params = 2 * args.hidden_size * norm_size
    router_params = args.hidden_size * num_experts
    layer_dense = attention_params + dense_mlp_params + layernorm_params
    layer_moe = attention_params + shared_expert_params + routed_expert_params + layernorm_params + router_params
    layer_moe_active = attention_params + shared_expert_params + active_routed_expert_params + layernorm_params + router_params
    block = layer_dense * num_dense_layers + layer_moe * num_moe_layers + final_layernorm
    block_active = layer_dense * num_dense_layers + layer_moe_active * num_moe_layers + final_layernorm
    mtp_block = layer_dense * mtp_num_dense_layers + layer_moe * mtp_num_moe_layers
    total = block + mtp_block + num_parameters_in_embedding_layers
    active = block_active + mtp_block + num_parameters_in_embedding_layers

    etp, ep, pp = args.expert_tensor_parallel_size, args.expert_model_parallel_size, args.pipeline_model_parallel_size
    expert_data_parallel_size = args.world_size // (etp * ep * pp)
    tp_sharded_block = (attention_params + dense_mlp_params) * num_dense_layers + (
        attention_params + shared_expert_params) * num_moe_layers
    replicated_block = layernorm_params * num_dense_layers + (layernorm_params + router_params) * num_moe_layers + final_layernorm
    expert_sharded_block = routed_expert_params * num_moe_layers
    tp_sharded_mtp = (attention_params + dense_mlp_params) * mtp_num_dense_layers + (
        attention_params + shared_expert_params) * mtp_num_moe_layers
    replicated_mtp = layernorm_params * mtp_num_dense_layers + (layernorm_params + router_params) * mtp_num_moe_layers
    expert_sharded_mtp = routed_expert_params * mtp_num_moe_layers
    tp_most = (tp_sharded_block / pp + tp_sharded_mtp + embedding_size) / args.tensor_model_parallel_size
    rep_most = replicated_block / pp + replicated_mtp
    exp_most = (expert_sharded_block / pp + expert_sharded_mtp) / (etp * ep)
    if args.untie_embeddings_and_output_weights and pp == 1:
        tp_most += embedding_size / args.tensor_model_parallel_size

    def num_bytes_per_parameter(data_parallel_size):
        return 18 if not args.use_distributed_optimizer else 6 + (12 / data_parallel_size)

    mem = (tp_most + rep_most) * num_bytes_per_parameter(args.data_parallel_size) + exp_most * num_bytes_per_parameter(
        expert_data_parallel_size)
    return total, active, mem


def common(**kw):
    a = SimpleNamespace(
        swiglu=True, normalization="RMSNorm", untie_embeddings_and_output_weights=True,
        moe_shared_expert_intermediate_size=None, mtp_num_layers=None, multi_latent_attention=False,
        group_query_attention=True, q_lora_rank=None, use_distributed_optimizer=True,
        tensor_model_parallel_size=1, pipeline_model_parallel_size=1, expert_tensor_parallel_size=1,
    )
    for k, v in kw.items():
        setattr(a, k, v)
    return a


def mixtral(world=8, ep=8, dp=8):
    return common(
        num_layers=32, hidden_size=4096, ffn_hidden_size=14336, moe_ffn_hidden_size=14336, num_experts=8,
        moe_router_topk=2, moe_layer_freq=[1] * 32, num_attention_heads=32, num_query_groups=8, kv_channels=128,
        padded_vocab_size=32000, seq_length=4096, world_size=world, expert_model_parallel_size=ep,
        data_parallel_size=dp)


def deepseek_v3():
    return common(
        num_layers=61, hidden_size=7168, ffn_hidden_size=18432, moe_ffn_hidden_size=2048, num_experts=256,
        moe_router_topk=8, moe_layer_freq=[0] * 3 + [1] * 58, moe_shared_expert_intermediate_size=2048,
        multi_latent_attention=True, group_query_attention=False, num_attention_heads=128, kv_channels=128,
        q_lora_rank=1536, kv_lora_rank=512, qk_head_dim=128, qk_pos_emb_head_dim=64, v_head_dim=128,
        padded_vocab_size=129280, mtp_num_layers=1, seq_length=4096, world_size=2048,
        expert_model_parallel_size=64, data_parallel_size=2048)


def awkward_gqa():
    # tests/check_arch.c hand_gqa: layers [dense, dense, moe, dense, moe] (dense_layers 1, moe_every 2)
    return common(
        num_layers=5, hidden_size=1000, ffn_hidden_size=1500, moe_ffn_hidden_size=700, num_experts=6,
        moe_router_topk=2, moe_layer_freq=[0, 0, 1, 0, 1], moe_shared_expert_intermediate_size=2 * 300,
        num_attention_heads=10, num_query_groups=5, kv_channels=96, padded_vocab_size=5003, mtp_num_layers=1,
        seq_length=333, world_size=1, expert_model_parallel_size=1, data_parallel_size=1)


def awkward_mla(q_lora):
    # tests/check_arch.c hand_mla: 2 dense + 3 MoE layers
    return common(
        num_layers=5, hidden_size=1000, ffn_hidden_size=1500, moe_ffn_hidden_size=700, num_experts=6,
        moe_router_topk=2, moe_layer_freq=[0, 0, 1, 1, 1], moe_shared_expert_intermediate_size=300,
        multi_latent_attention=True, group_query_attention=False, num_attention_heads=10, kv_channels=96,
        q_lora_rank=q_lora, kv_lora_rank=144, qk_head_dim=72, qk_pos_emb_head_dim=24, v_head_dim=80,
        padded_vocab_size=5003, mtp_num_layers=2, seq_length=333, world_size=1,
        expert_model_parallel_size=1, data_parallel_size=1)


if __name__ == "__main__":
    for name, a in [("mixtral-8x7b", mixtral()), ("deepseek-v3", deepseek_v3()), ("awkward-gqa", awkward_gqa()),
                    ("awkward-mla-q336", awkward_mla(336)), ("awkward-mla-q0", awkward_mla(None))]:
        per_token = transformer_flops(a, 1) / a.seq_length
        print(f"{name}: seq {a.seq_length} training FLOPs per token = {per_token:.17g}")
    for name, a in [("mixtral-8x7b", mixtral()), ("deepseek-v3", deepseek_v3())]:
        total, active, _ = weight_and_optimizer(a)
        print(f"{name}: params total {total:.0f} active {active:.0f} (Megatron: MTP in both, embedding and head in active)")
    _, _, mem = weight_and_optimizer(mixtral())
    print(f"mixtral-8x7b on 8 GPUs, EP 8, dp 8, distributed optimizer: weight+grad+optimizer bytes per GPU = {mem:.0f}")
    _, _, mem = weight_and_optimizer(mixtral(world=32, ep=8, dp=8))
    a = mixtral(world=32, ep=8, dp=8)
    a.pipeline_model_parallel_size = 4
    _, _, mem = weight_and_optimizer(a)
    print(f"mixtral-8x7b on 32 GPUs, PP 4, EP 8, dp 8, distributed optimizer: most loaded shard bytes = {mem:.0f}")
