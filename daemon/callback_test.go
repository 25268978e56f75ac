package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// boundDaemon runs a daemon with its real loopback listener; the links it
// asks the browser to open arrive on the returned channel.
func boundDaemon(t *testing.T) (*daemon.Daemon, <-chan string) {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	opened := make(chan string, 4)
	d, err := daemon.New(daemon.Config{
		Store: st, Logger: log, CallbackAddr: addr, LoginTimeout: time.Minute,
		OpenBrowser: func(u string) error { opened <- u; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.Handler()}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); d.Close(); st.Close() })
	return d, opened
}

var noFollow = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func status(t *testing.T, d *daemon.Daemon, u string) ipc.State {
	t.Helper()
	for _, s := range d.Servers() {
		if s.URL == u {
			return s.Status
		}
	}
	t.Fatalf("no server %s", u)
	return ""
}

// TestCallbackBoundToBrowser: a sign-in through the browser is bound to
// the browser that opened its start link. Redirects with the right state
// but without that browser's cookie (another account's code, a forged
// access_denied, a wrong cookie value) are refused and leave the sign-in
// waiting; the real browser then finishes it with its own code; the used
// callback and start link are dead afterwards.
func TestCallbackBoundToBrowser(t *testing.T) {
	as := testfake.NewDeviceAS(t)
	d, opened := boundDaemon(t)
	mcpURL := as.Srv.URL + "/mcp"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	lr, err := d.Login(ctx, &ipc.LoginRequest{URL: mcpURL})
	if err != nil {
		t.Fatal(err)
	}
	link := <-opened
	if link != lr.AuthURL || !strings.HasPrefix(link, d.LoopbackURL()+"/start/") {
		t.Fatalf("the browser was given %q (login answered %q); want the loopback start link", link, lr.AuthURL)
	}
	if strings.Contains(link, "state=") || strings.Contains(link, "code_challenge") {
		t.Fatalf("the start link carries the authorization request: %s", link)
	}

	// The user's browser opens the start link: a binding cookie, and on to
	// the authorization request.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: noFollow}
	res, _ := get(t, browser, link)
	authURL := res.Header.Get("Location")
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(authURL, as.Srv.URL+"/authorize?") {
		t.Fatalf("start link: %s, Location %q", res.Status, authURL)
	}
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("start link set %d cookies, want 1", len(cookies))
	}
	ck := cookies[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/callback" || ck.MaxAge <= 0 || len(ck.Value) < 20 {
		t.Fatalf("binding cookie %+v: want HttpOnly, SameSite=Lax, Path=/callback, a lifetime and a long random value", ck)
	}
	au, _ := url.Parse(authURL)
	state := au.Query().Get("state")

	// Another program that learnt the state: its own code, a forged
	// refusal, a guessed cookie. Each is refused; the sign-in still waits.
	attacker := &http.Client{CheckRedirect: noFollow}
	for _, q := range []url.Values{
		{"code": {"attacker-code"}, "state": {state}, "iss": {as.Srv.URL}},
		{"error": {"access_denied"}, "state": {state}},
	} {
		res, body := get(t, attacker, d.CallbackURL()+"?"+q.Encode())
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "did not start this sign-in") {
			t.Fatalf("callback without the cookie (%v): %s\n%s", q, res.Status, body)
		}
		if st := status(t, d, mcpURL); st != ipc.StateSigningIn {
			t.Fatalf("after a refused callback the server is %s, want still signing in", st)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, d.CallbackURL()+"?"+url.Values{"code": {"attacker-code"}, "state": {state}}.Encode(), nil)
	req.AddCookie(&http.Cookie{Name: ck.Name, Value: strings.Repeat("A", len(ck.Value))})
	if res, err := attacker.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("callback with a wrong cookie value: %v %v, want 403", res.Status, err)
	}

	// The real browser goes on: the authorization server approves and
	// sends it back to the callback, with the cookie.
	res, _ = get(t, browser, authURL)
	back := res.Header.Get("Location")
	res, body := get(t, browser, back)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Signed in") {
		t.Fatalf("the real browser's callback: %s\n%s", res.Status, body)
	}
	done, err := d.WaitLogin(ctx, lr.ID)
	if err != nil || done.Server.Status != ipc.StateSignedIn {
		t.Fatalf("sign-in: %+v %v", done, err)
	}
	as.Mu.Lock()
	redeemed := url.Values(as.TokenForm).Get("code")
	as.Mu.Unlock()
	if redeemed != "auth-code-1" {
		t.Fatalf("the daemon redeemed code %q, want the real browser's auth-code-1", redeemed)
	}
	if ck := res.Cookies(); len(ck) != 1 || ck[0].MaxAge >= 0 {
		t.Errorf("the callback did not clear the binding cookie: %+v", ck)
	}

	// Replays: the callback and the start link are spent.
	if res, _ := get(t, browser, back); res.StatusCode == http.StatusOK {
		t.Fatal("a replayed callback was accepted")
	}
	if res, body := get(t, browser, link); res.StatusCode != http.StatusNotFound || !strings.Contains(body, "no longer valid") {
		t.Fatalf("the start link after the sign-in: %s\n%s", res.Status, body)
	}
	if st := status(t, d, mcpURL); st != ipc.StateSignedIn {
		t.Fatalf("after the replays the server is %s", st)
	}
}

// TestCallbackNoBrowserNeedsPaste: a NoBrowser sign-in opened no start
// link, so no browser is bound to it: its redirect at the loopback callback
// is refused without ending it, and the same URL pasted through Complete
// (the socket's path, which needs no cookie) finishes it.
func TestCallbackNoBrowserNeedsPaste(t *testing.T) {
	as := testfake.NewDeviceAS(t)
	as.NoDevice = true // the browser path, not the device grant
	d, opened := boundDaemon(t)
	mcpURL := as.Srv.URL + "/mcp"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lr, err := d.Login(ctx, &ipc.LoginRequest{URL: mcpURL, NoBrowser: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lr.AuthURL, as.Srv.URL+"/authorize?") {
		t.Fatalf("a NoBrowser sign-in answered %q; want the authorization URL to print", lr.AuthURL)
	}
	c := &http.Client{CheckRedirect: noFollow}
	res, _ := get(t, c, lr.AuthURL)
	back := res.Header.Get("Location")
	if res, _ := get(t, c, back); res.StatusCode != http.StatusForbidden {
		t.Fatalf("an unbound browser at the callback: %s, want 403", res.Status)
	}
	if st := status(t, d, mcpURL); st != ipc.StateSigningIn {
		t.Fatalf("after the refused callback the server is %s", st)
	}
	if res, err := d.Complete(ctx, back); err != nil || res.Server.Status != ipc.StateSignedIn {
		t.Fatalf("pasted redirect: %+v %v", res, err)
	}
	select {
	case u := <-opened:
		t.Fatalf("a NoBrowser sign-in opened the browser on %s", u)
	default:
	}
}
