package ipc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// serveSocket serves h on a fresh socket until the test ends and returns
// the socket's path.
func serveSocket(t *testing.T, h http.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "ipc") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "run", "s.sock") // Listen wants its own 0700 directory
	l, err := ipc.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return sock
}

// TestZeroClientConcurrentFirstUse: a zero Client with only Socket set is
// usable from many goroutines at once, its first calls included (under
// -race, a lazily built HTTP client without sync.Once is a data race).
func TestZeroClientConcurrentFirstUse(t *testing.T) {
	sock := serveSocket(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(&ipc.Status{Version: "test"})
	}))
	c := &ipc.Client{Socket: sock}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			st, err := c.Status(context.Background())
			if err == nil && st.Version != "test" {
				err = &ipc.Error{Code: ipc.CodeInternal, Message: "wrong status " + st.Version}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
}

// TestOlderDaemonSaysRestart: a request the running daemon refuses as
// malformed or unknown is reported as "restart mcpauthd" when that daemon
// is older than the client (a lower API revision, or none: it predates
// them), and passed on unchanged when it is not.
func TestOlderDaemonSaysRestart(t *testing.T) {
	refuse := func(rev string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if rev != "" {
				w.Header().Set(ipc.HeaderRevision, rev)
			}
			if r.URL.Path == "/v1/events" {
				http.NotFound(w, r) // a route the daemon does not have
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(&ipc.Error{Code: ipc.CodeBadRequest, Message: `malformed request body: json: unknown field "new_field"`})
		})
	}
	newer := strconv.Itoa(ipc.Revision + 1)
	for _, c := range []struct {
		name, rev string
		restart   bool
	}{
		{"predates revisions", "", true},
		{"older revision", strconv.Itoa(ipc.Revision - 1), true},
		{"same revision", strconv.Itoa(ipc.Revision), false},
		{"newer revision", newer, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := ipc.NewClient(serveSocket(t, refuse(c.rev)))
			_, err := cl.Token(context.Background(), "https://mcp.example.com/mcp", 0)
			var ie *ipc.Error
			if !errors.As(err, &ie) || ie.Code != ipc.CodeBadRequest {
				t.Fatalf("Token: %v; want a bad_request *ipc.Error", err)
			}
			if got := strings.Contains(err.Error(), "restart mcpauthd"); got != c.restart || !strings.Contains(err.Error(), "new_field") {
				t.Errorf("Token: %q; says restart: %v, want %v (and the daemon's own message)", err, got, c.restart)
			}
			if ipc.IsOlderDaemon(err) != c.restart {
				t.Errorf("Token: IsOlderDaemon = %v, want %v", !c.restart, c.restart)
			}
			// A route the older daemon has for another method (POST /v1/tools
			// before revision 8): what the stdio proxy falls back on.
			_, err = cl.ToolPolicy(context.Background(), "https://mcp.example.com/mcp")
			if ipc.IsOlderDaemon(err) != c.restart {
				t.Errorf("ToolPolicy: %v; IsOlderDaemon = %v, want %v", err, !c.restart, c.restart)
			}
			err = cl.Events(context.Background(), func(ipc.Event) error { return nil })
			if got := strings.Contains(fmt.Sprint(err), "restart mcpauthd"); got != c.restart {
				t.Errorf("Events: %v; says restart: %v, want %v", err, got, c.restart)
			}
		})
	}
}

// TestErrNeedsSignIn: errors.Is finds ErrNeedsSignIn in a needs_sign_in
// *Error, also wrapped, and in no other code.
func TestErrNeedsSignIn(t *testing.T) {
	e := &ipc.Error{Code: ipc.CodeNeedsSignIn, Message: "not signed in", SignInURL: "https://mcp.example.com/mcp"}
	if !errors.Is(e, ipc.ErrNeedsSignIn) || !errors.Is(fmt.Errorf("token: %w", e), ipc.ErrNeedsSignIn) {
		t.Error("a needs_sign_in error is not ErrNeedsSignIn")
	}
	for _, code := range []string{ipc.CodeNotFound, ipc.CodeBadRequest, ipc.CodeForbidden, ipc.CodeUpstream, ipc.CodeInternal} {
		if errors.Is(&ipc.Error{Code: code}, ipc.ErrNeedsSignIn) {
			t.Errorf("%s is ErrNeedsSignIn", code)
		}
	}
}

// TestIsHTTPURL: the one check of a server or issuer URL the API accepts.
func TestIsHTTPURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://mcp.example/mcp": true, "http://127.0.0.1:8080/mcp": true, "HTTPS://mcp.example": true,
		"": false, "mcp.example/mcp": false, "/mcp": false, "ftp://mcp.example": false, "https://": false,
		"https://user:secret@mcp.example/mcp": false, "javascript:alert(1)": false, "http://[::1": false,
	} {
		if got := ipc.IsHTTPURL(raw); got != want {
			t.Errorf("IsHTTPURL(%q) = %v; want %v", raw, got, want)
		}
	}
}
