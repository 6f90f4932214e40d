"""Adapters on tiny randomly initialised Hugging Face MoE models.

Skipped when transformers is not importable (it is not a Debian package).
Oracle: the router input captured by an independent hook; logits recomputed
in float64 from the gate weight; expected top-k = the model's own selection
(softmax top-k for Mixtral/Qwen/OLMoE, the gate's returned indices for
DeepSeek-V3), scores = softmax / sigmoid of the logits.
"""

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import moesim_record as mr  # noqa: E402

COMMON = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)


def _cfg(cls_name, **kw):
    cls = getattr(transformers, cls_name, None)
    if cls is None:
        pytest.skip(f"{cls_name} not in transformers {transformers.__version__}")
    c = cls(**{**COMMON, **kw})
    c._attn_implementation = "eager"
    return c


def build(arch):
    if arch == "mixtral":
        cfg = _cfg("MixtralConfig", num_local_experts=8, num_experts_per_tok=2)
        mcls = "MixtralForCausalLM"
    elif arch == "qwen2_moe":
        cfg = _cfg("Qwen2MoeConfig", num_experts=8, num_experts_per_tok=2, moe_intermediate_size=16,
                   shared_expert_intermediate_size=24, norm_topk_prob=False, decoder_sparse_step=1,
                   mlp_only_layers=[])
        mcls = "Qwen2MoeForCausalLM"
    elif arch == "qwen3_moe":
        cfg = _cfg("Qwen3MoeConfig", num_experts=8, num_experts_per_tok=2, moe_intermediate_size=16,
                   norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[], head_dim=8)
        mcls = "Qwen3MoeForCausalLM"
    elif arch == "olmoe":
        cfg = _cfg("OlmoeConfig", num_experts=8, num_experts_per_tok=2)
        mcls = "OlmoeForCausalLM"
    elif arch == "deepseek_v3":
        cfg = _cfg("DeepseekV3Config", num_hidden_layers=3, num_key_value_heads=4, n_routed_experts=16, num_experts_per_tok=4,
                   n_group=4, topk_group=2, n_shared_experts=1, moe_intermediate_size=16,
                   first_k_dense_replace=1, q_lora_rank=16, kv_lora_rank=16, qk_rope_head_dim=4,
                   qk_nope_head_dim=4, v_head_dim=8, routed_scaling_factor=2.5, norm_topk_prob=True,
                   rope_scaling=None)
        mcls = "DeepseekV3ForCausalLM"
    else:
        raise ValueError(arch)
    cls = getattr(transformers, mcls, None)
    if cls is None:
        pytest.skip(f"{mcls} not in transformers {transformers.__version__}")
    torch.manual_seed(0)
    model = cls(cfg).eval()
    # random-init gates may be zeros (5.x inits router weights to 0): make them informative
    g = torch.Generator().manual_seed(1)
    for gi in mr.find_hf_moe_gates(model):
        with torch.no_grad():
            gi.gate.weight.copy_(torch.randn(gi.gate.weight.shape, generator=g))
            if hasattr(gi.gate, "e_score_correction_bias"):
                # positive (so 4.x's 0.0 masking and 5.x's -inf agree) and large enough to matter
                gi.gate.e_score_correction_bias.copy_(torch.rand(gi.num_experts, generator=g) * 0.4)
    return model


EXPECT = {  # arch: (MoE layers, E, top_k, score_kind)
    "mixtral": (2, 8, 2, "softmax"),
    "qwen2_moe": (2, 8, 2, "softmax"),
    "qwen3_moe": (2, 8, 2, "softmax"),
    "olmoe": (2, 8, 2, "softmax"),
    "deepseek_v3": (2, 16, 4, "sigmoid"),
}


