package proxy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// watchMRTR returns a function that gives the relay the next proxy started
// keeps its multi-round-trip calls in (nil until it keeps one).
func watchMRTR(t *testing.T) func() *relay {
	var got atomic.Pointer[relay]
	mrtrStarted = func(r *relay) { got.Store(r) }
	t.Cleanup(func() { mrtrStarted = nil })
	return got.Load
}

// waitSettled waits until r holds no multi-round-trip state (no call, no
// input request awaited, no round running), failing t when it still holds
// some after 10 s (a bound on a hang, not a timing assertion).
func waitSettled(t *testing.T, r *relay, after string) {
	t.Helper()
	if r == nil {
		t.Fatalf("%s: the proxy kept no multi-round-trip call", after)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		n, calls, active, waiting, rounds := r.mr.pending(), len(r.mr.calls), len(r.mr.active), len(r.mr.waiting), r.mr.rounds
		r.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the proxy still holds %d calls by upstream id, %d by app id, %d input requests and %d rounds", after, calls, active, waiting, rounds)
		}
		time.Sleep(time.Millisecond)
	}
}

// holdServer is a Go SDK v1.8.0 server that speaks only 2026-07-28 and
// cancels a handler when its request's stream closes: "ask" elicits once,
// "pair" elicits twice in one round, "hold" elicits and then, called again
// with the answer, holds the request (telling held) until it is cancelled
// (telling gone); "block" holds the request at once, the same way, and
// then answers, and so does completion/complete; "greet" answers at once. posts records the Mcp-Method
// and Mcp-Name of every POST (the method in its body when it has no
// Mcp-Method, "a response" for a response).
type holdServer struct {
	url        string
	held, gone chan string
	mu         sync.Mutex
	posts      []string
}

func newHoldServer(t *testing.T) *holdServer {
	hs := &holdServer{held: make(chan string, 1), gone: make(chan string, 1)}
	quit := make(chan struct{})
	srv := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "0"}, &mcp.ServerOptions{
		SupportedProtocolVersions: []string{"2026-07-28"},
		CompletionHandler: func(ctx context.Context, _ *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			hs.held <- "complete"
			select {
			case <-ctx.Done():
				hs.gone <- "complete"
			case <-quit:
			}
			return &mcp.CompleteResult{}, nil // an answer the app must not get
		},
	})
	ask := &mcp.ElicitParams{Message: "name?", RequestedSchema: &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{"name": {Type: "string"}}}}
	// A result of its own for each call: the SDK writes to the result it is
	// given (its result type), and calls run concurrently.
	text := func() *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "ask"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		if len(req.Params.InputResponses) == 0 {
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"q": ask}}, nil, nil
		}
		return text(), nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "pair"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		if len(req.Params.InputResponses) == 0 {
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"a": ask, "b": ask}}, nil, nil
		}
		return text(), nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "hold"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		if len(req.Params.InputResponses) == 0 {
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"q": ask}, RequestState: "s"}, nil, nil
		}
		hs.held <- req.Params.RequestState
		select {
		case <-ctx.Done():
			hs.gone <- req.Params.RequestState
		case <-quit: // the test ended without the cancellation
		}
		return nil, nil, ctx.Err()
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "block"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		hs.held <- "block"
		select {
		case <-ctx.Done():
			hs.gone <- "block"
		case <-quit:
		}
		return text(), nil, nil // an answer the app must not get
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "greet"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return text(), nil, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true, PropagateRequestCancellation: true})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			post := strings.TrimSpace(r.Header.Get("Mcp-Method") + " " + r.Header.Get("Mcp-Name"))
			if post == "" { // the initialize, or what is no request
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				var m struct {
					Method string `json:"method"`
				}
				_ = json.Unmarshal(body, &m)
				post = cmp.Or(m.Method, "a response")
			}
			hs.mu.Lock()
			hs.posts = append(hs.posts, post)
			hs.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { // before ts.Close, which waits for the handlers
		close(quit)
		ts.CloseClientConnections()
	})
	hs.url = ts.URL + "/mcp"
	return hs
}

// count is how many POSTs of method (and name) the server got.
func (hs *holdServer) count(post string) int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	n := 0
	for _, p := range hs.posts {
		if p == post {
			n++
		}
	}
	return n
}

