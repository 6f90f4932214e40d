#!/bin/sh
# cli_test.sh - the moesim command line as a user drives it: exit codes, one-line
# errors, outputs complete or absent, same bytes for the same scenario and seed.
# Prints "N passed, N failed" and exits non-zero on any failure.
set -u
BIN=${MOESIM_BIN:-./moesim}
T=$(mktemp -d /tmp/moesim-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect CODE TEXT -- command...: exit code and a fixed string in stdout or stderr
expect() {
	code=$1 pat=$2
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -ne "$code" ]; then bad "$* exited $rc, expected $code: $(head -c 300 "$T/err")"; return; fi
	if ! grep -qF -- "$pat" "$T/out" "$T/err"; then bad "$*: no '$pat' in output: $(head -c 300 "$T/err")"; return; fi
	ok
}

expect 0 "step time" -- "$BIN" run
expect 0 "usage: moesim run" -- "$BIN" run --help
expect 2 "usage: moesim" -- "$BIN"
expect 2 "unknown command 'fly'" -- "$BIN" fly
expect 2 "unknown option '--bogus'" -- "$BIN" run --bogus
expect 1 "cannot read scenario file '$T/none.cfg'" -- "$BIN" run "$T/none.cfg"
expect 1 "routing.top_k = 9 but model.experts = 8" -- "$BIN" run --set routing.top_k=9
expect 1 "did you mean 'routing.top_k'" -- "$BIN" run --set routing.topk=2
expect 0 "top-4" -- "$BIN" run --set routing.top_k=4 --set workload.steps=1
expect 0 "dropless" -- "$BIN" run --set routing.capacity_factor=dropless --set workload.steps=1
expect 0 "parallel = {" -- "$BIN" show
expect 0 "workload.tokens_per_rank" -- "$BIN" keys
expect 0 "h100-sxm" -- "$BIN" gpus
expect 0 "bisection" -- "$BIN" topo
expect 2 "unknown option" -- "$BIN" topo --bogus
expect 1 "needs network.file" -- "$BIN" topo --set network.topology=custom
# moesim layout: the default's Megatron-Core groups (4 nodes x 8, PP 4, EP 8, DP 8), one
# kind, one GPU, and the refusals.
expect 0 "layout: 32 GPUs = tp 1 x cp 1 x dp 8 x pp 4 (dense); etp 1 x ep 8 x edp 1 x pp 4 (experts)" -- "$BIN" layout
expect 0 "  pp 0: ranks 0 8 16 24; nodes 0-3 (4)" -- "$BIN" layout
expect 0 "  dp 3: ranks 24 25 26 27 28 29 30 31; nodes 3 (1)" -- "$BIN" layout
expect 0 "  ep 1: ranks 8 9 10 11 12 13 14 15; nodes 1 (1)" -- "$BIN" layout --group ep
if [ "$(grep -c '^  ep [0-3]: ranks' "$T/out")" -eq 4 ] && [ "$(grep -vc '^  ep \|^ep: 4 groups of 8$\|^moesim layout: ' "$T/out")" -eq 0 ]; then ok
else bad "layout --group ep printed more than the 4 ep groups: $(head -c 300 "$T/out")"; fi
expect 0 "rank 9: node 1 of 4 (8 GPUs per node), pipeline stage 1 of 4" -- "$BIN" layout --rank 9
expect 0 "  pp        group 1 of 8, position 1 of 4: ranks 1 9 17 25; nodes 0-3 (4)" -- "$BIN" layout --rank 9
expect 0 "  ep        group 1 of 4, position 1 of 8: ranks 8 9 10 11 12 13 14 15; nodes 1 (1)" -- "$BIN" layout --rank 9
expect 0 "  pp 5: ranks 5 21; nodes 0,2 (2)" -- "$BIN" layout --set parallel.tp=2 --set parallel.pp=2 --group pp
expect 0 "  tp        group 2 of 16, position 1 of 2: ranks 4 5; nodes 0 (1)" -- "$BIN" layout --set parallel.tp=2 --set parallel.pp=2 --rank 5 --group tp
expect 2 "--group bogus: not a group kind; use one of tp, cp, dp, pp, dp-cp, tp-cp, tp-dp-cp, mp, ep, etp, edp, tp-ep, tp-ep-pp" -- "$BIN" layout --group bogus
expect 1 "--rank 32: the cluster of <built-in default> has 32 GPUs; give 0 .. 31" -- "$BIN" layout --rank 32
expect 2 "--rank x: expected a GPU number (0 or more)" -- "$BIN" layout --rank x
expect 1 "parallel: layers = 32 is not a multiple of pp x vpp = 4 x 3 = 12" -- "$BIN" layout --set parallel.vpp=3
expect 2 "unknown option '--bogus'" -- "$BIN" layout --bogus
expect 0 "usage: moesim layout" -- "$BIN" layout --help
expect 0 "layout [SCENARIO]" -- "$BIN" --help
expect 0 "hottest links" -- "$BIN" run --set routing.source=synthetic --set cluster.nodes=2 --set parallel.pp=1 --set parallel.ep=16 --set model.experts=16 --set model.moe_layers=2

printf 'model = { hidden = 64; ffn_hidden = 128; experts = 4; top_k = 2; moe_layers = 2; heads = 4; };\ncluster = { nodes = 1; gpus_per_node = 4; };\nparallel = { ep = 3; };\nworkload = { tokens_per_rank = 64; seq_len = 64; };\n' >"$T/bad_ep.cfg"
expect 1 "bad_ep.cfg:3: parallel.ep = 3 does not divide" -- "$BIN" run "$T/bad_ep.cfg"
printf 'model = { hidden = 64\n' >"$T/syntax.cfg"
expect 1 "syntax.cfg:2: syntax error" -- "$BIN" run "$T/syntax.cfg"

