#!/usr/bin/env python3
"""moesim router-trace recorder: writes moesim trace files (format version 1,
see docs/trace-format.md) from a live PyTorch MoE model.

Library use (generic hook on any module whose output carries router logits)::

    import moesim_record as mr
    w = mr.TraceWriter("out.h5", num_layers=L, num_experts=E, depth=E,
                       model="my-model", score_kind="softmax",
                       domain_names=["code", "prose"])
    rec = mr.Recorder(w)
    for i, block in enumerate(my_moe_blocks):
        rec.add_module(block.router, layer=i,
                       extract=lambda out: out)            # output -> logits [tokens, E]
    for step, (batch, meta) in enumerate(loader):
        with w.batch(**mr.token_meta(step, seq_ids, batch.shape[1], domain=dom)):
            model(batch)
    rec.remove(); w.close()          # renames out.h5.partial -> out.h5

Hugging Face transformers MoE models (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE,
DeepSeek-V3 and others with the same gate layout)::

    w, rec = mr.record_hf(model, "out.h5", depth=8, domain_names=[...])
    ... forward passes inside w.batch(...) ...
    rec.remove(); w.close()

Command line::

    moesim_record.py validate TRACE.h5         # check a file against the format
    moesim_record.py stats TRACE.h5            # per-layer load skew, domain purity
    moesim_record.py hf --model DIR --out TRACE.h5 --text code=a.py --text prose=b.txt

Requires numpy, h5py and torch (>= 1.13); transformers only for ``record_hf``.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import h5py
import numpy as np

try:  # torch is needed for hooks, not for validate/stats
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None
    F = None

FORMAT_NAME = "moesim-trace"
FORMAT_VERSION = 1
DEFAULT_CHUNK_TOKENS = 65536
GZIP_LEVEL = 4
SCORE_KINDS = ("softmax", "sigmoid", "other")

__all__ = [
    "TraceWriter", "Recorder", "token_meta", "rank_desc", "softmax_ranking",
    "sigmoid_ranking", "deepseek_v3_select", "find_hf_moe_gates", "record_hf",
    "validate", "trace_stats", "FORMAT_NAME", "FORMAT_VERSION",
]


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def _np(x) -> np.ndarray:
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _fixed_str_attr(obj, name: str, value: str) -> None:
    """Fixed-length string attribute: ASCII when possible, else UTF-8."""
    raw = value.encode("utf-8")
    enc = "ascii" if raw.isascii() else "utf-8"
    obj.attrs.create(name, np.array(raw, dtype=f"S{max(1, len(raw))}"),
                     dtype=h5py.string_dtype(enc, max(1, len(raw))))


def _fixed_str_array(strings: Sequence[str]) -> Tuple[np.ndarray, Any]:
    raws = [s.encode("utf-8") for s in strings]
    n = max([1] + [len(r) for r in raws])
    enc = "ascii" if all(r.isascii() for r in raws) else "utf-8"
    return np.array(raws, dtype=f"S{n}"), h5py.string_dtype(enc, n)


def _attr_str(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _attr_str(v[()])
    return str(v)


def rank_desc(key: np.ndarray, depth: int, first: Optional[np.ndarray] = None,
              second: Optional[np.ndarray] = None) -> np.ndarray:
    """Per row, expert ids sorted best first, ``depth`` of them.

    Sort keys, most significant first: ``first`` (bool [n, E], True sorts
    before False), ``second`` (likewise), then ``key`` descending, then the
    expert id ascending (so exact ties resolve to the lower id).
    """
    key = np.asarray(key)
    n, E = key.shape
    keys = [np.broadcast_to(np.arange(E), (n, E)), -key.astype(np.float64)]
    if second is not None:
        keys.append(~np.asarray(second, dtype=bool))
    if first is not None:
        keys.append(~np.asarray(first, dtype=bool))
    order = np.lexsort(tuple(keys), axis=-1)
    return order[:, :depth]


def _prefix_mask(forced: Optional[np.ndarray], n: int, E: int) -> Optional[np.ndarray]:
    if forced is None:
        return None
    forced = np.asarray(forced).reshape(n, -1).astype(np.int64)
    m = np.zeros((n, E), dtype=bool)
    np.put_along_axis(m, forced, True, axis=1)
    return m


def softmax_ranking(logits, depth: int, forced: Optional[np.ndarray] = None):
    """Softmax router: ids ranked by logit (= by probability), scores = the
    softmax probability over all E experts (float32, as HF routers compute it).
    ``forced``: [n, k] ids the model itself selected; they are put first."""
    lg = torch.as_tensor(logits).detach().float().cpu() if torch is not None else None
    if lg is not None:
        probs = torch.softmax(lg, dim=-1).numpy()
        key = lg.numpy()
    else:  # pragma: no cover
        key = np.asarray(logits, dtype=np.float32)
        e = np.exp(key - key.max(axis=-1, keepdims=True))
        probs = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    n, E = key.shape
    ids = rank_desc(key, depth, first=_prefix_mask(forced, n, E))
    return ids, np.take_along_axis(probs, ids, axis=1)


def sigmoid_ranking(logits, depth: int, forced: Optional[np.ndarray] = None):
    lg = torch.as_tensor(logits).detach().float().cpu()
    probs = torch.sigmoid(lg).numpy()
    n, E = probs.shape
    ids = rank_desc(lg.numpy(), depth, first=_prefix_mask(forced, n, E))
    return ids, np.take_along_axis(probs, ids, axis=1)


def deepseek_v3_select(logits, bias, n_group: int, topk_group: int, top_k: int,
                       depth: Optional[int] = None, forced: Optional[np.ndarray] = None):
    """DeepSeek-V3 ("noaux_tc") routing, as in the DeepSeek-V3 reference
    inference code and HF transformers' DeepseekV3TopkRouter:

      s      = sigmoid(logits)                      (affinity, the weight used)
      b      = s + e_score_correction_bias           (selection score only)
      groups: E experts in n_group equal groups; group score = sum of the two
              largest b in the group; keep the topk_group best groups
      select: the top_k experts by b among the kept groups

    Returns (ids [n, depth], scores [n, depth], selected [n, top_k]).  Ranking:
    the top_k selected experts first (by b), then the other experts of the kept
    groups (by b), then the rest (by b); ties go to the lower id.  scores are s
    (unbiased, not renormalised, not multiplied by routed_scaling_factor).
    ``forced``: ids the model actually selected (from the gate's output); when
    given they replace our own selection at the head of the ranking.
    """
    lg = torch.as_tensor(logits).detach().float().cpu()
    s = torch.sigmoid(lg)
    b = s + torch.as_tensor(bias).detach().float().cpu().reshape(1, -1)
    n, E = s.shape
    depth = E if depth is None else depth
    if E % n_group:
        raise ValueError(f"num_experts {E} not divisible by n_group {n_group}")
    per = E // n_group
    bn = b.numpy()
    grouped = bn.reshape(n, n_group, per)
    if per >= 2:
        top2 = -np.sort(-grouped, axis=-1)[:, :, :2]
        gscore = top2[:, :, 0] + top2[:, :, 1]  # float32 like torch's topk(2).sum()
    else:
        gscore = grouped[:, :, 0]
    gorder = rank_desc(gscore, topk_group)          # best groups, ties -> lower group
    gkeep = np.zeros((n, n_group), dtype=bool)
    np.put_along_axis(gkeep, gorder, True, axis=1)
    allowed = np.repeat(gkeep, per, axis=1)
    sel_order = rank_desc(bn, top_k, first=allowed)
    selected = sel_order
    if forced is not None:
        forced = np.asarray(forced).reshape(n, -1).astype(np.int64)
        selected = forced
    sel_mask = _prefix_mask(selected, n, E)
    ids = rank_desc(bn, depth, first=sel_mask, second=allowed)
    scores = np.take_along_axis(s.numpy(), ids, axis=1)
    return ids, scores, np.sort(sel_order, axis=1)


def token_meta(step: int, sequence, seq_len: int, rank=0, domain=None,
               start_position: int = 0, mask=None) -> Dict[str, np.ndarray]:
    """Per-token metadata for a [B, S] batch flattened row-major (the order in
    which HF MoE blocks and most models flatten tokens).  ``sequence``,
    ``rank`` and ``domain`` are per row (scalars broadcast); ``mask`` [B, S]
    (e.g. an attention mask) marks the tokens to record (padding is dropped)."""
    seq = np.asarray(sequence, dtype=np.int64).reshape(-1)
    B = seq.shape[0]
    S = int(seq_len)
    out = {
        "step": np.full(B * S, step, dtype=np.int32),
        "sequence": np.repeat(seq, S),
        "position": np.tile(np.arange(start_position, start_position + S, dtype=np.int32), B),
        "rank": np.repeat(np.broadcast_to(np.asarray(rank, dtype=np.int32), (B,)), S),
    }
    if domain is not None:
        out["domain"] = np.repeat(np.broadcast_to(np.asarray(domain, dtype=np.int16), (B,)), S)
    if mask is not None:
        m = _np(mask).astype(bool).reshape(B, S)
        # positions count only kept tokens when padding is on the left
        pos = np.cumsum(m, axis=1) - 1 + start_position
        out["position"] = pos.astype(np.int32).reshape(-1)
        out["keep"] = m.reshape(-1)
    return out


# --------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------

class TraceWriter:
    """Streams a moesim trace to ``path`` (via ``path + '.partial'``).

    Tokens are appended a batch at a time: ``begin_batch`` (token metadata for
    the n tokens the model is about to process), one ``record_*`` call per MoE
    layer (in any order), ``end_batch``.  Rows are buffered per layer and
    written in whole chunks of ``chunk_tokens`` tokens to resizable datasets
    (maxshape None along T), layer by layer, so memory stays bounded by
    ~(chunk_tokens + batch) * L * (depth*6 [+ E*4]) bytes whatever the length
    of the recording.  ``close`` writes the tail, fills in ``num_tokens`` and
    renames the file into place; ``abort`` deletes the partial file.
    """

    def __init__(self, path: str, num_layers: int, num_experts: int, depth: Optional[int] = None, *,
                 model: str, score_kind: str = "softmax", source: Optional[str] = None,
                 domain_names: Optional[Sequence[str]] = None, store_logits: bool = False,
                 chunk_tokens: int = DEFAULT_CHUNK_TOKENS, check_order: bool = True,
                 extra_attrs: Optional[Dict[str, Any]] = None):
        if score_kind not in SCORE_KINDS:
            raise ValueError(f"score_kind must be one of {SCORE_KINDS}")
        depth = num_experts if depth is None else int(depth)
        if not (1 <= depth <= num_experts):
            raise ValueError(f"depth {depth} must be in 1..num_experts={num_experts}")
        if num_experts > 32767:
            raise ValueError("expert ids are int16: num_experts must be <= 32767")
        self.path = path
        self.tmp_path = path + ".partial"
        self.L, self.E, self.K = int(num_layers), int(num_experts), depth
        self.score_kind = score_kind
        self.store_logits = bool(store_logits)
        self.chunk_tokens = int(chunk_tokens)
        self.check_order = check_order
        self.domain_names = list(domain_names) if domain_names is not None else None
        self.T = 0                      # tokens written to disk
        self._pending_n = 0             # tokens buffered (complete batches)
        self._pend_ids: List[List[np.ndarray]] = [[] for _ in range(self.L)]
        self._pend_scores: List[List[np.ndarray]] = [[] for _ in range(self.L)]
        self._pend_logits: List[List[np.ndarray]] = [[] for _ in range(self.L)]
        self._pend_meta: Dict[str, List[np.ndarray]] = {k: [] for k in ("step", "sequence", "position", "rank", "domain")}
        self._batch: Optional[dict] = None
        self._last_key: Optional[Tuple[int, int, int, int]] = None
        self._created = False
        self.closed = False
        self.forced_mismatch = 0        # tokens whose own selection differed from the model's
        if source is None:
            tv = getattr(torch, "__version__", "?") if torch is not None else "no torch"
            source = f"moesim recorder (tools/moesim_record.py) on torch {tv}"
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        self.f = h5py.File(self.tmp_path, "w")
        a = self.f
        _fixed_str_attr(a, "format", FORMAT_NAME)
        a.attrs.create("version", np.int32(FORMAT_VERSION), dtype=np.int32)
        a.attrs.create("num_layers", np.int32(self.L), dtype=np.int32)
        a.attrs.create("num_experts", np.int32(self.E), dtype=np.int32)
        a.attrs.create("depth", np.int32(self.K), dtype=np.int32)
        a.attrs.create("num_tokens", np.int64(0), dtype=np.int64)
        _fixed_str_attr(a, "model", str(model))
        _fixed_str_attr(a, "score_kind", score_kind)
        _fixed_str_attr(a, "source", source)
        _fixed_str_attr(a, "created", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for k, v in (extra_attrs or {}).items():
            self.set_attr(k, v)

    # -- attributes ---------------------------------------------------------
    def set_attr(self, name: str, value: Any) -> None:
        """Extra root attribute (ints -> int32/int64, floats -> float64,
        strings -> fixed-length, lists of ints -> int32 array)."""
        if isinstance(value, str):
            _fixed_str_attr(self.f, name, value)
        elif isinstance(value, bool) or isinstance(value, (np.bool_,)):
            self.f.attrs.create(name, np.int32(bool(value)), dtype=np.int32)
        elif isinstance(value, (int, np.integer)):
            dt = np.int32 if -2**31 <= int(value) < 2**31 else np.int64
            self.f.attrs.create(name, dt(value), dtype=dt)
        elif isinstance(value, (float, np.floating)):
            self.f.attrs.create(name, np.float64(value), dtype=np.float64)
        else:
            arr = np.asarray(value)
            if arr.dtype.kind in "iu":
                arr = arr.astype(np.int32)
            elif arr.dtype.kind == "f":
                arr = arr.astype(np.float64)
            self.f.attrs.create(name, arr)

    # -- batches ------------------------------------------------------------
    def begin_batch(self, step, sequence, position, rank=0, domain=None, keep=None, n=None) -> None:
        """Token metadata for the next forward pass.  Arrays have one entry
        per token the model processes, in the order its router sees them
        (scalars broadcast; ``n`` gives the count if all are scalars).
        ``keep`` (bool) selects the tokens to record, e.g. drops padding."""
        if self._batch is not None:
            raise RuntimeError("begin_batch while a batch is open")
        if self.closed:
            raise RuntimeError("writer closed")
        arrs = [np.asarray(x) for x in (step, sequence, position, rank) + ((domain,) if domain is not None else ())]
        if keep is not None:
            arrs.append(np.asarray(keep))
        sizes = {a.size for a in arrs if a.ndim > 0}
        if n is None:
            if len(sizes) != 1:
                raise ValueError(f"cannot infer token count from metadata sizes {sorted(sizes)}")
            n = sizes.pop()
        elif sizes and sizes != {n}:
            raise ValueError(f"metadata sizes {sorted(sizes)} != n={n}")
        keep_arr = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool).reshape(n)

        def col(x, dt):
            return np.broadcast_to(np.asarray(x).reshape(-1) if np.ndim(x) else np.asarray(x), (n,)).astype(dt)[keep_arr]
        meta = {"step": col(step, np.int32), "sequence": col(sequence, np.int64),
                "position": col(position, np.int32), "rank": col(rank, np.int32)}
        if (domain is None) != (self.domain_names is None):
            raise ValueError("give domain for every batch iff the writer has domain_names")
        if domain is not None:
            meta["domain"] = col(domain, np.int16)
            if meta["domain"].size and (meta["domain"].min() < 0 or meta["domain"].max() >= len(self.domain_names)):
                raise ValueError("domain index out of range of domain_names")
        if self.check_order and keep_arr.any():
            key = np.stack([meta["step"].astype(np.int64), meta["rank"].astype(np.int64),
                            meta["sequence"], meta["position"].astype(np.int64)], axis=1)
            prev = key[:-1]
            nxt = key[1:]
            bad = np.zeros(len(nxt), dtype=bool)
            decided = np.zeros(len(nxt), dtype=bool)
            for c in range(4):  # lexicographic strict increase
                lt = (prev[:, c] < nxt[:, c]) & ~decided
                gt = (prev[:, c] > nxt[:, c]) & ~decided
                bad |= gt
                decided |= lt | gt
            bad |= ~decided
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"tokens not in (step, rank, sequence, position) order at batch token {i + 1}: "
                                 f"{tuple(prev[i])} then {tuple(nxt[i])}")
            if self._last_key is not None and tuple(key[0]) <= self._last_key:
                raise ValueError(f"tokens out of (step, rank, sequence, position) order: batch starts at "
                                 f"{tuple(key[0])}, not after the previous token {self._last_key}")
            self._pending_last = tuple(int(v) for v in key[-1])
        self._batch = {"n": n, "keep": keep_arr, "meta": meta, "layers": {}}

    def _check_rows(self, layer: int, arr: np.ndarray, width: int, what: str) -> np.ndarray:
        b = self._batch
        if b is None:
            raise RuntimeError("router output recorded outside begin_batch/end_batch")
        if not (0 <= layer < self.L):
            raise ValueError(f"layer {layer} out of range 0..{self.L - 1}")
        arr = arr.reshape(-1, arr.shape[-1])
        if arr.shape != (b["n"], width):
            raise ValueError(f"layer {layer}: {what} has shape {arr.shape}, expected ({b['n']}, {width}) "
                             f"(tokens in this batch x {width})")
        return arr[b["keep"]]

    def record_logits(self, layer: int, logits, forced: Optional[np.ndarray] = None) -> None:
        """Router logits [n, E] for one layer; ranking and scores follow the
        writer's score_kind (softmax or sigmoid)."""
        lg = _np(logits) if not (torch is not None and isinstance(logits, torch.Tensor)) else logits.detach().float().cpu()
        shape = tuple(lg.shape)
        lg2 = lg.reshape(-1, shape[-1])
        if self.score_kind == "softmax":
            ids, scores = softmax_ranking(lg2, self.K, forced=forced)
        elif self.score_kind == "sigmoid":
            ids, scores = sigmoid_ranking(lg2, self.K, forced=forced)
        else:
            raise ValueError("record_logits needs score_kind softmax or sigmoid; use record_ranked")
        self.record_ranked(layer, ids, scores, logits=lg2 if self.store_logits else None)

    def record_ranked(self, layer: int, ids, scores, logits=None) -> None:
        """Ranked expert ids [n, >=depth] (best first) and their scores for one layer."""
        b = self._batch
        if b is None:
            raise RuntimeError("router output recorded outside begin_batch/end_batch")
        if layer in b["layers"]:
            raise RuntimeError(f"layer {layer} recorded twice in one batch")
        ids = _np(ids)
        scores = _np(scores)
        if ids.ndim >= 1 and ids.shape[-1] > self.K:
            ids, scores = ids[..., :self.K], scores[..., :self.K]
        ids = self._check_rows(layer, ids, self.K, "ids")
        scores = self._check_rows(layer, scores, self.K, "scores")
        if ids.size and (ids.min() < 0 or ids.max() >= self.E):
            raise ValueError(f"layer {layer}: expert id out of range 0..{self.E - 1}")
        rec = [ids.astype(np.int16), scores.astype(np.float32), None]
        if self.store_logits:
            if logits is None:
                raise ValueError("writer has store_logits=True: pass logits")
            rec[2] = self._check_rows(layer, _np(logits).astype(np.float32), self.E, "logits")
        b["layers"][layer] = rec

    def end_batch(self) -> None:
        b = self._batch
        if b is None:
            raise RuntimeError("end_batch without begin_batch")
        missing = [l for l in range(self.L) if l not in b["layers"]]
        if missing:
            self._batch = None
            raise RuntimeError(f"batch ended with no router output for layers {missing} "
                               "(did the forward pass reach every hooked module?)")
        for l in range(self.L):
            ids, sc, lg = b["layers"][l]
            self._pend_ids[l].append(ids)
            self._pend_scores[l].append(sc)
            if self.store_logits:
                self._pend_logits[l].append(lg)
        for k, v in b["meta"].items():
            self._pend_meta[k].append(v)
        m = int(b["keep"].sum())
        self._pending_n += m
        if self.check_order and m:
            self._last_key = self._pending_last
        self._batch = None
        if self._pending_n >= self.chunk_tokens:
            whole = (self._pending_n // self.chunk_tokens) * self.chunk_tokens
            self._flush(whole, chunk=self.chunk_tokens)

    def cancel_batch(self) -> None:
        self._batch = None

    @contextlib.contextmanager
    def batch(self, **meta):
        """``with writer.batch(step=..., sequence=..., position=..., ...): model(x)``"""
        self.begin_batch(**meta)
        try:
            yield self
        except BaseException:
            self.cancel_batch()
            raise
        self.end_batch()

    # -- disk ---------------------------------------------------------------
    def _create(self, chunk: int) -> None:
        chunk = max(1, chunk)
        kw = dict(compression="gzip", compression_opts=GZIP_LEVEL, shuffle=True)
        r = self.f.create_group("routing")
        r.create_dataset("expert_ids", shape=(self.L, 0, self.K), maxshape=(self.L, None, self.K),
                         dtype=np.int16, chunks=(1, chunk, self.K), **kw)
        r.create_dataset("scores", shape=(self.L, 0, self.K), maxshape=(self.L, None, self.K),
                         dtype=np.float32, chunks=(1, chunk, self.K), **kw)
        if self.store_logits:
            r.create_dataset("logits", shape=(self.L, 0, self.E), maxshape=(self.L, None, self.E),
                             dtype=np.float32, chunks=(1, chunk, self.E), **kw)
        t = self.f.create_group("tokens")
        for name, dt in (("step", np.int32), ("sequence", np.int64), ("position", np.int32), ("rank", np.int32)):
            t.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt, chunks=(chunk,), **kw)
        if self.domain_names is not None:
            t.create_dataset("domain", shape=(0,), maxshape=(None,), dtype=np.int16, chunks=(chunk,), **kw)
            arr, dt = _fixed_str_array(self.domain_names)
            t.create_dataset("domain_names", data=arr, dtype=dt)
        self._created = True

    @staticmethod
    def _take(lst: List[np.ndarray], m: int) -> np.ndarray:
        cat = np.concatenate(lst, axis=0) if len(lst) > 1 else lst[0]
        lst.clear()
        if m < len(cat):
            lst.append(cat[m:])
        return cat[:m]

    def _flush(self, m: int, chunk: int) -> None:
        if not self._created:
            self._create(chunk)
        if m == 0:
            return
        T0, T1 = self.T, self.T + m
        r = self.f["routing"]
        dss = [("expert_ids", self._pend_ids), ("scores", self._pend_scores)]
        if self.store_logits:
            dss.append(("logits", self._pend_logits))
        for name, _ in dss:
            r[name].resize(T1, axis=1)
        for l in range(self.L):                      # layer by layer
            for name, pend in dss:
                r[name][l, T0:T1, :] = self._take(pend[l], m)
        t = self.f["tokens"]
        for k, lst in self._pend_meta.items():
            if not lst:
                continue
            t[k].resize((T1,))
            t[k][T0:T1] = self._take(lst, m)
        self.T = T1
        self._pending_n -= m
        self.f.attrs["num_tokens"] = np.int64(self.T)
        self.f.flush()

    def close(self) -> str:
        """Write the remaining tokens, finalise and rename into place.  Returns the path."""
        if self.closed:
            return self.path
        if self._batch is not None:
            raise RuntimeError("close with an open batch")
        total = self.T + self._pending_n
        self._flush(self._pending_n, chunk=min(max(total, 1), self.chunk_tokens))
        self.f.attrs.create("num_tokens", np.int64(self.T), dtype=np.int64)
        self.f.close()
        os.replace(self.tmp_path, self.path)
        self.closed = True
        return self.path

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.f.close()
        finally:
            if os.path.exists(self.tmp_path):
                os.remove(self.tmp_path)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            self.close()
        else:
            self.abort()
        return False


# --------------------------------------------------------------------------
# generic hooks
# --------------------------------------------------------------------------

class Recorder:
    """Forward hooks that feed router outputs to a TraceWriter.

    ``add_module(module, layer, extract, kind)``: after each forward of
    ``module``, ``extract(output)`` (or ``extract(module, inputs, output)`` with
    ``with_inputs=True``) must return

      kind="logits":  router logits [tokens, E] (any leading shape flattening
                      to the batch's token count), ranked by the writer;
      kind="ranked":  (ids [tokens, >=depth], scores [tokens, >=depth]),
                      already ranked best first, or a triple
                      (ids, scores, logits) when the writer stores logits.

    Hooks record only while the writer has an open batch (``paused`` also
    stops them), so forward passes outside ``writer.batch`` are not traced.
    """

    def __init__(self, writer: TraceWriter):
        self.writer = writer
        self.handles = []
        self.paused = False
        self.layers: List[str] = []

    def add_module(self, module, layer: Optional[int] = None, extract: Optional[Callable] = None,
                   kind: str = "logits", with_inputs: bool = False, name: Optional[str] = None) -> int:
        if kind not in ("logits", "ranked"):
            raise ValueError("kind must be 'logits' or 'ranked'")
        layer = len(self.handles) if layer is None else int(layer)
        extract = extract or (lambda out: out)
        w = self.writer

        def hook(mod, inputs, output):
            if self.paused or w._batch is None:
                return
            got = extract(mod, inputs, output) if with_inputs else extract(output)
            if kind == "logits":
                w.record_logits(layer, got)
            else:
                if len(got) == 3:
                    w.record_ranked(layer, got[0], got[1], logits=got[2])
                else:
                    w.record_ranked(layer, got[0], got[1])
        self.handles.append(module.register_forward_hook(hook))
        self.layers.append(name or f"layer{layer}")
        return layer

    def add_hook_fn(self, module, fn: Callable) -> None:
        """Register an arbitrary forward hook fn(module, inputs, output)."""
        self.handles.append(module.register_forward_hook(fn))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


# --------------------------------------------------------------------------
# Hugging Face transformers adapters
# --------------------------------------------------------------------------
# Checked against transformers 4.51.3, 4.57.6 and 5.23.0:
#  * 4.x Mixtral/Qwen2-MoE/Qwen3-MoE/OLMoE: block.gate is nn.Linear(H, E); its
#    output is the router logits; the block does softmax(float) -> topk.
#  * 5.x: block.gate is a <Model>TopKRouter with .weight [E, H] whose forward
#    returns (router_logits, top_k_weights, top_k_indices).
#  * DeepSeek-V3, 4.x: gate DeepseekV3TopkRouter (.weight, .e_score_correction_bias,
#    .n_group, .topk_group, .top_k, .n_routed_experts) returns (topk_indices,
#    topk_weights): logits are recomputed from the gate input exactly as the
#    gate does (fp32 linear).  Masks unselected groups with 0.0.
#  * DeepSeek-V3, 5.x: same buffers, .num_group / .num_experts attribute
#    names, returns (router_logits, topk_weights, topk_indices), masks with -inf.
# Where the gate output carries the selected indices they are used as the head
# of the recorded ranking (the ids actually passed to the experts); our own
# recomputation is compared with them and disagreements counted in
# TraceWriter.forced_mismatch.

KNOWN_MOE_BLOCKS = {
    "MixtralSparseMoeBlock": "softmax",
    "Qwen2MoeSparseMoeBlock": "softmax",
    "Qwen3MoeSparseMoeBlock": "softmax",
    "OlmoeSparseMoeBlock": "softmax",
    "DeepseekV3MoE": "deepseek_v3",
}


@dataclass
class GateInfo:
    name: str                 # module path of the MoE block
    block: Any
    gate: Any
    kind: str                 # "softmax" | "deepseek_v3"
    num_experts: int
    top_k: int
    decoder_layer: int = -1
    n_group: int = 1
    topk_group: int = 1
    extras: Dict[str, Any] = field(default_factory=dict)


def _first_attr(objs, names, default=None):
    for o in objs:
        if o is None:
            continue
        for n in names:
            v = getattr(o, n, None)
            if v is not None:
                return v
    return default


def _layer_number(name: str) -> int:
    parts = name.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].isdigit() and i > 0 and parts[i - 1] in ("layers", "h", "blocks", "layer"):
            return int(parts[i])
    return -1


