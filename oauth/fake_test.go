package oauth_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/oauth"
)

// fake is an MCP server plus an authorization server, each an httptest
// server on 127.0.0.1 (or both on one server, for the 2025-03-26 legacy
// layout). Every request is logged in order; token, registration,
// authorization and revocation requests are recorded in full.
//
// Configuration fields are read by the handlers under mu: change them only
// through Configure (or newFake's options), never directly after requests
// may have started.
type fake struct {
	t         *testing.T
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

	// ---- state (guarded by mu) ----

	clients map[string]fakeClient
	codes   map[string]fakeCode
	access  map[string][]string // access token → granted scopes
	refresh map[string]fakeGrant
	log     []string // "mcp GET /path", "as POST /token", …

	authReqs   []url.Values
	tokenReqs  []recorded
	regReqs    []recorded
	revokeReqs []recorded
	mcpReqs    []recorded
	refreshes  int
	exchanges  int
	issued     []string // every token/code/secret the fake handed out
}

type fakeClient struct {
	secret string
	method string // none, client_secret_basic, client_secret_post; "" = either secret method
}

type fakeCode struct {
	clientID, redirectURI, challenge, resource string
	scopes                                     []string
}

type fakeGrant struct {
	clientID string
	scopes   []string
}

// recorded is one request as the fake saw it.
type recorded struct {
	Method string
	Path   string
	Header http.Header
	Form   url.Values
	Body   []byte
}

type fakeOptions struct {
	IssuerPath string // e.g. "/tenant1"
	Combined   bool   // AS endpoints on the MCP server (legacy layout)
}

func newFake(t *testing.T, configure ...func(f *fake)) *fake {
	return newFakeWith(t, fakeOptions{}, configure...)
}

func newFakeWith(t *testing.T, o fakeOptions, configure ...func(f *fake)) *fake {
	t.Helper()
	f := &fake{
		t:        t,
		Combined: o.Combined,
		clients:  map[string]fakeClient{},
		codes:    map[string]fakeCode{},
		access:   map[string][]string{},
		refresh:  map[string]fakeGrant{},
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
func (f *fake) Configure(c func(f *fake)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c(f)
}

// Handle overrides one path on one server ("mcp" or "as").
func (f *fake) Handle(server, path string, h http.HandlerFunc) {
	f.Configure(func(f *fake) { f.Handlers[server+":"+path] = h })
}

// AddClient registers a client out of band (pre-registration).
func (f *fake) AddClient(id, secret, method string) {
	f.Configure(func(f *fake) { f.clients[id] = fakeClient{secret: secret, method: method} })
}

// EnsureClient registers a public client id unless the fake knows it.
func (f *fake) EnsureClient(id string) {
	f.Configure(func(f *fake) {
		if _, ok := f.clients[id]; !ok {
			f.clients[id] = fakeClient{method: oauth.AuthNone}
		}
	})
}

// SeedGrant issues an access and a refresh token to clientID out of band.
func (f *fake) SeedGrant(clientID string, scopes []string) (at, rt string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, rt = "at-"+rand.Text(), "rt-"+rand.Text()
	f.access[at] = scopes
	f.refresh[rt] = fakeGrant{clientID, scopes}
	f.issued = append(f.issued, at, rt)
	return at, rt
}

// ForgetAccess makes the MCP server refuse an access token.
func (f *fake) ForgetAccess(at string) {
	f.Configure(func(f *fake) { delete(f.access, at) })
}

func (f *fake) Log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

// Paths returns "METHOD /path" for the requests one server received.
func (f *fake) Paths(server string) []string {
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

func (f *fake) AuthRequests() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.authReqs)
}

func (f *fake) TokenRequests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tokenReqs)
}

func (f *fake) RegRequests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.regReqs)
}

func (f *fake) RevokeRequests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.revokeReqs)
}

func (f *fake) MCPRequests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.mcpReqs)
}

// Counts returns the number of token requests, successful refresh grants and
// successful code exchanges.
func (f *fake) Counts() (tokenRequests, refreshes, exchanges int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokenReqs), f.refreshes, f.exchanges
}