# Outputs: written whole, never overwritten without --force, same bytes each time.
expect 0 "written" -- "$BIN" run --set workload.steps=2 -o "$T/a.h5"
expect 1 "exists; pass --force" -- "$BIN" run -o "$T/a.h5"
expect 0 "written" -- "$BIN" run --set workload.steps=2 -o "$T/b.h5"
if cmp -s "$T/a.h5" "$T/b.h5"; then ok; else bad "same scenario and seed gave different HDF5 bytes"; fi
expect 0 "written" -- "$BIN" run --set workload.steps=2 -o "$T/a.h5" --force
if cmp -s "$T/a.h5" "$T/b.h5"; then ok; else bad "--force rewrite differs"; fi
expect 1 "cannot create HDF5 file" -- "$BIN" run -o "$T/no/such/dir/x.h5"
if ls "$T"/no 2>/dev/null || ls "$T"/*.tmp.* 2>/dev/null; then bad "a temporary or partial output was left behind"; else ok; fi
# topo --dot: an atomic output like the others, kept unless --force.
expect 0 "bisection" -- "$BIN" topo --dot "$T/g.dot"
if grep -q "^graph moesim" "$T/g.dot"; then ok; else bad "topo --dot wrote no graph"; fi
echo "someone else's" >"$T/g.dot"
expect 1 "output '$T/g.dot' exists; pass --force to overwrite it" -- "$BIN" topo --dot "$T/g.dot"
if grep -q "someone else's" "$T/g.dot"; then ok; else bad "topo --dot overwrote a file without --force"; fi
expect 0 "bisection" -- "$BIN" topo --dot "$T/g.dot" --force
if grep -q "^graph moesim" "$T/g.dot"; then ok; else bad "topo --dot --force did not replace the file"; fi
expect 1 "cannot create" -- "$BIN" topo --dot "$T/no/such/dir/g.dot"
expect 2 "unknown option '--force'" -- "$BIN" show --force
"$BIN" run --set routing.source=synthetic --set workload.seed=7 -q -o "$T/c.h5" 2>/dev/null
"$BIN" run --set routing.source=synthetic --set workload.seed=8 -q -o "$T/d.h5" 2>/dev/null
if cmp -s "$T/c.h5" "$T/d.h5"; then bad "a different seed gave the same bytes"; else ok; fi

# The analytic bound says what it ignores (issue 14: three networks gave one answer silently).
expect 0 "ignores network.oversubscription" -- "$BIN" run -q --set network.model=analytic --set network.oversubscription=2
expect 0 "ignores network.alltoall" -- "$BIN" run -q --set network.model=analytic --set network.alltoall=pairwise

# Progress (issue 14): a bar on stderr only when it is a terminal, never in a pipe or a
# file, and not with -q. `script` gives the run a terminal.
"$BIN" run --set workload.steps=1 2>"$T/progress.err" | cat >/dev/null
if grep -q "moesim run (layers)" "$T/progress.err" || tr -d '\n' <"$T/progress.err" | grep -q "$(printf '\r')"; then
	bad "a progress bar went to a stderr that is not a terminal: $(head -c 300 "$T/progress.err")"; else ok; fi
if command -v script >/dev/null 2>&1; then
	script -qec "'$BIN' run --set workload.steps=1 >/dev/null" /dev/null >"$T/tty.out" 2>&1
	if grep -q "moesim run (layers): \[#*\] 32/32 (100 %)" "$T/tty.out"; then ok; else bad "no progress line on a terminal: $(head -c 300 "$T/tty.out")"; fi
	script -qec "'$BIN' run -q --set workload.steps=1" /dev/null >"$T/tty.out" 2>&1
	if grep -q "moesim run (layers)" "$T/tty.out"; then bad "-q still drew the progress line"; else ok; fi
else
	echo "cli: skipping the progress bar on a terminal (no 'script'; Debian's bsdutils has it)"
fi

# moesim report (issue 14): a stored run's summary repeats what moesim run printed for
# it, line for line; two runs side by side list exactly the keys they differ in and
# each run's own figures; files that are not runs are refused by name.
"$BIN" run --set workload.steps=1 -o "$T/rep_a.h5" >"$T/rep_a.txt" 2>/dev/null
"$BIN" run --set workload.steps=1 --set routing.capacity_factor=2.0 --set routing.top_k=1 -o "$T/rep_b.h5" >"$T/rep_b.txt" 2>/dev/null
# Every line from the step time on, but the hottest NVLink port and NIC (not in the
# file), equal to the character.
same_as_summary() { # SUMMARY.txt RUN.h5 WHAT
	sed -n '/^  step time/,$p' "$1" | grep -v '^  hottest NVLink\|^  hottest NIC \|^  written' >"$T/rep_want"
	"$BIN" report "$2" >"$T/rep_got" 2>&1
	sed -n '/^  step time/,$p' "$T/rep_got" >"$T/rep_got_tail"
	if [ "$(wc -l <"$T/rep_want")" -ge 25 ] && cmp -s "$T/rep_want" "$T/rep_got_tail"; then ok
	else bad "report of $3 differs from its summary: $(diff "$T/rep_want" "$T/rep_got_tail" | head -c 400)"; fi
}
expect 0 "moesim report: $T/rep_a.h5" -- "$BIN" report "$T/rep_a.h5"
same_as_summary "$T/rep_a.txt" "$T/rep_a.h5" "a training run"
same_as_summary "$T/rep_b.txt" "$T/rep_b.h5" "a top-1 run"
expect 0 "moesim report: 2 runs" -- "$BIN" report "$T/rep_a.h5" "$T/rep_b.h5"
sed -n '/scenario differences/,/^$/p' "$T/out" | sed '1d;$d' | awk '{print $1, $2, $3}' >"$T/rep_diff"
if [ "$(cat "$T/rep_diff")" = "$(printf 'routing.top_k 2 1\nrouting.capacity_factor 1.25 2')" ]; then ok
else bad "report of two runs: wrong differences: $(cat "$T/rep_diff")"; fi
ta=$(sed -n 's/^  step time        //p' "$T/rep_a.txt") tb=$(sed -n 's/^  step time        //p' "$T/rep_b.txt")
if grep -q "^  step time  *$ta  *$tb (-[0-9.]* %)$" "$T/out"; then ok; else bad "report's step times are not the summaries' ($ta, $tb): $(grep 'step time' "$T/out")"; fi
pa=$(sed -n 's/^  tokens dropped   \([0-9.]*\) %.*/\1/p' "$T/rep_a.txt") pb=$(sed -n 's/^  tokens dropped   \([0-9.]*\) %.*/\1/p' "$T/rep_b.txt")
if grep -q "^  pairs dropped  *$pa %  *$pb % (-[0-9.]* pts)$" "$T/out"; then ok; else bad "report's drops are not the summaries' ($pa, $pb)"; fi
# both replay the labelled trace: each run's purity and concentration from its own summary line
ua=$(sed -n 's/^  specialisation   purity \([0-9.]*\) .*/\1/p' "$T/rep_a.txt") ub=$(sed -n 's/^  specialisation   purity \([0-9.]*\) .*/\1/p' "$T/rep_b.txt")
ca=$(sed -n 's/^  specialisation .* concentration \([0-9.]*\) .*/\1/p' "$T/rep_a.txt") cb=$(sed -n 's/^  specialisation .* concentration \([0-9.]*\) .*/\1/p' "$T/rep_b.txt")
if [ -n "$ua" ] && [ "$ua" != "$ub" ] && grep -q "^  purity  *$ua  *$ub ([-+][0-9.]* %)$" "$T/out" &&
	grep -q "^  concentration  *$ca  *$cb ([-+][0-9.]* %)$" "$T/out"; then ok
else bad "report's specialisation is not the summaries' ($ua, $ub; $ca, $cb): $(grep 'purity\|concentration' "$T/out")"; fi
"$BIN" run -q --set workload.steps=1 --set routing.source=synthetic -o "$T/rep_s.h5" 2>/dev/null
expect 0 "moesim report: 2 runs" -- "$BIN" report "$T/rep_s.h5" "$T/rep_s.h5"
if grep -q "purity\|concentration" "$T/out"; then bad "report of two synthetic runs prints specialisation rows: $(grep 'purity' "$T/out")"; else ok; fi
expect 0 "none: the same resolved scenario" -- "$BIN" report "$T/rep_a.h5" "$T/rep_a.h5"
expect 1 "rep_none.h5': no such file" -- "$BIN" report "$T/rep_a.h5" "$T/rep_none.h5"
expect 1 "cli_test.sh: not an HDF5 file" -- "$BIN" report "${MOESIM_SRC:-.}/tests/cli_test.sh"
expect 1 "base.h5: not a moesim run file (root attribute 'format' is \"moesim-trace\", not \"moesim-run\")" -- "$BIN" report "${MOESIM_SRC:-.}/tests/data/traces/good/base.h5"
head -c 3000 "$T/rep_a.h5" >"$T/rep_cut.h5"
expect 1 "rep_cut.h5: HDF5 cannot open it (truncated or corrupt?)" -- "$BIN" report "$T/rep_cut.h5"
expect 2 "report needs at least one run file" -- "$BIN" report
expect 2 "unknown option '--bogus'" -- "$BIN" report --bogus "$T/rep_a.h5"
# moesim plot hands over to Python (its tests: tools/tests/test_plot.py); without one it says what to install.
expect 1 "plot: cannot run $T/no-python3 (No such file or directory): moesim plot needs Python 3 with h5py and matplotlib" -- env MOESIM_PYTHON="$T/no-python3" "$BIN" plot "$T/rep_a.h5"
mkdir -p "$T/dd/scenarios" && cp "${MOESIM_SRC:-.}/scenarios/default.cfg" "$T/dd/scenarios/"
expect 1 "plot: cannot find tools/moesim_plot.py in the data directory ('$T/dd')" -- env MOESIM_DATADIR="$T/dd" "$BIN" plot "$T/rep_a.h5"

