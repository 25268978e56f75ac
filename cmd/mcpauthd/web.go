package main

import (
	"log/slog"
	"net/http"

	"github.com/mcpauthd/mcpauthd/daemon"
)

// webUI returns the local web page's handler and its entry URL (nil: none).
func webUI(d *daemon.Daemon, log *slog.Logger) (http.Handler, string) {
	return nil, ""
}
