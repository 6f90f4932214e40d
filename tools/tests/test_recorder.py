"""Recorder on toy torch models with known router logits (numpy oracle)."""
import os

import h5py
import numpy as np
import pytest
import torch
import torch.nn as nn

import moesim_record as mr


def np_softmax(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def oracle_rank(logits, depth):
    """Hand-written: per token, experts sorted by logit descending, ties -> lower id."""
    out = np.zeros((logits.shape[0], depth), dtype=np.int64)
    for t, row in enumerate(logits):
        out[t] = sorted(range(len(row)), key=lambda e: (-float(row[e]), e))[:depth]
    return out


class ToyMoE(nn.Module):
    """L layers; each has a bias-free linear router whose output is the logits.
    The hidden state does not change between layers, so router logits are
    x @ W_l^T, computable by hand."""

    def __init__(self, L, H, E, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.routers = nn.ModuleList(nn.Linear(H, E, bias=False) for _ in range(L))
        for r in self.routers:
            with torch.no_grad():
                r.weight.copy_(torch.randn(E, H, generator=g))

    def forward(self, x):  # x [B, S, H]
        for r in self.routers:
            r(x)
        return x


def make_writer(path, L, E, K, **kw):
    kw.setdefault("model", "toy")
    kw.setdefault("score_kind", "softmax")
    return mr.TraceWriter(str(path), L, E, K, **kw)


def test_toy_model_exact_ids_scores_metadata(tmp_path):
    L, H, E, K = 3, 6, 8, 5
    B, S = 2, 7
    model = ToyMoE(L, H, E)
    W = [r.weight.detach().numpy().astype(np.float64) for r in model.routers]
    rng = np.random.default_rng(1)
    path = tmp_path / "toy.h5"
    w = make_writer(path, L, E, K, domain_names=["alpha", "beta", "gamma"])
    rec = mr.Recorder(w)
    for i, r in enumerate(model.routers):
        rec.add_module(r, layer=i)
    xs, metas = [], []
    for step in range(3):
        x = rng.standard_normal((B, S, H)).astype(np.float32)
        seqs = np.array([10 * step, 10 * step + 3])
        meta = mr.token_meta(step, seqs, S, rank=[0, 1], domain=[step % 3, 2])
        with w.batch(**meta):
            model(torch.from_numpy(x))
        xs.append(x.reshape(-1, H))
        metas.append(meta)
    rec.remove()
    assert not os.path.exists(path)            # only the .partial exists before close
    assert os.path.exists(str(path) + ".partial")
    w.close()
    assert os.path.exists(path) and not os.path.exists(str(path) + ".partial")
    assert mr.validate(str(path)) == []

    X = np.concatenate(xs).astype(np.float64)
    T = X.shape[0]
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == b"moesim-trace"
        assert f.attrs["version"] == 1 and f.attrs["version"].dtype == np.int32
        assert (f.attrs["num_layers"], f.attrs["num_experts"], f.attrs["depth"]) == (L, E, K)
        assert f.attrs["num_tokens"] == T and f.attrs["num_tokens"].dtype == np.int64
        assert f.attrs["score_kind"] == b"softmax" and f.attrs["model"] == b"toy"
        ids = f["routing/expert_ids"][:]
        sc = f["routing/scores"][:]
        assert ids.dtype == np.int16 and ids.shape == (L, T, K)
        assert sc.dtype == np.float32 and sc.shape == (L, T, K)
        for l in range(L):
            logits = X @ W[l].T
            want = oracle_rank(logits, K)
            np.testing.assert_array_equal(ids[l], want)
            p = np_softmax(logits)
            np.testing.assert_allclose(sc[l], np.take_along_axis(p, want, 1), rtol=2e-5, atol=1e-7)
        np.testing.assert_array_equal(f["tokens/step"][:], np.repeat([0, 1, 2], B * S))
        np.testing.assert_array_equal(f["tokens/sequence"][:],
                                      np.concatenate([np.repeat([10 * s, 10 * s + 3], S) for s in range(3)]))
        np.testing.assert_array_equal(f["tokens/position"][:], np.tile(np.arange(S), 3 * B))
        np.testing.assert_array_equal(f["tokens/rank"][:], np.tile(np.repeat([0, 1], S), 3))
        np.testing.assert_array_equal(f["tokens/domain"][:],
                                      np.concatenate([np.repeat([s % 3, 2], S) for s in range(3)]))
        assert [n.decode() for n in f["tokens/domain_names"][:]] == ["alpha", "beta", "gamma"]
        assert f["tokens/domain_names"].dtype.kind == "S"
        for name, dt in [("step", np.int32), ("sequence", np.int64), ("position", np.int32),
                         ("rank", np.int32), ("domain", np.int16)]:
            assert f["tokens/" + name].dtype == dt
            assert f["tokens/" + name].chunks == (T,)
        assert f["routing/expert_ids"].chunks == (1, T, K)
        assert f["routing/scores"].compression == "gzip" and f["routing/scores"].compression_opts == 4
        assert f["routing/scores"].shuffle
        assert f["routing/expert_ids"].maxshape == (L, None, K)


def test_incremental_appends_small_chunks(tmp_path):
    """Many batches, chunk size smaller than a batch and not a divisor of it:
    data must equal the concatenation, datasets grow along T only."""
    L, E, K = 2, 6, 3
    rng = np.random.default_rng(3)
    path = tmp_path / "inc.h5"
    w = make_writer(path, L, E, K, chunk_tokens=7, store_logits=True)
    all_logits = [[] for _ in range(L)]
    n_total = 0
    for step in range(6):
        n = int(rng.integers(1, 12))
        meta = dict(step=step, sequence=0, position=np.arange(n), rank=0)
        w.begin_batch(**meta)
        for l in (1, 0):  # any layer order within a batch
            lg = rng.standard_normal((n, E)).astype(np.float32)
            all_logits[l].append(lg)
            w.record_logits(l, torch.from_numpy(lg))
        w.end_batch()
        n_total += n
        # whole chunks are already on disk
        assert w.T == (n_total // 7) * 7
    w.close()
    assert mr.validate(str(path), strict_chunks=False) == []
    with h5py.File(path, "r") as f:
        assert f.attrs["num_tokens"] == n_total
        assert f["routing/expert_ids"].chunks == (1, 7, K)
        assert f["routing/logits"].shape == (L, n_total, E)
        for l in range(L):
            lg = np.concatenate(all_logits[l])
            np.testing.assert_array_equal(f["routing/logits"][l], lg)
            np.testing.assert_array_equal(f["routing/expert_ids"][l], oracle_rank(lg, K))
            np.testing.assert_allclose(f["routing/scores"][l],
                                       np.take_along_axis(np_softmax(lg), oracle_rank(lg, K), 1), rtol=2e-5)
        np.testing.assert_array_equal(f["tokens/step"][:],
                                      np.concatenate([[s] * len(all_logits[0][s]) for s in range(6)]))


def test_keep_mask_drops_padding_and_ranked_kind(tmp_path):
    L, E, K = 1, 4, 2
    path = tmp_path / "pad.h5"
    w = make_writer(path, L, E, K)
    mod = nn.Identity()
    rec = mr.Recorder(w)
    # "ranked" extract: output already holds (ids, scores)
    rec.add_module(mod, layer=0, kind="ranked", extract=lambda out: (out[0], out[1]))
    ids = torch.tensor([[[3, 1], [0, 2], [1, 0]], [[2, 3], [3, 0], [0, 1]]])
    scores = torch.tensor([[[.6, .2], [.5, .3], [.7, .1]], [[.4, .3], [.8, .1], [.5, .4]]])
    mask = torch.tensor([[1, 1, 0], [0, 1, 1]])          # right pad row 0, left pad row 1
    with w.batch(**mr.token_meta(0, [5, 6], 3, mask=mask)):
        mod((ids, scores))
    w.close()
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["routing/expert_ids"][0], [[3, 1], [0, 2], [3, 0], [0, 1]])
        np.testing.assert_allclose(f["routing/scores"][0], [[.6, .2], [.5, .3], [.8, .1], [.5, .4]])
        np.testing.assert_array_equal(f["tokens/sequence"][:], [5, 5, 6, 6])
        np.testing.assert_array_equal(f["tokens/position"][:], [0, 1, 0, 1])


def test_hooks_idle_outside_batch_and_errors(tmp_path):
    L, E = 2, 4
    model = ToyMoE(L, 3, E)
    w = make_writer(tmp_path / "e.h5", L, E, 2)
    rec = mr.Recorder(w)
    for i, r in enumerate(model.routers):
        rec.add_module(r, layer=i)
    model(torch.zeros(1, 2, 3))          # no open batch: nothing recorded
    assert w._pending_n == 0
    # missing layer
    w.begin_batch(step=0, sequence=0, position=[0, 1], rank=0)
    model.routers[0](torch.zeros(1, 2, 3))
    with pytest.raises(RuntimeError, match="layers \\[1\\]"):
        w.end_batch()
    # wrong token count
    with pytest.raises(ValueError, match="shape"):
        with w.batch(step=1, sequence=0, position=[0, 1, 2], rank=0):
            model(torch.zeros(1, 2, 3))
    # order violations
    with w.batch(step=2, sequence=0, position=[0, 1], rank=0):
        model(torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="order"):
        w.begin_batch(step=2, sequence=0, position=[1, 2], rank=0)
    with pytest.raises(ValueError, match="order"):
        w.begin_batch(step=3, sequence=[1, 0], position=[0, 0], rank=0)
    rec.remove()
    w.abort()
    assert not os.path.exists(tmp_path / "e.h5.partial") and not os.path.exists(tmp_path / "e.h5")


def test_empty_trace_and_context_manager(tmp_path):
    p = tmp_path / "empty.h5"
    with make_writer(p, 2, 4, 4):
        pass
    assert mr.validate(str(p)) == []
    with h5py.File(p, "r") as f:
        assert f["routing/expert_ids"].shape == (2, 0, 4)
    with pytest.raises(KeyError):
        with make_writer(tmp_path / "x.h5", 1, 4, 2):
            raise KeyError("boom")
    assert not os.path.exists(tmp_path / "x.h5.partial")


def test_validate_catches_bad_files(tmp_path):
    p = tmp_path / "ok.h5"
    w = make_writer(p, 1, 4, 2)
    with w.batch(step=0, sequence=0, position=[0, 1], rank=0):
        w.record_ranked(0, [[0, 1], [2, 3]], [[.5, .2], [.4, .3]])
    w.close()
    assert mr.validate(str(p)) == []

    def broken(mutate):
        q = tmp_path / "bad.h5"
        import shutil
        shutil.copy(p, q)
        with h5py.File(q, "r+") as f:
            mutate(f)
        return mr.validate(str(q))

    assert any("repeated" in e for e in broken(lambda f: f["routing/expert_ids"].__setitem__((0, 0, 1), 0)))
    assert any("out of range" in e for e in broken(lambda f: f["routing/expert_ids"].__setitem__((0, 0, 1), 9)))
    assert any("increase" in e for e in broken(lambda f: f["routing/scores"].__setitem__((0, 1, 1), 0.9)))
    assert any("ordered" in e for e in broken(lambda f: f["tokens/position"].__setitem__(1, 0)))
    assert any("version" in e for e in broken(lambda f: f.attrs.__setitem__("version", np.int64(1))))
    assert any("missing" in e for e in broken(lambda f: f.attrs.__delitem__("score_kind")))


def test_rank_desc_keys():
    key = np.array([[0.1, 0.5, 0.5, 0.2]])
    np.testing.assert_array_equal(mr.rank_desc(key, 4), [[1, 2, 3, 0]])
    first = np.array([[False, False, False, True]])
    np.testing.assert_array_equal(mr.rank_desc(key, 4, first=first), [[3, 1, 2, 0]])
    ids, sc = mr.softmax_ranking(torch.tensor([[0.0, 2.0, 1.0]]), 3, forced=np.array([[2]]))
    np.testing.assert_array_equal(ids, [[2, 1, 0]])


def test_cli_validate_and_stats(tmp_path, capsys):
    p = tmp_path / "cli.h5"
    w = make_writer(p, 2, 4, 4, domain_names=["a", "b"], extra_attrs={"top_k": 1})
    for step in range(2):
        with w.batch(step=step, sequence=[0, 0, 1, 1], position=[0, 1, 0, 1], rank=0, domain=[0, 0, 1, 1]):
            for l in range(2):
                w.record_logits(l, torch.tensor([[4., 0, 0, 0], [4., 0, 0, 0], [0, 0, 4., 0], [0, 4., 0, 0]]))
    w.close()
    assert mr.main(["validate", str(p)]) == 0
    assert "valid moesim trace" in capsys.readouterr().out
    assert mr.main(["stats", str(p)]) == 0
    out = capsys.readouterr().out
    assert "max/mean load 2.000" in out
    st = mr.trace_stats(str(p))
    lay = st["layers"][0]
    assert lay["load"] == [4, 2, 2, 0]
    assert lay["dominant_expert"]["a"] == {"expert": 0, "share": 1.0}
    assert lay["dominant_expert"]["b"] == {"expert": 1, "share": 0.5}
    assert abs(lay["mutual_information_bits"] - 1.0) < 1e-9      # expert determines the domain
    assert lay["per_step_max_over_mean"] == {"groups": 2, "mean": 2.0, "max": 2.0}
    with h5py.File(p, "r+") as f:
        f["tokens/rank"][0] = 5
    assert mr.main(["validate", str(p)]) == 1


def test_default_chunking_streams_whole_chunks(tmp_path):
    """More than one 65536-token chunk: whole chunks go to disk as soon as they
    are complete, the file uses the format's chunk shape, tail written at close."""
    L, E, K = 2, 8, 3
    p = tmp_path / "big.h5"
    w = make_writer(p, L, E, K)
    rng = np.random.default_rng(0)
    perm = np.argsort(rng.random((4096, E)), axis=1)[:, :K]
    sc = np.tile(np.array([[0.5, 0.3, 0.2]], np.float32), (4096, 1))
    n_batches = 35                                   # 143360 tokens
    for s in range(n_batches):
        w.begin_batch(step=s, sequence=0, position=np.arange(4096), rank=0)
        for l in range(L):
            w.record_ranked(l, np.roll(perm, s + l, axis=0), sc)
        w.end_batch()
        assert w.T % 65536 == 0 and w._pending_n < 65536 + 4096
    assert w.T == 131072
    w.close()
    assert mr.validate(str(p)) == []
    with h5py.File(p, "r") as f:
        assert f["routing/expert_ids"].chunks == (1, 65536, K)
        assert f["tokens/step"].chunks == (65536,)
        assert f.attrs["num_tokens"] == n_batches * 4096
        np.testing.assert_array_equal(f["routing/expert_ids"][1, -4096:], np.roll(perm, n_batches, axis=0))
