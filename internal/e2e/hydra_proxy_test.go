package e2e

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestHydraProxyRevoked: an app talks to a server through `mcpauthd proxy`;
// the authorization server revokes every token of mcpauthd's client (access
// and refresh) behind its back. The app's next call still succeeds: the
// server's 401 reaches the daemon, whose refresh is refused, so it signs in
// again (the test's browser approves) and the proxy retries — the app sees
// none of it.
func TestHydraProxyRevoked(t *testing.T) {
	h := startHydra(t, hydraOptions{accessTTL: "1h"})
	in := newInstance(t)
	url := h.mcpURL
	login(t, in, url)
	before := strings.TrimSpace(in.must("token", url))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var logs atomic.Int32
	cs, _, _ := in.startProxy(t, ctx, &logs, nil, url)
	echo := func() string {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "still here"}})
		if err != nil {
			t.Fatalf("tools/call through the proxy: %v", err)
		}
		if res.IsError || len(res.Content) != 1 {
			t.Fatalf("tools/call result: %+v", res)
		}
		return res.Content[0].(*mcp.TextContent).Text
	}
	if got := echo(); got != "still here" {
		t.Fatalf("echo = %q", got)
	}

	var clients []struct {
		ClientID string `json:"client_id"`
	}
	if err := h.adminJSON(http.MethodGet, "/admin/clients", nil, &clients); err != nil || len(clients) != 1 {
		t.Fatalf("Hydra clients: %v %v", clients, err)
	}
	if err := h.adminJSON(http.MethodDelete, "/admin/oauth2/tokens?client_id="+clients[0].ClientID, nil, nil); err != nil {
		t.Fatalf("revoking the client's tokens at Hydra: %v", err)
	}
	if active, _, err := h.introspect(before); err != nil || active {
		t.Fatalf("the token is still active after the revocation (%v)", err)
	}

	if got := echo(); got != "still here" {
		t.Fatalf("echo after the revocation = %q", got)
	}
	after := strings.TrimSpace(in.must("token", url))
	if after == before {
		t.Fatal("the daemon still hands out the revoked token")
	}
	if active, _, err := h.introspect(after); err != nil || !active {
		t.Fatalf("the new token is not active (%v)", err)
	}
}
