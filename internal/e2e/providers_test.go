package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// refreshNow refreshes url's token through the daemon's API and returns the
// token then handed out.
func (in *instance) refreshNow(url string) string {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := ipc.NewClient(in.socket()).Refresh(ctx, url); err != nil {
		in.t.Fatalf("refresh %s: %v", url, err)
	}
	return strings.TrimSpace(in.must("token", url))
}

// TestProviderOIDCOfflineConsent: through the real binary, a stock OpenID
// provider that enforces OIDC Core §11 (offline_access counts only with
// prompt=consent) issues a refresh token, which then refreshes.
func TestProviderOIDCOfflineConsent(t *testing.T) {
	as := testfake.NewProviderAS(t, testfake.StyleOIDC)
	in := newInstance(t)
	login(t, in, as.URL)
	if q := as.LastAuthorization(); q.Get("prompt") != "consent" {
		t.Errorf("authorization request prompt %q; want consent", q.Get("prompt"))
	}
	if info := in.serverInfo(as.URL); !info.HasRefreshToken {
		t.Fatalf("no refresh token after signing in to an OpenID provider: %+v", info)
	}
	before := strings.TrimSpace(in.must("token", as.URL))
	after := in.refreshNow(as.URL)
	if after == before || !as.Accepts(after) {
		t.Fatal("the refreshed token is not a new token the server accepts")
	}
}

