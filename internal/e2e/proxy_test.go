//lint:file-ignore SA1019 the TypeScript example server notifies through logging (deprecated in 2026-07-28, live on older wires)

package e2e

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// countingProxy sits between `mcpauthd proxy` and the TypeScript server and
// records what the proxy sends upstream.
type countingProxy struct {
	url     string
	deletes atomic.Int32
	mu      sync.Mutex
	extra   []string // the X-E2e header of each request
	authed  int      // requests that carried a bearer token
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	rp.FlushInterval = -1 // pass server-sent events on at once
	cp := &countingProxy{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cp.mu.Lock()
		cp.extra = append(cp.extra, r.Header.Get("X-E2e"))
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			cp.authed++
		}
		cp.mu.Unlock()
		if r.Method == http.MethodDelete {
			cp.deletes.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	cp.url = ts.URL + u.Path
	return cp
}

// startProxy runs `mcpauthd proxy args…` under the Go SDK's client, as an
// app would, and returns the session and the proxy's process.
func (in *instance) startProxy(t *testing.T, ctx context.Context, logs *atomic.Int32, env []string, args ...string) (*mcp.ClientSession, *exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(in.bin, append([]string{"proxy"}, args...)...)
	cmd.Env = append(append([]string{}, in.env...), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-app", Version: "0"}, &mcp.ClientOptions{
		LoggingMessageHandler: func(context.Context, *mcp.LoggingMessageRequest) { logs.Add(1) },
	})
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect through mcpauthd proxy: %v\nproxy stderr:\n%s", err, stderr.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("proxy stderr:\n%s", stderr.String())
		}
	})
	return cs, cmd, &stderr
}

func waitCount(c *atomic.Int32, n int32, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for c.Load() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return c.Load() >= n
}

// TestProxy is issue 5's flow: an app (the Go SDK client over stdio) runs
// `mcpauthd proxy` against the TypeScript SDK example server with OAuth,
// through a counting reverse proxy (so the endpoint differs from the
// canonical resource: --resource).
func TestProxy(t *testing.T) {
	target := tsServer(t)
	in := newInstance(t)
	in.must("login", target)
	tok := strings.TrimSpace(in.must("token", target))
	cp := newCountingProxy(t, target)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs atomic.Int32
	cs, cmd, stderr := in.startProxy(t, ctx, &logs, []string{"E2E_HDR=from-env"},
		cp.url, "33418", "--resource", target, "--header", "X-E2e: ${E2E_HDR}", "--debug")

	// No token in the proxy's argv or environment.
	for _, f := range []string{"cmdline", "environ"} {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(tok)) {
			t.Fatalf("the proxy's %s holds the access token", f)
		}
	}

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	names := map[string]bool{}
	for _, tl := range tools.Tools {
		names[tl.Name] = true
	}
	for _, want := range []string{"greet", "multi-greet", "start-notification-stream"} {
		if !names[want] {
			t.Fatalf("tools/list lacks %s: %v", want, names)
		}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "e2e"}})
	if err != nil || len(res.Content) == 0 || res.Content[0].(*mcp.TextContent).Text != "Hello, e2e!" {
		t.Fatalf("greet: %+v %v", res, err)
	}
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatalf("logging/setLevel: %v", err)
	}
	// multi-greet sends three log notifications, on the standalone stream.
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "multi-greet", Arguments: map[string]any{"name": "e2e"}}); err != nil || res.IsError {
		t.Fatalf("multi-greet: %+v %v", res, err)
	}
	if !waitCount(&logs, 3, 5*time.Second) {
		t.Fatalf("got %d server notifications from multi-greet, want 3", logs.Load())
	}
	before := logs.Load()
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "start-notification-stream", Arguments: map[string]any{"interval": 20, "count": 10}}); err != nil || res.IsError {
		t.Fatalf("start-notification-stream: %+v %v", res, err)
	}
	if !waitCount(&logs, before+10, 5*time.Second) {
		t.Fatalf("got %d notifications from start-notification-stream, want 10", logs.Load()-before)
	}

	// stdin EOF: the proxy DELETEs the session and exits 0.
	if err := cs.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if cmd.ProcessState == nil || !cmd.ProcessState.Success() {
		t.Fatalf("proxy exit: %v", cmd.ProcessState)
	}
	if n := cp.deletes.Load(); n != 1 {
		t.Fatalf("%d DELETEs reached the server, want 1", n)
	}
	cp.mu.Lock()
	for _, v := range cp.extra {
		if v != "from-env" {
			t.Fatalf("a request lacked --header X-E2e (${E2E_HDR}): %q", cp.extra)
		}
	}
	if cp.authed != len(cp.extra) {
		t.Errorf("%d of %d upstream requests carried a token", cp.authed, len(cp.extra))
	}
	cp.mu.Unlock()
	if strings.Contains(stderr.String(), tok) {
		t.Fatal("the proxy logged the access token")
	}
}

// TestProxySignsInOnFirstUse: with no sign-in, the server's first 401 makes
// the daemon add it and sign in through the browser ($BROWSER: this test
// binary), and the app's initialize then succeeds.
func TestProxySignsInOnFirstUse(t *testing.T) {
	target := tsServer(t)
	in := newInstance(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs atomic.Int32
	cs, _, _ := in.startProxy(t, ctx, &logs, nil, target)
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "first"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "Hello, first!" {
		t.Fatalf("greet: %+v %v", res, err)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	if out := in.must("list"); !strings.Contains(out, target) {
		t.Fatalf("the daemon does not list %s after the proxy's sign-in:\n%s", target, out)
	}
}
