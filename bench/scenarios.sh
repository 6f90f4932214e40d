#!/bin/sh
# scenarios.sh - every shipped scenario (scenarios/*.cfg but the sweep-* specs) run as
# shipped: wall time and peak RSS (/usr/bin/time), against issue 13's target of 60 s
# each (docs/benchmarks.md, "Scale (issue 13)"). A run past the limit is stopped and
# reported as "> LIMIT s (stopped)". Routing threads: MOESIM_THREADS (default: every
# online CPU); pin the cores with taskset.
#   usage: sh bench/scenarios.sh [MOESIM_BIN] [LIMIT_S]
set -eu
BIN=${1:-./moesim}
LIMIT=${2:-60}
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "scenarios.sh: $TIME is missing (apt-get install time)" >&2; exit 2; }
T=$(mktemp -d /tmp/moesim-bench-scn-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
printf '%-36s %12s %10s  %s\n' "scenario (target < $LIMIT s)" "wall" "peak RSS" "met?"
for f in scenarios/*.cfg; do
	case $(basename "$f") in sweep-*) continue ;; esac
	rc=0
	# time outside timeout, so a stopped run's memory is still counted and nothing is
	# left running; --allow-memory-overflow since deepseek-v3-2048.cfg is a speed
	# benchmark whose model does not fit its GPUs (its own header says so)
	"$TIME" -f '%e %M' -o "$T/time" timeout "$LIMIT" "$BIN" run "$f" -q --allow-memory-overflow >"$T/out" 2>&1 || rc=$?
	if [ "$rc" -eq 124 ]; then
		tail -1 "$T/time" | awk -v f="$f" -v lim="$LIMIT" '{ printf "%-36s %12s %6.0f MiB  not met (stopped)\n", f, "> " lim " s", $2 / 1024 }'
		fails=$((fails + 1))
	elif [ "$rc" -ne 0 ]; then
		printf '%-36s failed (exit %d): %s\n' "$f" "$rc" "$(head -1 "$T/out")"
		fails=$((fails + 1))
	else
		tail -1 "$T/time" | awk -v f="$f" -v lim="$LIMIT" '{ printf "%-36s %10.2f s %6.0f MiB  %s\n", f, $1, $2 / 1024, $1 < lim ? "met" : "not met" }' "$T/time"
		[ "$(tail -1 "$T/time" | awk -v lim="$LIMIT" '{ print ($1 < lim) }')" = 1 ] || fails=$((fails + 1))
	fi
done
echo "scenarios: $fails over $LIMIT s or failed"
