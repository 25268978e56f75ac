package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// TestDeviceGrantDPoP: a device sign-in at an authorization server that
// offers DPoP polls with proofs and keeps the key its DPoP token is bound
// to (it used to get a Bearer-only client).
func TestDeviceGrantDPoP(t *testing.T) {
	as := testfake.NewDeviceAS(t)
	as.Mu.Lock()
	as.DPoP = true
	as.Mu.Unlock()
	flow := &oauth.Flow{
		HTTP:          oauth.NewHTTPClient(oauth.HTTPOptions{}),
		Client:        oauth.ClientConfig{RedirectURIs: []string{"http://127.0.0.1:1/callback"}},
		Registrations: nopRegs{},
	}
	var shown *oauth.DeviceAuthorization
	g, err := flow.Login(context.Background(), oauth.LoginRequest{
		ServerURL: as.Srv.URL + "/mcp",
		Browser: func(context.Context, *oauth.Authorization) (string, error) {
			t.Error("the browser was used although the device grant was accepted")
			return "", context.Canceled
		},
		Device: presenter{use: true, shown: &shown},
	})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	as.Mu.Lock()
	proof := as.TokenProof
	as.Mu.Unlock()
	if proof == "" || g.Token.TokenType != oauth.DPoPScheme || g.DPoPKey == nil {
		t.Fatalf("device grant: proof sent %v, token type %q, key %v; want a DPoP-bound token", proof != "", g.Token.TokenType, g.DPoPKey != nil)
	}
	c, err := oauth.CredentialFor(g, http.MethodPost, as.Srv.URL+"/mcp", "")
	if err != nil || c.Scheme != oauth.DPoPScheme || c.Proof == "" {
		t.Fatalf("credential: %+v %v", c, err)
	}
}

// TestRevokePrivateKeyJWT: revoking a token obtained with client
// credentials and private_key_jwt authenticates the client with a fresh
// client assertion, as the token request did (it used to send none).
func TestRevokePrivateKeyJWT(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		clientID, assertionType string
		claims                  jwt.RegisteredClaims
		err                     error
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got.clientID, got.assertionType = r.PostForm.Get("client_id"), r.PostForm.Get("client_assertion_type")
		_, got.err = jwt.ParseWithClaims(r.PostForm.Get("client_assertion"), &got.claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}))
	}))
	defer srv.Close()
	md := &oauth.Metadata{Issuer: srv.URL, AuthServer: &oauthex.AuthServerMeta{Issuer: srv.URL, TokenEndpoint: srv.URL + "/token", RevocationEndpoint: srv.URL + "/revoke"}}
	st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "robot", PrivateKey: key}}
	reg := st.Registration(md)
	if reg == nil || reg.AuthMethod != oauth.AuthPrivateKeyJWT || reg.ClientID != "robot" || reg.Method != oauth.MethodPreregistered {
		t.Fatalf("Registration: %+v", reg)
	}
	if ok, err := oauth.Revoke(context.Background(), srv.Client(), md, reg, "the-token", "access_token"); !ok || err != nil {
		t.Fatalf("Revoke: %v %v", ok, err)
	}
	if got.err != nil || got.assertionType != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || got.clientID != "robot" ||
		got.claims.Issuer != "robot" || got.claims.Subject != "robot" || len(got.claims.Audience) != 1 || got.claims.Audience[0] != srv.URL {
		t.Fatalf("revocation request: client_id %q, assertion type %q, claims %+v, err %v", got.clientID, got.assertionType, got.claims, got.err)
	}
}
