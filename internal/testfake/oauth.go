package testfake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/oauth"
)

// OAuth is an MCP server plus an authorization server, each an httptest
// server on 127.0.0.1 (or both on one server, for the 2025-03-26 legacy
// layout). Every request is logged in order; token, registration,
// authorization and revocation requests are Recorded in full.
//
// Configuration fields are read by the handlers under mu: change them only
// through Configure (or NewOAuth's configure functions), never directly after requests
// may have started.
type OAuth struct {
	MCP       *httptest.Server
	AS        *httptest.Server
	ServerURL string // MCP endpoint: MCP.URL + MCPPath
	Issuer    string // AS.URL + IssuerPath
	Combined  bool

	mu sync.Mutex

	// ---- configuration (guarded by mu) ----

	MCPPath string         // "/mcp"
	PRM     map[string]any // PRM document; nil: no PRM at any URL (404)
	PRMPath string         // where PRM is served; default path-inserted
	// ChallengeRM puts resource_metadata=MCP.URL+PRMPath in challenges.
	ChallengeRM    bool
	ChallengeScope string         // scope= in 401 challenges ("" none)
	ASMeta         map[string]any // AS metadata; nil: 404 everywhere
	ASMetaPath     string         // where ASMeta is served
	OmitIss        bool           // redirects carry no iss
	RedirectIss    string         // iss value on redirects; default Issuer
	RegSecret      bool           // DCR issues a client secret
	RegAuthMethod  string         // token_endpoint_auth_method in the DCR response ("" omitted)
	RotateRefresh  bool           // refresh grants rotate the refresh token (default true)
	NoRefreshToken bool           // code grants issue no refresh token
	ExpiresIn      int            // seconds; default 3600
	RefreshError   string         // refresh grant answers 400 with this error code
	RefreshErrDesc string         // and this error_description
	CodeError      string         // code grant answers 400 with this error code
	// DenyScopes are scopes the AS never grants (dropped from the token).
	DenyScopes []string
	// MCPScopes are required by the MCP endpoint; missing → 403 insufficient_scope.
	MCPScopes    []string
	MCPPublic    bool // MCP endpoint answers without a token
	MCPRejectAll bool // MCP endpoint answers 401 to everything
	MCPSessionID string
	// InvalidClients are refused with invalid_client at the token endpoint.
	InvalidClients map[string]bool
	// Handlers override a path: key "mcp:/path" or "as:/path".
	Handlers map[string]http.HandlerFunc
	// Clients are the registered clients, by client_id (AddClient, dynamic
	// registration).
	Clients map[string]OAuthClient

	// ---- state (guarded by mu) ----

	codes   map[string]oauthCode
	access  map[string][]string // access token → granted scopes
	subject map[string]string   // access token → the user it was issued for (Subject)
	refresh map[string]oauthGrant
	log     []string // "mcp GET /path", "as POST /token", …

	authReqs   []url.Values
	tokenReqs  []Recorded
	regReqs    []Recorded
	revokeReqs []Recorded
	mcpReqs    []Recorded
	refreshes  int
	exchanges  int
	issued     []string // every token/code/secret the fake handed out
}

// OAuthClient is a registered client.
type OAuthClient struct {
	Secret string
	Method string // none, client_secret_basic, client_secret_post; "" = either secret method
}

type oauthCode struct {
	clientID, redirectURI, challenge, resource string
	scopes                                     []string
	subject                                    string
}

type oauthGrant struct {
	clientID string
	scopes   []string
	subject  string
}

// Recorded is one request as the fake saw it.
type Recorded struct {
	Method string
	Path   string
	Header http.Header
	Form   url.Values
	Body   []byte
}

// OAuthOptions is the fake's layout.
type OAuthOptions struct {
	IssuerPath string // e.g. "/tenant1"
	Combined   bool   // AS endpoints on the MCP server (legacy layout)
}

// NewOAuth starts the fake with the default layout; it stops with the
// test. Each configure function runs with the lock held, before the first
// request.
func NewOAuth(t testing.TB, configure ...func(f *OAuth)) *OAuth {
	return NewOAuthWith(t, OAuthOptions{}, configure...)
}

