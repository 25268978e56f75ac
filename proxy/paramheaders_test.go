package proxy

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestParamHeadersRealServer: a Go SDK v1.8.0 server that speaks only
// 2026-07-28 refuses a tools/call of a tool with x-mcp-header annotations
// unless the Mcp-Param-* headers match the arguments (SEP-2243). Through
// the proxy, an old app (bridged) and a 2026-07-28 app both call it with
// plain, non-ASCII (base64) and integer values, and with an annotated
// argument left out.
func TestParamHeadersRealServer(t *testing.T) {
	url, srv := versionServerAt(t, true, "2026-07-28")
	schema := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{
		"region":   {Type: "string", Extra: map[string]any{"x-mcp-header": "Region"}},
		"priority": {Type: "integer", Extra: map[string]any{"x-mcp-header": "Priority"}},
		"query":    {Type: "string"},
	}}
	srv.AddTool(&mcp.Tool{Name: "routed", InputSchema: schema}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "routed"}}}, nil
	})
	for _, v := range []string{"2025-06-18", "2026-07-28"} {
		t.Run("app="+v, func(t *testing.T) {
			app, done := startProxy(t, Config{URL: url, Source: &source{tok: "good"}})
			ctx := context.Background()
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, nil).Connect(ctx, app, &mcp.ClientSessionOptions{ProtocolVersion: v})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cs.ListTools(ctx, nil); err != nil {
				t.Fatal(err)
			}
			for _, args := range []map[string]any{
				{"region": "us-west1", "priority": 42, "query": "SELECT 1"},
				{"region": " Hello, 世界 ", "priority": -1},
				{"query": "no annotated argument"},
			} {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "routed", Arguments: args})
				if err != nil || res.IsError {
					t.Errorf("tools/call routed %v: %+v %v", args, res, err)
				}
			}
			cs.Close()
			if err := waitDone(t, done); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestParamHeadersLearn: learn leaves out the tools whose annotations a
// client must reject and keeps the rest; paramHeaders encodes each kind
// of value as SEP-2243 says and leaves out what a header cannot carry.
func TestParamHeadersLearn(t *testing.T) {
	var p paramTools
	result := json.RawMessage(`{"tools":[
		{"name":"ok","inputSchema":{"type":"object","properties":{
			"region":{"type":"string","x-mcp-header":"Region"},
			"n":{"type":"integer","x-mcp-header":"N"},
			"flag":{"type":"boolean","x-mcp-header":"Flag"},
			"nested":{"type":"object","properties":{"id":{"type":"string","x-mcp-header":"Id"}}}}}},
		{"name":"plain","inputSchema":{"type":"object"}},
		{"name":"empty","inputSchema":{"type":"object","properties":{"v":{"type":"string","x-mcp-header":""}}}},
		{"name":"object","inputSchema":{"type":"object","properties":{"v":{"type":"object","x-mcp-header":"V"}}}},
		{"name":"number","inputSchema":{"type":"object","properties":{"v":{"type":"number","x-mcp-header":"V"}}}},
		{"name":"dup","inputSchema":{"type":"object","properties":{"a":{"type":"string","x-mcp-header":"X"},"b":{"type":"string","x-mcp-header":"x"}}}},
		{"name":"colon","inputSchema":{"type":"object","properties":{"v":{"type":"string","x-mcp-header":"a:b"}}}},
		{"name":"space","inputSchema":{"type":"object","properties":{"v":{"type":"string","x-mcp-header":"a b"}}}}
	],"nextCursor":"c"}`)
	out, dropped := p.learn(result)
	if want := []string{"empty", "object", "number", "dup", "colon", "space"}; !slices.Equal(dropped, want) {
		t.Errorf("dropped %v, want %v", dropped, want)
	}
	var list struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
		NextCursor string `json:"nextCursor"`
	}
	if err := json.Unmarshal(out, &list); err != nil || len(list.Tools) != 2 || list.Tools[0].Name != "ok" || list.Tools[1].Name != "plain" || list.NextCursor != "c" {
		t.Errorf("kept %s (%v)", out, err)
	}
	h := p.paramHeaders(json.RawMessage(`{"name":"ok","arguments":{"region":"us west","n":7,"flag":false,"nested":{"id":"\tx"}}}`))
	for k, want := range map[string]string{
		"Mcp-Param-Region": "us west",
		"Mcp-Param-N":      "7",
		"Mcp-Param-Flag":   "false",
		"Mcp-Param-Id":     "=?base64?CXg=?=",
	} {
		if got := h[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	for _, args := range []string{`{"region":null,"n":1.5}`, `{"n":9007199254740993}`, `{}`} {
		if h := p.paramHeaders(json.RawMessage(`{"name":"ok","arguments":` + args + `}`)); len(h) != 0 {
			t.Errorf("arguments %s: headers %v, want none", args, h)
		}
	}
	if h := p.paramHeaders(json.RawMessage(`{"name":"plain","arguments":{"region":"x"}}`)); len(h) != 0 {
		t.Errorf("an unannotated tool got headers %v", h)
	}
}