def find_hf_moe_gates(model) -> List[GateInfo]:
    """MoE blocks of a transformers model, in module order.  A block is one of
    KNOWN_MOE_BLOCKS, or any module with ``.gate`` and ``.experts`` whose gate
    has a 2-D ``.weight`` [E, H]; a gate with ``e_score_correction_bias`` is
    treated as DeepSeek-V3-style (sigmoid, bias, group-limited)."""
    cfg = getattr(model, "config", None)
    tcfg = cfg.get_text_config() if cfg is not None and hasattr(cfg, "get_text_config") else cfg
    out: List[GateInfo] = []
    for name, mod in model.named_modules():
        cls = type(mod).__name__
        gate = getattr(mod, "gate", None)
        if gate is None or not hasattr(gate, "weight"):
            continue
        if cls not in KNOWN_MOE_BLOCKS and not hasattr(mod, "experts"):
            continue
        wt = gate.weight
        if getattr(wt, "dim", lambda: 0)() != 2:
            continue
        E = int(wt.shape[0])
        kind = KNOWN_MOE_BLOCKS.get(cls)
        if kind is None:
            kind = "deepseek_v3" if hasattr(gate, "e_score_correction_bias") else "softmax"
        top_k = int(_first_attr([gate, mod, tcfg], ["top_k", "num_experts_per_tok"], 0))
        if top_k <= 0:
            raise ValueError(f"{name}: cannot find top_k")
        gi = GateInfo(name=name, block=mod, gate=gate, kind=kind, num_experts=E, top_k=top_k,
                      decoder_layer=_layer_number(name))
        norm = _first_attr([gate, mod, tcfg], ["norm_topk_prob"], None)
        if norm is not None:
            gi.extras["norm_topk_prob"] = bool(norm)
        if kind == "deepseek_v3":
            gi.n_group = int(_first_attr([gate, tcfg], ["n_group", "num_group"], 1))
            gi.topk_group = int(_first_attr([gate, tcfg], ["topk_group"], 1))
            gi.extras["routed_scaling_factor"] = float(_first_attr([gate, tcfg], ["routed_scaling_factor"], 1.0))
            gi.extras["n_group"] = gi.n_group
            gi.extras["topk_group"] = gi.topk_group
        shared = _first_attr([mod], ["shared_experts", "shared_expert"], None)
        if shared is not None:
            gi.extras["num_shared_experts"] = int(_first_attr([tcfg], ["n_shared_experts"], 1) or 1)
        out.append(gi)
    return out


