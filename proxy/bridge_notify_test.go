package proxy

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"
)

// TestBridgeAppNotifications: an app older than 2026-07-28 sends, mid
// session, each notification of its version to a Go SDK v1.8.0 server that
// speaks only 2026-07-28, which refuses them (400) without the headers and
// _meta of a 2026-07-28 request, which breaks the proxy's connection. None
// has a meaning there (no session, no server→client requests to report
// progress on, roots asked for per request, cancellation by closing the
// stream), so the proxy sends none on, and the session goes on. The app's
// cancel of an ordinary request it has in flight (a tools/call outside an
// input round, a completion/complete) closes that request's stream, which
// cancels the server's handler, and the server's late answer does not
// reach the app.
func TestBridgeAppNotifications(t *testing.T) {
	hs := newHoldServer(t)
	for _, n := range []string{
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`,
		`{"jsonrpc":"2.0","method":"notifications/roots/list_changed","params":{}}`,
		`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":1,"total":2}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99,"reason":"no such request"}}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`, // answered already
	} {
		t.Run(n, func(t *testing.T) {
			a, greet := bridgedApp(t, hs)
			greet("initialize")
			a.send(t, n)
			greet(n)
			a.end(t)
		})
	}
	for _, m := range []string{"notifications/initialized", "notifications/roots/list_changed", "notifications/progress", "notifications/cancelled"} {
		if n := hs.count(m); n != 0 {
			t.Errorf("the server got %s %d times; want none (it has no meaning in 2026-07-28)", m, n)
		}
	}

	for _, c := range []struct{ held, request string }{
		{"block", `"method":"tools/call","params":{"name":"block"}`},
		{"complete", `"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"a","value":"v"}}`},
	} {
		t.Run("cancel "+c.held, func(t *testing.T) {
			relayOf := watchMRTR(t)
			a, greet := bridgedApp(t, hs)
			a.send(t, `{"jsonrpc":"2.0","id":"c",`+c.request+`}`)
			if got := wait(t, hs.held, c.held); got != c.held {
				t.Fatalf("the server held %q; want %q", got, c.held)
			}
			a.send(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c","reason":"user"}}`)
			if got := wait(t, hs.gone, "the server's cancellation of "+c.held); got != c.held {
				t.Fatalf("the server cancelled %q; want %q", got, c.held)
			}
			waitSettled(t, relayOf(), "the app cancelled "+c.held)
			greet("the app cancelled " + c.held)
			a.end(t) // no late answer to "c"
		})
	}
}

// bridgedApp starts a proxy for hs and initializes it as a raw app of
// 2025-06-18 (which the proxy bridges), and returns the app and a function
// that calls the tool greet and checks its answer, naming what came before.
func bridgedApp(t *testing.T, hs *holdServer) (*rawApp, func(after string)) {
	a := startRaw(t, Config{URL: hs.url, Source: &source{tok: "good"}})
	a.send(t, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"raw","version":"0"}}}`)
	if l := a.next(t); l.ID != float64(1) || l.Error != nil {
		t.Fatalf("initialize: %+v", l)
	}
	id := 1
	return a, func(after string) {
		t.Helper()
		id++
		a.send(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"greet"}}`, id))
		s := a.recv(t)
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil || l.ID != float64(id) || l.Error != nil {
			t.Fatalf("after %s the app's next message is %q; want the answer to its tools/call %d", after, s, id)
		}
	}
}

// end closes the app's end and checks that nothing more came to it and
// the proxy ended well.
func (a *rawApp) end(t *testing.T) {
	t.Helper()
	_ = a.w.Close()
	if rest, _ := io.ReadAll(a.r); len(rest) > 0 {
		t.Errorf("after its last answer the app got %q", rest)
	}
	if err := waitDone(t, a.done); err != nil {
		t.Error(err)
	}
}
