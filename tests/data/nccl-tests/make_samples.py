#!/usr/bin/env python3
"""Writes the nccl-tests samples in tests/data/nccl-tests/ (run from that directory).

The files reproduce the layout nccl-tests prints and writes, character for character as
its source does (NVIDIA/nccl-tests src/util.cu: writeDeviceReport, writeResultHeader,
writeBenchmarkLinePreamble, writeBenchmarkLineBody with getFloatStr, writeResultFooter;
and the -J JSON writer of the same file, version 2). The numbers are NOT measurements:
no GPU was available. They follow t = latency + S / algbw_max with seeded noise, with
magnitudes like an 8-GPU H100 NVLink node (alltoall_h100x8.*) and two such nodes over
400 Gb/s NICs (alltoall_2node.txt). tests/check_profile.c imports them and checks the
parameters, the rank and scope detection and every error path.

Files:
  alltoall_h100x8.txt       nccl-tests 2.17 text output, 8 ranks on one host, with an
                            "NCCL version" line and NCCL INFO noise
  alltoall_h100x8.json      the -J output of the same run
  alltoall_2node.txt        older layout (no version lines), 16 ranks on 2 hosts, MPI noise
  all_reduce_h100x8.txt     all_reduce_perf output (busbw = 2(n-1)/n algbw): must be refused
  alltoall_truncated.txt    cut in the middle of a result line, no footer: must be refused
  alltoall_wrong.txt        one row with #wrong = 12: must be refused
  alltoall_truncated.json   the JSON cut short: must be refused
"""
import json
import math
import random

rng = random.Random(2385)


def float_str(value, width):
    # getFloatStr of nccl-tests src/util.cu
    power = 0
    val = 1
    while value >= val:
        power += 1
        val *= 10
    if power < width - 2:
        return "%*.2f" % (width, value)
    if power < width - 1:
        return "%*.1f" % (width, value)
    if power < width + 1:
        return "%*.0f" % (width, value)
    return "%*.1e" % (width, value)


def run(n, lat_us, algbw_max, sizes):
    rows = []
    for s in sizes:
        t_oop = (lat_us + s / (algbw_max * 1e3)) * math.exp(rng.gauss(0, 0.02))
        t_ip = (lat_us + s / (algbw_max * 1e3)) * math.exp(rng.gauss(0, 0.02))
        rows.append((s, t_oop, t_ip))
    return rows


def bw(s, t_us, n, factor):
    alg = s / 1e9 / (t_us * 1e-6)
    return alg, alg * factor