// line is one JSON-RPC message the raw app read.
type line struct {
	ID     any             `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func (a *rawApp) next(t *testing.T) line {
	t.Helper()
	s := a.recv(t)
	var l line
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		t.Fatalf("the proxy wrote %q: %v", s, err)
	}
	return l
}

// inputRequest reads an input request of the proxy's and returns its id.
func (a *rawApp) inputRequest(t *testing.T) string {
	t.Helper()
	l := a.next(t)
	id, _ := l.ID.(string)
	if l.Method != "elicitation/create" || !strings.HasPrefix(id, inputPrefix) {
		t.Fatalf("the app got %+v; want an elicitation/create of the proxy's", l)
	}
	return id
}

// cancelledInput reads a notifications/cancelled and checks it names id.
func (a *rawApp) cancelledInput(t *testing.T, id string) {
	t.Helper()
	l := a.next(t)
	var p struct {
		RequestID any `json:"requestId"`
	}
	_ = json.Unmarshal(l.Params, &p)
	if l.Method != "notifications/cancelled" || p.RequestID != id {
		t.Fatalf("the app got %+v; want notifications/cancelled for %s", l, id)
	}
}

const elicitAnswer = `{"action":"accept","content":{"name":"n"}}`

// TestBridgeInputCancel: an app older than 2026-07-28 cancels its
// tools/call to a Go SDK 2026-07-28 server during a multi-round trip. While
// the app is being asked, the proxy cancels its input request to the app,
// sends the server nothing (no retry; no notifications/cancelled, which
// the server would refuse and so break the connection) and drops the app's
// late answer; while the retry is held by the server, the proxy closes the
// retry's stream, which cancels the server's handler. An app's error
// answer to one input request of two ends the call with that error and
// cancels the other. Either way the app gets no answer to a cancelled id,
// the session goes on, and the proxy holds nothing of the call after.
func TestBridgeInputCancel(t *testing.T) {
	hs := newHoldServer(t)
	relayOf := watchMRTR(t)
	a := startRaw(t, Config{URL: hs.url, Source: &source{tok: "good"}})
	a.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"raw","version":"0"}}}`)
	if l := a.next(t); l.ID != float64(1) || l.Error != nil {
		t.Fatalf("initialize: %+v", l)
	}
	a.send(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	greet := func(id int) {
		t.Helper()
		a.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"greet"}}`, id))
		if l := a.next(t); l.ID != float64(id) || l.Error != nil {
			t.Fatalf("the app's next message is %+v; want the answer to its tools/call %d", l, id)
		}
	}

	// Cancelled while the app is asked.
	a.send(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask"}}`)
	in := a.inputRequest(t)
	a.send(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2,"reason":"user"}}`)
	a.cancelledInput(t, in)
	a.send(t, `{"jsonrpc":"2.0","id":"`+in+`","result":`+elicitAnswer+`}`) // too late: goes nowhere
	waitSettled(t, relayOf(), "cancelled while asking the app")
	greet(3)
	if n := hs.count("tools/call ask"); n != 1 {
		t.Errorf("the server got tools/call ask %d times; want 1 (no retry after the cancel)", n)
	}

	// Cancelled while the server holds the retry.
	a.send(t, `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"hold"}}`)
	in = a.inputRequest(t)
	a.send(t, `{"jsonrpc":"2.0","id":"`+in+`","result":`+elicitAnswer+`}`)
	if s := wait(t, hs.held, "the retry"); s != "s" {
		t.Errorf("the retry carried requestState %q; want the server's", s)
	}
	a.send(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4}}`)
	wait(t, hs.gone, "the server's cancellation of the retry")
	waitSettled(t, relayOf(), "cancelled while the server held the retry")
	greet(5)

	// The app answers one input request with an error.
	a.send(t, `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"pair"}}`)
	first, second := a.inputRequest(t), a.inputRequest(t)
	a.send(t, `{"jsonrpc":"2.0","id":"`+first+`","error":{"code":-1,"message":"the user closed the dialog"}}`)
	if l := a.next(t); l.ID != float64(6) || l.Error == nil || l.Error.Message != "the user closed the dialog" {
		t.Fatalf("the app got %+v; want its error as the answer to its tools/call 6", l)
	}
	a.cancelledInput(t, second)
	waitSettled(t, relayOf(), "an input request answered with an error")
	greet(7)
	if n := hs.count("tools/call pair"); n != 1 {
		t.Errorf("the server got tools/call pair %d times; want 1", n)
	}
	if n := hs.count("notifications/cancelled") + hs.count("a response"); n != 0 {
		t.Errorf("the server got %d notifications/cancelled or responses (the app's late answer); want none", n)
	}

	// Nothing more comes: no late answer to 2 or 4.
	_ = a.w.Close()
	rest, _ := io.ReadAll(a.r)
	if len(rest) > 0 {
		t.Errorf("after its last answer the app got %q", rest)
	}
	if err := waitDone(t, a.done); err != nil {
		t.Error(err)
	}
}

// TestBridgeInputServerFails: when the server fails the retry of a
// multi-round trip (a gateway timeout, or a JSON-RPC error such as an
// expired requestState), the app's call ends with an error and the proxy
// holds nothing of it after.
func TestBridgeInputServerFails(t *testing.T) {
	for name, c := range map[string]struct {
		retry   func(w http.ResponseWriter, id json.RawMessage)
		wantErr string
	}{
		"gateway timeout": {func(w http.ResponseWriter, _ json.RawMessage) {
			http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
		}, "Gateway Timeout"},
		"request state expired": {func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32603,"message":"the request state expired"}}`, id)
		}, "the request state expired"},
	} {
		t.Run(name, func(t *testing.T) {
			var calls atomic.Int32
			relayOf := watchMRTR(t)
			app, done := startProxy(t, Config{URL: fakeInputServer(t, "elicitation/create", &calls, c.retry), Source: &source{tok: "good"}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound on a hang
			defer cancel()
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, &mcp.ClientOptions{
				ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					return &mcp.ElicitResult{Action: "accept"}, nil
				},
			}).Connect(ctx, app, &mcp.ClientSessionOptions{ProtocolVersion: "2025-06-18"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow"})
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("tools/call: %+v %v; want an error with %q", res, err, c.wantErr)
			}
			if calls.Load() != 2 {
				t.Errorf("the server was called %d times; want 2 (the call and its retry)", calls.Load())
			}
			waitSettled(t, relayOf(), name)
			cs.Close()
			if err := waitDone(t, done); err != nil {
				t.Error(err)
			}
		})
	}
}
