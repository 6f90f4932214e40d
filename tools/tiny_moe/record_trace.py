"""Record a moesim router trace of the tiny MoE LM on held-out text.

    /usr/bin/python3 -m tiny_moe.record_trace        # run from tools/

Uses the generic hook of tools/moesim_record.py on every block's router
(``blocks[i].moe.gate``, an nn.Linear whose output is the router logits).

Layout of the default trace (scenarios/traces/tiny-moe-4dom.h5):
  * 64 windows of 128 bytes from each domain's held-out slice (evenly spaced
    over the slice), 256 sequences in all, pooled and shuffled (seeded);
  * 16 steps x 4 ranks x 4 sequences: every step is one forward pass over 16
    sequences, row r*4+j holding the j-th sequence of "rank" r.  The ranks are
    shards of a single-process recording, labelled as a 4-way data-parallel
    run would label them (inference: a sequence's routing does not depend on
    which process computes it);
  * depth 8 = all experts ranked, softmax probabilities over all 8 experts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
REPO = os.path.dirname(TOOLS)
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

import moesim_record as mr  # noqa: E402

from . import corpus as corpus_mod  # noqa: E402
from .model import load_checkpoint, read_checkpoint  # noqa: E402


def spaced_windows(data: bytes, seq_len: int, n: int) -> np.ndarray:
    arr = np.frombuffer(data, dtype=np.uint8)
    if len(arr) < n * seq_len:
        raise ValueError(f"held-out slice of {len(arr)} bytes too short for {n} windows of {seq_len}")
    stride = len(arr) // n
    return np.stack([arr[i * stride: i * stride + seq_len] for i in range(n)]).astype(np.int64)


BYTE_CLASSES = ("space/tab", "newline", "lowercase", "uppercase", "digit", "other")


def byte_class(b: np.ndarray) -> np.ndarray:
    c = np.full(b.shape, 5, dtype=np.int64)
    c[(b == 32) | (b == 9)] = 0
    c[b == 10] = 1
    c[(b >= 97) & (b <= 122)] = 2
    c[(b >= 65) & (b <= 90)] = 3
    c[(b >= 48) & (b <= 57)] = 4
    return c


def _mi_bits(a: np.ndarray, b: np.ndarray, na: int, nb: int) -> float:
    j = np.zeros((na, nb))
    np.add.at(j, (a, b), 1)
    p = j / j.sum()
    pa, pb = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nansum(np.where(p > 0, p * np.log2(p / (pa * pb)), 0.0)))


def token_specialisation(path: str, input_bytes: np.ndarray) -> str:
    """Top-1 expert vs. the input byte's class and vs. the domain (the bytes
    are not in the trace; the recorder knows them)."""
    import h5py
    with h5py.File(path, "r") as f:
        ids = f["routing/expert_ids"][:, :, 0].astype(np.int64)
        dom = f["tokens/domain"][:].astype(np.int64)
        names = [n.decode() for n in f["tokens/domain_names"][:]]
        E = int(f.attrs["num_experts"])
    bc = byte_class(input_bytes)
    p = np.bincount(bc, minlength=len(BYTE_CLASSES)) / len(bc)
    h = float(-(p[p > 0] * np.log2(p[p > 0])).sum())
    lines = [f"top-1 expert specialisation (entropy of byte class {h:.2f} bits, of domain "
             f"{np.log2(len(names)):.2f} bits):"]
    for l in range(ids.shape[0]):
        t1 = ids[l]
        lines.append(f"layer {l}: MI(top-1 expert; byte class) {_mi_bits(t1, bc, E, len(BYTE_CLASSES)):.3f} bits, "
                     f"MI(top-1 expert; domain) {_mi_bits(t1, dom, E, len(names)):.3f} bits")
        parts = []
        for c, cname in enumerate(BYTE_CLASSES):
            sel = t1[bc == c]
            if len(sel):
                cnt = np.bincount(sel, minlength=E)
                parts.append(f"{cname}: e{cnt.argmax()} {cnt.max() / len(sel):.2f}")
        lines.append("   dominant top-1 expert share by byte class: " + ", ".join(parts))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=os.path.join(HERE, "tiny_moe.pt"))
    ap.add_argument("--out", default=os.path.join(REPO, "scenarios", "traces", "tiny-moe-4dom.h5"))
    ap.add_argument("--seed", type=int, default=1234, help="corpus seed (as in training)")
    ap.add_argument("--shuffle-seed", type=int, default=7)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--seqs-per-rank", type=int, default=4)
    ap.add_argument("--depth", type=int, help="ranking depth (default: all experts)")
    ap.add_argument("--logits", action="store_true", help="also store /routing/logits")
    ap.add_argument("--manifest", default=os.path.join(HERE, "corpus_manifest.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)

    model = load_checkpoint(a.checkpoint)
    cfg = model.cfg
    ck_extra = read_checkpoint(a.checkpoint).get("extra", {})
    corpus = corpus_mod.collect(a.seed)
    names = list(corpus_mod.DOMAINS)
    if os.path.exists(a.manifest):
        man = json.load(open(a.manifest))
        for n in names:
            want = man["domains"][n]["eval_sha256"]
            import hashlib
            got = hashlib.sha256(corpus[n].eval).hexdigest()
            if got != want:
                print(f"WARNING: held-out slice of {n} differs from {a.manifest} "
                      f"(different files on this machine); the trace will differ", file=sys.stderr)
    n_seqs = a.steps * a.ranks * a.seqs_per_rank
    if n_seqs % len(names):
        raise SystemExit("steps*ranks*seqs_per_rank must be a multiple of the number of domains")
    per_dom = n_seqs // len(names)
    S = cfg.max_seq_len
    pool = []
    for d, n in enumerate(names):
        w = spaced_windows(corpus[n].eval, S, per_dom)
        pool.extend((d, w[i]) for i in range(per_dom))
    order = np.random.default_rng(a.shuffle_seed).permutation(len(pool))
    pool = [pool[i] for i in order]

    E = cfg.n_experts
    depth = a.depth or E
    extra = {"top_k": cfg.top_k, "decoder_layers": list(range(cfg.n_layers)),
             "model_class": "TinyMoELM", "moe_block_class": "MoE", "norm_topk_prob": True,
             "aux_loss_coef": cfg.aux_coef, "seq_len": S,
             "description": ("tiny byte-level MoE LM (tools/tiny_moe) on held-out text of 4 domains; "
                             "ranks are shards of a single-process recording")}
    if "final_eval_ce_nats" in ck_extra:
        extra["eval_ce_nats_per_domain"] = json.dumps(ck_extra["final_eval_ce_nats"], sort_keys=True)
    w = mr.TraceWriter(a.out, cfg.n_layers, E, depth, model="tiny-moe-lm", score_kind="softmax",
                       domain_names=names, store_logits=a.logits, extra_attrs=extra)
    rec = mr.Recorder(w)
    for i, moe in enumerate(model.moe_layers()):
        rec.add_module(moe.gate, layer=i, name=f"blocks.{i}.moe.gate")   # output = logits [n, E]
    per_step = a.ranks * a.seqs_per_rank
    ok = False
    try:
        with torch.no_grad():
            for step in range(a.steps):
                batch = pool[step * per_step:(step + 1) * per_step]
                x = torch.from_numpy(np.stack([b[1] for b in batch]))
                seq_ids = np.arange(step * per_step, (step + 1) * per_step)
                ranks = np.repeat(np.arange(a.ranks), a.seqs_per_rank)
                meta = mr.token_meta(step, seq_ids, S, rank=ranks, domain=[b[0] for b in batch])
                with w.batch(**meta):
                    model(x)
        ok = True
    finally:
        rec.remove()
        w.close() if ok else w.abort()
    errs = mr.validate(a.out)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes), {w.T} tokens; "
          + ("valid" if not errs else f"INVALID: {errs}"))
    print(mr.format_stats(mr.trace_stats(a.out)))
    print(token_specialisation(a.out, np.concatenate([b[1] for b in pool])))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
