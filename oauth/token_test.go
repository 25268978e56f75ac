package oauth_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/oauth"
)

// checkClientAuth asserts how a token or revocation request authenticated.
func checkClientAuth(t *testing.T, what string, r recorded, method, id, secret string) {
	t.Helper()
	authz := r.Header.Get("Authorization")
	switch method {
	case oauth.AuthNone:
		if r.Form.Get("client_id") != id || r.Form.Has("client_secret") || authz != "" {
			t.Errorf("%s: want client_id only in the body; form %v, Authorization %q", what, r.Form, authz)
		}
	case oauth.AuthPost:
		if r.Form.Get("client_id") != id || r.Form.Get("client_secret") != secret || authz != "" {
			t.Errorf("%s: want client_id and client_secret in the body; form %v, Authorization %q", what, r.Form, authz)
		}
	case oauth.AuthBasic:
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		if authz != want || r.Form.Has("client_secret") {
			t.Errorf("%s: want Authorization %q and no secret in the body; got %q, form %v", what, want, authz, r.Form)
		}
	}
}

func TestClientAuthentication(t *testing.T) {
	tests := []struct {
		method, id, secret string
	}{
		{oauth.AuthNone, "public-id", ""},
		{oauth.AuthBasic, "basic id:1", "s3cr3t/+&:%"},
		{oauth.AuthPost, "post-id", "p0st=secret&x"},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			f := newFake(t)
			md := discoverFake(t, f)
			f.AddClient(tt.id, tt.secret, tt.method)
			reg := &oauth.Registration{Issuer: md.Issuer, ClientID: tt.id, ClientSecret: tt.secret, AuthMethod: tt.method, Method: oauth.MethodPreregistered}
			ctx := ctxT(t)
			c := newClient()

			a, _ := oauth.Authorize(md, reg, testRedirect, []string{"read"})
			redirected, err := f.Browser(nil)(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := a.Complete(ctx, c, redirected)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			tok2, err := oauth.Refresh(ctx, c, md, reg, tok.RefreshToken, tok.Scopes)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			ok, err := oauth.Revoke(ctx, c, md, reg, tok2.RefreshToken, "refresh_token")
			if err != nil || !ok {
				t.Fatalf("Revoke = %v, %v", ok, err)
			}
			reqs := f.TokenRequests()
			if len(reqs) != 2 {
				t.Fatalf("%d token requests", len(reqs))
			}
			checkClientAuth(t, "code exchange", reqs[0], tt.method, tt.id, tt.secret)
			checkClientAuth(t, "refresh", reqs[1], tt.method, tt.id, tt.secret)
			rev := f.RevokeRequests()
			if len(rev) != 1 {
				t.Fatalf("%d revocation requests", len(rev))
			}
			checkClientAuth(t, "revocation", rev[0], tt.method, tt.id, tt.secret)
			if rev[0].Form.Get("token") != tok2.RefreshToken || rev[0].Form.Get("token_type_hint") != "refresh_token" {
				t.Errorf("revocation form %v", rev[0].Form)
			}
		})
	}
}

// grantFor logs in a public client and returns what Refresh needs.
func grantFor(t *testing.T, f *fake) (*oauth.Metadata, *oauth.Registration, *oauth.Token) {
	t.Helper()
	md := discoverFake(t, f)
	reg := publicReg(f, md)
	a, _ := oauth.Authorize(md, reg, testRedirect, []string{"read"})
	redirected, err := f.Browser(nil)(ctxT(t), a)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Complete(ctxT(t), newClient(), redirected)
	if err != nil {
		t.Fatal(err)
	}
	return md, reg, tok
}

