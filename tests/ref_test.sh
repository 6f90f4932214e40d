#!/bin/sh
# Holds the terminal summary and the HDF5 output of every case in
# tests/data/reference/cases.txt against the stored references beside it, so that a
# change meant to move no number (a refactor) is proved not to. The HDF5 file is compared
# through h5dump (every dataset and attribute as text), so a change of layout alone would
# show as a change of text, and a change of number always does.
#   MOESIM_BIN   the binary (default ./moesim)
#   REF_UPDATE=1 rewrite the references instead of comparing (after a deliberate change)
set -u
BIN=${MOESIM_BIN:-./moesim}
DIR=tests/data/reference
if ! command -v h5dump >/dev/null 2>&1; then
	echo "ref: h5dump not found (install hdf5-tools: make deps)" >&2
	exit 1
fi
# A fixed directory name: the summary prints the output's path.
tmp=build/ref
rm -rf "$tmp" && mkdir -p "$tmp" || exit 1
pass=0
fail=0
while read -r name scenario rest; do
	case "$name" in ''|'#'*) continue ;; esac
	# shellcheck disable=SC2086 # the overrides are split on purpose
	if ! $BIN run "$scenario" $rest -o "$tmp/$name.h5" >"$tmp/$name.txt" 2>"$tmp/$name.err"; then
		echo "ref: $name: moesim run failed:"; cat "$tmp/$name.err"
		fail=$((fail + 1)); continue
	fi
	h5dump "$tmp/$name.h5" | sed '1s|.*|HDF5 {|' >"$tmp/$name.h5dump"
	if [ "${REF_UPDATE:-0}" = 1 ]; then
		cp "$tmp/$name.txt" "$DIR/$name.txt"
		cp "$tmp/$name.h5dump" "$DIR/$name.h5dump"
		gzip -n -9 -f "$DIR/$name.h5dump"
		pass=$((pass + 1)); continue
	fi
	ok=1
	if ! cmp -s "$tmp/$name.txt" "$DIR/$name.txt"; then
		echo "ref: $name: the summary differs from $DIR/$name.txt:"
		diff "$DIR/$name.txt" "$tmp/$name.txt" | head -20
		ok=0
	fi
	if ! gzip -dc "$DIR/$name.h5dump.gz" | cmp -s - "$tmp/$name.h5dump"; then
		echo "ref: $name: the HDF5 output differs from $DIR/$name.h5dump.gz:"
		gzip -dc "$DIR/$name.h5dump.gz" | diff - "$tmp/$name.h5dump" | head -20
		ok=0
	fi
	if [ $ok = 1 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done <"$DIR/cases.txt"
echo "ref: $pass passed, $fail failed"
[ $fail = 0 ]
