package oauth_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// followRedirect plays the browser for the testfake providers: it takes the
// authorization URL to the provider's redirect.
var followRedirect = (*fake)(nil).Browser(nil)

// TestOfflineAccessAsksConsent: a stock OpenID provider (OIDC Core §11
// enforced, metadata only at openid-configuration) issues a refresh token
// only because the request for offline_access carries prompt=consent; and
// the refresh works with it.
func TestOfflineAccessAsksConsent(t *testing.T) {
	as := testfake.NewProviderAS(t, testfake.StyleOIDC)
	f := &oauth.Flow{HTTP: newClient(), Client: testClientConfig(), Registrations: newMemRegs(), WantRefresh: true}
	g, err := f.Login(ctxT(t), oauth.LoginRequest{ServerURL: as.URL, Browser: followRedirect})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	q := as.LastAuthorization()
	if !slices.Contains(strings.Fields(q.Get("scope")), oauth.OfflineAccess) || q.Get("prompt") != "consent" {
		t.Fatalf("authorization request scope %q prompt %q; want offline_access with prompt=consent", q.Get("scope"), q.Get("prompt"))
	}
	if g.Token.RefreshToken == "" {
		t.Fatal("no refresh token from an OpenID provider that was asked with prompt=consent")
	}
	tok, err := oauth.Refresh(ctxT(t), newClient(), g.Metadata, g.Registration, g.Token.RefreshToken, g.Token.Scopes)
	if err != nil || !as.Accepts(tok.AccessToken) {
		t.Fatalf("refresh: %v", err)
	}

	// Without offline_access (WantRefresh off) there is no prompt to add.
	f.WantRefresh = false
	if _, err := f.Login(ctxT(t), oauth.LoginRequest{ServerURL: as.URL, Browser: followRedirect}); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if q := as.LastAuthorization(); q.Has("prompt") || strings.Contains(q.Get("scope"), oauth.OfflineAccess) {
		t.Errorf("without offline_access the request still says scope %q prompt %q", q.Get("scope"), q.Get("prompt"))
	}
}

// TestQuirkRows signs in to a fake of every provider in the quirks table,
// with the row selected by override (the fakes run on loopback, not at the
// provider's issuer), refreshes, and checks what the provider insists on.
func TestQuirkRows(t *testing.T) {
	type check func(t *testing.T, as *testfake.ProviderAS, g *oauth.Grant)
	rows := []struct {
		style, quirk string
		prereg       bool
		check        check
	}{
		{testfake.StyleGoogle, "google", true, func(t *testing.T, as *testfake.ProviderAS, g *oauth.Grant) {
			q := as.LastAuthorization()
			if q.Get("access_type") != "offline" || q.Get("prompt") != "consent" {
				t.Errorf("authorization %v lacks access_type=offline prompt=consent", q)
			}
		}},
		{testfake.StyleEntra, "entra", true, func(t *testing.T, as *testfake.ProviderAS, g *oauth.Grant) {
			q := as.LastAuthorization()
			if want := as.URL + "/.default"; !slices.Contains(strings.Fields(q.Get("scope")), want) {
				t.Errorf("scope %q; want %s", q.Get("scope"), want)
			}
		}},
		{testfake.StyleAuth0, "auth0", false, nil},
		{testfake.StyleSlack, "slack", true, nil},
		{testfake.StyleCognito, "cognito", true, func(t *testing.T, as *testfake.ProviderAS, g *oauth.Grant) {
			if g.Token.AccessToken != g.Token.IDToken {
				t.Error("the ID token is not the token handed out")
			}
		}},
		{testfake.StyleGitHub, "github", true, nil},
		{testfake.StyleObot, "", false, nil},
	}
	for _, r := range rows {
		t.Run(r.style, func(t *testing.T) {
			as := testfake.NewProviderAS(t, r.style)
			f := &oauth.Flow{HTTP: newClient(), Client: testClientConfig(), Registrations: newMemRegs(), WantRefresh: true}
			req := oauth.LoginRequest{ServerURL: as.URL, Browser: followRedirect, Overrides: &oauth.Overrides{Quirk: r.quirk}}
			if r.prereg {
				req.Preregistered = &oauth.Registration{ClientID: as.ClientID, ClientSecret: as.ClientSecret}
			}
			g, err := f.Login(ctxT(t), req)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if !as.Accepts(g.Token.AccessToken) {
				t.Fatal("the MCP server does not accept the token handed out")
			}
			if g.Token.RefreshToken == "" {
				t.Fatal("no refresh token")
			}
			if r.quirk != "" && (g.Metadata.Quirk == nil || g.Metadata.Quirk.Name != r.quirk) {
				t.Errorf("quirk %+v; want %s", g.Metadata.Quirk, r.quirk)
			}
			if r.check != nil {
				r.check(t, as, g)
			}
			tok, err := oauth.Refresh(ctxT(t), newClient(), g.Metadata, g.Registration, g.Token.RefreshToken, g.Token.Scopes)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if !as.Accepts(tok.AccessToken) || tok.RefreshToken == "" {
				t.Fatalf("refreshed token accepted %v, refresh token kept %v", as.Accepts(tok.AccessToken), tok.RefreshToken != "")
			}
			// A dead refresh token means "sign in again" (invalid_grant,
			// or the provider's own way of saying it).
			as.KillRefreshTokens()
			_, err = oauth.Refresh(ctxT(t), newClient(), g.Metadata, g.Registration, tok.RefreshToken, g.Token.Scopes)
			if !errors.Is(err, oauth.ErrInvalidGrant) {
				t.Errorf("refresh with a dead refresh token: %v; want invalid_grant", err)
			}
		})
	}
}

