package revproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

const (
	testKey   = "KEY0123456789"
	testToken = "server-token-secret"
)

// fakeApps knows one app, "cursor", with testKey, for the server it is given.
type fakeApps struct {
	server string
	err    error
	calls  atomic.Int32 // key checks
	policy toolpolicy.Policy

	mu      sync.Mutex
	refused []string // "app tool" of each ToolRefused
}

func (f *fakeApps) ToolPolicyFor(string, ipc.Peer) toolpolicy.Policy { return f.policy }

func (f *fakeApps) ToolRefused(_, tool string, caller ipc.Peer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refused = append(f.refused, caller.App+" "+tool)
}

func (f *fakeApps) App(name, key string) (string, bool, error) {
	f.calls.Add(1)
	if f.err != nil {
		return "", false, f.err
	}
	return f.server, name == "cursor" && key == testKey, nil
}

func (f *fakeApps) AppSource(server string, caller ipc.Peer) oauth.TokenSource {
	return tokenSource{}
}

type tokenSource struct{}

func (tokenSource) Credential(context.Context, string, string, string) (*oauth.Credential, error) {
	return &oauth.Credential{Scheme: "Bearer", Token: testToken}, nil
}
func (tokenSource) Challenged(context.Context, string, *oauth.Challenge) error {
	return errors.New("no sign-in here")
}
func (tokenSource) Succeeded(context.Context) {}

