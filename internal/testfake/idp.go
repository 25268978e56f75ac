package testfake

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// IdP is a company's OpenID Connect identity provider on loopback, as far
// as enterprise-managed authorization (SEP-990) uses one: discovery
// (/.well-known/openid-configuration), an authorization endpoint that
// approves at once (the user is signed in at the IdP) and insists on PKCE
// S256, openid and a nonce, a token endpoint for the authorization code,
// refresh tokens (rotated on every use, as Okta's rotation and Entra ID
// do) and the RFC 8693 token exchange for ID-JAGs, RFC 7009 revocation, and
// a JWKS with the EC key that signs its ID tokens and ID-JAGs. Following
// OpenID Connect Core §11 (Okta, Entra ID), a refresh token is issued only
// for offline_access with prompt=consent. The client is ClientID, public
// (no secret) until SetClientSecret makes it confidential. Its ID tokens
// live idTokenTTL.
type IdP struct {
	Issuer     string
	ClientID   string
	idTokenTTL time.Duration

	key *ecdsa.PrivateKey
	kid string

	mu        sync.Mutex
	secret    string // "": a public client
	codes     map[string]idpCode
	refresh   map[string]string // live refresh token -> subject
	idTokens  map[string]bool   // ID tokens it issued
	authorize int
	refreshes int
	exchanges int
	revoked   int
}

type idpCode struct {
	challenge, redirect, nonce string
	offline                    bool
}

// NewIdP starts the fake, issuing ID tokens that live idTokenTTL; it stops
// with the test.
func NewIdP(t testing.TB, idTokenTTL time.Duration) *IdP {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &IdP{ClientID: "mcpauthd-at-idp", idTokenTTL: idTokenTTL, key: key, kid: rand.Text()[:8],
		codes: map[string]idpCode{}, refresh: map[string]string{}, idTokens: map[string]bool{}}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.Issuer = srv.URL
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, 200, map[string]any{"issuer": p.Issuer, "authorization_endpoint": p.Issuer + "/authorize",
			"token_endpoint": p.Issuer + "/token", "jwks_uri": p.Issuer + "/jwks", "revocation_endpoint": p.Issuer + "/revoke",
			"code_challenge_methods_supported": []string{"S256"}, "response_types_supported": []string{"code"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
			"grant_types_supported":                 []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"},
			"id_token_signing_alg_values_supported": []string{"ES256"}, "subject_types_supported": []string{"public"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := key.PublicKey.Bytes() // uncompressed point: 0x04 | x | y
		enc := base64.RawURLEncoding.EncodeToString
		WriteJSON(w, 200, map[string]any{"keys": []map[string]string{{"kty": "EC", "crv": "P-256", "kid": p.kid, "use": "sig", "alg": "ES256",
			"x": enc(raw[1:33]), "y": enc(raw[33:])}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		scopes := strings.Fields(q.Get("scope"))
		if q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
			q.Get("code_challenge") == "" || q.Get("nonce") == "" || !slices.Contains(scopes, "openid") || q.Get("redirect_uri") == "" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := rand.Text()
		p.mu.Lock()
		p.authorize++
		p.codes[code] = idpCode{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), nonce: q.Get("nonce"),
			offline: slices.Contains(scopes, "offline_access") && q.Get("prompt") == "consent"}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {p.Issuer}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		if _, ok := p.refresh[r.PostForm.Get("token")]; ok {
			delete(p.refresh, r.PostForm.Get("token"))
			p.revoked++
		}
		p.mu.Unlock()
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f := r.PostForm
		id, secret, basic := r.BasicAuth()
		if !basic {
			id, secret = f.Get("client_id"), f.Get("client_secret")
		}
		p.mu.Lock()
		want := p.secret
		p.mu.Unlock()
		if id != p.ClientID || secret != want {
			WriteJSON(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
		switch f.Get("grant_type") {
		case "authorization_code":
			p.mu.Lock()
			c, ok := p.codes[f.Get("code")]
			delete(p.codes, f.Get("code"))
			p.mu.Unlock()
			sum := sha256.Sum256([]byte(f.Get("code_verifier")))
			if !ok || c.redirect != f.Get("redirect_uri") || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
				WriteJSON(w, 400, map[string]any{"error": "invalid_grant"})
				return
			}
			p.issue(w, "user-1", c.nonce, c.offline)
		case "refresh_token":
			p.mu.Lock()
			sub, ok := p.refresh[f.Get("refresh_token")]
			delete(p.refresh, f.Get("refresh_token")) // rotation: each one works once
			p.refreshes++
			p.mu.Unlock()
			if !ok {
				WriteJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "refresh token revoked or unknown"})
				return
			}
			p.issue(w, sub, "", true)
		case "urn:ietf:params:oauth:grant-type:token-exchange":
			p.mu.Lock()
			p.exchanges++
			p.mu.Unlock()
			sub, ok := p.verifyIDToken(f.Get("subject_token"))
			if !ok || f.Get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token" || f.Get("requested_token_type") != IDJAGType || f.Get("audience") == "" {
				WriteJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "subject token not accepted"})
				return
			}
			now := time.Now()
			jag := p.sign(jwt.MapClaims{"iss": p.Issuer, "sub": sub, "aud": f.Get("audience"), "client_id": p.ClientID,
				"resource": f.Get("resource"), "jti": rand.Text(), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}, "oauth-id-jag+jwt")
			WriteJSON(w, 200, map[string]any{"access_token": jag, "issued_token_type": IDJAGType, "token_type": "N_A", "expires_in": 300})
		default:
			WriteJSON(w, 400, map[string]any{"error": "unsupported_grant_type"})
		}
	})
	return p
}

