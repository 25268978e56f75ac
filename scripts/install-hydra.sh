#!/usr/bin/env bash
# install-hydra.sh: build Ory Hydra (the end-to-end tests' real authorization
# server with refresh-token rotation; docs TESTING.md §5) into a cache outside
# the repository, and print the binary's path on stdout.
#
#   export MCPAUTHD_HYDRA=$(scripts/install-hydra.sh)
#
# The build happens in a scratch module of its own (never the project's
# go.mod): `go get -tool github.com/ory/hydra/v2@$HYDRA_VERSION`, the pop
# replace Hydra needs, `go build -tags sqlite,sqlite_omit_load_extension`.
# A cold build takes about 100 s, a warm one (Go build cache) about 8 s; when
# the cached binary already is that version with those tags, nothing is built.
#
# Environment:
#   MCPAUTHD_HYDRA_DIR  where to build (default ${XDG_CACHE_HOME:-$HOME/.cache}/mcpauthd-test/hydra/<version>)
set -euo pipefail

HYDRA_VERSION=v2.3.0
HYDRA_PKG=github.com/ory/hydra/v2
POP_REPLACE=github.com/gobuffalo/pop/v6=github.com/ory/pop/v6@v6.2.1-0.20241121111754-e5dfc0f3344b
TAGS=sqlite,sqlite_omit_load_extension

log() { printf 'install-hydra: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

dir=${MCPAUTHD_HYDRA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcpauthd-test/hydra/$HYDRA_VERSION}
bin=$dir/hydra

# current: the cached binary is Hydra $HYDRA_VERSION built with $TAGS (Hydra's
# own `version` says "master" when built this way; the build info does not lie).
current() {
	local info
	info=$(go version -m "$bin" 2>/dev/null) || return 1
	awk -v p="$HYDRA_PKG" -v v="$HYDRA_VERSION" '$1 == "mod" && $2 == p && $3 == v { ok = 1 } END { exit !ok }' <<<"$info" &&
		grep -Eq "^[[:space:]]*build[[:space:]]+-tags=$TAGS\$" <<<"$info"
}

command -v go >/dev/null || die "go not found"
if current; then
	echo "$bin"
	exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/.lock"
if command -v flock >/dev/null; then
	flock 9 # another run may be building right now
	if current; then
		echo "$bin"
		exit 0
	fi
fi

# Hydra's SQLite driver is cgo: it needs a C compiler.
if ! command -v "$(go env CC)" >/dev/null; then
	if command -v apt-get >/dev/null; then
		log "no C compiler ($(go env CC)): installing gcc and libc6-dev"
		sudo=()
		if [ "$(id -u)" != 0 ]; then
			command -v sudo >/dev/null || die "not root and no sudo: cannot install gcc"
			sudo=(sudo)
		fi
		export DEBIAN_FRONTEND=noninteractive
		"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
		"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
	fi
	command -v "$(go env CC)" >/dev/null || die "no C compiler ($(go env CC)); Hydra's SQLite driver needs cgo"
fi

log "building Ory Hydra $HYDRA_VERSION in $dir (cold: about 100 s)"
cd "$dir"
rm -f go.mod go.sum hydra.tmp
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=1
{
	go mod init mcpauthd-test/hydrabuild &&
		go get -tool "$HYDRA_PKG@$HYDRA_VERSION" &&
		go mod edit -replace "$POP_REPLACE" &&
		go mod tidy &&
		go build -tags "$TAGS" -o hydra.tmp "$HYDRA_PKG"
} >build.log 2>&1 || {
	cat build.log >&2
	die "building Hydra failed (log above, also in $dir/build.log)"
}
mv -f hydra.tmp hydra
current || die "built $bin, but its build info does not say $HYDRA_PKG $HYDRA_VERSION with -tags=$TAGS"
log "ok: $bin"
echo "$bin"
