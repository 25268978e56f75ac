package e2e

// The web page in a real browser (Debian's chromium, driven by chromedp)
// against the real binary and the TypeScript SDK example server: add a
// server, watch it sign in (the daemon's $BROWSER is this test binary, see
// TestMain), reveal its token, sign out, remove. The page's HTTP walls are
// tested in webui/webui_test.go.
//
// MCPAUTHD_WEB_SCREENSHOT=/path/web.png saves a picture of the page with the
// signed-in server (docs/web.png in the README).

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mcpauthd/mcpauthd/ipc"
)

const chromiumPath = "/usr/bin/chromium"

// webBrowser starts a headless chromium with a fresh profile.
func webBrowser(t *testing.T) context.Context {
	_, err := os.Stat(chromiumPath)
	need(t, err == nil, "chromium at "+chromiumPath+" (apt-get install chromium)")
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

// webDo runs browser steps, failing the test on error.
func webDo(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// webWait waits until the JavaScript function pred(url) is true on the page.
func webWait(t *testing.T, ctx context.Context, what, pred, serverURL string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.PollFunction[bool](pred,
		chromedp.WithPollingArgs(serverURL), chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
		t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, html)
	}
}

func webEval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func TestWebPage(t *testing.T) {
	ctx := webBrowser(t)
	mcpURL := tsServer(t)
	in := newInstance(t)
	in.must("status")
	st, err := ipc.NewClient(in.socket()).Status(context.Background())
	if err != nil || st.WebURL == "" {
		t.Fatalf("status: %+v %v; want a web URL", st, err)
	}
	origin := strings.SplitN(st.WebURL, "/ui?", 2)[0]

	// mcpauthd ui hands a one-time link to $BROWSER (this test binary).
	if out := in.must("ui"); !strings.Contains(out, "Opened the mcpauthd page") {
		t.Fatalf("mcpauthd ui: %q", out)
	}
	link := strings.TrimSpace(in.must("ui", "--print"))
	if strings.Contains(link, "k=") || !strings.HasPrefix(link, origin+"/ui?t=") {
		t.Fatalf("mcpauthd ui --print gave %q; want a one-time link without the entry secret", link)
	}
	webDo(t, ctx, "open the page", chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)))
	if href := webEval[string](t, ctx, "location.href"); href != origin+"/ui" {
		t.Fatalf("after the entry link the address is %q, want %s/ui", href, origin)
	}
	if res, err := http.Get(link); err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("a used one-time link from another client: %v %v, want 403", res.Status, err)
	}

	// Add the server; the daemon opens "the browser" (this test binary),
	// which approves, and the page follows the sign-in live.
	card := `(u) => document.querySelector('article[data-url="' + CSS.escape(u) + '"]')`
	webDo(t, ctx, "add the server", chromedp.SendKeys(chromedp.ID("add-url"), mcpURL), chromedp.Click(chromedp.ID("add-submit")))
	webWait(t, ctx, "the server to be signed in", `(u) => (`+card+`)(u)?.dataset.status === "signed_in"`, mcpURL)
	webWait(t, ctx, "the server's description", `(u) => (`+card+`)(u)?.querySelector(".name").textContent !== u`, mcpURL)
	if n := webEval[string](t, ctx, `document.getElementById("notice").textContent`); !strings.HasPrefix(n, "Signed in to ") {
		t.Errorf("notice after the sign-in: %q", n)
	}
	facts := webEval[string](t, ctx, `document.querySelector("article .facts").innerText`)
	for _, want := range []string{"expires in", "Dynamic registration", "http://localhost:"} {
		if !strings.Contains(facts, want) {
			t.Errorf("server facts lack %q:\n%s", want, facts)
		}
	}

	// An app takes a token; the page never shows it until asked.
	tok := strings.TrimSpace(in.must("token", mcpURL))
	if html := webEval[string](t, ctx, "document.documentElement.outerHTML"); strings.Contains(html, tok) {
		t.Fatal("the page shows the access token without a reveal")
	}
	sel := func(action string) chromedp.CSS {
		return chromedp.CSS(`article[data-url="` + mcpURL + `"] button[data-action="` + action + `"]`)
	}
	webDo(t, ctx, "reveal the token", chromedp.Click(sel("reveal")), chromedp.WaitVisible(chromedp.ID("reveal-token")))
	if got, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("reveal-token"))); err != nil || got != tok {
		t.Fatalf("revealed token differs from mcpauthd token's (%v)", err)
	}
	webWait(t, ctx, "the reveal in the hand-out log", `() => [...document.querySelectorAll("#audit td.exe")].map(e => e.textContent).includes("mcpauthd web page")`, "")
	webDo(t, ctx, "close the token", chromedp.Click(chromedp.ID("reveal-close")), chromedp.WaitNotVisible(chromedp.ID("reveal")))
	if v := webEval[string](t, ctx, `document.getElementById("reveal-token").value`); v != "" {
		t.Fatal("the token stays in the page after closing")
	}
	if rows := webEval[int](t, ctx, `document.querySelectorAll("#audit tbody tr").length`); rows < 2 {
		t.Fatalf("hand-out log has %d rows, want the CLI's and the page's", rows)
	}
	if p := os.Getenv("MCPAUTHD_WEB_SCREENSHOT"); p != "" {
		webDo(t, ctx, "settle", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`), chromedp.Sleep(300*time.Millisecond))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Sign out: the daemon forgets the tokens, the page follows.
	webDo(t, ctx, "sign out", chromedp.Click(sel("logout")))
	webWait(t, ctx, "the server to be signed out", `(u) => (`+card+`)(u)?.dataset.status === "signed_out"`, mcpURL)
	if _, errs, code := in.run("token", mcpURL); code != 3 {
		t.Fatalf("token after signing out on the page: exit %d, %s; want 3", code, errs)
	}

	// Remove (two clicks: the first asks to confirm).
	webDo(t, ctx, "remove", chromedp.Click(sel("remove")), chromedp.Click(sel("remove")))
	webWait(t, ctx, "the server to be gone", `(u) => !(`+card+`)(u) && !document.getElementById("no-servers").hidden`, mcpURL)
	if out := strings.TrimSpace(in.must("list", "--json")); out != "[]" && out != "null" {
		t.Fatalf("list after removing on the page: %s", out)
	}

	// A new daemon start has a new entry secret: the old one opens nothing,
	// and the page reports that its session ended.
	if err := ipc.NewClient(in.socket()).Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitGone(t, in.socket())
	webWait(t, ctx, "the page to notice the daemon went away", `() => document.getElementById("conn").dataset.state !== "live"`, "")
	in.must("status")
	st2, err := ipc.NewClient(in.socket()).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u1, _ := url.Parse(st.WebURL)
	u2, _ := url.Parse(st2.WebURL)
	if u1.Query().Get("k") == u2.Query().Get("k") {
		t.Fatal("the entry secret did not change with the restart")
	}
	if res, err := http.Get(st.WebURL); err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("the previous start's entry URL: %v %v, want 403", res.Status, err)
	}
	webWait(t, ctx, "the page to report its session ended", `() => document.getElementById("conn").dataset.state === "closed"`, "")
}
