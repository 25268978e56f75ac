package oauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// OfflineAccess is the scope that asks an OpenID-style authorization server
// for a refresh token.
const OfflineAccess = "offline_access"

// SelectScopes returns the scopes to request, by the spec's strategy: the
// challenge's scope when present, else the protected resource's
// scopes_supported, else none; united with the scopes requested before (so a
// step-up keeps what was granted) and any the user asked for; plus
// offline_access when the authorization server lists it and the client wants
// refresh tokens. The order is stable and without duplicates.
func SelectScopes(ch *Challenge, md *Metadata, previous, extra []string, wantRefresh bool) []string {
	var base []string
	switch {
	case ch != nil && len(ch.Scopes) > 0:
		base = ch.Scopes
	case md.Protected != nil:
		base = md.Protected.ScopesSupported
	}
	out := union(previous, base, extra)
	if wantRefresh && md.AuthServer != nil && slices.Contains(md.AuthServer.ScopesSupported, OfflineAccess) && len(out) > 0 {
		out = union(out, []string{OfflineAccess})
	}
	return out
}

func union(sets ...[]string) []string {
	var out []string
	for _, s := range sets {
		for _, v := range s {
			if v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// Authorization is one authorization request in flight: the URL for the
// browser and the per-request record the spec requires (PKCE verifier, state,
// the recorded issuer). It holds a secret (the verifier) and must stay in
// the process that created it. Complete may be called once; an Authorization
// is not safe for concurrent use.
type Authorization struct {
	// URL is the authorization request to open in the user's browser.
	URL string
	// State binds the redirect to this request; it is public (it is in URL).
	State string
	// Scopes are the scopes requested.
	Scopes []string
	// Created is when the request was built; callers expire stale ones.
	Created time.Time

	verifier    string
	redirectURI string
	md          *Metadata
	reg         *Registration
	nonce       string // OpenID Connect sign-ins (IdP.Authorize)
}

// Metadata returns the discovery result the request was built from.
func (a *Authorization) Metadata() *Metadata { return a.md }

// Registration returns the client identity the request uses.
func (a *Authorization) Registration() *Registration { return a.reg }

// Authorize builds an authorization request with PKCE S256, a fresh state and
// the resource indicator. redirectURI must be one reg was registered with.
//
// A request for offline_access also carries prompt=consent: offline_access
// is an OpenID Connect scope (it is only requested where the authorization
// server lists it), and OpenID Connect Core §11 says a provider must ignore
// it unless the request has prompt=consent — without it a stock OpenID
// provider (oidc-provider's default policy) issues no refresh token, and the
// user signs in again every hour. The MCP Python SDK does the same.
//
// A sign-in whose quirk has SelectAccount (a further account of a server)
// asks the user to choose the identity with prompt=select_account (OpenID
// Connect Core §3.1.2.1; added to the other prompt values, as "select_account
// consent" with offline_access) only where the authorization server is known
// to take it: its metadata's prompt_values_supported lists select_account,
// or its provider row says so (Quirk.TakesSelectAccount: Google, Entra). An
// OpenID provider need not take it — Ory Hydra refuses the whole request —
// and an OAuth server may refuse a prompt value it does not know, so
// without either the request asks nothing (the user picks the identity
// in the browser, or with a login hint). A quirk's LoginHint is sent as
// login_hint whatever the server (the user asked for it; a server that
// does not know it ignores it, RFC 6749 §3.1).
func Authorize(md *Metadata, reg *Registration, redirectURI string, scopes []string) (*Authorization, error) {
	return authorize(md, reg, redirectURI, scopes, "")
}

// authorize is Authorize; a nonce, when given, is sent (OpenID Connect
// Core §3.1.2.1) and kept in the Authorization for the ID token check.
func authorize(md *Metadata, reg *Registration, redirectURI string, scopes []string, nonce string) (*Authorization, error) {
	if reg.Issuer != md.Issuer {
		return nil, newErr("authorization", CheckClientMismatch, md.Issuer, "client registration belongs to %q", reg.Issuer)
	}
	if !slices.Contains(md.AuthServer.CodeChallengeMethodsSupported, "S256") {
		return nil, newErr("authorization", CheckNoPKCE, md.Issuer, "authorization server does not advertise PKCE S256")
	}
	if md.AuthServer.AuthorizationEndpoint == "" { // metadata discovered for a grant without a browser
		return nil, newErr("authorization", CheckBadMetadata, md.Issuer, "authorization-server metadata lacks authorization_endpoint")
	}
	a := &Authorization{
		State:       rand.Text(),
		Scopes:      scopes,
		Created:     time.Now(),
		verifier:    oauth2.GenerateVerifier(),
		redirectURI: redirectURI,
		md:          md,
		reg:         reg,
		nonce:       nonce,
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier)}
	if nonce != "" {
		opts = append(opts, oauth2.SetAuthURLParam("nonce", nonce))
	}
	opts = append(opts, resourceOption(md)...)
	if q := md.Quirk; q != nil {
		for _, k := range slices.Sorted(maps.Keys(q.AuthParams)) {
			opts = append(opts, oauth2.SetAuthURLParam(k, q.AuthParams[k]))
		}
	}
	var prompt []string
	if p, set := md.Quirk.authParam("prompt"); set {
		prompt = strings.Fields(p)
	} else if slices.Contains(scopes, OfflineAccess) {
		prompt = []string{"consent"}
	}
	if md.Quirk != nil && md.Quirk.SelectAccount && md.supportsPrompt("select_account") &&
		!slices.Contains(prompt, "select_account") && !slices.Contains(prompt, "none") {
		prompt = append([]string{"select_account"}, prompt...)
	}
	if len(prompt) > 0 { // replaces a provider's own prompt with the same values and more
		opts = append(opts, oauth2.SetAuthURLParam("prompt", strings.Join(prompt, " ")))
	}
	if _, set := md.Quirk.authParam("login_hint"); !set && md.Quirk != nil && md.Quirk.LoginHint != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", md.Quirk.LoginHint))
	}
	a.URL = a.config().AuthCodeURL(a.State, opts...)
	return a, nil
}

// resourceOption is the resource indicator as md's quirk wants it sent:
// resource (the spec), audience, or nothing.
func resourceOption(md *Metadata) []oauth2.AuthCodeOption {
	if p := md.Quirk.resourceParam(); p != "" && md.Resource != "" {
		return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam(p, md.Resource)}
	}
	return nil
}