def _gate_logits_and_indices(gi: GateInfo, inputs, output):
    """(logits [n, E] float32, selected indices [n, top_k] or None)."""
    E = gi.num_experts
    logits = indices = None
    if torch.is_tensor(output):
        if output.is_floating_point() and output.shape[-1] == E:
            logits = output
    elif isinstance(output, (tuple, list)) and output:
        first = output[0]
        if torch.is_tensor(first) and first.is_floating_point() and first.shape[-1] == E:
            logits = first                                  # 5.x: (logits, weights, indices)
        ints = [o for o in output if torch.is_tensor(o) and not o.is_floating_point()]
        if ints:
            indices = ints[0]                               # selected experts
    if logits is None:                                      # recompute from the gate input
        x = inputs[0]
        w = gi.gate.weight
        b = getattr(gi.gate, "bias", None)
        logits = F.linear(x.reshape(-1, x.shape[-1]).float(), w.float(), None if b is None else b.float())
    logits = logits.detach().reshape(-1, E).float().cpu()
    if indices is not None:
        indices = indices.detach().reshape(logits.shape[0], -1).cpu().numpy()
        if indices.shape[1] != gi.top_k:
            indices = None
    return logits, indices


def _hf_hook(writer: TraceWriter, layer: int, gi: GateInfo, recorder: "Recorder"):
    def hook(mod, inputs, output):
        if recorder.paused or writer._batch is None:
            return
        logits, indices = _gate_logits_and_indices(gi, inputs, output)
        if gi.kind == "deepseek_v3":
            bias = gi.gate.e_score_correction_bias
            ids, scores, own = deepseek_v3_select(logits, bias, gi.n_group, gi.topk_group, gi.top_k,
                                                 depth=writer.K, forced=indices)
        else:
            ids, scores = softmax_ranking(logits, writer.K, forced=indices)
            own = np.sort(rank_desc(logits.numpy(), gi.top_k), axis=1)
        if indices is not None:
            mism = (np.sort(indices, axis=1) != own).any(axis=1)
            writer.forced_mismatch += int(mism[writer._batch["keep"]].sum())
        writer.record_ranked(layer, ids, scores, logits=logits if writer.store_logits else None)
    return hook