def text(path, n, hosts, gpu, rows, modern, prog="alltoall_perf", factor=None, noise=(), cut=None, wrong_at=None):
    factor = (n - 1) / n if factor is None else factor
    out = []
    if modern:
        out.append("# nccl-tests version 2.17.1 nccl-headers=22603 nccl-library=22603")
        out.append("# Collective test starting: %s" % prog)
    ngpus = n // len(hosts)
    out.append("# nThread 1 nGpus %d minBytes %d maxBytes %d step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 "
               "validation: 1 graph: 0" % (ngpus if modern else 1, rows[0][0], rows[-1][0]))
    out.append("#")
    out.append("# Using devices")
    for r in range(n):
        h = hosts[r // (n // len(hosts))]
        d = r % (n // len(hosts))
        out.append("#  Rank %2d Group %2d Pid %6d on %10s device %2d [%04x:%02x:%02x] %s"
                   % (r, 0, 41876 + r, h, d, 0, 0x18 + 8 * d, 0, gpu))
    out.extend(noise)
    if modern:
        out.append("NCCL version 2.26.3+cuda12.9")
    out.append("#")
    out.append("# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place          "
               % ("", "", "", "", ""))
    out.append("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s "
               % ("size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw",
                  "busbw", "#wrong"))
    out.append("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s "
               % ("(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", ""))
    total = 0.0
    for i, (s, t1, t2) in enumerate(rows):
        a1, b1 = bw(s, t1, n, factor)
        a2, b2 = bw(s, t2, n, factor)
        total += b1 + b2
        wrong = 12 if wrong_at == i else 0
        ar = prog.startswith("all_reduce")
        line = "%12d  %12d  %8s  %6s  %6s" % (s, s // 4 // (1 if ar else n), "float", "sum" if ar else "none", "%6i" % -1)
        line += "  %7s  %6s  %6s  %6g" % (float_str(t1, 7), float_str(a1, 6), float_str(b1, 6), wrong)
        line += "  %7s  %6s  %6s    N/A" % (float_str(t2, 7), float_str(a2, 6), float_str(b2, 6))
        if cut is not None and i == cut:
            out.append(line[:60])
            break
        out.append(line)
        if i == 3 and noise:
            out.append(noise[0])
    if cut is None:
        out.append("# %-20s : %d %s" % ("Out of bounds values", 0, "OK"))
        out.append("# %-20s : %g " % ("Avg bus bandwidth", total / (2 * len(rows))))
        out.append("#")
        if modern:
            out.append("# Collective test concluded: %s" % prog)
        out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out) + ("\n" if cut is not None else ""))
    return total / (2 * len(rows))


def jsonfile(path, n, host, gpu, rows, cut=False):
    factor = (n - 1) / n
    doc = {
        "version": 2,
        "start_time": "2026-01-01 00:00:00",
        "args": ["./build/alltoall_perf", "-b", "1K", "-e", "1G", "-f", "2", "-g", "8", "-J", "alltoall.json"],
        "env": ["PATH=/usr/local/cuda/bin:/usr/bin:/bin", "NCCL_DEBUG=VERSION"],
        "nccl_version": 22603,
        "config": {
            "nthreads": 1, "ngpus": n, "minimum_bytes": rows[0][0], "maximum_bytes": rows[-1][0], "step_factor": 2,
            "warmup_iters": 5, "iterations": 20, "aggregated_iterations": 1, "validation": 1, "graph": 0,
            "blocking_collectives": "false", "per_iter_timing": "false", "parallel_init": "false",
            "devices": [{"rank": 0, "group": 0, "pid": 41876, "hostname": host, "device": 0,
                         "device_hex": "0000:18:00", "device_info": gpu}],
        },
        "results": [],
    }
    total = 0.0
    for s, t1, t2 in rows:
        a1, b1 = bw(s, t1, n, factor)
        a2, b2 = bw(s, t2, n, factor)
        total += b1 + b2
        doc["results"].append({
            "size": s, "count": s // 4 // n, "type": "float", "redop": "none", "root": "    -1",
            "out_of_place": {"time": round(t1, 6), "alg_bw": round(a1, 6), "bus_bw": round(b1, 6), "nwrong": 0.0},
            "in_place": {"time": round(t2, 6), "alg_bw": round(a2, 6), "bus_bw": round(b2, 6), "nwrong": None},
            "actual_iterations": 20, "experiment_name": ""})
    doc["out_of_bounds"] = {"count": 0, "okay": "true"}
    doc["average_bus_bandwidth"] = {"bandwidth": round(total / (2 * len(rows)), 6), "okay": "unchecked"}
    doc["errors"] = []
    doc["end_time"] = "2026-01-01 00:01:07"
    # nccl-tests writes the document on one line, no spaces, doubles as %lf
    txt = json.dumps(doc, separators=(",", ":"))
    if cut:
        txt = txt[: len(txt) * 2 // 3]
    with open(path, "w") as f:
        f.write(txt)


sizes = [1024 << i for i in range(21)]  # 1 KiB .. 1 GiB
h100 = "NVIDIA H100 80GB HBM3"
info = ["dgx-h100-07:41876:41876 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.7<0>",
        "dgx-h100-07:41876:41876 [0] NCCL INFO cudaDriverVersion 12090"]
node = run(8, 28.5, 400.0, sizes)
text("alltoall_h100x8.txt", 8, ["dgx-h100-07"], h100, node, True, noise=info)
jsonfile("alltoall_h100x8.json", 8, "dgx-h100-07", h100, node)
mpi = ["[node-a:02943] 15 more processes have sent help message help-mca-var.txt / mutually-exclusive-vars",
       "[node-a:02943] Set MCA parameter \"orte_base_help_aggregate\" to 0 to see all help / error messages"]
two = run(16, 61.0, 48.0, [1 << 20 << i for i in range(11)])
text("alltoall_2node.txt", 16, ["node-a", "node-b"], h100, two, False, noise=mpi)
text("all_reduce_h100x8.txt", 8, ["dgx-h100-07"], h100, run(8, 24.0, 480.0, sizes[:12]), True,
     prog="all_reduce_perf", factor=2 * 7 / 8)
text("alltoall_truncated.txt", 8, ["dgx-h100-07"], h100, node, True, cut=9)
text("alltoall_wrong.txt", 8, ["dgx-h100-07"], h100, node[:10], True, wrong_at=6)
jsonfile("alltoall_truncated.json", 8, "dgx-h100-07", h100, node, cut=True)
