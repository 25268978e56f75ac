package testfake

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DPoPAS is an MCP server (at URL) that accepts only DPoP-bound access
// tokens (RFC 9449), and its authorization server, which issues them with
// the client_credentials grant to one pre-registered client
// (client_secret_basic). No authorization server available to the tests
// issues DPoP-bound tokens, hence this fake.
//
// The resource server checks every request as §4.3 and §7 say: the
// Authorization scheme is DPoP, the proof's signature, typ, htm, htu and
// ath, a jti never seen before, that the proof key is the one the token is
// bound to, and a nonce: a request without the current nonce is answered
// 401 use_dpop_nonce (§9). The exported counters are safe to read with Mu
// held.
type DPoPAS struct {
	Srv          *httptest.Server
	URL          string // the MCP endpoint
	ClientID     string
	ClientSecret string // a secret, for the test's secret file
	// ExpiresIn is the lifetime of the tokens issued, in seconds (default
	// 3600). Set it before the grant.
	ExpiresIn int

	Mu       sync.Mutex
	Grants   int               // client_credentials grants issued
	Accepted int               // MCP requests accepted
	Refused  []string          // why MCP requests were refused
	Revoked  []string          // tokens revoked (with valid client authentication)
	tokens   map[string]string // access token → jkt it is bound to
	jtis     map[string]bool
	nonce    string
}

