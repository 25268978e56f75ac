package webui_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const idJAGType = "urn:ietf:params:oauth:token-type:id-jag"

// workloadAS is an MCP server, its authorization server and an enterprise
// IdP, each on loopback. The authorization server serves only grants
// without a browser: its metadata has neither an authorization_endpoint
// nor PKCE. Its token endpoint takes the JWT-bearer grant (RFC 7523) from
// client "robot", authenticated with none (client_id in the form) or
// client_secret_basic; the IdP's takes the token exchange for an ID-JAG
// from client "idp-client" with secret idpSecret. Both record what they
// were sent.
type workloadAS struct {
	URL       string // the MCP endpoint
	Issuer    string
	IdP       string // the IdP's issuer
	idpSecret string

	mu        sync.Mutex
	tokens    []url.Values // token requests at the authorization server
	basic     []string     // their Authorization headers
	exchanges []url.Values // token exchanges at the IdP
	issued    map[string]bool
}

func newWorkloadAS(t *testing.T) *workloadAS {
	a := &workloadAS{idpSecret: "idp-s3cret-" + rand.Text(), issued: map[string]bool{}}
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
		if id != "idp-client" || secret != a.idpSecret {
			writeJSON(w, 401, map[string]any{"error": "invalid_client"})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "jag-" + rand.Text(), "issued_token_type": idJAGType, "token_type": "N_A", "expires_in": 300})
	})

	srv := mcp.NewServer(&mcp.Implementation{Name: "workload-fake", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "says hello"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello, robot"}}}, struct{}{}, nil
	})
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	a.Issuer, a.URL = s.URL, s.URL+"/mcp"
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
		writeJSON(w, 200, map[string]any{"resource": a.URL, "authorization_servers": []string{a.Issuer}})
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

func (a *workloadAS) requests() (tokens []url.Values, basic []string, exchanges []url.Values) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]url.Values(nil), a.tokens...), append([]string(nil), a.basic...), append([]url.Values(nil), a.exchanges...)
}

// testJWT is a JWT (signed, but nobody here verifies it) with a unique
// subject, expiring at exp.
func testJWT(t *testing.T, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: "workload-" + rand.Text(), ExpiresAt: jwt.NewNumericDate(exp),
	}).SignedString([]byte("not a real key"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// grantForm posts the add form and checks that no secret comes back.
type grantForm struct {
	e            *env
	cookie, csrf string
	secrets      []string
}

func (f *grantForm) post(t *testing.T, body map[string]string) (*http.Response, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, out := f.e.do(req{method: http.MethodPost, path: "/api/login", body: string(b), cookie: f.cookie, csrf: f.csrf})
	f.noEcho(t, "POST /api/login", out)
	return res, out
}

func (f *grantForm) noEcho(t *testing.T, what, body string) {
	t.Helper()
	for _, s := range f.secrets {
		if s != "" && strings.Contains(body, s) {
			t.Fatalf("%s echoed a secret: %s", what, body)
		}
	}
}

func (f *grantForm) refused(t *testing.T, why string, body map[string]string) {
	t.Helper()
	res, out := f.post(t, body)
	var ie ipc.Error
	if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(out), &ie) != nil || ie.Message == "" {
		t.Fatalf("%s: %s %s; want 400 with a message", why, res.Status, out)
	}
	t.Logf("%s: %s", why, ie.Message)
}

func (f *grantForm) signedIn(t *testing.T, body map[string]string) *ipc.LoginResponse {
	t.Helper()
	res, out := f.post(t, body)
	var lr ipc.LoginResponse
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(out), &lr) != nil || lr.AuthURL != "" || lr.Server == nil || lr.Server.Status != ipc.StateSignedIn {
		t.Fatalf("add with %s: %s %s", body["grant"], res.Status, out)
	}
	return &lr
}

