package main

import (
	"context"
	"log/slog"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/revproxy"
)

// startApps serves the local reverse proxy for HTTP apps on addr (the
// apps_addr setting; revproxy.DefaultAddr when empty) until ctx ends. It is
// optional: when the address is taken or not loopback, the daemon runs
// without it and says so (apps then get "connection refused", and
// `mcpauthd app add` warns).
func startApps(ctx context.Context, d *daemon.Daemon, addr string, log *slog.Logger) {
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
