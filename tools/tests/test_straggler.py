"""tools/moesim_straggler.py names the straggler of a layer and why, on a run whose
straggler is known by construction: a trace in which MoE layer 0 sends six times as many
choices to expert 2 as to any other, and layer 1 to expert 5. With 8 experts on EP 8
(contiguous placement: expert e on EP member e, which is GPU e on one node of 8), dropless,
GPU 2 must be the straggler of layer 0 and GPU 5 of layer 1, each because of its expert
compute, each holding the hot expert."""
import os
import subprocess
import sys

import pytest

pytest.importorskip("pandas", reason="the analysis example needs python3-pandas")
pytest.importorskip("h5py", reason="the analysis example needs python3-h5py")

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(TOOLS, "moesim_straggler.py")
HOT = {0: 2, 1: 5}

SCENARIO = """\
# One hot expert per layer (the table in hot.csv): layer 0 expert 2, layer 1 expert 5.
model = { hidden = 1024; ffn_hidden = 2048; experts = 8; top_k = 2; moe_layers = 2; heads = 8; kv_heads = 8; vocab = 1000; };
cluster = { nodes = 1; gpus_per_node = 8; };
parallel = { ep = 8; };
workload = { mode = "training"; tokens_per_rank = 1024; seq_len = 1024; global_batch = 8; };
routing = { source = "trace"; trace = "hot.h5"; capacity_factor = "dropless"; };
"""


@pytest.fixture
def hot_run(tmp_path, moesim_bin):
    with open(tmp_path / "hot.csv", "w") as f:
        f.write("layer,expert,share\n")
        for layer, hot in HOT.items():
            for e in range(8):
                f.write("%d,%d,%d\n" % (layer, e, 6 if e == hot else 1))
    subprocess.run([moesim_bin, "trace", "synth", "-o", str(tmp_path / "hot.h5"), "--layers", "2", "--experts", "8",
                    "--tokens", "8192", "--ranks", "8", "--seq-len", "1024", "--top-k", "2", "--dist", "table",
                    "--table", str(tmp_path / "hot.csv")], check=True, capture_output=True, timeout=120)
    (tmp_path / "hot.cfg").write_text(SCENARIO)
    subprocess.run([moesim_bin, "run", str(tmp_path / "hot.cfg"), "-q", "-o", str(tmp_path / "run.h5")], check=True,
                   capture_output=True, timeout=120)
    return str(tmp_path / "run.h5")


def test_names_the_gpu_of_the_hot_expert(hot_run):
    sys.path.insert(0, TOOLS)
    import moesim_straggler as ms
    for layer, hot in HOT.items():
        for pass_name in ("forward", "backward"):
            r = ms.straggler(hot_run, layer, pass_name)
            assert r["straggler"] == hot, (layer, pass_name, r["straggler"])
            assert r["why"][0][0] == "expert"  # the largest excess over the median GPU
            assert r["load"] > 2 * r["mean_load"]
            assert [e for e, _, _ in r["experts"]] == [hot] and r["hottest_expert"] == hot
            # The others wait for it: their mean wait is its excess of own work, to 1 %.
            assert abs(r["others_wait_s"] - (r["own_work_s"] - r["median_own_work_s"])) < 0.01 * r["own_work_s"]


def test_command_line_verdict(hot_run):
    p = subprocess.run([sys.executable, SCRIPT, hot_run, "--layer", "1"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "layer 1 (forward pass), 8 GPUs: the straggler is GPU 5" in p.stdout
    assert "why: expert " in p.stdout
    assert "it holds expert 5 (routed " in p.stdout and "the layer's hottest" in p.stdout
    p = subprocess.run([sys.executable, SCRIPT, hot_run, "--layer", "7"], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and "--layer 7: the run has layers 0 .. 1" in p.stderr
