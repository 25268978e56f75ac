package daemon_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

type offline struct{}

func (offline) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("offline test transport")
}

// FuzzCallback sends fuzzed query strings to the daemon's real loopback
// callback listener, and the same redirect URLs to daemon.Complete (the
// pasted-URL path), with no sign-in waiting for them (the engine's
// FuzzComplete covers a matching state): no panic, a bounded answer, a page
// with its CSP that never reflects markup from the query, and errors that
// are ipc errors.
func FuzzCallback(f *testing.F) {
	for _, q := range []string{
		"code=abc&state={state}", "code=abc&state={state}&iss=http%3A%2F%2Fevil", "error=access_denied&state={state}",
		"state=nope&code=x", "", "state=", "%zz", "state={state}&state=other", "code=<script>alert(1)</script>&state=<b>x",
		"error=<img src=x onerror=alert(1)>&error_description=</p><script>x</script>&state={state}",
		strings.Repeat("a=b&", 2000), "state={state}#frag",
	} {
		f.Add(q)
	}
	dir := f.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		f.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	d, err := daemon.New(daemon.Config{
		Store: st, Logger: log, CallbackAddr: addr,
		HTTP:         &http.Client{Transport: offline{}, Timeout: time.Second},
		OpenBrowser:  func(string) error { return nil },
		LoginTimeout: 5 * time.Second,
	})
	if err != nil {
		f.Fatal(err)
	}
	srv := &http.Server{Handler: d.Handler()}
	go func() { _ = srv.Serve(l) }()
	f.Cleanup(func() { srv.Close(); d.Close(); st.Close() })
	c := &http.Client{Timeout: 20 * time.Second}
	f.Fuzz(func(t *testing.T, q string) {
		if strings.ContainsAny(q, "\r\n") {
			return // not a request line any client can send
		}
		// No sign-in waits (its state never matches): the page says so.
		q = strings.ReplaceAll(q, "{state}", "no-such-state")
		res, err := c.Get(d.CallbackURL() + "?" + q)
		if err != nil {
			return // a URL Go's client refuses to send
		}
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if !strings.Contains(string(b), "mcpauthd") {
			return // net/http refused the request line before the handler
		}
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback ?%q answered %d with no sign-in waiting", q, res.StatusCode)
		}
		if res.Header.Get("Content-Security-Policy") == "" {
			t.Fatal("callback page without a CSP")
		}
		for _, bad := range []string{"<script", "<img", "<b>"} {
			if strings.Contains(strings.ToLower(q), bad) && strings.Contains(strings.ToLower(string(b)), bad) {
				t.Fatalf("callback page reflects %q: %s", bad, b)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err = d.Complete(ctx, d.CallbackURL()+"?"+q)
		var ie *ipc.Error
		if !errors.As(err, &ie) || ie.Message == "" {
			t.Fatalf("Complete(%q) = %v; want an ipc error", q, err)
		}
	})
}
