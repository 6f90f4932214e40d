"""moesim plot (tools/moesim_plot.py) on real runs: every plot a run supports is written
as a valid PNG and SVG, the same inputs give the same bytes, what a run lacks is said and
skipped, a sweep CSV is plotted by the columns the user names, and bad input is refused
with a message naming the file and the fix."""
import os
import struct
import subprocess
import xml.etree.ElementTree as ET

import pytest

# The source tree (scenarios/, tests/data/), wherever the binary was built.
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

pytest.importorskip("matplotlib", reason="moesim plot needs python3-matplotlib")
pytest.importorskip("h5py", reason="moesim plot needs python3-h5py")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def check_png(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    w, h = struct.unpack(">II", head[16:24])
    assert 200 < w < 4000 and 150 < h < 4000, (path, w, h)


def check_svg(path):
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg", path
    assert len(list(root.iter())) > 50, path  # drawn, not empty


def test_plots_of_two_runs(tmp_path, moesim_bin):
    """Run A: the flow model at capacity factor 1.25; run B: the analytic model at 2.0,
    which has no link data (said, and skipped)."""
    a, b = str(tmp_path / "flow125.h5"), str(tmp_path / "analytic2.h5")
    for path, sets in ((a, ["routing.capacity_factor=1.25"]),
                       (b, ["routing.capacity_factor=2.0", "network.model=analytic"])):
        cmd = [moesim_bin, "run", "-q", "--set", "workload.steps=1", "-o", path]
        for x in sets:
            cmd += ["--set", x]
        r = run(cmd)
        assert r.returncode == 0, r.stderr
    out = tmp_path / "plots"
    out.mkdir()
    r = run([moesim_bin, "plot", a, b, "-o", str(out)])
    assert r.returncode == 0, r.stderr
    want = ["flow125-step-breakdown", "flow125-expert-load", "analytic2-step-breakdown", "analytic2-expert-load",
            "runs-drops-vs-capacity"]
    import h5py
    with h5py.File(a) as f:
        if "links/binned_utilisation" in f:
            want.append("flow125-link-util")
    for stem in want:
        check_png(str(out / (stem + ".png")))
        check_svg(str(out / (stem + ".svg")))
        assert "wrote %s" % (out / (stem + ".png")) in r.stdout
    assert sorted(os.listdir(out)) == sorted(s + e for s in want for e in (".png", ".svg"))
    assert "skipping link-util for %s: this run has no /links: run with network.model = \"flow\"" % b in r.stderr
    # Same inputs, same bytes.
    out2 = tmp_path / "again"
    out2.mkdir()
    assert run([moesim_bin, "plot", a, "-o", str(out2), "--only", "step-breakdown,expert-load"]).returncode == 0
    for stem in want[:2]:
        for ext in ("png", "svg"):
            assert (out / (stem + "." + ext)).read_bytes() == (out2 / (stem + "." + ext)).read_bytes(), stem
    r = run([moesim_bin, "plot", a, a, "-o", str(tmp_path)])
    assert r.returncode == 1 and "two runs have the same file name (flow125)" in r.stderr


def test_sweep_csv(tmp_path, moesim_bin):
    csv = tmp_path / "cf-sweep.csv"
    csv.write_text("routing.capacity_factor,network.topology,step_time_s,dropped_pair_fraction\n"
                   "1.0,fat_tree,3.52,0.061\n1.25,fat_tree,3.41,0.019\n2.0,fat_tree,3.38,0.0002\n"
                   "1.0,rail,3.31,0.061\n1.25,rail,3.22,0.019\n2.0,rail,3.20,0.0002\n")
    r = run([moesim_bin, "plot", "--csv", str(csv), "--x", "routing.capacity_factor", "--y",
             "step_time_s,dropped_pair_fraction", "--group", "network.topology", "-o", str(tmp_path)])
    assert r.returncode == 0, r.stderr
    check_png(str(tmp_path / "cf-sweep-sweep.png"))
    check_svg(str(tmp_path / "cf-sweep-sweep.svg"))
    r = run([moesim_bin, "plot", "--csv", str(csv), "--x", "capacity", "--y", "step_time_s", "-o", str(tmp_path)])
    assert r.returncode == 1
    assert "cf-sweep.csv: no column 'capacity'; the columns are: routing.capacity_factor, network.topology" in r.stderr
    r = run([moesim_bin, "plot", "--csv", str(csv), "--x", "routing.capacity_factor", "--y", "network.topology",
             "-o", str(tmp_path)])
    assert r.returncode == 1 and "column 'network.topology' is not numeric" in r.stderr


def test_a_real_sweep(tmp_path, moesim_bin):
    """moesim sweep's own table: scenarios/sweep-capacity.cfg (four capacity factors, one
    of them "dropless", analytic: about two seconds)."""
    d = tmp_path / "cap.sweep"
    r = run([moesim_bin, "sweep", os.path.join(REPO, "scenarios", "sweep-capacity.cfg"), "-o", str(d), "-j", "1", "-q"])
    assert r.returncode == 0, r.stderr
    r = run([moesim_bin, "plot", "--csv", str(d / "results.csv"), "--x", "routing.capacity_factor", "--y",
             "dropped_pair_frac,tokens_per_s_per_gpu", "-o", str(tmp_path)])
    assert r.returncode == 0, r.stderr
    check_png(str(tmp_path / "cap-sweep.png"))
    check_svg(str(tmp_path / "cap-sweep.svg"))
    # the table's strings as h5py gives them: attributes str, string columns UTF-8
    import h5py
    with h5py.File(d / "results.h5") as f:
        assert isinstance(f.attrs["sweep_id"], str) and isinstance(f.attrs["scenario"], str)
        col = f["routing.capacity_factor"]
        assert isinstance(col.attrs["unit"], str) and isinstance(col.attrs["doc"], str)
        assert h5py.check_string_dtype(f["status"].dtype).encoding == "utf-8"
        assert list(col.asstr()[:]) == ["1", "1.25", "2", "dropless"]


def test_bad_input_refused(tmp_path, moesim_bin):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5\n")
    r = run([moesim_bin, "plot", str(text), "-o", str(tmp_path)])
    assert r.returncode == 1 and "notes.h5: not an HDF5 file" in r.stderr
    trace = os.path.join(REPO, "tests", "data", "traces", "good", "base.h5")
    r = run([moesim_bin, "plot", trace, "-o", str(tmp_path)])
    assert r.returncode == 1 and "not a moesim run file (root attribute 'format' is 'moesim-trace'" in r.stderr
    r = run([moesim_bin, "plot", "-o", str(tmp_path)])
    assert r.returncode == 1 and "nothing to plot" in r.stderr
    r = run([moesim_bin, "plot", str(text), "-o", str(tmp_path / "nowhere")])
    assert r.returncode == 1 and "-o %s: no such directory" % (tmp_path / "nowhere") in r.stderr
    assert not [n for n in os.listdir(tmp_path) if n.endswith((".png", ".svg"))]
