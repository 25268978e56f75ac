package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkCallTool compares one tools/call through the relay (stdio pipes
// → proxy → Streamable HTTP) with the same call made by the SDK client over
// Streamable HTTP directly, both with oauth.Transport carrying the token:
//
//	go test -run - -bench CallTool ./proxy/
func BenchmarkCallTool(b *testing.B) {
	u := newUpstream(b, false)
	args := &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "b"}}
	run := func(b *testing.B, tr mcp.Transport) {
		ctx := context.Background()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "0"}, nil).Connect(ctx, tr, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		b.ResetTimer()
		for b.Loop() {
			if _, err := cs.CallTool(ctx, args); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("direct", func(b *testing.B) {
		hc := &http.Client{Transport: &oauth.Transport{Source: &source{tok: "good"}, ServerURL: u.url}}
		run(b, &mcp.StreamableClientTransport{Endpoint: u.url, HTTPClient: hc})
	})
	b.Run("proxy", func(b *testing.B) {
		app, _ := startProxy(b, Config{URL: u.url, Source: &source{tok: "good"}})
		run(b, app)
	})
}

// BenchmarkPlainCall is BenchmarkCallTool for an app without an MCP SDK:
// one JSON line written to the proxy's stdin and one read from its stdout,
// beside the same tools/call as a plain HTTP POST on a keep-alive
// connection with the session id and the bearer token (the least a direct
// client does), against the Go SDK's Streamable HTTP server:
//
//	go test -run - -bench PlainCall ./proxy/
func BenchmarkPlainCall(b *testing.B) {
	u := newUpstream(b, false)
	const call = `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"greet","arguments":{"name":"b"}}}`
	b.Run("direct", func(b *testing.B) {
		hc := &http.Client{}
		post := func(session, msg string) (*http.Response, string) { return directPost(b, hc, u.url, session, msg) }
		res, _ := post("", initLine)
		if res == nil || b.Failed() {
			b.FailNow()
		}
		session := res.Header.Get("Mcp-Session-Id")
		post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if _, body := post(session, fmt.Sprintf(call, i+2)); !strings.Contains(body, "Hello, b!") {
				b.Fatal(body)
			}
		}
	})
	b.Run("proxy", func(b *testing.B) {
		app, _ := startProxy(b, Config{URL: u.url, Source: &source{tok: "good"}})
		r := bufio.NewReader(app.Reader)
		roundTrip := func(line string) string {
			if _, err := io.WriteString(app.Writer, line+"\n"); err != nil {
				b.Fatal(err)
			}
			got, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			return got
		}
		roundTrip(initLine)
		if _, err := io.WriteString(app.Writer, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n"); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if got := roundTrip(fmt.Sprintf(call, i+2)); !strings.Contains(got, "Hello, b!") {
				b.Fatal(got)
			}
		}
		b.StopTimer()
		app.Writer.Close()
	})
}

func TestParseHeader(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cret"}
	k, v, err := ParseHeader("x-api-key: Key ${TOKEN}${UNSET}", func(n string) string { return env[n] })
	if err != nil || k != "X-Api-Key" || v != "Key s3cret" {
		t.Fatalf("%q %q %v", k, v, err)
	}
	for _, bad := range []string{"novalue", ": v", "Authorization: Bearer x", "a b: c"} {
		if _, _, err := ParseHeader(bad, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, _, err := ParseHeader("X: ${TOKEN}", func(string) string { return "a\r\nB: c" }); err == nil {
		t.Error("a value with a line break accepted")
	}
}

func TestCheckURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://mcp.example.com/mcp": true,
		"http://localhost:3000/mcp":   true,
		"http://127.0.0.1/mcp":        true,
		"http://[::1]:80/mcp":         true,
		"http://mcp.example.com/mcp":  false,
		"https://u:p@example.com/":    false,
		"ftp://example.com/":          false,
		"/mcp":                        false,
	} {
		if err := CheckURL(raw, false); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v", raw, err)
		}
	}
	if err := CheckURL("http://mcp.example.com/mcp", true); err != nil {
		t.Errorf("--allow-http: %v", err)
	}
	if _, err := ParseMode("websocket"); err == nil {
		t.Error("ParseMode accepted websocket")
	}
}

// BenchmarkPlainBurst is BenchmarkPlainCall's burst: burstSize tools/call
// lines written at once, one op being the time until every answer came,
// beside the same calls as concurrent plain POSTs:
//
//	go test -run - -bench PlainBurst ./proxy/
func BenchmarkPlainBurst(b *testing.B) {
	const burstSize = 30
	cold := os.Getenv("BURST_COLD") != ""
	u := newUpstream(b, false)
	const call = `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"greet","arguments":{"name":"b"}}}`
	b.Run("direct", func(b *testing.B) {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		post := func(session, msg string) (*http.Response, string) { return directPost(b, hc, u.url, session, msg) }
		res, _ := post("", initLine)
		if res == nil || b.Failed() {
			b.FailNow()
		}
		session := res.Header.Get("Mcp-Session-Id")
		post(session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		id := 2
		for b.Loop() {
			if cold {
				hc.CloseIdleConnections()
			}
			var wg sync.WaitGroup
			for range burstSize {
				id++
				line := fmt.Sprintf(call, id)
				wg.Go(func() {
					if _, body := post(session, line); !strings.Contains(body, "Hello, b!") {
						b.Error(body)
					}
				})
			}
			wg.Wait()
		}
	})
	b.Run("proxy", func(b *testing.B) {
		base := oauth.NewTransport(oauth.HTTPOptions{})
		app, _ := startProxy(b, Config{URL: u.url, Source: &source{tok: "good"}, Base: base})
		r := bufio.NewReader(app.Reader)
		write := func(line string) {
			if _, err := io.WriteString(app.Writer, line+"\n"); err != nil {
				b.Fatal(err)
			}
		}
		write(initLine)
		if _, err := r.ReadString('\n'); err != nil {
			b.Fatal(err)
		}
		write(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		var mu sync.Mutex // the app writes its lines from many goroutines
		id := 2
		for b.Loop() {
			if cold {
				base.(interface{ CloseIdleConnections() }).CloseIdleConnections()
			}
			var wg sync.WaitGroup
			for range burstSize {
				id++
				line := fmt.Sprintf(call, id)
				wg.Go(func() {
					mu.Lock()
					defer mu.Unlock()
					write(line)
				})
			}
			for range burstSize {
				if got, err := r.ReadString('\n'); err != nil || !strings.Contains(got, "Hello, b!") {
					b.Fatal(got, err)
				}
			}
			wg.Wait()
		}
		app.Writer.Close()
	})
}

// directPost sends one JSON-RPC message straight to the upstream at url, as
// a plain Streamable HTTP client does (session given after initialize). A
// failure is reported with b.Error, so bursts may call it from goroutines;
// it then returns a nil response and an empty body.
func directPost(b *testing.B, hc *http.Client, url, session, msg string) (*http.Response, string) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(msg))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer good")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-03-26")
	}
	res, err := hc.Do(req)
	if err != nil {
		b.Error(err)
		return nil, ""
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		b.Errorf("HTTP %d: %s", res.StatusCode, body)
	}
	return res, string(body)
}
