package testfake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Provider styles: how a ProviderAS behaves. Each is what a real provider
// does that a plain OAuth 2.1 authorization server does not.
const (
	// StyleOIDC is a stock OpenID provider (panva oidc-provider's default
	// policy): metadata only at /.well-known/openid-configuration, open
	// dynamic registration, and OpenID Connect Core §11: offline_access is
	// ignored — no refresh token — unless the request has prompt=consent.
	StyleOIDC = "oidc"
	// StyleGoogle: no registration; a refresh token only with
	// access_type=offline and prompt=consent; refresh answers carry no
	// refresh token; offline_access is not a scope it knows.
	StyleGoogle = "google"
	// StyleEntra (Microsoft Entra ID): no registration; any resource
	// parameter is refused (AADSTS9010010); the scope must name the API as
	// "<app id URI>/.default".
	StyleEntra = "entra"
	// StyleAuth0: the API is named by audience, not resource; a token asked
	// for without audience is not accepted by the MCP server.
	StyleAuth0 = "auth0"
	// StyleSlack: no registration; the token endpoint answers HTTP 200 with
	// {"ok":false,"error":…} for errors, and the user token is nested in
	// authed_user (token_type "user").
	StyleSlack = "slack"
	// StyleCognito: no registration; the MCP server accepts the ID token,
	// not the access token; an ID token is issued only for the openid
	// scope.
	StyleCognito = "cognito"
	// StyleGitHub: no registration endpoint; token answers are
	// form-encoded.
	StyleGitHub = "github"
	// StyleObot: a dead refresh token is refused with invalid_request, not
	// invalid_grant.
	StyleObot = "obot"
	// StyleKeycloak: the issuer is …/realms/NAME and anonymous dynamic
	// registration is refused by the Trusted Hosts policy (HTTP 403).
	StyleKeycloak = "keycloak"
)

// ProviderAS is an MCP server (at URL) with an authorization server (at
// Issuer) in the given style, for sign-ins end to end. Clients register
// dynamically where the style allows it; ClientID/ClientSecret is a
// pre-registered client that works in every style (client_secret_post or
// basic). The recorded requests are safe to read with Mu held.
type ProviderAS struct {
	Style        string
	Srv          *httptest.Server
	URL          string // the MCP endpoint (the protected resource)
	Issuer       string
	ClientID     string
	ClientSecret string // a secret, for the test's secret file

	Mu sync.Mutex
	// Authorizations are the query strings of every authorization request.
	Authorizations []url.Values
	// TokenRequests are the forms of every token request (secrets
	// included: this is a test fake).
	TokenRequests []url.Values
	// RefreshIssued counts the refresh tokens issued.
	RefreshIssued int
	Registrations int

	codes   map[string]codeGrant
	clients map[string]string // client_id → secret
	access  map[string]bool   // tokens the MCP server accepts
	refresh map[string]string // refresh token → scope
}

type codeGrant struct {
	challenge, scope, audience string
	offline                    bool
}

