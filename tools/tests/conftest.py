import os
import sys

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


import pytest  # noqa: E402

REPO = os.path.dirname(TOOLS)


@pytest.fixture
def moesim_bin():
    """The moesim binary: $MOESIM_BIN (relative to the repository root; `make check` sets
    it), else ./moesim; the test is skipped without one."""
    b = os.environ.get("MOESIM_BIN", "./moesim")
    b = b if os.path.isabs(b) else os.path.join(REPO, b)
    if not os.access(b, os.X_OK):
        pytest.skip("no moesim binary (set MOESIM_BIN or build ./moesim)")
    return b
