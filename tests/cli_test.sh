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

# expect CODE PATTERN -- command...: exit code and a stderr/stdout pattern
expect() {
	code=$1 pat=$2
	shift 3
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -ne "$code" ]; then bad "$* exited $rc, expected $code: $(head -c 300 "$T/err")"; return; fi
	if ! grep -q -- "$pat" "$T/out" "$T/err"; then bad "$*: no '$pat' in output: $(head -c 300 "$T/err")"; return; fi
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
expect 0 "hottest links" -- "$BIN" run --set routing.source=synthetic --set cluster.nodes=2 --set parallel.ep=16 --set model.experts=16 --set model.moe_layers=2

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

# The scenario reference in docs/ is the one the binary generates.
"$BIN" keys >"$T/keys.md"
if [ -n "${MOESIM_SRC:-}" ] && [ -f "$MOESIM_SRC/docs/scenario-reference.md" ]; then
	missing=$(grep -vxF -f "$MOESIM_SRC/docs/scenario-reference.md" "$T/keys.md" | head -3)
	if [ -z "$missing" ]; then ok; else bad "docs/scenario-reference.md is stale (regenerate from 'moesim keys'): $missing"; fi
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
