#!/usr/bin/env bash
# conformance.sh: run the official MCP conformance suite (client side) against
# mcpauthd's adapter (./internal/conformance) and print one verdict per scenario.
#
# Runs (each into results/<run>/):
#   auth        --suite auth                            (2025-11-25 wire)
#   auth-2026   --suite auth --spec-version 2026-07-28  (2026-07-28 wire)
#   backcompat  --suite backcompat                      (2025-03-26 flows)
#   draft       every auth/* scenario of --suite draft, one --scenario each
#   extensions  --suite extensions (client credentials, enterprise, WIF, DPoP); EXTENSIONS=0 skips it
#   proxy-core  the client scenarios of --suite core that are not auth/*, one --scenario each
#   proxy-draft the same of --suite draft (SEP-2243 headers, SEP-2575 _meta, SEP-2322, SEP-2106)
#   proxy-all   json-schema-2020-12-preservation (in no suite but --suite all)
#
# The auth runs take the adapter's in-process daemon; the proxy-* runs go
# through the real `mcpauthd proxy URL` (bin/mcpauthd, built here) with a
# daemon of its own, the adapter playing the app (internal/conformance/proxy.go).
#
# The suite writes results/<run>/<scenario>-<timestamp>/{checks.json,stdout.txt,stderr.txt}.
# A scenario passes only with zero FAILURE and zero WARNING checks (and at least
# one check). The last line is `conformance: N passed, M failed` (per run, so a
# scenario on two runs counts twice); exit status is 1 when M > 0.
#
# Environment:
#   CONFORMANCE_ADAPTER=path  use this adapter instead of building ./internal/conformance
#   MCPAUTHD_BIN=path         the mcpauthd the proxy runs use instead of building ./cmd/... (the front
#                             mcpauthd and the engine mcpauthd-engine beside it) into bin/
#   CONFORMANCE_TIMEOUT=ms    per-scenario timeout (suite default 30000)
#   EXTENSIONS=0              leave out --suite extensions
#   RESULTS_DIR=dir           where results go (default results/)
#   SUITE_TIMEOUT=s           bound on one suite invocation (default 300)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
TOOLS=$ROOT/tools
RESULTS=${RESULTS_DIR:-$ROOT/results}
TIMEOUT=${CONFORMANCE_TIMEOUT:-30000}
EXPECT_DISTINCT=33 # auth scenarios across all runs, extensions included (suite 0.2.0-alpha.12)
EXPECT_PROXY=11    # non-auth client scenarios through the proxy (core 4, draft 6, all 1)
[ "${EXTENSIONS:-1}" = 1 ] || EXPECT_DISTINCT=27

log() { printf 'conformance.sh: %s\n' "$*"; }
die() {
	log "ERROR: $*" >&2
	exit 1
}

# ---- tools ------------------------------------------------------------------
[ -x "$TOOLS/node_modules/node/bin/node" ] || die "tools/node_modules is missing: run scripts/install-test-deps.sh"
export PATH="$TOOLS/node_modules/node/bin:$PATH"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 22)) || die "node $(node --version) on PATH, the suite needs >= 22"
command -v jq >/dev/null || die "jq not found: run scripts/install-test-deps.sh"

# The suite's CLI, from tools/ (never fetched: --no). Each invocation is
# bounded (SUITE_TIMEOUT seconds) on top of the suite's per-scenario timeout.
suite() { (cd "$TOOLS" && timeout -k 10 "${SUITE_TIMEOUT:-300}" npx --no -- conformance "$@"); }

# ---- adapter ------------------------------------------------------------------
if [ -n "${CONFORMANCE_ADAPTER:-}" ]; then
	adapter=$(realpath "$CONFORMANCE_ADAPTER")
else
	mkdir -p "$ROOT/bin"
	go build -o "$ROOT/bin/conformance-adapter" ./internal/conformance || die "adapter build failed"
	adapter=$ROOT/bin/conformance-adapter
