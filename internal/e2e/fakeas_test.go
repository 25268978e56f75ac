package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Fault modes of flakyAS's endpoints.
const (
	modeOK        = ""
	mode500       = "500"
	modeGarbage   = "garbage"
	modeTruncated = "truncated"
	modeHangUp    = "hangup" // the connection is closed without an answer
	modeHuge      = "huge"   // a 10 MB answer
	modeEndless   = "endless"
	modeInvalid   = "invalid_grant"
	modeEscapes   = "escapes" // an error_description full of terminal escapes (hostileText)
)

// flakyAS is an MCP server and its authorization server in one httptest
// server, for faults no real peer produces on demand: its token endpoint
// (and, with allDown, every AS endpoint) can be switched to a fault, and it
// can SIGKILL the daemon when a chosen endpoint is reached. It records
// every secret it hands out or receives (codes, verifiers, client secrets,
// access and refresh tokens) for the leak test.
type flakyAS struct {
	t   *testing.T
	srv *httptest.Server
	url string // MCP endpoint

	tokenMode atomic.Value // string: fault of /token
	allDown   atomic.Bool  // every AS endpoint answers 500
	expiresIn atomic.Int64 // seconds
	refreshes atomic.Int64 // refresh grants received (any outcome)
	pad       atomic.Int64 // bytes of padding in issued refresh tokens
	killAt    atomic.Value // string: endpoint ("/register", "/token", "/revoke", "/authorize") at which to kill
	killPID   atomic.Int64
	killAfter atomic.Bool // kill after the answer is computed (and the secret issued), not before
	// redirect, when set, picks requests to answer with a 307 to the
	// Location it returns ("": serve the request).
	redirect atomic.Pointer[func(*http.Request) string]
	mcp      atomic.Pointer[http.Handler] // replaces the MCP server (after the token check) when set
	resName  atomic.Value                 // string: resource_name of the protected-resource metadata

	mu       sync.Mutex
	access   map[string]bool
	refresh  map[string]bool
	codes    map[string]string // code → code_challenge
	clients  map[string]string // client_id → secret
	secrets  []string          // every secret seen, for leak scans
	revoked  []string
	killedAt []string
}

