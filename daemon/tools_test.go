package daemon_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/ipc"
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

// TestAppToolPolicy: an app's own policy (SetAppToolPolicy) applies on top
// of the server's to that app's requests only, named by its program's path
// or its app key; an empty one drops it; it survives a restart.
func TestAppToolPolicy(t *testing.T) {
	const known = "https://mcp.example.com/mcp"
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	open := func() (*daemon.Daemon, func()) {
		st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
		if err != nil {
			t.Fatal(err)
		}
		d, err := daemon.New(daemon.Config{Store: st, Logger: log, CallbackAddr: "127.0.0.1:1", DenyTools: []string{"drop*"}})
		if err != nil {
			t.Fatal(err)
		}
		return d, func() { d.Close(); st.Close() }
	}
	d, closeD := open()
	if _, err := d.SetToolPolicy(known, toolpolicy.Policy{Deny: []string{"delete*"}}); err == nil {
		t.Fatal("a policy set for an unknown server")
	}
	closeD()
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutServer(&store.Server{URL: known, Name: "example"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	d, closeD = open()
	if _, err := d.SetToolPolicy(known, toolpolicy.Policy{Deny: []string{"delete*"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddApp(&ipc.AppRequest{Name: "cursor", Server: known}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetAppToolPolicy(known, "/opt/chat/../chat/chat-app", toolpolicy.Policy{Allow: []string{"get*", "delete*"}}); err != nil {
		t.Fatal(err)
	}
	info, err := d.SetAppToolPolicy(known, "cursor", toolpolicy.Policy{Deny: []string{"write*"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.AppToolPolicies) != 2 || info.AppToolPolicies[0].App != "exe:/opt/chat/chat-app" || info.AppToolPolicies[1].App != "key:cursor" || info.AppToolPolicies[1].Name != "cursor (app key)" {
		t.Fatalf("the server's apps' policies: %+v", info.AppToolPolicies)
	}
	if _, err := d.SetAppToolPolicy(known, "no-such-key", toolpolicy.Policy{Deny: []string{"x"}}); err == nil {
		t.Error("a policy set for an app key that does not exist")
	}
	if _, err := d.SetAppToolPolicy(known, "cursor", toolpolicy.Policy{Deny: []string{"x"}, App: &toolpolicy.Policy{}}); err == nil {
		t.Error("an app's policy holding another accepted")
	}
	if _, err := d.SetToolPolicy(known, toolpolicy.Policy{Deny: []string{"x"}, App: &toolpolicy.Policy{Deny: []string{"y"}}}); err == nil {
		t.Error("a server's stored policy holding an app's accepted")
	}

	check := func(d *daemon.Daemon, who string, peer ipc.Peer, want map[string]bool) {
		t.Helper()
		p := d.ToolPolicyFor(known, peer)
		for tool, ok := range want {
			if p.Allows(tool) != ok {
				t.Errorf("%s: %s allowed = %v under %s, want %v", who, tool, !ok, p, ok)
			}
		}
	}
	chat := ipc.Peer{UID: 1000, PID: 12, Program: "/opt/chat/chat-app", ProgramPID: 10}
	other := ipc.Peer{UID: 1000, PID: 13, Program: "/usr/bin/editor", ProgramPID: 11}
	cursor := ipc.Peer{UID: -1, App: "cursor"}
	check(d, "chat-app", chat, map[string]bool{"getUser": true, "deleteUser": false, "list": false, "dropAll": false})

	// A program named by a symbolic link (/usr/bin/x -> /opt/x/x) is the
	// program the daemon finds running: the link's target.
	real := filepath.Join(dir, "opt", "viewer")
	link := filepath.Join(dir, "bin", "viewer")
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetAppToolPolicy(known, link, toolpolicy.Policy{Deny: []string{"get*"}}); err != nil {
		t.Fatal(err)
	}
	realPath, _ := filepath.EvalSymlinks(real)
	check(d, "a program named by its link", ipc.Peer{UID: 1000, PID: 14, Program: realPath, ProgramPID: 9}, map[string]bool{"getUser": false, "list": true})
	if _, err := d.SetAppToolPolicy(known, link, toolpolicy.Policy{}); err != nil {
		t.Fatal(err)
	}
	check(d, "another program", other, map[string]bool{"getUser": true, "deleteUser": false, "list": true, "dropAll": false, "writeX": true})
	check(d, "the app key", cursor, map[string]bool{"getUser": true, "writeX": false, "deleteUser": false})

	closeD()
	d, closeD = open()
	defer closeD()
	check(d, "chat-app after a restart", chat, map[string]bool{"getUser": true, "list": false})
	if _, err := d.SetAppToolPolicy(known, "exe:/opt/chat/chat-app", toolpolicy.Policy{}); err != nil {
		t.Fatal(err)
	}
	check(d, "chat-app, its policy dropped", chat, map[string]bool{"list": true, "deleteUser": false})
	if n := len(d.Servers()[0].AppToolPolicies); n != 1 {
		t.Errorf("%d apps' policies left, want 1", n)
	}
}
