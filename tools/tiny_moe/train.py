"""Train the tiny byte-level MoE LM on the four-domain corpus (CPU).

    nice -n 10 /usr/bin/python3 -m tiny_moe.train          # run from tools/

Each batch holds the same number of random windows from every domain's
training slice.  Held-out loss per domain is evaluated on fixed, non-
overlapping windows of the evaluation slices.  Prints loss curves and writes
``tiny_moe.pt`` (fp16 weights, ~3.8 MB), ``train_log.jsonl`` and
``corpus_manifest.json`` next to this file unless told otherwise.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

# one BLAS/OpenMP thread: the machine has 2 cores shared with other work, and
# oversubscribed OpenMP/OpenBLAS threads slow training down many times over
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from . import corpus as corpus_mod
from .model import TinyMoEConfig, TinyMoELM, save_checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))


def eval_windows(data: bytes, seq_len: int, n: int) -> torch.Tensor:
    """n non-overlapping windows of seq_len+1 bytes, evenly spaced over data."""
    arr = np.frombuffer(data, dtype=np.uint8)
    span = seq_len + 1
    n = min(n, len(arr) // span)
    stride = len(arr) // n
    rows = [arr[i * stride: i * stride + span] for i in range(n)]
    return torch.from_numpy(np.stack(rows).astype(np.int64))


@torch.no_grad()
def evaluate(model: TinyMoELM, windows: dict, batch: int = 32) -> dict:
    model.eval()
    out = {}
    for name, w in windows.items():
        tot, cnt = 0.0, 0
        for i in range(0, len(w), batch):
            x = w[i:i + batch]
            _, ce, _ = model(x[:, :-1], x[:, 1:])
            tot += ce.item() * x[:, 1:].numel()
            cnt += x[:, 1:].numel()
        out[name] = tot / cnt
    model.train()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=1400)
    ap.add_argument("--batch-per-domain", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--aux-coef", type=float, default=0.01)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--n-layers", type=int, default=4)
    ap.add_argument("--n-heads", type=int, default=4)
    ap.add_argument("--n-experts", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=2)
    ap.add_argument("--d-expert", type=int, default=192)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-windows", type=int, default=32, help="per domain")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=15.0,
                    help="stop early (and say so) past this wall-clock budget")
    ap.add_argument("--out", default=os.path.join(HERE, "tiny_moe.pt"))
    ap.add_argument("--log", default=os.path.join(HERE, "train_log.jsonl"))
    ap.add_argument("--manifest", default=os.path.join(HERE, "corpus_manifest.json"))
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    t_start = time.time()

    corpus = corpus_mod.collect(a.seed)
    names = list(corpus)
    for n in names:
        d = corpus[n]
        print(f"corpus {n:16s} train {len(d.train):8d} B ({len(d.train_files)} files)  "
              f"eval {len(d.eval):7d} B ({len(d.eval_files)} files)", flush=True)
    if a.manifest:
        with open(a.manifest, "w") as f:
            json.dump(corpus_mod.manifest(corpus, a.seed, **corpus_mod.collect_defaults()), f, indent=1)
            f.write("\n")
    train_arrays = [np.frombuffer(corpus[n].train, dtype=np.uint8) for n in names]
    ev = {n: eval_windows(corpus[n].eval, a.seq_len, a.eval_windows) for n in names}

    cfg = TinyMoEConfig(d_model=a.d_model, n_layers=a.n_layers, n_heads=a.n_heads,
                        n_experts=a.n_experts, top_k=a.top_k, d_expert=a.d_expert,
                        max_seq_len=a.seq_len, aux_coef=a.aux_coef)
    model = TinyMoELM(cfg)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model {cfg.to_dict()} params={nparams}", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.95))

    def lr_at(step):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        p = (step - a.warmup) / max(1, a.steps - a.warmup)
        return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * p))

    # per-layer expert load (fraction of top-k assignments) for the log
    loads = [torch.zeros(cfg.n_experts) for _ in range(cfg.n_layers)]

    def make_hook(i):
        def hook(mod, inp, out):
            logits = out[2]
            top = torch.topk(logits.detach(), cfg.top_k, dim=-1).indices
            loads[i] += torch.bincount(top.reshape(-1), minlength=cfg.n_experts).float()
        return hook
    for i, moe in enumerate(model.moe_layers()):
        moe.register_forward_hook(make_hook(i))

    logf = open(a.log, "w") if a.log else None
    span = a.seq_len + 1
    stopped_early = False
    ema = None
    step = 0
    for step in range(a.steps):
        rows = []
        for arr in train_arrays:
            starts = rng.integers(0, len(arr) - span, size=a.batch_per_domain)
            rows.extend(arr[s:s + span] for s in starts)
        x = torch.from_numpy(np.stack(rows).astype(np.int64))
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        _, ce, aux = model(x[:, :-1], x[:, 1:])
        loss = ce + a.aux_coef * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = ce.item() if ema is None else 0.95 * ema + 0.05 * ce.item()
        rec = {"step": step + 1, "time_s": round(time.time() - t_start, 1), "lr": lr_at(step),
               "train_ce": round(ce.item(), 4), "aux": round(aux.item(), 4)}
        last = step + 1 == a.steps
        over = (time.time() - t_start) / 60.0 > a.max_minutes
        if (step + 1) % a.eval_every == 0 or last or over:
            e = evaluate(model, ev)
            rec["eval_ce"] = {k: round(v, 4) for k, v in e.items()}
            maxmean = [round((l.max() / l.mean()).item(), 3) for l in loads]
            rec["load_max_over_mean"] = maxmean
            for l in loads:
                l.zero_()
            print(f"step {step + 1:5d} t={rec['time_s']:6.0f}s lr={rec['lr']:.2e} train_ce(ema)={ema:.3f} "
                  f"aux={aux.item():.3f} eval_ce " + " ".join(f"{k}={v:.3f}" for k, v in e.items())
                  + f" load max/mean={maxmean}", flush=True)
        elif (step + 1) % 10 == 0:
            print(f"step {step + 1:5d} t={rec['time_s']:6.0f}s train_ce(ema)={ema:.3f} aux={aux.item():.3f}",
                  flush=True)
        if logf:
            logf.write(json.dumps(rec) + "\n")
        if over and not last:
            stopped_early = True
            print(f"STOPPED EARLY at step {step + 1}: past --max-minutes {a.max_minutes}", flush=True)
            break
    if logf:
        logf.close()
    final = evaluate(model, ev)
    extra = {"steps_done": step + 1, "steps_planned": a.steps, "stopped_early": stopped_early,
             "train_seconds": round(time.time() - t_start, 1), "final_eval_ce_nats": final,
             "args": vars(a), "torch": str(torch.__version__), "domains": names}
    save_checkpoint(model, a.out, extra)
    print(json.dumps({k: v for k, v in extra.items() if k != "args"}, indent=1))
    print(f"saved {a.out} ({os.path.getsize(a.out)} bytes)")


if __name__ == "__main__":
    main()
