package main

import (
	"context"
	"log/slog"
)

// startTray shows the system tray icon, a client of the daemon's socket.
// quit stops the daemon (the tray's Quit item).
func startTray(ctx context.Context, log *slog.Logger, socket string, quit func()) {
	log.Info("the tray is not part of this build yet; running without it")
}
