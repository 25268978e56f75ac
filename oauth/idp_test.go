package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// idpSignIn runs an IdP sign-in against the fake, with a "browser" that
// stops at the redirect, and returns the sign-in's result.
func idpSignIn(t *testing.T, f *testfake.IdP) (*oauth.IdP, *oauth.Metadata, *oauth.Token, *oauth.IDClaims) {
	t.Helper()
	ctx := context.Background()
	p := &oauth.IdP{Issuer: f.Issuer, ClientID: f.ClientID}
	md, err := p.Discover(ctx, http.DefaultClient, true)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Authorize(md, "http://127.0.0.1:1/callback")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(a.URL)
	if s := q.Query().Get("scope"); s != "openid offline_access" || q.Query().Get("prompt") != "consent" || q.Query().Get("nonce") == "" {
		t.Fatalf("authorization request %s: want openid offline_access, prompt=consent and a nonce", a.URL)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	tok, claims, err := p.Complete(ctx, http.DefaultClient, a, res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return p, md, tok, claims
}

// TestIdPSignInRefreshRevoke: the browser sign-in at an OpenID provider
// yields a verified ID token and a refresh token (offline_access with
// prompt=consent, as OIDC Core §11 requires); the refresh renews the ID
// token for the same subject and keeps the rotated refresh token; after
// revocation the IdP refuses the refresh token with invalid_grant.
func TestIdPSignInRefreshRevoke(t *testing.T) {
	f := testfake.NewIdP(t, time.Hour)
	p, md, tok, claims := idpSignIn(t, f)
	if tok.IDToken == "" || tok.RefreshToken == "" || claims.Subject != "user-1" || claims.Email != "user-1@example.com" {
		t.Fatalf("sign-in: id token %t, refresh token %t, claims %+v", tok.IDToken != "", tok.RefreshToken != "", claims)
	}
	ctx := context.Background()
	tok2, claims2, err := p.Refresh(ctx, http.DefaultClient, md, tok.RefreshToken, claims.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if tok2.IDToken == tok.IDToken || tok2.RefreshToken == tok.RefreshToken || claims2.Subject != "user-1" {
		t.Fatal("the refresh did not renew the ID token and rotate the refresh token")
	}
	if _, _, err := p.Refresh(ctx, http.DefaultClient, md, tok2.RefreshToken, "someone-else"); err == nil {
		t.Fatal("a renewed ID token for another subject was accepted")
	}
	_, _, tok3, _ := idpSignIn(t, f)
	if ok, err := p.Revoke(ctx, http.DefaultClient, md, tok3.RefreshToken); !ok || err != nil {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if _, _, err := p.Refresh(ctx, http.DefaultClient, md, tok3.RefreshToken, ""); !errors.Is(err, oauth.ErrInvalidGrant) {
		t.Fatalf("refresh after revocation: %v, want invalid_grant", err)
	}
}

// TestVerifyIDTokenRefuses: every check of OIDC Core §3.1.3.7 that
// VerifyIDToken makes refuses a token that fails it, and the error does not
// quote the token.
func TestVerifyIDTokenRefuses(t *testing.T) {
	f := testfake.NewIdP(t, time.Hour)
	p := &oauth.IdP{Issuer: f.Issuer, ClientID: f.ClientID}
	md, err := p.Discover(context.Background(), http.DefaultClient, true)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": f.Issuer, "sub": "user-1", "aud": f.ClientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": "n-1"}
	}
	with := func(k string, v any) string {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return f.Sign(c)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign, _ := jwt.NewWithClaims(jwt.SigningMethodES256, good()).SignedString(other)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, good()).SignedString([]byte(f.ClientID))
	if _, err := p.VerifyIDToken(context.Background(), http.DefaultClient, md, f.Sign(good()), "n-1"); err != nil {
		t.Fatalf("a good ID token: %v", err)
	}
	for _, tc := range []struct{ name, tok, want string }{
		{"wrong iss", with("iss", "https://evil.example"), "another issuer"},
		{"wrong aud", with("aud", "someone-else"), "not for mcpauthd"},
		{"several aud, no azp", with("aud", []string{f.ClientID, "other"}), "azp"},
		{"wrong nonce", with("nonce", "n-2"), "nonce"},
		{"no nonce", with("nonce", nil), "nonce"},
		{"expired", with("exp", now.Add(-time.Hour).Unix()), "expired"},
		{"no exp", with("exp", nil), "no expiry"},
		{"no sub", with("sub", nil), "no subject"},
		{"bad signature", foreign, "signature"},
		{"alg none", none, "signature"},
		{"HS256 with the client id", hs, "signature"},
		{"not a JWT", "abc.def", "well-formed"},
	} {
		_, err := p.VerifyIDToken(context.Background(), http.DefaultClient, md, tc.tok, "n-1")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		}
		if err != nil && len(tc.tok) > 20 && strings.Contains(err.Error(), tc.tok[len(tc.tok)-20:]) {
			t.Errorf("%s: the error quotes the token", tc.name)
		}
	}
}

// TestIdPDiscoverTokenExchangeOnly: an IdP used only for the token
// exchange (the ID token comes from a file) need not offer PKCE or an
// authorization endpoint; a browser sign-in at it is refused before it
// starts.
func TestIdPDiscoverTokenExchangeOnly(t *testing.T) {
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/oauth-authorization-server" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"` + issuer + `","token_endpoint":"` + issuer + `/token"}`))
	}))
	t.Cleanup(srv.Close)
	issuer = srv.URL
	p := &oauth.IdP{Issuer: issuer, ClientID: "c"}
	md, err := p.Discover(context.Background(), http.DefaultClient, false)
	if err != nil || md.AuthServer.TokenEndpoint != issuer+"/token" {
		t.Fatalf("token-exchange discovery: %v", err)
	}
	if _, err := p.Discover(context.Background(), http.DefaultClient, true); !errors.Is(err, oauth.ErrNoPKCE) {
		t.Fatalf("interactive discovery without PKCE: %v, want ErrNoPKCE", err)
	}
}