// secretFile writes the fake's pre-registered client secret to a 0600 file.
func secretFile(t *testing.T, as *testfake.ProviderAS) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(as.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestProviderQuirks signs in through the real binary to a fake of every
// provider of the quirks table. The fakes run on loopback, not at the
// provider's issuer, so the row is chosen with --provider (kept with the
// server); each fake refuses or issues unusable tokens when its quirk is
// not handled. The token handed out must work at the MCP server, list must
// say what was done, and a refresh must give a working token and keep the
// refresh token (Google's refresh answers carry none).
func TestProviderQuirks(t *testing.T) {
	in := newInstance(t)
	for _, r := range []struct {
		style, provider, note string
		prereg                bool
	}{
		{testfake.StyleGoogle, "google", "Google: offline access requested", true},
		{testfake.StyleEntra, "entra", "no resource parameter", true},
		{testfake.StyleAuth0, "auth0", "audience", false},
		{testfake.StyleSlack, "slack", "Slack", true},
		{testfake.StyleCognito, "cognito", "ID token", true},
		{testfake.StyleGitHub, "github", "GitHub", true},
	} {
		t.Run(r.style, func(t *testing.T) {
			as := testfake.NewProviderAS(t, r.style)
			args := []string{"login", as.URL, "--provider", r.provider}
			if r.prereg {
				args = append(args, "--client-id", as.ClientID, "--client-secret-file", secretFile(t, as))
			}
			out := in.must(args...)
			if !strings.Contains(out, "Signed in") || !strings.Contains(out, r.note) {
				t.Errorf("login said %q; want it signed in, naming %q", out, r.note)
			}
			tok := strings.TrimSpace(in.must("token", as.URL))
			if !as.Accepts(tok) || initializeStatus(t, as.URL, tok) != 200 {
				t.Fatal("the MCP server does not accept the token handed out")
			}
			info := in.serverInfo(as.URL)
			if !strings.Contains(info.Provider, r.note) || !info.HasRefreshToken {
				t.Errorf("list: provider %q, refresh token %v; want %q and a refresh token", info.Provider, info.HasRefreshToken, r.note)
			}
			if list := in.must("list"); !strings.Contains(list, r.note) {
				t.Errorf("list does not show %q:\n%s", r.note, list)
			}
			for range 2 { // twice: the second uses the refresh token the first kept
				if after := in.refreshNow(as.URL); after == tok || !as.Accepts(after) {
					t.Fatal("refresh did not give a new working token")
				}
			}
		})
	}
}

// TestProviderOverridesKept: provider settings given to login are kept with
// the server: after a restart, a new sign-in without flags still omits the
// resource parameter Entra refuses, and a refresh still works.
func TestProviderOverridesKept(t *testing.T) {
	as := testfake.NewProviderAS(t, testfake.StyleEntra)
	in := newInstance(t)
	in.must("login", as.URL, "--disable-resource-parameter", "--scope", as.URL+"/.default", "--authorize-param", "login_hint=me@example.com",
		"--client-id", as.ClientID, "--client-secret-file", secretFile(t, as))
	if q := as.LastAuthorization(); q.Has("resource") || q.Get("login_hint") != "me@example.com" {
		t.Fatalf("authorization request %v; want no resource and the login_hint", q)
	}
	in.restart()
	in.must("status") // starts the daemon again
	in.refreshNow(as.URL)
	n := as.AuthorizationCount()
	in.must("login", as.URL)
	if as.AuthorizationCount() != n+1 || as.LastAuthorization().Get("login_hint") != "me@example.com" {
		t.Fatal("the second sign-in did not keep the server's settings")
	}
	if _, errs, code := in.run("login", as.URL, "--authorize-param", "state=x"); code == 0 || !strings.Contains(errs, `"state"`) {
		t.Errorf("an override of state was accepted (exit %d): %s", code, errs)
	}
	// --provider auto drops the kept settings: this fake is not at Entra's
	// issuer, so the next sign-in sends resource (and Entra refuses it).
	if _, _, code := in.run("login", as.URL, "--provider", "auto"); code == 0 {
		t.Error("a sign-in without the settings Entra needs succeeded")
	}
	if q := as.LastAuthorization(); !q.Has("resource") || q.Has("login_hint") {
		t.Errorf("after --provider auto the authorization request is %v; want the kept settings gone", q)
	}
}

// TestProviderNoRegistration: GitHub (no registration endpoint) and
// Keycloak (anonymous registration refused) fail with what to do, naming
// the redirect URI to register.
func TestProviderNoRegistration(t *testing.T) {
	in := newInstance(t)
	for _, r := range []struct{ style, provider, want string }{
		{testfake.StyleGitHub, "github", "https://github.com/settings/applications/new"},
		{testfake.StyleKeycloak, "keycloak", "Trusted Hosts"},
	} {
		as := testfake.NewProviderAS(t, r.style)
		_, errs, code := in.run("login", as.URL, "--provider", r.provider)
		if code == 0 || !strings.Contains(errs, r.want) || !strings.Contains(errs, "--client-id") || !strings.Contains(errs, "/callback") {
			t.Errorf("%s: exit %d, stderr %q; want a failure naming %q, --client-id and the redirect URI", r.style, code, errs, r.want)
		}
	}
}

// TestProviderDeadRefreshInvalidRequest: a server that answers
// invalid_request for a dead refresh token (Obot) gets the user asked to
// sign in again, not refreshes retried forever.
func TestProviderDeadRefreshInvalidRequest(t *testing.T) {
	as := testfake.NewProviderAS(t, testfake.StyleObot)
	in := newInstance(t)
	login(t, in, as.URL)
	as.KillRefreshTokens()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := ipc.NewClient(in.socket()).Refresh(ctx, as.URL)
	if err == nil {
		t.Fatal("a dead refresh token refreshed")
	}
	if info := in.serverInfo(as.URL); info.Status != ipc.StateNeedsSignIn {
		t.Errorf("after a dead refresh token: %s %q; want %s", info.Status, info.StatusMessage, ipc.StateNeedsSignIn)
	}
}

// TestProviderProxyMCPRemoteFlags: an app config written for mcp-remote
// against an Entra-protected server (--disable-resource-parameter,
// --static-oauth-client-info @FILE, --authorize-param) works unchanged with
// `mcpauthd proxy`: its first request signs in with those settings, which
// stay with the server. A client secret on the command line is refused.
func TestProviderProxyMCPRemoteFlags(t *testing.T) {
	as := testfake.NewProviderAS(t, testfake.StyleEntra)
	in := newInstance(t)
	info := filepath.Join(t.TempDir(), "client.json")
	if err := os.WriteFile(info, []byte(`{"client_id":"`+as.ClientID+`","client_secret":"`+as.ClientSecret+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs atomic.Int32
	cs, _, _ := in.startProxy(t, ctx, &logs, nil, as.URL, "--disable-resource-parameter", "--static-oauth-client-info", "@"+info,
		"--static-oauth-client-metadata", `{"scope":"`+as.URL+`/.default"}`,
		"--authorize-param", "login_hint=me@example.com", "--authorize-param", "domain_hint=example.com")
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"}); err != nil {
		t.Fatalf("whoami through the proxy: %v", err)
	}
	_ = cs.Close()
	q := as.LastAuthorization()
	if q.Has("resource") || q.Get("login_hint") != "me@example.com" || q.Get("domain_hint") != "example.com" || q.Get("client_id") != as.ClientID {
		t.Errorf("authorization request %v; want the proxy's settings", q)
	}
	if p := in.serverInfo(as.URL).Provider; !strings.Contains(p, "resource parameter: omit") {
		t.Errorf("list says provider %q", p)
	}
	_, errs, code := in.run("proxy", as.URL, "--static-oauth-client-info", `{"client_id":"c","client_secret":"do-not-echo"}`)
	if code != 2 || !strings.Contains(errs, "@FILE") || strings.Contains(errs, "do-not-echo") {
		t.Errorf("inline client secret: exit %d, stderr %q; want a refusal (2) naming @FILE, without the secret", code, errs)
	}
}

// TestDoctor: `mcpauthd doctor URL` through the real binary explains a
// server without signing in (human and --json), fails with exit 1 and what
// to do where a sign-in would fail, and for a signed-in server adds the
// token's state.
func TestDoctor(t *testing.T) {
	in := newInstance(t)
	gh := testfake.NewProviderAS(t, testfake.StyleGitHub)
	out, _, code := in.run("doctor", gh.URL)
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "--client-id") {
		t.Errorf("doctor of a server without registration: exit %d\n%s", code, out)
	}
	as := testfake.NewProviderAS(t, testfake.StyleOIDC)
	out = in.must("doctor", as.URL)
	t.Logf("mcpauthd doctor:\n%s", out)
	for _, want := range []string{"openid-configuration", "oauth-protected-resource", "dynamic registration", "mcpauthd login " + as.URL} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if as.AuthorizationCount() != 0 || len(in.servers()) != 0 {
		t.Error("doctor started a sign-in or added a server")
	}
	login(t, in, as.URL)
	var r ipc.DoctorReport
	if err := json.Unmarshal([]byte(in.must("doctor", "--json", as.URL)), &r); err != nil || r.Failed || len(r.Steps) == 0 {
		t.Fatalf("doctor --json: %v %+v", err, r)
	}
	steps := map[string]ipc.DoctorStep{}
	for _, st := range r.Steps {
		steps[st.Step] = st
	}
	if st := steps["token"]; !strings.Contains(st.Detail, "refreshed automatically") {
		t.Errorf("signed-in server: token step %+v", st)
	}
	if st := steps["token at the server"]; st.Outcome != "ok" {
		t.Errorf("signed-in server: the token was not tried, or refused: %+v", st)
	}
	// A token the server no longer accepts is a failure, with what to do.
	as.KillAccessTokens()
	out, _, code = in.run("doctor", as.URL)
	if code != 1 || !strings.Contains(out, "refuses the current access token") || !strings.Contains(out, "mcpauthd login") {
		t.Errorf("doctor with a refused token: exit %d\n%s", code, out)
	}
}

// TestWebDoctor: in a real browser, adding a server whose sign-in cannot
// start (a GitHub-style authorization server without registration) shows
// the doctor's report under the form, with the failing step and what to do.
func TestWebDoctor(t *testing.T) {
	ctx := webBrowser(t)
	gh := testfake.NewProviderAS(t, testfake.StyleGitHub)
	in := newInstance(t)
	link := strings.TrimSpace(in.must("ui", "--print"))
	webDo(t, ctx, "open the page", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)))
	webDo(t, ctx, "add the server", chromedp.SendKeys(chromedp.ID("add-url"), gh.URL), chromedp.Click(chromedp.ID("add-submit")))
	webWait(t, ctx, "the doctor's report", `() => !document.getElementById("doctor").hidden`, "")
	text := webEval[string](t, ctx, `document.getElementById("doctor").innerText`)
	fail := webEval[string](t, ctx, `document.querySelector("#doctor .step.fail")?.innerText ?? ""`)
	if !strings.Contains(text, gh.URL) || !strings.Contains(fail, "registration") || !strings.Contains(fail, "--client-id") {
		t.Errorf("doctor panel:\n%s\nfailing step %q", text, fail)
	}
}
