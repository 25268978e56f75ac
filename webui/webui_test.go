package webui_test

// Plain-HTTP tests of the page's walls, against a real daemon (real
// registry) serving the page on its real loopback listener. The browser
// flow (sign in, sign out, remove, reveal) is internal/e2e/web_test.go.

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
	"github.com/mcpauthd/mcpauthd/webui"
	"github.com/mcpauthd/mcpauthd/webui/webentry"
)

type env struct {
	t     *testing.T
	h     *webui.Handler
	addr  string // host:port of the loopback listener
	entry string
}

// start runs a daemon with its own registry and the web page on a free
// loopback port; opts adjust the daemon's Config.
func start(t *testing.T, opts ...func(*daemon.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	cfg := daemon.Config{Store: st, Logger: log, CallbackAddr: addr}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Served as cmd/mcpauthd serves it: the daemon's routes and the page
	// on one loopback listener.
	h := webui.New(d, d.LoopbackURL(), log)
	d.SetWebURL(h.EntryURL())
	mux := http.NewServeMux()
	d.Mount(mux)
	mux.Handle("/", h)
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); d.Close() })
	if got := d.Status().WebURL; got != h.EntryURL() {
		t.Fatalf("Status().WebURL = %q, want the entry URL", got)
	}
	return &env{t: t, h: h, addr: addr, entry: h.EntryURL()}
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

type req struct {
	method, path, body string
	host, cookie, csrf string
	origin             string
}

func (e *env) do(r req) (*http.Response, string) {
	e.t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	u := r.path
	if !strings.HasPrefix(u, "http") {
		u = "http://" + e.addr + r.path
	}
	hr, err := http.NewRequest(r.method, u, strings.NewReader(r.body))
	if err != nil {
		e.t.Fatal(err)
	}
	if r.host != "" {
		hr.Host = r.host
	}
	if r.cookie != "" {
		hr.Header.Set("Cookie", r.cookie)
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.csrf != "" {
		hr.Header.Set("X-CSRF-Token", r.csrf)
	}
	if r.origin != "" {
		hr.Header.Set("Origin", r.origin)
	}
	res, err := noRedirect.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	checkHeaders(e.t, r.method+" "+r.path, res)
	return res, string(b)
}

// checkHeaders wants the security headers on every answer, refusals included.
func checkHeaders(t *testing.T, what string, res *http.Response) {
	t.Helper()
	want := map[string]string{
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
	for k, v := range want {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: Content-Security-Policy allows inline or eval'd script: %q", what, csp)
	}
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// login opens the entry link and returns the session cookie ("name=value")
// and the page's CSRF token.
func (e *env) login(link string) (cookie, csrf string) {
	e.t.Helper()
	res, _ := e.do(req{path: link})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui" {
		e.t.Fatalf("entry link: %s, Location %q; want 303 to /ui", res.Status, res.Header.Get("Location"))
	}
	cs := res.Cookies()
	if len(cs) != 1 {
		e.t.Fatalf("entry link set %d cookies, want 1", len(cs))
	}
	c := cs[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		e.t.Fatalf("session cookie %q: want HttpOnly, SameSite=Strict, Path=/", res.Header.Get("Set-Cookie"))
	}
	cookie = c.Name + "=" + c.Value
	res, body := e.do(req{path: "/ui", cookie: cookie})
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /ui with the session: %s", res.Status)
	}
	m := csrfMeta.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatal("the page carries no CSRF token")
	}
	if strings.Contains(body, secretOf(e.t, e.entry)) {
		e.t.Fatal("the page contains the entry secret")
	}
	return cookie, m[1]
}

func secretOf(t *testing.T, entry string) string {
	u, err := url.Parse(entry)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(webentry.SecretParam)
}

func TestEntrySetsSessionAndDropsSecret(t *testing.T) {
	e := start(t)
	if !strings.HasPrefix(e.entry, "http://"+e.addr+"/ui?k=") || len(secretOf(t, e.entry)) < 26 {
		t.Fatalf("entry URL %q: want http://%s/ui?k=<secret>", e.entry, e.addr)
	}
	cookie, csrf := e.login(e.entry)
	for _, p := range []string{"/static/app.js", "/static/style.css", "/"} {
		if res, _ := e.do(req{path: p, cookie: cookie}); res.StatusCode/100 != 2 && res.StatusCode != http.StatusSeeOther {
			t.Errorf("GET %s with the session: %s", p, res.Status)
		}
	}
	// A valid POST: an action on an unknown server is the daemon's error,
	// as JSON, not a refusal.
	res, body := e.do(req{method: "POST", path: "/api/refresh", body: `{"url":"https://nowhere.example/mcp"}`, cookie: cookie, csrf: csrf, origin: "http://" + e.addr})
	var ie ipc.Error
	if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(body), &ie) != nil || ie.Code != ipc.CodeNotFound {
		t.Fatalf("refresh of an unknown server: %s %s; want 400 not_found", res.Status, body)
	}
	// A wrong secret opens nothing.
	bad := strings.Replace(e.entry, "k=", "k=x", 1)
	if res, _ := e.do(req{path: bad}); res.StatusCode != http.StatusForbidden || len(res.Cookies()) != 0 {
		t.Fatalf("wrong entry secret: %s, %d cookies; want 403 and none", res.Status, len(res.Cookies()))
	}
}

