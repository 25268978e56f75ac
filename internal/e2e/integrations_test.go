package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"
)

// withApps gives the instance's reverse proxy a free port and returns its origin.
func (in *instance) withApps(t *testing.T) string {
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	in.env = append(in.env, "MCPAUTH_APPS_ADDR="+addr)
	return "http://" + addr
}

// headerTransport adds one header to every request (an app configured with
// the X-Mcpauthd-Key header).
type headerTransport struct{ k, v string }

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.k, h.v)
	return http.DefaultTransport.RoundTrip(r)
}

func listToolsVia(t *testing.T, endpoint string, hc *http.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-http-app", Version: "0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("connect through the reverse proxy: %v", err)
	}
	defer cs.Close()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list through the reverse proxy: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return names
}

// TestAppReverseProxy: an HTTP app reaches the TypeScript server through
// the daemon's reverse proxy with its key (in the path, or in a header),
// never sees a token, is refused without the key, and the audit log names it.
func TestAppReverseProxy(t *testing.T) {
	srv := tsServer(t)
	in := newInstance(t)
	origin := in.withApps(t)
	in.must("login", srv)

	out := in.must("app", "add", "cursor", "--server", srv)
	keyURL := regexp.MustCompile(`URL with the key:\s+(\S+)`).FindStringSubmatch(out)
	hdr := regexp.MustCompile(`header X-Mcpauthd-Key: (\S+)`).FindStringSubmatch(out)
	if keyURL == nil || hdr == nil || !strings.HasPrefix(keyURL[1], origin+"/s/cursor/k/") {
		t.Fatalf("app add output: %s", out)
	}
	base, key := origin+"/s/cursor", hdr[1]

	if tools := listToolsVia(t, keyURL[1], nil); len(tools) == 0 {
		t.Fatal("no tools through the key URL")
	}
	if tools := listToolsVia(t, base, &http.Client{Transport: headerTransport{ipc.AppKeyHeader, key}}); len(tools) == 0 {
		t.Fatal("no tools through the key header")
	}
	// The app's own Authorization is dropped and replaced.
	if got := initializeStatus(t, keyURL[1], "not-a-token"); got != http.StatusOK {
		t.Fatalf("initialize with a bogus Authorization from the app: %d, want 200", got)
	}
	for _, u := range []string{base, origin + "/s/cursor/k/wrong-key", origin + "/s/other/k/" + key} {
		if got := initializeStatus(t, u, ""); got != http.StatusForbidden {
			t.Fatalf("%s without the right key: %d, want 403", u, got)
		}
	}
	// DNS rebinding: a foreign Host is refused.
	req, _ := http.NewRequest(http.MethodPost, keyURL[1], strings.NewReader("{}"))
	req.Host = "evil.example:" + strings.TrimPrefix(origin, "http://127.0.0.1:")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign Host: %v %v", res, err)
	}

	list := in.must("app", "list")
	if !strings.Contains(list, "cursor") || strings.Contains(list, key) {
		t.Fatalf("app list: %s", list)
	}
	in.must("app", "remove", "cursor")
	if got := initializeStatus(t, keyURL[1], ""); got != http.StatusForbidden {
		t.Fatalf("removed app's key: %d, want 403", got)
	}

	// The audit log names the app: read it with the daemon stopped.
	recs := in.stoppedAudit(srv)
	apps := 0
	for _, r := range recs {
		if r.App == "cursor" {
			apps++
		}
	}
	if apps == 0 {
		t.Fatalf("no audit record names the app: %+v", recs)
	}
}

// TestExecPassesToken: `mcpauthd exec URL -- CMD` puts the token in the
// command's environment and passes its exit status through.
func TestExecPassesToken(t *testing.T) {
	srv := tsServer(t)
	in := newInstance(t)
	in.must("login", srv)
	tok := strings.TrimSpace(in.must("token", srv))
	out, errs, code := in.run("exec", srv, "--", "sh", "-c", `printf %s "$MCP_ACCESS_TOKEN"; exit 7`)
	if code != 7 || out != tok {
		t.Fatalf("exec: exit %d, stdout %q (want the token), stderr %s", code, out, errs)
	}
	if _, _, code := in.run("exec", srv, "--", "true"); code != 0 {
		t.Fatalf("exec true: exit %d", code)
	}
}

