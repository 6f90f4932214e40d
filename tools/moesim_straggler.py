#!/usr/bin/env python3
"""Which GPU is the straggler in a given layer, and why: an analysis of a stored run
(`moesim run -o RUN.h5`) with h5py and pandas, reading only what docs/output-format.md
documents.

    python3 tools/moesim_straggler.py RUN.h5 --layer 3 [--pass backward] [--step 0]

How it reasons, in the layer's pipeline stage (the GPUs with time in the layer):
  1. Each GPU's time in the layer by phase (/phases/time_s, or one step of
     /steps/layer_phase_time_s) goes into a DataFrame, one row per GPU.
  2. A GPU's own work is its time less `wait`, the time it spent waiting in the layer's
     collectives for the slowest member. The straggler is the GPU with the most own
     work: the others' `wait` is the time they spent waiting for it.
  3. Why: the phases in which the straggler spends more than the stage's median GPU,
     largest excess first.
  4. In an MoE layer: how many token-expert pairs its experts received after drops
     against the stage's mean (/layers/gpu_load), which experts it holds and how hot
     they were as routed (/experts/routed and /experts/slot_expert when the run has them,
     else /layers/expert_demand and the contiguous placement the scenario names).

The GPU of EP member p is Megatron-Core's expert grid: with ETP e, GPU g of a stage is
member (g // e) mod ep (`moesim layout --group ep` prints the groups).

Prints a per-GPU table and the verdict; `straggler()` returns the same as a dict.
Needs python3-h5py, python3-numpy, python3-pandas.
"""
import argparse
import re
import sys


def _str(v):
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _key(scenario, section, key):
    m = re.search(r"(?ms)^%s\s*=\s*\{(.*?)^\};" % re.escape(section), scenario)
    k = re.search(r"(?m)^\s*%s\s*=\s*([^;]*);" % re.escape(key), m.group(1)) if m else None
    return k.group(1).strip().strip('"') if k else None


def _int(scenario, section, key, default):
    v = _key(scenario, section, key)
    try:
        return int(str(v).rstrip("L"))
    except (TypeError, ValueError):
        return default


def moe_index(scenario, layer):
    """The MoE index of transformer layer `layer`, or None for a dense layer (moe_arch_is_moe)."""
    dense = _int(scenario, "model", "dense_layers", 0)
    every = max(1, _int(scenario, "model", "moe_every", 1))
    moe_layers = _int(scenario, "model", "moe_layers", 0)
    all_moe = dense + moe_layers * every
    if layer >= all_moe:  # an MTP module: after the MoE layers
        return moe_layers + (layer - all_moe)
    if layer < dense or (layer - dense + 1) % every:
        return None
    return (layer - dense) // every