def record_hf(model, path: str, depth: Optional[int] = None, *, model_name: Optional[str] = None,
              domain_names: Optional[Sequence[str]] = None, store_logits: bool = False,
              chunk_tokens: int = DEFAULT_CHUNK_TOKENS, source: Optional[str] = None):
    """Create a TraceWriter for a transformers MoE model and hook its gates.
    Returns (writer, recorder).  Default depth: E if E <= 16, else 2*top_k."""
    gates = find_hf_moe_gates(model)
    if not gates:
        raise ValueError(f"no MoE gate found in {type(model).__name__}")
    kinds = {g.kind for g in gates}
    Es = {g.num_experts for g in gates}
    ks = {g.top_k for g in gates}
    if len(kinds) != 1 or len(Es) != 1 or len(ks) != 1:
        raise ValueError(f"mixed MoE layers not supported: kinds={kinds} experts={Es} top_k={ks}")
    E, top_k, kind = Es.pop(), ks.pop(), kinds.pop()
    if depth is None:
        depth = E if E <= 16 else min(E, 2 * top_k)
    if depth < top_k:
        raise ValueError(f"depth {depth} < top_k {top_k}")
    cfg = getattr(model, "config", None)
    if model_name is None:
        model_name = getattr(cfg, "_name_or_path", "") or type(model).__name__
    try:
        import transformers
        tv = transformers.__version__
    except ImportError:  # pragma: no cover
        tv = "?"
    if source is None:
        source = (f"moesim recorder (tools/moesim_record.py) on torch {torch.__version__}, "
                  f"transformers {tv}")
    extra = {"top_k": top_k, "model_class": type(model).__name__,
             "moe_block_class": type(gates[0].block).__name__,
             "decoder_layers": [g.decoder_layer for g in gates]}
    extra.update(gates[0].extras)
    writer = TraceWriter(path, len(gates), E, depth, model=model_name,
                         score_kind="sigmoid" if kind == "deepseek_v3" else "softmax",
                         source=source, domain_names=domain_names, store_logits=store_logits,
                         chunk_tokens=chunk_tokens, extra_attrs=extra)
    rec = Recorder(writer)
    for i, g in enumerate(gates):
        rec.add_hook_fn(g.gate, _hf_hook(writer, i, g, rec))
        rec.layers.append(g.name)
    return writer, rec


