package settings

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsWithoutFile(t *testing.T) {
	s, err := Load(filepath.Join(t.TempDir(), "missing.toml"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.CallbackAddr() != "127.0.0.1:53682" || s.AppsAddr() != "127.0.0.1:53683" || s.SecretBackend() != "keyring" {
		t.Fatalf("defaults: %+v", s.List)
	}
	for _, v := range s.List {
		if v.Source != FromDefault {
			t.Errorf("%s from %s, want default", v.Key, v.Source)
		}
	}
}

func TestFileThenEnv(t *testing.T) {
	f := write(t, `# a comment
apps_addr = "127.0.0.1:6000"
secret_backend = "FILE"   # case-insensitive
browser = "/usr/bin/firefox"
log_level = "debug"
allow_private_networks = true
`)
	s, err := Load(f, env(map[string]string{"MCPAUTH_APPS_ADDR": "[::1]:7000"}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"apps_addr":      {"[::1]:7000", FromEnv},
		"secret_backend": {"file", FromFile},
		"browser":        {"/usr/bin/firefox", FromFile},
		"log_level":      {"debug", FromFile},
		"callback_addr":  {"127.0.0.1:53682", FromDefault},
	}
	for _, v := range s.List {
		if w, ok := want[v.Key]; ok && (v.Value != w[0] || v.Source != w[1]) {
			t.Errorf("%s = %q from %s, want %q from %s", v.Key, v.Value, v.Source, w[0], w[1])
		}
	}
	if !s.AllowPrivateNetworks() {
		t.Error("allow_private_networks = true (a TOML boolean) was not taken")
	}
	if s.LogLevel().String() != "DEBUG" {
		t.Errorf("log level %v", s.LogLevel())
	}
}

// Every error names the file, the line and the key (or the variable), and
// says what would be accepted.
func TestErrorsNameFileLineKey(t *testing.T) {
	for _, c := range []struct {
		name, body string
		env        map[string]string
		want       []string
	}{
		{"unknown key", "\n\ncallback_adr = \"127.0.0.1:1\"\n", nil, []string{"line 3", `"callback_adr"`, "unknown setting", "callback_addr"}},
		{"wrong type", "log_level = \"info\"\napps_addr = 6000\n", nil, []string{"line 2", `"apps_addr"`, "integer"}},
		{"not loopback", "apps_addr = \"0.0.0.0:6000\"\n", nil, []string{"line 1", `"apps_addr"`, "loopback"}},
		{"bad port", "callback_addr = \"127.0.0.1:70000\"\n", nil, []string{"line 1", "0 to 65535"}},
		{"bad backend", "\nsecret_backend = \"vault\"\n", nil, []string{"line 2", "keyring, file"}},
		{"http metadata url", "client_metadata_url = \"http://x.example/c.json\"\n", nil, []string{"line 1", "https"}},
		{"table", "[network]\nport = 1\n", nil, []string{"line 1", `"network"`, "unknown setting"}},
		{"table of a known key", "[proxy]\nport = 1\n", nil, []string{"line 1", `"proxy"`, "string in quotes"}},
		{"bad proxy", "proxy = \"system\"\n", nil, []string{"line 1", "off, environment"}},
		{"syntax", "apps_addr = \"127.0.0.1:1\n", nil, []string{"line 1"}},
		{"env", "", map[string]string{"MCPAUTH_LOG_LEVEL": "loud"}, []string{"MCPAUTH_LOG_LEVEL", "debug, info, warn, error"}},
		{"bool", "allow_private_networks = \"maybe\"\n", nil, []string{"line 1", "true or false"}},
		{"bool for a string", "log_level = true\n", nil, []string{"line 1", "boolean"}},
		{"deny_tools as an array", "deny_tools = [\"a*\"]\n", nil, []string{"line 1", `"deny_tools"`, "array"}},
		{"deny_tools control character", "deny_tools = \"ok, bad\\u0007\"\n", nil, []string{"line 1", `"deny_tools"`, "control character"}},
		{"approval_timeout not a duration", "approval_timeout = \"2\"\n", nil, []string{"line 1", `"approval_timeout"`, "not a duration", "90s"}},
		{"approval_timeout too short", "approval_timeout = \"1s\"\n", nil, []string{"line 1", "out of range", "5s to 30m"}},
		{"approval_timeout too long env", "", map[string]string{"MCPAUTH_APPROVAL_TIMEOUT": "2h"}, []string{"MCPAUTH_APPROVAL_TIMEOUT", "out of range", "5s to 30m"}},
		{"deny_tools env", "", map[string]string{"MCPAUTH_DENY_TOOLS": "a, " + strings.Repeat("x", 300)}, []string{"MCPAUTH_DENY_TOOLS", "longer than"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := write(t, c.body)
			_, err := Load(f, env(c.env))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if c.env == nil && !strings.Contains(msg, f) {
				t.Errorf("error does not name the file: %s", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

// TestDenyTools: deny_tools is a comma-separated list of tool patterns,
// normalised, from the file or the environment.
func TestDenyTools(t *testing.T) {
	s, err := Load(write(t, "deny_tools = \" delete* ,, *_admin \"\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.DenyTools(); !slices.Equal(got, []string{"delete*", "*_admin"}) {
		t.Errorf("DenyTools from the file: %q", got)
	}
	if v := s.Get("deny_tools"); v != "delete*, *_admin" {
		t.Errorf("deny_tools shown as %q", v)
	}
	s, err = Load(write(t, "deny_tools = \"a\"\n"), env(map[string]string{"MCPAUTH_DENY_TOOLS": "drop_*"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.DenyTools(); !slices.Equal(got, []string{"drop_*"}) {
		t.Errorf("DenyTools with the environment over the file: %q", got)
	}
	if got := Defaults().DenyTools(); got != nil {
		t.Errorf("DenyTools by default: %q", got)
	}
}

// TestApprovalTimeout: approval_timeout is a duration, two minutes unless
// the file or MCPAUTH_APPROVAL_TIMEOUT says otherwise; the bounds are in.
func TestApprovalTimeout(t *testing.T) {
	if got := Defaults().ApprovalTimeout(); got != 2*time.Minute {
		t.Errorf("default approval timeout %s", got)
	}
	for body, want := range map[string]time.Duration{"approval_timeout = \"5s\"\n": 5 * time.Second, "approval_timeout = \"30m\"\n": 30 * time.Minute} {
		if s, err := Load(write(t, body), env(nil)); err != nil || s.ApprovalTimeout() != want {
			t.Errorf("%q: %v, want %s", body, err, want)
		}
	}
	s, err := Load(write(t, "approval_timeout = \"5s\"\n"), env(map[string]string{"MCPAUTH_APPROVAL_TIMEOUT": " 1m30s "}))
	if err != nil || s.ApprovalTimeout() != 90*time.Second {
		t.Fatalf("the environment over the file: %v", err)
	}
}

func TestUnreadableFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, env(nil)); err == nil { // a directory where the file should be
		t.Fatal("a directory was accepted as the settings file")
	}
}

// TestREADMETable keeps the README's settings table and this package's
// list the same: every key with its variable and default, in order.
func TestREADMETable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Settings\n")
	if !ok {
		t.Fatal("README has no ## Settings section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var rows [][]string
	for _, line := range strings.Split(sec, "\n") {
		if strings.HasPrefix(line, "| `") {
			cells := strings.Split(line, "|")
			rows = append(rows, []string{strings.Trim(strings.TrimSpace(cells[1]), "`"), strings.Trim(strings.TrimSpace(cells[2]), "`"), strings.Trim(strings.TrimSpace(cells[3]), "`")})
		}
	}
	if len(rows) != len(defs) {
		t.Fatalf("README lists %d settings, the code %d", len(rows), len(defs))
	}
	for i, d := range defs {
		def := d.value
		if def == "" {
			def = rows[i][2] // "none", "the OS opener": prose
		}
		if rows[i][0] != d.key || rows[i][1] != d.env || rows[i][2] != def {
			t.Errorf("README row %d is %v, the code says %s / %s / %q", i+1, rows[i], d.key, d.env, d.value)
		}
	}
}

// TestProxySetting: the proxy setting is off (connect directly) unless the
// file or MCPAUTH_PROXY says environment.
func TestProxySetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), FileName)
	s, err := Load(file, func(string) string { return "" })
	if err != nil || s.Proxy() != nil || s.Get("proxy") != "off" {
		t.Fatalf("default: %v, %q", err, s.Get("proxy"))
	}
	if err := os.WriteFile(file, []byte("proxy = \"environment\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Load(file, func(string) string { return "" })
	if err != nil || s.Proxy() == nil {
		t.Fatalf("file: %v", err)
	}
	s, err = Load(file, func(k string) string { return map[string]string{"MCPAUTH_PROXY": "off"}[k] })
	if err != nil || s.Proxy() != nil {
		t.Fatalf("env over file: %v", err)
	}
}