# Mode-correct summaries (issue 14): only training has a backward pass to mention; the
# report of a stored decode run prints the decode latency line as the run did.
for m in prefill decode; do
	"$BIN" run --set workload.mode=$m --set workload.steps=1 --set parallel.pp=1 --set cluster.nodes=1 \
		--set workload.global_batch=8 -o "$T/mode-$m.h5" >"$T/mode.txt" 2>/dev/null
	if grep -qi "backward\|mirror\|gradient" "$T/mode.txt"; then bad "the $m summary speaks of training: $(grep -i 'backward\|mirror\|gradient' "$T/mode.txt")"; else ok; fi
done
if grep -q "the backward pass moves the mirror" "$T/rep_a.txt"; then ok; else bad "the training summary no longer says the backward pass moves the mirror"; fi
expect 0 "  per output token " -- "$BIN" report "$T/mode-decode.h5"
same_as_summary "$T/mode.txt" "$T/mode-decode.h5" "a decode run"

# MOESIM_THREADS: a thread count or refused, never silently one thread.
expect 1 "MOESIM_THREADS = 'two' is not a thread count" -- env MOESIM_THREADS=two "$BIN" run
expect 1 "MOESIM_THREADS = '0' is not a thread count" -- env MOESIM_THREADS=0 "$BIN" run
"$BIN" run -q -o "$T/t1.h5" --set routing.source=synthetic 2>/dev/null
MOESIM_THREADS=3 "$BIN" run -q -o "$T/t3.h5" --set routing.source=synthetic 2>/dev/null
if cmp -s "$T/t1.h5" "$T/t3.h5"; then ok; else bad "MOESIM_THREADS=3 changed the output bytes"; fi

# routing.router on the default scenario's trace: the same bytes at 1 and 2 threads
# (bias_balanced's bias is planned before the parallel steps), the router in the summary
# and the HDF5 attributes, and the refusals.
for R in expert_choice bias_balanced bpr; do
	MOESIM_THREADS=1 "$BIN" run -q -o "$T/$R-1.h5" --set routing.router=$R --set workload.steps=2 2>/dev/null
	MOESIM_THREADS=2 "$BIN" run -q -o "$T/$R-2.h5" --set routing.router=$R --set workload.steps=2 2>/dev/null
	if [ -s "$T/$R-1.h5" ] && cmp -s "$T/$R-1.h5" "$T/$R-2.h5"; then ok; else bad "routing.router=$R: MOESIM_THREADS=2 changed the output bytes"; fi
done
expect 0 "  router     bias_balanced, gamma 0.0025: top-k of score + bias, the bias updated once per step from the step's load, in each rank scope" -- "$BIN" run --set routing.router=bias_balanced --set routing.bias_gamma=0.0025
if command -v h5dump >/dev/null 2>&1; then
	if h5dump -a /summary/router "$T/bpr-1.h5" | grep -q '"bpr"' && h5dump -a /router "$T/bpr-1.h5" | grep -q '"bpr"' &&
		h5dump -a /summary/bias_gamma "$T/bpr-1.h5" | grep -q '0.001'; then ok; else bad "router attributes missing from $T/bpr-1.h5"; fi
fi
expect 0 "  workload   training, 2 steps; capacity factor 1.25; router bias_balanced, gamma 0.001" -- "$BIN" report "$T/bias_balanced-1.h5"
expect 1 "routing.router = \"bpr\" compares router scores, but routing.distribution = \"balanced\" fixes every token's experts" -- "$BIN" run --set routing.source=synthetic --set routing.distribution=balanced --set routing.router=bpr
# synthetic routing draws every expert's score for the other routers (docs/routing.md)
expect 0 "  router     expert_choice: each expert takes its capacity's best-scored tokens, in each rank scope" -- "$BIN" run --set routing.source=synthetic --set routing.router=expert_choice --set network.model=analytic
# a ranking of depth 3 < E with /routing/logits: the routers needing every score read the logits
"$BIN" trace synth -o "$T/logits3.h5" --layers 4 --experts 8 --depth 3 --tokens 32768 --ranks 8 --domains 4 --logits >/dev/null 2>&1
expect 0 "  specialisation   purity " -- "$BIN" run --set routing.router=expert_choice --set "routing.trace=$T/logits3.h5" --set network.model=analytic
expect 1 "routing.router = \"expert_choice\" needs a numeric routing.capacity_factor" -- "$BIN" run --set routing.router=expert_choice --set routing.capacity_factor=dropless
TR="$(cd "${MOESIM_SRC:-.}" && pwd)/tests/data/traces/good/minimal.h5"
expect 1 "the trace $TR ranks only 3 of its 6 experts per token and has no /routing/logits: record it with the full ranking (depth = num_experts) or with logits, or use routing.router = \"topk\" or \"bpr\"" -- "$BIN" run --set routing.router=bias_balanced --set "routing.trace=$TR" --set model.experts=6 --set parallel.ep=2

# SIGTERM and SIGINT remove the temporary of an unfinished output and exit 128 + signal
# (a wrapper script would take the signal itself, so only for a real executable).
if head -c 4 "$BIN" | grep -q ELF; then
	for sig in TERM INT; do
		"$BIN" trace synth -o "$T/killed.h5" --layers 8 --experts 64 --tokens 2000000 2>/dev/null &
		pid=$!
		i=0
		while [ $i -lt 100 ] && ! ls "$T"/killed.h5.tmp.* >/dev/null 2>&1; do sleep 0.05; i=$((i + 1)); done
		kill -$sig $pid
		wait $pid
		rc=$?
		want=$([ $sig = TERM ] && echo 143 || echo 130)
		if [ "$rc" -eq "$want" ]; then ok; else bad "trace synth killed with SIG$sig exited $rc, expected $want"; fi
		if ls "$T"/killed.h5* >/dev/null 2>&1; then bad "SIG$sig left $(ls "$T"/killed.h5*)"; else ok; fi
	done
fi

# Inputs are opened once per run: the profile (read by the compute model and by the
# topology) and the trace (routing, load-aware placement) are each opened by one
# system call, seen with strace (make deps installs it). The wrapper of `make valgrind`
# or a sanitizer build opens what it opens itself, so only the file names are counted.
if command -v strace >/dev/null 2>&1 && [ -n "${MOESIM_SRC:-}" ]; then
	P=$MOESIM_SRC/tests/data/profiles/h100-synthetic
	for extra in "" "--set routing.placement=load_aware --set routing.redundant_experts=8 --set parallel.ep=4 --set training.recompute=full"; do
		# shellcheck disable=SC2086 # the extra overrides are split on purpose
		strace -f -qq -e trace=open,openat -o "$T/strace" "$BIN" run -q --set network.alltoall=hierarchical \
			--set cluster.profile="$P/gemm.cfg,$P/alltoall.cfg" $extra 2>/dev/null
		# Counted in the run's own process: the trace's first read is also done once in a
		# child (trace/tr_isolate.h), which ends before the run opens the file.
		main=$(sed -n '1s/ .*//p' "$T/strace")
		for f in gemm.cfg alltoall.cfg tiny-moe-4dom.h5; do
			n=$(grep "^$main " "$T/strace" | grep -c "/$f\"")
			if [ "$n" -eq 1 ]; then ok; else bad "run ${extra:-(plain)} opened $f $n times, expected once"; fi
		done
	done
else
	echo "cli: skipping the opened-once checks (needs strace and MOESIM_SRC)"
fi

