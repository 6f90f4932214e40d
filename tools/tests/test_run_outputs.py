"""moesim run's outputs read back as a user reads them (h5py, json): every dataset that
docs/output-format.md documents, held against the run's own summary and against each
other (kept + dropped = routed, a step's phases add up to its time, the timeline adds up
to the phases, no link above its capacity), the Perfetto timeline as trace-event JSON,
and the same bytes for the same scenario and seed.

The moesim binary is $MOESIM_BIN (relative to the repository root; `make check` sets it),
else ./moesim; without one these tests are skipped.
"""
import json
import os
import re
import subprocess

import h5py
import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(REPO, "docs", "output-format.md")

# The schema (docs/output-format.md, version 3): every group's datasets, as the file
# holds them; /links and /network with the flow model, /traffic and /timeline on request,
# the backward times in training.
SCHEMA = {
    "summary": [],  # attributes only, each documented (checked below)
    "steps": ["step_time_s", "pairs", "dropped_pairs", "tokens", "dropped_tokens", "phase_time_s",
              "layer_phase_time_s", "layer_load_max_over_mean", "layer_dropped_pairs", "layer_dropped_tokens",
              "layer_purity",
              "layer_purity_baseline", "layer_concentration", "layer_concentration_baseline"],
    "phases": ["time_s", "step_time_s", "phase_names", "pass_names"],
    "layers": ["dispatch_time_s", "combine_time_s", "gpu_load", "expert_demand", "backward_dispatch_time_s",
               "backward_combine_time_s", "purity", "purity_baseline", "concentration", "concentration_baseline"],
    "experts": ["routed", "kept", "dropped", "slot_expert", "slot_pairs"],
    "memory": ["peak_parts_bytes", "part_names", "stage_bytes"],
    "links": ["names", "class", "class_names", "capacity_Bps", "bytes", "utilisation", "binned_links",
              "binned_bytes", "binned_utilisation", "class_binned_utilisation"],
    "traffic": ["dispatch_bytes", "combine_bytes"],
    "timeline": ["events", "stream_names", "kind_names", "op_names"],
    "network": ["hot_link_names", "hot_link_utilisation", "hot_link_bytes"],
}
ROOT_ATTRS = ["format", "version", "moesim_version", "scenario_source", "scenario", "network_model", "seed",
              "profile_source", "mode", "router"]
PHASES = ["dense", "permute", "dispatch", "expert", "combine", "unpermute", "wait", "tp", "pp_bubble", "dp",
          "optimizer"]
EVENT_FIELDS = ["gpu", "stream", "kind", "op", "pass", "layer", "mb", "start_s", "end_s", "bytes", "peer"]


def _binary():
    b = os.environ.get("MOESIM_BIN", "./moesim")
    b = b if os.path.isabs(b) else os.path.join(REPO, b)
    if not os.access(b, os.X_OK):
        pytest.skip("no moesim binary (set MOESIM_BIN or build ./moesim)")
    return b


