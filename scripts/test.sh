#!/usr/bin/env bash
# test.sh: the project's whole test run (`make test`, and CI through .ci/run).
#   1. install test dependencies (scripts/install-test-deps.sh)
#   2. gofmt, go mod tidy -diff, go vet, staticcheck
#   3. go test -race inside a private D-Bus session with an unlocked gnome-keyring
#   4. the MCP conformance suite (scripts/conformance.sh)
# Every stage runs even when an earlier check failed, so one run reports all
# of them; the exit status is non-zero if any stage failed. Each stage prints
# its duration; on success the last line is conformance.sh's own
# `conformance: N passed, M failed` (it reports its duration just before).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

failed=()
now_ms() { date +%s%3N; }

# stage [--last] NAME CMD...: run one stage, print its outcome and duration
# (--last: print nothing after a success, so the stage's own line stays last).
stage() {
	local last=0 name t0 rc=0
	[ "$1" = --last ] && last=1 && shift
	name=$1
	shift
	echo "=== $name"
	t0=$(now_ms)
	"$@" || rc=$?
	local ms=$(($(now_ms) - t0))
	if ((rc == 0)); then
		((last)) && return 0
		printf '=== %s: ok (%d.%ds)\n' "$name" $((ms / 1000)) $((ms % 1000 / 100))
	else
		printf '=== %s: FAILED, exit %d (%d.%ds)\n' "$name" "$rc" $((ms / 1000)) $((ms % 1000 / 100))
		failed+=("$name")
	fi
	return 0
}

# Nothing else can run without the dependencies: stop at once if they fail.
stage deps scripts/install-test-deps.sh
((${#failed[@]} == 0)) || exit 1

# Ory Hydra for the end-to-end tests (internal/e2e): install-test-deps.sh built
# it into the user's cache; look it up before HOME/XDG_CACHE_HOME change below.
MCPAUTHD_HYDRA=$(scripts/install-hydra.sh)
export MCPAUTHD_HYDRA

# ---- hermetic environment ------------------------------------------------------
# Tests see fresh, empty XDG dirs and HOME, no session bus or display of the
# caller's, and a private TMPDIR; Go's and npm's caches stay where they are.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcpauthd-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH) GOENV=$(go env GOENV)
npm_config_cache=$(npm config get cache)
export GOCACHE GOMODCACHE GOPATH GOENV npm_config_cache
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export HOME=$tmp/home TMPDIR=$tmp/tmp
export XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_CACHE_HOME=$tmp/cache
export XDG_STATE_HOME=$tmp/state XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$HOME" "$TMPDIR" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME" "$XDG_RUNTIME_DIR"
# Like /tmp: tests that run a command as another user (e2e) must reach their
# t.TempDir()s. XDG_RUNTIME_DIR stays private, as a real one is.
chmod 755 "$tmp"
chmod 1777 "$TMPDIR"
chmod 700 "$XDG_RUNTIME_DIR"
unset DBUS_SESSION_BUS_ADDRESS DISPLAY WAYLAND_DISPLAY GNOME_KEYRING_CONTROL SSH_AUTH_SOCK \
	XDG_SESSION_TYPE XDG_CURRENT_DESKTOP XDG_CONFIG_DIRS XDG_DATA_DIRS
export LC_ALL=C.UTF-8 TZ=UTC

# ---- static checks ---------------------------------------------------------------
gofmt_check() {
	local files
	files=$(find . \( -path ./.git -o -path ./tools/node_modules -o -path ./bin -o -path ./results \
		-o -name testdata -o -name vendor \) -prune -o -name '*.go' -type f -print0 | xargs -0 -r gofmt -l) || {
		echo "gofmt: could not parse some files (see above)"
		return 1
	}
	if [ -n "$files" ]; then
		echo "gofmt: these files need formatting (run gofmt -w):"
		sed 's/^/  /' <<<"$files"
		return 1
	fi
}

# staticcheck: the go.mod tool if the module lists it, else the pinned version.
staticcheck() {
	if go mod edit -json | jq -e '.Tool // [] | any(.Path == "honnef.co/go/tools/cmd/staticcheck")' >/dev/null; then
		go tool staticcheck "$@"
	else
		go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 "$@"
	fi
}

stage gofmt gofmt_check
stage tidy go mod tidy -diff
stage vet go vet ./...
stage staticcheck staticcheck ./...
stage crossbuild scripts/crossbuild.sh

# ---- unit and integration tests -------------------------------------------------------
# A private session bus (dbus-run-session) with an unlocked gnome-keyring
# (scripts/keyring-session.sh) whose keyrings live in $XDG_DATA_HOME.
[ -x scripts/keyring-session.sh ] || {
	echo "test.sh: scripts/keyring-session.sh is missing or not executable" >&2
	exit 1
}
stage go-test dbus-run-session -- scripts/keyring-session.sh go test -race -count=1 -timeout 10m ./...
stage fuzz scripts/fuzz.sh

# ---- conformance ---------------------------------------------------------------------
echo "=== elapsed so far: ${SECONDS}s"
stage --last conformance scripts/conformance.sh

if ((${#failed[@]})); then
	echo "test.sh: FAILED stages: ${failed[*]}"
	exit 1
fi
