package revproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/toolpolicy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpServer is a real MCP server (the Go SDK's Streamable HTTP handler)
// with the tools greet, deleteAll and echo; deletes counts the deleteAll
// calls that reached it.
func mcpServer(t *testing.T, jsonResponse bool) (*mcp.Server, string, *atomic.Int32) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "0"}, nil)
	var deletes atomic.Int32
	nop := func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "greet"}, nop)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, nop)
	mcp.AddTool(srv, &mcp.Tool{Name: "deleteAll"}, func(ctx context.Context, r *mcp.CallToolRequest, in struct{}) (*mcp.CallToolResult, any, error) {
		deletes.Add(1)
		return nop(ctx, r, in)
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{JSONResponse: jsonResponse}))
	t.Cleanup(ts.Close)
	return srv, ts.URL + "/mcp", &deletes
}

// TestToolPolicy: the Go SDK's real client, through the reverse proxy to
// the Go SDK's real server, with the policy allow "*e*" deny "delete*":
// tools/list (answered as an event stream, and as JSON) holds only the
// allowed tools, also after the server's tools/list_changed; a tools/call
// of a refused tool gets the policy's JSON-RPC error and is recorded, and
// never reaches the server; the allowed tools work.
func TestToolPolicy(t *testing.T) {
	for _, jsonResponse := range []bool{false, true} {
		t.Run(map[bool]string{false: "event-stream", true: "json"}[jsonResponse], func(t *testing.T) {
			srv, up, deletes := mcpServer(t, jsonResponse)
			apps := &fakeApps{server: up, policy: toolpolicy.Policy{Allow: []string{"*e*"}, Deny: []string{"delete*"}}}
			_, addr := proxy(t, apps, self)
			changed := make(chan struct{}, 4)
			c := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, &mcp.ClientOptions{
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
			})
			ctx := context.Background()
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://" + addr + "/s/cursor/k/" + testKey}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if got := names(t, cs); !slices.Equal(got, []string{"echo", "greet"}) {
				t.Errorf("tools/list: %v, want [echo greet]", got)
			}
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "deleteAll"})
			var werr *jsonrpc.Error
			if !errors.As(err, &werr) || werr.Code != toolpolicy.CodeRefused || !strings.Contains(werr.Message, `"deleteAll"`) {
				t.Errorf("tools/call deleteAll: %v; want the policy's error", err)
			}
			if n := deletes.Load(); n != 0 {
				t.Errorf("the refused call reached the server %d time(s)", n)
			}
			apps.mu.Lock()
			if !slices.Equal(apps.refused, []string{"cursor deleteAll"}) {
				t.Errorf("refusals recorded: %q", apps.refused)
			}
			apps.mu.Unlock()
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo"}); err != nil {
				t.Errorf("an allowed tool: %v", err)
			}
			mcp.AddTool(srv, &mcp.Tool{Name: "deleteMore"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
			mcp.AddTool(srv, &mcp.Tool{Name: "wave"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
			mcp.AddTool(srv, &mcp.Tool{Name: "ping2"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
			select {
			case <-changed:
			case <-time.After(10 * time.Second):
				t.Fatal("notifications/tools/list_changed did not reach the app")
			}
			if got := names(t, cs); !slices.Equal(got, []string{"echo", "greet", "wave"}) {
				t.Errorf("tools/list after the change: %v, want [echo greet wave]", got)
			}
		})
	}
}

// TestToolPolicyHeader: a 2026-07-28 request naming a refused tool in
// Mcp-Name (SEP-2243) is refused even when its body names another.
func TestToolPolicyHeader(t *testing.T) {
	_, up, _ := mcpServer(t, true)
	apps := &fakeApps{server: up, policy: toolpolicy.Policy{Deny: []string{"delete*"}}}
	_, addr := proxy(t, apps, self)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/s/cursor/k/"+testKey, strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}`))
	for k, v := range map[string]string{
		"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
		"Mcp-Method": "tools/call", "Mcp-Name": "deleteAll",
	} {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	status, body := res.StatusCode, string(b)
	if status != http.StatusOK || !strings.Contains(body, `"id":7`) || !strings.Contains(body, `"deleteAll\" is blocked`) {
		t.Errorf("answer %d %s; want the policy's error for id 7", status, body)
	}
}

func names(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tool := range res.Tools {
		out = append(out, tool.Name)
	}
	slices.Sort(out)
	return out
}
