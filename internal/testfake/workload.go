package testfake

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// IDJAGType is the token type of an Identity Assertion JWT Authorization
// Grant (SEP-990).
const IDJAGType = "urn:ietf:params:oauth:token-type:id-jag"

// WorkloadAS is an MCP server (at URL), its authorization server (Issuer)
// and an enterprise IdP (IdP), each on loopback: no authorization server
// available to the tests takes the JWT-bearer grant (RFC 7523) or issues
// ID-JAGs. The authorization server serves only grants without a browser:
// its metadata has neither an authorization_endpoint nor PKCE. Its token
// endpoint takes the JWT-bearer grant for URL from any client, authenticated
// with none (client_id in the form) or client_secret_basic, and accepts any
// non-empty assertion; the IdP's takes the token exchange for an ID-JAG
// from client "idp-client" with secret IdPSecret. Both record every request
// they were sent (Requests), refused ones included.
type WorkloadAS struct {
	URL       string // the MCP endpoint
	Issuer    string
	IdP       string // the IdP's issuer
	IdPSecret string

	mu         sync.Mutex
	tokens     []url.Values // token requests at the authorization server
	basic      []string     // their Authorization headers
	exchanges  []url.Values // token exchanges at the IdP
	issued     map[string]bool
	authServer string // the authorization server the resource names
}

// NewWorkloadAS starts the fake; it stops with the test.
func NewWorkloadAS(t testing.TB) *WorkloadAS {
	a := &WorkloadAS{IdPSecret: "idp-s3cret-" + rand.Text(), issued: map[string]bool{}}
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}

	idp := http.NewServeMux()
	idpSrv := httptest.NewServer(idp)
	t.Cleanup(idpSrv.Close)
	a.IdP = idpSrv.URL
	idp.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"issuer": a.IdP, "token_endpoint": a.IdP + "/token", "authorization_endpoint": a.IdP + "/authorize",
			"code_challenge_methods_supported": []string{"S256"}, "response_types_supported": []string{"code"}})
	})
	idp.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		a.mu.Lock()
		a.exchanges = append(a.exchanges, r.PostForm)
		a.mu.Unlock()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != "idp-client" || secret != a.IdPSecret {
			writeJSON(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "jag-" + rand.Text(), "issued_token_type": IDJAGType, "token_type": "N_A", "expires_in": 300})
	})

	srv := mcp.NewServer(&mcp.Implementation{Name: "workload-fake", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "says hello"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello, robot"}}}, struct{}{}, nil
	})
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	a.Issuer, a.URL, a.authServer = s.URL, s.URL+"/mcp", s.URL
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.mu.Lock()
		ok := a.issued[tok]
		a.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+s.URL+`/.well-known/oauth-protected-resource/mcp"`)
			http.Error(w, "sign in", http.StatusUnauthorized)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		as := a.authServer
		a.mu.Unlock()
		writeJSON(w, 200, map[string]any{"resource": a.URL, "authorization_servers": []string{as}})
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		// No authorization_endpoint, no code_challenge_methods_supported:
		// this server has no browser sign-in.
		writeJSON(w, 200, map[string]any{"issuer": a.Issuer, "token_endpoint": a.Issuer + "/token",
			"grant_types_supported":                 []string{"urn:ietf:params:oauth:grant-type:jwt-bearer"},
			"token_endpoint_auth_methods_supported": []string{"none", "client_secret_basic"}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		a.mu.Lock()
		a.tokens = append(a.tokens, r.PostForm)
		a.basic = append(a.basic, r.Header.Get("Authorization"))
		a.mu.Unlock()
		if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.PostForm.Get("assertion") == "" || r.PostForm.Get("resource") != a.URL {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
			return
		}
		tok := "at-" + rand.Text()
		a.mu.Lock()
		a.issued[tok] = true
		a.mu.Unlock()
		writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
	})
	return a
}

// Requests returns what the authorization server's token endpoint and the
// IdP's were sent so far: the token requests' forms and Authorization
// headers, and the token exchanges' forms.
func (a *WorkloadAS) Requests() (tokens []url.Values, basic []string, exchanges []url.Values) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]url.Values(nil), a.tokens...), append([]string(nil), a.basic...), append([]url.Values(nil), a.exchanges...)
}

// SetAuthServer makes the resource's metadata name issuer as its
// authorization server from now on (a resource that moved, or one that
// tries to have a client send its credentials elsewhere).
func (a *WorkloadAS) SetAuthServer(issuer string) {
	a.mu.Lock()
	a.authServer = issuer
	a.mu.Unlock()
}
