"""The tiny MoE LM with the generic hook, and the shipped example trace."""
import json
import os

import h5py
import numpy as np
import pytest
import torch

import moesim_record as mr
from tiny_moe.model import TinyMoEConfig, TinyMoELM, load_checkpoint, save_checkpoint

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TOOLS)
CKPT = os.path.join(TOOLS, "tiny_moe", "tiny_moe.pt")
TRACE = os.path.join(REPO, "scenarios", "traces", "tiny-moe-4dom.h5")


def test_generic_hook_records_what_the_model_routes(tmp_path):
    torch.manual_seed(0)
    model = load_checkpoint(CKPT) if os.path.exists(CKPT) else TinyMoELM(TinyMoEConfig(max_seq_len=32)).eval()
    cfg = model.cfg
    routed = {i: [] for i in range(cfg.n_layers)}

    def spy(i):   # what the MoE layer really did: its own logits -> topk
        def hook(mod, inp, out):
            routed[i].append(torch.topk(torch.softmax(out[2].float(), -1), cfg.top_k, -1).indices)
        return hook
    spies = [m.register_forward_hook(spy(i)) for i, m in enumerate(model.moe_layers())]
    p = tmp_path / "tiny.h5"
    w = mr.TraceWriter(str(p), cfg.n_layers, cfg.n_experts, cfg.n_experts, model="tiny-moe-lm",
                       domain_names=["x"], extra_attrs={"top_k": cfg.top_k})
    rec = mr.Recorder(w)
    for i, moe in enumerate(model.moe_layers()):
        rec.add_module(moe.gate, layer=i)
    S = 16
    with torch.no_grad():
        for step in range(2):
            x = torch.randint(0, 256, (3, S))
            with w.batch(**mr.token_meta(step, [3 * step, 3 * step + 1, 3 * step + 2], S, domain=0)):
                model(x)
    rec.remove()
    for s in spies:
        s.remove()
    w.close()
    assert mr.validate(str(p)) == []
    with h5py.File(p, "r") as f:
        ids = f["routing/expert_ids"][:]
    for l in range(cfg.n_layers):
        want = torch.cat(routed[l]).numpy()
        np.testing.assert_array_equal(np.sort(ids[l, :, :cfg.top_k], 1), np.sort(want, 1))


def test_checkpoint_roundtrip(tmp_path):
    cfg = TinyMoEConfig(n_layers=2, d_model=32, n_heads=2, d_expert=16, max_seq_len=8)
    m = TinyMoELM(cfg)
    save_checkpoint(m, str(tmp_path / "m.pt"), {"note": 1})
    m2 = load_checkpoint(str(tmp_path / "m.pt"))
    x = torch.randint(0, 256, (2, 8))
    with torch.no_grad():
        a, b = m(x), m2(x)
    assert torch.allclose(a, b, atol=5e-2)   # fp16-rounded weights


@pytest.mark.skipif(not os.path.exists(TRACE), reason="example trace not present")
def test_shipped_trace_is_valid_and_skewed():
    assert mr.validate(TRACE) == []
    with h5py.File(TRACE, "r") as f:
        a = f.attrs
        assert a["model"] == b"tiny-moe-lm" and a["score_kind"] == b"softmax"
        assert (a["num_layers"], a["num_experts"], a["depth"], a["top_k"]) == (4, 8, 8, 2)
        names = [n.decode() for n in f["tokens/domain_names"][:]]
        assert names == ["c_headers", "python", "english_docs", "structured_data"]
        T = int(a["num_tokens"])
        assert np.bincount(f["tokens/domain"][:]).tolist() == [T // 4] * 4
        assert set(np.unique(f["tokens/rank"][:]).tolist()) == {0, 1, 2, 3}
        json.loads(a["eval_ce_nats_per_domain"].decode())
    st = mr.trace_stats(TRACE)
    for lay in st["layers"]:
        assert lay["max_over_mean"] > 1.1                   # uneven expert load
        assert lay["mutual_information_bits"] > 0.01       # experts depend on the domain
