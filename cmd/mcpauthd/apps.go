package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/revproxy"
)

// startApps serves the local reverse proxy for HTTP apps on
// MCPAUTH_APPS_ADDR (revproxy.DefaultAddr) until ctx ends. It is optional:
// when the address is taken or not loopback, the daemon runs without it and
// says so (apps then get "connection refused", and `mcpauthd app add` warns).
func startApps(ctx context.Context, d *daemon.Daemon, log *slog.Logger) {
	addr := os.Getenv("MCPAUTH_APPS_ADDR")
	if addr == "" {
		addr = revproxy.DefaultAddr
	}
	l, err := revproxy.Listen(addr)
	if err != nil {
		log.Warn("the local reverse proxy for apps is off", "err", err)
		return
	}
	d.SetAppsURL("http://" + l.Addr().String())
	log.Info("reverse proxy for apps", "url", "http://"+l.Addr().String())
	go func() {
		if err := revproxy.New(d, l.Addr().String(), nil, log).Serve(ctx, l); err != nil {
			log.Warn("the local reverse proxy for apps stopped", "err", err)
		}
	}()
}