func TestRefresh(t *testing.T) {
	t.Run("rotates", func(t *testing.T) {
		f := newFake(t)
		md, reg, tok := grantFor(t, f)
		got, err := oauth.Refresh(ctxT(t), newClient(), md, reg, tok.RefreshToken, tok.Scopes)
		if err != nil {
			t.Fatal(err)
		}
		if got.AccessToken == "" || got.AccessToken == tok.AccessToken || got.RefreshToken == "" || got.RefreshToken == tok.RefreshToken {
			t.Errorf("refresh returned %+v; want new access and rotated refresh token", got)
		}
		reqs := f.TokenRequests()
		form := reqs[len(reqs)-1].Form
		for k, v := range map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken, "resource": f.ServerURL} {
			if form.Get(k) != v {
				t.Errorf("refresh %s = %q; want %q", k, form.Get(k), v)
			}
		}
		if len(form["resource"]) != 1 {
			t.Errorf("resource sent %d times", len(form["resource"]))
		}
		// The rotated token works; the old one is gone.
		if _, err := oauth.Refresh(ctxT(t), newClient(), md, reg, got.RefreshToken, nil); err != nil {
			t.Errorf("rotated refresh token refused: %v", err)
		}
		_, err = oauth.Refresh(ctxT(t), newClient(), md, reg, tok.RefreshToken, nil)
		wantErr(t, err, oauth.ErrInvalidGrant, md.AuthServer.TokenEndpoint)
	})
	t.Run("keeps the old refresh token when none is issued", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.RotateRefresh = false })
		md, reg, tok := grantFor(t, f)
		got, err := oauth.Refresh(ctxT(t), newClient(), md, reg, tok.RefreshToken, tok.Scopes)
		if err != nil {
			t.Fatal(err)
		}
		if got.RefreshToken != tok.RefreshToken {
			t.Errorf("refresh token %q; want the old %q kept", got.RefreshToken, tok.RefreshToken)
		}
	})
	t.Run("scopes: response, else requested", func(t *testing.T) {
		f := newFake(t, func(f *fake) {
			f.Handlers["as:/token"] = rawHandler(200, "application/json", `{"access_token":"a","token_type":"bearer","expires_in":60}`)
		})
		md, reg := discoverFake(t, f), &oauth.Registration{ClientID: "x", AuthMethod: oauth.AuthNone}
		got, err := oauth.Refresh(ctxT(t), newClient(), md, reg, "rt", []string{"read", "write"})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got.Scopes, " ") != "read write" || got.TokenType != "Bearer" {
			t.Errorf("token = %+v", got)
		}
	})
	t.Run("no refresh token", func(t *testing.T) {
		f := newFake(t)
		md := discoverFake(t, f)
		_, err := oauth.Refresh(ctxT(t), newClient(), md, &oauth.Registration{ClientID: "x"}, "", nil)
		wantErr(t, err, oauth.ErrInvalidGrant, md.AuthServer.TokenEndpoint)
		if n, _, _ := f.Counts(); n != 0 {
			t.Errorf("%d token requests without a refresh token", n)
		}
	})
}

