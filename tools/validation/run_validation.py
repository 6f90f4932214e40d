#!/usr/bin/env python3
"""Runs every row of docs/validation.md: the moesim command that predicts a published
measurement, the prediction, and the error. Prints the Markdown table the document holds.

    /usr/bin/python3 tools/validation/run_validation.py [--part moe|coll] [--moesim ./moesim] [--only V1,V9]

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

def coll(op, gpu, nodes, size, extra=""):
    s = f"collective {op} --set cluster.gpu={gpu} --set cluster.nodes={nodes} --set cluster.gpus_per_node=8 --sizes {size}:{size}"
    return s + (" " + extra if extra else "")


# nccl-tests rows: (id, what, measured us, command, "coll"); the time column of nccl-tests'
# out-of-place half, which `moesim collective` prints in the same layout.
COLL_ROWS = [
    ("V23a", "nccl-tests alltoall, 8 x H100 (1 node), 32 MiB", 124.79, coll("alltoall", "h100-sxm", 1, 33554432), "coll"),
    ("V23b", "nccl-tests alltoall, 8 x H100, 128 MiB", 393.32, coll("alltoall", "h100-sxm", 1, 134217728), "coll"),
    ("V23c", "nccl-tests alltoall, 8 x H100, 512 MiB", 1511.21, coll("alltoall", "h100-sxm", 1, 536870912), "coll"),
    ("V23d", "nccl-tests alltoall, 8 x H100, 2 GiB", 5474.24, coll("alltoall", "h100-sxm", 1, 2147483648), "coll"),
    ("V23e", "nccl-tests alltoall, 8 x H100, 16 GiB", 43193.3, coll("alltoall", "h100-sxm", 1, 17179869184), "coll"),
    ("V24", "nccl-tests allreduce, 8 x H100, 1 GiB", 4000.82, coll("allreduce", "h100-sxm", 1, 1073741824), "coll"),
    ("V25", "nccl-tests alltoall, 16 x H100 (2 nodes), 4 GiB", 43852.6, coll("alltoall", "h100-sxm", 2, 4294967296), "coll"),
    ("V26a", "nccl-tests alltoall, 80 x H100 (10 nodes), 32 MiB", 970.33, coll("alltoall", "h100-sxm", 10, 33553920), "coll"),
    ("V26b", "nccl-tests alltoall, 80 x H100, 128 MiB", 2944.85, coll("alltoall", "h100-sxm", 10, 134216960), "coll"),
    ("V26c", "nccl-tests alltoall, 80 x H100, 1 GiB", 21159.9, coll("alltoall", "h100-sxm", 10, 1073740800), "coll"),
    ("V26d", "nccl-tests allreduce, 80 x H100, 1 GiB", 6149.19, coll("allreduce", "h100-sxm", 10, 1073741824), "coll"),
    ("V27", "nccl-tests alltoall, 64 x H800 (8 nodes), 8 MiB", 337.8, coll("alltoall", "h800", 8, 8388608), "coll"),
    ("V21a", "torch all_to_all_single (NCCL), 8 x H100, 242 MB", 699.9, coll("alltoall", "h100-sxm", 1, 242221056), "coll"),
    ("V21b", "torch all_to_all_single, 16 x H100, 242 MB", 3213.9, coll("alltoall", "h100-sxm", 2, 242221056), "coll"),
    ("V21c", "torch all_to_all_single, 64 x H100, 242 MB", 5418.1, coll("alltoall", "h100-sxm", 8, 242221056), "coll"),
    ("V22a", "torch all_to_all_single, 8 x H100, 1.9 MB", 24.4, coll("alltoall", "h100-sxm", 1, 1892352), "coll"),
    ("V22b", "torch all_to_all_single, 16 x H100, 1.9 MB", 109.7, coll("alltoall", "h100-sxm", 2, 1892352), "coll"),
    ("V22c", "torch all_to_all_single, 64 x H100, 1.9 MB", 101.6, coll("alltoall", "h100-sxm", 8, 1892352), "coll"),
]


def coll_us(out):
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and f[0].isdigit():
            return float(f[5])
    raise ValueError("no size row in the collective's output")


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
    ap.add_argument("--part", choices=["moe", "coll"], default="moe", help="the MoE kernel rows or the collective rows")
    a = ap.parse_args()
    only = set(x for x in a.only.split(",") if x)
    if a.part == "moe":
        print("`$V3` stands for `%s`.\n" % V3)
    print("| row | measurement | measured | moesim | error | command |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    table = ROWS if a.part == "moe" else COLL_ROWS
    for rid, what, meas, cmd, phase in table:
        if only and rid not in only:
            continue
        p = subprocess.run([a.moesim] + cmd.split(), capture_output=True, text=True)
        if p.returncode != 0:
            print("%s: moesim failed: %s" % (rid, p.stderr.strip()), file=sys.stderr)
            return 1
        pred = coll_us(p.stdout) if phase == "coll" else phase_us(p.stdout, phase)
        err = 100.0 * (pred - meas) / meas
        worst = max(worst, abs(err))
        shown = cmd.replace(V3, "$V3")
        print("| %s | %s | %g us | %.1f us | %+.0f %% | `moesim %s` |" % (rid, what, meas, pred, err, shown))
    print("\nworst |error| %.0f %%" % worst, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
