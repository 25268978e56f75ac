package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/revproxy"
)

// startApps serves the local reverse proxy for HTTP apps on addr (the
// apps_addr setting; revproxy.DefaultAddr when empty) until ctx ends. When
// the address is taken (another user may have bound it first) or not
// loopback, the daemon runs without it and says so loudly: the error is in
// its log, in `mcpauthd status` and the tray, and `mcpauthd app add`
// refuses, since app URLs would reach whatever holds the address. base
// carries the requests to servers (the network policy).
func startApps(ctx context.Context, d *daemon.Daemon, addr string, base http.RoundTripper, log *slog.Logger) {
	if addr == "" {
		addr = revproxy.DefaultAddr
	}
	l, err := revproxy.Listen(addr)
	if err != nil {
		log.Error("the local reverse proxy for apps is off", "err", err)
		d.SetApps(daemon.AppsListener{Err: err})
		return
	}
	origin := "http://" + l.Addr().String()
	d.SetApps(daemon.AppsListener{URL: origin, UIDChecked: revproxy.PeerUIDChecked})
	log.Info("reverse proxy for apps", "url", origin, "uid_checked", revproxy.PeerUIDChecked)
	go func() {
		if err := revproxy.New(d, l.Addr().String(), base, log).Serve(ctx, l); err != nil {
			log.Warn("the local reverse proxy for apps stopped", "err", err)
		}
	}()
}
