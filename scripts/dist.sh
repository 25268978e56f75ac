#!/usr/bin/env bash
# dist.sh: build the release artifacts (`make dist`) into $DIST (default dist/):
#   mcpauthd_VERSION_OS_ARCH.tar.gz   every target: the two binaries (mcpauthd, the front
#                                     users type, and mcpauthd-engine beside it), the man
#                                     page, README.md
#   mcpauthd_VERSION_ARCH.deb / .rpm  linux targets, built with nfpm (packaging/nfpm.yaml)
#   usage: scripts/dist.sh [OS/ARCH ...]   (default: scripts/crossbuild.sh's targets)
#   env VERSION  package version (default: the latest vX.Y.Z tag without its v,
#                else 0.0.0~git<commit>)
# The binaries come from scripts/crossbuild.sh. The packaged unit and desktop
# entries are `mcpauthd install --print NAME --exe /usr/bin/mcpauthd` of an
# engine built for this machine (they start /usr/bin/mcpauthd, the front,
# which execs the engine beside it): the same templates (packaging/) and code
# (internal/autostart) that `mcpauthd install` uses. nfpm is the version that
# packaging/tools/go.mod pins (a module of its own, outside the main go.mod).
# The shell completions (bash, zsh, fish) are `mcpauthd completion SHELL` of
# that binary too.
# The icon is the tray's "ok" icon, assets/icons/tray-ok.png (32x32).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DIST=${DIST:-$ROOT/dist}

if [ -z "${VERSION:-}" ]; then
	if tag=$(git describe --tags --match 'v[0-9]*' --abbrev=0 2>/dev/null); then
		VERSION=${tag#v}
	else
		VERSION=0.0.0~git$(git rev-parse --short HEAD)
	fi
fi
export VERSION
icon=$ROOT/assets/icons/tray-ok.png
[ -f "$icon" ] || {
	echo "dist.sh: $icon is missing (the packages' icon)" >&2
	exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/mcpauthd-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$DIST"

scripts/crossbuild.sh -o "$work/bin" "$@"
targets=("$@")
((${#targets[@]})) || targets=($(cd "$work/bin" && ls | tr - /))

# The files rendered from packaging/'s templates, for /usr/bin/mcpauthd, by
# the engine (the whole program: it needs no front beside it).
CGO_ENABLED=0 go build -o "$work/host-mcpauthd" ./cmd/mcpauthd-engine
go -C packaging/tools build -o "$work/nfpm" github.com/goreleaser/nfpm/v2/cmd/nfpm
mkdir -p "$work/files"
for f in mcpauthd.service mcpauthd.desktop mcpauthd-autostart.desktop; do
	"$work/host-mcpauthd" install --print "$f" --exe /usr/bin/mcpauthd >"$work/files/$f"
done
# Shell completions: cobra's scripts, which ask the installed binary itself.
"$work/host-mcpauthd" completion bash >"$work/files/mcpauthd.bash"
"$work/host-mcpauthd" completion zsh >"$work/files/_mcpauthd"
"$work/host-mcpauthd" completion fish >"$work/files/mcpauthd.fish"
gzip -9n <packaging/mcpauthd.1 >"$work/files/mcpauthd.1.gz"
cp "$icon" "$work/files/mcpauthd.png"
cp README.md "$work/files/"

for t in "${targets[@]}"; do
	os=${t%/*} arch=${t#*/}
	bin=$work/bin/$os-$arch
	name=mcpauthd_${VERSION}_${os}_${arch}
	mkdir -p "$work/tar/$name"
	cp "$bin"/* packaging/mcpauthd.1 README.md "$work/tar/$name/"
	tar -C "$work/tar" --owner=0 --group=0 --numeric-owner -czf "$DIST/$name.tar.gz" "$name"
	echo "dist: $DIST/$name.tar.gz"
	[ "$os" = linux ] || continue
	stage=$work/stage-$arch
	mkdir -p "$stage"
	cp "$work/files"/* "$bin/mcpauthd" "$bin/mcpauthd-engine" "$stage/"
	for p in deb rpm; do
		(cd "$stage" && NFPM_ARCH=$arch NFPM_VERSION=$VERSION "$work/nfpm" package \
			--config "$ROOT/packaging/nfpm.yaml" --packager "$p" --target "$DIST/")
	done
done
