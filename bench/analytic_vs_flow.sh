#!/bin/sh
# analytic_vs_flow.sh - the bottleneck bound's error against the flow-level model:
# the same scenario under network.model = analytic and flow, mean dispatch all-to-all
# time and step time side by side (run by `make bench`; numbers in docs/benchmarks.md).
set -eu
BIN=${1:-./moesim}
T=$(mktemp -d /tmp/moesim-avf-XXXXXX)
trap 'rm -rf "$T"' EXIT
field() { sed -n "s/^ *$1 *\([0-9.]*\) \(m\{0,1\}s\|us\).*/\1 \2/p" "$2" | head -1; }
to_s() { awk -v v="$1" -v u="$2" 'BEGIN { f = u == "ms" ? 1e-3 : (u == "us" ? 1e-6 : 1); printf "%.9g", v * f }'; }
row() {
	label=$1
	shift
	"$BIN" run "$@" --set network.model=analytic >"$T/a" 2>/dev/null
	"$BIN" run "$@" --set network.model=flow >"$T/f" 2>/dev/null
	da=$(to_s $(field 'dispatch' "$T/a")); df=$(to_s $(field 'dispatch' "$T/f"))
	sa=$(to_s $(field 'step time' "$T/a")); sf=$(to_s $(field 'step time' "$T/f"))
	awk -v l="$label" -v da="$da" -v df="$df" -v sa="$sa" -v sf="$sf" 'BEGIN {
		printf "  %-52s dispatch %9.3f ms vs %9.3f ms (%+6.1f %%)   step %8.1f ms vs %8.1f ms (%+6.1f %%)\n",
			l, da * 1e3, df * 1e3, 100 * (da - df) / df, sa * 1e3, sf * 1e3, 100 * (sa - sf) / sf }'
}
echo "analytic bound vs flow model (per GPU per step, analytic first; error relative to flow):"
S="--set routing.source=synthetic --set workload.steps=1"
row "default: 1 node x 8, trace replay"
row "4 nodes x 8, EP 32, fat-tree 1:1" $S --set cluster.nodes=4 --set parallel.ep=32 --set model.experts=32
row "8 nodes x 8, EP 64, fat-tree 2:1, radix 16" $S --set cluster.nodes=8 --set parallel.ep=64 --set model.experts=64 --set network.oversubscription=2 --set network.switch_radix=16 --set model.moe_layers=4
row "8 nodes x 8, EP 64, rail-optimized, radix 16" $S --set cluster.nodes=8 --set parallel.ep=64 --set model.experts=64 --set network.topology=rail --set network.switch_radix=16 --set model.moe_layers=4
row "8 nodes x 8, EP 8 x 8 groups, 4 NICs/node 2:1" $S --set cluster.nodes=8 --set parallel.ep=8 --set cluster.nics_per_node=4 --set network.oversubscription=2 --set network.switch_radix=16 --set model.moe_layers=4
