package proxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Custom parameter headers (SEP-2243, MCP 2026-07-28).
//
// A 2026-07-28 server may annotate a tool's input properties with
// "x-mcp-header": NAME, and a client then sends the argument's value in an
// Mcp-Param-NAME header on each tools/call of that tool (so a gateway can
// route on it without reading the body); a tool whose annotations are
// invalid MUST be left out by the client. The app cannot set HTTP headers
// through stdio, and the Go SDK sets them only for calls of its own
// mcp.Client, so the proxy does it: it learns the annotations from each
// tools/list result (removing the tools with invalid ones), and adds the
// headers to each tools/call it sends with MCP-Protocol-Version 2026-07-28
// or later. This is independent of how the relay carries messages: learn
// takes a tools/list result and paramHeaders a tools/call's params.

// mcpParamPrefix is the prefix of the custom parameter headers.
const mcpParamPrefix = "Mcp-Param-"

// paramBinding is one annotated property: the path to it in the
// arguments, and the header it goes in.
type paramBinding struct {
	path   []string
	header string
}

// paramTools holds the annotations of the tools the server listed. Safe
// for concurrent use; the zero value is ready.
type paramTools struct {
	mu    sync.Mutex
	tools map[string][]paramBinding // tool name → its annotated properties
}

// schemaProp is what SEP-2243 reads of an input schema property.
type schemaProp struct {
	Type       json.RawMessage       `json:"type"`
	XMCPHeader json.RawMessage       `json:"x-mcp-header"`
	Properties map[string]schemaProp `json:"properties"`
}

// learn records the annotations of the tools in a tools/list result and
// returns the result without the tools whose annotations are invalid (and
// their names). A result it cannot read is returned as it is.
func (p *paramTools) learn(result json.RawMessage) (json.RawMessage, []string) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(result, &obj) != nil {
		return result, nil
	}
	var tools []json.RawMessage
	if json.Unmarshal(obj["tools"], &tools) != nil {
		return result, nil
	}
	kept := tools[:0:0]
	var dropped []string
	learned := map[string][]paramBinding{}
	for _, raw := range tools {
		var tool struct {
			Name        string     `json:"name"`
			InputSchema schemaProp `json:"inputSchema"`
		}
		if json.Unmarshal(raw, &tool) != nil {
			kept = append(kept, raw) // not ours to judge
			continue
		}
		bindings, err := collectBindings(tool.InputSchema.Properties, nil, map[string]bool{}, nil)
		if err != nil {
			dropped = append(dropped, tool.Name)
			continue
		}
		learned[tool.Name] = bindings
		kept = append(kept, raw)
	}
	p.mu.Lock()
	if p.tools == nil {
		p.tools = map[string][]paramBinding{}
	}
	for name, b := range learned {
		if len(b) == 0 {
			delete(p.tools, name)
		} else {
			p.tools[name] = b
		}
	}
	p.mu.Unlock()
	if len(dropped) == 0 {
		return result, nil
	}
	obj["tools"], _ = json.Marshal(kept)
	out, err := json.Marshal(obj)
	if err != nil {
		return result, nil
	}
	return out, dropped
}

// collectBindings walks props (at path prefix) and appends each
// x-mcp-header annotation to out. An annotation is invalid (the error says
// why) when it is not a non-empty HTTP token, sits on a property that is
// not a string, integer or boolean, or repeats another one's name (case
// ignored).
func collectBindings(props map[string]schemaProp, prefix []string, seen map[string]bool, out []paramBinding) ([]paramBinding, error) {
	for name, prop := range props {
		path := append(append([]string(nil), prefix...), name)
		if prop.XMCPHeader != nil {
			var header, typ string
			if json.Unmarshal(prop.XMCPHeader, &header) != nil || !isToken(header) {
				return nil, fmt.Errorf("property %s: x-mcp-header %s is not an HTTP header name", strings.Join(path, "."), prop.XMCPHeader)
			}
			if json.Unmarshal(prop.Type, &typ) != nil || (typ != "string" && typ != "integer" && typ != "boolean") {
				return nil, fmt.Errorf("property %s: x-mcp-header on a property that is not a string, integer or boolean", strings.Join(path, "."))
			}
			if seen[strings.ToLower(header)] {
				return nil, fmt.Errorf("property %s: x-mcp-header %q named twice", strings.Join(path, "."), header)
			}
			seen[strings.ToLower(header)] = true
			out = append(out, paramBinding{path: path, header: header})
		}
		var err error
		if out, err = collectBindings(prop.Properties, path, seen, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// isToken reports whether s is an HTTP field name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// paramHeaders returns the Mcp-Param-* headers of a tools/call with params
// (nil when its tool has no annotated property the arguments hold). A null,
// a non-primitive and a number that is not a safe integer are left out.
func (p *paramTools) paramHeaders(params json.RawMessage) http.Header {
	p.mu.Lock()
	none := len(p.tools) == 0
	p.mu.Unlock()
	if none { // no tool is annotated: nothing to decode, every call
		return nil
	}
	var call struct {
		Name      string                     `json:"name"`
		Arguments map[string]json.RawMessage `json:"arguments"`
	}
	if json.Unmarshal(params, &call) != nil || call.Arguments == nil {
		return nil
	}
	p.mu.Lock()
	bindings := p.tools[call.Name]
	p.mu.Unlock()
	var h http.Header
	for _, b := range bindings {
		raw, ok := lookupArg(call.Arguments, b.path)
		if !ok {
			continue
		}
		v, ok := headerValue(raw)
		if !ok {
			continue
		}
		if h == nil {
			h = http.Header{}
		}
		h[mcpParamPrefix+b.header] = []string{v}
	}
	return h
}

// lookupArg finds the argument at path.
func lookupArg(args map[string]json.RawMessage, path []string) (json.RawMessage, bool) {
	cur, ok := args[path[0]]
	for _, k := range path[1:] {
		var obj map[string]json.RawMessage
		if !ok || json.Unmarshal(cur, &obj) != nil {
			return nil, false
		}
		cur, ok = obj[k]
	}
	return cur, ok
}

// headerValue is the header form of a primitive argument: a string as it
// is, true/false, an integer in decimal; a value a header cannot carry
// as it is (a character outside visible ASCII and space, or leading or
// trailing white space) is sent as =?base64?…?=.
func headerValue(raw json.RawMessage) (string, bool) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case bool:
		s = strconv.FormatBool(v)
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53-1 {
			return "", false
		}
		s = strconv.FormatInt(int64(v), 10)
	default:
		return "", false
	}
	if needsBase64(s) {
		return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=", true
	}
	return s, true
}

func needsBase64(s string) bool {
	if s == "" {
		return false
	}
	if strings.ContainsAny(s[:1], " \t") || strings.ContainsAny(s[len(s)-1:], " \t") {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return true
		}
	}
	return false
}

// paramHeadersKey carries a request's Mcp-Param-* headers from the relay
// to upstreamRT in the request's context.
type paramHeadersKey struct{}

// withParamHeaders returns ctx carrying h for the HTTP request sent on it.
func withParamHeaders(ctx context.Context, h http.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return context.WithValue(ctx, paramHeadersKey{}, h)
}

// addParamHeaders sets on req the Mcp-Param-* headers its context carries
// when req speaks 2026-07-28 or later (older servers know nothing of
// them).
func addParamHeaders(req *http.Request) {
	h, _ := req.Context().Value(paramHeadersKey{}).(http.Header)
	if len(h) == 0 || req.Header.Get(headerProtocolVersion) < modernVersion {
		return
	}
	for k, v := range h {
		req.Header[k] = v
	}
}