// mcpRemoteFixture signs in to srv the way mcp-remote 0.15.1 does
// (dynamic registration with its loopback redirect URI, PKCE, code
// exchange against the real authorization server) and writes the result
// in its layout: DIR/mcp-remote-v1/MD5(URL)_client_info.json and
// _tokens.json. It returns the directory and the access token.
func mcpRemoteFixture(t *testing.T, srv string) (string, string) {
	ctx := context.Background()
	u, _ := url.Parse(srv)
	getJSON := func(u string, v any) {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	var prm struct {
		AuthorizationServers []string `json:"authorization_servers"`
	}
	getJSON(u.Scheme+"://"+u.Host+"/.well-known/oauth-protected-resource"+u.Path, &prm)
	var asm struct {
		Issuer, AuthorizationEndpoint, TokenEndpoint, RegistrationEndpoint string
	}
	var raw map[string]any
	getJSON(strings.TrimSuffix(prm.AuthorizationServers[0], "/")+"/.well-known/oauth-authorization-server", &raw)
	asm.Issuer, _ = raw["issuer"].(string)
	asm.AuthorizationEndpoint, _ = raw["authorization_endpoint"].(string)
	asm.TokenEndpoint, _ = raw["token_endpoint"].(string)
	asm.RegistrationEndpoint, _ = raw["registration_endpoint"].(string)

	redirect := "http://localhost:" + strconv.Itoa(freePort(t)) + "/oauth/callback"
	body, _ := json.Marshal(map[string]any{
		"redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"client_name": "MCP CLI Proxy", "client_uri": "https://github.com/geelen/mcp-remote", "software_id": "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d",
	})
	res, err := http.Post(asm.RegistrationEndpoint, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var client map[string]any
	if err := json.NewDecoder(res.Body).Decode(&client); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	client["issuer"] = asm.Issuer                 // mcp-remote stamps the issuer it registered with
	secret, _ := client["client_secret"].(string) // an AS that gives every client a secret (the Go fake)
	cfg := &oauth2.Config{ClientID: client["client_id"].(string), ClientSecret: secret, RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{AuthURL: asm.AuthorizationEndpoint, TokenURL: asm.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noFollow.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", srv)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", srv))
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]any{"access_token": tok.AccessToken, "token_type": "bearer", "expires_in": tok.ExpiresIn,
		"expires_at": tok.Expiry.UnixMilli(), "requested_scope": "mcp:tools"}
	if tok.RefreshToken != "" {
		tokens["refresh_token"] = tok.RefreshToken
	}
	if sc, ok := tok.Extra("scope").(string); ok {
		tokens["scope"] = sc
	}
	dir := t.TempDir()
	store := filepath.Join(dir, "mcp-remote-v1")
	sum := md5.Sum([]byte(srv))
	hash := hex.EncodeToString(sum[:])
	write := func(name string, v any) {
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.MkdirAll(store, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(store, hash+"_"+name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("client_info.json", client)
	write("tokens.json", tokens)
	// A sign-in of a server nobody names: reported, not imported.
	other := hex.EncodeToString(md5.New().Sum([]byte("x")))[:32]
	_ = os.WriteFile(filepath.Join(store, other+"_tokens.json"), []byte(`{"access_token":"zzz","token_type":"bearer"}`), 0o600)
	return dir, tok.AccessToken
}

// TestImportMCPRemote: mcp-remote's sign-in becomes mcpauthd's, without a
// new sign-in and without printing a token.
func TestImportMCPRemote(t *testing.T) {
	srv := tsServer(t)
	dir, access := mcpRemoteFixture(t, srv)
	in := newInstance(t)
	in.env = append(in.env, "HOME="+t.TempDir()) // no app configs of the machine's user
	out, errs, code := in.run("import", "mcp-remote", srv, "--dir", dir)
	if code != 0 || !strings.Contains(out, "Imported "+srv) || !strings.Contains(out, "1 mcp-remote sign-in(s) left") {
		t.Fatalf("import: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if strings.Contains(out+errs, access) {
		t.Fatal("import printed the token")
	}
	if got := strings.TrimSpace(in.must("token", srv)); got != access {
		t.Fatal("the daemon does not hand out the imported token")
	}
	var list []ipc.ServerInfo
	if err := json.Unmarshal([]byte(in.must("list", "--json")), &list); err != nil || len(list) != 1 || list[0].Status != ipc.StateSignedIn || len(list[0].Tools) == 0 {
		t.Fatalf("list after import: %+v %v", list, err)
	}
	// Again: already signed in, left alone.
	if _, errs, code := in.run("import", "mcp-remote", srv, "--dir", dir); code == 0 || !strings.Contains(errs, "already signed in") {
		t.Fatalf("second import: exit %d, %s", code, errs)
	}
}
