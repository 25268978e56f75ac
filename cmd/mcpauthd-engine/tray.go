package main

import (
	"context"
	"log/slog"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/tray"
)

// withTray runs serve (the daemon's socket server) on another goroutine and
// the tray icon, a client of socket, on this one: the main goroutine, where
// macOS wants its UI. open opens the user's browser (the daemon's
// internal/browser Opener). quit stops the daemon (the tray's Quit item); when
// serve returns the tray goes away. It returns serve's error. Without a tray
// (no session bus, macOS without cgo) it says why and only serves.
func withTray(ctx context.Context, log *slog.Logger, socket string, open func(string) error, quit func(), serve func(context.Context) error) error {
	trayCtx, stopTray := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		err := serve(ctx)
		stopTray()
		errc <- err
	}()
	err := tray.Run(trayCtx, tray.Config{Client: ipc.NewClient(socket), Log: log, Quit: quit, OpenURL: open})
	if err != nil {
		log.Info("running without the tray", "reason", err)
	}
	return <-errc
}
