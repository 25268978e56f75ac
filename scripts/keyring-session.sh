#!/bin/sh
# keyring-session.sh — run a command inside a private session bus with an unlocked gnome-keyring
#   usage: XDG_DATA_HOME=$tmp/data dbus-run-session -- ./keyring-session.sh go test ./store/...
set -e
eval "$(printf pass | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
i=0; until gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
  --method org.freedesktop.DBus.NameHasOwner org.freedesktop.secrets 2>/dev/null | grep -q true; do
  i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.05; done
exec "$@"