def _run(*args, expect=0):
    p = subprocess.run([_binary(), "run", *args], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert p.returncode == expect, p.stderr
    return p


# The runs: the default scenario (flow model, trace replay, training, PP 4) over two
# steps with everything recorded, twice; two-batch overlap (the communication stream);
# load-aware placement with replicas; analytic decode.
RUNS = {
    "default": ["--set", "workload.steps=2"],
    "overlap": ["--set", "schedule.overlap=two_batch"],
    "dualpipe": ["--set", "schedule.overlap=dualpipe", "--set", "training.recompute=full"],
    "eplb": ["--set", "routing.placement=load_aware", "--set", "routing.redundant_experts=8", "--set",
             "parallel.ep=4", "--set", "training.recompute=full"],
    "decode": ["--set", "workload.mode=decode", "--set", "workload.micro_batch=64", "--set",
               "workload.global_batch=512", "--set", "network.model=analytic"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    out = {}
    for name, extra in RUNS.items():
        h5, js = str(d / (name + ".h5")), str(d / (name + ".json"))
        p = _run(*extra, "-o", h5, "--events", "--traffic", "--timeline", js)
        out[name] = (h5, js, p.stdout)
    # again, for the bytes
    h5, js = str(d / "again.h5"), str(d / "again.json")
    _run(*RUNS["default"], "-o", h5, "--events", "--traffic", "--timeline", js)
    out["again"] = (h5, js, None)
    return out


def _summary_value(stdout, label):
    m = re.search(r"^\s*" + re.escape(label) + r"\s+(.*)$", stdout, re.M)
    assert m, label
    return m.group(1)


def test_schema_is_documented_and_complete(runs):
    """The file holds exactly the documented datasets, and the document names each."""
    doc = open(DOC).read()
    for group, names in SCHEMA.items():
        for n in names:
            assert "`%s`" % n in doc, "docs/output-format.md does not name %s/%s" % (group, n)
    for a in ROOT_ATTRS:
        assert "`%s`" % a in doc
    with h5py.File(runs["default"][0]) as f:
        assert set(f.keys()) == set(SCHEMA)
        for group, names in SCHEMA.items():
            assert set(f[group].keys()) == set(names), group
        assert set(f.attrs.keys()) == set(ROOT_ATTRS)
        for a in f["summary"].attrs:
            if a.startswith("phase_"):
                assert a[len("phase_"):-len("_s")] in PHASES
            else:
                assert "`%s`" % a in doc, "docs/output-format.md does not name /summary's %s" % a
        for a in ("peak_bytes", "capacity_bytes", "peak_stage"):
            assert a in f["memory"].attrs and "`%s`" % a in doc
        for a in ("bin_s", "bins"):
            assert a in f["links"].attrs and "`%s`" % a in doc
        assert f.attrs["version"] == 3 and f.attrs["format"] == "moesim-run"
    with h5py.File(runs["decode"][0]) as f:  # inference, analytic: no backward, no links
        assert "links" not in f and "network" not in f
        assert "backward_dispatch_time_s" not in f["layers"]


def test_strings_units_and_compression(runs):
    with h5py.File(runs["default"][0]) as f:
        for a in ROOT_ATTRS:
            v = f.attrs[a]
            assert isinstance(v, (str, np.integer)), (a, type(v))
        assert isinstance(f.attrs["scenario"], str) and "capacity_factor" in f.attrs["scenario"]
        assert f.attrs["seed"] == 42 and f.attrs["profile_source"] == "datasheet" and f.attrs["mode"] == "training"
        assert list(f["phases/phase_names"].asstr()[...]) == PHASES
        assert list(f["timeline/kind_names"].asstr()[...]) == PHASES + ["send"]
        assert list(f["timeline/stream_names"].asstr()[...]) == ["compute", "communication", "data_parallel",
                                                                 "pipeline"]

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert isinstance(obj.attrs["unit"], str) and isinstance(obj.attrs["doc"], str), name
                if obj.size > 1024:
                    assert obj.chunks is not None and obj.compression == "gzip", name
        f.visititems(visit)
        assert set(f["timeline/events"].dtype.names) == set(EVENT_FIELDS)


def test_same_bytes_for_same_scenario_and_seed(runs):
    for i in (0, 1):
        a, b = runs["default"][i], runs["again"][i]
        assert open(a, "rb").read() == open(b, "rb").read(), a


def test_steps_and_phases_add_up(runs):
    for name in ("default", "overlap", "eplb", "decode"):
        h5, _, stdout = runs[name]
        with h5py.File(h5) as f:
            t = f["steps/step_time_s"][...]
            ph = f["steps/phase_time_s"][...]
            assert ph.shape == (len(t), f["summary"].attrs["gpus"], 11)
            assert np.allclose(ph.sum(axis=2), t[:, None], rtol=1e-9, atol=0)
            assert np.allclose(ph.mean(axis=0), f["phases/step_time_s"][...], rtol=1e-9, atol=1e-15)
            lp = f["steps/layer_phase_time_s"][...]
            assert np.allclose(lp.mean(axis=0), f["phases/time_s"][...], rtol=1e-9, atol=1e-15)
            per_step = lp.sum(axis=(1, 2))  # [step, gpu, phase]
            # Phases that only layers have add up exactly; the others are at least what layers hold.
            for k in ("permute", "dispatch", "expert", "combine", "unpermute"):
                i = PHASES.index(k)
                assert np.allclose(per_step[:, :, i], ph[:, :, i], rtol=1e-9, atol=1e-15), (name, k)
            assert np.all(per_step <= ph * (1 + 1e-9) + 1e-15)
            # the terminal summary's step time
            want = f["summary"].attrs["step_time_s"]
            assert abs(t.mean() - want) <= 1e-12 * want
            printed = _summary_value(stdout, "step time")
            v, unit = printed.split()
            assert abs(float(v) * {"s": 1, "ms": 1e-3, "us": 1e-6}[unit] - want) < 0.0005 * want


def test_experts_kept_plus_dropped_is_routed(runs):
    for name in ("default", "overlap", "eplb", "decode"):
        h5, _, stdout = runs[name]
        with h5py.File(h5) as f:
            routed, kept, dropped = (f["experts/" + k][...] for k in ("routed", "kept", "dropped"))
            assert np.array_equal(kept + dropped, routed) and np.all(dropped >= 0)
            assert np.array_equal(routed.sum(axis=(1, 2)), f["steps/pairs"][...])
            assert np.array_equal(dropped.sum(axis=(1, 2)), f["steps/dropped_pairs"][...])
            frac = dropped.sum() / routed.sum()
            assert abs(frac - f["summary"].attrs["dropped_pair_fraction"]) < 1e-12
            printed = float(_summary_value(stdout, "tokens dropped").split()[0])
            assert abs(printed - 100 * frac) < 0.0005 + 1e-9
            m = f["summary"].attrs["microbatches"]
            assert np.allclose(routed.mean(axis=0) / m, f["layers/expert_demand"][...], rtol=1e-12)
            # slots: their pairs are the GPU loads, and by the placement the experts' kept pairs
            sp, se = f["experts/slot_pairs"][...], f["experts/slot_expert"][...]
            assert np.allclose(sp.sum(axis=3).mean(axis=0) / m, f["layers/gpu_load"][...], rtol=1e-12)
            ep = f["summary"].attrs["ep"]
            S, L, W, K = sp.shape
            for s in range(S):
                for l in range(L):
                    per_expert = np.zeros(routed.shape[2], dtype=np.int64)
                    for g in range(W):
                        for k in range(K):
                            e = se[l, g % ep, k]
                            if e >= 0:
                                per_expert[e] += sp[s, l, g, k]
                            else:
                                assert sp[s, l, g, k] == 0
                    assert np.array_equal(per_expert, kept[s, l]), (name, s, l)
        if name == "eplb":  # replicas: some expert sits in more than one slot
            counts = np.array([np.bincount(se[l].ravel()[se[l].ravel() >= 0]) for l in range(L)])
            assert counts.max() > 1


SPECIALISATION = ["purity", "purity_baseline", "concentration", "concentration_baseline"]


def test_specialisation(runs, tmp_path):
    """The default scenario replays a trace with domain labels: per layer purity and
    concentration of the kept pairs, their means on /summary and in the terminal summary;
    concentration's baseline (the layer's top-k experts' share of the kept pairs) again
    from /experts/kept. Synthetic routing has no labels, and none of them."""
    for name in ("default", "decode"):
        h5, _, stdout = runs[name]
        with h5py.File(h5) as f:
            layers = f["layers/gpu_load"].shape[0]
            for k in SPECIALISATION:
                v = f["layers/" + k][...]
                assert v.shape == (layers,) and np.all((v > 0) & (v <= 1)), (name, k)
                assert abs(v.mean() - f["summary"].attrs[k]) < 1e-12, (name, k)
            if name == "default":  # 4,096 tokens a GPU: the recorded specialisation shows
                assert np.all(f["layers/purity"][...] > f["layers/purity_baseline"][...])
            kept = f["experts/kept"][...].sum(axis=0)  # [layers, experts] over the run
            top2 = np.sort(kept, axis=1)[:, -2:].sum(axis=1) / kept.sum(axis=1)
            assert np.allclose(top2, f["layers/concentration_baseline"][...], rtol=1e-12)
            printed = _summary_value(stdout, "specialisation")
            m = re.match(r"purity ([0-9.]+) \(blind ([0-9.]+)\), concentration ([0-9.]+) \(blind ([0-9.]+)\)", printed)
            assert m, printed
            for i, k in enumerate(SPECIALISATION):
                assert abs(float(m.group(i + 1)) - f["summary"].attrs[k]) < 0.0005 + 1e-9
    h5 = str(tmp_path / "synthetic.h5")
    p = _run("--set", "routing.source=synthetic", "--set", "network.model=analytic", "-o", h5)
    assert not re.search(r"^\s*specialisation\s", p.stdout, re.M)
    with h5py.File(h5) as f:
        for k in SPECIALISATION:
            assert k not in f["layers"] and k not in f["summary"].attrs


STEP_SPECIALISATION = ["layer_" + k for k in SPECIALISATION]


def test_step_layer_quality(runs, tmp_path):
    """/steps' routing quality per (step, layer) against the run's other datasets: the lost
    tokens add up to /steps/dropped_tokens, the kept load's max/mean and concentration's
    baseline (the step's top-2 experts' share) again from /experts/kept; with one step,
    each step's specialisation is the run's (/layers). Synthetic routing has no labels and
    no per-step specialisation."""
    for name in ("default", "decode"):
        h5, _, _ = runs[name]
        with h5py.File(h5) as f:
            kept = f["experts/kept"][...]  # [steps, layers, experts]
            S, L, E = kept.shape
            lost = f["steps/layer_dropped_tokens"][...]
            assert lost.shape == (S, L) and lost.dtype == np.int64
            assert np.array_equal(lost.sum(axis=1), f["steps/dropped_tokens"][...])
            dp = f["steps/layer_dropped_pairs"][...]  # topk: routed - kept
            assert np.array_equal(dp, f["experts/dropped"][...].sum(axis=2))
            assert np.array_equal(dp.sum(axis=1), f["steps/dropped_pairs"][...])
            mm = f["steps/layer_load_max_over_mean"][...]
            assert np.allclose(mm, kept.max(axis=2) * E / kept.sum(axis=2), rtol=1e-12)
            top2 = np.sort(kept, axis=2)[:, :, -2:].sum(axis=2) / kept.sum(axis=2)
            assert np.allclose(f["steps/layer_concentration_baseline"][...], top2, rtol=1e-12)
            for k in STEP_SPECIALISATION:
                v = f["steps/" + k][...]
                assert v.shape == (S, L) and np.all((v > 0) & (v <= 1)), (name, k)
                assert f["steps/" + k].attrs["unit"] == "fraction"
    h5 = str(tmp_path / "one.h5")
    _run("--set", "workload.steps=1", "--set", "routing.capacity_factor=1.0", "--set", "network.model=analytic",
         "-o", h5)
    with h5py.File(h5) as f:
        assert f["steps/dropped_pairs"][0] > 0
        for k in SPECIALISATION:
            assert np.array_equal(f["steps/layer_" + k][0], f["layers/" + k][...]), k
    h5 = str(tmp_path / "synthetic.h5")
    _run("--set", "routing.source=synthetic", "--set", "routing.capacity_factor=1.0", "--set",
         "network.model=analytic", "--set", "workload.steps=2", "-o", h5)
    with h5py.File(h5) as f:
        assert f["steps/dropped_tokens"][...].sum() > 0
        assert np.array_equal(f["steps/layer_dropped_tokens"][...].sum(axis=1), f["steps/dropped_tokens"][...])
        for k in STEP_SPECIALISATION:
            assert k not in f["steps"]


# Two GPUs of one EP group replaying a synthetic trace of two recorded ranks token for
# token (GPU p replays rank p, step s the trace's step s), as tests/check_whatif.c does.
WHATIF_SCENARIO = """model = { hidden = 64; ffn_hidden = 128; experts = 8; top_k = 2; moe_layers = 2; heads = 4; };
cluster = { nodes = 1; gpus_per_node = 2; };
parallel = { ep = 2; };
workload = { mode = "prefill"; tokens_per_rank = 64; seq_len = 64; steps = 2; seed = 2385; };
routing = { source = "trace"; trace = "%s"; capacity_factor = %s; capacity_scope = "rank"; router = "%s"; };
"""


def test_step_layer_quality_against_trace_stats(tmp_path):
    """The run's per-(step, layer) routing quality read back from its HDF5 against
    `moesim trace stats --router R --per-step --csv` (its own pass over the trace) on a
    trace the run replays token for token: lost tokens, dropped pairs, the kept load's
    max/mean and each step's purity, concentration and their baselines, for routers that
    drop."""
    trace = str(tmp_path / "whatif.h5")
    p = subprocess.run([_binary(), "trace", "synth", "-o", trace, "--layers", "2", "--experts", "8", "--depth", "8",
                        "--top-k", "2", "--tokens", "256", "--dist", "zipf", "--zipf-s", "1.1", "--domains", "3",
                        "--domain-skew", "0.6", "--steps", "2", "--ranks", "2", "--seq-len", "16", "--seed", "2385"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stderr
    for router, cf in (("expert_choice", "1.0"), ("bpr", "1.0")):
        cfg = tmp_path / (router + ".cfg")
        cfg.write_text(WHATIF_SCENARIO % (trace, cf, router))
        h5 = str(tmp_path / (router + ".h5"))
        _run(str(cfg), "-q", "-o", h5)
        p = subprocess.run([_binary(), "trace", "stats", trace, "--router", router, "--capacity-factor", cf,
                            "--scope", "rank", "--top-k", "2", "--per-step", "--csv"],
                           capture_output=True, text=True, timeout=120, cwd=REPO)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.strip().splitlines()
        head = lines[0].split(",")
        rows = [dict(zip(head, line.split(","))) for line in lines[1:]]
        assert len(rows) == 4
        with h5py.File(h5) as f:
            dropped = f["steps/layer_dropped_pairs"][...]
            assert dropped.sum() > 0, router  # capacity binds
            for r in rows:
                s, l = int(r["step"]), int(r["layer"])
                assert f["steps/layer_dropped_tokens"][s, l] == int(r["lost_tokens"]), (router, s, l)
                assert dropped[s, l] == int(r["dropped_pairs"]), (router, s, l)
                assert abs(f["steps/layer_load_max_over_mean"][s, l] - float(r["max_over_mean"])) < 5e-7
                for k in SPECIALISATION:
                    assert abs(f["steps/layer_" + k][s, l] - float(r[k])) < 5e-7, (router, k, s, l)
            # the steps' own figures, not the run's
            assert not np.array_equal(f["steps/layer_purity"][0], f["steps/layer_purity"][1])


def test_backward_alltoall_times(runs):
    with h5py.File(runs["default"][0]) as f:
        for k in ("dispatch", "combine"):
            b = f["layers/backward_%s_time_s" % k][...]
            fw = f["layers/%s_time_s" % k][...]
            assert np.all(b > 0) and np.all(fw > 0)
            # the backward moves the mirror: of the same order as the forward's other direction
            assert np.all(b < 10 * fw.max()) and np.all(b > 0.1 * fw.min())


def test_links_over_time(runs):
    for name in ("default", "overlap", "eplb"):
        with h5py.File(runs[name][0]) as f:
            L = f["links"]
            T = f["steps/step_time_s"][...].sum()
            cap, byt = L["capacity_Bps"][...], L["bytes"][...]
            assert np.allclose(L["utilisation"][...], np.where(cap > 0, byt / (cap * T), 0), rtol=1e-12)
            idx = L["binned_links"][...]
            bs, nb = L.attrs["bin_s"], L.attrs["bins"]
            assert 64 <= nb <= 128 and nb * bs >= T > (nb - 1) * bs
            bb = L["binned_bytes"][...]
            assert bb.shape == (len(idx), nb)
            assert np.allclose(bb.sum(axis=1), byt[idx], rtol=1e-9)
            # no link carries more than its capacity in any bin
            assert np.all(L["binned_utilisation"][...] <= 1 + 1e-9)
            assert np.all(L["class_binned_utilisation"][...] <= 1 + 1e-9)
            u = L["utilisation"][...]
            assert list(idx) == sorted(idx, key=lambda i: (-u[i], i))
            names = L["names"].asstr()[...]
            hot = f["network/hot_link_names"].asstr()[...]
            assert names[idx[0]] == hot[0]
            assert abs(u[idx[0]] - f["network/hot_link_utilisation"][0]) < 1e-12


def test_traffic_matrices(runs):
    for name in ("default", "eplb", "decode"):
        with h5py.File(runs[name][0]) as f:
            s = f["summary"].attrs
            for k in ("dispatch", "combine"):
                m = f["traffic/%s_bytes" % k][...]
                want = s["%s_nvlink_bytes" % k] + s["%s_nic_bytes" % k]
                assert abs(m.sum() - want) <= 1e-9 * want
                assert np.all(np.diagonal(m, axis1=1, axis2=2) == 0)
                ep = s["ep"]
                g = np.arange(m.shape[1]) // ep
                assert np.all(m[:, g[:, None] != g[None, :]] == 0)  # only inside EP groups (etp 1)


def _events(f):
    ev = f["timeline/events"][...]
    return ev, f["steps/step_time_s"][...].sum()


def test_timeline_adds_up(runs):
    for name in ("default", "overlap", "dualpipe", "decode"):
        with h5py.File(runs[name][0]) as f:
            ev, T = _events(f)
            ph = f["steps/phase_time_s"][...].sum(axis=0)
            W = ph.shape[0]
            s = f["summary"].attrs
            steps = len(f["steps/step_time_s"])
            order = np.lexsort((ev["start_s"], ev["stream"], ev["gpu"]))
            assert np.array_equal(order, np.arange(len(ev)))
            for g in range(W):
                c = ev[(ev["gpu"] == g) & (ev["stream"] == 0)]
                # the compute stream: from the run's start to its end, without gap or overlap
                assert c["start_s"][0] == 0 and c["end_s"][-1] == pytest.approx(T, rel=1e-12)
                assert np.all(c["start_s"][1:] == c["end_s"][:-1])
                for k in range(11):
                    got = (c["end_s"] - c["start_s"])[c["kind"] == k].sum()
                    assert got == pytest.approx(ph[g, k], rel=1e-9, abs=1e-12), (name, g, PHASES[k])
                for st in (1, 2):  # one collective at a time
                    e = ev[(ev["gpu"] == g) & (ev["stream"] == st)]
                    assert np.all(e["start_s"][1:] >= e["end_s"][:-1])
            comm = s["dispatch_stream_s"] + s["combine_stream_s"] + s["tp_stream_s"]
            for st, want in ((1, comm), (2, s["dp_stream_s"]), (3, s["pp_stream_s"])):
                e = ev[ev["stream"] == st]
                assert (e["end_s"] - e["start_s"]).sum() / W / steps == pytest.approx(want, rel=1e-9, abs=1e-15)
            if name in ("overlap", "dualpipe"):
                assert (ev["stream"] == 1).sum() > 0
            sends = ev[ev["stream"] == 3]
            if f.attrs["mode"] == "training":
                stage = f["summary"].attrs["gpus"] // 4
                assert len(sends) > 0 and np.all(np.abs(sends["gpu"] // stage - sends["peer"] // stage) == 1)


def test_timeline_json(runs):
    for name in ("default", "overlap", "decode"):
        h5, js, _ = runs[name]
        j = json.load(open(js))
        te = j["traceEvents"]
        with h5py.File(h5) as f:
            ev, T = _events(f)
            W = f["summary"].attrs["gpus"]
            flow = f.attrs["network_model"] == "flow"
        phs = {e["ph"] for e in te}
        assert phs <= {"M", "X", "b", "e", "C"} and "X" in phs and ("C" in phs) == flow
        procs = {e["pid"]: e["args"]["name"] for e in te if e["ph"] == "M" and e["name"] == "process_name"}
        assert all(procs[g].startswith("GPU %d " % g) for g in range(W))
        threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in te if e["ph"] == "M" and e["name"] == "thread_name"}
        assert {threads[(0, t)] for t in range(4)} == {"compute", "communication", "data_parallel", "pipeline"}
        xs = [e for e in te if e["ph"] == "X"]
        assert len(xs) == int((ev["stream"] != 3).sum())
        for e in xs:
            assert {"pid", "tid", "ts", "dur", "name", "cat", "args"} <= set(e) and e["dur"] >= 0
        for g in (0, W - 1):
            c = sorted((e for e in xs if e["pid"] == g and e["tid"] == 0), key=lambda e: e["ts"])
            assert all(abs(a["ts"] + a["dur"] - b["ts"]) < 1e-5 for a, b in zip(c, c[1:]))
            assert sum(e["dur"] for e in c) == pytest.approx(T * 1e6, rel=1e-9)
        b = {e["id"]: e for e in te if e["ph"] == "b"}
        ends = {e["id"]: e for e in te if e["ph"] == "e"}
        assert set(b) == set(ends) and all(ends[i]["ts"] >= b[i]["ts"] for i in b)
        if flow:
            counters = [e for e in te if e["ph"] == "C"]
            assert all(0 <= e["args"]["utilisation_pct"] <= 100 + 1e-6 for e in counters)


def test_timeline_of_some_gpus(tmp_path, runs):
    h5, js = str(tmp_path / "some.h5"), str(tmp_path / "some.json")
    _run(*RUNS["default"], "-o", h5, "--events", "--timeline", js, "--timeline-gpus", "2-5")
    with h5py.File(h5) as f, h5py.File(runs["default"][0]) as full:
        ev, all_ev = f["timeline/events"][...], full["timeline/events"][...]
        assert set(ev["gpu"]) == {2, 3, 4, 5}
        assert np.array_equal(ev, all_ev[(all_ev["gpu"] >= 2) & (all_ev["gpu"] <= 5)])
    j = json.load(open(js))
    pids = {e["pid"] for e in j["traceEvents"] if e["ph"] in "Xbe"}
    assert pids == {2, 3, 4, 5}


def test_refusals(tmp_path):
    out = str(tmp_path / "big.json")
    p = _run("scenarios/deepseek-v3-train.cfg", "--timeline", out, expect=1)
    assert "--timeline %s: the run would record about" % out in p.stderr
    assert "--timeline-gpus" in p.stderr and "--force-large" in p.stderr and "of JSON" in p.stderr
    assert not os.path.exists(out)
    p = _run("--events", expect=2)
    assert "--events adds to the HDF5 file: give one with -o FILE.h5" in p.stderr
    p = _run("--timeline-gpus", "3-1", expect=2)
    assert "--timeline-gpus 3-1: give a GPU or a range FIRST-LAST" in p.stderr
    p = _run("--timeline-gpus", "40-50", "--timeline", out, expect=2)
    assert "the scenario has 32 GPUs" in p.stderr
