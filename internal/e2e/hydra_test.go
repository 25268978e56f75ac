package e2e

// The real binary against Ory Hydra (docs TESTING.md §5): refresh, rotation,
// single-flight refresh, persistence of rotated refresh tokens across
// restarts and crashes.
//
// Topology, all on 127.0.0.1 with free ports:
//
//	mcpauthd ──► counting proxy (Hydra's issuer URL) ──► Hydra public
//	browser  ──► proxy ──► Hydra ──► login/consent app (auto-accepts) ──► Hydra admin
//	token    ──► MCP server (Go SDK) ──► Hydra admin introspection
//
// The proxy counts token requests by grant type and records which refresh
// token each refresh presents and which one each answer issues, so the tests
// can check that every refresh uses the newest refresh token (rotation was
// committed) without looking into the daemon's registry.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// hydraEnvVar names the Hydra binary (scripts/test.sh sets it from
// scripts/install-hydra.sh).
const hydraEnvVar = "MCPAUTHD_HYDRA"

type hydraOptions struct {
	accessTTL   string // ttl.access_token
	gracePeriod string // oauth2.grant.refresh_token.rotation_grace_period ("" = strict rotation)
}

// tokenCall is one token-endpoint exchange seen at the proxy.
type tokenCall struct {
	grant     string
	presented string // the refresh token a refresh_token grant presented
	status    int
	issued    string // the refresh token the answer carried
	err       string // the error answer's error and error_description
	access    string // the access token the answer carried
}

type hydra struct {
	t      *testing.T
	issuer string // the proxy's URL: Hydra's urls.self.issuer
	admin  string // Hydra's admin URL
	mcpURL string // the test MCP server

	refreshes atomic.Int64 // refresh_token grants that reached Hydra
	// killOnRefresh: when non-zero, the proxy SIGKILLs this pid after Hydra
	// answered a refresh grant, before passing the answer on.
	killOnRefresh atomic.Int64

	mu    sync.Mutex
	calls []tokenCall
	logs  bytes.Buffer
}

type tokenCallKey struct{}

func startHydra(t *testing.T, o hydraOptions) *hydra {
	bin := os.Getenv(hydraEnvVar)
	_, err := os.Stat(bin)
	need(t, bin != "" && err == nil, "Ory Hydra: export "+hydraEnvVar+"=$(scripts/install-hydra.sh)")
	h := &hydra{t: t}
	pub, adm, proxyPort, appPort := freePort(t), freePort(t), freePort(t), freePort(t)
	h.issuer = fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	h.admin = fmt.Sprintf("http://127.0.0.1:%d", adm)
	app := fmt.Sprintf("http://127.0.0.1:%d", appPort)

	// A file database, not "memory": Hydra's in-memory SQLite lives only as
	// long as one pooled connection does, and a client that hangs up in the
	// middle of a request (the killed daemon) can make Hydra drop it —
	// observed as invalid_client for a registered client, then HTTP 500 for
	// lost signing keys.
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "hydra.sqlite") + "?_fk=true"
	if out, err := exec.Command(bin, "migrate", "sql", "up", "--yes", dsn).CombinedOutput(); err != nil {
		t.Fatalf("hydra migrate: %v\n%s", err, out)
	}
	cfg := map[string]any{
		"dsn": dsn,
		"serve": map[string]any{
			"public": map[string]any{"host": "127.0.0.1", "port": pub},
			"admin":  map[string]any{"host": "127.0.0.1", "port": adm},
		},
		"urls": map[string]any{
			"self":    map[string]any{"issuer": h.issuer, "public": h.issuer},
			"login":   app + "/login",
			"consent": app + "/consent",
		},
		"secrets": map[string]any{"system": []string{"e2e-system-secret-0123456789abcdef"}},
		"oidc": map[string]any{"dynamic_client_registration": map[string]any{
			"enabled": true,
			// mcpauthd registers without a scope; Hydra then allows only these.
			"default_scope": []string{"mcp", "offline_access", "openid"},
		}},
		"webfinger": map[string]any{"oidc_discovery": map[string]any{
			"client_registration_url": h.issuer + "/oauth2/register",
		}},
		"ttl": map[string]any{"access_token": o.accessTTL},
		"log": map[string]any{"level": "warn"},
	}
	if o.gracePeriod != "" {
		cfg["oauth2"] = map[string]any{"grant": map[string]any{"refresh_token": map[string]any{
			"rotation_grace_period": o.gracePeriod,
		}}}
	}
	cfgFile := filepath.Join(dir, "hydra.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}

	h.serve(appPort, h.loginConsentApp())
	h.serve(proxyPort, h.proxy(fmt.Sprintf("http://127.0.0.1:%d", pub)))

	cmd := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out", "-c", cfgFile)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &lockedWriter{mu: &h.mu, w: &h.logs}, &lockedWriter{mu: &h.mu, w: &h.logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			for i, c := range h.tokenCalls() {
				if c.status != http.StatusOK {
					t.Logf("token call %d (%s) answered %d %s", i, c.grant, c.status, c.err)
				}
			}
			h.mu.Lock()
			t.Logf("Hydra output:\n%s", h.logs.String())
			h.mu.Unlock()
		}
	})
	waitPort(t, pub)
	waitPort(t, adm)
	h.waitReady()
	h.mcpURL = h.mcpServer()
	return h
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (h *hydra) serve(port int, handler http.Handler) {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		h.t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	h.t.Cleanup(func() { _ = srv.Close() })
}