def straggler(path, layer, pass_name="forward", step=None):
    import h5py
    import numpy as np
    import pandas as pd

    with h5py.File(path, "r") as f:
        if _str(f.attrs.get("format", "")) != "moesim-run":
            raise SystemExit("%s: not a moesim run file (write one with moesim run -o FILE.h5)" % path)
        scenario = _str(f.attrs["scenario"])
        phases = [_str(x) for x in f["phases/phase_names"][...]]
        passes = [_str(x) for x in f["phases/pass_names"][...]]
        if pass_name not in passes:
            raise SystemExit("--pass %s: this run has %s" % (pass_name, ", ".join(passes)))
        p = passes.index(pass_name)
        if step is not None:
            if "steps/layer_phase_time_s" not in f:
                raise SystemExit("--step: this run has no /steps/layer_phase_time_s (HDF5 version %s); "
                                 "leave --step out for the mean over steps" % f.attrs.get("version", "?"))
            t = f["steps/layer_phase_time_s"][step, p]
        else:
            t = f["phases/time_s"][p]
        if not 0 <= layer < t.shape[0]:
            raise SystemExit("--layer %d: the run has layers 0 .. %d (as /phases counts them)" % (layer, t.shape[0] - 1))
        t = t[layer]  # [gpus, phases]
        df = pd.DataFrame(t, columns=phases)
        df.index.name = "gpu"
        df = df[df.sum(axis=1) > 0]  # the stage holding the layer
        if df.empty:
            raise SystemExit("layer %d: no GPU spent time in it in the %s pass" % (layer, pass_name))
        df["total"] = df[phases].sum(axis=1)
        df["own_work"] = df["total"] - df["wait"]
        gpu = int(df["own_work"].idxmax())
        median = df[phases + ["own_work"]].median()
        excess = (df.loc[gpu, phases] - median[phases]).sort_values(ascending=False)
        # Phases where it exceeds the median by more than 1 % of its own work (less is noise).
        floor = 0.01 * float(df.loc[gpu, "own_work"])
        why = [(ph, float(df.loc[gpu, ph]), float(median[ph]), float(x)) for ph, x in excess.items() if x > floor]
        others = df.drop(index=gpu)
        out = {
            "layer": layer, "pass": pass_name, "gpus": [int(g) for g in df.index], "straggler": gpu,
            "own_work_s": float(df.loc[gpu, "own_work"]), "median_own_work_s": float(median["own_work"]),
            "others_wait_s": float(others["wait"].mean()) if len(others) else 0.0, "why": why, "table": df,
        }
        moe = moe_index(scenario, layer)
        out["moe_layer"] = moe
        if moe is not None and "layers/gpu_load" in f and moe < f["layers/gpu_load"].shape[0]:
            load = f["layers/gpu_load"][moe]
            stage = load[df.index.values]
            out["load"] = float(load[gpu])
            out["mean_load"] = float(stage.mean())
            df["pairs_received"] = stage
            experts = _int(scenario, "model", "experts", 0)
            ep = _int(scenario, "parallel", "ep", 1)
            etp = _int(scenario, "parallel", "etp", 1)
            member = ((gpu - int(df.index.min())) // etp) % ep
            out["ep_member"] = member
            if "experts/routed" in f:
                routed = f["experts/routed"][:, moe].sum(axis=0) / f["experts/routed"].shape[0]
            else:
                routed = f["layers/expert_demand"][moe]
            held = None
            if "experts/slot_expert" in f:
                held = sorted({int(e) for e in f["experts/slot_expert"][moe, member] if e >= 0})
                out["placement"] = "from /experts/slot_expert"
            elif _key(scenario, "routing", "placement") == "contiguous" and _int(scenario, "routing",
                                                                                  "redundant_experts", 0) == 0:
                per = experts // ep
                held = list(range(member * per, (member + 1) * per))
                out["placement"] = "contiguous placement"
            else:
                out["placement"] = "placement %s: not in this file" % _key(scenario, "routing", "placement")
            mean_e = float(np.mean(routed)) if len(routed) else 0.0
            out["experts"] = [(e, float(routed[e]), float(routed[e]) / mean_e if mean_e else 0.0) for e in held or []]
            out["hottest_expert"] = int(np.argmax(routed)) if len(routed) else None
    return out


def fmt_ms(s):
    return "%.3f ms" % (s * 1e3)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Which GPU is the straggler in a layer of a stored moesim run, and why.")
    ap.add_argument("run", metavar="RUN.h5")
    ap.add_argument("--layer", type=int, required=True, help="transformer layer, counted as /phases counts them")
    ap.add_argument("--pass", dest="pass_name", default="forward", help="forward (default) or backward")
    ap.add_argument("--step", type=int, help="one step (needs /steps/layer_phase_time_s); default the mean over steps")
    a = ap.parse_args(argv)
    try:
        import pandas  # noqa: F401
    except ImportError:
        sys.exit("needs pandas: apt-get install python3-pandas")
    r = straggler(a.run, a.layer, a.pass_name, a.step)
    import pandas as pd
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.float_format", "{:.1f}".format):
        t = r["table"]
        shown = t.loc[:, (t != 0).any(axis=0)].copy()
        times = [c for c in shown.columns if c != "pairs_received"]
        shown[times] = shown[times] * 1e6
        print("microseconds per step in layer %d, %s pass, per GPU of its stage (pairs_received: token-expert "
              "pairs per micro-batch):" % (a.layer, a.pass_name))
        print(shown.to_string())
    print()
    print("layer %d (%s pass), %d GPUs: the straggler is GPU %d" % (a.layer, a.pass_name, len(r["gpus"]), r["straggler"]))
    print("  it works %s in the layer, the median GPU %s; the others wait %s for it on average" % (
        fmt_ms(r["own_work_s"]), fmt_ms(r["median_own_work_s"]), fmt_ms(r["others_wait_s"])))
    if r["why"]:
        print("  why: " + "; ".join("%s %s more than the median (%s against %s)" % (
            ph, fmt_ms(x), fmt_ms(v), fmt_ms(m)) for ph, v, m, x in r["why"][:3]))
    if "load" in r:
        ratio = r["load"] / r["mean_load"] if r["mean_load"] else 0
        print("  its experts received %.3fx the stage's mean load after drops (%.0f against %.0f token-expert pairs "
              "per micro-batch)" % (ratio, r["load"], r["mean_load"]))
        if r["experts"]:
            print("  it holds " + ", ".join("expert %d (routed %.2fx the mean expert%s)" % (
                e, x, ", the layer's hottest" if e == r["hottest_expert"] else "") for e, _, x in r["experts"])
                + " [EP member %d, %s]" % (r["ep_member"], r["placement"]))
        else:
            print("  its experts: %s" % r["placement"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
