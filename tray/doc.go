// Package tray is mcpauthd's system-tray icon and menu. It is a client of the
// daemon like the CLI: everything it shows comes from the daemon's event
// stream (ipc.Client.Events), everything it does is an ipc call, and it
// never touches the store or the OAuth engine.
//
// The icon shows the overall state (all good, something needs the user, a
// sign-in under way); the menu has one entry per server with its state and a
// submenu (Sign in, Refresh now, Copy access token, Sign out, Remove; for a
// server with several accounts, one item per account with Sign in, Make
// default and Sign out; Sign in to another account…, which opens the web
// page where the account is named), one entry per company sign-in (its
// servers, Sign in again, Sign out), then Add server…, Add server from
// clipboard, Open dashboard and Quit. When a
// server turns needs_sign_in the tray shows one desktop notification (on
// Linux and the BSDs, org.freedesktop.Notifications) with a "Sign in" action.
//
// The menu is fyne.io/systray: StatusNotifierItem + com.canonical.dbusmenu on
// Linux, the Win32 notification area on Windows, NSStatusItem on macOS (cgo
// only; a build without cgo has no tray there, and Run says so).
package tray

import (
	"context"
	"errors"
	"log/slog"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// ErrUnavailable is returned (wrapped, with the reason) by Run when this
// build or this session has no tray: macOS without cgo, or no D-Bus session
// bus on Linux.
var ErrUnavailable = errors.New("the tray is unavailable")

// Config is what the tray needs. Client and Quit are required.
type Config struct {
	// Client talks to the daemon.
	Client *ipc.Client
	// Log receives the tray's messages; nil discards them. Nothing the tray
	// logs contains a token or the web page's URL (it carries a secret).
	Log *slog.Logger
	// Quit stops the daemon (the menu's Quit item).
	Quit func()
	// OpenURL opens the user's browser (Add server…, Open dashboard); nil
	// disables those items.
	OpenURL func(url string) error
}

// Run shows the tray until ctx ends or the user picks Quit (which calls
// cfg.Quit and returns). It blocks, and must be called on the main goroutine:
// macOS runs its UI there only. It can run once per process.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Client == nil || cfg.Quit == nil {
		return errors.New("tray: Config.Client and Config.Quit are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return run(ctx, cfg)
}
