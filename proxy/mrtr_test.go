//lint:file-ignore SA1019 the bridge must carry sampling and roots (deprecated in 2026-07-28, still input requests a server may make), so the test uses them

package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// inputServer is a Go SDK v1.8.0 server that speaks only 2026-07-28 with
// tools that need the client's input (SEP-2322: they answer
// input_required and read inputResponses when called again): an
// elicitation, a sampling, the roots, two rounds with a requestState to
// echo, and a prompt that elicits.
func inputServer(t testing.TB) string {
	url, srv := versionServerAt(t, true, "2026-07-28")
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	ask := func(msg string) *mcp.ElicitParams {
		return &mcp.ElicitParams{Message: msg, RequestedSchema: &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{"name": {Type: "string"}}}}
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "confirm"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, ok := req.Params.InputResponses["who"].(*mcp.ElicitResult)
		if !ok {
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"who": ask("who")}}, nil, nil
		}
		return text(fmt.Sprintf("%s %v", res.Action, res.Content["name"])), nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "summarize"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		switch res := req.Params.InputResponses["llm"].(type) {
		case *mcp.CreateMessageResult:
			return text("summary: " + res.Content.(*mcp.TextContent).Text), nil, nil
		case *mcp.CreateMessageWithToolsResult:
			return text("summary: " + res.Content[0].(*mcp.TextContent).Text), nil, nil
		}
		return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"llm": &mcp.CreateMessageParams{
			MaxTokens: 10, Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "summarize"}}},
		}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "where"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, ok := req.Params.InputResponses["roots"].(*mcp.ListRootsResult)
		if !ok {
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"roots": &mcp.ListRootsParams{}}}, nil, nil
		}
		return text("root " + res.Roots[0].URI), nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "twice"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		p := req.Params
		switch {
		case p.RequestState == "" && len(p.InputResponses) == 0:
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"a": ask("first")}, RequestState: "round-1"}, nil, nil
		case p.RequestState == "round-1":
			first := p.InputResponses["a"].(*mcp.ElicitResult).Content["name"]
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"b": ask("second"), "c": ask("third")}, RequestState: fmt.Sprintf("round-2 %v", first)}, nil, nil
		case strings.HasPrefix(p.RequestState, "round-2 "):
			b, c := p.InputResponses["b"].(*mcp.ElicitResult), p.InputResponses["c"].(*mcp.ElicitResult)
			return text(fmt.Sprintf("%s, %v, %v", strings.TrimPrefix(p.RequestState, "round-2 "), b.Content["name"], c.Content["name"])), nil, nil
		}
		return nil, nil, fmt.Errorf("unexpected round: state %q, %d responses", p.RequestState, len(p.InputResponses))
	})
	srv.AddPrompt(&mcp.Prompt{Name: "greeting"}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		res, ok := req.Params.InputResponses["who"].(*mcp.ElicitResult)
		if !ok {
			return &mcp.GetPromptResult{InputRequests: mcp.InputRequestMap{"who": ask("who")}}, nil
		}
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: fmt.Sprintf("hello %v", res.Content["name"])}}}}, nil
	})
	return url
}

// TestBridgeInputRequests: an app older than 2026-07-28 (the Go SDK's
// client at 2025-06-18 and 2025-11-25, which answers server→client
// requests) calls, through the proxy, tools and a prompt of a 2026-07-28
// server that answer input_required: the proxy asks the app each input
// request as a request of its own and calls the server again with the
// answers and the requestState, over as many rounds as the server needs;
// the app sees only the final results. An error the app answers with ends
// its call with that error.
func TestBridgeInputRequests(t *testing.T) {
	url := inputServer(t)
	for _, v := range []string{"2025-06-18", "2025-11-25"} {
		t.Run("app="+v, func(t *testing.T) {
			app, done := startProxy(t, Config{URL: url, Source: &source{tok: "good"}})
			ctx := context.Background()
			c := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, &mcp.ClientOptions{
				ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					if req.Params.Message == "third" && v == "2025-11-25" {
						return nil, errors.New("the user closed the dialog")
					}
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "app-" + req.Params.Message}}, nil
				},
				CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "sampled"}}, nil
				},
			})
			c.AddRoots(&mcp.Root{URI: "file:///work"})
			cs, err := c.Connect(ctx, app, &mcp.ClientSessionOptions{ProtocolVersion: v})
			if err != nil {
				t.Fatal(err)
			}
			for tool, want := range map[string]string{
				"confirm":   "accept app-who",
				"summarize": "summary: sampled",
				"where":     "root file:///work",
				"twice":     "app-first, app-second, app-third",
			} {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool})
				if tool == "twice" && v == "2025-11-25" { // the app refuses "third"
					if err == nil || !strings.Contains(err.Error(), "the user closed the dialog") {
						t.Errorf("tools/call twice with a refused input request: %+v %v; want the app's error", res, err)
					}
					continue
				}
				if err != nil || res.IsError || len(res.Content) == 0 {
					t.Errorf("tools/call %s: %+v %v", tool, res, err)
					continue
				}
				if got := res.Content[0].(*mcp.TextContent).Text; got != want {
					t.Errorf("tools/call %s: %q, want %q", tool, got, want)
				}
			}
			p, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greeting"})
			if err != nil || len(p.Messages) != 1 || p.Messages[0].Content.(*mcp.TextContent).Text != "hello app-who" {
				t.Errorf("prompts/get greeting: %+v %v", p, err)
			}
			cs.Close()
			if err := waitDone(t, done); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRetryRequest: the retry carries the original params, this round's