func TestRefreshErrors(t *testing.T) {
	const secret = "CLIENT-SECRET-abcdef"
	tests := []struct {
		name string
		set  func(f *fake)
		want error
	}{
		{"invalid_grant", func(f *fake) { f.RefreshError = "invalid_grant"; f.RefreshErrDesc = "expired" }, oauth.ErrInvalidGrant},
		{"invalid_client", func(f *fake) { f.RefreshError = "invalid_client" }, oauth.ErrInvalidClient},
		{"unauthorized_client", func(f *fake) { f.RefreshError = "unauthorized_client" }, oauth.ErrInvalidClient},
		{"client auth fails", func(f *fake) { f.Clients["conf-id"] = fakeClient{Secret: "other", Method: oauth.AuthPost} }, oauth.ErrInvalidClient},
		{"server_error", func(f *fake) { f.RefreshError = "server_error" }, oauth.ErrToken},
		{"HTTP 502 echoing the request", func(f *fake) {
			f.Handlers["as:/token"] = func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				w.WriteHeader(502)
				_, _ = w.Write([]byte("bad gateway for " + r.Form.Encode()))
			}
		}, oauth.ErrToken},
		{"JSON error echoing the request", func(f *fake) {
			f.Handlers["as:/token"] = func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				writeJSON(w, 400, map[string]any{"error": "invalid_request", "error_uri": r.Form.Get("refresh_token") + r.Form.Get("client_secret"), "extra": r.Form})
			}
		}, oauth.ErrToken},
		{"garbled success echoing the request", func(f *fake) {
			f.Handlers["as:/token"] = func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"access_token": ` + r.Form.Get("refresh_token") + r.Form.Get("client_secret")))
			}
		}, oauth.ErrToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			md := discoverFake(t, f)
			f.AddClient("conf-id", secret, oauth.AuthPost)
			_, rt := f.SeedGrant("conf-id", []string{"read"})
			f.Configure(tt.set)
			reg := &oauth.Registration{Issuer: md.Issuer, ClientID: "conf-id", ClientSecret: secret, AuthMethod: oauth.AuthPost}
			_, err := oauth.Refresh(ctxT(t), newClient(), md, reg, rt, nil)
			wantErr(t, err, tt.want, md.AuthServer.TokenEndpoint)
			for _, s := range []string{rt, secret} {
				if strings.Contains(err.Error(), s) || strings.Contains(err.Error(), url.QueryEscape(s)) {
					t.Errorf("error %q contains a secret", err)
				}
			}
		})
	}
}

// TestRefreshErrorDescriptionEcho: an authorization server that echoes the
// refresh token in error_description must not get it into the error text.
func TestRefreshErrorDescriptionEcho(t *testing.T) {
	f := newFake(t)
	md := discoverFake(t, f)
	f.AddClient("conf-id", "", oauth.AuthNone)
	_, rt := f.SeedGrant("conf-id", []string{"read"})
	f.Configure(func(f *fake) {
		f.RefreshError = "invalid_grant"
		f.RefreshErrDesc = "refresh token " + rt + " has expired"
	})
	reg := &oauth.Registration{Issuer: md.Issuer, ClientID: "conf-id", AuthMethod: oauth.AuthNone}
	_, err := oauth.Refresh(ctxT(t), newClient(), md, reg, rt, nil)
	wantErr(t, err, oauth.ErrInvalidGrant, md.AuthServer.TokenEndpoint)
	if strings.Contains(err.Error(), rt) {
		t.Errorf("the error text carries the refresh token the AS echoed: %q", err)
	}
}

func TestRevoke(t *testing.T) {
	t.Run("access token hint", func(t *testing.T) {
		f := newFake(t)
		md, reg, tok := grantFor(t, f)
		ok, err := oauth.Revoke(ctxT(t), newClient(), md, reg, tok.AccessToken, "access_token")
		if err != nil || !ok {
			t.Fatalf("Revoke = %v, %v", ok, err)
		}
		r := f.RevokeRequests()[0]
		if r.Method != http.MethodPost || r.Form.Get("token") != tok.AccessToken || r.Form.Get("token_type_hint") != "access_token" ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			t.Errorf("revocation request %+v", r)
		}
	})
	t.Run("no hint", func(t *testing.T) {
		f := newFake(t)
		md, reg, tok := grantFor(t, f)
		if _, err := oauth.Revoke(ctxT(t), newClient(), md, reg, tok.AccessToken, ""); err != nil {
			t.Fatal(err)
		}
		if f.RevokeRequests()[0].Form.Has("token_type_hint") {
			t.Error("empty hint sent")
		}
	})
	t.Run("no endpoint", func(t *testing.T) {
		f := newFake(t, func(f *fake) { delete(f.ASMeta, "revocation_endpoint") })
		md, reg, tok := grantFor(t, f)
		ok, err := oauth.Revoke(ctxT(t), newClient(), md, reg, tok.RefreshToken, "refresh_token")
		if ok || err != nil {
			t.Errorf("Revoke = %v, %v; want false, nil", ok, err)
		}
		if n := len(f.RevokeRequests()); n != 0 {
			t.Errorf("%d revocation requests", n)
		}
	})
	t.Run("no token", func(t *testing.T) {
		f := newFake(t)
		md, reg, _ := grantFor(t, f)
		ok, err := oauth.Revoke(ctxT(t), newClient(), md, reg, "", "refresh_token")
		if ok || err != nil || len(f.RevokeRequests()) != 0 {
			t.Errorf("Revoke(\"\") = %v, %v", ok, err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.Handlers["as:/revoke"] = rawHandler(503, "text/plain", "down") })
		md, reg, tok := grantFor(t, f)
		ok, err := oauth.Revoke(ctxT(t), newClient(), md, reg, tok.RefreshToken, "refresh_token")
		var e *oauth.Error
		if ok || !errors.As(err, &e) || e.Check != oauth.CheckRevocation || !errors.Is(err, oauth.ErrRevocation) {
			t.Fatalf("Revoke = %v, %v; want a revocation error", ok, err)
		}
		if !strings.Contains(err.Error(), f.AS.URL+"/revoke") || strings.Contains(err.Error(), tok.RefreshToken) {
			t.Errorf("error %q", err)
		}
	})
}
