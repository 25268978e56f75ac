package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestWebPageAccounts: in a real browser, the page signs in to a second
// account of a server from the name field on its card, lists both accounts
// with their state, and signs out of one, which leaves the other.
func TestWebPageAccounts(t *testing.T) {
	ctx := webBrowser(t)
	in := newInstance(t)
	a := newFlakyAS(t)
	own := a.signIn(t, in)
	link := strings.TrimSpace(in.must("ui", "--print"))
	webDo(t, ctx, "open the page", chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)))
	card := `article[data-url="` + a.url + `"]`
	webDo(t, ctx, "sign in to another account",
		chromedp.SendKeys(chromedp.CSS(card+` .account-name`), "work"),
		chromedp.Click(chromedp.CSS(card+` button[data-action="login-account"]`)))
	row := `(u) => document.querySelector('article[data-url="' + CSS.escape(u) + '"] li.account[data-account="work"]')`
	webWait(t, ctx, "the work account to be signed in", `(u) => (`+row+`)(u)?.querySelector(".badge")?.classList.contains("signed_in")`, a.url)
	webWait(t, ctx, "the notice to say the account is signed in", `() => document.getElementById("notice").textContent.startsWith("Signed in to ") && document.getElementById("notice").textContent.includes("account work")`, "")
	work := strings.TrimSpace(in.must("token", a.url, "--account", "work"))
	if work == own || a.mcpStatus(t, work) != 200 {
		t.Fatal("the account signed in from the page has no working token of its own")
	}
	if rows := webEval[int](t, ctx, `document.querySelectorAll('`+card+` li.account').length`); rows != 2 {
		t.Fatalf("the card lists %d accounts, want 2", rows)
	}

	webDo(t, ctx, "sign out of work", chromedp.Click(chromedp.CSS(card+` li.account[data-account="work"] button[data-action="logout"]`)))
	webWait(t, ctx, "the work account to be gone", `(u) => !(`+row+`)(u)`, a.url)
	if _, _, code := in.run("token", a.url, "--account", "work"); code != 3 {
		t.Errorf("token --account work after signing out on the page: exit %d, want 3", code)
	}
	if got := strings.TrimSpace(in.must("token", a.url)); got != own {
		t.Error("signing out of work on the page touched the default account")
	}
	if st := in.serverInfo(a.url); st.Status != ipc.StateSignedIn {
		t.Errorf("the server after signing out of work: %s", st.Status)
	}
}
