#!/usr/bin/env bash
# fuzz.sh: run every fuzz target for a short fixed time (FUZZTIME, default
# 10s each), one after another. New crashers are written by go test to the
# package's testdata/fuzz/<Target>/ and then run as regression cases by every
# plain `go test`. Exit status non-zero if any target failed.
#   FUZZTIME=1m scripts/fuzz.sh            # longer
#   scripts/fuzz.sh ./oauth FuzzDiscover   # one target
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime=${FUZZTIME:-10s}
targets=()
if (($# == 2)); then
	targets=("$1 $2")
else
	# Every Fuzz function in a _test.go file, as "package target".
	while IFS= read -r line; do
		targets+=("$line")
	done < <(grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=testdata '^func Fuzz' . |
		while read -r f; do
			grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed "s|^func |./$(dirname "${f#./}") |"
		done | sort -u)
fi
((${#targets[@]})) || { echo "fuzz.sh: no fuzz targets found" >&2; exit 1; }

failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "--- fuzz $pkg $name ($fuzztime)"
	# -run '^$': only the fuzzing; the seed corpus runs with the unit tests.
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tail -n 20; then
		failed+=("$pkg $name")
	fi
done
if ((${#failed[@]})); then
	printf 'fuzz.sh: FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, $fuzztime each: no crashers"
