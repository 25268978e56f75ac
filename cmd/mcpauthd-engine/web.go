package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/webui"
)

// serveLoopback listens on addr (d's CallbackAddr) and serves d's sign-in
// routes (daemon.Mount: start links and the authorization callback) and the
// local web page on every other path, whose entry URL (with this run's
// secret) d reports only over the socket (ipc.Status.WebURL). Closing the
// returned server stops both. A port another program holds is an error
// that says so.
func serveLoopback(d *daemon.Daemon, addr string, log *slog.Logger) (*http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("callback listener on %s: %w (another program holds the port; set MCPAUTH_CALLBACK_ADDR)", addr, err)
	}
	web := webui.New(d, d.LoopbackURL(), log)
	d.SetWebURL(web.EntryURL())
	mux := http.NewServeMux()
	d.Mount(mux)
	mux.Handle("/", web)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv, nil
}