// TestQuirkNoRegistration: where the provider offers or allows no
// registration, the error says what to do for that provider.
func TestQuirkNoRegistration(t *testing.T) {
	for _, r := range []struct{ style, quirk, want string }{
		{testfake.StyleGitHub, "github", "https://github.com/settings/applications/new"},
		{testfake.StyleKeycloak, "keycloak", "Trusted Hosts"},
		{testfake.StyleGoogle, "google", "--client-id"},
	} {
		t.Run(r.style, func(t *testing.T) {
			as := testfake.NewProviderAS(t, r.style)
			f := &oauth.Flow{HTTP: newClient(), Client: testClientConfig(), Registrations: newMemRegs(), WantRefresh: true}
			_, err := f.Login(ctxT(t), oauth.LoginRequest{ServerURL: as.URL, Browser: followRedirect, Overrides: &oauth.Overrides{Quirk: r.quirk}})
			if !errors.Is(err, oauth.ErrRegistration) || !strings.Contains(err.Error(), r.want) || !strings.Contains(err.Error(), testRedirect) {
				t.Fatalf("err = %v; want a registration error naming %q and the redirect URI", err, r.want)
			}
		})
	}
}

// TestQuirkFor: rows are found by the issuer's host or path; overrides
// pick, drop or change them.
func TestQuirkFor(t *testing.T) {
	for issuer, want := range map[string]string{
		"https://login.microsoftonline.com/tenant/v2.0":             "entra",
		"https://accounts.google.com":                               "google",
		"https://acme.us.auth0.com/":                                "auth0",
		"https://slack.com":                                         "slack",
		"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc": "cognito",
		"https://github.com/login/oauth":                            "github",
		"https://sso.example.com/realms/main":                       "keycloak",
		"https://as.example.com":                                    "",
		"https://evil.example.com/accounts.google.com":              "",
		"https://accounts.google.com.evil.example":                  "",
	} {
		got := ""
		if q := oauth.QuirkFor(issuer); q != nil {
			got = q.Name
		}
		if got != want {
			t.Errorf("QuirkFor(%s) = %q; want %q", issuer, got, want)
		}
	}
	if q := oauth.ResolveQuirk("https://accounts.google.com", &oauth.Overrides{Quirk: "none"}); q != nil {
		t.Errorf("quirk none still applies %+v", q)
	}
	yes := true
	q := oauth.ResolveQuirk("https://as.example.com", &oauth.Overrides{AuthParams: map[string]string{"audience": "x"}, Resource: "omit", UseIDToken: &yes})
	if q == nil || q.AuthParams["audience"] != "x" || q.Resource != oauth.ResourceOmit || !q.UseIDToken || q.Summary() == "" {
		t.Errorf("overrides not applied: %+v", q)
	}
	if g := oauth.ResolveQuirk("https://accounts.google.com", &oauth.Overrides{AuthParams: map[string]string{"prompt": "select_account"}}); g.AuthParams["prompt"] != "select_account" || g.AuthParams["access_type"] != "offline" {
		t.Errorf("override over the google row: %+v", g.AuthParams)
	}
	for _, bad := range []oauth.Overrides{{Quirk: "nope"}, {AuthParams: map[string]string{"redirect_uri": "x"}}, {AuthParams: map[string]string{"state": "x"}}, {Resource: "rename"}, {TokenAuthMethod: "tls"}} {
		if err := bad.Check(); err == nil {
			t.Errorf("Check(%+v) = nil", bad)
		}
	}
}