fi
[ -x "$adapter" ] || die "adapter $adapter is not executable"
if [ -z "${MCPAUTHD_BIN:-}" ]; then
	mkdir -p "$ROOT/bin"
	go build -o "$ROOT/bin/" ./cmd/mcpauthd ./cmd/mcpauthd-engine || die "mcpauthd build failed"
	MCPAUTHD_BIN=$ROOT/bin/mcpauthd
fi
MCPAUTHD_BIN=$(realpath "$MCPAUTHD_BIN")
[ -x "$MCPAUTHD_BIN" ] || die "MCPAUTHD_BIN $MCPAUTHD_BIN is not executable"
export MCPAUTHD_BIN
# The suite splits --command on spaces and runs it through a shell.
[[ $adapter =~ ^[A-Za-z0-9_./+-]+$ ]] || die "adapter path must be plain (no spaces or shell characters): $adapter"

mkdir -p "$RESULTS"
RESULTS=$(realpath "$RESULTS")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# TS matches the time the suite appends to each result dir's name
# (<scenario>-<ISO time with : and . as ->).
TS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{3}Z'

# results_in DIR: "scenario<TAB>result dir" for each result dir under DIR, sorted
# (a later run of the same scenario sorts last).
results_in() {
	(cd "$1" && find . -type d -regextype posix-extended -regex ".*-$TS" -printf '%P\n') |
		sed -E "s/^(.*)-($TS)\$/\1\t\1-\2/" | sort
}

# scenarios_in DIR: the scenario names that have a result dir under DIR.
scenarios_in() { results_in "$1" | cut -f1 | sort -u; }

# enumerate ARGS...: the scenarios a suite invocation runs, found by a dry run
# with `false` as the client (each scenario fails at once; ~1 s in all).
enumerate() {
	local dry=$work/dry.$RANDOM
	suite client --command false -o "$dry" "$@" >/dev/null 2>&1 || true
	scenarios_in "$dry"
}

