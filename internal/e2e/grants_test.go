package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestClientCredentialsDPoP is issue 8's CI-machine flow with the real
// binary: `mcpauthd login --client-credentials` (no browser) against an
// authorization server that issues DPoP-bound tokens and a resource server
// that accepts nothing else (a fake: no DPoP authorization server is
// available here). The CLI says the tokens are DPoP-bound, `headers
// --method --url` authorizes one request, `mcpauthd proxy` reaches the
// server, and after a daemon restart the grant configuration is still
// there: the expired token is obtained again without a browser.
func TestClientCredentialsDPoP(t *testing.T) {
	a := testfake.NewDPoPAS(t)
	in := newInstance(t)
	in.env = append(in.env, "BROWSER=/bin/false") // no browser may be needed
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte(a.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out := in.must("login", a.URL, "--client-credentials", "--client-id", a.ClientID, "--client-secret-file", secretFile)
	if !strings.Contains(out, "Signed in to") || !strings.Contains(out, "client_credentials") || !strings.Contains(out, "DPoP") {
		t.Fatalf("login output: %s", out)
	}
	if g, _ := a.Counts(); g != 1 {
		t.Fatalf("%d grants, want 1", g)
	}

	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		JKT         string `json:"dpop_jkt"`
	}
	if err := json.Unmarshal([]byte(in.must("token", a.URL, "--format", "json")), &tok); err != nil || tok.TokenType != "DPoP" || tok.JKT == "" || tok.AccessToken == "" {
		t.Fatalf("token --format json: %+v %v", tok, err)
	}
	_, errs, code := in.run("token", a.URL)
	if code != 0 || !strings.Contains(errs, "DPoP-bound") {
		t.Fatalf("token (raw) of a DPoP server: exit %d, stderr %q; want a note that it is DPoP-bound", code, errs)
	}
	for _, args := range [][]string{{"headers", a.URL}, {"token", a.URL, "--format", "header"}, {"exec", a.URL, "--", "true"}} {
		stdout, errs, code := in.run(args...)
		if code == 0 || stdout != "" || !strings.Contains(errs, "DPoP-bound") || !strings.Contains(errs, "mcpauthd proxy") || !strings.Contains(errs, "--method") {
			t.Fatalf("%v of a DPoP server: exit %d, stdout %q, stderr %q; want a failure explaining DPoP", args, code, stdout, errs)
		}
		if strings.Contains(errs, tok.AccessToken) {
			t.Fatalf("%v printed the token in its error", args)
		}
	}

	// headers for one request: the server asks for a nonce first (RFC 9449
	// §9), then accepts the headers signed with it.
	initialize := func(h map[string]string) *http.Response {
		t.Helper()
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}}`
		req, _ := http.NewRequest(http.MethodPost, a.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	headers := func(extra ...string) map[string]string {
		t.Helper()
		var h map[string]string
		if err := json.Unmarshal([]byte(in.must(append([]string{"headers", a.URL, "--method", "POST", "--url", a.URL}, extra...)...)), &h); err != nil {
			t.Fatal(err)
		}
		if h["Authorization"] != "DPoP "+tok.AccessToken || h["DPoP"] == "" {
			t.Fatalf("headers --method --url: %v", h)
		}
		return h
	}
	res := initialize(headers())
	nonce := res.Header.Get("DPoP-Nonce")
	if res.StatusCode != http.StatusUnauthorized || nonce == "" {
		t.Fatalf("without a nonce: %s, nonce %q; want 401 use_dpop_nonce", res.Status, nonce)
	}
	if res := initialize(headers("--nonce", nonce)); res.StatusCode != http.StatusOK {
		t.Fatalf("headers with the nonce: %s; refusals %v", res.Status, a.Refused)
	}
	if res := initialize(map[string]string{"Authorization": "Bearer " + tok.AccessToken}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the fake accepted the token as Bearer: %s", res.Status)
	}

	proxyCall := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var logs atomic.Int32
		cs, _, _ := in.startProxy(t, ctx, &logs, nil, a.URL)
		defer cs.Close()
		tools, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatalf("tools/list through the proxy: %v; refusals %v", err, a.Refused)
		}
		if len(tools.Tools) != 1 || tools.Tools[0].Name != "whoami" {
			t.Fatalf("tools: %+v", tools.Tools)
		}
		r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
		if err != nil || r.IsError || len(r.Content) != 1 || r.Content[0].(*mcp.TextContent).Text != "hello, ci-robot" {
			t.Fatalf("tools/call through the proxy: %+v %v", r, err)
		}
	}
	_, before := a.Counts()
	proxyCall()
	if _, after := a.Counts(); after <= before {
		t.Fatal("the proxy's requests did not reach the DPoP server")
	}

	list := func() ipc.ServerInfo {
		t.Helper()
		var l []ipc.ServerInfo
		if err := json.Unmarshal([]byte(in.must("list", "--json")), &l); err != nil || len(l) != 1 {
			t.Fatalf("list: %v %v", l, err)
		}
		return l[0]
	}
	if s := list(); s.Grant != ipc.GrantClientCredentials || !s.DPoP || s.Status != ipc.StateSignedIn {
		t.Fatalf("list: %+v", s)
	}

	// Restart with a valid token: the same token, and the proxy still works
	// (the DPoP key came back too).
	restart := func() {
		t.Helper()
		if err := ipc.NewClient(in.socket()).Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitGone(t, in.socket())
	}
	restart()
	if again := strings.TrimSpace(in.must("token", a.URL)); again != tok.AccessToken {
		t.Fatal("after a restart the daemon served another token")
	}
	if s := list(); s.Grant != ipc.GrantClientCredentials || !s.DPoP || s.Status != ipc.StateSignedIn {
		t.Fatalf("after restart: %+v", s)
	}
	proxyCall()
	if g, _ := a.Counts(); g != 1 {
		t.Fatalf("%d grants after a restart with a valid token, want 1", g)
	}

	// Let the token expire while the daemon is down: the restarted daemon
	// obtains a new one with the stored grant (secret included), no browser.
	a.SetExpiresIn(2)
	if _, err := ipc.NewClient(in.socket()).Refresh(context.Background(), a.URL); err != nil {
		t.Fatalf("refresh (re-acquire): %v", err)
	}
	if g, _ := a.Counts(); g != 2 {
		t.Fatalf("%d grants after a forced refresh, want 2", g)
	}
	restart()
	a.SetExpiresIn(3600)
	time.Sleep(2500 * time.Millisecond)
	if s := list(); s.Status == ipc.StateNeedsSignIn || s.Status == ipc.StateError {
		t.Fatalf("after a restart with an expired token: %+v", s)
	}
	var tok2 struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal([]byte(in.must("token", a.URL, "--format", "json")), &tok2); err != nil || tok2.TokenType != "DPoP" || tok2.AccessToken == tok.AccessToken {
		t.Fatalf("token after restart and expiry: %+v %v", tok2, err)
	}
	if g, _ := a.Counts(); g != 3 {
		t.Fatalf("%d grants, want 3 (login, forced refresh, re-acquired after restart)", g)
	}
	proxyCall()

	// The secret is nowhere in the registry or the logs in the clear.
	for _, dir := range []string{filepath.Join(in.dir, "data"), filepath.Join(in.dir, "state"), filepath.Join(in.dir, "config")} {
		_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, secret := range []string{a.ClientSecret, tok.AccessToken, tok2.AccessToken} {
				if strings.Contains(string(b), secret) {
					t.Errorf("%s holds a secret in the clear", p)
				}
			}
			return nil
		})
	}

	// Sign-out revokes with the stored client's authentication; removing
	// the server forgets the grant.
	in.must("logout", a.URL)
	a.Mu.Lock()
	revoked := slices.Clone(a.Revoked)
	a.Mu.Unlock()
	if !slices.Contains(revoked, tok2.AccessToken) {
		t.Fatalf("revoked %v, want the current token", revoked)
	}
}