// NewOAuthWith is NewOAuth with the layout o.
func NewOAuthWith(t testing.TB, o OAuthOptions, configure ...func(f *OAuth)) *OAuth {
	t.Helper()
	f := &OAuth{
		Combined: o.Combined,
		Clients:  map[string]OAuthClient{},
		codes:    map[string]oauthCode{},
		access:   map[string][]string{},
		subject:  map[string]string{},
		refresh:  map[string]oauthGrant{},
	}
	f.MCP = httptest.NewServer(f.handler("mcp"))
	t.Cleanup(f.MCP.Close)
	if o.Combined {
		f.AS = f.MCP
	} else {
		f.AS = httptest.NewServer(f.handler("as"))
		t.Cleanup(f.AS.Close)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.MCPPath = "/mcp"
	f.ServerURL = f.MCP.URL + f.MCPPath
	f.Issuer = f.AS.URL + o.IssuerPath
	f.PRMPath = "/.well-known/oauth-protected-resource" + f.MCPPath
	f.PRM = map[string]any{
		"resource":              f.ServerURL,
		"authorization_servers": []string{f.Issuer},
		"scopes_supported":      []string{"read"},
	}
	f.ChallengeRM = true
	f.ASMetaPath = "/.well-known/oauth-authorization-server" + o.IssuerPath
	f.ASMeta = map[string]any{
		"issuer":                                         f.Issuer,
		"authorization_endpoint":                         f.AS.URL + "/authorize",
		"token_endpoint":                                 f.AS.URL + "/token",
		"registration_endpoint":                          f.AS.URL + "/register",
		"revocation_endpoint":                            f.AS.URL + "/revoke",
		"code_challenge_methods_supported":               []string{"S256"},
		"response_types_supported":                       []string{"code"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"scopes_supported":                               []string{"read", "write", "offline_access"},
		"token_endpoint_auth_methods_supported":          []string{"none", "client_secret_basic", "client_secret_post"},
		"authorization_response_iss_parameter_supported": true,
	}
	f.RedirectIss = f.Issuer
	f.RotateRefresh = true
	f.ExpiresIn = 3600
	f.InvalidClients = map[string]bool{}
	f.Handlers = map[string]http.HandlerFunc{}
	for _, c := range configure {
		if c != nil {
			c(f)
		}
	}
	return f
}

// Configure changes the fake's configuration under its lock.
func (f *OAuth) Configure(c func(f *OAuth)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c(f)
}

// Handle overrides one path on one server ("mcp" or "as").
func (f *OAuth) Handle(server, path string, h http.HandlerFunc) {
	f.Configure(func(f *OAuth) { f.Handlers[server+":"+path] = h })
}

// AddClient registers a client out of band (pre-registration).
func (f *OAuth) AddClient(id, secret, method string) {
	f.Configure(func(f *OAuth) { f.Clients[id] = OAuthClient{Secret: secret, Method: method} })
}

// EnsureClient registers a public client id unless the fake knows it.
func (f *OAuth) EnsureClient(id string) {
	f.Configure(func(f *OAuth) {
		if _, ok := f.Clients[id]; !ok {
			f.Clients[id] = OAuthClient{Method: oauth.AuthNone}
		}
	})
}

// SeedGrant issues an access and a refresh token to clientID out of band.
func (f *OAuth) SeedGrant(clientID string, scopes []string) (at, rt string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, rt = "at-"+rand.Text(), "rt-"+rand.Text()
	f.access[at] = scopes
	f.refresh[rt] = oauthGrant{clientID, scopes, "user"}
	f.issued = append(f.issued, at, rt)
	return at, rt
}

// ForgetAccess makes the MCP server refuse an access token.
func (f *OAuth) ForgetAccess(at string) {
	f.Configure(func(f *OAuth) { delete(f.access, at) })
}

// Subject is the user the access token at was issued for: the
// authorization request's login_hint, else "user" ("" for a token the
// fake did not issue).
func (f *OAuth) Subject(at string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subject[at]
}

// Log returns every request, in order: "mcp GET /path", "as POST /token"…
func (f *OAuth) Log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

// Paths returns "METHOD /path" for the requests one server received.
func (f *OAuth) Paths(server string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, l := range f.log {
		if rest, ok := strings.CutPrefix(l, server+" "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// AuthRequests returns the query of each authorization request.
func (f *OAuth) AuthRequests() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.authReqs)
}

// TokenRequests returns each token request.
func (f *OAuth) TokenRequests() []Recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tokenReqs)
}

// RegRequests returns each registration request.
func (f *OAuth) RegRequests() []Recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.regReqs)
}

