package daemon_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// systemBus is a dbus-daemon configuration of type "system" (what the
// daemon's ConnectSystemBus expects) in which anyone may own any name:
// the test plays logind.
const systemBus = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:tmpdir=/tmp</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/><allow receive_sender="*"/><allow send_type="signal"/></policy>
</busconfig>`

// startSystemBus runs a private dbus-daemon standing in for the system bus
// and points DBUS_SYSTEM_BUS_ADDRESS at it.
func startSystemBus(t *testing.T) string {
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("missing dbus-daemon (CI=true: required)")
		}
		t.Skip("missing dbus-daemon; run make test")
	}
	dir, err := os.MkdirTemp("", "sysbus") // short: a socket path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(dir, "system.conf")
	if err := os.WriteFile(conf, []byte(systemBus), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "bus")
	bus := exec.Command("dbus-daemon", "--nofork", "--config-file="+conf, "--address=unix:path="+sock)
	bus.Stderr = os.Stderr
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Process.Kill(); _ = bus.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("private system bus did not start")
		}
	}
	addr := "unix:path=" + sock
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
	return addr
}

// gate holds refresh-token requests until the test opens it, and counts them.
type gate struct {
	base    http.RoundTripper
	open    atomic.Pointer[chan struct{}] // closed: let refreshes through
	refresh atomic.Int64
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/token" && r.Body != nil {
		body, err := r.GetBody()
		if err == nil {
			b := make([]byte, 4096)
			n, _ := body.Read(b)
			if v, _ := url.ParseQuery(string(b[:n])); v.Get("grant_type") == "refresh_token" {
				g.refresh.Add(1)
				<-*g.open.Load()
			}
		}
	}
	return g.base.RoundTrip(r)
}

// TestWakeRefreshesWhatIsDue: the runtime's timers stop while a laptop
// sleeps, so a token that expired during the night still has its timer
// pending on waking. The daemon's clock is moved past the token's expiry
// (its clock seam; the timer, on the monotonic clock, is still ~58 minutes
// away), then a private system bus carries logind's PrepareForSleep(true)
// and PrepareForSleep(false) from the owner of org.freedesktop.login1: on
// the wake the daemon publishes "refreshing", refreshes (exactly once), and
// publishes "signed in" with the new expiry — without any request from an
// app and without waiting for the timer. Then the same with
// NetworkManager's StateChanged(CONNECTED_GLOBAL).
func TestWakeRefreshesWhatIsDue(t *testing.T) {
	addr := startSystemBus(t)
	as := testfake.NewDeviceAS(t)
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	hc := oauth.NewHTTPClient(oauth.HTTPOptions{AllowPrivateNetworks: true})
	gt := &gate{base: hc.Transport}
	hc.Transport = gt
	var skew atomic.Int64 // how far the daemon's wall clock is ahead
	d, err := daemon.New(daemon.Config{Store: st, Logger: log, HTTP: hc, CallbackAddr: "127.0.0.1:1", LoginTimeout: 30 * time.Second,
		Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	mcp := as.Srv.URL + "/mcp"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := d.Login(ctx, &ipc.LoginRequest{URL: mcp, NoBrowser: true, Wait: true}); err != nil {
		t.Fatalf("device login: %v", err)
	}
	before := d.Servers()[0]
	if before.Status != ipc.StateSignedIn || time.Until(before.TokenExpiry) < 50*time.Minute {
		t.Fatalf("after sign-in: %+v", before)
	}

	if err := d.WatchWake(ctx); err != nil {
		t.Fatalf("WatchWake: %v", err)
	}
	// The test plays logind and NetworkManager, each from the connection
	// that owns its well-known name.
	owner := func(name string) *dbus.Conn {
		c, err := dbus.Connect(addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if r, err := c.RequestName(name, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
			t.Fatalf("owning %s: %v %v", name, r, err)
		}
		return c
	}
	logind, nm := owner("org.freedesktop.login1"), owner("org.freedesktop.NetworkManager")

	ev := d.Subscribe()
	defer d.Unsubscribe(ev)
	<-ev // the snapshot: one server
	for round, signal := range []func() error{
		func() error { // a sleep and the wake
			if err := logind.Emit("/org/freedesktop/login1", "org.freedesktop.login1.Manager.PrepareForSleep", true); err != nil {
				return err
			}
			return logind.Emit("/org/freedesktop/login1", "org.freedesktop.login1.Manager.PrepareForSleep", false)
		},
		func() error { // the network connecting (NM_STATE_CONNECTED_GLOBAL)
			return nm.Emit("/org/freedesktop/NetworkManager", "org.freedesktop.NetworkManager.StateChanged", uint32(70))
		},
	} {
		open := make(chan struct{})
		gt.open.Store(&open)
		skew.Store(int64(2 * time.Hour)) // the night: the clock is past the expiry
		if n := gt.refresh.Load(); n != int64(round) {
			t.Fatalf("round %d: %d refreshes before the signal", round, n)
		}
		if err := signal(); err != nil {
			t.Fatal(err)
		}
		var states []ipc.State
		for {
			var e ipc.Event
			select {
			case e = <-ev:
			case <-ctx.Done():
				t.Fatalf("round %d: no refresh after the signal; states published: %v", round, states)
			}
			if e.Server == nil {
				continue
			}
			states = append(states, e.Server.Status)
			if e.Server.Status == ipc.StateRefreshing {
				// The refresh is under way: the clock is right again, so
				// the new token's timer is armed for its own due time.
				skew.Store(0)
				// Resync publishes every server's state, so a refresh it
				// started can be announced twice; how many refreshes
				// reached the token endpoint is counted below.
				select {
				case <-open:
				default:
					close(open)
				}
			}
			if e.Server.Status == ipc.StateSignedIn && e.Server.TokenExpiry.After(before.TokenExpiry) {
				before = *e.Server
				break
			}
		}
		if n := gt.refresh.Load(); n != int64(round+1) {
			t.Errorf("round %d: %d refreshes in all, want %d (states %v)", round, n, round+1, states)
		}
		t.Logf("round %d: states published after the signal: %v", round, states)
	}
}
