#!/usr/bin/env python3
"""Runs every row of docs/validation.md: the moesim command that predicts a published
measurement, the prediction, and the error. Prints the Markdown table the document holds.

    /usr/bin/python3 tools/validation/run_validation.py [--moesim ./moesim] [--only V1,V9]

One parameter set for every row: moesim's defaults (cited in docs/network.md) and the
built-in datasheets; nothing here is fitted to a row. Sources of the measurements:
docs/validation-sources.md (row ids are the same).
"""
import argparse
import re
import subprocess
import sys

# The DeepSeek-V3 MoE layer the DeepEP and pplx benchmarks use: hidden 7168, 256 experts,
# top-8, i.i.d. scores (uniform routing, nothing dropped), FP8 dispatch, BF16 combine.
V3 = ("--set model.hidden=7168 --set model.ffn_hidden=2048 --set model.experts=256 --set model.top_k=8 "
      "--set model.moe_layers=1 --set model.heads=128 --set model.kv_heads=128 --set model.head_dim=128 "
      "--set routing.source=synthetic --set routing.distribution=uniform --set routing.capacity_factor=dropless "
      "--set cluster.gpus_per_node=8 --set network.topology=rail --set model.dispatch_dtype=fp8 "
      "--set model.combine_dtype=bf16 --set workload.mode=prefill")


def moe(gpu, nodes, tokens, dispatcher, extra=""):
    s = (f"run {V3} --set cluster.gpu={gpu} --set cluster.nodes={nodes} --set parallel.ep={8 * nodes} "
         f"--set workload.tokens_per_rank={tokens} --set workload.seq_len={tokens} --set network.dispatcher={dispatcher}")
    return s + (" " + extra if extra else "")


def nl(nodes):
    return f"--set routing.node_limit={min(nodes, 4)}"


AN = "--set network.model=analytic"  # the 1,024- and 2,048-GPU rows: the flow model takes minutes there

# (id, what, measured us, command, phase)
ROWS = [
    ("V1", "DeepEP normal, H800, EP8 (1 node), 4096 tok, dispatch", 1048, moe("h800", 1, 4096, "deepep"), "dispatch"),
    ("V2", "DeepEP normal, H800, EP8, combine", 1968, moe("h800", 1, 4096, "deepep"), "combine"),
    ("V3", "DeepEP normal, H800+CX7, EP16 (2 nodes), dispatch", 1403, moe("h800", 2, 4096, "deepep", nl(2)), "dispatch"),
    ("V4", "DeepEP normal, EP16, combine", 2722, moe("h800", 2, 4096, "deepep", nl(2)), "combine"),
    ("V5", "DeepEP normal, EP32 (4 nodes), dispatch", 1887, moe("h800", 4, 4096, "deepep", nl(4)), "dispatch"),
    ("V6", "DeepEP normal, EP32, combine", 3723, moe("h800", 4, 4096, "deepep", nl(4)), "combine"),
    ("V7", "DeepEP normal, EP64 (8 nodes), dispatch", 2365, moe("h800", 8, 4096, "deepep", nl(8)), "dispatch"),
    ("V8", "DeepEP normal, EP64, combine", 4678, moe("h800", 8, 4096, "deepep", nl(8)), "combine"),
    ("V9", "DeepEP low-latency, H800, EP8, 128 tok, dispatch", 77, moe("h800", 1, 128, "deepep_ll"), "dispatch"),
    ("V9c", "DeepEP low-latency, EP8, combine", 114, moe("h800", 1, 128, "deepep_ll"), "combine"),
    ("V10", "DeepEP low-latency, EP16, dispatch", 118, moe("h800", 2, 128, "deepep_ll"), "dispatch"),
    ("V10c", "DeepEP low-latency, EP16, combine", 195, moe("h800", 2, 128, "deepep_ll"), "combine"),
    ("V11", "DeepEP low-latency, EP32, dispatch", 155, moe("h800", 4, 128, "deepep_ll"), "dispatch"),
    ("V11c", "DeepEP low-latency, EP32, combine", 273, moe("h800", 4, 128, "deepep_ll"), "combine"),
    ("V12", "DeepEP low-latency, EP64, dispatch", 173, moe("h800", 8, 128, "deepep_ll"), "dispatch"),
    ("V12c", "DeepEP low-latency, EP64, combine", 314, moe("h800", 8, 128, "deepep_ll"), "combine"),
    ("V13", "DeepEP low-latency, EP128, dispatch", 192, moe("h800", 16, 128, "deepep_ll", AN), "dispatch"),
    ("V13c", "DeepEP low-latency, EP128, combine", 369, moe("h800", 16, 128, "deepep_ll", AN), "combine"),
    ("V14", "DeepEP low-latency, EP256, dispatch", 194, moe("h800", 32, 128, "deepep_ll", AN), "dispatch"),
    ("V14c", "DeepEP low-latency, EP256, combine", 360, moe("h800", 32, 128, "deepep_ll", AN), "combine"),
    ("V15", "DeepEP normal (UCCL-EP run), H200, EP8, dispatch", 500, moe("h200", 1, 4096, "deepep"), "dispatch"),
    ("V15c", "DeepEP normal (UCCL-EP run), H200, EP8, combine", 973, moe("h200", 1, 4096, "deepep"), "combine"),
    ("V17", "pplx-kernels NVLink, H100, EP8, 128 tok, dispatch", 83.6, moe("h100-sxm", 1, 128, "deepep_ll"), "dispatch"),
    ("V17c", "pplx-kernels NVLink, H100, EP8, 128 tok, combine", 102.3, moe("h100-sxm", 1, 128, "deepep_ll"), "combine"),
    ("V19", "pplx-kernels NVLink, H100, EP8, 1 tok, dispatch", 41.6, moe("h100-sxm", 1, 1, "deepep_ll"), "dispatch"),
    ("V19c", "pplx-kernels NVLink, H100, EP8, 1 tok, combine", 41.7, moe("h100-sxm", 1, 1, "deepep_ll"), "combine"),
]

UNIT = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def phase_us(out, phase):
    m = re.search(r"^\s+%s\s+([0-9.]+) (ns|us|ms|s)\s" % phase, out, re.M)
    if not m:
        raise ValueError("no %s phase in the output" % phase)
    return float(m.group(1)) * UNIT[m.group(2)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moesim", default="./moesim")
    ap.add_argument("--only", default="", help="comma-separated row ids")
    a = ap.parse_args()
    only = set(x for x in a.only.split(",") if x)
    print("`$V3` stands for `%s`.\n" % V3)
    print("| row | measurement | measured | moesim | error | command |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for rid, what, meas, cmd, phase in ROWS:
        if only and rid not in only:
            continue
        p = subprocess.run([a.moesim] + cmd.split(), capture_output=True, text=True)
        if p.returncode != 0:
            print("%s: moesim failed: %s" % (rid, p.stderr.strip()), file=sys.stderr)
            return 1
        pred = phase_us(p.stdout, phase)
        err = 100.0 * (pred - meas) / meas
        worst = max(worst, abs(err))
        shown = cmd.replace(V3, "$V3")
        print("| %s | %s | %g us | %.1f us | %+.0f %% | `moesim %s` |" % (rid, what, meas, pred, err, shown))
    print("\nworst |error| %.0f %%" % worst, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