// upstream is the MCP server: it records what reaches it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r)
		u.mu.Unlock()
		w.Header().Set("Set-Cookie", "session=upstream")
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="x"`)
		w.Header().Set("Mcp-Session-Id", "s-1")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.seen...)
}

// proxy runs the Handler on a real loopback listener, as the daemon does,
// with peer standing in for the OS lookup. It returns the handler and the
// listener's address.
func proxy(t *testing.T, apps Apps, peer func(net.Conn) (int, error)) (*Handler, string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	h := New(apps, l.Addr().String(), nil, nil)
	if peer != nil {
		h.peerUID = peer
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = h.Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h, l.Addr().String()
}

func self(net.Conn) (int, error) { return os.Getuid(), nil }

// send writes one request with exactly target as its request-target (no
// client-side cleaning) on c and reads the answer.
func send(t *testing.T, c net.Conn, addr, method, target string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, addr)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	body := ""
	if method == http.MethodPost {
		body = `{"jsonrpc":"2.0","id":1,"method":"ping"}`
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(rb), res.Header
}

// request sends one request on a connection of its own.
func request(t *testing.T, addr, method, target string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	must(t, err)
	defer c.Close()
	return send(t, c, addr, method, target, hdr)
}

func TestRoute(t *testing.T) {
	for _, tc := range []struct {
		path, name, key, rest string
		ok                    bool
	}{
		{"/s/cursor", "cursor", "", "", true},
		{"/s/cursor/", "cursor", "", "", true},
		{"/s/cursor/sub/x", "cursor", "", "/sub/x", true},
		{"/s/cursor/k/KEY", "cursor", "KEY", "", true},
		{"/s/cursor/k/KEY/", "cursor", "KEY", "", true},
		{"/s/cursor/k/KEY//", "cursor", "KEY", "//", true},
		{"/s/cursor/k/KEY/sub", "cursor", "KEY", "/sub", true},
		{"/s/cursor/k/KEY/../../x", "cursor", "KEY", "/../../x", true}, // confine refuses the rest
		{"/s/cursor/k", "cursor", "", "/k", true},
		{"/s/", "", "", "", false},
		{"/s//k/KEY", "", "KEY", "", false},
		{"/x/cursor", "", "", "", false},
		{"/", "", "", "", false},
		{"s/cursor", "", "", "", false},
	} {
		name, key, rest, ok := route(tc.path)
		if name != tc.name || key != tc.key || rest != tc.rest || ok != tc.ok {
			t.Errorf("route(%q) = %q %q %q %v; want %q %q %q %v", tc.path, name, key, rest, ok, tc.name, tc.key, tc.rest, tc.ok)
		}
	}
}

// dotVariants are paths below an app's URL that could reach outside its
// server's path, or read two ways, encoded in every way we know of.
var dotVariants = []string{
	"/..", "/../x", "/../../x", "/a/../../x", "/a/..", "/.", "/./x", "/a/./b",
	"/%2e%2e/x", "/%2E%2E/x", "/.%2e/x", "/%2e./x", "/%2e", "/a/%2e%2e",
	"/%252e%252e/x", "/%25252e%25252e/x", "/%2525252e/x",
	"/..;/x", "/..;a=b/x", "/%2e%2e;/x", "/.;/x",
	"/..%2fx", "/..%2Fx", "/a%2f..%2f..%2fx", "/%2f/x", "/%252f/x",
	"/..%5cx", "/..%5Cx", `/..\x`, `/a\..\..\x`, "/%255c",
	"//x", "/a//x", "//", "/a//",
	"/a%00", "/%2500",
}

// badEscapes do not decode: Go's HTTP server refuses them (400) before
// the proxy sees them; confine refuses them too.
var badEscapes = []string{"/%zz", "/%2", "/%", "/a%g0"}

func TestConfine(t *testing.T) {
	for _, rest := range []string{"", "/", "/sub", "/sub/", "/a/b/c", "/a.b", "/..a", "/a..", "/...", "/%41", "/a%20b", "/a;b", "/%25zz", "/%2541", "/~user", "/a-b_c"} {
		if err := confine(rest); err != nil {
			t.Errorf("confine(%q): %v; want allowed", rest, err)
		}
	}
	for _, rest := range append(dotVariants, badEscapes...) {
		if err := confine(rest); err == nil {
			t.Errorf("confine(%q) allowed it", rest)
		}
	}
}

// FuzzConfine: whatever confine allows, appended to the server's path,
// stays below it however many times a server decodes and cleans it, and
// never holds a backslash or NUL.
func FuzzConfine(f *testing.F) {
	for _, v := range append(dotVariants, "/sub/x", "/%2541", "/a;b/", "") {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		if (rest != "" && rest[0] != '/') || confine(rest) != nil {
			return
		}
		p := "/mcp" + rest
		for range 4 {
			if c := path.Clean(p); c != "/mcp" && !strings.HasPrefix(c, "/mcp/") {
				t.Fatalf("confine allowed %q: %q cleans to %q", rest, p, c)
			}
			if strings.ContainsAny(p, "\\\x00") {
				t.Fatalf("confine allowed %q: %q", rest, p)
			}
			d, err := url.PathUnescape(p)
			if err != nil {
				return
			}
			p = d
		}
	})
}

// TestHeaderRules: what the app sends and what it gets back.
func TestHeaderRules(t *testing.T) {
	up := newUpstream(t)
	_, addr := proxy(t, &fakeApps{server: up.URL + "/mcp?tenant=1"}, self)
	status, body, res := request(t, addr, http.MethodPost, "/s/cursor/k/"+testKey+"/sub?x=1", map[string]string{
		"Authorization":        "Bearer app-token",
		"Proxy-Authorization":  "Basic eA==",
		"Cookie":               "a=b",
		"DPoP":                 "app-proof",
		ipc.AppKeyHeader:       testKey,
		"Referer":              "http://page.example/",
		"Origin":               "http://page.example",
		"Content-Type":         "application/json",
		"Accept":               "application/json, text/event-stream",
		"Mcp-Session-Id":       "s-1",
		"Mcp-Protocol-Version": "2025-06-18",
		"Last-Event-ID":        "7",
		"X-Forwarded-For":      "10.0.0.1",
	})
	if status != http.StatusOK || body != `{"ok":true}` {
		t.Fatalf("answer %d %s", status, body)
	}
	seen := up.requests()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests", len(seen))
	}
	r := seen[0]
	if r.URL.Path != "/mcp/sub" || r.URL.RawQuery != "tenant=1&x=1" || r.Host != strings.TrimPrefix(up.URL, "http://") {
		t.Errorf("upstream saw %s %s?%s Host %s", r.Method, r.URL.Path, r.URL.RawQuery, r.Host)
	}
	for k, want := range map[string]string{
		"Authorization":        "Bearer " + testToken, // the daemon's, never the app's
		"Proxy-Authorization":  "",
		"Cookie":               "",
		"DPoP":                 "",
		ipc.AppKeyHeader:       "",
		"Referer":              "",
		"Origin":               "",
		"X-Forwarded-For":      "",
		"Content-Type":         "application/json",
		"Accept":               "application/json, text/event-stream",
		"Mcp-Session-Id":       "s-1",
		"Mcp-Protocol-Version": "2025-06-18",
		"Last-Event-ID":        "7",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("upstream got %s %q; want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{
		"Set-Cookie":              "",
		"WWW-Authenticate":        "",
		"Mcp-Session-Id":          "s-1",
		"Content-Type":            "application/json",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox",
	} {
		if got := res.Get(k); got != want {
			t.Errorf("app got %s %q; want %q", k, got, want)
		}
	}
	if strings.Contains(fmt.Sprint(res), testToken) {
		t.Error("the token reached the app")
	}
}

// TestKeyAndHost: the key in the path or the header; the path's wins; a
// wrong key, name or Host is refused before anything is forwarded.
func TestKeyAndHost(t *testing.T) {
	up := newUpstream(t)
	apps := &fakeApps{server: up.URL + "/mcp"}
	_, addr := proxy(t, apps, self)
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		name   string
		target string
		hdr    map[string]string
		want   int
	}{
		{"key in path", "/s/cursor/k/" + testKey, nil, 200},
		{"key in path, more path", "/s/cursor/k/" + testKey + "/sub", nil, 200},
		{"key in header", "/s/cursor", map[string]string{ipc.AppKeyHeader: testKey}, 200},
		{"key in header, more path", "/s/cursor/sub", map[string]string{ipc.AppKeyHeader: testKey}, 200},
		{"no key", "/s/cursor", nil, 403},
		{"wrong key in path", "/s/cursor/k/wrong", nil, 403},
		{"wrong key in header", "/s/cursor", map[string]string{ipc.AppKeyHeader: "wrong"}, 403},
		{"path key wins over header", "/s/cursor/k/wrong", map[string]string{ipc.AppKeyHeader: testKey}, 403},
		{"key as Authorization", "/s/cursor", map[string]string{"Authorization": "Bearer " + testKey}, 403},
		{"key in query", "/s/cursor?key=" + testKey, nil, 403},
		{"other app's name", "/s/other/k/" + testKey, nil, 403},
		{"not an app URL", "/k/" + testKey, nil, 404},
		{"DNS rebinding Host", "/s/cursor/k/" + testKey, map[string]string{"Host": "evil.example:" + port}, 403},
		{"other port", "/s/cursor/k/" + testKey, map[string]string{"Host": "127.0.0.1:1"}, 403},
		{"localhost", "/s/cursor/k/" + testKey, map[string]string{"Host": "localhost:" + port}, 200},
		{"[::1]", "/s/cursor/k/" + testKey, map[string]string{"Host": "[::1]:" + port}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.requests())
			c, err := net.Dial("tcp", addr)
			must(t, err)
			defer c.Close()
			host := addr
			hdr := map[string]string{}
			for k, v := range tc.hdr {
				if k == "Host" {
					host = v
				} else {
					hdr[k] = v
				}
			}
			status, body, _ := send(t, c, host, http.MethodPost, tc.target, hdr)
			if status != tc.want {
				t.Fatalf("%d %s; want %d", status, body, tc.want)
			}
			if forwarded := len(up.requests()) - before; (tc.want == 200) != (forwarded == 1) {
				t.Fatalf("answered %d and forwarded %d requests", status, forwarded)
			}
		})
	}
	apps.err = errors.New("keyring locked")
	if status, body, _ := request(t, addr, http.MethodPost, "/s/cursor/k/"+testKey, nil); status != http.StatusServiceUnavailable {
		t.Fatalf("unreadable keys: %d %s", status, body)
	}
}

// TestPathConfined: through the proxy, every dot variant is refused (400)
// with the right key, before the key is even compared, and nothing reaches
// the server; an ordinary path lands below the server's path.
func TestPathConfined(t *testing.T) {
	up := newUpstream(t)
	apps := &fakeApps{server: up.URL + "/mcp"}
	_, addr := proxy(t, apps, self)
	for _, rest := range dotVariants {
		for _, target := range []string{"/s/cursor/k/" + testKey + rest, "/s/cursor" + rest} {
			status, body, _ := request(t, addr, http.MethodPost, target, map[string]string{ipc.AppKeyHeader: testKey})
			if status != http.StatusBadRequest || !strings.Contains(body, "path refused") {
				t.Errorf("%s: %d %s; want 400 path refused", target, status, body)
			}
		}
	}
	for _, rest := range badEscapes {
		if status, body, _ := request(t, addr, http.MethodPost, "/s/cursor/k/"+testKey+rest, nil); status != http.StatusBadRequest {
			t.Errorf("%s: %d %s; want 400", rest, status, body)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the server saw %d requests: %v", n, up.requests()[0].URL)
	}
	if n := apps.calls.Load(); n != 0 {
		t.Errorf("the key was compared %d times for refused paths", n)
	}
	if status, body, _ := request(t, addr, http.MethodPost, "/s/cursor/k/"+testKey+"/a%20b/c/", nil); status != 200 {
		t.Fatalf("ordinary path: %d %s", status, body)
	}
	if got := up.requests()[0].URL.EscapedPath(); got != "/mcp/a%20b/c/" {
		t.Fatalf("the server saw %s; want /mcp/a%%20b/c/", got)
	}
}

// TestCallerChecked: a connection from another uid, or one whose owner
// cannot be found, is refused before the key is compared, whatever it
// sends; the owner is looked up once per connection; where the OS cannot
// tell, requests go on to the key check.
func TestCallerChecked(t *testing.T) {
	up := newUpstream(t)
	for _, tc := range []struct {
		name     string
		uid      int
		err      error
		want     int
		wantBody string
	}{
		{"own uid", os.Getuid(), nil, 200, ""},
		{"other uid", os.Getuid() + 1, nil, 403, fmt.Sprintf("comes from uid %d", os.Getuid()+1)},
		{"root is another user too", 0, nil, 403, "comes from uid 0"},
		{"owner not found", -1, errNoSocket, 403, "cannot tell which user"},
		{"OS cannot tell", -1, errors.ErrUnsupported, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.uid == os.Getuid() && tc.err == nil && tc.name != "own uid" {
				t.Skip("running as that uid")
			}
			apps := &fakeApps{server: up.URL + "/mcp"}
			var lookups atomic.Int32
			_, addr := proxy(t, apps, func(net.Conn) (int, error) { lookups.Add(1); return tc.uid, tc.err })
			before := len(up.requests())
			c, err := net.Dial("tcp", addr)
			must(t, err)
			defer c.Close()
			for range 2 { // two requests on one connection
				status, body, _ := send(t, c, addr, http.MethodPost, "/s/cursor/k/"+testKey, nil)
				if status != tc.want || !strings.Contains(body, tc.wantBody) {
					t.Fatalf("%d %s; want %d with %q", status, body, tc.want, tc.wantBody)
				}
			}
			if n := lookups.Load(); n != 1 {
				t.Errorf("%d lookups for one connection; want 1", n)
			}
			forwarded := len(up.requests()) - before
			if tc.want == 403 && (forwarded != 0 || apps.calls.Load() != 0) {
				t.Errorf("refused caller: %d forwarded, %d key checks", forwarded, apps.calls.Load())
			}
			if tc.want == 200 && forwarded != 2 {
				t.Errorf("%d forwarded; want 2", forwarded)
			}
		})
	}
	// A request that did not come through Serve's connections is refused.
	h := New(&fakeApps{server: up.URL}, "127.0.0.1:1", nil, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/s/cursor/k/"+testKey, nil))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("unchecked connection: %d", rec.Code)
	}
}

// TestListenTaken: a taken address is an error that names its holder
// (on Linux) and MCPAUTH_APPS_ADDR; a non-loopback address is refused.
func TestListenTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	_, err = Listen(l.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "MCPAUTH_APPS_ADDR") {
		t.Fatalf("taken: %v", err)
	}
	if PeerUIDChecked && !strings.Contains(err.Error(), fmt.Sprintf("uid %d", os.Getuid())) {
		t.Errorf("taken: %v; want the holder's uid", err)
	}
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:80", "localhost:80", "127.0.0.1", ""} {
		if l, err := Listen(addr); err == nil {
			l.Close()
			t.Errorf("Listen(%q) listened", addr)
		}
	}
}
