//lint:file-ignore SA1019 the relay must carry logging and sampling (deprecated in 2026-07-28, live on older wires), so the tests use them

package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// These tests run the relay in-process between the Go SDK's real client
// (over pipes, as an app over stdio) and the Go SDK's real servers
// (Streamable HTTP and the legacy HTTP+SSE transport) behind a bearer
// check. The real binary against the TypeScript SDK server with the daemon
// is in internal/e2e/proxy_test.go.

// source is a TokenSource whose first token is stale: the server refuses
// it, and Challenged switches to the good one (or fails with fail).
type source struct {
	mu         sync.Mutex
	tok        string
	challenged int
	fail       error
}

func (s *source) Credential(context.Context, string, string, string) (*oauth.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &oauth.Credential{Token: s.tok}, nil
}

func (s *source) Challenged(_ context.Context, _ string, _ *oauth.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.challenged++
	if s.fail != nil {
		return s.fail
	}
	s.tok = "good"
	return nil
}

func (s *source) Succeeded(context.Context) {}

// upstream is a protected MCP server that records what reached it.
type upstream struct {
	srv      *mcp.Server
	url      string
	deletes  atomic.Int32
	gets     atomic.Int32
	greets   atomic.Int32 // tools/call greet that reached the server
	mu       sync.Mutex
	versions []string // MCP-Protocol-Version of each POST after initialize
	custom   []string // X-Custom of each request
}

func newUpstream(t testing.TB, sse bool) *upstream {
	u := &upstream{srv: mcp.NewServer(&mcp.Implementation{Name: "test", Version: "0"}, nil)}
	mcp.AddTool(u.srv, &mcp.Tool{Name: "greet"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Name string `json:"name"`
	}) (*mcp.CallToolResult, any, error) {
		u.greets.Add(1)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Hello, " + in.Name + "!"}}}, nil, nil
	})
	mcp.AddTool(u.srv, &mcp.Tool{Name: "chatty"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		for i := range 3 {
			if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: i}); err != nil {
				return nil, nil, err
			}
		}
		// A request of the server's own, answered by the app.
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 5, Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil, nil
	})
	var h http.Handler
	if sse {
		sh := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return u.srv }, nil)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Query().Get("sessionid") == "" {
				http.Error(w, "no", http.StatusMethodNotAllowed) // a legacy server: no Streamable HTTP
				return
			}
			sh.ServeHTTP(w, r)
		})
	} else {
		h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return u.srv }, nil)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.custom = append(u.custom, r.Header.Get("X-Custom"))
		if r.Method == http.MethodPost && r.Header.Get("Mcp-Session-Id") != "" {
			u.versions = append(u.versions, r.Header.Get("Mcp-Protocol-Version"))
		}
		u.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer good" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", resource_metadata="http://x/.well-known/oauth-protected-resource"`)
			http.Error(w, "token "+r.Header.Get("Authorization")+" refused", http.StatusUnauthorized)
			return
		}
		switch r.Method {
		case http.MethodDelete:
			u.deletes.Add(1)
		case http.MethodGet:
			u.gets.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	u.url = ts.URL + "/mcp"
	return u
}

// startProxy runs Run on pipes; the returned transport is the app's end.
func startProxy(t testing.TB, cfg Config) (*mcp.IOTransport, <-chan error) {
	appR, proxyW := io.Pipe()
	proxyR, appW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), cfg, proxyR, proxyW) }()
	return &mcp.IOTransport{Reader: appR, Writer: appW}, done
}

func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not stop")
		return nil
	}
}

func TestRelayStreamable(t *testing.T) {
	for _, version := range []string{"2025-11-25", "2025-03-26", ""} {
		t.Run("version="+version, func(t *testing.T) { testRelay(t, false, HTTPFirst, version) })
	}
}

func TestRelayLegacySSE(t *testing.T) {
	t.Run("fallback", func(t *testing.T) { testRelay(t, true, HTTPFirst, "2025-03-26") })
	t.Run("sse-only", func(t *testing.T) { testRelay(t, true, SSEOnly, "2025-03-26") })
}

func testRelay(t *testing.T, sse bool, mode Mode, version string) {
	u := newUpstream(t, sse)
	src := &source{tok: "stale"}
	app, done := startProxy(t, Config{URL: u.url, Mode: mode, Source: src, Headers: http.Header{"X-Custom": {"v"}}})

	var logs atomic.Int32
	client := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, &mcp.ClientOptions{
		LoggingMessageHandler: func(context.Context, *mcp.LoggingMessageRequest) { logs.Add(1) },
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "sampled"}}, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, app, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if src.challenged != 1 {
		t.Errorf("challenged %d times, want 1 (the stale token)", src.challenged)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 2 {
		t.Fatalf("tools/list: %v %v", tools, err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "proxy"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "Hello, proxy!" {
		t.Fatalf("greet: %v %v", res, err)
	}
	if version != "" { // logging/setLevel is gone from the newest wire
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
			t.Fatal(err)
		}
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "chatty", Arguments: map[string]any{}})
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "sampled" {
		t.Fatalf("chatty (server notifications and a server request): %+v %v", res, err)
	}
	if version != "" && logs.Load() != 3 {
		t.Errorf("got %d log notifications, want 3", logs.Load())
	}
	if !sse && version != "" && version < noStandaloneStream {
		// A notification that belongs to no request comes on the standalone stream.
		deadline := time.Now().Add(5 * time.Second)
		for u.gets.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		before := logs.Load()
		for ss := range u.srv.Sessions() {
			_ = ss.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "unprompted"})
		}
		for logs.Load() == before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if logs.Load() == before {
			t.Error("a notification on the standalone stream did not reach the app")
		}
		u.mu.Lock()
		for _, v := range u.versions {
			if v != version {
				t.Errorf("a POST carried MCP-Protocol-Version %q, want %q", v, version)
			}
		}
		u.mu.Unlock()
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, done); err != nil {
		t.Fatalf("proxy: %v", err)
	}
	if want := int32(1); !sse && u.deletes.Load() != want {
		t.Errorf("%d DELETEs, want %d", u.deletes.Load(), want)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.custom {
		if c != "v" {
			t.Fatalf("a request went without the --header value: %q", u.custom)
		}
	}
}

// rawApp is an app that writes and reads JSON-RPC lines itself.
type rawApp struct {
	w    io.WriteCloser
	r    *bufio.Reader
	done <-chan error
}

func startRaw(t *testing.T, cfg Config) *rawApp {
	app, done := startProxy(t, cfg)
	return &rawApp{w: app.Writer, r: bufio.NewReader(app.Reader), done: done}
}

func (a *rawApp) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(a.w, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (a *rawApp) recv(t *testing.T) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() { l, _ := a.r.ReadString('\n'); ch <- l }()
	select {
	case l := <-ch:
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no answer from the proxy")
		return ""
	}
}

const initLine = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`

