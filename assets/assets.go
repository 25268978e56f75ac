// Package assets holds the files mcpauthd embeds: the tray icons (drawn by
// gen_icons.go; run `go generate ./assets` after changing it).
package assets

import "embed"

//go:generate go run gen_icons.go

//go:embed icons/*.png icons/*.ico
var icons embed.FS

// Tray icon kinds: the overall state the tray shows.
const (
	IconOK        = "ok"         // every server is usable
	IconAttention = "attention"  // a server needs sign-in or has an error
	IconSigningIn = "signing-in" // a sign-in is under way
	IconOffline   = "offline"    // no daemon to talk to (yet)
)

// TrayIcon returns the icon for kind (one of the Icon constants) as a 32×32
// PNG, or with ico as a Windows .ico holding that PNG. It panics on an
// unknown kind: the set is fixed at build time.
func TrayIcon(kind string, ico bool) []byte {
	ext := ".png"
	if ico {
		ext = ".ico"
	}
	b, err := icons.ReadFile("icons/tray-" + kind + ext)
	if err != nil {
		panic("assets: no tray icon " + kind)
	}
	return b
}