// issue answers a token request with a new ID token for sub (with nonce,
// when given) and, with offline, a new refresh token.
func (p *IdP) issue(w http.ResponseWriter, sub, nonce string, offline bool) {
	now := time.Now()
	claims := jwt.MapClaims{"iss": p.Issuer, "sub": sub, "aud": p.ClientID, "iat": now.Unix(), "exp": now.Add(p.idTokenTTL).Unix(), "email": sub + "@example.com"}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	idt := p.sign(claims, "JWT")
	res := map[string]any{"access_token": "idp-at-" + rand.Text(), "token_type": "Bearer", "expires_in": 3600, "id_token": idt}
	p.mu.Lock()
	p.idTokens[idt] = true
	if offline {
		rt := "idp-rt-" + rand.Text()
		p.refresh[rt] = sub
		res["refresh_token"] = rt
	}
	p.mu.Unlock()
	WriteJSON(w, 200, res)
}

// Sign signs claims with the IdP's published key (ES256, its kid): an ID
// token when the claims say so, for tests of what a verifier refuses.
func (p *IdP) Sign(claims jwt.MapClaims) string { return p.sign(claims, "JWT") }

func (p *IdP) sign(claims jwt.MapClaims, typ string) string {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"], t.Header["typ"] = p.kid, typ
	s, err := t.SignedString(p.key)
	if err != nil {
		panic(err)
	}
	return s
}

// verifyIDToken reports whether raw is an unexpired ID token this IdP
// issued, and its subject.
func (p *IdP) verifyIDToken(raw string) (string, bool) {
	p.mu.Lock()
	known := p.idTokens[raw]
	p.mu.Unlock()
	var c jwt.RegisteredClaims
	if _, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return &p.key.PublicKey, nil }, jwt.WithValidMethods([]string{"ES256"}),
		jwt.WithIssuer(p.Issuer), jwt.WithAudience(p.ClientID), jwt.WithExpirationRequired()); err != nil || !known {
		return "", false
	}
	return c.Subject, true
}

// SetClientSecret makes the client confidential with secret (or public
// again with ""): from now on the token endpoint takes only that secret
// (client_secret_basic or _post).
func (p *IdP) SetClientSecret(secret string) {
	p.mu.Lock()
	p.secret = secret
	p.mu.Unlock()
}

// RevokeAll ends every session at the IdP: no refresh token it issued is
// accepted any more (an administrator signed the user out, or the session
// reached its maximum age).
func (p *IdP) RevokeAll() {
	p.mu.Lock()
	clear(p.refresh)
	p.mu.Unlock()
}

// Counts returns how many authorization requests (browser sign-ins),
// refresh-token grants, token exchanges and revocations of a live refresh
// token the IdP has seen.
func (p *IdP) Counts() (authorize, refreshes, exchanges, revoked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.authorize, p.refreshes, p.exchanges, p.revoked
}

// EnterpriseAS is an MCP server (URL) and its authorization server
// (Issuer) of a company that trusts IdP: its token endpoint takes only the
// JWT-bearer grant with an ID-JAG the IdP signed (typ oauth-id-jag+jwt,
// audience this issuer, resource this server, client_id the one sent,
// unexpired), and issues access tokens that live accessTTL.
type EnterpriseAS struct {
	URL, Issuer string
	accessTTL   time.Duration

	mu     sync.Mutex
	grants int
	tokens map[string]time.Time
}

// NewEnterpriseAS starts one whose access tokens live accessTTL; it stops
// with the test.
func NewEnterpriseAS(t testing.TB, idp *IdP, accessTTL time.Duration) *EnterpriseAS {
	a := &EnterpriseAS{accessTTL: accessTTL, tokens: map[string]time.Time{}}
	srv := mcp.NewServer(&mcp.Implementation{Name: "company-fake", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "says hello"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello, colleague"}}}, struct{}{}, nil
	})
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	a.Issuer, a.URL = s.URL, s.URL+"/mcp"
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.mu.Lock()
		exp, ok := a.tokens[tok]
		a.mu.Unlock()
		if !ok || time.Now().After(exp) {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+s.URL+`/.well-known/oauth-protected-resource/mcp"`)
			http.Error(w, "sign in", http.StatusUnauthorized)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, 200, map[string]any{"resource": a.URL, "authorization_servers": []string{a.Issuer}})
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, 200, map[string]any{"issuer": a.Issuer, "token_endpoint": a.Issuer + "/token",
			"grant_types_supported":                 []string{"urn:ietf:params:oauth:grant-type:jwt-bearer"},
			"token_endpoint_auth_methods_supported": []string{"none"}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f := r.PostForm
		var c struct {
			jwt.RegisteredClaims
			ClientID string `json:"client_id"`
			Resource string `json:"resource"`
		}
		tk, err := jwt.ParseWithClaims(f.Get("assertion"), &c, func(*jwt.Token) (any, error) { return &idp.key.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(idp.Issuer), jwt.WithAudience(a.Issuer), jwt.WithExpirationRequired())
		if f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || err != nil || tk.Header["typ"] != "oauth-id-jag+jwt" ||
			c.ClientID != f.Get("client_id") || c.Resource != a.URL || f.Get("resource") != a.URL {
			WriteJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "ID-JAG not accepted"})
			return
		}
		tok := "at-" + rand.Text()
		a.mu.Lock()
		a.grants++
		a.tokens[tok] = time.Now().Add(a.accessTTL)
		a.mu.Unlock()
		WriteJSON(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(a.accessTTL / time.Second)})
	})
	return a
}

// Grants is how many ID-JAGs the authorization server has redeemed.
func (a *EnterpriseAS) Grants() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.grants
}

// Accepts reports whether tok is a live access token of this server.
func (a *EnterpriseAS) Accepts(tok string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.tokens[tok]
	return ok && time.Now().Before(exp)
}
