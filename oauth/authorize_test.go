package oauth_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// publicReg registers a public client at the fake and returns it bound to md.
func publicReg(f *fake, md *oauth.Metadata) *oauth.Registration {
	f.AddClient("public-client", "", oauth.AuthNone)
	return &oauth.Registration{Issuer: md.Issuer, ClientID: "public-client", AuthMethod: oauth.AuthNone, Method: oauth.MethodPreregistered}
}

func TestAuthorizePKCE(t *testing.T) {
	f := newFake(t)
	md := discoverFake(t, f)
	reg := publicReg(f, md)
	a, err := oauth.Authorize(md, reg, testRedirect, []string{"read", "offline_access"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if got := u.Scheme + "://" + u.Host + u.Path; got != f.AS.URL+"/authorize" {
		t.Errorf("authorization URL at %s", got)
	}
	want := map[string]string{
		"response_type":         "code",
		"client_id":             "public-client",
		"redirect_uri":          testRedirect,
		"code_challenge_method": "S256",
		"state":                 a.State,
		"resource":              f.ServerURL,
		"scope":                 "read offline_access",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q; want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("code_challenge")) != 43 {
		t.Errorf("code_challenge %q is not a base64url SHA-256", q.Get("code_challenge"))
	}
	if a.State == "" || len(a.State) < 16 {
		t.Errorf("state %q too short", a.State)
	}
	if q.Has("code_verifier") {
		t.Error("authorization URL carries code_verifier")
	}

	redirected, err := f.Browser(nil)(ctxT(t), a)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Complete(ctxT(t), newClient(), redirected)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.TokenType != "Bearer" || tok.Expiry.IsZero() ||
		!slices.Equal(tok.Scopes, []string{"read", "offline_access"}) {
		t.Errorf("token = %+v", tok)
	}
	reqs := f.TokenRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d token requests", len(reqs))
	}
	form := reqs[0].Form
	verifier := form.Get("code_verifier")
	if verifier == "" || s256(verifier) != q.Get("code_challenge") {
		t.Errorf("code_verifier %q does not match code_challenge %q", verifier, q.Get("code_challenge"))
	}
	if len(verifier) < 43 {
		t.Errorf("verifier %q shorter than RFC 7636 allows", verifier)
	}
	if strings.Contains(a.URL, verifier) {
		t.Error("authorization URL contains the verifier")
	}
	for k, v := range map[string]string{
		"grant_type":   "authorization_code",
		"resource":     f.ServerURL,
		"redirect_uri": testRedirect,
		"client_id":    "public-client",
	} {
		if form.Get(k) != v {
			t.Errorf("token request %s = %q; want %q", k, form.Get(k), v)
		}
	}
	if form.Has("client_secret") || reqs[0].Header.Get("Authorization") != "" {
		t.Error("public client sent a secret")
	}

	// Two requests never share state or verifier.
	b, _ := oauth.Authorize(md, reg, testRedirect, nil)
	bq, _ := url.Parse(b.URL)
	if b.State == a.State || bq.Query().Get("code_challenge") == q.Get("code_challenge") {
		t.Error("state or challenge reused between authorizations")
	}
	if bq.Query().Has("scope") {
		t.Errorf("no scopes requested but scope=%q sent", bq.Query().Get("scope"))
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	f := newFake(t)
	md := discoverFake(t, f)
	t.Run("registration for another issuer", func(t *testing.T) {
		reg := &oauth.Registration{Issuer: "https://other.example.com", ClientID: "x", AuthMethod: oauth.AuthNone}
		_, err := oauth.Authorize(md, reg, testRedirect, nil)
		wantErr(t, err, oauth.ErrClientMismatch, md.Issuer)
	})
	t.Run("no S256", func(t *testing.T) {
		md2 := *md
		as := *md.AuthServer
		as.CodeChallengeMethodsSupported = []string{"plain"}
		md2.AuthServer = &as
		_, err := oauth.Authorize(&md2, &oauth.Registration{Issuer: md.Issuer, ClientID: "x"}, testRedirect, nil)
		wantErr(t, err, oauth.ErrNoPKCE, md.Issuer)
	})
}

// manualMetadata is metadata for a made-up issuer whose endpoints are the
// fake's: the iss comparisons run against an issuer with a default port and
// a case-foldable host.
func manualMetadata(f *fake, issuer string, advertised bool) *oauth.Metadata {
	return &oauth.Metadata{
		ServerURL: f.ServerURL,
		Resource:  f.ServerURL,
		Issuer:    issuer,
		AuthServer: &oauthex.AuthServerMeta{
			Issuer:                        issuer,
			AuthorizationEndpoint:         f.AS.URL + "/authorize",
			TokenEndpoint:                 f.AS.URL + "/token",
			CodeChallengeMethodsSupported: []string{"S256"},
			AuthorizationResponseIssParameterSupported: advertised,
		},
	}
}

func TestCompleteIss(t *testing.T) {
	const issuer = "https://auth.example.com/tenant"
	set := func(v string) func(q url.Values) { return func(q url.Values) { q.Set("iss", v) } }
	omit := func(q url.Values) { q.Del("iss") }
	deny := func(iss string) func(q url.Values) {
		return func(q url.Values) {
			q.Del("code")
			q.Set("error", "access_denied")
			q.Set("error_description", "SHOWN-ONLY-IF-ISS-OK")
			if iss == "" {
				q.Del("iss")
			} else {
				q.Set("iss", iss)
			}
		}
	}
	tests := []struct {
		name       string
		advertised bool
		mutate     func(q url.Values)
		want       error // nil: exchanged
	}{
		{"advertised, present, equal", true, set(issuer), nil},
		{"advertised, absent", true, omit, oauth.ErrIssMissing},
		{"advertised, empty", true, set(""), oauth.ErrIssMismatch},
		{"advertised, present, different", true, set("https://evil.example.com/tenant"), oauth.ErrIssMismatch},
		{"not advertised, present, equal", false, set(issuer), nil},
		{"not advertised, absent", false, omit, nil},
		{"not advertised, present, different", false, set("https://evil.example.com/tenant"), oauth.ErrIssMismatch},
		{"trailing slash", true, set(issuer + "/"), oauth.ErrIssMismatch},
		{"trailing slash, not advertised", false, set(issuer + "/"), oauth.ErrIssMismatch},
		{"host case", true, set("https://AUTH.example.com/tenant"), oauth.ErrIssMismatch},
		{"scheme case", true, set("HTTPS://auth.example.com/tenant"), oauth.ErrIssMismatch},
		{"path case", true, set("https://auth.example.com/Tenant"), oauth.ErrIssMismatch},
		{"default port", true, set("https://auth.example.com:443/tenant"), oauth.ErrIssMismatch},
		{"percent-encoded", true, set("https://auth.example.com/%74enant"), oauth.ErrIssMismatch},
		{"error with mismatched iss", true, deny("https://evil.example.com/tenant"), oauth.ErrIssMismatch},
		{"error with mismatched iss, not advertised", false, deny("https://evil.example.com/tenant"), oauth.ErrIssMismatch},
		{"error without iss, advertised", true, deny(""), oauth.ErrIssMissing},
		{"error with correct iss", true, deny(issuer), oauth.ErrAuthorization},
		{"error without iss, not advertised", false, deny(""), oauth.ErrAuthorization},
		{"state mismatch", true, func(q url.Values) { q.Set("state", "forged"); q.Set("iss", issuer) }, oauth.ErrState},
		{"state missing", true, func(q url.Values) { q.Del("state"); q.Set("iss", issuer) }, oauth.ErrState},
		{"state mismatch wins over iss mismatch", true, func(q url.Values) { q.Set("state", "x"); q.Set("iss", "https://evil") }, oauth.ErrState},
		{"no code", true, func(q url.Values) { q.Del("code"); q.Set("iss", issuer) }, oauth.ErrAuthorization},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			md := manualMetadata(f, issuer, tt.advertised)
			reg := publicReg(f, md)
			a, err := oauth.Authorize(md, reg, testRedirect, []string{"read"})
			if err != nil {
				t.Fatal(err)
			}
			redirected, err := f.Browser(tt.mutate)(ctxT(t), a)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := a.Complete(ctxT(t), newClient(), redirected)
			n, _, exchanges := f.Counts()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Complete: %v", err)
				}
				if tok.AccessToken == "" || exchanges != 1 {
					t.Errorf("token %+v after %d exchanges", tok, exchanges)
				}
				return
			}
			wantErr(t, err, tt.want, issuer)
			if n != 0 {
				t.Errorf("%d token requests made; the code must not be sent", n)
			}
			if tt.want != oauth.ErrAuthorization && strings.Contains(err.Error(), "SHOWN-ONLY-IF-ISS-OK") {
				t.Errorf("error %q displays error_description of an unvalidated response", err)
			}
			if tt.want == oauth.ErrAuthorization && strings.Contains(redirected, "access_denied") &&
				!strings.Contains(err.Error(), "access_denied") {
				t.Errorf("error %q does not say what the AS answered", err)
			}
		})
	}
}

