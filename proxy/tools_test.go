package proxy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/toolpolicy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestToolPolicy: with a deny pattern, the Go SDK's real client behind the
// proxy sees the refused tools neither in tools/list nor after the
// server's notifications/tools/list_changed, its tools/call of one gets
// the policy's JSON-RPC error, the call never reaches the server, and the
// refusal is reported (to the daemon's audit log in mcpauthd); allowed
// tools work as before. Over Streamable HTTP and the legacy HTTP+SSE
// transport.
func TestToolPolicy(t *testing.T) {
	for _, sse := range []bool{false, true} {
		t.Run(map[bool]string{false: "streamable", true: "sse"}[sse], func(t *testing.T) {
			u := newUpstream(t, sse)
			var mu sync.Mutex
			var refused []string
			cfg := Config{URL: u.url, Source: &source{tok: "good"}, Tools: toolpolicy.Policy{Deny: []string{"GREET*"}},
				Refused: func(tool string) { mu.Lock(); refused = append(refused, tool); mu.Unlock() }}
			app, done := startProxy(t, cfg)
			changed := make(chan struct{}, 4)
			c := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, &mcp.ClientOptions{
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
			})
			ctx := context.Background()
			cs, err := c.Connect(ctx, app, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := toolNames(t, cs); !slices.Equal(got, []string{"chatty"}) {
				t.Errorf("tools/list: %v, want [chatty]", got)
			}
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "x"}})
			var werr *jsonrpc.Error
			if !errors.As(err, &werr) || werr.Code != toolpolicy.CodeRefused || !strings.Contains(werr.Message, `"greet"`) || !strings.Contains(werr.Message, "mcpauthd tools "+u.url) {
				t.Errorf("tools/call greet: %v; want the policy's error naming the tool and `mcpauthd tools URL`", err)
			}
			if n := u.greets.Load(); n != 0 {
				t.Errorf("the refused call reached the server %d time(s)", n)
			}
			// The server changes its tools: the notification reaches the
			// app, and the new list is filtered too.
			mcp.AddTool(u.srv, &mcp.Tool{Name: "greetLoudly"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
			mcp.AddTool(u.srv, &mcp.Tool{Name: "wave"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
			select {
			case <-changed:
			case <-time.After(10 * time.Second):
				t.Fatal("notifications/tools/list_changed did not reach the app")
			}
			if got := toolNames(t, cs); !slices.Equal(got, []string{"chatty", "wave"}) {
				t.Errorf("tools/list after the change: %v, want [chatty wave]", got)
			}
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "wave"}); err != nil {
				t.Errorf("an allowed tool: %v", err)
			}
			cs.Close()
			if err := waitDone(t, done); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(refused, []string{"greet"}) {
				t.Errorf("refusals reported: %q, want [greet]", refused)
			}
		})
	}
}

// TestToolPolicyUpdate: a policy sent on ToolUpdates while the proxy
// runs tells the app its tools changed and applies to its next requests.
func TestToolPolicyUpdate(t *testing.T) {
	u := newUpstream(t, false)
	updates := make(chan toolpolicy.Policy)
	app, done := startProxy(t, Config{URL: u.url, Source: &source{tok: "good"}, ToolUpdates: updates})
	ctx := context.Background()
	changed := make(chan struct{}, 4)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	}).Connect(ctx, app, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := toolNames(t, cs); !slices.Equal(got, []string{"chatty", "greet"}) {
		t.Fatalf("tools/list: %v", got)
	}
	updates <- toolpolicy.Policy{Deny: []string{"greet"}}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no notifications/tools/list_changed after the policy changed")
	}
	if got := toolNames(t, cs); !slices.Equal(got, []string{"chatty"}) {
		t.Errorf("tools/list after the change: %v, want [chatty]", got)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "x"}}); err == nil {
		t.Error("a tool the updated policy refuses was called")
	}
	close(updates)
	cs.Close()
	if err := waitDone(t, done); err != nil {
		t.Fatal(err)
	}
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}
