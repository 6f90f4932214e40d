"""A tiny byte-level Mixture-of-Experts language model in plain PyTorch.

Decoder-only transformer, pre-LayerNorm, learned positions, tied input/output
embedding over the 256 byte values.  Every block's feed-forward part is a
sparse MoE layer: a bias-free linear router (``moe.gate``, like Hugging Face
Mixtral) gives logits over E experts, softmax gives probabilities, each token
goes to its top-k experts with the top-k probabilities renormalised to sum to 1
(Mixtral style).  Training adds the Switch/Mixtral load-balancing loss

    aux = E * sum_e f_e * P_e,   f_e = fraction of the T*k assignments that went
                                       to expert e (times k, as in HF Mixtral's
                                       load_balancing_loss_func),
                                 P_e = mean router probability of expert e,

weighted by ``aux_coef`` (0.01) and averaged over layers.  With perfect
balance the per-layer term equals k.

Written for torch >= 1.13 (no scaled_dot_product_attention needed).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TinyMoEConfig:
    vocab_size: int = 256
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_experts: int = 8
    top_k: int = 2
    d_expert: int = 256
    max_seq_len: int = 256
    aux_coef: float = 0.01

    def to_dict(self):
        return asdict(self)


class Experts(nn.Module):
    """E independent GELU MLPs d_model -> d_expert -> d_model, stored batched."""

    def __init__(self, cfg: TinyMoEConfig):
        super().__init__()
        E, d, h = cfg.n_experts, cfg.d_model, cfg.d_expert
        self.w1 = nn.Parameter(torch.randn(E, d, h) / math.sqrt(d))
        self.b1 = nn.Parameter(torch.zeros(E, h))
        self.w2 = nn.Parameter(torch.randn(E, h, d) / math.sqrt(h) / 2.0)
        self.b2 = nn.Parameter(torch.zeros(E, d))

    def forward(self, x, ids, weights):
        # x [n, d]; ids, weights [n, k]
        n, k = ids.shape
        out = torch.zeros_like(x)
        flat_ids = ids.reshape(-1)
        tok = torch.arange(n, device=x.device).repeat_interleave(k)
        w = weights.reshape(-1)
        order = torch.argsort(flat_ids)
        counts = torch.bincount(flat_ids, minlength=self.w1.shape[0]).tolist()
        start = 0
        for e, c in enumerate(counts):
            if c == 0:
                continue
            sel = order[start:start + c]
            start += c
            t = tok[sel]
            h = F.gelu(x[t] @ self.w1[e] + self.b1[e])
            y = (h @ self.w2[e] + self.b2[e]) * w[sel].unsqueeze(1)
            out.index_add_(0, t, y)
        return out


class MoE(nn.Module):
    def __init__(self, cfg: TinyMoEConfig):
        super().__init__()
        self.cfg = cfg
        self.gate = nn.Linear(cfg.d_model, cfg.n_experts, bias=False)
        nn.init.normal_(self.gate.weight, std=0.02)
        self.experts = Experts(cfg)

    def forward(self, x):
        B, S, d = x.shape
        h = x.reshape(B * S, d)
        logits = self.gate(h)                                   # [n, E]
        probs = torch.softmax(logits.float(), dim=-1)
        topw, topi = torch.topk(probs, self.cfg.top_k, dim=-1)
        topw = topw / topw.sum(dim=-1, keepdim=True)
        y = self.experts(h, topi, topw.to(h.dtype))
        # load-balancing loss, HF Mixtral formulation (balanced value = top_k)
        E = self.cfg.n_experts
        mask = F.one_hot(topi, E).float()                       # [n, k, E]
        tokens_per_expert = mask.mean(dim=0)                    # [k, E]
        prob_per_expert = probs.mean(dim=0)                     # [E]
        aux = (tokens_per_expert * prob_per_expert.unsqueeze(0)).sum() * E
        return y.reshape(B, S, d), aux, logits


class Block(nn.Module):
    def __init__(self, cfg: TinyMoEConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.moe = MoE(cfg)

    def forward(self, x, causal_mask):
        B, S, d = x.shape
        H = self.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q = q.view(B, S, H, d // H).transpose(1, 2)
        k = k.view(B, S, H, d // H).transpose(1, 2)
        v = v.view(B, S, H, d // H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // H)
        att = att.masked_fill(causal_mask[:S, :S], float("-inf"))
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, S, d)
        x = x + self.proj(y)
        m, aux, _ = self.moe(self.ln2(x))
        return x + m, aux


class TinyMoELM(nn.Module):
    def __init__(self, cfg: TinyMoEConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_seq_len, cfg.d_model)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        mask = torch.triu(torch.ones(cfg.max_seq_len, cfg.max_seq_len, dtype=torch.bool), 1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def moe_layers(self):
        return [b.moe for b in self.blocks]

    def forward(self, idx, targets=None):
        B, S = idx.shape
        x = self.tok(idx) + self.pos(torch.arange(S, device=idx.device))
        aux_total = x.new_zeros(())
        for b in self.blocks:
            x, aux = b(x, self.causal_mask)
            aux_total = aux_total + aux
        logits = self.ln_f(x) @ self.tok.weight.t()
        if targets is None:
            return logits
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        aux_mean = aux_total / len(self.blocks)
        return logits, ce, aux_mean


def save_checkpoint(model: TinyMoELM, path: str, extra: dict | None = None):
    """fp16 weights + config; loads back into an fp32 model.  Config and extra
    information are stored as JSON strings so that the file holds only
    strings and tensors and loads with ``torch.load(weights_only=True)`` on
    every torch from 1.13 (whose safe unpickler rejects floats) on."""
    sd = {k: v.detach().to(torch.float16).clone() for k, v in model.state_dict().items()}
    torch.save({"config_json": json.dumps(model.cfg.to_dict(), sort_keys=True),
                "extra_json": json.dumps(extra or {}, sort_keys=True), "state_dict": sd}, path)


def read_checkpoint(path: str) -> dict:
    """{"config": dict, "extra": dict, "state_dict": {name: fp16 tensor}}."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch without weights_only
        ck = torch.load(path, map_location="cpu")
    return {"config": json.loads(ck["config_json"]), "extra": json.loads(ck["extra_json"]),
            "state_dict": ck["state_dict"]}


def load_checkpoint(path: str) -> TinyMoELM:
    ck = read_checkpoint(path)
    model = TinyMoELM(TinyMoEConfig(**ck["config"]))
    model.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()})
    model.eval()
    return model
