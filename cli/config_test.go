package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tailscale/hujson"
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
	if k := keysAt(t, got, ""); !reflect.DeepEqual(k, []string{"globalShortcut", "mcpServers", "preferences"}) {
		t.Fatalf("top-level keys %v", k)
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
	if k := keysAt(t, got, "/mcpServers"); !reflect.DeepEqual(k, []string{"files", "linear", "example"}) {
		t.Fatalf("server order %v", k)
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

// keysAt lists the member names of the object at the JSON pointer ptr, in
// file order.
func keysAt(t *testing.T, raw []byte, ptr string) []string {
	t.Helper()
	v, err := hujson.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	o := v.Find(ptr)
	if o == nil || o.Value.Kind() != '{' {
		t.Fatalf("no object at %q", ptr)
	}
	var keys []string
	for _, m := range o.Value.(*hujson.Object).Members {
		keys = append(keys, m.Name.Value.(hujson.Literal).String())
	}
	return keys
}

func runCfg(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &Env{Stdout: &out, Stderr: &errb, NoAutostart: true}
	err := Run(context.Background(), e, append([]string{"config"}, args...))
	return out.String(), errb.String(), err
}

// VS Code writes JSONC: comments and trailing commas are read, kept where
// they were, and the new entry goes in beside them.
func TestConfigWriteJSONCKeepsComments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp.json")
	orig := "{\n  // my servers\n  \"servers\": {\n    \"local\": {\"type\": \"stdio\", \"command\": \"srv\"}, // keep me\n  },\n  /* inputs */ \"inputs\": [],\n}\n"
	if err := os.WriteFile(path, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, err := runCfg(t, "vscode", "--write", "--file", path, "--command", "/usr/bin/mcpauthd", "--server", "a=https://a.example/mcp"); err != nil {
		t.Fatal(err, errs)
	}
	got, _ := os.ReadFile(path)
	for _, c := range []string{"// my servers", "// keep me", "/* inputs */"} {
		if !strings.Contains(string(got), c) {
			t.Errorf("comment %q lost:\n%s", c, got)
		}
	}
	std, err := hujson.Standardize(got)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Servers map[string]struct {
			Type, Command string
			Args          []string
		}
	}
	if err := json.Unmarshal(std, &v); err != nil || v.Servers["a"].Command != "/usr/bin/mcpauthd" || v.Servers["local"].Command != "srv" {
		t.Fatalf("%s %v", got, err)
	}
	if k := keysAt(t, got, "/servers"); !reflect.DeepEqual(k, []string{"local", "a"}) {
		t.Fatalf("order %v", k)
	}
}

// A second run with nothing new writes nothing, makes no backup and says so;
// a plain file with nothing to convert is not touched either.
func TestConfigWriteNoOp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "claude_desktop_config.json")
	args := []string{"claude-desktop", "--write", "--file", path, "--command", "/usr/bin/mcpauthd", "--server", "ex=https://mcp.example.com/mcp"}
	if _, errs, err := runCfg(t, args...); err != nil {
		t.Fatal(err, errs)
	}
	first, _ := os.ReadFile(path)
	out, _, err := runCfg(t, args...)
	if err != nil || !strings.Contains(out, "Nothing to change") || !strings.Contains(out, "ex already set up") || strings.Contains(out, "Updated") {
		t.Fatalf("second run: %v %q", err, out)
	}
	if again, _ := os.ReadFile(path); string(again) != string(first) {
		t.Fatal("a no-op run changed the file")
	}
	if baks, _ := filepath.Glob(path + ".bak-*"); len(baks) != 0 {
		t.Fatalf("a no-op run made backups: %v", baks)
	}
	other := filepath.Join(t.TempDir(), "c.json")
	_ = os.WriteFile(other, []byte(`{"mcpServers": {"files": {"command": "x"}}}`), 0o600)
	if out, _, err := runCfg(t, "cursor", "--write", "--file", other, "--command", "/usr/bin/mcpauthd"); err != nil || !strings.Contains(out, "Nothing to change") {
		t.Fatalf("convert-only with nothing to convert: %v %q", err, out)
	}
	if b, _ := os.ReadFile(other); string(b) != `{"mcpServers": {"files": {"command": "x"}}}` {
		t.Fatal("the file was rewritten")
	}
}

