#!/usr/bin/env bash
# calibrate/run_all.sh - runs the whole moesim calibration on this GPU machine and
# leaves the profiles and raw logs in one directory (docs/calibrate.md).
#
#   calibrate/run_all.sh OUTDIR [--force] [--quick]
#
# Writes into OUTDIR (created if needed):
#   gemm.cfg, copy.cfg, alltoall.cfg   the measured profiles (docs/profile-format.md)
#   gemm.log, copy.log, alltoall.log   each program's full stdout+stderr
#   alltoall_matrix.txt                the skewed n x n byte matrix timed as alltoallv
#   system.txt                         date, host, nvcc, driver, nvidia-smi (and -q, topo -m)
#
# Time: each program gets a wall-clock budget (--budget-s) and a hard timeout, so the
# run ends in under 8 minutes (build included) on an H100/H200: cal_gemm 240 s
# (timeout 290), cal_copy 40 s (60), cal_alltoall 50 s (80). --quick shrinks the
# sweeps for a smoke test of about a minute. Larger points that do not fit a budget
# are skipped and noted in the profile, never half-measured.
#
# Builds the programs first if build/calibrate/ lacks them (make calibrate; finds a
# pip-installed NCCL when the CUDA toolkit has none). Exit status: 0 when every
# program wrote its profile, 2 when there is no GPU, 1 otherwise.
set -u

usage() {
	echo "usage: $0 OUTDIR [--force] [--quick]" >&2
	exit 64
}

[ $# -ge 1 ] || usage
OUT=$1
shift
FORCE=
QUICK=0
for a in "$@"; do
	case $a in
	--force) FORCE=--force ;;
	--quick) QUICK=1 ;;
	*) usage ;;
	esac
done

cd "$(dirname "$0")/.." || exit 1
BIN=${CAL_BIN:-build/calibrate}
mkdir -p "$OUT" || { echo "run_all: cannot create $OUT" >&2; exit 1; }
for f in gemm.cfg copy.cfg alltoall.cfg; do
	if [ -e "$OUT/$f" ] && [ -z "$FORCE" ]; then
		echo "run_all: $OUT/$f exists; pass --force to overwrite or choose another OUTDIR" >&2
		exit 64
	fi
done
T0=$(date +%s)

# --- build -------------------------------------------------------------------------
find_pip_nccl() {
	# nvidia-nccl-cu13 (and friends) ship include/nccl.h and lib/libnccl.so.2.
	command -v python3 >/dev/null || return 1
	python3 - <<'EOF' 2>/dev/null
import importlib.util, os, sys
for mod in ("nvidia.nccl", "nvidia.cu13", "nvidia"):
    try:
        spec = importlib.util.find_spec(mod)
    except Exception:
        continue
    for p in (spec.submodule_search_locations or []) if spec else []:
        for sub in ("", "nccl"):
            d = os.path.join(p, sub)
            if os.path.exists(os.path.join(d, "include", "nccl.h")):
                print(d)
                sys.exit(0)
sys.exit(1)
EOF
}

if [ ! -x "$BIN/cal_gemm" ] || [ ! -x "$BIN/cal_copy" ] || [ ! -x "$BIN/cal_alltoall" ]; then
	echo "run_all: building the calibration programs"
	MAKEARGS=()
	if [ -z "${CAL_NCCL_HOME:-}" ] && ! ls /usr/local/cuda/include/nccl.h /usr/include/nccl.h >/dev/null 2>&1; then
		if NH=$(find_pip_nccl); then
			echo "run_all: using the NCCL of the Python package in $NH"
			MAKEARGS+=("CAL_NCCL_HOME=$NH")
		fi
	fi
	make -f calibrate/calibrate.mk -j "$(nproc 2>/dev/null || echo 4)" calibrate ${MAKEARGS[@]+"${MAKEARGS[@]}"} ||
		{ echo "run_all: build failed" >&2; exit 1; }
fi

