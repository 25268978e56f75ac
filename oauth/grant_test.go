package oauth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// tokenAS is a fake authorization server with one token endpoint whose
// answer the test decides.
func tokenAS(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *oauth.Metadata) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("bad form: %v", err)
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	md := &oauth.Metadata{
		// A server on this machine: the network policy lets its
		// authorization server be on loopback too.
		ServerURL: "http://127.0.0.1:1/mcp",
		Resource:  "https://mcp.example/mcp",
		Issuer:    srv.URL,
		AuthServer: &oauthex.AuthServerMeta{
			Issuer:        srv.URL,
			TokenEndpoint: srv.URL + "/token",
		},
	}
	return srv, md
}

func writeToken(w http.ResponseWriter, tok, typ string, expiresIn int) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": typ, "expires_in": expiresIn})
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func newFlow() *oauth.Flow { return &oauth.Flow{} }

func TestClientCredentialsSecretBasic(t *testing.T) {
	var calls atomic.Int32
	_, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		id, secret, ok := r.BasicAuth()
		if !ok || id != "svc" || secret != "s3cret-value" {
			t.Errorf("basic auth = %q %q %v", id, secret, ok)
		}
		if r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("resource") != "https://mcp.example/mcp" {
			t.Errorf("form = %v", r.Form)
		}
		if r.Form.Get("scope") != "read write" || r.Form.Has("client_secret") || r.Form.Has("code") {
			t.Errorf("form = %v", r.Form)
		}
		writeToken(w, "at-1", "Bearer", 3600)
	})
	md.AuthServer.TokenEndpointAuthMethodsSupported = []string{"client_secret_post", "client_secret_basic"}
	st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "svc", ClientSecret: "s3cret-value"}}
	g, err := newFlow().Obtain(context.Background(), md, st, []string{"read", "write"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Token.AccessToken != "at-1" || g.DPoPKey != nil || g.Registration.AuthMethod != oauth.AuthBasic || calls.Load() != 1 {
		t.Fatalf("grant = %+v, reg %+v, calls %d", g.Token, g.Registration, calls.Load())
	}
}

func TestClientCredentialsSecretPostWhenOnlyListed(t *testing.T) {
	_, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok || r.Form.Get("client_secret") != "s3cret-value" || r.Form.Get("client_id") != "svc" {
			t.Errorf("want client_secret_post, got form %v", r.Form)
		}
		writeToken(w, "at-1", "bearer", 3600)
	})
	md.AuthServer.TokenEndpointAuthMethodsSupported = []string{"client_secret_post"}
	st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "svc", ClientSecret: "s3cret-value"}}
	if _, err := newFlow().Obtain(context.Background(), md, st, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func pemOf(t *testing.T, k crypto.Signer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestClientCredentialsPrivateKeyJWT(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		alg string
		key crypto.Signer
		pem []byte
	}{
		{"ES256", ec, pemOf(t, ec)},
		{"RS256", rk, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			var jtis sync.Map
			_, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
					t.Errorf("client_assertion_type = %q", r.Form.Get("client_assertion_type"))
				}
				var claims jwt.RegisteredClaims
				_, err := jwt.ParseWithClaims(r.Form.Get("client_assertion"), &claims, func(tok *jwt.Token) (any, error) {
					if tok.Method.Alg() != tc.alg {
						t.Errorf("alg = %s", tok.Method.Alg())
					}
					return tc.key.Public(), nil
				}, jwt.WithAudience("http://"+r.Host), jwt.WithIssuer("svc"), jwt.WithExpirationRequired())
				if err != nil {
					t.Errorf("assertion: %v", err)
				}
				if claims.Subject != "svc" || claims.ID == "" {
					t.Errorf("claims = %+v", claims)
				}
				if _, dup := jtis.LoadOrStore(claims.ID, true); dup {
					t.Errorf("jti reused")
				}
				writeToken(w, "at-"+tc.alg, "Bearer", 3600)
			})
			key, err := oauth.ParsePrivateKey(tc.pem)
			if err != nil {
				t.Fatal(err)
			}
			st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "svc", PrivateKey: key}}
			for range 2 {
				g, err := newFlow().Obtain(context.Background(), md, st, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if g.Registration.AuthMethod != oauth.AuthPrivateKeyJWT || g.Registration.ClientSecret != "" {
					t.Fatalf("reg = %+v", g.Registration)
				}
			}
		})
	}
}

func TestParsePrivateKeyErrorsHoldNoKeyMaterial(t *testing.T) {
	bad := []byte("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n")
	_, err := oauth.ParsePrivateKey(bad)
	if !errors.Is(err, oauth.ErrGrantConfig) || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("err = %v", err)
	}
	if _, err := oauth.ParsePrivateKey([]byte("not pem at all")); !errors.Is(err, oauth.ErrGrantConfig) || strings.Contains(err.Error(), "not pem") {
		t.Fatalf("err = %v", err)
	}
}