# The scenario reference in docs/ is the one the binary generates.
"$BIN" keys >"$T/keys.md"
if [ -n "${MOESIM_SRC:-}" ] && [ -f "$MOESIM_SRC/docs/scenario-reference.md" ]; then
	missing=$(grep -vxF -f "$MOESIM_SRC/docs/scenario-reference.md" "$T/keys.md" | head -3)
	if [ -z "$missing" ]; then ok; else bad "docs/scenario-reference.md is stale (regenerate from 'moesim keys'): $missing"; fi
fi

# Trace validation: every bad trace of tests/data/traces/make_bad.py refused with its
# message (bad/expect.tsv; tools/tests/test_validators.py holds the recorder's validator
# to the same files), every good one accepted.
if [ -n "${MOESIM_SRC:-}" ] && [ -f "$MOESIM_SRC/tests/data/traces/bad/expect.tsv" ]; then
	tab=$(printf '\t')
	while IFS="$tab" read -r f cmsg pymsg; do
		case $f in '#'*|'') continue ;; esac
		expect 1 "$cmsg" -- "$BIN" trace validate "$MOESIM_SRC/tests/data/traces/bad/$f"
	done <"$MOESIM_SRC/tests/data/traces/bad/expect.tsv"
	for f in "$MOESIM_SRC"/tests/data/traces/good/*.h5; do
		expect 0 "valid moesim trace" -- "$BIN" trace validate "$f"
	done
fi

# make install: the binary, the shipped scenarios and the recorder under PREFIX (or
# DESTDIR/PREFIX). The binary under test is installed as it is (-o: make must not
# rebuild it; under `make valgrind` it is the valgrind wrapper, which runs the checkout's
# binary).
if [ -n "${MOESIM_SRC:-}" ] && command -v make >/dev/null 2>&1; then
	case $BIN in /*) abs=$BIN ;; *) abs=$(pwd)/$BIN ;; esac
	P=$T/prefix
	if make -s -C "$MOESIM_SRC" install PREFIX="$P" BIN="$abs" -o "$abs" >"$T/out" 2>"$T/err"; then ok; else bad "make install PREFIX=$P failed: $(head -c 300 "$T/err")"; fi
	for f in scenarios/default.cfg scenarios/deepseek-v3-2048.cfg scenarios/traces/tiny-moe-4dom.h5 \
		tools/moesim_record.py tools/tiny_moe/model.py tools/tiny_moe/record_trace.py tools/tiny_moe/tiny_moe.pt; do
		if cmp -s "$MOESIM_SRC/$f" "$P/share/moesim/$f"; then ok; else bad "make install: $P/share/moesim/$f missing or different"; fi
	done
	if cmp -s "$abs" "$P/bin/moesim" && [ -x "$P/bin/moesim" ]; then ok; else bad "make install: $P/bin/moesim is not the binary"; fi
	(cd "$T" && "$P/bin/moesim" show) >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -eq 0 ] && grep -q "parallel = {" "$T/out"; then ok; else bad "installed moesim show (from $T) exited $rc: $(head -c 300 "$T/err")"; fi
	# The installed binary runs the built-in default from anywhere: it finds the shipped
	# trace under PREFIX/share/moesim from its own place (no build path compiled in). A
	# wrapper script (valgrind, sanitizers) runs the checkout's binary, which finds the
	# checkout's data instead, so the path is checked for a real executable only.
	(cd "$T" && "$P/bin/moesim" run) >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -eq 0 ] && grep -q "step time" "$T/out"; then ok; else bad "installed moesim run (from $T) exited $rc: $(head -c 300 "$T/err")"; fi
	(cd "$T" && "$P/bin/moesim" run -q "$P/share/moesim/scenarios/topo-custom.cfg") >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -eq 0 ]; then ok; else bad "installed topo-custom.cfg (its topology file) exited $rc: $(head -c 300 "$T/err")"; fi
	if head -c 4 "$abs" | grep -q ELF; then
		(cd "$T" && "$P/bin/moesim" run) >"$T/out" 2>"$T/err"
		if grep -q "$P/bin/../share/moesim/scenarios/traces/tiny-moe-4dom.h5" "$T/err"; then ok
		else bad "installed moesim run did not replay the installed trace: $(head -c 300 "$T/err")"; fi
	fi
	if make -s -C "$MOESIM_SRC" install DESTDIR="$T/stage" PREFIX=/opt/moesim BIN="$abs" -o "$abs" >"$T/out" 2>"$T/err" &&
		[ -x "$T/stage/opt/moesim/bin/moesim" ] &&
		cmp -s "$MOESIM_SRC/scenarios/default.cfg" "$T/stage/opt/moesim/share/moesim/scenarios/default.cfg"; then ok
	else bad "make install DESTDIR=$T/stage PREFIX=/opt/moesim did not stage under DESTDIR: $(head -c 300 "$T/err")"; fi
	: >"$T/afile"
	if make -s -C "$MOESIM_SRC" install PREFIX="$T/afile" BIN="$abs" -o "$abs" >"$T/out" 2>&1; then bad "make install into a file as PREFIX succeeded"; else ok; fi
fi

# moesim collective: nccl-tests' layout, read back by the project's own importer (the
# round trip: the imported times are the printed ones), text and JSON.
D=${MOESIM_SRC:-.}/tests/data/nccl-tests
times_of_profile() { sed -n '/time_us = \[/,/\]/p' "$1" | tr -d '[];' | sed 's/time_us =//' | tr ',' '\n' | awk 'NF { print $1 + 0 }'; }
expect 0 "Collective test concluded: alltoall_perf" -- "$BIN" collective alltoall --sizes 1K:256M:4 --set cluster.nodes=2 --json "$T/c.json"
cp "$T/out" "$T/c.txt"
expect 0 "16 ranks on 2 nodes (inter_node)" -- "$BIN" calibrate import-nccl-tests "$T/c.txt" -o "$T/c_txt.cfg"
expect 0 "16 ranks on 2 nodes (inter_node)" -- "$BIN" calibrate import-nccl-tests "$T/c.json" -o "$T/c_json.cfg"
awk '$1 ~ /^[0-9]+$/ { print $6 + 0 }' "$T/c.txt" >"$T/t_printed"
times_of_profile "$T/c_txt.cfg" >"$T/t_txt"
times_of_profile "$T/c_json.cfg" >"$T/t_json"
if [ "$(wc -l <"$T/t_printed")" -eq 10 ] && cmp -s "$T/t_printed" "$T/t_txt"; then ok; else bad "text round trip: imported times differ from the printed ones: $(paste "$T/t_printed" "$T/t_txt" | head -3)"; fi
# JSON keeps 6 decimals; the text rounds them to 2.
if paste "$T/t_json" "$T/t_printed" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 0.005 + 1e-9 || NF != 2) bad = 1 } END { exit bad }'; then ok
else bad "JSON round trip: times differ from the text's: $(paste "$T/t_json" "$T/t_printed" | head -3)"; fi
expect 0 "JSON output" -- sh -c "'$BIN' collective alltoall --set cluster.nodes=1 --sizes 1K:1M --json - | grep -q '\"results\":\[{\"size\":1024,\"count\":32,' && echo JSON output"
# Sizes as nccl-tests rounds them: floats, per-rank counts a multiple of 4 elements.
expect 0 "        1664            52     float    none      -1" -- "$BIN" collective alltoall --set cluster.nodes=1 --sizes 1700:1700 --ranks 8
expect 0 "        1700           425     float     sum      -1" -- "$BIN" collective allreduce --set cluster.nodes=1 --sizes 1700:1700
expect 0 "all_gather_perf" -- "$BIN" collective allgather --set cluster.nodes=1 --sizes 8M:64M:8
expect 0 "reduce_scatter_perf" -- "$BIN" collective reducescatter --set cluster.nodes=1 --sizes 8M:64M:8 --ranks 4
expect 0 "tree algorithm" -- "$BIN" collective allreduce --sizes 64M:64M --algo tree --set cluster.nodes=2
expect 0 "pairwise algorithm" -- "$BIN" collective alltoall --set cluster.nodes=1 --sizes 64M:64M --algo pairwise
expect 2 "unknown collective 'broadcast'" -- "$BIN" collective broadcast --sizes 1K:1M
expect 2 "needs --sizes MIN:MAX" -- "$BIN" collective alltoall
expect 2 "--sizes 1M:1K: expected MIN:MAX[:FACTOR]" -- "$BIN" collective alltoall --set cluster.nodes=1 --sizes 1M:1K
expect 2 "--sizes 1K:1M:1: expected" -- "$BIN" collective alltoall --set cluster.nodes=1 --sizes 1K:1M:1
expect 2 "--algo tree: not an algorithm for alltoall (nccl, flat, pairwise, hierarchical)" -- "$BIN" collective alltoall --set cluster.nodes=1 --sizes 1K:1M --algo tree
expect 1 "--ranks 33: the cluster of <built-in default> has 32 GPUs; give 2 .. 32" -- "$BIN" collective alltoall --sizes 1K:1M --ranks 33
expect 1 "a collective needs 2 or more" -- "$BIN" collective allreduce --sizes 1K:1M --set cluster.nodes=1 --set parallel.pp=1 --set cluster.gpus_per_node=1 --set parallel.ep=1 --set model.experts=8
expect 1 "exists; pass --force" -- "$BIN" collective alltoall --set cluster.nodes=1 --sizes 1K:1M --json "$T/c.json"
# calibrate compare: the sample logs against the prediction, size by size.
expect 0 "mean absolute error" -- "$BIN" calibrate compare "$D/alltoall_h100x8.txt"
expect 0 "    1073741824       2687.21" -- "$BIN" calibrate compare "$D/alltoall_h100x8.json"
expect 0 "all_reduce_perf, out_of_place" -- "$BIN" calibrate compare "$D/all_reduce_h100x8.txt" --algo tree
expect 0 "16 ranks on 2 nodes" -- "$BIN" calibrate compare "$D/alltoall_2node.txt" --set cluster.nodes=2
expect 1 "ran on 16 GPUs (2 nodes) but the cluster of <built-in default> has 8: give a cluster as large (e.g. --set cluster.nodes=2)" -- "$BIN" calibrate compare "$D/alltoall_2node.txt" --set cluster.nodes=1
expect 1 "alltoall_wrong.txt" -- "$BIN" calibrate compare "$D/alltoall_wrong.txt"
expect 2 "calibrate compare needs a LOG" -- "$BIN" calibrate compare
expect 2 "--algo ring: not an algorithm for alltoall" -- "$BIN" calibrate compare "$D/alltoall_h100x8.txt" --algo ring
# Its own prediction compared with itself: no error.
expect 0 "mean absolute error 0.0% over 10 sizes" -- "$BIN" calibrate compare "$T/c.json" --set cluster.nodes=2
expect 0 "this is the output of all_reduce_perf; import-nccl-tests reads alltoall_perf output" -- sh -c "'$BIN' calibrate import-nccl-tests '$D/all_reduce_h100x8.txt' 2>&1; true"

# moesim collective pays the costs beyond bandwidth: one launch (12.5 us) and 7 peers'
# issue (0.5 us each) on 8 GPUs, 16 us over the same all-to-all without them.
t0=$("$BIN" collective alltoall --set cluster.nodes=1 --sizes 1M:1M --set network.launch_us=0 | awk '$1 == "1048576" { print $6 }')
t1=$("$BIN" collective alltoall --set cluster.nodes=1 --sizes 1M:1M --set network.launch_us=12.5 --set network.peer_message_us=0.5 | awk '$1 == "1048576" { print $6 }')
if awk -v a="$t0" -v b="$t1" 'BEGIN { d = b - a - 16; exit !(d > -0.02 && d < 0.02) }'; then ok; else bad "collective costs: $t0 us without, $t1 us with (expected +16 us)"; fi

# moesim collective --model analytic: the closed form (docs/network.md). 64 MiB ring
# all-reduce on the 8 GPUs of one node: 3.1 us launch + 14 steps x (3 us + 8 MiB / 369 GB/s)
# = 363.37 us, as the flow model; across 2 nodes the flow model's route adds the network's
# 2 hops of 0.5 us (one leaf) to each of the 30 steps, which the cluster view leaves out.
expect 0 "    67108864      16777216     float     sum      -1   363.37" -- "$BIN" collective allreduce --set cluster.nodes=1 --sizes 64M:64M --model analytic
expect 0 "ring algorithm, analytic network model" -- "$BIN" collective allreduce --set cluster.nodes=1 --sizes 64M:64M --model analytic
expect 0 "tree algorithm, analytic network model" -- "$BIN" collective allreduce --sizes 64M:64M --algo tree --model analytic --set cluster.nodes=2
expect 2 "--model fast: expected flow or analytic" -- "$BIN" collective allreduce --set cluster.nodes=1 --sizes 1K:1M --model fast
ta=$("$BIN" collective allreduce --sizes 64M:64M --model analytic --set cluster.nodes=2 | awk '$1 == "67108864" { print $6 }')
tf=$("$BIN" collective allreduce --sizes 64M:64M --model flow --set cluster.nodes=2 | awk '$1 == "67108864" { print $6 }')
if awk -v a="$ta" -v f="$tf" 'BEGIN { d = f - a - 30; exit !(d > -0.02 && d < 0.02) }'; then ok; else bad "analytic all-reduce on 2 nodes: $ta us, flow $tf us (expected flow = analytic + 30 us)"; fi

# The whole step (issue 11): a layout that does not fit the GPUs' memory is refused before
# the run, with the breakdown and what would make it fit; --allow-memory-overflow runs it.
expect 1 "does not fit: pipeline stage 0 of 1 needs 148.1 GB per GPU, more than the 85.9 GB (80 GiB) of h100-sxm: weights 14.5, gradients 29.0, optimizer 70.1, activations 34.4" -- "$BIN" run --set cluster.nodes=1 --set parallel.pp=1
expect 1 "or run anyway with --allow-memory-overflow" -- "$BIN" run --set cluster.nodes=1 --set parallel.pp=1
expect 0 "DOES NOT FIT" -- "$BIN" run --set cluster.nodes=1 --set parallel.pp=1 --set model.moe_layers=2 --set workload.global_batch=8 --set training.distributed_optimizer=false --set model.vocab=8000000 --allow-memory-overflow
expect 1 "parallel: layers = 32 is not a multiple of pp x vpp = 4 x 3 = 12" -- "$BIN" run --set parallel.vpp=3
expect 1 "parallel: first_stage_layers / last_stage_layers with vpp = 2" -- "$BIN" run --set parallel.vpp=2 --set parallel.first_stage_layers=2
expect 0 "layout     TP 1, CP 1, PP 4, DP 8; EP 8 (4 groups), ETP 1" -- "$BIN" run
expect 0 "MFU" -- "$BIN" run
expect 0 "pp_bubble" -- "$BIN" run
expect 0 "per output token" -- "$BIN" run --set workload.mode=decode --set workload.micro_batch=64 --set workload.global_batch=512
expect 0 "first token" -- "$BIN" run --set workload.mode=prefill --set workload.global_batch=8

# Overlap (issue 12): two-batch overlap puts the all-to-alls on a communication stream.
expect 0 "overlap      dispatch" -- "$BIN" run --set schedule.overlap=two_batch --set network.model=analytic
expect 0 "critical path    GPU 0 (pipeline stage 0) finishes last" -- "$BIN" run --set network.model=analytic
expect 1 "schedule.overlap = \"dualpipe\" needs an even number of micro-batches of at least 2 x pp = 8" -- "$BIN" run --set schedule.overlap=dualpipe --set workload.global_batch=48
expect 1 "splits each micro-batch's 1 tokens per GPU in two" -- "$BIN" run --set schedule.overlap=two_batch --set workload.mode=decode --set workload.micro_batch=1 --set workload.global_batch=8

# Refused large work (issue 18): the estimate comes before any allocation or byte written,
# so each refusal is quick (timeout 20 s, where the run itself would take hours or fill the
# disk). The memory case is pinned to an 8 GB machine with MOESIM_MEMORY_LIMIT_BYTES (the
# run needs about 23 GB; a machine with less free memory refuses it without the variable).
expect 1 "the run needs about 22.7 GB (routing workspaces 22.7 GB on 1 thread" -- env MOESIM_THREADS=1 MOESIM_MEMORY_LIMIT_BYTES=8e9 timeout 20 "$BIN" run --set cluster.nodes=1 --set parallel.pp=1 --set workload.micro_batch=1000 --set workload.seq_len=100000 --set workload.global_batch=8000 --allow-memory-overflow
expect 1 "but 8.00 GB are available: lower workload.micro_batch (or seq_len); or run anyway with --force-large" -- env MOESIM_THREADS=1 MOESIM_MEMORY_LIMIT_BYTES=8e9 timeout 20 "$BIN" run --set cluster.nodes=1 --set parallel.pp=1 --set workload.micro_batch=1000 --set workload.seq_len=100000 --set workload.global_batch=8000 --allow-memory-overflow
expect 1 "use routing.capacity_scope = \"rank\"" -- env MOESIM_THREADS=1 MOESIM_MEMORY_LIMIT_BYTES=8e9 timeout 20 "$BIN" run --set cluster.nodes=1 --set parallel.pp=1 --set workload.micro_batch=1000 --set workload.seq_len=100000 --set workload.global_batch=8000 --allow-memory-overflow --set routing.capacity_scope=global
expect 1 "the run needs about 1.76e+11 events and 2.1e+12 routed token-expert pairs over 1000000 steps, roughly 5 days on one thread" -- timeout 20 "$BIN" run --set workload.steps=1000000
expect 1 "lower workload.steps (the results are means over steps; a few steps usually settle them), or use network.model = \"analytic\"" -- timeout 20 "$BIN" run --set workload.steps=1000000
expect 1 "roughly 30.3 hours on one thread" -- timeout 20 "$BIN" run --set workload.steps=1000000 --set network.model=analytic
expect 1 "the trace needs up to 108 TB before compression (2 layers x 1000000000000 tokens x depth 8" -- timeout 20 "$BIN" trace synth -o "$T/huge.h5" --layers 2 --experts 8 --tokens 1000000000000
if ls "$T"/huge.h5* 2>/dev/null; then bad "a refused trace synth left a file"; else ok; fi
# The limit pins a small run as large; --force-large runs it, and prints the same summary.
expect 1 "but 1.00 MB are available" -- env MOESIM_MEMORY_LIMIT_BYTES=1e6 "$BIN" run -q
expect 0 "step time" -- env MOESIM_MEMORY_LIMIT_BYTES=1e6 "$BIN" run --force-large
"$BIN" run >"$T/plain.txt" 2>/dev/null
if cmp -s "$T/out" "$T/plain.txt"; then ok; else bad "--force-large changed the summary"; fi
expect 1 "MOESIM_MEMORY_LIMIT_BYTES = 'lots' is not a number of bytes" -- env MOESIM_MEMORY_LIMIT_BYTES=lots "$BIN" run
expect 0 "--force-large" -- "$BIN" run --help
expect 0 "--force-large" -- "$BIN" trace synth --help
# The output's file system: /proc has no free blocks.
expect 1 "/proc/moesim-test.h5: the results file needs about 542 kB but its file system has 0 B free" -- "$BIN" run -o /proc/moesim-test.h5
expect 1 "/proc/moesim-test.h5: the trace needs up to" -- "$BIN" trace synth -o /proc/moesim-test.h5 --layers 2 --experts 8 --tokens 1000
expect 0 "written" -- "$BIN" trace synth -o "$T/small.h5" --layers 2 --experts 8 --tokens 1000 --force-large
# The timeline (issue 14): refused before the run when enormous, with the GPUs that fit;
# its options' misuse; a recorded one is complete (JSON object, closed) and written atomically.
S="${MOESIM_SRC:-.}/scenarios/deepseek-v3-train.cfg"
expect 1 "the run would record about 2.07e+07 events of 2048 GPUs (about 3.94 GB of JSON), more than the 2e+06 that ui.perfetto.dev opens comfortably: record some GPUs (--timeline-gpus 0-196)" -- "$BIN" run "$S" --timeline "$T/big.json"
if [ -e "$T/big.json" ]; then bad "a refused timeline left $T/big.json"; else ok; fi
expect 1 "--events: the run would record about" -- "$BIN" run "$S" --events -o "$T/big.h5" --set workload.steps=3
expect 2 "--events adds to the HDF5 file: give one with -o FILE.h5" -- "$BIN" run --events
expect 2 "--traffic adds to the HDF5 file" -- "$BIN" run --traffic
expect 2 "--timeline-gpus 5-2: give a GPU or a range FIRST-LAST" -- "$BIN" run --timeline-gpus 5-2 --timeline "$T/t.json"
expect 2 "--timeline-gpus selects the GPUs of a timeline" -- "$BIN" run --timeline-gpus 0-3
expect 2 "--timeline needs a file name" -- "$BIN" run --timeline
expect 2 "the scenario has 32 GPUs (0-31)" -- "$BIN" run --timeline-gpus 32 --timeline "$T/t.json"
expect 0 "timeline         $T/t.json (" -- "$BIN" run --timeline "$T/t.json" --timeline-gpus 0-1 --set workload.global_batch=32
if head -c 18 "$T/t.json" | grep -q '^{"displayTimeUnit"' && tail -c 4 "$T/t.json" | grep -q '\]}'; then ok; else bad "the timeline is not a closed JSON object"; fi
expect 1 "exists" -- "$BIN" run --timeline "$T/t.json" --set workload.global_batch=32
expect 0 "timeline" -- "$BIN" run --timeline "$T/t.json" --force --set workload.global_batch=32
# Robustness (issue 18). A trace whose attribute message is damaged makes libhdf5 1.10 read
# past a buffer inside H5Aexists (tests/data/traces/make_corrupt.py): every command that
# opens a trace reads it first in a child (trace/tr_isolate.h), so it is a message, exit 1.
C="${MOESIM_SRC:-.}/tests/data/traces/corrupt/attr-dataspace-size.h5"
case "${MOESIM_CHECKER:-}" in
valgrind)
	# Under valgrind the over-read lands in mapped memory: no crash, libhdf5 decodes
	# garbage, and valgrind reports it in the child (H5Aexists, exit 3). The run's own
	# process stays clean and refuses the file.
	expect 1 "attr-dataspace-size.h5: root attribute 'format'" -- "$BIN" run --set routing.trace="$C" ;;
*)
	# Plain: signal 11. Under ASan the child's report ends it with exit status 1 first.
	expect 1 "attr-dataspace-size.h5: HDF5 crashed reading the file (" -- "$BIN" run --set routing.trace="$C"
	for sub in info validate stats; do
		expect 1 "attr-dataspace-size.h5: HDF5 crashed reading the file (" -- "$BIN" trace $sub "$C"
	done ;;
esac
# A valid trace still replays after the probe.
expect 0 "step time" -- "$BIN" run --set workload.steps=1
# A number too small (or too large) for a double is out of range, not "not a number".
expect 1 "cluster.nvlink_GBps = 1e-308 is out of range: too small for a double (below 2.2e-308); allowed 0 to 1000000 GB/s" -- "$BIN" run --set cluster.nvlink_GBps=1e-308
expect 1 "cluster.nvlink_GBps = 1e400 is out of range: too large for a double (above 1.8e308); allowed 0 to 1000000 GB/s" -- "$BIN" run --set cluster.nvlink_GBps=1e400
# The flow model's batching window is a fraction below 1 (network/net_model.h).
expect 1 "network.batch_window = 0.6 is out of range: allowed 0 to 0.5 fraction" -- "$BIN" run --set network.batch_window=0.6
expect 1 "cluster.nvlink_GBps = nan is not a number" -- "$BIN" run --set cluster.nvlink_GBps=nan
# libconfig's leak: a syntax error after a string token leaks the scanner's buffer
# (hyperrealm/libconfig#142, suppressed in tests/lsan.supp and tests/valgrind.supp); under
# make asan and make valgrind an unsuppressed leak would fail this test.
printf 'x =94, "quit")\n' >"$T/leak.cfg"
expect 1 "leak.cfg:1: syntax error" -- "$BIN" run "$T/leak.cfg"

# trace stats --router (docs/routing.md): the four routers on the shipped trace, the refusals.
S="${MOESIM_SRC:-.}"
TT="$S/scenarios/traces/tiny-moe-4dom.h5"
expect 0 "router expert_choice, top-2, capacity factor 1.25 (at most 160 pairs per expert), rank scope" -- "$BIN" trace stats "$TT" --router expert_choice --capacity-factor 1.25
expect 0 " mean     1.341     1.372   0.000 %   0.000 %  2.000    0.288 (0.137)" -- "$BIN" trace stats "$TT" --router topk
expect 0 "final bias per layer" -- "$BIN" trace stats "$TT" --router bias_balanced --gamma 0.01 --scope global
expect 0 "step,layer,tokens,max_over_mean,dropped_pairs,lost_tokens,purity,purity_baseline,concentration,concentration_baseline" -- "$BIN" trace stats "$TT" --router bpr --capacity-factor 1 --per-step --csv
expect 1 "minimal.h5: router bias_balanced needs every expert's score, but the trace ranks only 3 of its 6 experts and has no /routing/logits" -- "$BIN" trace stats "$S/tests/data/traces/good/minimal.h5" --router bias_balanced
expect 1 "router expert_choice needs a capacity factor > 0" -- "$BIN" trace stats "$TT" --router expert_choice
expect 2 "--router 'top2' is not a router; routers: topk, expert_choice, bias_balanced, bpr" -- "$BIN" trace stats "$TT" --router top2
expect 2 "need --router" -- "$BIN" trace stats "$TT" --capacity-factor 1
expect 2 "--scope 'node' is not a scope" -- "$BIN" trace stats "$TT" --router topk --scope node

# trace synth --match: fitted to the shipped trace, measured back; refusals.
expect 0 "worst relative error: max/mean" -- "$BIN" trace synth --match "$TT" -o "$T/fit.h5" --tokens 20000 --seed 3
expect 0 "20000 tokens" -- "$BIN" trace info "$T/fit.h5"
expect 0 "32768 tokens, 256 sequences, 4 domains" -- "$BIN" trace synth --match "$TT" -o "$T/fit.h5" --force
expect 0 "fitted: correlation per layer, swapped repeats per layer, shares per domain" -- "$BIN" trace info "$T/fit.h5"
expect 0 "seq. skew" -- "$BIN" trace synth --match "$TT" --topics 4 -o "$T/fit4.h5"
expect 0 "domains    4: c_headers" -- "$BIN" trace info "$T/fit4.h5"
expect 2 "--topics 0 must be in 1..4096" -- "$BIN" trace synth --match "$TT" --topics 0 -o "$T/fit5.h5"
expect 2 "--match takes the trace's shape" -- "$BIN" trace synth --match "$TT" -o "$T/fit2.h5" --layers 3
expect 1 "none.h5" -- "$BIN" trace synth --match "$T/none.h5" -o "$T/fit3.h5"
ABSBIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
# moesim sweep (docs/sweeps.md): the crossing with a zip group, refused points listed
# with file:line, the same bytes on 1 and 2 processes, bad sections and options.
cat >"$T/sw.cfg" <<'EOF2'
model = { hidden = 256; ffn_hidden = 512; experts = 8; top_k = 2; moe_layers = 2; heads = 4; vocab = 1000; };
cluster = { nodes = 1; gpus_per_node = 8; gpu_hour_cost = 2.5; };
parallel = { ep = 8; };
workload = { seq_len = 256; micro_batch = 2; };
routing = { source = "synthetic"; };
network = { model = "analytic"; };
sweep = {
  routing = { capacity_factor = (1.0, 1.25, "dropless"); top_k = [1, 2, 9]; };
  zip = ( { cluster = { nodes = [1, 2]; }; parallel = { ep = [8, 16]; }; } );
};
EOF2
expect 0 "18 points: 6 ran, 12 refused, 0 unfit, 0 failed" -- "$BIN" sweep "$T/sw.cfg" -j 2 -o "$T/sw2"
cp "$T/out" "$T/sw.txt"
expect 0 "point 4 (routing.capacity_factor=1 routing.top_k=9 cluster.nodes=1 parallel.ep=8): refused: $T/sw.cfg:8: routing.top_k = 9 but model.experts = 8" -- cat "$T/sw.txt"
if grep -q "^ *5 *12  dropless .*\*$" "$T/sw.txt"; then ok; else bad "sweep: the dropless top-1 point is not ranked 5th with its Pareto mark: $(head -c 900 "$T/sw.txt")"; fi
expect 0 "written" -- "$BIN" sweep "$T/sw.cfg" -j 1 -o "$T/sw1"
if cmp -s "$T/sw1/results.csv" "$T/sw2/results.csv" && cmp -s "$T/sw1/results.h5" "$T/sw2/results.h5"; then ok
else bad "sweep: -j 1 and -j 2 wrote different tables"; fi
if [ "$(wc -l <"$T/sw1/results.csv")" -eq 19 ] && [ "$(ls "$T/sw1/points" | wc -l)" -eq 18 ]; then ok
else bad "sweep: expected 18 rows and 18 point files"; fi
expect 0 "18 of 18 points from an earlier run" -- "$BIN" sweep "$T/sw.cfg" -o "$T/sw1"
expect 1 "holds the results of another sweep" -- "$BIN" sweep "$T/sw.cfg" -o "$T/sw1" --set workload.seed=7
expect 0 "0 of 18 points from an earlier run" -- "$BIN" sweep "$T/sw.cfg" -o "$T/sw1" --set workload.seed=7 --force
expect 1 "--set routing.top_k=1: routing.top_k is swept at $T/sw.cfg:8" -- "$BIN" sweep "$T/sw.cfg" -o "$T/sw3" --set routing.top_k=1
expect 1 "no sweep section" -- "$BIN" sweep "$T/bad_ep.cfg" -o "$T/sw3"
expect 2 "needs a number of processes" -- "$BIN" sweep "$T/sw.cfg" -j 0
expect 2 "sweep needs a SCENARIO" -- "$BIN" sweep
expect 0 "usage: moesim sweep" -- "$BIN" sweep --help
sed 's/top_k = \[1, 2, 9\]/top_k = [1, 2],/' "$T/sw.cfg" >"$T/sw-syntax.cfg"
expect 1 "sw-syntax.cfg:8: syntax error" -- "$BIN" sweep "$T/sw-syntax.cfg" -o "$T/sw3"
printf 'model = { hidden = 64; ffn_hidden = 128; experts = 4; top_k = 2; moe_layers = 2; heads = 4; bogus = 1; };\ncluster = { nodes = 1; gpus_per_node = 4; };\nparallel = { ep = 4; };\nsweep = { routing = { top_k = [1, 2]; }; };\n' >"$T/sw-typo.cfg"
expect 1 "sw-typo.cfg:1: unknown key 'model.bogus'" -- "$BIN" sweep "$T/sw-typo.cfg" -o "$T/sw3"
if [ -e "$T/sw3" ]; then bad "sweep: a sweep refused as a whole left its directory: $(ls -R "$T/sw3")"; else ok; fi
# moesim run takes the scenario without its sweep section.
expect 0 "1 x 8 h100-sxm = 8 GPUs" -- "$BIN" run "$T/sw.cfg"
# A swept file name is taken from the scenario file's directory, as if written there,
# and a missing one refuses its point with the value's line.
mkdir -p "$T/swp" && ln -s "$(cd "${MOESIM_SRC:-.}" && pwd)/scenarios/traces" "$T/swp/traces"
sed -e 's/source = "synthetic";/source = "trace"; trace = "none.h5";/' -e '/^sweep = {$/,$d' "$T/sw.cfg" >"$T/swp/p.cfg"
printf 'sweep = {\n  routing = { trace = ["traces/tiny-moe-4dom.h5",\n    "traces/missing.h5"]; };\n};\n' >>"$T/swp/p.cfg"
expect 0 "point 1 (routing.trace=traces/missing.h5): refused: $T/swp/p.cfg:9: routing.trace: $T/swp/traces/missing.h5: cannot read the file" -- sh -c "cd / && \"\$0\" sweep \"\$1\" -o \"\$2\"" "$ABSBIN" "$T/swp/p.cfg" "$T/swp/out"
if grep -q "^ *1 *0  traces/tiny-moe-4dom.h5" "$T/out"; then ok; else bad "sweep: the relative trace did not run: $(head -c 400 "$T/out")"; fi

# Resume: a sweep killed with kill -9 keeps its finished points; run again, it runs
# only the rest, and the table equals an uninterrupted sweep's (no point lost or twice).
cat >"$T/swk.cfg" <<'EOF2'
model = { hidden = 1024; ffn_hidden = 2048; experts = 16; top_k = 2; moe_layers = 8; heads = 8; vocab = 1000; };
cluster = { nodes = 2; gpus_per_node = 8; };
parallel = { ep = 16; };
workload = { seq_len = 1024; micro_batch = 2; steps = 2; };
routing = { source = "synthetic"; };
sweep = { routing = { capacity_factor = [1.0, 1.25, 1.5, 2.0]; top_k = [1, 2, 3]; }; };
EOF2
"$BIN" sweep "$T/swk.cfg" -j 2 -q -o "$T/swk-whole" || bad "sweep: the uninterrupted sweep failed"
MOESIM_THREADS=1 "$BIN" sweep "$T/swk.cfg" -j 1 -q -o "$T/swk" &
pid=$!
n=0
# (up to a minute: under valgrind a point takes seconds)
for _ in $(seq 1 1200); do
	n=$(ls "$T/swk/points" 2>/dev/null | grep -c '\.txt$')
	[ "$n" -ge 3 ] && break
	sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
n=$(ls "$T/swk/points" | grep -c '\.txt$')
if [ "$n" -ge 3 ] && [ "$n" -lt 12 ] && [ ! -e "$T/swk/results.csv" ]; then ok
else bad "sweep: kill -9 mid-run left $n of 12 point files (and results.csv: $(ls "$T/swk"))"; fi
expect 0 "$n of 12 points from an earlier run" -- "$BIN" sweep "$T/swk.cfg" -j 2 -o "$T/swk"
if cmp -s "$T/swk/results.csv" "$T/swk-whole/results.csv" && cmp -s "$T/swk/results.h5" "$T/swk-whole/results.h5"; then ok
else bad "sweep: the resumed sweep's table differs from the uninterrupted one"; fi
if [ "$(cut -d, -f1 "$T/swk/results.csv" | sort -u | wc -l)" -eq 13 ] && ! ls "$T"/swk/points/*.tmp.* >/dev/null 2>&1; then ok
else bad "sweep: the resumed table lacks a point, counts one twice, or left a temporary file"; fi

# docs/sweeps.md's tested examples: each block's output is what the sweep prints now
# (without the last line, which names the output directory).
# (Not under valgrind: they check numbers, not memory, and would take minutes there.)
SRC=${MOESIM_SRC:-.}
[ "${MOESIM_CHECKER:-}" = valgrind ] && echo "cli: skipping docs/sweeps.md's examples under valgrind"
[ "${MOESIM_CHECKER:-}" = valgrind ] ||
for cfg in $(sed -n 's/^<!-- sweep-example \(scenarios\/[a-z0-9-]*\.cfg\) -->$/\1/p' "$SRC/docs/sweeps.md"); do
	awk -v want="<!-- sweep-example $cfg -->" '
		$0 == want { on = 1; next }
		on && /^\$ moesim sweep/ { take = 1; next }
		take && /^```/ { exit }
		take { print }' "$SRC/docs/sweeps.md" >"$T/doc-expected"
	name=$(basename "$cfg" .cfg)
	if (cd "$SRC" && "$ABSBIN" sweep "$cfg" -o "$T/$name") >"$T/doc-out" 2>"$T/doc-err"; then
		grep -v "points from an earlier run; written" "$T/doc-out" | sed '$ { /^$/d }' >"$T/doc-actual"
		if [ -s "$T/doc-expected" ] && cmp -s "$T/doc-expected" "$T/doc-actual"; then ok
		else bad "docs/sweeps.md: the output of moesim sweep $cfg differs from the page: $(diff "$T/doc-expected" "$T/doc-actual" | head -10)"; fi
	else
		bad "docs/sweeps.md: moesim sweep $cfg failed: $(head -c 300 "$T/doc-err")"
	fi
done

# Ctrl-C: exit 130, a line saying how to continue, no temporary file left.
MOESIM_THREADS=1 "$BIN" sweep "$T/swk.cfg" -j 1 -o "$T/swi" 2>"$T/swi.err" >/dev/null &
pid=$!
for _ in $(seq 1 1200); do
	[ "$(ls "$T/swi/points" 2>/dev/null | grep -c '\.txt$')" -ge 1 ] && break
	sleep 0.05
done
kill -INT $pid
wait $pid
rc=$?
if [ $rc -eq 130 ] && grep -q "sweep interrupted: every finished point is kept; run the same command again" "$T/swi.err" &&
	! ls "$T"/swi/points/*.tmp.* >/dev/null 2>&1; then ok
else bad "sweep: Ctrl-C exited $rc: $(head -c 300 "$T/swi.err")"; fi

# MPI: 4 ranks (a master and 3 workers) give the single-process table, byte for byte.
if command -v mpirun >/dev/null 2>&1 && ldd "$BIN" 2>/dev/null | grep -q libmpi; then
	case "${MOESIM_CHECKER:-}" in
	'')
		OMPI_MCA_rmaps_base_oversubscribe=1 mpirun --allow-run-as-root --oversubscribe -n 4 "$BIN" sweep "$T/sw.cfg" -q -o "$T/sw-mpi" \
			>"$T/out" 2>"$T/err" || bad "sweep: mpirun -n 4 failed: $(head -c 300 "$T/err")"
		if cmp -s "$T/sw-mpi/results.csv" "$T/sw2/results.csv" && cmp -s "$T/sw-mpi/results.h5" "$T/sw2/results.h5"; then ok
		else bad "sweep: the 4-rank MPI sweep differs from the single-process one"; fi ;;
	*) echo "cli: skipping the MPI sweep under ${MOESIM_CHECKER} (Open MPI's own allocations)" ;;
	esac
else
	echo "cli: skipping the MPI sweep test (needs mpirun and a moesim built with Open MPI: apt-get install libopenmpi-dev openmpi-bin)"
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
