#!/usr/bin/env python3
"""Writes the small importer samples in this directory (tests/check_trace.c reads them).
Run from anywhere: python3 tests/data/traces/make_samples.py. Needs numpy (for .npy files
as numpy.save writes them). The expected values are spelled out in tests/check_trace.c.

  sample.jsonl              generic JSONL: 3 tokens x 2 layers, top-2, probs, metadata,
                            rows out of order (tokens must be sorted on import)
  vllm-seq0.npy             vLLM CompletionOutput.routed_experts saved with numpy.save:
                            int16 [4 tokens, 3 MoE layers, top-2]
  vllm-response.json        an OpenAI-compatible response of vLLM with
                            --enable-return-routed-experts: prompt_routed_experts as a base64
                            .npy (numpy2base64), choices[0].routed_experts as nested lists
  megatron/router_trace_rank{0,1}.jsonl
                            Megatron-Core router_trace.py records (no logits): 2 steps,
                            layers 1 and 3 (layer 2 dense), rank 0 with 2 micro-batches in step 0
  megatron-logits/router_trace_rank0.jsonl, logits_rank0.bin
                            1 step, layer 0, 3 tokens, topk 2, bfloat16 logits of 4 experts;
                            top_indices listed by expert id (as the routing-map path does)
"""
import base64
import io
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def w(name, text):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text)


def jsonl():
    rows = [
        {"layer": 1, "token": 2, "experts": [3, 0], "probs": [0.5, 0.25], "step": 0, "sequence": 7, "position": 0,
         "domain": "code"},
        {"layer": 0, "token": 0, "experts": [1, 2], "probs": [0.625, 0.125], "step": 0, "sequence": 9, "position": 1,
         "domain": "prose"},
        {"layer": 0, "token": 1, "experts": [2, 3], "probs": [0.75, 0.125], "step": 0, "sequence": 9, "position": 0,
         "domain": "prose"},
        {"layer": 1, "token": 0, "experts": [0, 1], "probs": [0.5, 0.5]},
        {"layer": 0, "token": 2, "experts": [0, 1], "probs": [0.875, 0.0625]},
        {"layer": 1, "token": 1, "experts": [1, 3], "probs": [0.375, 0.25]},
    ]
    w("sample.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a, allow_pickle=False)
    return b.getvalue()


def vllm():
    seq0 = np.array([[[0, 1], [2, 3], [4, 5]],
                     [[1, 0], [3, 2], [5, 4]],
                     [[6, 7], [0, 2], [1, 3]],
                     [[7, 6], [2, 0], [3, 1]]], dtype=np.int16)
    with open(os.path.join(HERE, "vllm-seq0.npy"), "wb") as f:
        f.write(npy_bytes(seq0))
    prompt = np.array([[[5, 4], [3, 2], [1, 0]],
                       [[4, 5], [2, 3], [0, 1]]], dtype=np.int16)
    resp = {"id": "cmpl-test", "object": "text_completion", "model": "Qwen/Qwen3-30B-A3B",
            "prompt_routed_experts": base64.b64encode(npy_bytes(prompt)).decode("ascii"),
            "choices": [{"index": 0, "text": " Paris", "finish_reason": "length",
                         "routed_experts": [[[7, 1], [6, 2], [5, 3]]]}]}
    w("vllm-response.json", json.dumps(resp) + "\n")


def rec(step, layer, rank, rows, block="decoder", **extra):
    r = {"step": step, "stage": "pre_dispatch", "block": block, "layer": layer, "rank": rank,
         "num_tokens": len(rows), "topk": len(rows[0])}
    r.update(extra)
    r["top_indices"] = rows
    return json.dumps(r) + "\n"


def megatron():
    d = os.path.join(HERE, "megatron")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "router_trace_rank0.jsonl"), "w") as f:
        # step 0: two micro-batches (2 and 1 tokens); layer 3's records interleave with layer 1's
        f.write(rec(0, 1, 0, [[0, 1], [2, 3]]))
        f.write(rec(0, 3, 0, [[4, 5], [6, 7]]))
        f.write(rec(0, 1, 0, [[1, 2]]))
        f.write(rec(0, 3, 0, [[5, 6]]))
        f.write(rec(0, 0, 0, [[0, 7]], block="mtp", mtp_idx=0))
        f.write(rec(1, 1, 0, [[7, 6]]))
        f.write(rec(1, 3, 0, [[0, 2]]))
    with open(os.path.join(d, "router_trace_rank1.jsonl"), "w") as f:
        f.write(rec(0, 1, 1, [[3, 4], [4, 5]]))
        f.write(rec(0, 3, 1, [[1, 0], [2, 1]]))
        f.write(rec(1, 1, 1, [[6, 5]]))
        f.write(rec(1, 3, 1, [[3, 7]]))
    d = os.path.join(HERE, "megatron-logits")
    os.makedirs(d, exist_ok=True)
    logits = np.array([[0.5, 2.0, -1.0, 1.0],
                       [3.0, -2.0, 0.25, 0.0],
                       [-0.5, 0.5, 1.5, 1.0]], dtype=np.float32)
    bf16 = (logits.view(np.uint32) >> 16).astype("<u2")  # exact: these values have short mantissas
    with open(os.path.join(d, "logits_rank0.bin"), "wb") as f:
        f.write(b"\0" * 6)  # an earlier record's bytes: the offset must be honoured
        f.write(bf16.tobytes())
    with open(os.path.join(d, "router_trace_rank0.jsonl"), "w") as f:
        f.write(rec(0, 0, 0, [[1, 3], [0, 2], [2, 3]], logit_offset=6, logit_bytes=24, logit_shape=[3, 4]))


if __name__ == "__main__":
    jsonl()
    vllm()
    megatron()
