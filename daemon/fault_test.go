package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// stall delays requests to one path until the client gives up: an
// authorization server slower than the engine's timeout, as the daemon's
// injected HTTP client (daemon.Config.HTTP) sees it.
type stall struct {
	base http.RoundTripper
	path string
	on   atomic.Bool
	hits atomic.Int64
}

func (s *stall) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.on.Load() && r.URL.Path == s.path {
		s.hits.Add(1)
		<-r.Context().Done() // the client's timeout cancels it
		return nil, r.Context().Err()
	}
	return s.base.RoundTrip(r)
}

// TestSlowAuthServer: the daemon's HTTP client has a short timeout (the
// injectable daemon.Config.HTTP over oauth.NewHTTPClient's transport). A
// token endpoint slower than it: Token serves the still-valid token in
// bounded time; an explicit Refresh fails with an upstream error naming
// the token endpoint; the stored token is intact for a new daemon.
func TestSlowAuthServer(t *testing.T) {
	as := testfake.NewDeviceAS(t)
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	db := filepath.Join(dir, "registry.db")
	st, err := store.Open(db, store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	hc := oauth.NewHTTPClient(oauth.HTTPOptions{Timeout: 300 * time.Millisecond})
	sl := &stall{base: hc.Transport, path: "/token"}
	hc.Transport = sl
	cfg := daemon.Config{Store: st, Logger: log, HTTP: hc, CallbackAddr: "127.0.0.1:1", LoginTimeout: 30 * time.Second}
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url := as.Srv.URL + "/mcp"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.Login(ctx, &ipc.LoginRequest{URL: url, NoBrowser: true, Wait: true}); err != nil {
		t.Fatalf("device login: %v", err)
	}
	tok, err := d.Token(ctx, url, 0, ipc.Peer{})
	if err != nil || tok.AccessToken != "device-access" {
		t.Fatalf("token: %+v %v", tok, err)
	}

	sl.on.Store(true)
	start := time.Now()
	got, err := d.Token(ctx, url, 2*time.Hour, ipc.Peer{}) // forces a refresh
	if err != nil || got.AccessToken != "device-access" {
		t.Fatalf("token with a slow AS: %+v %v; want the still-valid token", got, err)
	}
	if sl.hits.Load() == 0 {
		t.Fatal("no refresh was attempted")
	}
	t.Logf("still-valid token served after %s with a 300 ms client timeout", time.Since(start).Round(time.Millisecond))
	_, err = d.Refresh(ctx, url, "")
	var ie *ipc.Error
	if !errors.As(err, &ie) || ie.Code != ipc.CodeUpstream || !strings.Contains(ie.Message, as.Srv.URL+"/token") {
		t.Fatalf("explicit refresh with a slow AS: %v; want an upstream error naming the token endpoint", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the daemon waited for the slow server past the caller's deadline")
	}
	d.Close()
	st.Close()

	// Nothing stored was damaged.
	st, err = store.Open(db, store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg.Store = st
	sl.on.Store(false)
	d2, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if got, err := d2.Token(ctx, url, 0, ipc.Peer{}); err != nil || got.AccessToken != "device-access" {
		t.Fatalf("after a restart: %+v %v", got, err)
	}
}