// NewProviderAS starts a fake of style; it stops with the test.
func NewProviderAS(t testing.TB, style string) *ProviderAS {
	a := &ProviderAS{Style: style, ClientID: "preregistered-" + rand.Text()[:6], ClientSecret: "secret-" + rand.Text(),
		codes: map[string]codeGrant{}, clients: map[string]string{}, access: map[string]bool{}, refresh: map[string]string{}}
	a.clients[a.ClientID] = a.ClientSecret
	srv := mcp.NewServer(&mcp.Implementation{Name: style + "-fake", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "says hello"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello"}}}, struct{}{}, nil
	})
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	a.Srv = httptest.NewServer(mux)
	t.Cleanup(a.Srv.Close)
	base := a.Srv.URL
	a.URL = base + "/mcp"
	a.Issuer = base
	asPath := ""
	switch style {
	case StyleKeycloak:
		asPath = "/realms/mcp"
	case StyleEntra:
		asPath = "/tenant-1/v2.0"
	case StyleGitHub:
		asPath = "/login/oauth"
	}
	a.Issuer = base + asPath
	prm := base + "/.well-known/oauth-protected-resource/mcp"

	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.Mu.Lock()
		ok = ok && a.access[tok]
		a.Mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+prm+`"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		doc := map[string]any{"resource": a.URL, "authorization_servers": []string{a.Issuer}}
		if style != StyleEntra { // Entra-protected servers rarely list scopes: the client uses .default
			doc["scopes_supported"] = []string{"mcp"}
		}
		WriteJSON(w, 200, doc)
	})
	meta := map[string]any{
		"issuer": a.Issuer, "authorization_endpoint": a.Issuer + "/authorize", "token_endpoint": a.Issuer + "/token",
		"code_challenge_methods_supported": []string{"S256"}, "response_types_supported": []string{"code"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic", "none"},
		"scopes_supported":                      []string{"openid", "mcp", "offline_access"},
	}
	switch style {
	case StyleOIDC, StyleAuth0, StyleObot, StyleKeycloak:
		meta["registration_endpoint"] = a.Issuer + "/register"
	}
	switch style {
	case StyleGoogle:
		meta["scopes_supported"] = []string{"openid", "email", "profile"}
	case StyleGitHub, StyleSlack:
		delete(meta, "scopes_supported")
	}
	// OpenID providers publish only the OpenID document; the others the
	// RFC 8414 one (inserted before the issuer's path).
	u, _ := url.Parse(a.Issuer)
	switch style {
	case StyleOIDC, StyleGoogle, StyleEntra, StyleCognito, StyleKeycloak, StyleAuth0:
		mux.HandleFunc("GET "+u.Path+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, 200, meta)
		})
	default:
		mux.HandleFunc("GET /.well-known/oauth-authorization-server"+u.Path, func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, 200, meta)
		})
	}
	mux.HandleFunc("POST "+u.Path+"/register", a.register)
	mux.HandleFunc("GET "+u.Path+"/authorize", a.authorize)
	mux.HandleFunc("POST "+u.Path+"/token", a.token)
	return a
}

func (a *ProviderAS) register(w http.ResponseWriter, r *http.Request) {
	if a.Style == StyleKeycloak {
		WriteJSON(w, 403, map[string]any{"error": "insufficient_scope",
			"error_description": "Policy 'Trusted Hosts' rejected request to client-registration service. Details: Host not trusted."})
		return
	}
	var body struct {
		RedirectURIs []string `json:"redirect_uris"`
	}
	_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body)
	id, secret := "client-"+rand.Text()[:8], "client-secret-"+rand.Text()
	a.Mu.Lock()
	a.clients[id] = secret
	a.Registrations++
	a.Mu.Unlock()
	WriteJSON(w, 201, map[string]any{"client_id": id, "client_secret": secret, "token_endpoint_auth_method": "client_secret_post",
		"redirect_uris": body.RedirectURIs, "grant_types": []string{"authorization_code", "refresh_token"}})
}

// authorize approves every request at once (the user always consents),
// after the style's checks, and redirects with a code.
func (a *ProviderAS) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.Mu.Lock()
	a.Authorizations = append(a.Authorizations, q)
	_, known := a.clients[q.Get("client_id")]
	a.Mu.Unlock()
	back := func(v url.Values) {
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+v.Encode(), http.StatusFound)
	}
	if !known {
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	}
	if why := a.refuseAuthorization(q); why != "" {
		back(url.Values{"error": {"invalid_request"}, "error_description": {why}, "state": {q.Get("state")}})
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	offline := false
	switch a.Style {
	case StyleGoogle:
		offline = q.Get("access_type") == "offline" && slices.Contains(strings.Fields(q.Get("prompt")), "consent")
	case StyleOIDC, StyleEntra, StyleKeycloak, StyleAuth0, StyleCognito:
		// OIDC Core §11: offline_access is ignored without prompt=consent.
		offline = slices.Contains(scopes, "offline_access") && slices.Contains(strings.Fields(q.Get("prompt")), "consent")
	default: // plain OAuth servers issue refresh tokens to every code
		offline = true
	}
	code := "code-" + rand.Text()
	a.Mu.Lock()
	a.codes[code] = codeGrant{challenge: q.Get("code_challenge"), scope: q.Get("scope"), audience: q.Get("audience"), offline: offline}
	a.Mu.Unlock()
	back(url.Values{"code": {code}, "state": {q.Get("state")}})
}

// refuseAuthorization is the style's objection to an authorization
// request, or "".
func (a *ProviderAS) refuseAuthorization(q url.Values) string {
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		return "PKCE S256 required"
	}
	switch a.Style {
	case StyleEntra:
		if q.Has("resource") {
			return "AADSTS9010010: The resource parameter provided in the request doesn't match with the requested scopes."
		}
		if !slices.ContainsFunc(strings.Fields(q.Get("scope")), func(s string) bool { return strings.HasSuffix(s, "/.default") }) {
			return "AADSTS70011: The provided value for the input parameter 'scope' is not valid."
		}
	case StyleAuth0:
		if q.Get("audience") != a.URL {
			return "Service not found: the audience parameter must name the API"
		}
	}
	return ""
}

func (a *ProviderAS) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		a.tokenError(w, 400, "invalid_request", "bad form")
		return
	}
	form := r.PostForm
	a.Mu.Lock()
	a.TokenRequests = append(a.TokenRequests, form)
	a.Mu.Unlock()
	id, sec := form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		sec, _ = url.QueryUnescape(p)
	}
	a.Mu.Lock()
	want, ok := a.clients[id]
	a.Mu.Unlock()
	if !ok || want != sec {
		a.tokenError(w, 401, "invalid_client", "unknown client")
		return
	}
	if a.Style == StyleEntra && form.Has("resource") {
		a.tokenError(w, 400, "invalid_request", "AADSTS9010010: The resource parameter provided in the request doesn't match with the requested scopes.")
		return
	}
	var g codeGrant
	switch form.Get("grant_type") {
	case "authorization_code":
		a.Mu.Lock()
		c, ok := a.codes[form.Get("code")]
		delete(a.codes, form.Get("code"))
		a.Mu.Unlock()
		sum := sha256.Sum256([]byte(form.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
			a.tokenError(w, 400, "invalid_grant", "bad code or verifier")
			return
		}
		g = c
	case "refresh_token":
		a.Mu.Lock()
		scope, ok := a.refresh[form.Get("refresh_token")]
		a.Mu.Unlock()
		if !ok {
			if a.Style == StyleObot {
				a.tokenError(w, 400, "invalid_request", "refresh token is invalid or expired")
			} else {
				a.tokenError(w, 400, "invalid_grant", "unknown refresh token")
			}
			return
		}
		g = codeGrant{scope: scope, offline: a.Style != StyleGoogle, audience: a.URL}
	default:
		a.tokenError(w, 400, "unsupported_grant_type", "")
		return
	}
	at := "access-" + rand.Text()
	ans := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600, "scope": g.scope}
	usable := at
	switch a.Style {
	case StyleAuth0:
		if g.audience != a.URL {
			usable = "" // an opaque token for the userinfo endpoint only
		}
	case StyleCognito: // an ID token only for openid
		usable = ""
		if slices.Contains(strings.Fields(g.scope), "openid") {
			usable = "id-" + rand.Text()
			ans["id_token"] = usable
		}
	case StyleSlack:
		ans = map[string]any{"ok": true, "app_id": "A1", "team": map[string]any{"id": "T1"},
			"authed_user": map[string]any{"id": "U1", "scope": g.scope, "access_token": at, "token_type": "user", "expires_in": 3600}}
	}
	a.Mu.Lock()
	if usable != "" {
		a.access[usable] = true
	}
	if g.offline {
		rt := "refresh-" + rand.Text()
		a.refresh[rt] = g.scope
		a.RefreshIssued++
		if a.Style == StyleSlack {
			ans["authed_user"].(map[string]any)["refresh_token"] = rt
		} else {
			ans["refresh_token"] = rt
		}
	}
	a.Mu.Unlock()
	if a.Style == StyleGitHub {
		v := url.Values{}
		for k, x := range ans {
			v.Set(k, strings.Trim(mustJSON(x), `"`))
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		_, _ = w.Write([]byte(v.Encode()))
		return
	}
	WriteJSON(w, 200, ans)
}

