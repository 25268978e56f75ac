package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A Claude Desktop config as the app writes it: fields mcpauthd does not
// know, an mcp-remote entry with arguments the proxy takes and one it does
// not, and an unrelated local server.
const claudeDesktopConfig = `{
  "globalShortcut": "Ctrl+Space",
  "mcpServers": {
    "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/me"]},
    "linear": {
      "command": "npx",
      "args": ["-y", "mcp-remote@0.15.1", "https://mcp.linear.app/sse", "--header", "X-Team: ${TEAM}", "--static-oauth-client-info", "{\"client_id\":\"c\"}", "--transport", "sse-only", "9696"],
      "env": {"TEAM": "eng"}
    }
  },
  "preferences": {"menuBarEnabled": true, "quickEntryShortcut": "off"}
}`

func TestConfigWriteClaudeDesktop(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "claude_desktop_config.json")
	if err := os.WriteFile(path, []byte(claudeDesktopConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	e := &Env{Stdout: &out, Stderr: &errb, NoAutostart: true}
	err := Run(context.Background(), e, []string{"config", "claude-desktop", "--write", "--file", path,
		"--command", "/usr/bin/mcpauthd", "--server", "example=https://mcp.example.com/mcp"})
	if err != nil {
		t.Fatalf("config: %v\n%s", err, errb.String())
	}
	if strings.Contains(errb.String(), `client_id`) || !strings.Contains(errb.String(), "--static-oauth-client-info") {
		t.Fatalf("warnings: %s", errb.String())
	}
	baks, _ := filepath.Glob(path + ".bak-*")
	if len(baks) != 1 {
		t.Fatalf("backups: %v", baks)
	}
	if b, _ := os.ReadFile(baks[0]); string(b) != claudeDesktopConfig {
		t.Fatal("the backup is not the original file")
	}
	got, _ := os.ReadFile(path)
	// Key order kept, new entry last.
	o, err := parseObject(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.keys, []string{"globalShortcut", "mcpServers", "preferences"}) {
		t.Fatalf("top-level keys %v", o.keys)
	}
	var before, after map[string]any
	_ = json.Unmarshal([]byte(claudeDesktopConfig), &before)
	_ = json.Unmarshal(got, &after)
	for _, k := range []string{"globalShortcut", "preferences"} {
		if !reflect.DeepEqual(before[k], after[k]) {
			t.Fatalf("%s changed: %v", k, after[k])
		}
	}
	servers := after["mcpServers"].(map[string]any)
	if !reflect.DeepEqual(servers["files"], before["mcpServers"].(map[string]any)["files"]) {
		t.Fatal("an unrelated server entry changed")
	}
	linear := servers["linear"].(map[string]any)
	wantArgs := []any{"proxy", "https://mcp.linear.app/sse", "--header", "X-Team: ${TEAM}", "--transport", "sse-only", "9696"}
	if linear["command"] != "/usr/bin/mcpauthd" || !reflect.DeepEqual(linear["args"], wantArgs) || linear["env"].(map[string]any)["TEAM"] != "eng" {
		t.Fatalf("converted entry: %v", linear)
	}
	ex := servers["example"].(map[string]any)
	if !reflect.DeepEqual(ex["args"], []any{"proxy", "https://mcp.example.com/mcp"}) {
		t.Fatalf("new entry: %v", ex)
	}
	sk, _ := parseObject(o.vals["mcpServers"])
	if !reflect.DeepEqual(sk.keys, []string{"files", "linear", "example"}) {
		t.Fatalf("server order %v", sk.keys)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if urls := mcpRemoteURLs(baks[0], []string{"mcpServers"}); !reflect.DeepEqual(urls, []string{"https://mcp.linear.app/sse"}) {
		t.Fatalf("mcp-remote URLs %v", urls)
	}
}

// Claude Code's ~/.claude.json is large and mostly not about MCP; a new
// http entry with a headersHelper goes in, the rest stays.
func TestConfigWriteClaudeCode(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".claude.json")
	orig := `{"numStartups": 42, "projects": {"/src/x": {"mcpServers": {}, "allowedTools": []}}, "userID": "abc", "oauthAccount": {"emailAddress": "me@example.com"}}`
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	e := &Env{Stdout: &out, Stderr: &errb, NoAutostart: true}
	if err := Run(context.Background(), e, []string{"config", "claude-code", "--write", "--file", path,
		"--command", "/opt/my tools/mcpauthd", "--server", "ex=https://mcp.example.com/mcp"}); err != nil {
		t.Fatal(err, errb.String())
	}
	got, _ := os.ReadFile(path)
	var before, after map[string]any
	_ = json.Unmarshal([]byte(orig), &before)
	_ = json.Unmarshal(got, &after)
	ex := after["mcpServers"].(map[string]any)["ex"].(map[string]any)
	delete(after, "mcpServers")
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("other fields changed:\n%s", got)
	}
	if ex["type"] != "http" || ex["url"] != "https://mcp.example.com/mcp" || ex["headersHelper"] != "'/opt/my tools/mcpauthd' headers https://mcp.example.com/mcp" {
		t.Fatalf("entry %v", ex)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode changed to %v", fi.Mode())
	}
}

// A file with comments (JSONC) is refused, untouched.
func TestConfigWriteRefusesJSONC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp.json")
	orig := "{\n  // mine\n  \"servers\": {}\n}\n"
	_ = os.WriteFile(path, []byte(orig), 0o600)
	e := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, NoAutostart: true}
	if err := Run(context.Background(), e, []string{"config", "vscode", "--write", "--file", path, "--server", "a=https://a.example/mcp"}); err == nil {
		t.Fatal("a JSONC file was rewritten")
	}
	if b, _ := os.ReadFile(path); string(b) != orig {
		t.Fatal("the file changed")
	}
	if baks, _ := filepath.Glob(path + ".bak-*"); len(baks) != 0 {
		t.Fatal("backup made for a refused file")
	}
}

func TestConfigPrintVSCode(t *testing.T) {
	var out bytes.Buffer
	e := &Env{Stdout: &out, Stderr: &bytes.Buffer{}, NoAutostart: true}
	if err := Run(context.Background(), e, []string{"config", "vscode", "--command", "mcpauthd", "--server", "a=https://a.example/mcp"}); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Servers map[string]struct {
			Type, Command string
			Args          []string
		}
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Servers["a"].Type != "stdio" || v.Servers["a"].Command != "mcpauthd" || v.Servers["a"].Args[1] != "https://a.example/mcp" {
		t.Fatalf("%s %v", out.String(), err)
	}
}
