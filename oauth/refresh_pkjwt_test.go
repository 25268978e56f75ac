package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// TestRefreshSendsClientAssertion: a client that authenticates with
// private_key_jwt (RFC 7523 §2.2) authenticates its refresh-token grants
// too, with a new assertion each time (a fresh jti) whose audience is the
// authorization server's issuer; an authorization server that takes no
// refresh grant without a valid assertion (as this fake does) keeps
// renewing the tokens. Before, the refresh went out with the client id
// alone and was refused with invalid_client.
func TestRefreshSendsClientAssertion(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	jtis := map[string]bool{}
	var issuer, resource string
	srv, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) {
		f := r.PostForm
		if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			writeOAuthError(w, 401, "invalid_client", "client assertion required")
			return
		}
		var claims jwt.RegisteredClaims
		_, err := jwt.ParseWithClaims(f.Get("client_assertion"), &claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(issuer), jwt.WithIssuer("svc"), jwt.WithSubject("svc"), jwt.WithExpirationRequired())
		mu.Lock()
		replay := jtis[claims.ID]
		jtis[claims.ID] = true
		mu.Unlock()
		if err != nil || claims.ID == "" || replay {
			writeOAuthError(w, 401, "invalid_client", "bad client assertion")
			return
		}
		switch f.Get("grant_type") {
		case oauth.GrantClientCredentials:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 60, "refresh_token": "rt-1"})
		case "refresh_token":
			if f.Get("refresh_token") != "rt-1" || f.Get("resource") != resource {
				writeOAuthError(w, 400, "invalid_grant", "bad refresh")
				return
			}
			writeToken(w, "at-"+rand.Text(), "Bearer", 60)
		default:
			writeOAuthError(w, 400, "unsupported_grant_type", "")
		}
	})
	issuer, resource = srv.URL, md.Resource
	st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "svc", PrivateKey: key}}
	g, err := newFlow().Obtain(context.Background(), md, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // two refreshes: each needs its own jti
		tok, err := oauth.Refresh(context.Background(), http.DefaultClient, md, g.Registration, g.Token.RefreshToken, nil)
		if err != nil {
			t.Fatalf("refresh with private_key_jwt: %v", err)
		}
		if tok.RefreshToken != "rt-1" {
			t.Fatalf("refresh token not kept: %q", tok.RefreshToken)
		}
	}
	if len(jtis) != 3 {
		t.Fatalf("%d distinct jti for 3 requests", len(jtis))
	}
	// A registration without its key (never the case for a grant the
	// strategy built) is refused before anything is sent.
	bare := oauth.Registration{Issuer: g.Registration.Issuer, ClientID: g.Registration.ClientID, AuthMethod: oauth.AuthPrivateKeyJWT}
	if _, err := oauth.Refresh(context.Background(), http.DefaultClient, md, &bare, "rt-1", nil); err == nil {
		t.Fatal("a private_key_jwt refresh without the key was sent")
	}
}
