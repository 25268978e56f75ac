package oauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/oauth"
)

// Example signs in to an MCP server with the engine alone — discovery,
// dynamic client registration, an authorization code with PKCE — and calls
// the server through a Transport that adds the token, refreshes it, and
// answers the server's challenges. Nothing is stored: a program that wants
// the sign-in to outlive it saves the grant (Session.Save) and the
// registrations (Flow.Registrations) itself, sealed. mcpauthd's daemon
// does exactly that; to take a token from it instead, see the ipc package.
func Example() {
	serverURL, stop := startExampleServer() // an MCP server and its authorization server
	defer stop()
	ctx := context.Background()

	flow := &oauth.Flow{
		HTTP: oauth.NewHTTPClient(oauth.HTTPOptions{}),
		Client: oauth.ClientConfig{
			ClientName:   "example",
			RedirectURIs: []string{"http://127.0.0.1:53682/callback"},
		},
		Registrations: &memRegistrations{},
	}
	sess := oauth.NewSession(flow, serverURL, nil)
	// A real program opens a.URL in the user's browser and waits for the
	// redirect to its callback (http://127.0.0.1:53682/callback here).
	sess.Browser = approveInBrowser

	g, err := sess.Login(ctx, nil)
	if err != nil {
		fmt.Println("sign-in failed:", err)
		return
	}
	fmt.Println("signed in with scopes", g.Token.Scopes)

	client := &http.Client{Transport: &oauth.Transport{
		Base:      flow.HTTP.Transport,
		Source:    oauth.SessionSource{S: sess, Margin: time.Minute},
		ServerURL: serverURL,
	}}
	res, err := client.Post(serverURL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	fmt.Println(res.Status, string(body))
	// Output:
	// signed in with scopes [mcp]
	// 200 OK {"jsonrpc":"2.0","id":1,"result":{}}
}

// approveInBrowser plays the user: it opens the authorization request,
// which the example's authorization server approves at once, and returns
// the URL it redirects to.
func approveInBrowser(ctx context.Context, a *oauth.Authorization) (string, error) {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
	if err != nil {
		return "", err
	}
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	return res.Header.Get("Location"), nil
}

// memRegistrations keeps client registrations in memory.
type memRegistrations struct {
	mu   sync.Mutex
	regs map[string]*oauth.Registration
}

func (m *memRegistrations) LoadRegistration(_ context.Context, issuer string) (*oauth.Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.regs[issuer], nil
}

func (m *memRegistrations) SaveRegistration(_ context.Context, reg *oauth.Registration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.regs == nil {
		m.regs = map[string]*oauth.Registration{}
	}
	m.regs[reg.Issuer] = reg
	return nil
}

func (m *memRegistrations) DropRegistration(_ context.Context, issuer string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.regs, issuer)
	return nil
}

// startExampleServer starts an MCP endpoint (/mcp) that wants a bearer
// token, and on the same origin its authorization server: metadata,
// dynamic registration, an authorize endpoint that approves at once, and a
// token endpoint that checks PKCE.
func startExampleServer() (serverURL string, stop func()) {
	const token = "example-access-token"
	var (
		mu        sync.Mutex
		challenge string // the PKCE challenge of the code issued
	)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	base := srv.URL
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /mcp", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+base+`/.well-known/oauth-protected-resource/mcp", scope="mcp"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"resource": base + "/mcp", "authorization_servers": []string{base}, "scopes_supported": []string{"mcp"}})
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{
			"issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
			"registration_endpoint": base + "/register", "code_challenge_methods_supported": []string{"S256"},
			"response_types_supported": []string{"code"}, "token_endpoint_auth_methods_supported": []string{"none"},
			"authorization_response_iss_parameter_supported": true,
		})
	})
	mux.HandleFunc("POST /register", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		m["client_id"], m["token_endpoint_auth_method"] = "example-client", "none"
		writeJSON(w, 201, m)
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		challenge = q.Get("code_challenge")
		mu.Unlock()
		to, _ := url.Parse(q.Get("redirect_uri"))
		to.RawQuery = url.Values{"code": {"example-code"}, "state": {q.Get("state")}, "iss": {base}}.Encode()
		http.Redirect(w, r, to.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		mu.Lock()
		ok := r.PostForm.Get("code") == "example-code" && base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
		mu.Unlock()
		if !ok {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": "mcp"})
	})
	return base + "/mcp", srv.Close
}