func (h *hydra) waitReady() {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(h.admin + "/health/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatal("Hydra is not ready")
}

// adminJSON calls Hydra's admin API.
func (h *hydra) adminJSON(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.admin+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", method, path, res.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// loginConsentApp accepts every login (as user "e2e") and grants every
// requested scope and audience.
func (h *hydra) loginConsentApp() http.Handler {
	accept := func(w http.ResponseWriter, kind, challenge string, body any) {
		var out struct {
			RedirectTo string `json:"redirect_to"`
		}
		q := "?" + kind + "_challenge=" + url.QueryEscape(challenge)
		if err := h.adminJSON(http.MethodPut, "/admin/oauth2/auth/requests/"+kind+"/accept"+q, body, &out); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		http.Redirect(w, &http.Request{}, out.RedirectTo, http.StatusFound)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		accept(w, "login", r.URL.Query().Get("login_challenge"), map[string]any{"subject": "e2e"})
	})
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		ch := r.URL.Query().Get("consent_challenge")
		var req struct {
			Scope    []string `json:"requested_scope"`
			Audience []string `json:"requested_access_token_audience"`
		}
		if err := h.adminJSON(http.MethodGet, "/admin/oauth2/auth/requests/consent?consent_challenge="+url.QueryEscape(ch), nil, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		accept(w, "consent", ch, map[string]any{"grant_scope": req.Scope, "grant_access_token_audience": req.Audience})
	})
	return mux
}

// proxy forwards to Hydra's public port and records token-endpoint calls.
func (h *hydra) proxy(target string) http.Handler {
	u, _ := url.Parse(target)
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(res *http.Response) error {
			call, _ := res.Request.Context().Value(tokenCallKey{}).(*tokenCall)
			if call == nil {
				return nil
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				return err
			}
			res.Body = io.NopCloser(bytes.NewReader(b))
			var tok struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
				Error        string `json:"error"`
				Description  string `json:"error_description"`
			}
			_ = json.Unmarshal(b, &tok)
			call.status, call.issued, call.access = res.StatusCode, tok.RefreshToken, tok.AccessToken
			if tok.Error != "" {
				call.err = tok.Error + ": " + tok.Description
			}
			h.mu.Lock()
			h.calls = append(h.calls, *call)
			h.mu.Unlock()
			if call.grant == "refresh_token" {
				if pid := h.killOnRefresh.Swap(0); pid != 0 {
					// Hydra has rotated the refresh token; the daemon dies
					// before it sees the new one.
					_ = syscall.Kill(int(pid), syscall.SIGKILL)
				}
			}
			return nil
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/oauth2/token" {
			b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			r.Body.Close()
			form, _ := url.ParseQuery(string(b))
			r.Body = io.NopCloser(bytes.NewReader(b))
			call := &tokenCall{grant: form.Get("grant_type"), presented: form.Get("refresh_token")}
			if call.grant == "refresh_token" {
				h.refreshes.Add(1)
			}
			r = r.WithContext(context.WithValue(r.Context(), tokenCallKey{}, call))
		}
		rp.ServeHTTP(w, r)
	})
}