# --- system description --------------------------------------------------------------
{
	echo "# run_all.sh started $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
	echo "# git: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
	echo "# CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-<unset>}"
	uname -a
	command -v nvcc >/dev/null && nvcc --version
	[ -r /proc/driver/nvidia/version ] && cat /proc/driver/nvidia/version
	if command -v nvidia-smi >/dev/null; then
		echo; echo "# nvidia-smi"; nvidia-smi
		echo; echo "# nvidia-smi topo -m"; nvidia-smi topo -m
		echo; echo "# nvidia-smi -q"; nvidia-smi -q
	else
		echo "# nvidia-smi not available"
	fi
} >"$OUT/system.txt" 2>&1

NGPU=1
if command -v nvidia-smi >/dev/null; then
	NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
	[ "$NGPU" -ge 1 ] 2>/dev/null || NGPU=1
fi
if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
	NGPU=$(echo "$CUDA_VISIBLE_DEVICES" | tr ',' '\n' | grep -c .)
fi

# A skewed matrix: rank i sends (1 + (3i + 5j) mod 7) MiB to rank j, so some ranks and
# links carry up to 7x more than others, as under imbalanced routing.
awk -v n="$NGPU" 'BEGIN {
	print "# bytes rank i sends to rank j (row i), written by calibrate/run_all.sh"
	for (i = 0; i < n; i++) {
		line = ""
		for (j = 0; j < n; j++)
			line = line (j ? " " : "") (1 + (3 * i + 5 * j) % 7) * 1048576
		print line
	}
}' >"$OUT/alltoall_matrix.txt"

# --- measurements --------------------------------------------------------------------
# Commas inside arguments (1,8 and 0.25,1,4) are list syntax of the programs.
# shellcheck disable=SC2054
if [ "$QUICK" = 1 ]; then
	GEMM_ARGS=(--shapes 4096x14336 --experts 1,8 --tokens-max 4096 --repeats 5 --warmup 1)
	COPY_ARGS=(--bytes-max 64M --rows-max 16384 --hidden 4096 --repeats 5 --warmup 1)
	A2A_ARGS=(--bytes-max 64M --repeats 5 --warmup 1)
	BUDGETS=(60 20 20)
	TIMEOUTS=(90 40 40)
else
	GEMM_ARGS=()
	COPY_ARGS=()
	A2A_ARGS=(--scales 0.25,1,4)
	BUDGETS=(240 40 50)
	TIMEOUTS=(290 60 80)
fi

FAILED=0
NODEV=0
run() { # name budget timeout program args...
	local name=$1 budget=$2 limit=$3 prog=$4 rc
	shift 4
	echo "run_all: $prog (budget ${budget}s, timeout ${limit}s) -> $OUT/$name.cfg"
	timeout --signal=TERM --kill-after=10 "$limit" "$BIN/$prog" --out "$OUT/$name.cfg" $FORCE \
		--budget-s "$budget" "$@" >"$OUT/$name.log" 2>&1
	rc=$?
	case $rc in
	0) echo "run_all: $prog ok ($(tail -n 1 "$OUT/$name.log"))" ;;
	2) echo "run_all: $prog: $(tail -n 1 "$OUT/$name.log")" >&2; NODEV=1 ;;
	124 | 137) echo "run_all: $prog killed after ${limit}s; see $OUT/$name.log" >&2; FAILED=1 ;;
	*) echo "run_all: $prog failed (exit $rc): $(tail -n 1 "$OUT/$name.log")" >&2; FAILED=1 ;;
	esac
	return $rc
}

run gemm "${BUDGETS[0]}" "${TIMEOUTS[0]}" cal_gemm ${GEMM_ARGS[@]+"${GEMM_ARGS[@]}"}
if [ "$NODEV" = 1 ]; then
	echo "run_all: no usable GPU here; nothing measured" >&2
	exit 2
fi
run copy "${BUDGETS[1]}" "${TIMEOUTS[1]}" cal_copy ${COPY_ARGS[@]+"${COPY_ARGS[@]}"}
if [ -x "$BIN/cal_alltoall" ]; then
	run alltoall "${BUDGETS[2]}" "${TIMEOUTS[2]}" cal_alltoall --matrix "$OUT/alltoall_matrix.txt" "${A2A_ARGS[@]}"
else
	echo "run_all: $BIN/cal_alltoall was not built (no NCCL found); all-to-all not measured" >&2
	FAILED=1
fi

echo "run_all: finished in $(( $(date +%s) - T0 )) s; files in $OUT:"
ls -l "$OUT"
exit $FAILED