// Issued returns every secret value the fake handed out.
func (f *fake) Issued() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.issued)
}

func (f *fake) handler(server string) http.HandlerFunc {
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readRecorded(r *http.Request) recorded {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		rec.Form, _ = url.ParseQuery(string(body))
	}
	return rec
}

func (f *fake) serveMCP(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case f.PRMPath:
		if f.PRM == nil {
			http.NotFound(w, r)
		} else {
			writeJSON(w, http.StatusOK, f.PRM)
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
		writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": 0, "result": map[string]any{}})
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

func (f *fake) serveAS(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case f.ASMetaPath:
		if f.ASMeta == nil {
			http.NotFound(w, r)
		} else {
			writeJSON(w, http.StatusOK, f.ASMeta)
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

func (f *fake) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.authReqs = append(f.authReqs, q)
	id := q.Get("client_id")
	if _, ok := f.clients[id]; !ok && !isCIMD(id) {
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
	f.codes[code] = fakeCode{
		clientID: id, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"),
		resource: q.Get("resource"), scopes: scopes,
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
func (f *fake) authenticate(r *http.Request, form url.Values) (string, bool) {
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
	c, ok := f.clients[id]
	if !ok {
		return id, false
	}
	switch c.method {
	case oauth.AuthNone:
		return id, how == oauth.AuthNone
	case "":
		return id, how != oauth.AuthNone && secret == c.secret
	default:
		return id, how == c.method && secret == c.secret
	}
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	m := map[string]string{"error": code}
	if desc != "" {
		m["error_description"] = desc
	}
	writeJSON(w, status, m)
}

func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (f *fake) token(w http.ResponseWriter, r *http.Request) {
	rec := readRecorded(r)
	f.tokenReqs = append(f.tokenReqs, rec)
	form := rec.Form
	if r.Method != http.MethodPost || form == nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "POST a form")
		return
	}
	clientID, ok := f.authenticate(r, form)
	if !ok {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	var scopes []string
	switch form.Get("grant_type") {
	case "authorization_code":
		if f.CodeError != "" {
			oauthError(w, http.StatusBadRequest, f.CodeError, "code grant refused")
			return
		}
		c, ok := f.codes[form.Get("code")]
		delete(f.codes, form.Get("code"))
		switch {
		case !ok:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
			return
		case c.clientID != clientID:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "code issued to another client")
			return
		case c.redirectURI != form.Get("redirect_uri"):
			oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs")
			return
		case c.resource != form.Get("resource"):
			oauthError(w, http.StatusBadRequest, "invalid_target", "resource differs")
			return
		case form.Get("code_verifier") == "" || s256(form.Get("code_verifier")) != c.challenge:
			oauthError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
			return
		}
		f.exchanges++
		scopes = c.scopes
	case "refresh_token":
		if f.RefreshError != "" {
			oauthError(w, http.StatusBadRequest, f.RefreshError, f.RefreshErrDesc)
			return
		}
		g, ok := f.refresh[form.Get("refresh_token")]
		if !ok || g.clientID != clientID {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown refresh token")
			return
		}
		if form.Get("resource") == "" {
			oauthError(w, http.StatusBadRequest, "invalid_target", "resource missing")
			return
		}
		f.refreshes++
		scopes = g.scopes
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	at := "at-" + rand.Text()
	f.access[at] = scopes
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
		f.refresh[rt] = fakeGrant{clientID, scopes}
		f.issued = append(f.issued, rt)
		res["refresh_token"] = rt
		if form.Get("grant_type") == "refresh_token" {
			delete(f.refresh, form.Get("refresh_token"))
		}
	}
	writeJSON(w, http.StatusOK, res)
}

func (f *fake) register(w http.ResponseWriter, r *http.Request) {
	rec := readRecorded(r)
	f.regReqs = append(f.regReqs, rec)
	var meta map[string]any
	if err := json.Unmarshal(rec.Body, &meta); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_client_metadata", "not JSON")
		return
	}
	id := fmt.Sprintf("dcr-%d", len(f.regReqs))
	res := map[string]any{
		"client_id":     id,
		"redirect_uris": meta["redirect_uris"],
		"grant_types":   meta["grant_types"],
	}
	c := fakeClient{method: oauth.AuthNone}
	if f.RegSecret {
		c.secret = "dcr-secret-" + rand.Text()
		if f.RegAuthMethod == oauth.AuthBasic || f.RegAuthMethod == oauth.AuthPost {
			c.method = f.RegAuthMethod
		} else {
			c.method = "" // either secret method
		}
		f.issued = append(f.issued, c.secret)
		res["client_secret"] = c.secret
	}
	if f.RegAuthMethod != "" {
		res["token_endpoint_auth_method"] = f.RegAuthMethod
	}
	f.clients[id] = c
	writeJSON(w, http.StatusCreated, res)
}

func (f *fake) revoke(w http.ResponseWriter, r *http.Request) {
	rec := readRecorded(r)
	f.revokeReqs = append(f.revokeReqs, rec)
	if _, ok := f.authenticate(r, rec.Form); !ok {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	delete(f.access, rec.Form.Get("token"))
	delete(f.refresh, rec.Form.Get("token"))
	w.WriteHeader(http.StatusOK)
}

// Browser plays the user agent: it follows the authorization URL to the
// fake's redirect without following it, and returns the redirect URL after
// mutate (may be nil) changed its query.
func (f *fake) Browser(mutate func(q url.Values)) oauth.Browser {
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

// ---- shared helpers ----

const testRedirect = "http://127.0.0.1:53682/callback"

func testClientConfig() oauth.ClientConfig {
	return oauth.ClientConfig{
		RedirectURIs: []string{testRedirect, "http://localhost:53682/callback"},
		ClientName:   "mcpauthd test",
		ClientURI:    "https://mcpauthd.example/",
	}
}

func newClient() *http.Client {
	return oauth.NewHTTPClient(oauth.HTTPOptions{Timeout: 10 * time.Second})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// memRegs is an in-memory oauth.Registrations that counts its calls.
type memRegs struct {
	mu                  sync.Mutex
	regs                map[string]*oauth.Registration
	loads, saves, drops int
	saveErr             error
}

func newMemRegs() *memRegs { return &memRegs{regs: map[string]*oauth.Registration{}} }

func (m *memRegs) LoadRegistration(_ context.Context, issuer string) (*oauth.Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	return m.regs[issuer], nil
}

func (m *memRegs) SaveRegistration(_ context.Context, reg *oauth.Registration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	if m.saveErr != nil {
		return m.saveErr
	}
	r := *reg
	m.regs[reg.Issuer] = &r
	return nil
}

func (m *memRegs) DropRegistration(_ context.Context, issuer string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drops++
	delete(m.regs, issuer)
	return nil
}

func (f *fake) flow(regs *memRegs) *oauth.Flow {
	return &oauth.Flow{HTTP: newClient(), Client: testClientConfig(), Registrations: regs, WantRefresh: true}
}

// discover runs Probe and Discover against the fake.
func (f *fake) discover(t *testing.T) *oauth.Metadata {
	t.Helper()
	ctx := ctxT(t)
	c := newClient()
	p, err := oauth.Probe(ctx, c, f.ServerURL)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	md, err := oauth.Discover(ctx, c, f.ServerURL, p.Challenge)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return md
}

// login runs a whole Flow.Login against the fake.
func (f *fake) login(t *testing.T, regs *memRegs) *oauth.Grant {
	t.Helper()
	g, err := f.flow(regs).Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL, Browser: f.Browser(nil)})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return g
}

// wantErr asserts that err is an *oauth.Error matching sentinel and that its
// text names every one of urls.
func wantErr(t *testing.T, err, sentinel error, urls ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil; want %v", sentinel.(*oauth.Error).Check)
	}
	var e *oauth.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v; want *oauth.Error", err, err)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v (check %s); want errors.Is %s", err, e.Check, sentinel.(*oauth.Error).Check)
	}
	for _, u := range urls {
		if !strings.Contains(err.Error(), u) {
			t.Errorf("error %q does not name %q", err, u)
		}
	}
}
