#!/bin/sh
# Runs the recorder / tiny-model test suite with Debian's Python
# (packages: python3-torch python3-h5py python3-numpy python3-pytest).
# Tests that need Hugging Face transformers are skipped when it is missing, and the tests
# of moesim plot and the analysis example when matplotlib or pandas is (-rs says which).
set -e
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "${PYTHON:-/usr/bin/python3}" -m pytest -q -rs -p no:cacheprovider tools/tests "$@"
