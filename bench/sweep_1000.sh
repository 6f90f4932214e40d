#!/bin/sh
# The 1,000-point sweep benchmark (docs/benchmarks.md, "Sweeps"): bench/sweep-1000.cfg
# on -j 1 and -j $(nproc), from an empty directory each time; prints the wall time and
# points per second, and checks both tables are the same bytes.
#   usage: sh bench/sweep_1000.sh [MOESIM_BIN]
set -eu
BIN=${1:-./moesim}
T=$(mktemp -d /tmp/moesim-bench-sweep-XXXXXX)
trap 'rm -rf "$T"' EXIT
now() { date +%s.%N; }
run() {
	t0=$(now)
	MOESIM_THREADS=1 "$BIN" sweep bench/sweep-1000.cfg -j "$1" -q -o "$T/j$1"
	t1=$(now)
	echo "$1 $t0 $t1" | awk '{ t = $3 - $2; printf "sweep 1000 points of 64 GPUs, -j %d: %.2f s, %.1f points/s\n", $1, t, 1000 / t }'
}
run 1
J=$(nproc)
[ "$J" -gt 1 ] && run "$J"
[ "$J" -gt 1 ] && { cmp -s "$T/j1/results.csv" "$T/j$J/results.csv" || { echo "sweep: -j 1 and -j $J tables differ" >&2; exit 1; }; }
echo "sweep: $(grep -c ',ok,' "$T/j1/results.csv") of 1000 points ran"