func (h *hydra) tokenCalls() []tokenCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.calls)
}

// introspect asks Hydra whether token is active and with which scopes.
func (h *hydra) introspect(token string) (bool, []string, error) {
	res, err := http.PostForm(h.admin+"/admin/oauth2/introspect", url.Values{"token": {token}})
	if err != nil {
		return false, nil, err
	}
	defer res.Body.Close()
	var out struct {
		Active bool   `json:"active"`
		Scope  string `json:"scope"`
	}
	if res.StatusCode != http.StatusOK {
		return false, nil, fmt.Errorf("introspection: %s", res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return false, nil, err
	}
	return out.Active, strings.Fields(out.Scope), nil
}

// mcpServer starts a Go SDK MCP server that accepts only Bearer tokens
// Hydra's introspection calls active and carrying scope mcp, and returns
// its URL.
func (h *hydra) mcpServer() string {
	port := freePort(h.t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	mcpURL := base + "/mcp"
	prmURL := base + "/.well-known/oauth-protected-resource/mcp"

	srv := mcp.NewServer(&mcp.Implementation{Name: "hydra-e2e", Version: "1.0.0"}, nil)
	type echoIn struct {
		Text string `json:"text"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "echoes its text"},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
		})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"resource":              mcpURL,
			"authorization_servers": []string{h.issuer},
			"scopes_supported":      []string{"mcp"},
		})
	})
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok {
			active, scopes, err := h.introspect(tok)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			ok = active && slices.Contains(scopes, "mcp")
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+prmURL+`", scope="mcp"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		handler.ServeHTTP(w, r)
	})
	h.serve(port, mux)
	return mcpURL
}

// setRefreshLifespan makes Hydra give access tokens from refresh grants of
// the daemon's (only) client the lifespan d.
func (h *hydra) setRefreshLifespan(d string) {
	h.t.Helper()
	var clients []struct {
		ClientID string `json:"client_id"`
	}
	if err := h.adminJSON(http.MethodGet, "/admin/clients", nil, &clients); err != nil {
		h.t.Fatal(err)
	}
	if len(clients) != 1 {
		h.t.Fatalf("Hydra has %d clients, want the daemon's one", len(clients))
	}
	if err := h.adminJSON(http.MethodPut, "/admin/clients/"+clients[0].ClientID+"/lifespans",
		map[string]any{"refresh_token_grant_access_token_lifespan": d}, nil); err != nil {
		h.t.Fatal(err)
	}
}

// checkChain checks that every refresh presented the refresh token issued
// by the answer before it: the rotated refresh token was stored and used.
func (h *hydra) checkChain() {
	h.t.Helper()
	var last string
	for i, c := range h.tokenCalls() {
		if c.grant == "refresh_token" && c.presented != last {
			h.t.Errorf("token call %d: the refresh presented a refresh token other than the newest one issued", i)
		}
		if c.status == http.StatusOK && c.issued != "" {
			last = c.issued
		}
	}
}

func (in *instance) servers() []ipc.ServerInfo {
	in.t.Helper()
	var list []ipc.ServerInfo
	if err := json.Unmarshal([]byte(in.must("list", "--json")), &list); err != nil {
		in.t.Fatal(err)
	}
	return list
}

func (in *instance) forcedToken(url, minValid string) string {
	in.t.Helper()
	return strings.TrimSpace(in.must("token", "--min-valid", minValid, url))
}

// TestHydraRefreshRotation: sign in to an MCP server whose authorization
// server is Hydra with strict refresh-token rotation, then force refreshes
// (one caller, 1,000 concurrent callers, across a restart, and across a crash
// that loses a rotated refresh token).
func TestHydraRefreshRotation(t *testing.T) {
	h := startHydra(t, hydraOptions{accessTTL: "1h"})
	in := newInstance(t)
	url := h.mcpURL

	var disc struct {
		Methods []string `json:"code_challenge_methods_supported"`
		Scopes  []string `json:"scopes_supported"`
	}
	res, err := http.Get(h.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(res.Body).Decode(&disc)
	res.Body.Close()
	if err != nil || !slices.Contains(disc.Methods, "S256") || !slices.Contains(disc.Scopes, "offline_access") {
		t.Fatalf("Hydra's discovery: code_challenge_methods_supported %v, scopes_supported %v (%v); want S256 and offline_access", disc.Methods, disc.Scopes, err)
	}

	if out := login(t, in, url); !strings.Contains(out, "Signed in to") {
		t.Fatalf("login output: %s", out)
	}
	list := in.servers()
	if len(list) != 1 || list[0].Status != ipc.StateSignedIn || !list[0].HasRefreshToken || list[0].Registration != "dynamic" || !slices.Contains(list[0].Tools, "echo") {
		t.Fatalf("after login: %+v", list)
	}
	if !slices.Contains(list[0].ScopesRequested, "offline_access") || !slices.Contains(list[0].ScopesGranted, "mcp") {
		t.Fatalf("scopes: requested %v, granted %v", list[0].ScopesRequested, list[0].ScopesGranted)
	}
	tok0 := strings.TrimSpace(in.must("token", url))
	if got := initializeStatus(t, url, tok0); got != http.StatusOK {
		t.Fatalf("initialize with the sign-in's token: %d", got)
	}
	if n := h.refreshes.Load(); n != 0 {
		t.Fatalf("%d refreshes right after the sign-in, want 0", n)
	}

	// (a) A forced refresh gives a new access token and a rotated refresh
	// token; a second forced refresh presents the rotated one. Refreshed
	// tokens live 2h, the sign-in's 1h.
	h.setRefreshLifespan("2h")
	tok1 := in.forcedToken(url, "90m")
	tok2 := in.forcedToken(url, "3h")
	if tok1 == tok0 || tok2 == tok1 || tok2 == "" {
		t.Fatal("forced refreshes did not give new access tokens")
	}
	if n := h.refreshes.Load(); n != 2 {
		t.Fatalf("%d refresh grants at Hydra, want 2", n)
	}
	calls := h.tokenCalls()
	if r1, r2 := calls[len(calls)-2], calls[len(calls)-1]; r1.status != 200 || r2.status != 200 || r1.issued == r1.presented || r2.presented != r1.issued {
		t.Fatal("the refresh token was not rotated, or the rotated one was not used")
	}
	if got := initializeStatus(t, url, tok2); got != http.StatusOK {
		t.Fatalf("initialize with the refreshed token: %d", got)
	}
	if active, _, _ := h.introspect(tok0); active {
		t.Error("Hydra still accepts the first access token after rotation (expected strict rotation to revoke it)")
	}

	// (b) 1,000 concurrent callers who all need a token valid longer than
	// the current one (2h): one refresh, whose new token (3h) satisfies them
	// all. (The load figure; each caller has its own connection.)
	h.setRefreshLifespan("3h")
	before := h.refreshes.Load()
	c := ipc.NewClient(in.socket())
	const callers = 1000
	toks := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := c.Token(ctx, url, 150*time.Minute)
			if err == nil {
				toks[i] = r.AccessToken
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	burst := h.refreshes.Load() - before
	t.Logf("%d concurrent token requests caused %d refresh grant(s) at Hydra", callers, burst)
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if toks[i] != toks[0] {
			t.Fatalf("caller %d got another token than caller 0", i)
		}
	}
	if burst != 1 {
		t.Errorf("%d concurrent callers caused %d refresh grants, want exactly 1", callers, burst)
	}
	if toks[0] == tok2 {
		t.Error("the burst was served the old token")
	}
	if got := initializeStatus(t, url, toks[0]); got != http.StatusOK {
		t.Fatalf("initialize with the burst's token: %d", got)
	}

	// (c) Restart: the rotated refresh token was persisted, so a refresh by
	// the new daemon works.
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitGone(t, in.socket())
	before = h.refreshes.Load()
	tok3 := in.forcedToken(url, "4h")
	if n := h.refreshes.Load() - before; n != 1 || tok3 == toks[0] {
		t.Fatalf("after a restart: %d refreshes, new token %v; want 1 and a new token", n, tok3 != toks[0])
	}
	if got := initializeStatus(t, url, tok3); got != http.StatusOK {
		t.Fatalf("initialize after the restart's refresh: %d", got)
	}
	h.checkChain()

	// (e) A crash that loses a rotated refresh token: Hydra rotates, the
	// daemon dies before it reads the answer. With strict rotation the next
	// refresh presents the old (used) token, Hydra sees a reuse and revokes
	// the family: the server must end up "needs sign-in" with a message, and
	// token must say so (exit 3) — not hang, not fail silently.
	pid := daemonPID(t, in)
	h.killOnRefresh.Store(int64(pid))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	_, err = c.Token(ctx, url, 5*time.Hour)
	cancel()
	if err == nil {
		t.Fatal("the token request survived the daemon's death")
	}
	waitDead(t, in)
	out, stderr, code := in.run("token", "--min-valid", "5h", url)
	switch code {
	case 0:
		t.Logf("after losing a rotated refresh token, the refresh still worked (Hydra accepted the used refresh token)")
		if got := initializeStatus(t, url, strings.TrimSpace(out)); got != http.StatusOK {
			t.Fatalf("initialize: %d", got)
		}
	case 3:
		if !strings.Contains(stderr, "mcpauthd login "+url) {
			t.Errorf("token exit 3 without naming mcpauthd login: %q", stderr)
		}
		list := in.servers()
		if len(list) != 1 || list[0].Status != ipc.StateNeedsSignIn || list[0].StatusMessage == "" {
			t.Fatalf("after a lost rotation: %+v; want needs_sign_in with a message", list)
		}
		t.Logf("lost rotated refresh token under strict rotation: token exit 3, list: %s: %s", list[0].Status, list[0].StatusMessage)
		// Signing in again repairs it.
		login(t, in, url)
		if got := initializeStatus(t, url, in.forcedToken(url, "1m")); got != http.StatusOK {
			t.Fatalf("initialize after signing in again: %d", got)
		}
	default:
		t.Fatalf("token after a lost rotation: exit %d, stderr %q", code, stderr)
	}
}

// login runs mcpauthd login (with flags, if any), bounded: a sign-in whose
// browser got stuck (an error page at the authorization server) would
// otherwise wait for the daemon's 10-minute login timeout.
func login(t *testing.T, in *instance, url string, flags ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.bin, append([]string{"login", url}, flags...)...)
	cmd.Env = in.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("mcpauthd login %s: %v\nstdout: %s\nstderr: %s", url, err, out.String(), errb.String())
	}
	return out.String()
}