func TestNoCookieRefused(t *testing.T) {
	e := start(t)
	cookie, csrf := e.login(e.entry)
	other := "mcpauthd_session_x=" + strings.Repeat("A", 52)
	for _, r := range []req{
		{path: "/ui"},
		{path: "/"},
		{path: "/static/app.js"},
		{path: "/api/events"},
		{method: "POST", path: "/api/logout", body: `{"url":"x"}`, csrf: csrf},
		{path: "/ui", cookie: strings.SplitN(cookie, "=", 2)[0] + "=forged"},
		{path: "/ui", cookie: other},
	} {
		if res, _ := e.do(r); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a session: %s, want 401", r.method, r.path, res.Status)
		}
	}
}

func TestForeignHostRefused(t *testing.T) {
	e := start(t)
	cookie, csrf := e.login(e.entry)
	_, port, _ := net.SplitHostPort(e.addr)
	for _, host := range []string{"evil.example", "evil.example:" + port, "localhost:" + port, "127.0.0.1", "127.0.0.1:1"} {
		for _, r := range []req{
			{path: "/ui", cookie: cookie},
			{path: e.entry},
			{method: "POST", path: "/api/logout", body: `{"url":"x"}`, cookie: cookie, csrf: csrf},
		} {
			r.host = host
			if res, _ := e.do(r); res.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("Host %s, %s %s: %s, want 421", host, r.method, r.path, res.Status)
			}
		}
	}
}

func TestPostNeedsCSRF(t *testing.T) {
	e := start(t)
	cookie, csrf := e.login(e.entry)
	_, csrf2 := e.login(e.entry) // another session's token
	body := `{"url":"https://nowhere.example/mcp"}`
	for name, r := range map[string]req{
		"no token":              {cookie: cookie},
		"wrong token":           {cookie: cookie, csrf: csrf + "x"},
		"other session's token": {cookie: cookie, csrf: csrf2},
		"foreign Origin":        {cookie: cookie, csrf: csrf, origin: "http://evil.example"},
	} {
		for _, p := range []string{"/api/login", "/api/refresh", "/api/logout", "/api/remove", "/api/reveal", "/api/doctor"} {
			r.method, r.path, r.body = "POST", p, body
			if res, _ := e.do(r); res.StatusCode != http.StatusForbidden {
				t.Errorf("%s: POST %s: %s, want 403", name, p, res.Status)
			}
		}
	}
	// A form post (the one body a cross-site page can send without CORS) is
	// refused even with the token.
	r := req{method: "POST", path: "/api/logout", cookie: cookie, csrf: csrf}
	hr, _ := http.NewRequest(r.method, "http://"+e.addr+r.path, strings.NewReader("url=x"))
	hr.Header.Set("Cookie", cookie)
	hr.Header.Set("X-CSRF-Token", csrf)
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := noRedirect.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("form-encoded POST: %s, want 403", res.Status)
	}
}

func TestEntrySecretRotatesPerStart(t *testing.T) {
	a, b := start(t), start(t)
	if secretOf(t, a.entry) == secretOf(t, b.entry) {
		t.Fatal("two starts share an entry secret")
	}
	stale := "http://" + b.addr + "/ui?k=" + secretOf(t, a.entry)
	if res, _ := b.do(req{path: stale}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("an earlier start's secret: %s, want 403", res.Status)
	}
	link, err := webentry.OneTime(a.entry)
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := b.do(req{path: strings.Replace(link, a.addr, b.addr, 1)}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("a ticket from an earlier start's secret: %s, want 403", res.Status)
	}
}

func TestOneTimeLink(t *testing.T) {
	e := start(t)
	link, err := webentry.OneTime(e.entry)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(link, secretOf(t, e.entry)) || strings.Contains(link, "k=") {
		t.Fatalf("one-time link %q carries the entry secret", link)
	}
	cookie, _ := e.login(link)
	if cookie == "" {
		t.Fatal("no session")
	}
	if res, _ := e.do(req{path: link}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("second use of a one-time link: %s, want 403", res.Status)
	}
	// Expired, and minted too far ahead.
	secret := secretOf(t, e.entry)
	for name, at := range map[string]time.Time{
		"expired":      time.Now().Add(-webentry.TTL - time.Second),
		"future-dated": time.Now().Add(time.Hour),
	} {
		p := "/ui?" + url.Values{webentry.TicketParam: {webentry.Mint(secret, at)}}.Encode()
		if res, _ := e.do(req{path: p}); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s ticket: %s, want 403", name, res.Status)
		}
	}
}

func TestEventsStream(t *testing.T) {
	e := start(t)
	cookie, _ := e.login(e.entry)
	hr, _ := http.NewRequest("GET", "http://"+e.addr+"/api/events", nil)
	hr.Header.Set("Cookie", cookie)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events Content-Type %q", ct)
	}
	buf := make([]byte, 4096)
	n, _ := res.Body.Read(buf)
	first := string(buf[:n])
	if !strings.Contains(first, "event: state\ndata: {") || !strings.Contains(first, `"servers":[]`) {
		t.Fatalf("first event: %q", first)
	}
}
