//lint:file-ignore SA1019 the bridge must carry logging (deprecated in 2026-07-28, live on older wires), so the test uses it

package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// versionServer is a real MCP server (the Go SDK's) that speaks only
// versions, behind a Streamable HTTP handler (stateless when asked: what a
// 2026-07-28 server needs). Its tool "greet" answers "Hello, NAME!".
func versionServer(t testing.TB, stateless bool, versions ...string) string {
	url, _ := versionServerAt(t, stateless, versions...)
	return url
}

// versionServerAt is versionServer, and the server to change its tools.
func versionServerAt(t testing.TB, stateless bool, versions ...string) (string, *mcp.Server) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "0"}, &mcp.ServerOptions{SupportedProtocolVersions: versions})
	mcp.AddTool(srv, &mcp.Tool{Name: "greet"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Name string `json:"name"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Hello, " + in.Name + "!"}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "log"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "logged"}); err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{}, nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: stateless})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/mcp", srv
}

// TestBridgeStaleToken: when the first token is refused, the app's
// initialize makes the daemon act once (one challenge, not one more for the
// server/discover probe beside it), and the probe, asked again after it,
// still finds the server speaks only 2026-07-28: the old app works.
func TestBridgeStaleToken(t *testing.T) {
	src := &source{tok: "stale"}
	app, done := startProxy(t, Config{URL: versionServer(t, true, "2026-07-28"), Source: src})
	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, nil).Connect(ctx, app, &mcp.ClientSessionOptions{ProtocolVersion: "2025-06-18"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "x"}}); err != nil {
		t.Errorf("tools/call: %v", err)
	}
	cs.Close()
	if err := waitDone(t, done); err != nil {
		t.Error(err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.challenged != 1 {
		t.Errorf("challenged %d times, want 1", src.challenged)
	}
}

// appVersions are the protocol versions apps speak, oldest first.
var appVersions = []string{"2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"}

// TestBridgeMatrix: the Go SDK's client at each protocol version, through
// the proxy, lists and calls tools of servers that speak only 2026-07-28,
// only the 2025 versions, or all of them, and gets the server's log
// messages at the level it set. An old app keeps its own version (the
// proxy bridges); a 2026-07-28 app falls back to 2025-11-25 with an older
// server by itself.
func TestBridgeMatrix(t *testing.T) {
	type server struct {
		url string
		srv *mcp.Server
	}
	servers := map[string]server{}
	for name, s := range map[string]struct {
		stateless bool
		versions  []string
	}{
		"2026-only":   {true, []string{"2026-07-28"}},
		"legacy-only": {false, []string{"2025-11-25", "2025-06-18", "2025-03-26"}},
		"all":         {true, nil},
	} {
		url, srv := versionServerAt(t, s.stateless, s.versions...)
		servers[name] = server{url, srv}
	}
	for name, s := range servers {
		url := s.url
		for _, v := range appVersions {
			t.Run(name+"/app="+v, func(t *testing.T) {
				app, done := startProxy(t, Config{URL: url, Source: &source{tok: "good"}})
				ctx := context.Background()
				logs := make(chan string, 4)
				changed := make(chan struct{}, 4)
				c := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, &mcp.ClientOptions{
					LoggingMessageHandler:  func(_ context.Context, r *mcp.LoggingMessageRequest) { logs <- fmt.Sprint(r.Params.Data) },
					ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
				})
				cs, err := c.Connect(ctx, app, &mcp.ClientSessionOptions{ProtocolVersion: v})
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				want := v
				if name == "legacy-only" && v >= "2026" {
					want = "2025-11-25"
				}
				if got := cs.InitializeResult().ProtocolVersion; got != want {
					t.Errorf("the app's session speaks %s, want %s", got, want)
				}
				if _, err := cs.ListTools(ctx, nil); err != nil {
					t.Errorf("tools/list: %v", err)
				}
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "x"}})
				if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "Hello, x!" {
					t.Errorf("tools/call: %+v %v", res, err)
				}
				if v < "2026" { // 2026-07-28 sets the level per request
					if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
						t.Errorf("logging/setLevel: %v", err)
					}
					if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "log"}); err != nil {
						t.Errorf("tools/call log: %v", err)
					}
					select {
					case got := <-logs:
						if got != "logged" {
							t.Errorf("log message %q", got)
						}
					case <-time.After(5 * time.Second):
						t.Error("the server's log message did not reach the app")
					}
				}
				// The server's tools change: the app hears of it (the
				// standalone stream, or subscriptions/listen).
				mcp.AddTool(s.srv, &mcp.Tool{Name: "late-" + v}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
					return &mcp.CallToolResult{}, nil, nil
				})
				// (A stateless server has no stream for a 2025 session.)
				if !(name == "all" && v < "2026") {
					select {
					case <-changed:
					case <-time.After(5 * time.Second):
						t.Error("notifications/tools/list_changed did not reach the app")
					}
				}
				cs.Close()
				if err := waitDone(t, done); err != nil {
					t.Error(err)
				}
			})
		}
	}
}
