package webui_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestToolsAction: the page's tool policy action stores a server's policy,
// which the page's state then shows (with the deny_tools setting's
// patterns); the daemon checks the patterns before anything else and knows
// only its servers.
func TestToolsAction(t *testing.T) {
	a := testfake.NewDPoPAS(t)
	e := start(t, func(c *daemon.Config) { c.DenyTools = []string{"drop*"} })
	cookie, csrf := e.login(e.entry)
	b, _ := json.Marshal(map[string]string{"url": a.URL, "grant": "client_credentials", "client_id": a.ClientID, "client_secret": a.ClientSecret})
	if res, body := e.do(req{method: http.MethodPost, path: "/api/login", body: string(b), cookie: cookie, csrf: csrf}); res.StatusCode != http.StatusOK {
		t.Fatalf("add a server: %s %s", res.Status, body)
	}
	b, _ = json.Marshal(map[string]any{"url": a.URL, "deny": []string{"delete*"}, "allow": []string{"get*", "list*"}})
	if res, body := e.do(req{method: http.MethodPost, path: "/api/tools", body: string(b), cookie: cookie, csrf: csrf}); res.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/tools: %s %s", res.Status, body)
	}
	st := e.firstState(cookie)
	if len(st.Servers) != 1 || !slices.Equal(st.Servers[0].ToolPolicy.Deny, []string{"delete*"}) || !slices.Equal(st.Servers[0].ToolPolicy.Allow, []string{"get*", "list*"}) {
		t.Fatalf("the page's state after the change: %+v", st.Servers)
	}
	if !slices.Equal(st.DenyTools, []string{"drop*"}) {
		t.Errorf("the page's state shows deny_tools %q, want [drop*]", st.DenyTools)
	}
	if res, _ := e.do(req{method: http.MethodPost, path: "/api/tools", body: string(b), cookie: cookie}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /api/tools without the CSRF token: %s", res.Status)
	}
	for body, code := range map[string]string{
		`{"url":"https://nowhere.example/mcp","deny":["delete*"]}`: ipc.CodeNotFound,
		`{"url":"https://nowhere.example/mcp","deny":[""]}`:        ipc.CodeBadRequest,
	} {
		res, out := e.do(req{method: "POST", path: "/api/tools", body: body, cookie: cookie, csrf: csrf, origin: "http://" + e.addr})
		var ie ipc.Error
		if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(out), &ie) != nil || ie.Code != code {
			t.Errorf("POST /api/tools %s: %s %s; want 400 %s", body, res.Status, out, code)
		}
	}
}
