#!/usr/bin/env bash
# crossbuild.sh: build mcpauthd (its two programs: the front mcpauthd, and
# mcpauthd-engine, the whole program, which the front hands all but token and
# headers to) for every OS/arch it ships on, with CGO_ENABLED=0, and fail on
# the first error (a stage of scripts/test.sh).
#   usage: scripts/crossbuild.sh [-o DIR] [OS/ARCH ...]
#     OS/ARCH  targets (default: linux, darwin and windows on amd64 and arm64)
#     -o DIR   keep the binaries as DIR/OS-ARCH/mcpauthd[.exe] and
#              DIR/OS-ARCH/mcpauthd-engine[.exe] (scripts/dist.sh);
#              without it they are built into a temporary directory and dropped
#   env VERSION  stamped into cli.Version (default: dev)
# Each target builds every package of the module (./...) and the binaries, so
# a package the binaries do not import cannot break an OS unnoticed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=
if [ "${1:-}" = -o ]; then
	out=$2
	shift 2
fi
targets=("$@")
((${#targets[@]})) || targets=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64)

keep=1
if [ -z "$out" ]; then
	out=$(mktemp -d "${TMPDIR:-/tmp}/mcpauthd-crossbuild.XXXXXX")
	keep=0
	trap 'rm -rf "$out"' EXIT
fi
ldflags="-s -w -X github.com/mcpauthd/mcpauthd/cli.Version=${VERSION:-dev}"

for t in "${targets[@]}"; do
	os=${t%/*} arch=${t#*/}
	echo "crossbuild: $os/$arch"
	export CGO_ENABLED=0 GOOS=$os GOARCH=$arch
	go build ./...
	# Into the directory: go names each mcpauthd[.exe], mcpauthd-engine[.exe].
	go build -trimpath -ldflags "$ldflags" -o "$out/$os-$arch/" ./cmd/mcpauthd ./cmd/mcpauthd-engine
done
((keep)) && echo "crossbuild: binaries in $out"
echo "crossbuild: ${#targets[@]} target(s) ok"