# --------------------------------------------------------------------------
# validation and statistics
# --------------------------------------------------------------------------

MAX_EXPERTS = 32767     # expert ids are int16


def _same_dtype(got, want) -> bool:
    """Same kind and width; either byte order (HDF5 converts a big-endian int16 on read)."""
    got, want = np.dtype(got), np.dtype(want)
    return got.kind == want.kind and got.itemsize == want.itemsize


def _iter_blocks(T: int, block: int):
    for t0 in range(0, T, block):
        yield t0, min(T, t0 + block)


def validate(path: str, block: int = 1 << 18, strict_chunks: bool = True) -> List[str]:
    """Problems found in a trace file (empty list = valid).  Reads layer by
    layer in token blocks, so it works on files larger than memory."""
    errs: List[str] = []
    try:
        f = h5py.File(path, "r")
    except OSError as e:     # not HDF5, truncated, unreadable: a problem, not a traceback
        return [f"cannot open {path} as HDF5: {e}"]
    with f:
        a = f.attrs
        need = {"format": "str", "version": np.int32, "num_layers": np.int32, "num_experts": np.int32,
                "depth": np.int32, "num_tokens": np.int64, "model": "str", "score_kind": "str",
                "source": "str", "created": "str"}
        for k, t in need.items():
            if k not in a:
                errs.append(f"missing root attribute {k}")
                continue
            v = a[k]
            if t == "str":
                if not isinstance(v, (bytes, str, np.bytes_, np.str_)):
                    errs.append(f"attribute {k} is not a string ({type(v).__name__})")
            elif not _same_dtype(np.asarray(v).dtype, t) or np.asarray(v).shape != ():
                errs.append(f"attribute {k} has dtype {np.asarray(v).dtype}, expected {np.dtype(t)} scalar")
        if errs:
            return errs
        if _attr_str(a["format"]) != FORMAT_NAME:
            errs.append(f"format is {_attr_str(a['format'])!r}")
        if int(a["version"]) != FORMAT_VERSION:
            errs.append(f"version {int(a['version'])} != {FORMAT_VERSION}")
        kind = _attr_str(a["score_kind"])
        if kind not in SCORE_KINDS:
            errs.append(f"score_kind {kind!r} not in {SCORE_KINDS}")
        L, E, K, T = int(a["num_layers"]), int(a["num_experts"]), int(a["depth"]), int(a["num_tokens"])
        if L < 1:
            errs.append(f"num_layers {L} must be at least 1")
        if not (1 <= E <= MAX_EXPERTS):
            errs.append(f"num_experts {E} not in 1..{MAX_EXPERTS} (ids are int16)")
        if not (1 <= K <= E):
            errs.append(f"depth {K} not in 1..num_experts {E}")
        if T < 0:
            errs.append(f"num_tokens {T} is negative")
        if "top_k" in a:     # optional, but when present an int32 scalar in 1..depth
            v = np.asarray(a["top_k"])
            if not _same_dtype(v.dtype, np.int32) or v.shape != ():
                errs.append(f"attribute top_k has dtype {v.dtype}, expected int32 scalar")
            elif not (1 <= int(v) <= K):
                errs.append(f"top_k {int(v)} not in 1..depth {K}")
        if errs:
            return errs      # the datasets' expected shapes come from these
        try:
            _dt.datetime.fromisoformat(_attr_str(a["created"]).replace("Z", "+00:00"))
        except ValueError:
            errs.append("created is not an ISO 8601 date")
        chunkT = max(1, min(T, DEFAULT_CHUNK_TOKENS))
        spec = {"routing/expert_ids": (np.int16, (L, T, K), (1, chunkT, K)),
                "routing/scores": (np.float32, (L, T, K), (1, chunkT, K)),
                "tokens/step": (np.int32, (T,), (chunkT,)),
                "tokens/sequence": (np.int64, (T,), (chunkT,)),
                "tokens/position": (np.int32, (T,), (chunkT,)),
                "tokens/rank": (np.int32, (T,), (chunkT,))}
        if "routing/logits" in f:
            spec["routing/logits"] = (np.float32, (L, T, E), (1, chunkT, E))
        has_dom = "tokens/domain" in f
        if has_dom != ("tokens/domain_names" in f):
            errs.append("tokens/domain and tokens/domain_names must both be present or both absent")
        if has_dom:
            spec["tokens/domain"] = (np.int16, (T,), (chunkT,))
        for name, (dt, shape, chunks) in spec.items():
            if name not in f:
                errs.append(f"missing dataset /{name}")
                continue
            ds = f[name]
            if not _same_dtype(ds.dtype, dt):
                errs.append(f"/{name} dtype {ds.dtype}, expected {np.dtype(dt)}")
            if ds.shape != shape:
                errs.append(f"/{name} shape {ds.shape}, expected {shape}")
            if strict_chunks:
                if ds.chunks != chunks:
                    errs.append(f"/{name} chunks {ds.chunks}, expected {chunks}")
                if ds.compression != "gzip" or ds.compression_opts != GZIP_LEVEL or not ds.shuffle:
                    errs.append(f"/{name} not gzip level {GZIP_LEVEL} + shuffle")
        if errs:
            return errs
        D = 0
        if has_dom:
            dn = f["tokens/domain_names"]
            if dn.dtype.kind != "S" or dn.ndim != 1:
                errs.append("/tokens/domain_names must be a 1-D fixed-length string array")
            D = dn.shape[0]
        ids_ds, sc_ds = f["routing/expert_ids"], f["routing/scores"]
        lg_ds = f["routing/logits"] if "routing/logits" in f else None
        for l in range(L):
            for t0, t1 in _iter_blocks(T, block):
                ids = ids_ds[l, t0:t1, :].astype(np.int64)
                sc = sc_ds[l, t0:t1, :]
                if ids.size == 0:
                    continue
                if ids.min() < 0 or ids.max() >= E:
                    errs.append(f"layer {l}: expert id out of range in tokens {t0}..{t1}")
                s = np.sort(ids, axis=1)
                if K > 1 and (s[:, 1:] == s[:, :-1]).any():
                    errs.append(f"layer {l}: repeated expert id within a token in tokens {t0}..{t1}")
                if not np.isfinite(sc).all():
                    errs.append(f"layer {l}: non-finite score in tokens {t0}..{t1}")
                if kind == "softmax":
                    if K > 1 and (np.diff(sc, axis=1) > 0).any():
                        errs.append(f"layer {l}: softmax scores increase along depth in tokens {t0}..{t1}")
                    if (sc < 0).any() or (sc > 1).any():
                        errs.append(f"layer {l}: softmax score outside [0, 1] in tokens {t0}..{t1}")
                if kind == "sigmoid" and ((sc < 0).any() or (sc > 1).any()):
                    errs.append(f"layer {l}: sigmoid score outside [0, 1] in tokens {t0}..{t1}")
                if lg_ds is not None and kind in ("softmax", "sigmoid"):
                    lg = lg_ds[l, t0:t1, :]
                    if not np.isfinite(lg).all():
                        errs.append(f"layer {l}: non-finite logits in tokens {t0}..{t1}")
                    # tokens with an id out of range are reported above and not compared
                    ok = ((ids >= 0) & (ids < E)).all(axis=1)
                    lg, ids_ok, sc_ok = lg[ok], ids[ok], sc[ok]
                    got = np.take_along_axis(lg, ids_ok, axis=1)
                    ref = (np.exp(got - lg.max(axis=1, keepdims=True)) /
                           np.exp(lg - lg.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)
                           if kind == "softmax" else 1.0 / (1.0 + np.exp(-got)))
                    if not np.allclose(ref, sc_ok, rtol=1e-4, atol=1e-6):
                        errs.append(f"layer {l}: scores do not match logits in tokens {t0}..{t1}")
                if len(errs) > 20:
                    return errs
        prev = None
        for t0, t1 in _iter_blocks(T, block):
            key = np.stack([f["tokens/step"][t0:t1].astype(np.int64), f["tokens/rank"][t0:t1].astype(np.int64),
                            f["tokens/sequence"][t0:t1], f["tokens/position"][t0:t1].astype(np.int64)], axis=1)
            if prev is not None:
                key = np.concatenate([prev[None], key])
            d = np.zeros(len(key) - 1, dtype=np.int8)   # -1 less, 0 equal, 1 greater, decided per column
            for c in range(4):
                und = d == 0
                d[und & (key[1:, c] > key[:-1, c])] = 1
                d[und & (key[1:, c] < key[:-1, c])] = -1
            if (d <= 0).any():
                i = int(np.argmax(d <= 0))
                errs.append(f"tokens not strictly ordered by (step, rank, sequence, position) near token {t0 + i}")
                break
            prev = key[-1]
            if has_dom:
                dom = f["tokens/domain"][t0:t1]
                if dom.size and (dom.min() < 0 or dom.max() >= D):
                    errs.append(f"/tokens/domain out of range 0..{D - 1}")
            pos = f["tokens/position"][t0:t1]
            if pos.size and pos.min() < 0:
                errs.append("negative /tokens/position")
            rk = f["tokens/rank"][t0:t1]
            if rk.size and rk.min() < 0:
                errs.append("negative /tokens/rank")
    return errs