func TestCompleteAgainstFakeIssuer(t *testing.T) {
	// The real discovery path: the fake advertises iss and sends its issuer.
	for _, issuerPath := range []string{"", "/tenant1"} {
		t.Run("issuer path "+issuerPath, func(t *testing.T) {
			f := newFakeWith(t, fakeOptions{IssuerPath: issuerPath})
			md := discoverFake(t, f)
			reg := publicReg(f, md)
			a, _ := oauth.Authorize(md, reg, testRedirect, nil)
			redirected, err := f.Browser(nil)(ctxT(t), a)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Complete(ctxT(t), newClient(), redirected); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCompleteTokenErrors(t *testing.T) {
	tests := []struct {
		name string
		set  func(f *fake)
		want error
	}{
		{"invalid_grant", func(f *fake) { f.CodeError = "invalid_grant" }, oauth.ErrInvalidGrant},
		{"invalid_client", func(f *fake) { f.InvalidClients["public-client"] = true }, oauth.ErrInvalidClient},
		{"server_error", func(f *fake) { f.CodeError = "server_error" }, oauth.ErrToken},
		{"HTTP 500 text", func(f *fake) { f.Handlers["as:/token"] = rawHandler(500, "text/plain", "boom") }, oauth.ErrToken},
		{"no access_token", func(f *fake) {
			f.Handlers["as:/token"] = rawHandler(200, "application/json", `{"token_type":"Bearer"}`)
		}, oauth.ErrToken},
		{"token_type DPoP", func(f *fake) {
			f.Handlers["as:/token"] = rawHandler(200, "application/json", `{"access_token":"x","token_type":"DPoP"}`)
		}, oauth.ErrToken},
		{"garbled JSON", func(f *fake) {
			f.Handlers["as:/token"] = rawHandler(200, "application/json", `{"access_token":"SECRET-AT`)
		}, oauth.ErrToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			md := discoverFake(t, f)
			reg := publicReg(f, md)
			f.Configure(tt.set)
			a, _ := oauth.Authorize(md, reg, testRedirect, nil)
			redirected, err := f.Browser(nil)(ctxT(t), a)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Complete(ctxT(t), newClient(), redirected)
			wantErr(t, err, tt.want, f.AS.URL+"/token")
			if strings.Contains(err.Error(), "SECRET-AT") {
				t.Errorf("error %q leaks the token response", err)
			}
		})
	}
}

func TestSelectScopes(t *testing.T) {
	md := func(prm []string, as []string) *oauth.Metadata {
		m := &oauth.Metadata{AuthServer: &oauthex.AuthServerMeta{ScopesSupported: as}}
		if prm != nil {
			m.Protected = &oauthex.ProtectedResourceMetadata{ScopesSupported: prm}
		}
		return m
	}
	ch := func(s ...string) *oauth.Challenge { return &oauth.Challenge{Status: 401, Scopes: s} }
	tests := []struct {
		name        string
		ch          *oauth.Challenge
		md          *oauth.Metadata
		prev, extra []string
		wantRefresh bool
		want        []string
	}{
		{"challenge wins", ch("files:read"), md([]string{"a", "b"}, nil), nil, nil, false, []string{"files:read"}},
		{"challenge superset of PRM", ch("a", "b", "c"), md([]string{"a"}, nil), nil, nil, false, []string{"a", "b", "c"}},
		{"PRM scopes without challenge scope", ch(), md([]string{"a", "b"}, nil), nil, nil, false, []string{"a", "b"}},
		{"PRM scopes without challenge", nil, md([]string{"a", "b"}, nil), nil, nil, false, []string{"a", "b"}},
		{"none", nil, md(nil, nil), nil, nil, false, nil},
		{"PRM without scopes_supported", ch(), md([]string{}, []string{"x"}), nil, nil, false, nil},
		{"offline_access when listed", ch("a"), md(nil, []string{"a", "offline_access"}), nil, nil, true, []string{"a", "offline_access"}},
		{"offline_access not listed", ch("a"), md(nil, []string{"a"}), nil, nil, true, []string{"a"}},
		{"offline_access not wanted", ch("a"), md(nil, []string{"offline_access"}), nil, nil, false, []string{"a"}},
		{"offline_access never alone", nil, md(nil, []string{"offline_access"}), nil, nil, true, nil},
		{"offline_access not duplicated", ch("offline_access", "a"), md(nil, []string{"offline_access"}), nil, nil, true, []string{"offline_access", "a"}},
		{"union with previous keeps order", ch("b", "c"), md(nil, nil), []string{"a", "b"}, nil, false, []string{"a", "b", "c"}},
		{"union dedupes within sets", ch("c", "c", "a"), md(nil, nil), []string{"a", "a"}, []string{"d", "c"}, false, []string{"a", "c", "d"}},
		{"previous, PRM and extra", nil, md([]string{"p"}, []string{"offline_access"}), []string{"x"}, []string{"e"}, true, []string{"x", "p", "e", "offline_access"}},
		{"empty strings dropped", ch("", "a"), md(nil, nil), []string{""}, []string{""}, false, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := oauth.SelectScopes(tt.ch, tt.md, tt.prev, tt.extra, tt.wantRefresh)
			if !slices.Equal(got, tt.want) {
				t.Errorf("SelectScopes = %q; want %q", got, tt.want)
			}
		})
	}
}

// A further account's sign-in asks the user to choose the identity where
// the authorization server supports prompt=select_account, and only there;
// a login hint goes wherever the user asked for one.
func TestAuthorizeSelectAccount(t *testing.T) {
	f := newFake(t)
	base := discoverFake(t, f)
	reg := publicReg(f, base)
	for _, c := range []struct {
		name         string
		promptValues []string
		metadataURL  string
		openidScope  bool
		scopes       []string
		sel, hint    bool
		provider     string
		wantPrompt   string
	}{
		{name: "plain OAuth server: no prompt", sel: true, wantPrompt: ""},
		{name: "listed", promptValues: []string{"none", "login", "select_account"}, sel: true, wantPrompt: "select_account"},
		{name: "listed, with offline_access", promptValues: []string{"consent", "select_account"}, scopes: []string{"offline_access"}, sel: true, wantPrompt: "select_account consent"},
		{name: "not listed", promptValues: []string{"login", "consent"}, metadataURL: "https://as.example/.well-known/openid-configuration", sel: true, wantPrompt: ""},
		{name: "OpenID provider without the list (Hydra refuses it)", metadataURL: "https://as.example/.well-known/openid-configuration", openidScope: true, sel: true, hint: true, wantPrompt: ""},
		{name: "provider row that takes it, with its own prompt", provider: "google", sel: true, wantPrompt: "select_account consent"},
		{name: "provider row, first account", provider: "google", wantPrompt: "consent"},
		{name: "listed, the provider row set aside", provider: "none", promptValues: []string{"select_account"}, sel: true, wantPrompt: "select_account"},
		{name: "first account: nothing asked", promptValues: []string{"select_account"}, wantPrompt: ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			md := *base
			as := *base.AuthServer
			if c.openidScope {
				as.ScopesSupported = append(slices.Clone(as.ScopesSupported), "openid")
			}
			md.AuthServer, md.PromptValues = &as, c.promptValues
			if c.metadataURL != "" {
				md.AuthServerMetadataURL = c.metadataURL
			}
			o := &oauth.Overrides{SelectAccount: c.sel, Quirk: c.provider}
			if c.hint {
				o.LoginHint = "me@example.com"
			}
			md.Quirk = oauth.ResolveQuirk(md.Issuer, o)
			a, err := oauth.Authorize(&md, reg, testRedirect, c.scopes)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(a.URL)
			if got := u.Query().Get("prompt"); got != c.wantPrompt {
				t.Errorf("prompt = %q, want %q", got, c.wantPrompt)
			}
			if got, want := u.Query().Get("login_hint"), map[bool]string{true: "me@example.com"}[c.hint]; got != want {
				t.Errorf("login_hint = %q, want %q", got, want)
			}
		})
	}
}
