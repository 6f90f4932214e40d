"""DeepSeek-V3 selection (sigmoid + correction bias + group limit) against a
brute-force per-token implementation, and through the writer."""
import h5py
import numpy as np
import pytest
import torch

import moesim_record as mr


def brute_force(logits, bias, n_group, topk_group, top_k):
    """Per token, plain Python over float32 values: returns (full ranking, selected set)."""
    logits = logits.astype(np.float32)
    s = (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    n, E = logits.shape
    per = E // n_group
    rankings, selected = [], []
    for t in range(n):
        b = [np.float32(s[t, e]) + np.float32(bias[e]) for e in range(E)]
        gscore = []
        for g in range(n_group):
            members = sorted((b[e] for e in range(g * per, (g + 1) * per)), reverse=True)
            gscore.append(np.float32(members[0] + members[1]) if per >= 2 else members[0])
        groups = sorted(range(n_group), key=lambda g: (-gscore[g], g))[:topk_group]
        allowed = {e for g in groups for e in range(g * per, (g + 1) * per)}
        sel = sorted(allowed, key=lambda e: (-b[e], e))[:top_k]
        rest_allowed = sorted(allowed - set(sel), key=lambda e: (-b[e], e))
        rest = sorted(set(range(E)) - allowed, key=lambda e: (-b[e], e))
        rankings.append(sel + rest_allowed + rest)
        selected.append(set(sel))
    return np.array(rankings), selected, s


def hf_reference(logits, bias, n_group, topk_group, top_k):
    """transformers 5.x DeepseekV3TopkRouter.forward (minus the linear)."""
    lg = torch.from_numpy(logits).float()
    scores = lg.sigmoid()
    sfc = scores + torch.from_numpy(bias).float()
    E = lg.shape[1]
    group_scores = sfc.view(-1, n_group, E // n_group).topk(2, dim=-1)[0].sum(dim=-1)
    group_idx = torch.topk(group_scores, k=topk_group, dim=-1, sorted=False)[1]
    group_mask = torch.zeros_like(group_scores)
    group_mask.scatter_(1, group_idx, 1)
    score_mask = group_mask.unsqueeze(-1).expand(-1, n_group, E // n_group).reshape(-1, E)
    sfc = sfc.masked_fill(~score_mask.bool(), float("-inf"))
    return torch.topk(sfc, k=top_k, dim=-1, sorted=False)[1].numpy()


CONFIGS = [
    # E, n_group, topk_group, top_k
    (16, 4, 2, 4),
    (32, 8, 4, 8),      # DeepSeek-V3 ratios (256/8 groups, 4 kept, top-8) scaled down
    (12, 3, 1, 2),
    (8, 1, 1, 2),       # no group limit
]


@pytest.mark.parametrize("E,n_group,topk_group,top_k", CONFIGS)
def test_selection_matches_brute_force(E, n_group, topk_group, top_k):
    rng = np.random.default_rng(E * 100 + n_group)
    n = 300
    logits = (rng.standard_normal((n, E)) * 2).astype(np.float32)
    # biases as large as the score spread, some negative: selection must differ from plain top-k
    bias = (rng.standard_normal(E) * 0.3).astype(np.float32)
    ids, scores, own = mr.deepseek_v3_select(logits, bias, n_group, topk_group, top_k, depth=E)
    want, want_sel, s = brute_force(logits, bias, n_group, topk_group, top_k)
    np.testing.assert_array_equal(ids, want)
    for t in range(n):
        assert set(own[t]) == want_sel[t]
    np.testing.assert_allclose(scores, np.take_along_axis(s, want, 1), rtol=1e-6)
    # the bias changes the selection for some tokens (the test would be weak otherwise)
    plain = np.sort(np.argsort(-logits, axis=1, kind="stable")[:, :top_k], axis=1)
    assert (plain != np.sort(want[:, :top_k], axis=1)).any(axis=1).mean() > 0.05
    # and agrees with the transformers reference implementation
    ref = np.sort(hf_reference(logits, bias, n_group, topk_group, top_k), axis=1)
    np.testing.assert_array_equal(ref, np.sort(ids[:, :top_k], axis=1))


def test_forced_prefix_and_depth():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((20, 16)).astype(np.float32)
    bias = np.zeros(16, np.float32)
    ids, scores, own = mr.deepseek_v3_select(logits, bias, 4, 2, 4, depth=6)
    assert ids.shape == (20, 6) and scores.shape == (20, 6)
    forced = np.tile(np.array([[0, 1, 2, 3]]), (20, 1))
    ids2, _, _ = mr.deepseek_v3_select(logits, bias, 4, 2, 4, depth=6, forced=forced)
    assert all(set(r[:4]) == {0, 1, 2, 3} for r in ids2)


def test_deepseek_through_writer(tmp_path):
    """Sigmoid trace: ranked ids from the selection, scores unbiased sigmoid."""
    rng = np.random.default_rng(11)
    E, L, K = 16, 2, 6
    p = tmp_path / "ds.h5"
    w = mr.TraceWriter(str(p), L, E, K, model="toy-dsv3", score_kind="sigmoid",
                       extra_attrs={"top_k": 4, "n_group": 4, "topk_group": 2})
    bias = (rng.standard_normal(E) * 0.3).astype(np.float32)
    allw = []
    for step in range(2):
        w.begin_batch(step=step, sequence=0, position=np.arange(5) + 5 * step, rank=0)
        for l in range(L):
            lg = rng.standard_normal((5, E)).astype(np.float32)
            ids, sc, _ = mr.deepseek_v3_select(lg, bias, 4, 2, 4, depth=K)
            w.record_ranked(l, ids, sc)
            allw.append((l, lg))
        w.end_batch()
    w.close()
    assert mr.validate(str(p)) == []
    with h5py.File(p, "r") as f:
        assert f.attrs["score_kind"] == b"sigmoid" and f.attrs["top_k"] == 4
        got = f["routing/expert_ids"][:]
        for l in range(L):
            lg = np.concatenate([x for (ll, x) in allw if ll == l])
            want, _, s = brute_force(lg, bias, 4, 2, 4)
            np.testing.assert_array_equal(got[l], want[:, :K])
            np.testing.assert_allclose(f["routing/scores"][l], np.take_along_axis(s, want[:, :K], 1), rtol=1e-6)
