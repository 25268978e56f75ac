package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestStandaloneStreamBeforeNextRequest: the app's first request after
// notifications/initialized reaches the server after the standalone GET
// has been answered, as with the Go SDK's own client (the conformance
// suite's sse-retry counts on it), even when the server is slow to answer
// the GET (here it holds its answer for 300 ms: a delay of the fake, not a
// bound the test measures).
func TestStandaloneStreamBeforeNextRequest(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "up", Version: "0"}, &mcp.ServerOptions{SupportedProtocolVersions: []string{"2025-06-18"}})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	var mu sync.Mutex
	var seen []string
	note := func(s string) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			time.Sleep(300 * time.Millisecond)
			note("GET answered")
			h.ServeHTTP(w, r)
			return
		case http.MethodPost:
			b, _ := io.ReadAll(r.Body)
			var m struct {
				Method string `json:"method"`
			}
			_ = json.Unmarshal(b, &m)
			note(m.Method)
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	app, done := startProxy(t, Config{URL: ts.URL, Source: &source{tok: "good"}})
	ctx := context.Background()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "app", Version: "0"}, nil).Connect(ctx, app, &mcp.ClientSessionOptions{ProtocolVersion: "2025-06-18"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatal(err)
	}
	cs.Close()
	if err := waitDone(t, done); err != nil {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	get, list := slices.Index(seen, "GET answered"), slices.Index(seen, "tools/list")
	if get < 0 || list < 0 || get > list {
		t.Errorf("the server saw %v; want the GET answered before tools/list", seen)
	}
}