// answers and state (replacing an earlier round's), under a new id.
func TestRetryRequest(t *testing.T) {
	id, _ := jsonrpc.MakeID(int64(7))
	req := &jsonrpc.Request{ID: id, Method: "tools/call", Params: []byte(`{"name":"t","arguments":{"x":1},"inputResponses":{"old":{}},"requestState":"old"}`)}
	out, err := retryRequest(req, map[string]json.RawMessage{"k": json.RawMessage(`{"action":"accept"}`)}, "")
	if err != nil {
		t.Fatal(err)
	}
	if out.ID == req.ID || out.Method != "tools/call" || string(out.Params) != `{"arguments":{"x":1},"inputResponses":{"k":{"action":"accept"}},"name":"t"}` {
		t.Errorf("retry: %v %s %s", out.ID.Raw(), out.Method, out.Params)
	}
	if _, err := retryRequest(&jsonrpc.Request{ID: id, Method: "tools/call", Params: []byte(`[1]`)}, nil, "s"); err == nil {
		t.Error("params that are not an object were taken")
	}
}

// fakeInputServer is a 2026-07-28-only server (a fake: the Go SDK's will
// not send these) whose every tools/call answers input_required with an
// input request of method, and counts the calls.
func fakeInputServer(t *testing.T, method string, calls *atomic.Int32) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "no", http.StatusMethodNotAllowed)
			return
		}
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		var result string
		switch req.Method {
		case "initialize":
			result = `{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"0"}}`
		case "server/discover":
			result = `{"resultType":"complete","supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"0"}}`
		case "tools/call":
			calls.Add(1)
			result = `{"resultType":"input_required","inputRequests":{"k":{"method":"` + method + `","params":{"message":"again?","requestedSchema":{"type":"object","properties":{}}}}},"requestState":"s"}`
		default:
			if req.ID == nil {
				w.WriteHeader(http.StatusAccepted)
				return
			}
			result = `{}`
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, req.ID, result)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestBridgeInputRequestLimits: the proxy asks the app only the input
// requests SEP-2322 defines (a server that asks for something else ends
// the app's call with an error naming it, and the app is asked nothing),
// and gives up after maxInputRounds rounds.
func TestBridgeInputRequestLimits(t *testing.T) {
	for _, c := range []struct {
		method, wantErr string
		wantCalls       int32
	}{
		{"tools/call", `"tools/call", which is no input request`, 1},
		{"elicitation/create", "asked for more input 10 times", maxInputRounds},
	} {
		t.Run(c.method, func(t *testing.T) {
			var calls, asked atomic.Int32
			app, done := startProxy(t, Config{URL: fakeInputServer(t, c.method, &calls), Source: &source{tok: "good"}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound on a hang
			defer cancel()
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, &mcp.ClientOptions{
				ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					asked.Add(1)
					return &mcp.ElicitResult{Action: "accept"}, nil
				},
			}).Connect(ctx, app, &mcp.ClientSessionOptions{ProtocolVersion: "2025-06-18"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "loop"})
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("tools/call: %+v %v; want an error with %q", res, err, c.wantErr)
			}
			if calls.Load() != c.wantCalls || asked.Load() != c.wantCalls-1 {
				t.Errorf("the server was called %d times and the app asked %d; want %d and %d", calls.Load(), asked.Load(), c.wantCalls, c.wantCalls-1)
			}
			cs.Close()
			if err := waitDone(t, done); err != nil {
				t.Error(err)
			}
		})
	}
}
