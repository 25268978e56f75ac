#!/usr/bin/env bash
# install-test-deps.sh: install everything `make test` needs, idempotently.
#   - Debian packages (keyring, D-Bus, Xvfb, Chromium, jq, ...; see docs TESTING.md)
#   - tools/node_modules: Node 22, the MCP conformance suite, the TypeScript SDK (npm ci)
#   - the Go module cache for go.mod, and staticcheck
#   - Ory Hydra for the end-to-end tests (scripts/install-hydra.sh, cached outside the repo)
# A second run only checks and takes a few seconds. Every missing piece is a
# hard failure (CI=true or not): nothing is ever skipped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
TOOLS=$ROOT/tools

# Versions the harness relies on.
NODE_MAJOR_MIN=22
STATICCHECK_PKG=honnef.co/go/tools/cmd/staticcheck
STATICCHECK_VERSION=v0.8.2

# Debian packages. dbus-x11 is deliberately absent: with it, godbus starts a
# stray session bus via dbus-launch and the keyring reports a locked collection.
APT_PACKAGES=(gnome-keyring dbus libglib2.0-bin libsecret-tools xvfb xdotool
	imagemagick xfce4-panel openbox chromium jq xclip curl systemd desktop-file-utils iproute2
	openssh-server openssh-client)
# Commands the tests call, checked after the install.
REQUIRED_COMMANDS=(dbus-run-session gnome-keyring-daemon gdbus secret-tool Xvfb
	xdotool import xfce4-panel openbox chromium jq xclip curl systemd-analyze
	desktop-file-validate dpkg-deb go gofmt git ip unshare
	/usr/sbin/sshd ssh ssh-keygen)

log() { printf 'install-test-deps: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# ---- Debian packages ------------------------------------------------------
installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii'; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done
if ((${#missing[@]})); then
	log "installing Debian packages: ${missing[*]}"
	sudo=()
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null || die "not root and no sudo: cannot install ${missing[*]}"
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
		"${APT_PACKAGES[@]}" >/dev/null
fi
if installed dbus-x11; then
	log "WARNING: dbus-x11 is installed; keyring tests may see a locked collection (docs TESTING.md)"
fi
for c in "${REQUIRED_COMMANDS[@]}"; do
	command -v "$c" >/dev/null || die "command not found after install: $c"
done

# ---- Node 22 + conformance suite (tools/node_modules) ---------------------
if ! command -v npm >/dev/null; then
	# npm only bootstraps tools/; the Node that runs the suite comes from the lock.
	log "npm missing: installing Debian's nodejs + npm"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

node_bin=$TOOLS/node_modules/node/bin/node
stamp=$TOOLS/node_modules/.mcpauthd-deps.stamp
want_stamp=$(cat "$TOOLS/package.json" "$TOOLS/package-lock.json" | sha256sum | cut -d' ' -f1)

tools_ok() {
	[ -x "$node_bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] &&
		[ -x "$TOOLS/node_modules/.bin/conformance" ]
}

if ! tools_ok; then
	log "npm ci in tools/ (package-lock.json changed or node_modules missing)"
	npm_args=(ci --no-audit --no-fund)
	# npm >= 11.? knows allow-scripts: make an unreviewed install script an
	# error. tools/package.json allows the `node` package's preinstall, which
	# is what fetches the Node 22 binary.
	if [ "$(npm config get strict-allow-scripts 2>/dev/null)" != undefined ]; then
		npm_args+=(--strict-allow-scripts)
	fi
	npm_log=$(mktemp)
	if ! (cd "$TOOLS" && npm "${npm_args[@]}") >"$npm_log" 2>&1; then
		cat "$npm_log" >&2
		rm -f "$npm_log"
		die "npm ci failed in tools/"
	fi
	rm -f "$npm_log"
	[ -x "$node_bin" ] || die "npm ci did not install $node_bin (was the node package's preinstall script blocked?)"
	echo "$want_stamp" >"$stamp"
fi

node_version=$("$node_bin" --version) || die "$node_bin does not run"
node_major=${node_version#v}
node_major=${node_major%%.*}
((node_major >= NODE_MAJOR_MIN)) || die "tools' node is $node_version, need >= $NODE_MAJOR_MIN"
conf_version=$(PATH="$TOOLS/node_modules/node/bin:$PATH" "$TOOLS/node_modules/.bin/conformance" --version) ||
	die "the conformance CLI does not run"
want_conf=$(cd "$TOOLS" && "$node_bin" -p 'require("./package.json").dependencies["@modelcontextprotocol/conformance"]')
[ "$conf_version" = "$want_conf" ] || die "conformance CLI is $conf_version, package.json pins $want_conf"

# ---- Go: module cache and staticcheck --------------------------------------
go mod download || die "go mod download failed"
go -C packaging/tools mod download || die "go mod download failed in packaging/tools (nfpm)"

# staticcheck: `go tool staticcheck` when go.mod lists it as a tool, else
# `go run …@version` (built once, then served from the build cache).
if go mod edit -json | jq -e --arg p "$STATICCHECK_PKG" '.Tool // [] | any(.Path == $p)' >/dev/null; then
	go tool staticcheck -version >/dev/null || die "go tool staticcheck does not run"
else
	go run "$STATICCHECK_PKG@$STATICCHECK_VERSION" -version >/dev/null ||
		die "staticcheck $STATICCHECK_VERSION does not build/run"
fi

# ---- Ory Hydra for internal/e2e's Hydra tests (a cache outside the repo) ----
"$ROOT/scripts/install-hydra.sh" >/dev/null || die "scripts/install-hydra.sh failed"

log "ok (node $node_version, conformance $conf_version, $(go version | cut -d' ' -f3))"