func newFlakyAS(t *testing.T) *flakyAS {
	a := &flakyAS{t: t, access: map[string]bool{}, refresh: map[string]bool{}, codes: map[string]string{}, clients: map[string]string{}}
	a.tokenMode.Store(modeOK)
	a.killAt.Store("")
	a.resName.Store("")
	a.expiresIn.Store(3600)
	srv := mcp.NewServer(&mcp.Implementation{Name: "flaky-e2e", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "ping"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{}, struct{}{}, nil
	})
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	mux := http.NewServeMux()
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := a.redirect.Load(); f != nil {
			if loc := (*f)(r); loc != "" {
				http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
				return
			}
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(a.srv.Close)
	base := a.srv.URL
	a.url = base + "/mcp"
	prm := base + "/.well-known/oauth-protected-resource/mcp"

	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		a.mu.Lock()
		ok = ok && a.access[tok]
		a.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+prm+`", scope="mcp"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if h := a.mcp.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		if a.allDown.Load() {
			http.Error(w, "down", 500)
			return
		}
		prm := map[string]any{"resource": a.url, "authorization_servers": []string{base}, "scopes_supported": []string{"mcp"}}
		if n := a.resName.Load().(string); n != "" {
			prm["resource_name"] = n
		}
		testfake.WriteJSON(w, 200, prm)
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		if a.allDown.Load() {
			http.Error(w, "down", 500)
			return
		}
		testfake.WriteJSON(w, 200, map[string]any{
			"issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
			"registration_endpoint": base + "/register", "revocation_endpoint": base + "/revoke",
			"code_challenge_methods_supported": []string{"S256"}, "response_types_supported": []string{"code"},
			"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
			"authorization_response_iss_parameter_supported": true,
			"scopes_supported":                               []string{"mcp", "offline_access"},
		})
	})
	mux.HandleFunc("POST /register", func(w http.ResponseWriter, r *http.Request) {
		a.maybeKill("/register", false)
		if a.allDown.Load() {
			http.Error(w, "down", 500)
			return
		}
		id, secret := "client-"+rand.Text()[:8], "client-secret-"+rand.Text()
		a.mu.Lock()
		a.clients[id] = secret
		a.secrets = append(a.secrets, secret)
		a.mu.Unlock()
		a.maybeKill("/register", true)
		testfake.WriteJSON(w, 201, map[string]any{"client_id": id, "client_secret": secret, "token_endpoint_auth_method": "client_secret_post",
			"redirect_uris": []string{}, "grant_types": []string{"authorization_code", "refresh_token"}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		a.maybeKill("/authorize", false)
		q := r.URL.Query()
		code := "code-" + rand.Text()
		a.mu.Lock()
		a.codes[code] = q.Get("code_challenge")
		a.secrets = append(a.secrets, code)
		a.mu.Unlock()
		a.maybeKill("/authorize", true)
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {base}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("grant_type") == "refresh_token" {
			a.refreshes.Add(1)
		}
		a.maybeKill("/token", false)
		a.mu.Lock()
		for _, k := range []string{"code_verifier", "client_secret", "refresh_token", "code"} {
			if v := r.PostForm.Get(k); v != "" && !slices.Contains(a.secrets, v) {
				a.secrets = append(a.secrets, v)
			}
		}
		a.mu.Unlock()
		if a.allDown.Load() {
			http.Error(w, "down", 500)
			return
		}
		if a.fault(w, r, a.tokenMode.Load().(string)) {
			return
		}
		if sec, ok := a.clientOK(r); !ok {
			testfake.WriteJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "unknown client " + sec})
			return
		}
		a.mu.Lock()
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			ch, ok := a.codes[r.PostForm.Get("code")]
			delete(a.codes, r.PostForm.Get("code"))
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != ch {
				a.mu.Unlock()
				testfake.WriteJSON(w, 400, map[string]any{"error": "invalid_grant"})
				return
			}
		case "refresh_token":
			rt := r.PostForm.Get("refresh_token")
			if !a.refresh[rt] {
				a.mu.Unlock()
				testfake.WriteJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "unknown refresh token"})
				return
			}
			// Rotation with a grace period: the old one stays valid, so a
			// crash that loses the new one is not fatal.
		default:
			a.mu.Unlock()
			testfake.WriteJSON(w, 400, map[string]any{"error": "unsupported_grant_type"})
			return
		}
		at, rt := "access-"+rand.Text(), "refresh-"+rand.Text()+strings.Repeat("p", int(a.pad.Load()))
		a.access[at], a.refresh[rt] = true, true
		a.secrets = append(a.secrets, at, rt)
		a.mu.Unlock()
		a.maybeKill("/token", true)
		testfake.WriteJSON(w, 200, map[string]any{"access_token": at, "refresh_token": rt, "token_type": "Bearer", "expires_in": a.expiresIn.Load(), "scope": "mcp offline_access"})
	})
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		a.maybeKill("/revoke", false)
		if a.allDown.Load() {
			http.Error(w, "down", 500)
			return
		}
		a.mu.Lock()
		tok := r.PostForm.Get("token")
		a.revoked = append(a.revoked, tok)
		delete(a.access, tok)
		delete(a.refresh, tok)
		a.mu.Unlock()
		a.maybeKill("/revoke", true)
		w.WriteHeader(200)
	})
	return a
}

func (a *flakyAS) clientOK(r *http.Request) (string, bool) {
	id, sec := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		sec, _ = url.QueryUnescape(p)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	want, ok := a.clients[id]
	return id, ok && want == sec
}

// fault answers r with mode's fault and reports whether it did.
func (a *flakyAS) fault(w http.ResponseWriter, r *http.Request, mode string) bool {
	switch mode {
	case modeOK:
		return false
	case mode500:
		http.Error(w, "internal error", 500)
	case modeGarbage:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("\x00\xffthis is not json<html>"))
	case modeTruncated:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"half-a-tok`))
	case modeHangUp:
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
	case modeHuge:
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"access_token":"x","token_type":"Bearer","padding":"%s"}`, strings.Repeat("A", 10<<20))
	case modeEndless:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":`))
		chunk := []byte(strings.Repeat(" ", 32<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				break
			}
		}
	case modeInvalid:
		testfake.WriteJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "revoked"})
	case modeEscapes:
		testfake.WriteJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": hostileText})
	}
	return true
}

func (a *flakyAS) maybeKill(endpoint string, after bool) {
	if a.killAt.Load().(string) != endpoint || a.killAfter.Load() != after {
		return
	}
	if pid := a.killPID.Swap(0); pid != 0 {
		_ = syscall.Kill(int(pid), syscall.SIGKILL)
		a.mu.Lock()
		a.killedAt = append(a.killedAt, endpoint)
		a.mu.Unlock()
		// Give the kernel a moment to deliver it before answering.
		time.Sleep(20 * time.Millisecond)
	}
}

func (a *flakyAS) allSecrets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.secrets)
}

// mcpStatus sends an MCP initialize with token and returns the status.
func (a *flakyAS) mcpStatus(t *testing.T, token string) int {
	t.Helper()
	return initializeStatus(t, a.url, token)
}
