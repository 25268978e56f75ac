package ipcserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// serveClient serves h on a fresh socket for the test and returns an
// ipc.Client for it.
func serveClient(t *testing.T, h *Handler) *ipc.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "run", "mcpauthd.sock")
	l, err := ipc.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-served })
	return ipc.NewClient(sock)
}

// addServer adds url to h's daemon without the network: a server whose
// sign-ins use client credentials, not signed in yet.
func addServer(t *testing.T, h *Handler, url string) {
	t.Helper()
	if err := h.D.SetGrant(url, &ipc.GrantConfig{Type: ipc.GrantClientCredentials, ClientID: "robot", ClientSecret: "not-used"}); err != nil {
		t.Fatal(err)
	}
}

// TestClientCalls runs every ipc.Client call over the real socket against
// the real handler and daemon (offline: no server can be reached), and
// checks the answer or the error code each must give.
func TestClientCalls(t *testing.T) {
	h := newTestHandler(t)
	shutdown := make(chan bool, 2) // restart?
	h.Shutdown = func(restart bool) { shutdown <- restart }
	c := serveClient(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const known, unknown = "http://127.0.0.1:9/mcp", "http://127.0.0.1:9/other"

	addServer(t, h, known)
	for _, tt := range []struct {
		name string
		call func() error
		code string // "" for success
	}{
		{"Status", func() error {
			st, err := c.Status(ctx)
			if err == nil && (st.PID != os.Getpid() || st.Servers != 1) {
				t.Errorf("Status = %+v", st)
			}
			return err
		}, ""},
		{"Servers", func() error {
			list, err := c.Servers(ctx)
			if err == nil && (len(list) != 1 || list[0].URL != known) {
				t.Errorf("Servers = %+v", list)
			}
			return err
		}, ""},
		{"Login offline", func() error {
			// Starts (the answer has its id), then fails offline: a failed
			// first sign-in leaves nothing behind.
			lr, err := c.Login(ctx, &ipc.LoginRequest{URL: unknown})
			if err == nil && lr.ID == "" {
				t.Errorf("Login = %+v; want the sign-in's id", lr)
			}
			return err
		}, ""},
		{"Login not http", func() error { _, err := c.Login(ctx, &ipc.LoginRequest{URL: "ftp://example.com"}); return err }, ipc.CodeBadRequest},
		{"Login bad grant", func() error {
			_, err := c.Login(ctx, &ipc.LoginRequest{URL: known, Grant: &ipc.GrantConfig{Type: "password"}})
			return err
		}, ipc.CodeBadRequest},
		{"WaitLogin unknown", func() error { _, err := c.WaitLogin(ctx, "no-such-id"); return err }, ipc.CodeNotFound},
		{"CancelLogin unknown", func() error { return c.CancelLogin(ctx, "no-such-id") }, ipc.CodeNotFound},
		{"Complete not waited for", func() error {
			_, err := c.Complete(ctx, "http://127.0.0.1:1/callback?state=nobody&code=x")
			return err
		}, ipc.CodeNotFound},
		{"Complete not a URL", func() error { _, err := c.Complete(ctx, "http://[::1"); return err }, ipc.CodeBadRequest},
		{"Token not signed in", func() error { _, err := c.Token(ctx, known, 0); return err }, ipc.CodeNeedsSignIn},
		{"Token unknown server", func() error { _, err := c.Token(ctx, unknown, time.Minute); return err }, ipc.CodeNeedsSignIn},
		{"TokenFor DPoP", func() error {
			_, err := c.TokenFor(ctx, &ipc.TokenRequest{URL: known, DPoP: &ipc.DPoPRequest{Method: "POST", URL: known}})
			return err
		}, ipc.CodeNeedsSignIn},
		{"Challenge 403 unknown server", func() error {
			return c.Challenge(ctx, &ipc.ChallengeRequest{URL: unknown, Status: http.StatusForbidden})
		}, ipc.CodeNeedsSignIn},
		{"Succeeded", func() error { return c.Succeeded(ctx, known, "") }, ""},
		{"Succeeded unknown server", func() error { return c.Succeeded(ctx, unknown, "") }, ""},
		{"Refresh unknown", func() error { _, err := c.Refresh(ctx, unknown); return err }, ipc.CodeNotFound},
		{"Refresh not signed in", func() error { _, err := c.Refresh(ctx, known); return err }, ipc.CodeNeedsSignIn},
		{"Logout unknown", func() error { _, err := c.Logout(ctx, &ipc.ServerRequest{URL: unknown}); return err }, ipc.CodeNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.code == "" {
				if err != nil {
					t.Fatalf("%v; want success", err)
				}
				return
			}
			var ie *ipc.Error
			if !errors.As(err, &ie) || ie.Code != tt.code || ie.Message == "" {
				t.Fatalf("%v; want an ipc error %s with a message", err, tt.code)
			}
			if errors.Is(err, ipc.ErrNeedsSignIn) != (tt.code == ipc.CodeNeedsSignIn) {
				t.Errorf("errors.Is(%v, ErrNeedsSignIn) = %v", err, !(tt.code == ipc.CodeNeedsSignIn))
			}
			if tt.code == ipc.CodeNeedsSignIn && ie.SignInURL == "" {
				t.Errorf("needs_sign_in without the URL to sign in to: %+v", ie)
			}
		})
	}

	// Events: hello, then one event per known server, then changes.
	evs := make(chan ipc.Event, 16)
	ectx, ecancel := context.WithCancel(ctx)
	defer ecancel()
	go func() {
		defer close(evs) // the stream ended (or ctx's deadline passed)
		_ = c.Events(ectx, func(ev ipc.Event) error { evs <- ev; return nil })
	}()
	if ev := <-evs; ev.Type != "hello" {
		t.Fatalf("first event %q; want hello", ev.Type)
	}
	if ev := <-evs; ev.Type != "server" || ev.Server == nil || ev.Server.URL != known {
		t.Fatalf("snapshot event %+v; want the known server", ev)
	}
	if lr, err := c.Logout(ctx, &ipc.ServerRequest{URL: known, Remove: true}); err != nil || !lr.Removed || lr.Revocation != ipc.RevocationNone {
		t.Fatalf("Logout --remove of a server never signed in to: %+v, %v", lr, err)
	}
	removed := false
	for ev := range evs {
		if removed = ev.Type == "removed" && ev.Server != nil && ev.Server.URL == known; removed {
			break
		}
	}
	if !removed {
		t.Fatal("no removed event for the removed server")
	}
	if list, err := c.Servers(ctx); err != nil || len(list) != 0 {
		t.Fatalf("Servers after remove: %+v, %v", list, err)
	}

	if err := c.Restart(ctx); err != nil || !<-shutdown {
		t.Fatalf("Restart: %v; want a shutdown that asks for a restart", err)
	}
	if err := c.Shutdown(ctx); err != nil || <-shutdown {
		t.Fatalf("Shutdown: %v; want a shutdown without a restart", err)
	}
}

// TestRevisionHeader: every answer, refusals included, carries the
// daemon's API revision.
func TestRevisionHeader(t *testing.T) {
	h := newTestHandler(t)
	me := context.WithValue(context.Background(), peerKey{}, peerResult{peer: ipc.Peer{UID: os.Getuid()}})
	for _, r := range []struct {
		method, path string
		ctx          context.Context
	}{
		{"GET", "/v1/status", me},
		{"POST", "/v1/token", me}, // no body: malformed
		{"GET", "/v1/nothing", me},
		{"GET", "/v1/status", context.Background()}, // no peer: refused
	} {
		req := httptest.NewRequestWithContext(r.ctx, r.method, "http://mcpauthd"+r.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if got := w.Header().Get(ipc.HeaderRevision); got != strconv.Itoa(ipc.Revision) {
			t.Errorf("%s %s (%d): revision %q; want %d", r.method, r.path, w.Code, got, ipc.Revision)
		}
	}
}