func TestJWTBearerRefusalIsReturnedOnceWithoutSecrets(t *testing.T) {
	const assertion = "eyJ.workload-jwt.sig"
	for _, code := range []string{"invalid_grant", "invalid_scope", "unauthorized_client"} {
		t.Run(code, func(t *testing.T) {
			var calls atomic.Int32
			_, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if r.Form.Get("grant_type") != oauth.GrantJWTBearer || r.Form.Get("assertion") != assertion || r.Form.Get("client_id") != "workload" {
					t.Errorf("form = %v", r.Form)
				}
				writeOAuthError(w, http.StatusBadRequest, code, "rejected "+assertion)
			})
			st := &oauth.JWTBearer{Client: oauth.ClientAuth{ClientID: "workload"}, Assertion: func(context.Context) (string, error) { return assertion, nil }}
			_, err := newFlow().Obtain(context.Background(), md, st, []string{"s"}, nil)
			if err == nil || strings.Contains(err.Error(), assertion) || calls.Load() != 1 {
				t.Fatalf("err = %v after %d requests", err, calls.Load())
			}
			if code == "invalid_grant" && !errors.Is(err, oauth.ErrInvalidGrant) {
				t.Fatalf("err = %v, want ErrInvalidGrant", err)
			}
			if code == "unauthorized_client" && !errors.Is(err, oauth.ErrInvalidClient) {
				t.Fatalf("err = %v, want ErrInvalidClient", err)
			}
		})
	}
}

func TestEnterpriseTokenExchangeThenJWTBearer(t *testing.T) {
	const idToken, jag = "id.token.value", "id-jag.jwt.value"
	var issuer atomic.Pointer[string]
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		want := map[string]string{
			"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
			"requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
			"subject_token":        idToken,
			"subject_token_type":   "urn:ietf:params:oauth:token-type:id_token",
			"resource":             "https://mcp.example/mcp",
			"client_id":            "idp-client",
		}
		for k, v := range want {
			if r.Form.Get(k) != v {
				t.Errorf("IdP %s = %q, want %q", k, r.Form.Get(k), v)
			}
		}
		if r.Form.Get("audience") != *issuer.Load() {
			t.Errorf("audience = %q", r.Form.Get("audience"))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": jag, "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag", "token_type": "N_A"})
	}))
	defer idp.Close()
	_, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "mcp-client" || secret != "mcp-secret" {
			t.Errorf("basic = %q %q %v", id, secret, ok)
		}
		if r.Form.Get("grant_type") != oauth.GrantJWTBearer || r.Form.Get("assertion") != jag {
			t.Errorf("form = %v", r.Form)
		}
		writeToken(w, "at-ent", "Bearer", 3600)
	})
	issuer.Store(&md.Issuer)
	st := &oauth.Enterprise{
		IdPTokenEndpoint: idp.URL + "/token", IdPClientID: "idp-client",
		IDToken: func(context.Context) (string, error) { return idToken, nil },
		Client:  oauth.ClientAuth{ClientID: "mcp-client", ClientSecret: "mcp-secret"},
	}
	g, err := newFlow().Obtain(context.Background(), md, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.Token.AccessToken != "at-ent" {
		t.Fatalf("token = %+v", g.Token)
	}
}

func TestStrategyRefusesOtherIssuer(t *testing.T) {
	var calls atomic.Int32
	_, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "svc", ClientSecret: "x", Issuer: "https://other.example"}}
	if _, err := newFlow().Obtain(context.Background(), md, st, nil, nil); !errors.Is(err, oauth.ErrClientMismatch) || calls.Load() != 0 {
		t.Fatalf("err = %v, calls %d", err, calls.Load())
	}
}

func TestSessionReacquiresWithStrategy(t *testing.T) {
	var n atomic.Int32
	_, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) {
		writeToken(w, "at-"+string(rune('0'+n.Add(1))), "Bearer", 1) // expires at once
	})
	st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "svc", ClientSecret: "x"}}
	g, err := newFlow().Obtain(context.Background(), md, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var saved atomic.Int32
	sess := oauth.NewSession(newFlow(), md.ServerURL, g)
	sess.Strategy = st
	sess.Save = func(context.Context, *oauth.Grant) error { saved.Add(1); return nil }
	tok, err := sess.Token(context.Background(), 5*time.Second)
	if err != nil || tok != "at-2" || saved.Load() != 1 {
		t.Fatalf("token %q err %v saved %d", tok, err, saved.Load())
	}
}

// ---- DPoP ----