// RevokeRequests returns each revocation request.
func (f *OAuth) RevokeRequests() []Recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.revokeReqs)
}

// MCPRequests returns each request to the MCP endpoint.
func (f *OAuth) MCPRequests() []Recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.mcpReqs)
}

// Counts returns the number of token requests, successful refresh grants and
// successful code exchanges.
func (f *OAuth) Counts() (tokenRequests, refreshes, exchanges int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokenReqs), f.refreshes, f.exchanges
}

// Issued returns every secret value the fake handed out.
func (f *OAuth) Issued() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.issued)
}

func (f *OAuth) handler(server string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.log = append(f.log, server+" "+r.Method+" "+r.URL.Path)
		h := f.Handlers[server+":"+r.URL.Path]
		if h == nil && f.Combined {
			h = f.Handlers["as:"+r.URL.Path]
		}
		f.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		if server == "mcp" && f.serveMCP(w, r) {
			return
		}
		if (server == "as" || f.Combined) && f.serveAS(w, r) {
			return
		}
		http.NotFound(w, r)
	}
}

// WriteJSON answers status with v as JSON, not to be cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readRecorded(r *http.Request) Recorded {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := Recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		rec.Form, _ = url.ParseQuery(string(body))
	}
	return rec
}

func (f *OAuth) serveMCP(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case f.PRMPath:
		if f.PRM == nil {
			http.NotFound(w, r)
		} else {
			WriteJSON(w, http.StatusOK, f.PRM)
		}
		return true
	case f.MCPPath:
	default:
		return false
	}
	rec := readRecorded(r)
	f.mcpReqs = append(f.mcpReqs, rec)
	if f.MCPSessionID != "" {
		w.Header().Set("Mcp-Session-Id", f.MCPSessionID)
	}
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusOK)
		return true
	}
	ok := func() {
		WriteJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": 0, "result": map[string]any{}})
	}
	if f.MCPPublic {
		ok()
		return true
	}
	params := []string{`realm="mcp"`}
	if f.ChallengeRM {
		params = append(params, fmt.Sprintf("resource_metadata=%q", f.MCP.URL+f.PRMPath))
	}
	tok, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	scopes, known := f.access[tok]
	if !hasBearer || !known || f.MCPRejectAll {
		if f.ChallengeScope != "" {
			params = append(params, fmt.Sprintf("scope=%q", f.ChallengeScope))
		}
		if hasBearer {
			params = append(params, `error="invalid_token"`)
		}
		w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
	for _, s := range f.MCPScopes {
		if !slices.Contains(scopes, s) {
			params = append(params, `error="insufficient_scope"`, fmt.Sprintf("scope=%q", strings.Join(f.MCPScopes, " ")))
			w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
			w.WriteHeader(http.StatusForbidden)
			return true
		}
	}
	ok()
	return true
}

func (f *OAuth) serveAS(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case f.ASMetaPath:
		if f.ASMeta == nil {
			http.NotFound(w, r)
		} else {
			WriteJSON(w, http.StatusOK, f.ASMeta)
		}
	case "/authorize":
		f.authorize(w, r)
	case "/token":
		f.token(w, r)
	case "/register":
		f.register(w, r)
	case "/revoke":
		f.revoke(w, r)
	default:
		return false
	}
	return true
}

func isCIMD(clientID string) bool { return strings.HasPrefix(clientID, "https://") }

