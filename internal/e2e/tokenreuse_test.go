package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestProxyTokenReuseEndsWithSignOut: the proxy reuses its Bearer token
// rather than ask the daemon before every request, but a sign-out reaches
// a running proxy at once (the daemon's event stream): its next request
// no longer carries the token mcpauthd signed out of, though that token
// could be reused for many more seconds.
func TestProxyTokenReuseEndsWithSignOut(t *testing.T) {
	target := tsServer(t)
	in := newInstance(t)
	in.must("login", target)
	old := strings.TrimSpace(in.must("token", target))

	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	rp.FlushInterval = -1
	var mu sync.Mutex
	var seen []string // the Authorization of each POST
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			mu.Lock()
			seen = append(seen, r.Header.Get("Authorization"))
			mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		return seen[len(seen)-1]
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs atomic.Int32
	cs, _, _ := in.startProxy(t, ctx, &logs, nil, ts.URL+u.Path, "--resource", target)
	t.Cleanup(func() { cs.Close() })
	greet := func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "x"}})
		return err
	}
	if err := greet(); err != nil {
		t.Fatal(err)
	}
	if got := last(); got != "Bearer "+old {
		t.Fatalf("the proxy did not use the signed-in token")
	}
	in.must("logout", target)
	// The event reaches the proxy shortly after logout returns; the
	// token would be reused for up to 30 s without it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = greet() // a new sign-in may follow (the browser stand-in completes it)
		if last() != "Bearer "+old {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("after logout, the running proxy still sends the token mcpauthd signed out of")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