func (a *ProviderAS) tokenError(w http.ResponseWriter, status int, code, desc string) {
	if a.Style == StyleSlack {
		WriteJSON(w, 200, map[string]any{"ok": false, "error": code})
		return
	}
	WriteJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

// KillRefreshTokens forgets every refresh token issued (the user revoked
// the app, or they expired).
func (a *ProviderAS) KillRefreshTokens() {
	a.Mu.Lock()
	clear(a.refresh)
	a.Mu.Unlock()
}

// Accepts reports whether the MCP server accepts token.
func (a *ProviderAS) Accepts(token string) bool {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	return a.access[token]
}

// LastAuthorization returns the query of the latest authorization request.
func (a *ProviderAS) LastAuthorization() url.Values {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	if len(a.Authorizations) == 0 {
		return nil
	}
	return a.Authorizations[len(a.Authorizations)-1]
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// AuthorizationCount is the number of authorization requests received.
func (a *ProviderAS) AuthorizationCount() int {
	a.Mu.Lock()
	defer a.Mu.Unlock()
	return len(a.Authorizations)
}

// KillAccessTokens makes the MCP server refuse every token issued so far.
func (a *ProviderAS) KillAccessTokens() {
	a.Mu.Lock()
	clear(a.access)
	a.Mu.Unlock()
}
