package e2e

// MCPAUTHD_APPROVAL_SCREENSHOTS=/path/docs saves approval.png (a request
// waiting on the web page) and apps.png (the apps list) there, for the
// README.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebApproval: with approval = ask, headless Chromium shows a new
// app's waiting request on the web page and approves it with one click;
// the apps list then shows the apps with their decisions (always, denied,
// none once an app allowed once has exited), last use and count, and a
// Revoke button makes the next request ask again.
func TestWebApproval(t *testing.T) {
	ctx := webBrowser(t)
	a := newFlakyAS(t)
	in := newInstance(t)
	a.signIn(t, in)
	in.restart()
	in.env = append(in.env, "MCPAUTH_APPROVAL=ask")
	link := strings.TrimSpace(in.must("ui", "--print"))
	webDo(t, ctx, "open the page", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)))
	shots := os.Getenv("MCPAUTHD_APPROVAL_SCREENSHOTS")
	shoot := func(name string, sel string) {
		if shots == "" {
			return
		}
		webDo(t, ctx, "settle", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`), chromedp.Sleep(300*time.Millisecond))
		png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	editor := app(t, "editor-app")
	wait := runApp(t, in, editor, "token", a.url)
	webWait(t, ctx, "the waiting request", `() => document.querySelector("article.approval")?.innerText.includes("editor-app asks for your token")`, "")
	if txt := webEval[string](t, ctx, `document.querySelector("article.approval").innerText`); !strings.Contains(txt, editor) {
		t.Errorf("the waiting request does not name the program %s:\n%s", editor, txt)
	}
	shoot("approval.png", "#pending-section")
	webDo(t, ctx, "approve always", chromedp.Click(chromedp.CSS(`article.approval button[data-decide="always"]`)))
	if out, _ := wait(); strings.TrimSpace(out) != "200" {
		t.Fatalf("the request approved on the page: %q", out)
	}
	webWait(t, ctx, "the request to leave the page", `() => document.getElementById("pending-section").hidden`, "")

	// Another app, allowed once, for a fuller list.
	chat := app(t, "chat-app")
	wait = runApp(t, in, chat, "token", a.url)
	webWait(t, ctx, "the second request", `() => document.querySelector("article.approval")?.innerText.includes("chat-app")`, "")
	webDo(t, ctx, "approve once", chromedp.Click(chromedp.CSS(`article.approval button[data-decide="once"]`)))
	if out, _ := wait(); strings.TrimSpace(out) != "200" {
		t.Fatalf("the request approved once on the page: %q", out)
	}
	// A third, denied on the page.
	scanner := app(t, "scanner")
	wait = runApp(t, in, scanner, "token", a.url)
	webWait(t, ctx, "the third request", `() => document.querySelector("article.approval")?.innerText.includes("scanner")`, "")
	webDo(t, ctx, "deny", chromedp.Click(chromedp.CSS(`article.approval button[data-decide="deny"]`)))
	if out, _ := wait(); strings.TrimSpace(out) != "403 denied" {
		t.Fatalf("the request denied on the page: %q", out)
	}
	row := `(n) => [...document.querySelectorAll("#apps tbody tr")].find(r => r.cells[0].textContent === n)`
	webWait(t, ctx, "editor-app in the apps list", `(n) => { const r = (`+row+`)(n); return r && r.cells[2].textContent === "Always allowed" && r.cells[4].textContent !== "—" }`, "editor-app")
	// chat-app has exited: its "once" ended with it; its use stays listed.
	webWait(t, ctx, "chat-app in the apps list", `(n) => { const r = (`+row+`)(n); return r && r.cells[2].textContent === "—" && r.cells[4].textContent === "1" }`, "chat-app")
	webWait(t, ctx, "scanner in the apps list", `(n) => (`+row+`)(n)?.cells[2].textContent === "Denied"`, "scanner")
	shoot("apps.png", "#apps")

	// Revoke on the page: the next request waits again.
	webDo(t, ctx, "revoke", chromedp.Click(chromedp.CSS(`#apps button[data-revoke="exe:`+editor+`"]`)))
	webWait(t, ctx, "the decision to go", `(n) => (`+row+`)(n)?.cells[2].textContent === "—"`, "editor-app")
	wait = runApp(t, in, editor, "token", a.url)
	webWait(t, ctx, "the request after revocation", `() => document.querySelector("article.approval")?.innerText.includes("editor-app")`, "")
	webDo(t, ctx, "allow once", chromedp.Click(chromedp.CSS(`article.approval button[data-decide="once"]`)))
	if out, _ := wait(); strings.TrimSpace(out) != "200" {
		t.Fatalf("the request allowed after revocation: %q", out)
	}
}
