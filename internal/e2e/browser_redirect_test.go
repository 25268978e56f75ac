package e2e

// A real browser (Debian's chromium, driven by chromedp) handed what
// mcpauthd hands a browser: the file:// URL of its private redirect page.
// It follows the meta refresh to the daemon's start link, takes the
// binding cookie across the authorization server (another site:
// localhost, not 127.0.0.1) and back to the callback, and signs in.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestRealBrowserFollowsRedirectPage(t *testing.T) {
	ctx := webBrowser(t)
	mcpURL := tsServer(t)
	in := newInstance(t)
	relay := filepath.Join(t.TempDir(), "relay")
	in.env = append(in.env, browserRelay+"="+relay)
	in.must("status")

	login := make(chan string, 1)
	go func() { out, errs, _ := in.run("login", mcpURL); login <- out + errs }()
	var page string
	for deadline := time.Now().Add(30 * time.Second); page == ""; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(relay); len(b) > 0 {
			page = strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon never handed the browser a page")
		}
	}
	if !strings.HasPrefix(page, "file:///") {
		t.Fatalf("the browser was handed %q", page)
	}
	webDo(t, ctx, "open the redirect page", chromedp.Navigate(page))
	// The page navigates on by itself: look again until it has landed
	// (a look during a navigation fails; that is no answer).
	var where string
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(where, "Signed in"); time.Sleep(100 * time.Millisecond) {
		if v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`)); err == nil {
			where = v
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser did not reach the signed-in callback page; it is at:\n%s", where)
		}
	}
	if !strings.HasPrefix(where, in.callbackURL()) {
		t.Fatalf("the browser ended at %s, not mcpauthd's callback", where)
	}
	select {
	case out := <-login:
		if !strings.Contains(out, "Signed in to") {
			t.Fatalf("login: %s", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("login did not finish after the browser's callback")
	}
}

// callbackURL is the daemon's loopback callback (MCPAUTH_CALLBACK_ADDR).
func (in *instance) callbackURL() string {
	for _, e := range in.env {
		if a, ok := strings.CutPrefix(e, "MCPAUTH_CALLBACK_ADDR="); ok {
			return "http://" + a + "/callback"
		}
	}
	return ""
}