// TestSignInNeeded: when the daemon cannot sign in, the pending request
// gets a JSON-RPC error naming `mcpauthd login URL`, and nothing of the
// server's refusal (its challenge, its body) reaches the app.
func TestSignInNeeded(t *testing.T) {
	u := newUpstream(t, false)
	for name, fail := range map[string]error{
		"daemon says needs_sign_in": &ipc.Error{Code: ipc.CodeNeedsSignIn, Message: "not signed in", SignInURL: u.url},
		"server still refuses":      nil,
	} {
		t.Run(name, func(t *testing.T) {
			src := &source{tok: "stale", fail: fail}
			if fail == nil {
				src.tok = "bad" // Challenged sets "good"; make the server refuse that too
			}
			cfg := Config{URL: u.url, Source: src}
			if fail == nil {
				cfg.Source = refuseAll{}
			}
			a := startRaw(t, cfg)
			a.send(t, initLine)
			line := a.recv(t)
			var resp struct {
				ID    int `json:"id"`
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(line), &resp); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			if resp.ID != 1 || resp.Error.Code != CodeSignInNeeded || !strings.Contains(resp.Error.Message, "mcpauthd login "+u.url) {
				t.Fatalf("answer %s; want error %d naming mcpauthd login", line, CodeSignInNeeded)
			}
			for _, leak := range []string{"Bearer", "invalid_token", "resource_metadata", "stale", "refused"} {
				if strings.Contains(line, leak) {
					t.Errorf("the answer passes on %q from upstream: %s", leak, line)
				}
			}
			a.w.Close()
			if err := waitDone(t, a.done); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// refuseAll is a source whose every token the server refuses, and which
// believes each retry may succeed: oauth.Transport retries once, then the
// refusal must end as a sign-in error.
type refuseAll struct{}

func (refuseAll) Credential(context.Context, string, string, string) (*oauth.Credential, error) {
	return &oauth.Credential{Token: "bad"}, nil
}
func (refuseAll) Challenged(context.Context, string, *oauth.Challenge) error {
	return nil
}
func (refuseAll) Succeeded(context.Context) {}

// TestBatch: a batch from the app is answered by one batch.
func TestBatch(t *testing.T) {
	u := newUpstream(t, false)
	a := startRaw(t, Config{URL: u.url, Source: &source{tok: "good"}})
	a.send(t, initLine)
	if l := a.recv(t); !strings.Contains(l, `"result"`) {
		t.Fatalf("initialize: %s", l)
	}
	a.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	a.send(t, `[{"jsonrpc":"2.0","id":2,"method":"tools/list"},{"jsonrpc":"2.0","id":"three","method":"ping"}]`)
	var batch []map[string]any
	l := a.recv(t)
	if err := json.Unmarshal([]byte(l), &batch); err != nil || len(batch) != 2 {
		t.Fatalf("want a batch of two answers, got %s (%v)", l, err)
	}
	a.w.Close()
	if err := waitDone(t, a.done); err != nil {
		t.Fatal(err)
	}
	if u.deletes.Load() != 1 {
		t.Errorf("%d DELETEs, want 1", u.deletes.Load())
	}
}

// TestUpstreamGone: when the server ends the session, the proxy stops
// with an error (the app sees its stdout close).
func TestUpstreamGone(t *testing.T) {
	u := newUpstream(t, false)
	a := startRaw(t, Config{URL: u.url, Source: &source{tok: "good"}, Mode: HTTPOnly})
	a.send(t, initLine)
	a.recv(t)
	a.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	for ss := range u.srv.Sessions() {
		ss.Close()
	}
	// The proxy may learn that the session is gone from its standalone
	// stream first and end before this request: then the write finds the
	// pipe closed, which is as good.
	_, _ = io.WriteString(a.w, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`+"\n")
	err := waitDone(t, a.done)
	if err == nil {
		t.Fatal("the proxy ended without an error after the session was gone")
	}
}

// lockedBuffer is an io.WriteCloser the test reads after Run returned.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) Close() error { return nil }
func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEOFDrain: an app that writes its requests and closes stdin at once
// (`printf 'INIT\nINITIALIZED\nLIST\n' | mcpauthd proxy URL`) still gets
// every answer before the proxy exits.
func TestEOFDrain(t *testing.T) {
	for _, sse := range []bool{false, true} {
		u := newUpstream(t, sse)
		in := strings.Join([]string{
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"printf","version":"0"}}}`,
			`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
			`{"jsonrpc":"2.0","id":"three","method":"tools/call","params":{"name":"greet","arguments":{"name":"EOF"}}}`,
		}, "\n") + "\n"
		out := &lockedBuffer{}
		err := Run(context.Background(), Config{URL: u.url, Source: &source{tok: "good"}}, io.NopCloser(strings.NewReader(in)), out)
		if err != nil {
			t.Fatalf("sse=%v: %v", sse, err)
		}
		got := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			var m struct {
				ID     json.RawMessage `json:"id"`
				Result json.RawMessage `json:"result"`
			}
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Result != nil {
				got[string(m.ID)] = true
			}
		}
		for _, id := range []string{`1`, `2`, `"three"`} {
			if !got[id] {
				t.Errorf("sse=%v: no answer to request %s after stdin closed; output:\n%s", sse, id, out.String())
			}
		}
		if !strings.Contains(out.String(), "Hello, EOF!") {
			t.Errorf("sse=%v: the tool call's answer is missing", sse)
		}
	}
}

// TestStdioLines: the app's side reads CRLF line ends and a last line
// without its newline, answers a line that is not JSON-RPC with a parse
// error and goes on.
func TestStdioLines(t *testing.T) {
	u := newUpstream(t, false)
	a := startRaw(t, Config{URL: u.url, Source: &source{tok: "good"}})
	a.send(t, "not json")
	if l := a.recv(t); !strings.Contains(l, `"code":-32700`) || !strings.Contains(l, `"id":null`) {
		t.Fatalf("a malformed line: %s", l)
	}
	a.send(t, initLine+"\r")
	if l := a.recv(t); !strings.Contains(l, `"result"`) {
		t.Fatalf("initialize: %s", l)
	}
	a.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if _, err := io.WriteString(a.w, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); err != nil {
		t.Fatal(err)
	}
	a.w.Close() // no newline after the last line
	if l := a.recv(t); !strings.Contains(l, `"id":2`) || !strings.Contains(l, "greet") {
		t.Fatalf("tools/list: %s", l)
	}
	if err := waitDone(t, a.done); err != nil {
		t.Fatal(err)
	}
}