# verdict RUN DIR SCENARIO: print PASS/FAIL for one scenario's result and
# append "RUN SCENARIO pass|fail" to $work/verdicts.
verdict() {
	local run=$1 dir=$2 scn=$3 d checks reason
	d=$(results_in "$dir" | awk -F'\t' -v s="$scn" '$1 == s { d = $2 } END { print d }')
	checks=$dir/$d/checks.json
	if [ -z "$d" ]; then
		reason="no result directory (the suite crashed or was killed); see $dir.log"
	elif [ ! -s "$checks" ]; then
		reason="no checks.json (the suite skipped it, crashed or was killed at SUITE_TIMEOUT); see $dir.log"
	elif ! reason=$(jq -r '
			if type != "array" or length == 0 then "no checks recorded"
			else [.[] | select(.status == "FAILURE" or .status == "WARNING")] as $bad
				| if ($bad | length) == 0 then ""
				  else ($bad[:3] | map("\(.id) [\(.status)] " + ((.description // .name // "") + (if .errorMessage then " (\(.errorMessage))" else "" end) | tostring | gsub("\\s+"; " ") | .[:200])) | join("; "))
					+ (if ($bad | length) > 3 then " (+\(($bad | length) - 3) more)" else "" end)
				  end
			end' "$checks"); then
		reason="unreadable checks.json"
	fi
	if [ -z "$reason" ]; then
		echo "PASS $scn [$run]"
		echo "$run $scn pass" >>"$work/verdicts"
	else
		echo "FAIL $scn [$run]: $reason"
		echo "$run $scn fail" >>"$work/verdicts"
	fi
}

# run_suite RUN ARGS...: one suite invocation into results/RUN, then verdicts.
run_suite() {
	local run=$1 out=$RESULTS/$1 scn t0 rc=0
	local -a expected
	shift
	mapfile -t expected < <(enumerate "$@")
	((${#expected[@]})) || die "[$run] the suite lists no scenarios for: $*"
	rm -rf "$out" "$out.log"
	t0=$SECONDS
	suite client --command "$adapter" --timeout "$TIMEOUT" "$@" -o "$out" >"$out.log" 2>&1 || rc=$?
	log "[$run] ${#expected[@]} scenarios in $((SECONDS - t0))s (suite exit $rc; log $out.log)"
	for scn in "${expected[@]}"; do
		verdict "$run" "$out" "$scn"
	done
}

# run_each RUN FILTER SUITE-ARGS...: the scenarios of a suite matching FILTER
# (a grep -E pattern), each with its own --scenario run, in parallel like the
# suite itself does, into results/RUN.
run_each() {
	local run=$1 filter=$2 out=$RESULTS/$1 scn t0 p pids=()
	local -a expected
	shift 2
	mapfile -t expected < <(enumerate "$@" | grep -E "$filter")
	((${#expected[@]})) || die "[$run] no scenarios match $filter in: $*"
	rm -rf "$out" "$out.log"
	mkdir -p "$out"
	t0=$SECONDS
	for scn in "${expected[@]}"; do
		suite client --command "$adapter" --timeout "$TIMEOUT" --scenario "$scn" -o "$out" \
			>"$work/each.${scn//\//_}.log" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	for scn in "${expected[@]}"; do
		{
			echo "=== $scn"
			cat "$work/each.${scn//\//_}.log"
		} >>"$out.log"
	done
	log "[$run] ${#expected[@]} scenarios in $((SECONDS - t0))s (log $out.log)"
	for scn in "${expected[@]}"; do
		verdict "$run" "$out" "$scn"
	done
}

: >"$work/verdicts"
run_suite auth --suite auth
run_suite auth-2026 --suite auth --spec-version 2026-07-28
run_suite backcompat --suite backcompat
run_each draft '^auth/' --suite draft
if [ "${EXTENSIONS:-1}" = 1 ]; then
	run_suite extensions --suite extensions
fi
# Scenario names without a slash are the ones not about authorization.
run_each proxy-core '^[^/]+$' --suite core
run_each proxy-draft '^[^/]+$' --suite draft
run_each proxy-all '^json-schema-2020-12-preservation$' --suite all

# ---- summary --------------------------------------------------------------------
echo
awk '{ n[$1]++; if ($3 == "pass") p[$1]++; if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
	END { for (i = 1; i <= k; i++) { r = order[i]; printf "suite %-11s %2d scenarios: %2d passed, %2d failed\n", r, n[r], p[r], n[r] - p[r] } }' \
	"$work/verdicts"
cp "$work/verdicts" "$work/counted"
distinct=$(awk '$1 !~ /^proxy-/ { print $2 }' "$work/counted" | sort -u | wc -l)
distinct_fail=$(awk '$1 !~ /^proxy-/ && $3 == "fail" { print $2 }' "$work/counted" | sort -u | wc -l)
echo "distinct auth scenarios: $distinct ($((distinct - distinct_fail)) pass on every run, $distinct_fail fail on some run)"
proxied=$(awk '$1 ~ /^proxy-/ { print $2 }' "$work/counted" | sort -u | wc -l)
proxied_fail=$(awk '$1 ~ /^proxy-/ && $3 == "fail" { print $2 }' "$work/counted" | sort -u | wc -l)
echo "distinct non-auth scenarios through mcpauthd proxy: $proxied ($((proxied - proxied_fail)) pass, $proxied_fail fail)"
passed=$(grep -c ' pass$' "$work/counted" || true)
failed=$(grep -c ' fail$' "$work/counted" || true)
if [ "$distinct" -ne "$EXPECT_DISTINCT" ]; then
	# The suite is pinned; a different count means the enumeration broke.
	log "ERROR: expected $EXPECT_DISTINCT distinct auth scenarios, found $distinct" >&2
	failed=$((failed + 1))
fi
if [ "$proxied" -ne "$EXPECT_PROXY" ]; then
	log "ERROR: expected $EXPECT_PROXY non-auth scenarios through the proxy, found $proxied" >&2
	failed=$((failed + 1))
fi
log "done in ${SECONDS}s; results in $RESULTS"
echo "conformance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
