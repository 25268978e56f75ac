package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestProxyProtocolMatrix is the README's table: an app (the Go SDK
// client) at each MCP protocol version runs the real `mcpauthd proxy`
// against a server that speaks only 2026-07-28 (the Go SDK, stateless,
// SupportedProtocolVersions limited to it; public) and one that speaks
// only 2025-11-25 and older (the TypeScript SDK example server, with
// OAuth), and lists and calls a tool. Of the 2026-07-28 server it also
// calls a tool that needs the user's input (SEP-2322 input_required: an
// older app is asked it as an elicitation by the proxy) and one whose
// argument must be mirrored in an Mcp-Param header (SEP-2243, which the
// Go SDK's server checks); of the TypeScript server, one that elicits
// with a server→client request.
func TestProxyProtocolMatrix(t *testing.T) {
	in := newInstance(t)
	legacy := tsServer(t)
	in.must("login", legacy)
	srv := mcp.NewServer(&mcp.Implementation{Name: "modern", Version: "0"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2026-07-28"}})
	mcp.AddTool(srv, &mcp.Tool{Name: "greet"}, func(_ context.Context, _ *mcp.CallToolRequest, in struct {
		Name string `json:"name"`
	}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "Hello, " + in.Name + "!"}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "confirm"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, ok := req.Params.InputResponses["ok"].(*mcp.ElicitResult)
		if !ok {
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"ok": &mcp.ElicitParams{Message: "proceed?",
				RequestedSchema: &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{"why": {Type: "string"}}}}}}, nil, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%s: %v", res.Action, res.Content["why"])}}}, nil, nil
	})
	srv.AddTool(&mcp.Tool{Name: "routed", InputSchema: &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{
		"region": {Type: "string", Extra: map[string]any{"x-mcp-header": "Region"}},
	}}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "routed"}}}, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(ts.Close)

	for _, server := range []struct{ name, url, fallback string }{
		{"2026-only", ts.URL + "/mcp", ""},
		{"typescript-legacy", legacy, "2025-11-25"},
	} {
		for _, v := range []string{"2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"} {
			t.Run(server.name+"/app="+v, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				cmd := exec.Command(in.bin, "proxy", server.url)
				cmd.Env = in.env
				c := mcp.NewClient(&mcp.Implementation{Name: "e2e-app", Version: "0"}, &mcp.ClientOptions{
					ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
						if strings.Contains(req.Params.Message, "contact") { // the TypeScript server's collect-user-info
							return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "E2E", "email": "e2e@example.com"}}, nil
						}
						return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"why": "asked " + req.Params.Message}}, nil
					},
				})
				cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: v})
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				defer cs.Close()
				want := v
				if server.fallback != "" && v > server.fallback {
					want = server.fallback
				}
				if got := cs.InitializeResult().ProtocolVersion; got != want {
					t.Errorf("the app's session speaks %s, want %s", got, want)
				}
				if _, err := cs.ListTools(ctx, nil); err != nil {
					t.Fatalf("tools/list: %v", err)
				}
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "x"}})
				if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "Hello, x!" {
					t.Fatalf("tools/call greet: %+v %v", res, err)
				}
				if server.fallback != "" {
					// An older server elicits with a request of its own,
					// which the proxy passes on as it is.
					res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "collect-user-info", Arguments: map[string]any{"infoType": "contact"}})
					if err != nil || res.IsError || len(res.Content) == 0 || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, "E2E") {
						t.Errorf("tools/call collect-user-info (elicitation/create): %+v %v", res, err)
					}
					return
				}
				res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "confirm"})
				if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "accept: asked proceed?" {
					t.Errorf("tools/call confirm (input_required): %+v %v", res, err)
				}
				res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "routed", Arguments: map[string]any{"region": "eu west"}})
				if err != nil || res.IsError {
					t.Errorf("tools/call routed (Mcp-Param-Region): %+v %v", res, err)
				}
			})
		}
	}
}
