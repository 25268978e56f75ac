// Package packaging holds the sources of the files that install mcpauthd on
// a desktop: the systemd user unit, the XDG desktop entries (menu and
// autostart), the launchd agent, the man page and the nfpm configuration.
//
// The unit, the entries and the agent are text/template sources, rendered
// only by internal/autostart: `mcpauthd install` writes them for the running
// binary, and scripts/dist.sh puts `mcpauthd install --print NAME --exe
// /usr/bin/mcpauthd` into the packages, so what a package ships and what
// install writes come from one source. This package only embeds them.
package packaging

import "embed"

// Templates holds the text/template sources, by file name.
//
//go:embed mcpauthd.service mcpauthd.desktop mcpauthd-autostart.desktop io.github.mcpauthd.plist
var Templates embed.FS
