package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The relay's Streamable HTTP connection (streamConn) against the Go SDK's
// real server is in proxy_test.go and bridge_test.go; these are the corner
// cases a real server rarely shows, from a fake one: a response stream that
// breaks and is resumed, one that ends without the answer, an answer spread
// over several data: lines, a transient refusal, and the SEP-2243 headers.

// fakeStreamable is a Streamable HTTP server whose tools/call answers
// depend on the tool's name. It records the headers the requests came with.
type fakeStreamable struct {
	t  *testing.T
	mu sync.Mutex
	// resumes holds the Last-Event-ID of each GET.
	resumes []string
	// calls holds the headers of each tools/call POST (not the proxy's
	// server/discover).
	calls []http.Header
}

func (f *fakeStreamable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		f.mu.Lock()
		f.resumes = append(f.resumes, r.Header.Get("Last-Event-Id"))
		f.mu.Unlock()
		if r.Header.Get("Last-Event-Id") != "ev-1" {
			http.Error(w, "no standalone stream", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: ev-2\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"resumed\":true}}\n\n")
		return
	}
	if r.Method == http.MethodDelete {
		return
	}
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		f.t.Errorf("the server got a body that is not JSON: %v", err)
	}
	switch {
	case m.Method == "initialize":
		w.Header().Set("Mcp-Session-Id", "s-1")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"fake","version":"0"}}}`, m.ID)
		return
	case m.ID == nil:
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if m.Method == "tools/call" {
		f.mu.Lock()
		f.calls = append(f.calls, r.Header.Clone())
		f.mu.Unlock()
	}
	sse := func(body string) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}
	switch m.Params.Name {
	case "breaks": // an event with an id, then the stream breaks: resumed by GET
		sse("id: ev-1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n")
	case "ends": // no event id, no answer
		sse(": nothing\n\n")
	case "lines": // the answer's JSON over four data: lines, its result too
		sse(fmt.Sprintf("data: {\"jsonrpc\":\"2.0\",\ndata:  \"id\":%s,\ndata:  \"result\":{\ndata:    \"text\":\"a\\nb\"}}\n\n", m.ID))
	case "busy":
		http.Error(w, "busy", http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{}}`, m.ID)
	}
}

func startFake(t *testing.T) (*fakeStreamable, *rawApp) {
	f := &fakeStreamable{t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	a := startRaw(t, Config{URL: srv.URL + "/mcp", Source: &source{tok: "good"}, Mode: HTTPOnly})
	a.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`)
	if got := a.recv(t); !strings.Contains(got, `"protocolVersion":"2025-11-25"`) {
		t.Fatalf("initialize: %s", got)
	}
	a.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return f, a
}

func call(tool string, id int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, id, tool)
}

// TestStreamResumed: a response stream that breaks after an event with an
// id is resumed with a GET carrying Last-Event-ID, and the answer that
// comes on the resumed stream reaches the app after the event before it.
func TestStreamResumed(t *testing.T) {
	f, a := startFake(t)
	a.send(t, call("breaks", 2))
	if got := a.recv(t); !strings.Contains(got, `"notifications/progress"`) {
		t.Fatalf("first the progress notification, got %s", got)
	}
	if got := a.recv(t); !strings.Contains(got, `"resumed":true`) || !strings.Contains(got, `"id":2`) {
		t.Fatalf("then the answer from the resumed stream, got %s", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !strings.Contains(strings.Join(f.resumes, ","), "ev-1") {
		t.Fatalf("GETs with Last-Event-ID %q, want one with ev-1", f.resumes)
	}
}

// TestStreamEndsUnanswered: a stream that ends without the answer and
// cannot be resumed (no event id) answers the request with a JSON-RPC
// error; a transient refusal (503) answers only its request; the relay
// goes on serving both times.
func TestStreamEndsUnanswered(t *testing.T) {
	_, a := startFake(t)
	for i, tool := range []string{"ends", "busy"} {
		a.send(t, call(tool, 10+i))
		got := a.recv(t)
		var resp struct {
			ID    int `json:"id"`
			Error *struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(got), &resp); err != nil || resp.ID != 10+i || resp.Error == nil || resp.Error.Code != CodeUpstream {
			t.Fatalf("%s: want a JSON-RPC error %d for id %d, got %s", tool, CodeUpstream, 10+i, got)
		}
	}
	a.send(t, call("ok", 20))
	if got := a.recv(t); !strings.Contains(got, `"id":20,"result":{}`) {
		t.Fatalf("after those, a plain call: %s", got)
	}
}

// TestStreamMultiLineData: an answer whose JSON spans several data: lines
// reaches the app as one line (newline-delimited JSON-RPC), its content
// intact.
func TestStreamMultiLineData(t *testing.T) {
	_, a := startFake(t)
	a.send(t, call("lines", 3))
	got := a.recv(t)
	var resp struct {
		ID     int `json:"id"`
		Result struct {
			Text string `json:"text"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(got), &resp); err != nil || resp.ID != 3 || resp.Result.Text != "a\nb" {
		t.Fatalf("got %q (%v)", got, err)
	}
	if strings.Count(got, "\n") != 1 {
		t.Fatalf("the answer is not one line: %q", got)
	}
}

// TestStreamHeaders: a request whose _meta names protocol version
// 2026-07-28 goes with it as MCP-Protocol-Version and with the SEP-2243
// Mcp-Method and Mcp-Name headers; an older one with the negotiated
// version and neither; every request with the session id.
func TestStreamHeaders(t *testing.T) {
	f, a := startFake(t)
	a.send(t, call("old", 4))
	a.recv(t)
	a.send(t, `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"new","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`)
	a.recv(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) != 2 {
		t.Fatalf("%d calls reached the server, want 2", len(f.calls))
	}
	old, mod := f.calls[0], f.calls[1]
	if old.Get("Mcp-Protocol-Version") != "2025-11-25" || old.Get("Mcp-Method") != "" || old.Get("Mcp-Name") != "" {
		t.Errorf("an older request's headers: %v", old)
	}
	if mod.Get("Mcp-Protocol-Version") != "2026-07-28" || mod.Get("Mcp-Method") != "tools/call" || mod.Get("Mcp-Name") != "new" {
		t.Errorf("a 2026-07-28 request's headers: %v", mod)
	}
	for _, h := range f.calls {
		if h.Get("Mcp-Session-Id") != "s-1" {
			t.Errorf("a request without the session id: %v", h)
		}
	}
}