func (a *Authorization) config() *oauth2.Config {
	return oauthConfig(a.md, a.reg, a.redirectURI, a.Scopes)
}

func oauthConfig(md *Metadata, reg *Registration, redirectURI string, scopes []string) *oauth2.Config {
	style := oauth2.AuthStyleInParams
	if reg.AuthMethod == AuthBasic {
		style = oauth2.AuthStyleInHeader
	}
	secret := reg.ClientSecret
	if reg.AuthMethod == AuthNone {
		secret = ""
	}
	return &oauth2.Config{
		ClientID:     reg.ClientID,
		ClientSecret: secret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   md.AuthServer.AuthorizationEndpoint,
			TokenURL:  md.AuthServer.TokenEndpoint,
			AuthStyle: style,
		},
		RedirectURL: redirectURI,
		Scopes:      scopes,
	}
}

// maxErrorText bounds error text copied from an authorization response.
const maxErrorText = budget.ErrorText

// Complete finishes the request with the URL the authorization server
// redirected the browser to: it checks state, applies the RFC 9207 iss rules
// exactly as the spec's table says (before acting on any error in the
// response), and exchanges the code for a token with the PKCE verifier and
// the resource indicator.
func (a *Authorization) Complete(ctx context.Context, c *http.Client, redirected string) (*Token, error) {
	ctx = withServer(ctx, a.md.ServerURL) // the network policy: loopback only for a local server
	u, err := url.Parse(redirected)
	if err != nil {
		return nil, newErr("authorization", CheckState, a.md.Issuer, "the redirect URL could not be parsed")
	}
	q := u.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(a.State)) != 1 {
		return nil, newErr("authorization", CheckState, a.md.Issuer, "the redirect does not answer this sign-in (state mismatch); start the sign-in again")
	}
	if err := checkIss(a.md, q); err != nil {
		return nil, err
	}
	if e := q.Get("error"); e != "" {
		return nil, newErr("authorization", CheckAuthorization, a.md.Issuer, "the authorization server refused: %s %s",
			clip(e), clip(q.Get("error_description")))
	}
	code := q.Get("code")
	if code == "" {
		return nil, newErr("authorization", CheckAuthorization, a.md.Issuer, "the redirect carries no authorization code")
	}
	tok, err := a.config().Exchange(withClient(ctx, a.md.Quirk.client(c)), code,
		append(resourceOption(a.md), oauth2.VerifierOption(a.verifier))...)
	if err != nil {
		return nil, tokenErr("token", a.md.AuthServer.TokenEndpoint, err, code, a.verifier, a.reg.ClientSecret)
	}
	t, err := newTokenFrom(tok, a.Scopes, a.md.AuthServer.TokenEndpoint, sendsProofs(c))
	if err != nil {
		return nil, err
	}
	return a.md.Quirk.finish(t, a.md.AuthServer.TokenEndpoint)
}

// checkIss applies the spec's RFC 9207 table: advertised and absent → reject;
// present → simple string comparison with the recorded issuer, whether
// advertised or not; neither → proceed.
func checkIss(md *Metadata, q url.Values) error {
	iss, present := q.Get("iss"), q.Has("iss")
	if !present {
		if md.AuthServer.AuthorizationResponseIssParameterSupported {
			return newErr("authorization", CheckIssMissing, md.Issuer,
				"the authorization server promises an iss parameter (RFC 9207) but the response has none; possible mix-up attack, the code was not used")
		}
		return nil
	}
	if iss != md.Issuer {
		return newErr("authorization", CheckIssMismatch, md.Issuer,
			"the response comes from issuer %q, not %q (RFC 9207); possible mix-up attack, the code was not used", clip(iss), md.Issuer)
	}
	return nil
}

func clip(s string) string {
	if len(s) > maxErrorText {
		return s[:maxErrorText] + "…"
	}
	return s
}