// Backups made within one second do not overwrite each other.
func TestConfigBackupsUnique(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	_ = os.WriteFile(path, []byte(`{}`), 0o600)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for i, n := range []string{"a", "b", "c"} {
		res, err := rewriteConfig(path, []string{"mcpServers"}, []string{n}, map[string]any{n: map[string]any{"url": "https://" + n + ".example"}}, "/usr/bin/mcpauthd", false, now)
		if err != nil {
			t.Fatal(err)
		}
		if res.backup == "" {
			t.Fatalf("run %d made no backup", i)
		}
	}
	baks, _ := filepath.Glob(path + ".bak-*")
	if len(baks) != 3 {
		t.Fatalf("backups %v", baks)
	}
	seen := map[string]bool{}
	for _, b := range baks {
		c, _ := os.ReadFile(b)
		seen[string(c)] = true
	}
	if len(seen) != 3 {
		t.Fatal("a backup was overwritten: the three differ in content")
	}
}

// An entry of the same name that runs something else is the user's: it is
// replaced only with --force; names are validated; a `go run` build is not
// written into an app's config.
func TestConfigWriteRefusals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	orig := `{"mcpServers": {"ex": {"command": "my-own-server"}}}`
	_ = os.WriteFile(path, []byte(orig), 0o600)
	_, _, err := runCfg(t, "cursor", "--write", "--file", path, "--command", "/usr/bin/mcpauthd", "--server", "ex=https://mcp.example.com/mcp")
	if err == nil || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "ex") {
		t.Fatalf("replacing the user's entry: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != orig {
		t.Fatal("refused, yet the file changed")
	}
	if _, errs, err := runCfg(t, "cursor", "--write", "--force", "--file", path, "--command", "/usr/bin/mcpauthd", "--server", "ex=https://mcp.example.com/mcp"); err != nil {
		t.Fatal(err, errs)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "/usr/bin/mcpauthd") || strings.Contains(string(b), "my-own-server") {
		t.Fatalf("--force did not replace: %s", b)
	}
	for _, bad := range []string{"my server=https://x.example/mcp", "-x=https://x.example/mcp", "ok=file:///etc/passwd", "ok=notaurl"} {
		if _, _, err := runCfg(t, "cursor", "--file", path, "--server", bad); err == nil {
			t.Errorf("--server %q accepted", bad)
		}
	}
	tmp := filepath.Join(os.TempDir(), "go-build123", "b001", "exe", "mcpauthd")
	if _, _, err := runCfg(t, "cursor", "--write", "--file", path, "--command", tmp, "--server", "y=https://y.example/mcp"); err == nil || !strings.Contains(err.Error(), "go run") {
		t.Fatalf("a go run build path was written: %v", err)
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

// TestConvertMCPRemoteProviderFlags: mcp-remote's provider flags the proxy
// takes are kept, and its flags without a value do not swallow the next
// argument.
func TestConvertMCPRemoteProviderFlags(t *testing.T) {
	entry := []byte(`{"command":"npx","args":["-y","mcp-remote","https://mcp.example.com/mcp","--disable-resource-parameter","9696",` +
		`"--use-id-token","--authorize-param","access_type=offline","--static-oauth-client-metadata","{\"scope\":\"a b\"}"]}`)
	_, args, warn, ok := convertMCPRemote(entry, "/usr/bin/mcpauthd")
	want := []string{"proxy", "https://mcp.example.com/mcp", "--disable-resource-parameter", "9696", "--use-id-token",
		"--authorize-param", "access_type=offline", "--static-oauth-client-metadata", `{"scope":"a b"}`}
	if !ok || !slices.Equal(args, want) || len(warn) != 0 {
		t.Fatalf("converted to %q (warnings %q); want %q", args, warn, want)
	}
}
