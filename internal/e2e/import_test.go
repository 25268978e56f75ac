package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestImportMovesNotCopies: mcpauthd already has its own client at the
// authorization server (it signed in first); mcp-remote's sign-in to the
// same server is still imported (--replace), with mcp-remote's client kept
// with its tokens — refreshes use it, across a restart — while mcpauthd's
// own registration stays for the next sign-in. With --move mcp-remote's
// tokens file is moved aside (a 0600 backup), so mcp-remote can no longer
// refresh the same rotating token; the apps that still run mcp-remote for
// the server are named.
func TestImportMovesNotCopies(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	home := t.TempDir()
	in.env = append(withoutEnv(in.env, "HOME"), "HOME="+home)
	a.signIn(t, in) // mcpauthd's own client at the issuer
	own := in.serverInfo(a.url)

	// Claude Desktop still runs mcp-remote for this server.
	cfg := filepath.Join(in.dir, "config", "Claude", "claude_desktop_config.json")
	_ = os.MkdirAll(filepath.Dir(cfg), 0o700)
	entry, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{"x": map[string]any{"command": "npx", "args": []string{"-y", "mcp-remote", a.url}}}})
	if err := os.WriteFile(cfg, entry, 0o600); err != nil {
		t.Fatal(err)
	}

	dir, access := mcpRemoteFixture(t, a.url)
	sum := md5.Sum([]byte(a.url))
	tokens := filepath.Join(dir, "mcp-remote-v1", hex.EncodeToString(sum[:])+"_tokens.json")
	out, errs, code := in.run("import", "mcp-remote", a.url, "--dir", dir, "--replace", "--move")
	if code != 0 || !strings.Contains(out, "Imported "+a.url) {
		t.Fatalf("import over mcpauthd's own client: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "claude-desktop") || !strings.Contains(errs, "mcpauthd config claude-desktop --write") {
		t.Errorf("the app still running mcp-remote was not named: %s", errs)
	}
	info := in.serverInfo(a.url)
	if info.Registration != "imported" {
		t.Errorf("registration after import: %q, want imported", info.Registration)
	}
	if got := strings.TrimSpace(in.must("token", a.url)); got != access {
		t.Fatal("the imported token is not the one handed out")
	}

	// mcp-remote's copy is moved aside: it reads only HASH_tokens.json.
	if _, err := os.Stat(tokens); !os.IsNotExist(err) {
		t.Fatalf("mcp-remote's tokens file is still where mcp-remote reads it: %v", err)
	}
	aside, _ := filepath.Glob(tokens + ".moved-to-mcpauthd-*")
	if len(aside) != 1 {
		t.Fatalf("backup of mcp-remote's tokens: %v", aside)
	}
	if fi, _ := os.Stat(aside[0]); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v", fi.Mode().Perm())
	}

	// Refresh with mcp-remote's client, after a restart too.
	in.restart()
	before := a.refreshes.Load()
	fresh := strings.TrimSpace(in.must("token", "--min-valid", "2h", a.url))
	if a.refreshes.Load() == before || fresh == access || a.mcpStatus(t, fresh) != 200 {
		t.Fatalf("refresh of the imported sign-in after a restart did not work (refreshes %d→%d)", before, a.refreshes.Load())
	}
	if in.serverInfo(a.url).Registration != "imported" {
		t.Error("after a restart the imported client was lost")
	}

	// A new sign-in goes back to mcpauthd's own client.
	login(t, in, a.url)
	if got := in.serverInfo(a.url); got.Registration != own.Registration {
		t.Errorf("after a new sign-in the registration is %q, want mcpauthd's own %q", got.Registration, own.Registration)
	}
	var list []ipc.ServerInfo
	_ = json.Unmarshal([]byte(in.must("list", "--json")), &list)
	if len(list) != 1 || list[0].Status != ipc.StateSignedIn {
		t.Fatalf("list: %+v", list)
	}
}