// TestAddWorkloadIdentity: the add form's workload identity sign-in (JWT
// bearer) gets tokens without a browser from an authorization server that
// has no browser sign-in at all, with a pasted JWT or with a file the
// daemon re-reads for every grant. The page never sends back the JWT or a
// secret; incomplete or contradictory forms are refused with a message.
func TestAddWorkloadIdentity(t *testing.T) {
	a := newWorkloadAS(t)
	e := start(t)
	cookie, csrf := e.login(e.entry)
	pasted, rotated1, rotated2 := testJWT(t, time.Now().Add(time.Hour)), testJWT(t, time.Now().Add(time.Hour)), testJWT(t, time.Now().Add(time.Hour))
	expired := testJWT(t, time.Now().Add(-time.Minute))
	const secret = "robot-s3cret-xyz"
	f := &grantForm{e: e, cookie: cookie, csrf: csrf, secrets: []string{pasted, rotated1, rotated2, expired, secret}}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(rotated1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const fakeKey = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGJ1dCBzZWNyZXQ=\n-----END PRIVATE KEY-----\n"

	for why, body := range map[string]map[string]string{
		"no client id":           {"url": a.URL, "grant": "jwt_bearer", "assertion": pasted},
		"no JWT":                 {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot"},
		"both JWT and file":      {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": pasted, "assertion_file": file},
		"relative file":          {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion_file": "token"},
		"missing file":           {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion_file": file + ".missing"},
		"a directory":            {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion_file": filepath.Dir(file)},
		"not a JWT":              {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": "robot-s3cret-xyz"},
		"expired JWT":            {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": expired},
		"secret and key":         {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": pasted, "client_secret": secret, "private_key": fakeKey},
		"not a key":              {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": pasted, "private_key": fakeKey},
		"IdP fields":             {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": pasted, "id_token": pasted},
		"JWT for a browser":      {"url": a.URL, "assertion": pasted},
		"JWT for client creds":   {"url": a.URL, "grant": "client_credentials", "client_id": "robot", "client_secret": secret, "assertion_file": file},
		"secret without a login": {"url": a.URL, "grant": "jwt_bearer", "assertion": pasted, "client_secret": secret},
	} {
		f.refused(t, why, body)
	}
	// Without the CSRF token the form is refused before anything is sent.
	b, _ := json.Marshal(map[string]string{"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": pasted})
	if res, _ := e.do(req{method: http.MethodPost, path: "/api/login", body: string(b), cookie: cookie}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without CSRF: %s", res.Status)
	}
	if tokens, _, _ := a.requests(); len(tokens) != 0 {
		t.Fatalf("%d token requests before a valid form", len(tokens))
	}

	// A pasted JWT, a public client: the JWT is the grant's assertion.
	f.signedIn(t, map[string]string{"url": a.URL, "grant": "jwt_bearer", "client_id": " robot ", "assertion": " " + pasted + "\n"})
	tokens, basic, _ := a.requests()
	if len(tokens) != 1 || tokens[0].Get("assertion") != pasted || tokens[0].Get("client_id") != "robot" || basic[0] != "" {
		t.Fatalf("token request: %v (Authorization %q)", tokens, basic)
	}

	// A file, a confidential client: the file's JWT, read when granting,
	// and again (rotated) for the next grant.
	a2 := newWorkloadAS(t)
	f.signedIn(t, map[string]string{"url": a2.URL, "grant": "jwt_bearer", "client_id": "robot", "client_secret": secret, "assertion_file": file})
	tokens, basic, _ = a2.requests()
	if len(tokens) != 1 || tokens[0].Get("assertion") != rotated1 || !strings.HasPrefix(basic[0], "Basic ") || tokens[0].Get("client_secret") != "" {
		t.Fatalf("token request: %v (Authorization %q)", tokens, basic)
	}
	if err := os.WriteFile(file, []byte(rotated2), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(map[string]string{"url": a2.URL})
	res, out := e.do(req{method: http.MethodPost, path: "/api/refresh", body: string(b), cookie: cookie, csrf: csrf})
	f.noEcho(t, "POST /api/refresh", out)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %s %s", res.Status, out)
	}
	if tokens, _, _ = a2.requests(); len(tokens) != 2 || tokens[1].Get("assertion") != rotated2 {
		t.Fatalf("after rotation: %d token requests, last assertion rotated: %v", len(tokens), tokens[len(tokens)-1].Get("assertion") == rotated2)
	}

	st := e.firstState(cookie)
	if len(st.Servers) != 2 || st.Servers[0].Grant != ipc.GrantJWTBearer || st.Servers[1].Grant != ipc.GrantJWTBearer {
		t.Fatalf("state: %+v", st.Servers)
	}
	raw, _ := json.Marshal(st)
	f.noEcho(t, "the page's state", string(raw))
}

// TestAddEnterpriseSSO: the add form's company SSO sign-in exchanges the
// pasted ID token at the IdP (as mcpauthd's client there, with its secret)
// for an ID-JAG and redeems that at the server's authorization server for
// tokens, without a browser. The ID token and the secrets never come back;
// incomplete forms are refused with a message.
func TestAddEnterpriseSSO(t *testing.T) {
	a := newWorkloadAS(t)
	e := start(t)
	cookie, csrf := e.login(e.entry)
	idToken, expired := testJWT(t, time.Now().Add(time.Hour)), testJWT(t, time.Now().Add(-time.Minute))
	const secret = "robot-s3cret-xyz"
	f := &grantForm{e: e, cookie: cookie, csrf: csrf, secrets: []string{idToken, expired, secret, a.idpSecret}}
	full := func(drop string, set ...string) map[string]string {
		m := map[string]string{"url": a.URL, "grant": "enterprise", "client_id": "robot", "client_secret": secret,
			"idp_issuer": a.IdP, "idp_client_id": "idp-client", "idp_client_secret": a.idpSecret, "id_token": idToken}
		delete(m, drop)
		for i := 0; i+1 < len(set); i += 2 {
			m[set[i]] = set[i+1]
		}
		return m
	}
	for why, body := range map[string]map[string]string{
		"no client id":          full("client_id", "client_secret", ""),
		"no IdP issuer":         full("idp_issuer"),
		"no IdP client id":      full("idp_client_id"),
		"no ID token":           full("id_token"),
		"blank ID token":        full("", "id_token", "  "),
		"IdP issuer not a URL":  full("", "idp_issuer", "idp.example.com"),
		"ID token not a JWT":    full("", "id_token", a.idpSecret),
		"expired ID token":      full("", "id_token", expired),
		"a workload JWT":        full("", "assertion", idToken),
		"IdP fields, no grant":  full("grant"),
		"IdP secret for creds":  full("", "grant", "client_credentials"),
		"IdP secret on its own": {"url": a.URL, "idp_client_secret": a.idpSecret},
	} {
		f.refused(t, why, body)
	}
	if tokens, _, exchanges := a.requests(); len(tokens)+len(exchanges) != 0 {
		t.Fatalf("%d token requests, %d exchanges before a valid form", len(tokens), len(exchanges))
	}

	f.signedIn(t, full(""))
	tokens, basic, exchanges := a.requests()
	if len(exchanges) != 1 || exchanges[0].Get("subject_token") != idToken || exchanges[0].Get("audience") != a.Issuer ||
		exchanges[0].Get("requested_token_type") != idJAGType || exchanges[0].Get("resource") != a.URL {
		t.Fatalf("token exchange at the IdP: %v", exchanges)
	}
	if len(tokens) != 1 || !strings.HasPrefix(tokens[0].Get("assertion"), "jag-") || !strings.HasPrefix(basic[0], "Basic ") {
		t.Fatalf("JWT-bearer grant at the authorization server: %v (Authorization %q)", tokens, basic)
	}
	st := e.firstState(cookie)
	if len(st.Servers) != 1 || st.Servers[0].Grant != ipc.GrantEnterprise || st.Servers[0].Status != ipc.StateSignedIn {
		t.Fatalf("state: %+v", st.Servers)
	}
	raw, _ := json.Marshal(st)
	f.noEcho(t, "the page's state", string(raw))

	// The page offers both sign-ins and says a pasted JWT expires.
	res, page := e.do(req{path: "/ui", cookie: cookie})
	_, js := e.do(req{path: "/static/app.js", cookie: cookie})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `value="jwt_bearer"`) || !strings.Contains(page, `value="enterprise"`) ||
		!strings.Contains(page, "add-assertion-file") || !strings.Contains(page, "add-id-token") || !strings.Contains(js, "expires") {
		t.Fatalf("the page lacks the new sign-ins: %s", res.Status)
	}
}