// verifyProof checks a DPoP proof as RFC 9449 §4.3 does and returns its
// claims and the JWK thumbprint.
func verifyProof(t *testing.T, proof, method, target, accessToken string) (jwt.MapClaims, string) {
	t.Helper()
	var jkt string
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(proof, claims, func(tok *jwt.Token) (any, error) {
		if tok.Header["typ"] != "dpop+jwt" || tok.Method.Alg() != "ES256" {
			t.Errorf("header = %v", tok.Header)
		}
		jwk, _ := tok.Header["jwk"].(map[string]any)
		if _, has := jwk["d"]; has || jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
			t.Errorf("jwk = %v", jwk)
		}
		x, _ := base64.RawURLEncoding.DecodeString(jwk["x"].(string))
		y, _ := base64.RawURLEncoding.DecodeString(jwk["y"].(string))
		canon := `{"crv":"P-256","kty":"EC","x":"` + jwk["x"].(string) + `","y":"` + jwk["y"].(string) + `"}`
		sum := sha256.Sum256([]byte(canon))
		jkt = base64.RawURLEncoding.EncodeToString(sum[:])
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	})
	if err != nil || !tok.Valid {
		t.Fatalf("proof: %v", err)
	}
	if claims["htm"] != method || claims["htu"] != target || claims["jti"] == "" {
		t.Errorf("claims = %v, want %s %s", claims, method, target)
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if claims["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
			t.Errorf("ath = %v", claims["ath"])
		}
	}
	return claims, jkt
}

// TestDPoPGrantAndResourceRequests runs a DPoP-bound client-credentials grant
// against an authorization server and a resource server that both demand a
// nonce first, through Session and Transport.
func TestDPoPGrantAndResourceRequests(t *testing.T) {
	var mu sync.Mutex
	var boundJKT string
	jtis := map[string]bool{}
	seen := func(c jwt.MapClaims) {
		mu.Lock()
		defer mu.Unlock()
		j := c["jti"].(string)
		if jtis[j] {
			t.Errorf("proof jti %s reused", j)
		}
		jtis[j] = true
	}
	var asCalls atomic.Int32
	_, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) {
		asCalls.Add(1)
		c, jkt := verifyProof(t, r.Header.Get("DPoP"), "POST", "http://"+r.Host+"/token", "")
		seen(c)
		if c["nonce"] != "as-nonce" {
			w.Header().Set("DPoP-Nonce", "as-nonce")
			writeOAuthError(w, http.StatusBadRequest, "use_dpop_nonce", "nonce required")
			return
		}
		mu.Lock()
		boundJKT = jkt
		mu.Unlock()
		writeToken(w, "dpop-at", "DPoP", 3600)
	})
	md.DPoPSigningAlgs = []string{"ES256"}
	var rsCalls atomic.Int32
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rsCalls.Add(1)
		if r.Header.Get("Authorization") != "DPoP dpop-at" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		c, jkt := verifyProof(t, r.Header.Get("DPoP"), r.Method, "http://"+r.Host+"/mcp", "dpop-at")
		seen(c)
		mu.Lock()
		if jkt != boundJKT {
			t.Errorf("proof key %s, token bound to %s", jkt, boundJKT)
		}
		mu.Unlock()
		if c["nonce"] != "rs-nonce" {
			w.Header().Set("DPoP-Nonce", "rs-nonce")
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer rs.Close()

	st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "svc", ClientSecret: "x"}}
	g, err := newFlow().Obtain(context.Background(), md, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g.DPoPKey == nil || g.Token.TokenType != oauth.DPoPScheme || g.DPoPKey.Thumbprint() != boundJKT || asCalls.Load() != 2 {
		t.Fatalf("grant %+v key %v calls %d", g.Token, g.DPoPKey, asCalls.Load())
	}
	der, err := oauth.MarshalDPoPKey(g.DPoPKey)
	if err != nil {
		t.Fatal(err)
	}
	back, err := oauth.ParseDPoPKey(der)
	if err != nil || back.Thumbprint() != g.DPoPKey.Thumbprint() {
		t.Fatalf("key round trip: %v", err)
	}
	sess := oauth.NewSession(newFlow(), rs.URL+"/mcp", g)
	sess.Strategy = st
	c := &http.Client{Transport: &oauth.Transport{Source: oauth.SessionSource{S: sess}, ServerURL: rs.URL + "/mcp"}}
	for i := range 3 {
		res, err := c.Post(rs.URL+"/mcp?x=1", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %s", i, res.Status)
		}
	}
	if rsCalls.Load() != 4 { // one nonce challenge, then the nonce is remembered
		t.Fatalf("resource requests = %d, want 4", rsCalls.Load())
	}
}

func TestBearerAnswerToDPoPRequestDropsTheKey(t *testing.T) {
	_, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("DPoP") == "" {
			t.Error("no proof sent")
		}
		writeToken(w, "plain", "Bearer", 3600)
	})
	md.DPoPSigningAlgs = []string{"ES256"}
	st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "svc", ClientSecret: "x"}}
	g, err := newFlow().Obtain(context.Background(), md, st, nil, nil)
	if err != nil || g.DPoPKey != nil {
		t.Fatalf("grant %+v err %v", g, err)
	}
	cred, err := oauth.CredentialFor(g, "POST", "https://mcp.example/mcp", "")
	if err != nil || cred.Scheme != "Bearer" || cred.Proof != "" {
		t.Fatalf("cred %+v err %v", cred, err)
	}
}