// NewDPoPAS starts the fake; it stops with the test.
func NewDPoPAS(t testing.TB) *DPoPAS {
	a := &DPoPAS{ClientID: "ci-robot", ClientSecret: "s3cret-" + rand.Text(), ExpiresIn: 3600,
		tokens: map[string]string{}, jtis: map[string]bool{}, nonce: rand.Text()}
	srv := mcp.NewServer(&mcp.Implementation{Name: "dpop-fake", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "says hello"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello, ci-robot"}}}, struct{}{}, nil
	})
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	a.Srv = httptest.NewServer(mux)
	t.Cleanup(a.Srv.Close)
	base := a.Srv.URL
	a.URL = base + "/mcp"
	prm := base + "/.well-known/oauth-protected-resource/mcp"
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		if why, nonce := a.checkResource(r); why != "" {
			a.Mu.Lock()
			a.Refused = append(a.Refused, why)
			a.Mu.Unlock()
			if nonce {
				w.Header().Set("DPoP-Nonce", a.currentNonce())
				w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce", algs="ES256"`)
			} else {
				w.Header().Set("WWW-Authenticate", `DPoP algs="ES256", resource_metadata="`+prm+`", scope="mcp"`)
			}
			http.Error(w, why, http.StatusUnauthorized)
			return
		}
		a.Mu.Lock()
		a.Accepted++
		a.Mu.Unlock()
		mcpHandler.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"resource": a.URL, "authorization_servers": []string{base}, "scopes_supported": []string{"mcp"},
			"dpop_bound_access_tokens_required": true})
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{
			"issuer": base, "token_endpoint": base + "/token", "revocation_endpoint": base + "/revoke",
			// No authorization_endpoint, no PKCE: a server for grants without
			// a browser needs neither.
			"grant_types_supported":                 []string{"client_credentials"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
			"dpop_signing_alg_values_supported":     []string{"ES256"},
			"scopes_supported":                      []string{"mcp"},
		})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok || id != a.ClientID || secret != a.ClientSecret {
			writeJSON(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
		if r.PostForm.Get("grant_type") != "client_credentials" {
			writeJSON(w, 400, map[string]any{"error": "unsupported_grant_type"})
			return
		}
		jkt, err := a.verify(r.Header.Get("DPoP"), http.MethodPost, base+"/token", "")
		if err != nil {
			writeJSON(w, 400, map[string]any{"error": "invalid_dpop_proof", "error_description": err.Error()})
			return
		}
		tok := "dpop-at-" + rand.Text()
		a.Mu.Lock()
		a.Grants++
		a.tokens[tok] = jkt
		exp := a.ExpiresIn
		a.Mu.Unlock()
		writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "DPoP", "expires_in": exp, "scope": "mcp"})
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if id, secret, ok := r.BasicAuth(); !ok || id != a.ClientID || secret != a.ClientSecret {
			writeJSON(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
		a.Mu.Lock()
		a.Revoked = append(a.Revoked, r.PostForm.Get("token"))
		delete(a.tokens, r.PostForm.Get("token"))
		a.Mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	return a
}

// SetExpiresIn sets the lifetime of the tokens issued from now on.
func (a *DPoPAS) SetExpiresIn(seconds int) {
	a.Mu.Lock()
	a.ExpiresIn = seconds
	a.Mu.Unlock()
}

// Counts returns the grants issued and the MCP requests accepted.
func (a *DPoPAS) Counts() (grants, accepted int) {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	return a.Grants, a.Accepted
}

func (a *DPoPAS) currentNonce() string {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	return a.nonce
}

// checkResource says why an MCP request is refused ("" when accepted), and
// whether only the nonce was missing.
func (a *DPoPAS) checkResource(r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP ")
	if !ok {
		return "no DPoP Authorization (got scheme " + strconv.Quote(strings.SplitN(r.Header.Get("Authorization"), " ", 2)[0]) + ")", false
	}
	a.Mu.Lock()
	bound, known := a.tokens[tok]
	a.Mu.Unlock()
	if !known {
		return "unknown token", false
	}
	claims := jwt.MapClaims{}
	jkt, err := a.verifyClaims(r.Header.Get("DPoP"), r.Method, "http://"+r.Host+r.URL.Path, tok, claims)
	if err != nil {
		return err.Error(), false
	}
	if jkt != bound {
		return "the proof's key is not the one the token is bound to", false
	}
	if claims["nonce"] != a.currentNonce() {
		return "no current nonce", true
	}
	return "", false
}

func (a *DPoPAS) verify(proof, method, target, accessToken string) (string, error) {
	return a.verifyClaims(proof, method, target, accessToken, jwt.MapClaims{})
}

// verifyClaims checks a DPoP proof (RFC 9449 §4.3) for one request and
// returns its key's RFC 7638 thumbprint; claims receives the proof's claims.
func (a *DPoPAS) verifyClaims(proof, method, target, accessToken string, claims jwt.MapClaims) (string, error) {
	if proof == "" {
		return "", errors.New("no DPoP proof")
	}
	var jkt string
	tok, err := jwt.ParseWithClaims(proof, claims, func(tok *jwt.Token) (any, error) {
		if tok.Header["typ"] != "dpop+jwt" {
			return nil, errors.New("typ is not dpop+jwt")
		}
		jwk, _ := tok.Header["jwk"].(map[string]any)
		xs, _ := jwk["x"].(string)
		ys, _ := jwk["y"].(string)
		if _, has := jwk["d"]; has || jwk["kty"] != "EC" || jwk["crv"] != "P-256" || xs == "" || ys == "" {
			return nil, errors.New("the proof's jwk is not a public P-256 key")
		}
		x, _ := base64.RawURLEncoding.DecodeString(xs)
		y, _ := base64.RawURLEncoding.DecodeString(ys)
		sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + xs + `","y":"` + ys + `"}`))
		jkt = base64.RawURLEncoding.EncodeToString(sum[:])
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	}, jwt.WithValidMethods([]string{"ES256"}))
	if err != nil || !tok.Valid {
		return "", fmt.Errorf("bad proof: %v", err)
	}
	if claims["htm"] != method || claims["htu"] != target {
		return "", fmt.Errorf("proof is for %v %v, not %s %s", claims["htm"], claims["htu"], method, target)
	}
	jti, _ := claims["jti"].(string)
	a.Mu.Lock()
	replay := jti == "" || a.jtis[jti]
	a.jtis[jti] = true
	a.Mu.Unlock()
	if replay {
		return "", errors.New("proof jti missing or replayed")
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if claims["ath"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
			return "", errors.New("proof ath does not match the token")
		}
	}
	return jkt, nil
}
