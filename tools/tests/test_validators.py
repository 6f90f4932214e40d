"""The two trace validators judge the same files alike: the recorder's
(moesim_record.validate) and moesim's (`moesim trace validate`, trace/tr_validate.c).

tests/data/traces/make_bad.py writes the files: good/*.h5, each a corner the format
allows, and bad/*.h5, one violation of docs/trace-format.md each, with bad/expect.tsv
naming what each validator must say. Every bad file must be rejected by both with that
message, every good file (and the shipped trace) accepted by both.

The moesim binary is $MOESIM_BIN (relative to the repository root; `make check` sets it),
else ./moesim; without one the C half is skipped (tests/cli_test.sh checks it too).
"""
import importlib.util
import os
import subprocess

import pytest

import moesim_record as mr

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRACES = os.path.join(REPO, "tests", "data", "traces")
SHIPPED = os.path.join(REPO, "scenarios", "traces", "tiny-moe-4dom.h5")


def _expect():
    rows = []
    with open(os.path.join(TRACES, "bad", "expect.tsv")) as f:
        for line in f:
            if line.startswith("#"):
                continue
            name, c_msg, py_msg = line.rstrip("\n").split("\t")
            rows.append((name, c_msg, py_msg))
    return rows


BAD = _expect()
GOOD = sorted(n for n in os.listdir(os.path.join(TRACES, "good")) if n.endswith(".h5"))


def _binary():
    b = os.environ.get("MOESIM_BIN", "./moesim")
    b = b if os.path.isabs(b) else os.path.join(REPO, b)
    return b if os.access(b, os.X_OK) else None


def _c_validate(path):
    b = _binary()
    if b is None:
        pytest.skip("no moesim binary (set MOESIM_BIN or build ./moesim)")
    p = subprocess.run([b, "trace", "validate", path], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def test_files_are_what_the_generator_writes(tmp_path):
    """bad/expect.tsv and the file lists match make_bad.py (regenerated elsewhere), so a
    case added to the script without rerunning it fails here."""
    spec = importlib.util.spec_from_file_location("make_bad", os.path.join(TRACES, "make_bad.py"))
    mb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mb)
    mb.main(str(tmp_path))
    with open(tmp_path / "bad" / "expect.tsv") as a, open(os.path.join(TRACES, "bad", "expect.tsv")) as b:
        assert a.read() == b.read()
    for d in ("good", "bad"):
        assert sorted(os.listdir(tmp_path / d)) == sorted(os.listdir(os.path.join(TRACES, d)))
    assert len(BAD) >= 50 and len(GOOD) >= 5


@pytest.mark.parametrize("name,c_msg,py_msg", BAD, ids=[r[0] for r in BAD])
def test_recorder_rejects_bad(name, c_msg, py_msg):
    errs = mr.validate(os.path.join(TRACES, "bad", name))
    assert errs, f"{name}: the recorder's validator accepts it"
    assert any(py_msg in e for e in errs), f"{name}: no {py_msg!r} in {errs}"


@pytest.mark.parametrize("name,c_msg,py_msg", BAD, ids=[r[0] for r in BAD])
def test_moesim_rejects_bad(name, c_msg, py_msg):
    rc, out = _c_validate(os.path.join(TRACES, "bad", name))
    assert rc == 1, f"{name}: moesim trace validate exited {rc}: {out}"
    assert c_msg in out, f"{name}: no {c_msg!r} in {out}"


@pytest.mark.parametrize("name", GOOD + ["shipped"])
def test_both_accept_good(name):
    path = SHIPPED if name == "shipped" else os.path.join(TRACES, "good", name)
    assert mr.validate(path) == []
    rc, out = _c_validate(path)
    assert rc == 0 and "valid moesim trace" in out, out


def test_recorder_cli_reports_unreadable_file(capsys):
    """Not HDF5: one INVALID line and exit 1, not a traceback."""
    assert mr.main(["validate", os.path.join(TRACES, "bad", "not-hdf5.h5")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("INVALID: cannot open ") and "as HDF5" in out