// TestDoctor: the report of a server that a sign-in would succeed at names
// the URLs that answered and the scopes, and registers nothing; the report
// of one without registration fails there with what to do.
func TestDoctor(t *testing.T) {
	as := testfake.NewProviderAS(t, testfake.StyleOIDC)
	r := oauth.Doctor(ctxT(t), newClient(), testClientConfig(), as.URL, false, nil)
	if r.Failed() {
		t.Fatalf("report failed: %+v", r.Steps)
	}
	text := fmt.Sprint(r.Steps)
	for _, want := range []string{as.Issuer + "/.well-known/openid-configuration", "/.well-known/oauth-protected-resource/mcp",
		"dynamic registration at " + as.Issuer + "/register", "offline_access with prompt=consent"} {
		if !strings.Contains(text, want) {
			t.Errorf("report does not say %q: %s", want, text)
		}
	}
	as.Mu.Lock()
	regs := as.Registrations
	as.Mu.Unlock()
	if regs != 0 || as.AuthorizationCount() != 0 {
		t.Error("doctor registered a client or started an authorization")
	}

	gh := testfake.NewProviderAS(t, testfake.StyleGitHub)
	r = oauth.Doctor(ctxT(t), newClient(), testClientConfig(), gh.URL, false, &oauth.Overrides{Quirk: "github"})
	last := r.Steps[len(r.Steps)-1]
	for _, s := range r.Steps {
		if s.Outcome == oauth.DoctorFail {
			last = s
		}
	}
	if !r.Failed() || last.Step != "registration" || !strings.Contains(last.Detail, "github.com/settings/applications/new") {
		t.Errorf("GitHub without a client: %+v", r.Steps)
	}
	if r := oauth.Doctor(ctxT(t), newClient(), testClientConfig(), gh.URL, true, &oauth.Overrides{Quirk: "github"}); r.Failed() {
		t.Errorf("GitHub with a pre-registered client: %+v", r.Steps)
	}
}

// TestDoctorFailures: each way discovery can fail is reported at its step,
// naming what is wrong; a public server needs no sign-in.
func TestDoctorFailures(t *testing.T) {
	for _, tt := range []struct {
		name, step, want string
		configure        func(f *fake)
	}{
		{"public", "", "no sign-in needed", func(f *fake) { f.MCPPublic = true }},
		{"resource mismatch", "resource", "another resource", func(f *fake) { f.PRM["resource"] = "https://other.example/mcp" }},
		{"issuer mismatch", "authorization-server metadata", "issuer", func(f *fake) { f.ASMeta["issuer"] = "https://other.example" }},
		{"no PKCE", "PKCE", "PKCE", func(f *fake) { delete(f.ASMeta, "code_challenge_methods_supported") }},
		{"no AS metadata", "authorization-server metadata", "no metadata", func(f *fake) { f.ASMeta = nil }},
		{"no registration", "registration", "--client-id", func(f *fake) { delete(f.ASMeta, "registration_endpoint") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.configure)
			r := oauth.Doctor(ctxT(t), newClient(), testClientConfig(), f.ServerURL, false, nil)
			last := r.Steps[len(r.Steps)-1]
			for _, s := range r.Steps {
				if s.Outcome == oauth.DoctorFail {
					last = s
					break
				}
			}
			if tt.step == "" {
				if r.Failed() || !strings.Contains(last.Detail, tt.want) {
					t.Fatalf("report %+v; want no failure, saying %q", r.Steps, tt.want)
				}
				return
			}
			if !r.Failed() || last.Step != tt.step || !strings.Contains(last.Detail, tt.want) {
				t.Fatalf("report %+v; want a failure at %q saying %q", r.Steps, tt.step, tt.want)
			}
		})
	}
}

// TestQuirkResourceEveryRequest: the quirk's resource handling applies to
// every request that carries the resource indicator, not just the
// authorization code's: the client check, the device authorization and its
// token polls, and the non-interactive grants.
func TestQuirkResourceEveryRequest(t *testing.T) {
	var mu sync.Mutex
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		forms = append(forms, r.PostForm)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/device" {
			_, _ = w.Write([]byte(`{"device_code":"d","user_code":"U","verification_uri":"` + "http://" + r.Host + `/verify","interval":1,"expires_in":60}`))
			return
		}
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"access_denied"}`))
	}))
	defer srv.Close()
	for _, mode := range []string{oauth.ResourceOmit, oauth.ResourceAudience} {
		forms = nil
		md := &oauth.Metadata{ServerURL: srv.URL + "/mcp", Resource: srv.URL + "/mcp", Issuer: srv.URL, DeviceAuthorizationEndpoint: srv.URL + "/device",
			AuthServer: &oauthex.AuthServerMeta{Issuer: srv.URL, TokenEndpoint: srv.URL + "/token", AuthorizationEndpoint: srv.URL + "/authorize"},
			Quirk:      &oauth.Quirk{Resource: mode}}
		reg := &oauth.Registration{Issuer: srv.URL, ClientID: "c", AuthMethod: oauth.AuthNone}
		_ = oauth.CheckClient(ctxT(t), newClient(), md, reg, testRedirect)
		if d, err := oauth.StartDevice(ctxT(t), newClient(), md, reg, nil); err != nil {
			t.Fatalf("StartDevice: %v", err)
		} else {
			_, _ = d.Wait(ctxT(t), newClient())
		}
		cc := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "c", ClientSecret: "s3cret"}}
		_, _, _ = cc.Obtain(ctxT(t), newClient(), md, nil)
		mu.Lock()
		if len(forms) != 4 {
			t.Fatalf("%s: %d requests; want 4", mode, len(forms))
		}
		for i, f := range forms {
			if f.Has("resource") || (mode == oauth.ResourceAudience) != (f.Get("audience") == md.Resource) {
				t.Errorf("%s: request %d sent %v", mode, i, f)
			}
		}
		mu.Unlock()
	}
}