func (f *OAuth) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.authReqs = append(f.authReqs, q)
	id := q.Get("client_id")
	if _, ok := f.Clients[id]; !ok && !isCIMD(id) {
		http.Error(w, "unknown client "+id, http.StatusBadRequest)
		return
	}
	for _, p := range []string{"state", "redirect_uri", "code_challenge", "resource"} {
		if q.Get(p) == "" {
			http.Error(w, "missing "+p, http.StatusBadRequest)
			return
		}
	}
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "bad response_type or code_challenge_method", http.StatusBadRequest)
		return
	}
	code := "code-" + rand.Text()
	f.issued = append(f.issued, code)
	var scopes []string
	for _, s := range strings.Fields(q.Get("scope")) {
		if !slices.Contains(f.DenyScopes, s) {
			scopes = append(scopes, s)
		}
	}
	subject := q.Get("login_hint") // the user who signs in: the one hinted at, else "user"
	if subject == "" {
		subject = "user"
	}
	f.codes[code] = oauthCode{
		clientID: id, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"),
		resource: q.Get("resource"), scopes: scopes, subject: subject,
	}
	loc, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	lq := loc.Query()
	lq.Set("code", code)
	lq.Set("state", q.Get("state"))
	if !f.OmitIss {
		lq.Set("iss", f.RedirectIss)
	}
	loc.RawQuery = lq.Encode()
	w.Header().Set("Location", loc.String())
	w.WriteHeader(http.StatusFound)
}

// authenticate checks the client authentication of a token or revocation
// request against the registered method; it returns the client id.
func (f *OAuth) authenticate(r *http.Request, form url.Values) (string, bool) {
	var id, secret, how string
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
		how = oauth.AuthBasic
		if form.Has("client_secret") {
			return id, false // both ways at once
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
		how = oauth.AuthNone
		if form.Has("client_secret") {
			how = oauth.AuthPost
		}
	}
	if id == "" || f.InvalidClients[id] {
		return id, false
	}
	if isCIMD(id) {
		return id, how == oauth.AuthNone
	}
	c, ok := f.Clients[id]
	if !ok {
		return id, false
	}
	switch c.Method {
	case oauth.AuthNone:
		return id, how == oauth.AuthNone
	case "":
		return id, how != oauth.AuthNone && secret == c.Secret
	default:
		return id, how == c.Method && secret == c.Secret
	}
}

// OAuthError answers an OAuth error response (RFC 6749 §5.2).
func OAuthError(w http.ResponseWriter, status int, code, desc string) {
	m := map[string]string{"error": code}
	if desc != "" {
		m["error_description"] = desc
	}
	WriteJSON(w, status, m)
}

