package daemon_test

import (
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/store"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

// TestToolPolicyDenyTools: the deny_tools setting (Config.DenyTools) is
// refused on every server, known or not, on top of the stored policy,
// which stays as the user set it (so `mcpauthd tools URL --deny` never
// writes the setting's patterns into the server's record).
func TestToolPolicyDenyTools(t *testing.T) {
	const known = "https://mcp.example.com/mcp"
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutServer(&store.Server{URL: known, Name: "example"}); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{Store: st, Logger: log, CallbackAddr: "127.0.0.1:1", DenyTools: []string{"delete*"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); st.Close() })

	if p := d.ToolPolicy("https://unknown.example/mcp"); p.Allows("deleteAll") || !p.Allows("get") {
		t.Errorf("an unknown server's policy: %s; want deny delete*", p)
	}
	info, err := d.SetToolPolicy(known, toolpolicy.Policy{Allow: []string{"get*", "delete*"}, Deny: []string{"drop"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.ToolPolicy.Deny, []string{"drop"}) {
		t.Errorf("the stored policy took the setting's patterns: %s", info.ToolPolicy)
	}
	p := d.ToolPolicy(known)
	for tool, want := range map[string]bool{"getUser": true, "deleteUser": false, "drop": false, "list": false} {
		if p.Allows(tool) != want {
			t.Errorf("%s allowed = %v under %s, want %v", tool, !want, p, want)
		}
	}
}