def trace_stats(path: str, top_k: Optional[int] = None, block: int = 1 << 18) -> dict:
    """Load skew and domain specialisation of a trace.

    Per layer, over the first ``top_k`` ranked experts of every token
    (default: the file's ``top_k`` attribute, else depth): expert loads, max/mean
    load; per domain, the share of that domain's assignments taken by its most
    used expert ("dominant expert share", uniform = 1/E); per expert, the share
    of its assignments from its most common domain ("expert purity"), and the
    mutual information between domain and expert in bits; and the max/mean
    load within each step and each (step, rank) micro-batch (mean and worst).
    """
    with h5py.File(path, "r") as f:
        a = f.attrs
        L, E, K, T = int(a["num_layers"]), int(a["num_experts"]), int(a["depth"]), int(a["num_tokens"])
        k = int(top_k or a.get("top_k", K))
        names = [n.decode() for n in f["tokens/domain_names"][:]] if "tokens/domain_names" in f else []
        D = max(1, len(names))
        counts = np.zeros((L, D, E), dtype=np.int64)
        # per-batch loads: (step) and (step, rank) groups, accumulated across blocks
        groups: Dict[str, Dict[Tuple[int, ...], np.ndarray]] = {"step": {}, "step_rank": {}}
        for t0, t1 in _iter_blocks(T, block):
            dom = f["tokens/domain"][t0:t1].astype(np.int64) if names else np.zeros(t1 - t0, dtype=np.int64)
            stp = f["tokens/step"][t0:t1].astype(np.int64)
            rnk = f["tokens/rank"][t0:t1].astype(np.int64)
            ids_l = [f["routing/expert_ids"][l, t0:t1, :k].astype(np.int64) for l in range(L)]
            for l in range(L):
                np.add.at(counts[l], (np.repeat(dom, k), ids_l[l].reshape(-1)), 1)
            for gname, keys in (("step", (stp,)), ("step_rank", (stp, rnk))):
                kk = np.stack(keys, axis=1)
                uniq, inv = np.unique(kk, axis=0, return_inverse=True)
                inv = inv.reshape(-1)
                for gi, u in enumerate(uniq):
                    sel = inv == gi
                    acc = groups[gname].setdefault(tuple(int(v) for v in u), np.zeros((L, E), dtype=np.int64))
                    for l in range(L):
                        acc[l] += np.bincount(ids_l[l][sel].reshape(-1), minlength=E)
        dom_tokens = np.bincount(f["tokens/domain"][:], minlength=D).tolist() if names else [T]
    out = {"num_tokens": T, "num_layers": L, "num_experts": E, "depth": K, "top_k_used": k,
           "domains": names, "domain_tokens": dom_tokens, "layers": []}
    for l in range(L):
        c = counts[l]
        load = c.sum(axis=0)
        tot = load.sum()
        p = c / max(1, tot)
        pd = p.sum(axis=1, keepdims=True)
        pe = p.sum(axis=0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            mi = np.nansum(np.where(p > 0, p * np.log2(p / (pd * pe)), 0.0))
        lay = {"layer": l, "load": load.tolist(),
               "load_share": (load / max(1, tot)).round(4).tolist(),
               "max_over_mean": float(load.max() / max(1e-12, load.mean())),
               "min_over_mean": float(load.min() / max(1e-12, load.mean())),
               "mutual_information_bits": float(mi)}
        for gname, g in groups.items():
            if g:
                mm = np.array([v[l].max() / max(1e-12, v[l].mean()) for v in g.values()])
                lay[f"per_{gname}_max_over_mean"] = {"groups": len(mm), "mean": float(mm.mean()),
                                                     "max": float(mm.max())}
        if names:
            lay["dominant_expert"] = {names[d]: {"expert": int(c[d].argmax()),
                                                 "share": float(c[d].max() / max(1, c[d].sum()))}
                                      for d in range(D)}
            lay["expert_purity"] = [{"expert": e, "domain": names[int(c[:, e].argmax())],
                                     "share": float(c[:, e].max() / max(1, c[:, e].sum()))} for e in range(E)]
        out["layers"].append(lay)
    return out


def format_stats(st: dict) -> str:
    lines = [f"tokens {st['num_tokens']}  layers {st['num_layers']}  experts {st['num_experts']}  "
             f"depth {st['depth']}  (loads over top-{st['top_k_used']})"]
    if st["domains"]:
        lines.append("domains: " + ", ".join(f"{n} ({t} tokens)" for n, t in zip(st["domains"], st["domain_tokens"])))
    for lay in st["layers"]:
        lines.append(f"layer {lay['layer']}: max/mean load {lay['max_over_mean']:.3f}  "
                     f"min/mean {lay['min_over_mean']:.3f}  MI(domain;expert) {lay['mutual_information_bits']:.3f} bits")
        for gname in ("step", "step_rank"):
            g = lay.get(f"per_{gname}_max_over_mean")
            if g:
                lines.append(f"   per-{gname.replace('_', '/')} max/mean load: mean {g['mean']:.3f}, "
                             f"worst {g['max']:.3f} over {g['groups']} batches")
        lines.append("   load share " + " ".join(f"{x:.3f}" for x in lay["load_share"]))
        if "dominant_expert" in lay:
            lines.append("   dominant expert share " + "  ".join(
                f"{d}: e{v['expert']} {v['share']:.3f}" for d, v in lay["dominant_expert"].items()))
            lines.append("   expert purity " + " ".join(
                f"e{p['expert']}:{p['domain'][:6]} {p['share']:.2f}" for p in lay["expert_purity"]))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def _cmd_hf(a) -> int:
    import transformers
    from transformers import AutoModelForCausalLM
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[a.dtype]
    try:
        model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype)
    except TypeError:  # transformers < 4.56 spells it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=dtype)
    model.eval()
    vocab = int(model.config.get_text_config().vocab_size if hasattr(model.config, "get_text_config")
                else model.config.vocab_size)
    if a.tokenizer == "bytes":
        encode = lambda s: [b % vocab for b in s.encode("utf-8")]  # noqa: E731
    else:
        tok = transformers.AutoTokenizer.from_pretrained(a.tokenizer or a.model)
        encode = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    domains, texts = [], []
    for spec in a.text:
        name, _, p = spec.partition("=")
        if not p:
            raise SystemExit(f"--text wants NAME=FILE, got {spec!r}")
        domains.append(name)
        with open(p, "r", encoding="utf-8", errors="replace") as fh:
            texts.append(fh.read())
    # windows of seq_len tokens, per domain, interleaved domain by domain
    seqs = []
    for d, t in enumerate(texts):
        ids = encode(t)
        n = min(a.sequences_per_domain, len(ids) // a.seq_len)
        for i in range(n):
            seqs.append((i, d, ids[i * a.seq_len:(i + 1) * a.seq_len]))
    seqs = [(d, x) for (i, d, x) in sorted(seqs, key=lambda r: (r[0], r[1]))]   # interleave domains
    w, rec = record_hf(model, a.out, depth=a.depth, model_name=a.model_name or a.model,
                       domain_names=domains, store_logits=a.logits)
    ok = False
    try:
        with torch.no_grad():
            for step, s0 in enumerate(range(0, len(seqs), a.batch)):
                chunk = seqs[s0:s0 + a.batch]
                x = torch.tensor([c[1] for c in chunk], dtype=torch.long)
                meta = token_meta(step, np.arange(s0, s0 + len(chunk)), a.seq_len,
                                  domain=[c[0] for c in chunk])
                with w.batch(**meta):
                    model(input_ids=x)
        ok = True
    finally:
        rec.remove()
        if ok:
            w.close()
        else:
            w.abort()
    print(f"wrote {a.out}: {w.T} tokens, {w.L} MoE layers, E={w.E}, depth={w.K}"
          + (f", {w.forced_mismatch} token-layers where our ranking's top-k differed from the model's"
             if w.forced_mismatch else ""))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="moesim_record.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("validate", help="check a trace against the format")
    v.add_argument("trace")
    v.add_argument("--no-strict-chunks", action="store_true", help="do not check chunk shape / filters")
    s = sub.add_parser("stats", help="load skew and domain specialisation")
    s.add_argument("trace")
    s.add_argument("--top-k", type=int)
    s.add_argument("--json", action="store_true")
    h = sub.add_parser("hf", help="record a transformers MoE causal LM on text files")
    h.add_argument("--model", required=True, help="local directory (or hub id if cached)")
    h.add_argument("--model-name", help="value of the model attribute (default --model)")
    h.add_argument("--out", required=True)
    h.add_argument("--text", action="append", required=True, metavar="DOMAIN=FILE")
    h.add_argument("--tokenizer", help="tokenizer dir, or 'bytes' for raw UTF-8 bytes mod vocab")
    h.add_argument("--seq-len", type=int, default=512)
    h.add_argument("--batch", type=int, default=4)
    h.add_argument("--sequences-per-domain", type=int, default=16)
    h.add_argument("--depth", type=int)
    h.add_argument("--logits", action="store_true", help="also store /routing/logits")
    h.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    a = ap.parse_args(argv)
    if a.cmd == "validate":
        errs = validate(a.trace, strict_chunks=not a.no_strict_chunks)
        for e in errs:
            print("INVALID:", e)
        if not errs:
            print(f"{a.trace}: valid moesim trace v{FORMAT_VERSION}")
        return 1 if errs else 0
    if a.cmd == "stats":
        st = trace_stats(a.trace, a.top_k)
        print(json.dumps(st, indent=1) if a.json else format_stats(st))
        return 0
    if a.cmd == "hf":
        return _cmd_hf(a)
    return 2


if __name__ == "__main__":
    sys.exit(main())
