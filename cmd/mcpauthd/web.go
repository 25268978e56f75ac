package main

import (
	"log/slog"
	"net/http"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/webui"
)

// webUI returns the local web page's handler, served on d's loopback
// listener, and its entry URL (with this run's secret; reported only over the
// socket, in ipc.Status.WebURL).
func webUI(d *daemon.Daemon, log *slog.Logger) (http.Handler, string) {
	h := webui.New(d, d.LoopbackURL(), log)
	return h, h.EntryURL()
}