// S256 is the PKCE S256 code challenge of verifier.
func S256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (f *OAuth) token(w http.ResponseWriter, r *http.Request) {
	rec := readRecorded(r)
	f.tokenReqs = append(f.tokenReqs, rec)
	form := rec.Form
	if r.Method != http.MethodPost || form == nil {
		OAuthError(w, http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	clientID, ok := f.authenticate(r, form)
	if !ok {
		OAuthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	var scopes []string
	var subject string
	switch form.Get("grant_type") {
	case "authorization_code":
		if f.CodeError != "" {
			OAuthError(w, http.StatusBadRequest, f.CodeError, "code grant refused")
			return
		}
		c, ok := f.codes[form.Get("code")]
		delete(f.codes, form.Get("code"))
		switch {
		case !ok:
			OAuthError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
			return
		case c.clientID != clientID:
			OAuthError(w, http.StatusBadRequest, "invalid_grant", "code issued to another client")
			return
		case c.redirectURI != form.Get("redirect_uri"):
			OAuthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs")
			return
		case c.resource != form.Get("resource"):
			OAuthError(w, http.StatusBadRequest, "invalid_target", "resource differs")
			return
		case form.Get("code_verifier") == "" || S256(form.Get("code_verifier")) != c.challenge:
			OAuthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
			return
		}
		f.exchanges++
		scopes, subject = c.scopes, c.subject
	case "refresh_token":
		if f.RefreshError != "" {
			OAuthError(w, http.StatusBadRequest, f.RefreshError, f.RefreshErrDesc)
			return
		}
		g, ok := f.refresh[form.Get("refresh_token")]
		if !ok || g.clientID != clientID {
			OAuthError(w, http.StatusBadRequest, "invalid_grant", "unknown refresh token")
			return
		}
		if form.Get("resource") == "" {
			OAuthError(w, http.StatusBadRequest, "invalid_target", "resource missing")
			return
		}
		f.refreshes++
		scopes, subject = g.scopes, g.subject
	default:
		OAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	at := "at-" + rand.Text()
	f.access[at] = scopes
	f.subject[at] = subject
	f.issued = append(f.issued, at)
	res := map[string]any{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   f.ExpiresIn,
		"scope":        strings.Join(scopes, " "),
	}
	newRT := form.Get("grant_type") == "authorization_code" && !f.NoRefreshToken ||
		form.Get("grant_type") == "refresh_token" && f.RotateRefresh
	if newRT {
		rt := "rt-" + rand.Text()
		f.refresh[rt] = oauthGrant{clientID, scopes, subject}
		f.issued = append(f.issued, rt)
		res["refresh_token"] = rt
		if form.Get("grant_type") == "refresh_token" {
			delete(f.refresh, form.Get("refresh_token"))
		}
	}
	WriteJSON(w, http.StatusOK, res)
}

func (f *OAuth) register(w http.ResponseWriter, r *http.Request) {
	rec := readRecorded(r)
	f.regReqs = append(f.regReqs, rec)
	var meta map[string]any
	if err := json.Unmarshal(rec.Body, &meta); err != nil {
		OAuthError(w, http.StatusBadRequest, "invalid_client_metadata", "not JSON")
		return
	}
	id := fmt.Sprintf("dcr-%d", len(f.regReqs))
	res := map[string]any{
		"client_id":     id,
		"redirect_uris": meta["redirect_uris"],
		"grant_types":   meta["grant_types"],
	}
	c := OAuthClient{Method: oauth.AuthNone}
	if f.RegSecret {
		c.Secret = "dcr-secret-" + rand.Text()
		if f.RegAuthMethod == oauth.AuthBasic || f.RegAuthMethod == oauth.AuthPost {
			c.Method = f.RegAuthMethod
		} else {
			c.Method = "" // either secret method
		}
		f.issued = append(f.issued, c.Secret)
		res["client_secret"] = c.Secret
	}
	if f.RegAuthMethod != "" {
		res["token_endpoint_auth_method"] = f.RegAuthMethod
	}
	f.Clients[id] = c
	WriteJSON(w, http.StatusCreated, res)
}

func (f *OAuth) revoke(w http.ResponseWriter, r *http.Request) {
	rec := readRecorded(r)
	f.revokeReqs = append(f.revokeReqs, rec)
	if _, ok := f.authenticate(r, rec.Form); !ok {
		OAuthError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	delete(f.access, rec.Form.Get("token"))
	delete(f.refresh, rec.Form.Get("token"))
	w.WriteHeader(http.StatusOK)
}

// Browser plays the user agent: it follows the authorization URL to the
// fake's redirect without following it, and returns the redirect URL after
// mutate (may be nil) changed its query.
func (f *OAuth) Browser(mutate func(q url.Values)) oauth.Browser {
	return func(ctx context.Context, a *oauth.Authorization) (string, error) {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
		if err != nil {
			return "", err
		}
		res, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusFound {
			return "", fmt.Errorf("fake authorize: %s: %s", res.Status, body)
		}
		u, err := url.Parse(res.Header.Get("Location"))
		if err != nil {
			return "", err
		}
		if mutate != nil {
			q := u.Query()
			mutate(q)
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
}

// Transport returns a RoundTripper that serves requests to the fake's
// servers in-process, without the network: for tests in a testing/synctest
// bubble, where a connection's goroutines would keep the fake clock from
// advancing. A request to any other host fails.
func (f *OAuth) Transport() http.RoundTripper { return inProcess{f} }

type inProcess struct{ f *OAuth }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	var h http.Handler
	switch req.URL.Host {
	case strings.TrimPrefix(t.f.MCP.URL, "http://"):
		h = t.f.MCP.Config.Handler
	case strings.TrimPrefix(t.f.AS.URL, "http://"):
		h = t.f.AS.Config.Handler
	default:
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("testfake: no fake server at %s", req.URL.Host)
	}
	in := req.Clone(req.Context())
	in.RequestURI, in.Host, in.RemoteAddr = req.URL.RequestURI(), req.URL.Host, "127.0.0.1:1"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, in)
	in.Body.Close()
	res := rec.Result()
	res.Request = req
	return res, nil
}
