package oauth_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcpauthd/mcpauthd/oauth"
)

// TestNonInteractiveDiscoveryNeedsNoPKCE: an authorization server that only
// serves grants without a browser (no PKCE, no authorization_endpoint) is
// usable with client credentials, while a browser sign-in to the same
// server is refused at discovery, before any registration or browser, as
// strictly as before.
func TestNonInteractiveDiscoveryNeedsNoPKCE(t *testing.T) {
	for _, tc := range []struct {
		name            string
		set             func(f *fake)
		wantInteractive error
	}{
		{
			name: "no code_challenge_methods_supported, no authorization_endpoint",
			set: func(f *fake) {
				delete(f.ASMeta, "code_challenge_methods_supported")
				delete(f.ASMeta, "authorization_endpoint")
			},
			wantInteractive: oauth.ErrNoPKCE,
		},
		{
			name: "only plain PKCE, no authorization_endpoint",
			set: func(f *fake) {
				f.ASMeta["code_challenge_methods_supported"] = []string{"plain"}
				delete(f.ASMeta, "authorization_endpoint")
			},
			wantInteractive: oauth.ErrNoPKCE,
		},
		{
			name:            "PKCE S256 but no authorization_endpoint",
			set:             func(f *fake) { delete(f.ASMeta, "authorization_endpoint") },
			wantInteractive: oauth.ErrBadMetadata,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(f *fake) {
				tc.set(f)
				f.ASMeta["grant_types_supported"] = []string{"client_credentials"}
				f.ASMeta["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic"}
			})
			var grants atomic.Int32
			f.Handle("as", "/token", func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				id, secret, ok := r.BasicAuth()
				if !ok || id != "robot" || secret != "robot-secret" || r.PostForm.Get("grant_type") != "client_credentials" ||
					r.PostForm.Get("resource") != f.ServerURL {
					oauthError(w, http.StatusBadRequest, "invalid_request", "unexpected token request")
					return
				}
				grants.Add(1)
				writeJSON(w, http.StatusOK, map[string]any{"access_token": "at-robot", "token_type": "Bearer", "expires_in": 3600})
			})
			regs := newMemRegs()
			st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "robot", ClientSecret: "robot-secret"}}
			g, err := fakeFlow(regs).Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL, Strategy: st})
			if err != nil {
				t.Fatalf("client credentials login: %v", err)
			}
			if g.Token.AccessToken != "at-robot" || grants.Load() != 1 || g.Metadata.Issuer != f.Issuer || g.Metadata.AuthServer.TokenEndpoint != f.AS.URL+"/token" {
				t.Fatalf("grant: token %q after %d grants, issuer %q", g.Token.AccessToken, grants.Load(), g.Metadata.Issuer)
			}

			// The same server refuses a browser sign-in, at discovery: no
			// registration, no browser.
			_, err = fakeFlow(regs).Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL,
				Browser: func(context.Context, *oauth.Authorization) (string, error) {
					t.Error("the browser was used")
					return "", context.Canceled
				}})
			wantErr(t, err, tc.wantInteractive, f.Issuer)
			if n := len(f.RegRequests()); n != 0 {
				t.Fatalf("%d registration requests before the refusal", n)
			}
			// So does Discover, the interactive discovery.
			_, err = oauth.Discover(ctxT(t), newClient(), f.ServerURL, nil)
			wantErr(t, err, tc.wantInteractive, f.Issuer)
			// And Authorize, with metadata obtained for the grant.
			_, err = oauth.Authorize(g.Metadata, &oauth.Registration{Issuer: f.Issuer, ClientID: "robot"}, "http://127.0.0.1:1/callback", nil)
			if err == nil {
				t.Fatal("Authorize accepted metadata without PKCE S256 or authorization_endpoint")
			}
		})
	}
}

// TestNonInteractiveDiscoveryStillChecks: without the PKCE requirement
// the rest of the metadata checks still apply to a non-interactive grant:
// the token endpoint, the endpoints' schemes, the issuer's identity.
func TestNonInteractiveDiscoveryStillChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(f *fake)
		want error
	}{
		{"no token_endpoint", func(f *fake) { delete(f.ASMeta, "token_endpoint") }, oauth.ErrBadMetadata},
		{"http token_endpoint", func(f *fake) { f.ASMeta["token_endpoint"] = "http://example.com/token" }, oauth.ErrInsecureEndpoint},
		{"script jwks_uri", func(f *fake) { f.ASMeta["jwks_uri"] = "javascript:alert(1)" }, oauth.ErrInsecureEndpoint},
		{"issuer with a trailing slash", func(f *fake) { f.ASMeta["issuer"] = f.Issuer + "/" }, oauth.ErrIssuerMismatch},
		{"not JSON", func(f *fake) {
			f.Handlers["as:"+f.ASMetaPath] = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"issuer": 1}`))
			}
		}, oauth.ErrBadMetadata},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(f *fake) {
				delete(f.ASMeta, "code_challenge_methods_supported")
				delete(f.ASMeta, "authorization_endpoint")
				tc.set(f)
			})
			f.Handle("as", "/token", func(w http.ResponseWriter, r *http.Request) {
				t.Error("a token request was sent")
			})
			st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "robot", ClientSecret: "robot-secret"}}
			_, err := fakeFlow(newMemRegs()).Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL, Strategy: st})
			wantErr(t, err, tc.want)
			if strings.Contains(err.Error(), "robot-secret") {
				t.Fatalf("error holds the secret: %v", err)
			}
		})
	}
}