@pytest.mark.parametrize("arch", sorted(EXPECT))
def test_adapter(arch, tmp_path):
    model = build(arch)
    L, E, top_k, kind = EXPECT[arch]
    gates = mr.find_hf_moe_gates(model)
    assert len(gates) == L
    # oracle capture: gate inputs and outputs, via our own hooks
    cap = {i: [] for i in range(L)}
    hs = [g.gate.register_forward_hook(lambda m, i, o, k=k: cap[k].append((i[0].detach().clone(), o)))
          for k, g in enumerate(gates)]
    depth = 6 if arch == "deepseek_v3" else 8
    path = tmp_path / f"{arch}.h5"
    w, rec = mr.record_hf(model, str(path), depth=depth, domain_names=["a", "b"])
    B, S = 2, 5
    torch.manual_seed(2)
    with torch.no_grad():
        for step in range(2):
            x = torch.randint(0, 64, (B, S))
            with w.batch(**mr.token_meta(step, [2 * step, 2 * step + 1], S, domain=[0, 1])):
                model(input_ids=x)
    rec.remove()
    for h in hs:
        h.remove()
    assert w.forced_mismatch == 0
    w.close()
    assert mr.validate(str(path)) == []
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert (a["num_layers"], a["num_experts"], a["depth"], a["num_tokens"]) == (L, E, depth, 2 * B * S)
        assert a["score_kind"].decode() == kind and a["top_k"] == top_k
        assert "transformers" in a["source"].decode()
        ids = f["routing/expert_ids"][:].astype(np.int64)
        sc = f["routing/scores"][:]
        if arch == "deepseek_v3":
            assert list(a["decoder_layers"]) == [1, 2]
            assert a["n_group"] == 4 and a["topk_group"] == 2
    for l, g in enumerate(gates):
        X = torch.cat([c[0].reshape(-1, c[0].shape[-1]) for c in cap[l]]).double().numpy()
        Wt = g.gate.weight.detach().double().numpy()
        logits = X @ Wt.T
        if kind == "softmax":
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            want_sel = np.argsort(-p, axis=1, kind="stable")[:, :top_k]
            np.testing.assert_allclose(sc[l], np.take_along_axis(p, ids[l], 1), rtol=1e-4, atol=1e-6)
            assert (np.diff(sc[l], axis=1) <= 0).all()
        else:
            s = 1 / (1 + np.exp(-logits))
            outs = [c[1] for c in cap[l]]
            # the gate's own selection: (indices, weights) in 4.x, (logits, weights, indices) in 5.x
            want_sel = torch.cat([[o for o in out if not o.is_floating_point()][0].reshape(-1, top_k)
                                  for out in outs]).numpy()
            np.testing.assert_allclose(sc[l], np.take_along_axis(s, ids[l], 1), rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(np.sort(ids[l][:, :top_k], 1), np.sort(want_sel, 1))
        assert all(len(set(r)) == depth for r in ids[l])


def test_cli_hf_roundtrip(tmp_path):
    """``moesim_record.py hf`` on a saved tiny Mixtral with byte 'tokens'."""
    model = build("mixtral")
    d = tmp_path / "mixtral"
    model.save_pretrained(str(d))
    (tmp_path / "a.txt").write_text("int main(void) { return 0; }\n" * 20)
    (tmp_path / "b.txt").write_text("The quick brown fox jumps over the lazy dog. " * 20)
    out = tmp_path / "cli.h5"
    rc = mr.main(["hf", "--model", str(d), "--out", str(out), "--tokenizer", "bytes",
                  "--text", f"code={tmp_path / 'a.txt'}", "--text", f"prose={tmp_path / 'b.txt'}",
                  "--seq-len", "16", "--batch", "3", "--sequences-per-domain", "4"])
    assert rc == 0
    assert mr.validate(str(out)) == []
    with h5py.File(out, "r") as f:
        assert f.attrs["num_tokens"] == 8 * 16
        assert [n.decode() for n in f["tokens/domain_names"][:]] == ["code", "prose"]
        dom = f["tokens/domain"][:]
        assert (np.bincount(dom) == [64, 64]).all()
