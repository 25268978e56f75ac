package ipcserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// offline refuses every outbound request: fuzzed URLs must not make the
// test reach the network.
type offline struct{}

func (offline) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, errors.New("offline test transport")
}

// newTestHandler builds the real handler around a daemon with a temporary
// registry and the file secret backend.
func newTestHandler(t testing.TB) *Handler {
	return newHandlerWith(t, &http.Client{Transport: offline{}, Timeout: 2 * time.Second}, 2*time.Second)
}

// newHandlerWith is newTestHandler whose daemon reaches servers through hc
// (nil: the daemon's default client, loopback servers included) and gives
// sign-ins loginTimeout.
func newHandlerWith(t testing.TB, hc *http.Client, loginTimeout time.Duration) *Handler {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{
		Store:        st,
		Logger:       log,
		HTTP:         hc,
		CallbackAddr: "127.0.0.1:1",
		OpenBrowser:  func(string) error { return nil },
		LoginTimeout: loginTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); st.Close() })
	return New(d, log, func(bool) {})
}

var fuzzRoutes = []string{
	"/v1/login", "/v1/login/wait", "/v1/login/complete", "/v1/login/cancel",
	"/v1/token", "/v1/challenge", "/v1/succeeded", "/v1/refresh", "/v1/logout",
}

// FuzzIPCBodies sends fuzzed JSON bodies to every JSON route of the real
// handler, as the daemon's own user. Whatever the body: no panic, an
// answer within a bounded time, a JSON body, and a 4xx (not 500) for a body
// the route cannot decode.
func FuzzIPCBodies(f *testing.F) {
	for i := range fuzzRoutes {
		for _, b := range []string{
			`{}`, `{"url":"http://127.0.0.1:9/mcp"}`, `{"url":"http://127.0.0.1:9/mcp","wait":true}`,
			`{"url":"http://127.0.0.1:9/mcp","min_valid":"5m"}`, `{"url":"http://127.0.0.1:9/mcp","min_valid":-1}`,
			`{"id":"x"}`, `{"redirect_url":"http://127.0.0.1/callback?state=x&code=y"}`, `{"redirect_url":"%zz"}`,
			`{"url":"http://127.0.0.1:9/mcp","status":401,"www_authenticate":["Bearer resource_metadata=\"file:///etc/passwd\""]}`,
			`{"url":"http://127.0.0.1:9/mcp","remove":true}`, `{"unknown":1}`, `null`, `[]`, `"`, ``,
			`{"url":"javascript:alert(1)"}`, `{"url":"http://127.0.0.1:9/mcp","grant":{"type":"client_credentials"}}`,
			`{"url":"http://127.0.0.1:9/mcp","dpop":{"method":"GET","url":"x"}}`, `{"url":` + strings.Repeat("[", 10000),
		} {
			f.Add(uint8(i), b)
		}
	}
	h := newTestHandler(f)
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ctx = context.WithValue(ctx, peerKey{}, peerResult{peer: ipc.Peer{UID: os.Getuid(), PID: os.Getpid()}})
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "http://mcpauthd"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { defer close(done); h.ServeHTTP(w, req) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not answer %q", path, body)
		}
		res := w.Result()
		b, _ := io.ReadAll(res.Body)
		if !json.Valid(b) {
			t.Fatalf("%s answered %d with a non-JSON body %q", path, res.StatusCode, b)
		}
		var probe any
		if json.Unmarshal([]byte(body), &probe) != nil && res.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s answered %d to an undecodable body %q", path, res.StatusCode, body)
		}
		if res.StatusCode >= 400 {
			var e ipc.Error
			if err := json.Unmarshal(b, &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%s answered %d without an ipc error: %s", path, res.StatusCode, b)
			}
		}
	})
}

// TestOriginRefusedOverSocket: over the real Unix socket, a request that
// carries Origin or Referer (a browser page) is refused before any route
// runs, on every route; the same request without them is served.
func TestOriginRefusedOverSocket(t *testing.T) {
	h := newTestHandler(t)
	sock := filepath.Join(t.TempDir(), "run", "mcpauthd.sock")
	l, err := ipc.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-served })

	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return ipc.Dial(ctx, sock)
	}}}
	do := func(method, path, body string, hdr map[string]string) (int, []byte) {
		req, _ := http.NewRequest(method, "http://mcpauthd"+path, bytes.NewReader([]byte(body)))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	// A server to act on (a failed first sign-in would leave none behind).
	addServer(t, h, "http://127.0.0.1:9/mcp")
	if code, b := do("GET", "/v1/status", "", nil); code != http.StatusOK {
		t.Fatalf("status without Origin: %d %s", code, b)
	}
	for _, hdr := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Origin": "null"},
		{"Referer": "https://evil.example/page"},
		{"Origin": "http://127.0.0.1:53682", "Referer": "http://127.0.0.1:53682/"},
	} {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/v1/status", ""},
			{"GET", "/v1/servers", ""},
			{"GET", "/v1/events", ""},
			{"POST", "/v1/token", `{"url":"http://127.0.0.1:9/mcp"}`},
			{"POST", "/v1/logout", `{"url":"http://127.0.0.1:9/mcp","remove":true}`},
			{"POST", "/v1/login", `{"url":"http://127.0.0.1:9/other"}`},
			{"POST", "/v1/shutdown", `{}`},
		} {
			code, b := do(r.method, r.path, r.body, hdr)
			if code != http.StatusForbidden || !strings.Contains(string(b), "requests from web pages are refused") {
				t.Errorf("%s %s with %v: %d %s", r.method, r.path, hdr, code, b)
			}
		}
	}
	// Nothing the refused requests asked for happened.
	code, b := do("GET", "/v1/servers", "", nil)
	var list []ipc.ServerInfo
	if code != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list) != 1 || list[0].URL != "http://127.0.0.1:9/mcp" {
		t.Fatalf("servers after refused requests: %d %s", code, b)
	}
	if code, _ := do("GET", "/v1/status", "", nil); code != http.StatusOK {
		t.Fatalf("status without Origin: %d (did a refused shutdown stop the server?)", code)
	}
}
