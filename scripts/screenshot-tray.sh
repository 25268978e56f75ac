#!/usr/bin/env bash
# screenshot-tray.sh: draw docs/tray.png, the real tray with its menu open.
#
# Runs everything private and headless (docs TESTING.md §2): Xvfb + openbox +
# xfce4-panel (its systray plugin is the StatusNotifierWatcher), a private
# session bus with an unlocked gnome-keyring, the TypeScript SDK example
# server with OAuth (tools/node_modules), and mcpauthd built from this tree
# with its tray, all state in a temp directory. One server is signed in
# (the "browser" is curl, which the example authorization server lets
# through), then the script right-clicks the icon, opens the server's
# submenu, and takes the picture.
#
#   scripts/screenshot-tray.sh [OUT.png]     (default docs/tray.png)
#
# Needs: scripts/install-test-deps.sh (Xvfb, openbox, xfce4-panel, xdotool,
# ImageMagick, gnome-keyring, dbus, Node + the SDK in tools/node_modules).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=$(realpath -m "${1:-docs/tray.png}")

# Where the icon and the server's entry end up on the 640×360 screen with
# the panel config below (a 30 px panel at the top: tray, spacer, clock; the
# tray at the left leaves room for the submenu to open to the right).
ICON_X=${ICON_X:-15} ICON_Y=${ICON_Y:-15}
ENTRY_X=${ENTRY_X:-120} ENTRY_Y=${ENTRY_Y:-72}
CROP=${CROP:-640x200+0+0}

for c in Xvfb openbox xfce4-panel xdotool import dbus-run-session gnome-keyring-daemon curl go; do
	command -v "$c" >/dev/null || {
		echo "screenshot-tray: $c not found; run scripts/install-test-deps.sh" >&2
		exit 1
	}
done
NODE=$ROOT/tools/node_modules/node/bin/node
SDK=$ROOT/tools/node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js
[ -x "$NODE" ] && [ -f "$SDK" ] || {
	echo "screenshot-tray: no Node/SDK in tools/node_modules; run scripts/install-test-deps.sh" >&2
	exit 1
}

tmp=$(mktemp -d)
pids=()
cleanup() {
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/" ./cmd/mcpauthd ./cmd/mcpauthd-engine

# The "browser": given the file:// URL of mcpauthd's redirect page, goes where
# its meta refresh says and follows the redirects (with cookies: mcpauthd's
# sign-in binding) back to mcpauthd's callback.
cat >"$tmp/browser" <<'B'
#!/bin/sh
u=$(sed -n 's/.*http-equiv="refresh" content="0;url=\([^"]*\)".*/\1/p' "${1#file://}" | sed 's/&amp;/\&/g')
exec curl -fsSL -b '' -o /dev/null "$u"
B
chmod +x "$tmp/browser"

# One panel along the top: tray, spacer, clock.
mkdir -p "$tmp/config/xfce4/xfconf/xfce-perchannel-xml"
cat >"$tmp/config/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml" <<'X'
<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="30"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
        <value type="int" value="2"/>
        <value type="int" value="3"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray">
      <property name="icon-size" type="uint" value="22"/>
    </property>
    <property name="plugin-2" type="string" value="separator">
      <property name="expand" type="bool" value="true"/>
      <property name="style" type="uint" value="0"/>
    </property>
    <property name="plugin-3" type="string" value="clock">
      <property name="digital-format" type="string" value="%H:%M"/>
    </property>
  </property>
</channel>
X

free_port() { "$NODE" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_port() {
	for _ in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "screenshot-tray: nothing listens on port $1" >&2
	return 1
}

MCP_PORT=$(free_port) AUTH_PORT=$(free_port)
MCP_PORT=$MCP_PORT MCP_AUTH_PORT=$AUTH_PORT "$NODE" "$SDK" --oauth >"$tmp/server.log" 2>&1 &
pids+=($!)

Xvfb :97 -screen 0 640x360x24 -wr -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
pids+=($!)
export DISPLAY=:97
for _ in $(seq 100); do xdotool getmouselocation >/dev/null 2>&1 && break; sleep 0.05; done
openbox --sm-disable >"$tmp/openbox.log" 2>&1 &
pids+=($!)
wait_port "$MCP_PORT"
wait_port "$AUTH_PORT"

# Everything below shares one private session bus; the panel's xfconfd
# (started by the bus) reads XDG_CONFIG_HOME, so it is set before.
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_STATE_HOME=$tmp/state
export XDG_CACHE_HOME=$tmp/cache XDG_RUNTIME_DIR=$tmp/run
mkdir -p "$HOME" "$XDG_DATA_HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export MCPAUTH_SOCK=$tmp/run/mcpauthd.sock BROWSER=$tmp/browser
export MCPAUTH_CALLBACK_ADDR=127.0.0.1:$(free_port)
export MCPD=$tmp/mcpauthd URL=http://localhost:$MCP_PORT/mcp OUT ICON_X ICON_Y ENTRY_X ENTRY_Y CROP TMPD=$tmp
unset DBUS_SESSION_BUS_ADDRESS
dbus-run-session -- "$ROOT/scripts/keyring-session.sh" bash -euo pipefail -c '
	xfce4-panel >"$TMPD/panel.log" 2>&1 &
	sleep 2
	"$MCPD" >"$TMPD/mcpauthd.log" 2>&1 &
	for _ in $(seq 100); do "$MCPD" status >/dev/null 2>&1 && break; sleep 0.1; done
	"$MCPD" login "$URL" >/dev/null
	sleep 1
	xdotool mousemove "$ICON_X" "$ICON_Y" click 3
	sleep 1
	xdotool mousemove "$ENTRY_X" "$ENTRY_Y"
	sleep 1.5
	import -window root -crop "$CROP" +repage "$OUT"
	"$MCPD" status >/dev/null && kill %1 %2
' || {
	echo "screenshot-tray: failed; logs:" >&2
	tail -n 20 "$tmp"/*.log >&2
	exit 1
}
echo "screenshot-tray: wrote $OUT"