func daemonPID(t *testing.T, in *instance) int {
	t.Helper()
	in.must("status") // starts one when none runs
	st, err := ipc.NewClient(in.socket()).Status(context.Background())
	if err != nil || st.PID <= 0 {
		t.Fatalf("status: %+v %v", st, err)
	}
	return st.PID
}

// waitDead waits until the daemon no longer answers on its socket (a
// SIGKILLed daemon leaves the socket file behind; its process may linger as
// a zombie of whoever reaps it).
func waitDead(t *testing.T, in *instance) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("unix", in.socket(), time.Second)
		if err != nil {
			return
		}
		conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the daemon still answers after SIGKILL")
}

// TestHydraKillDuringRefresh SIGKILLs the daemon while it refreshes — at a
// random moment, or exactly after Hydra rotated the refresh token and before
// the daemon read the answer — and restarts it, many times. Hydra has a
// rotation grace period, so a refresh token whose successor was lost stays
// usable for a while: the server must always end up usable. (Without the
// grace period the lost-successor case ends in needs_sign_in; see
// TestHydraRefreshRotation.)
func TestHydraKillDuringRefresh(t *testing.T) {
	h := startHydra(t, hydraOptions{accessTTL: "1h", gracePeriod: "5m"})
	in := newInstance(t)
	url := h.mcpURL
	login(t, in, url)

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	const iterations = 20
	var usable, needSignIn int
	// outcome of the in-flight request, by kind of kill
	type tally struct{ ok, failed int }
	kinds := map[string]*tally{"random 0-50ms": {}, "random 0-5ms": {}, "after rotation": {}}
	for i := range iterations {
		pid := daemonPID(t, in)
		targeted := i%2 == 1
		kind, wait := "after rotation", time.Duration(0)
		switch {
		case i%4 == 0:
			kind, wait = "random 0-50ms", time.Duration(rng.Int64N(int64(50*time.Millisecond)))
		case i%4 == 2:
			kind, wait = "random 0-5ms", time.Duration(rng.Int64N(int64(5*time.Millisecond)))
		}
		if targeted {
			h.killOnRefresh.Store(int64(pid))
		}
		done := make(chan error, 1)
		var handedOut string // the access token the in-flight request got, if any
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := ipc.NewClient(in.socket()).Token(ctx, url, 2*time.Hour)
			if err == nil {
				handedOut = r.AccessToken
			}
			done <- err
		}()
		if !targeted {
			time.Sleep(wait)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case err := <-done:
			if err == nil {
				kinds[kind].ok++
			} else {
				kinds[kind].failed++
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("iteration %d: the token request neither ended nor failed", i)
		}
		if targeted {
			h.killOnRefresh.Store(0)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL) // the request may have finished first
		waitDead(t, in)

		// Restart (the CLI starts a daemon), then force a refresh: the stored
		// refresh token must still be accepted.
		out, stderr, code := in.run("token", "--min-valid", "2h", url)
		if handedOut != "" {
			// The access token was handed out, so the refresh token issued
			// with it was committed first: the next refresh must present it.
			calls := h.tokenCalls()
			j := slices.IndexFunc(calls, func(c tokenCall) bool { return c.access == handedOut })
			if j < 0 {
				t.Fatalf("iteration %d: the handed-out token was not issued by a call the proxy saw", i)
			}
			if k := slices.IndexFunc(calls[j+1:], func(c tokenCall) bool { return c.grant == "refresh_token" }); k >= 0 && calls[j+1+k].presented != calls[j].issued {
				t.Errorf("iteration %d (%s): an access token was handed out, but after the crash the daemon refreshed with an older refresh token than the one issued with it", i, kind)
			}
		}
		switch {
		case code == 0:
			if got := initializeStatus(t, url, strings.TrimSpace(out)); got != http.StatusOK {
				t.Fatalf("iteration %d: initialize with the token after restart: %d", i, got)
			}
			usable++
		case code == 3:
			needSignIn++
			list := in.servers()
			if len(list) != 1 || list[0].Status != ipc.StateNeedsSignIn || list[0].StatusMessage == "" {
				t.Fatalf("iteration %d: token exit 3 but list says %+v", i, list)
			}
			t.Errorf("iteration %d (targeted %v): with a rotation grace period the server should stay usable; list: %s: %s",
				i, targeted, list[0].Status, list[0].StatusMessage)
			login(t, in, url)
		default:
			t.Fatalf("iteration %d: token after restart: exit %d, stderr %q", i, code, stderr)
		}
	}
	// Refreshes that presented a refresh token already presented before: the
	// daemon lost the successor (killed after Hydra rotated) and Hydra
	// accepted the old one within the grace period.
	seen := map[string]bool{}
	reused := 0
	for _, c := range h.tokenCalls() {
		if c.grant != "refresh_token" {
			continue
		}
		if seen[c.presented] {
			reused++
		}
		seen[c.presented] = true
	}
	for _, k := range []string{"random 0-50ms", "random 0-5ms", "after rotation"} {
		t.Logf("kill %-15s in-flight token request: ok %d, failed %d", k+":", kinds[k].ok, kinds[k].failed)
	}
	t.Logf("%d iterations: afterwards usable %d, needs sign-in %d; %d refresh grants at Hydra, %d of them presented an already used refresh token",
		iterations, usable, needSignIn, h.refreshes.Load(), reused)
	if list := in.servers(); len(list) != 1 || list[0].Status != ipc.StateSignedIn {
		t.Fatalf("at the end: %+v", list)
	}
}

// TestHydraShortLivedTokens: an authorization server whose access tokens
// live less than RefreshAhead (2 minutes). The refresh timer must not turn
// into a loop of back-to-back refreshes.
func TestHydraShortLivedTokens(t *testing.T) {
	h := startHydra(t, hydraOptions{accessTTL: "10s"})
	in := newInstance(t)
	url := h.mcpURL
	login(t, in, url)
	// Watch the idle daemon for a while (bounded): it has no reason to
	// refresh more than about once per token lifetime.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && h.refreshes.Load() < 20 {
		time.Sleep(50 * time.Millisecond)
	}
	n := h.refreshes.Load()
	t.Logf("refresh grants while idle for up to 3 s with 10 s access tokens: %d", n)
	if n > 1 {
		t.Errorf("the idle daemon refreshed %d times within 3 s of 10 s tokens; it should refresh at mid-life, at most once here", n)
	}
	if tok := strings.TrimSpace(in.must("token", url)); initializeStatus(t, url, tok) != http.StatusOK {
		t.Error("token does not work")
	}
}
