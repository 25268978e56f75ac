package daemon

import (
	"context"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// Resync re-evaluates every server against the wall clock (Config.Now):
// what is due now (a refresh, or "needs sign-in" for a token that expired
// without a refresh token) runs at once, every other timer is armed anew,
// and every server's state is published, so the tray and the web page show
// the expiry as it is now. With retry set (the network came back), a
// background refresh that failed and waits for its backoff is retried now.
//
// The runtime's timers count CLOCK_MONOTONIC, which stops while the machine
// sleeps: after a night asleep a timer armed for 30 minutes still has 30
// minutes to go. Call Resync when the OS says it woke up (WatchWake does).
// It makes no request when nothing is due, and never waits for a refresh.
func (d *Daemon) Resync(reason string, retry bool) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	list := d.allSignIns()
	now := d.cfg.Now()
	due := 0
	for _, s := range list {
		g := s.sess.Grant()
		at := s.dueAt(g)
		s.mu.Lock()
		failed := s.retries > 0
		s.mu.Unlock()
		switch {
		case at.IsZero():
		case !now.Before(at) || (retry && failed):
			due++
			s.stopTimer()
			go s.due()
		default:
			s.arm(at.Sub(now))
		}
		d.publish(ipc.Event{Type: ipc.EventServer, Server: ptr(s.info())})
	}
	d.log.Info("re-checked every server against the clock", "why", reason, "servers", len(list), "due", due)
}

// WatchWake starts calling Resync whenever the OS says the machine woke up
// or the network came back, until ctx ends. On Linux it listens on the
// system D-Bus (DBUS_SYSTEM_BUS_ADDRESS, else the standard socket) for
// logind's PrepareForSleep(false) and NetworkManager's StateChanged to
// CONNECTED_GLOBAL; signals only, so an idle daemon never wakes up for it.
// It returns once it listens (nil), or with why it cannot (no system bus);
// callers log that and carry on: timers then fire late after a sleep, and a
// token handed out is still refreshed on use.
func (d *Daemon) WatchWake(ctx context.Context) error { return d.watchWake(ctx) }
