package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// writeSettings writes the instance's settings file.
func (in *instance) writeSettings(body string) string {
	in.t.Helper()
	f := filepath.Join(in.dir, "config", "mcpauthd", "config.toml")
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		in.t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		in.t.Fatal(err)
	}
	return f
}

// withoutEnv returns env less the variables named.
func withoutEnv(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func (in *instance) status() *ipc.Status {
	in.t.Helper()
	st, err := ipc.NewClient(in.socket()).Status(context.Background())
	if err != nil {
		in.t.Fatal(err)
	}
	return st
}

// TestSettingsFileReachesDaemon: a daemon started on demand by a CLI
// command takes its settings from the file (the browser command included:
// the sign-in below opens the test's browser named only in the file), the
// environment overrides the file, `status` says where each value came from,
// and `restart` re-reads a changed file in place (same pid).
func TestSettingsFileReachesDaemon(t *testing.T) {
	url := tsServer(t)
	in := newInstance(t)
	self, _ := os.Executable()
	in.env = withoutEnv(in.env, "BROWSER", "MCPAUTH_LOG_LEVEL")
	apps1, apps2 := freePort(t), freePort(t)
	file := in.writeSettings(fmt.Sprintf("# mcpauthd settings\napps_addr = \"127.0.0.1:%d\"\nlog_level = \"warn\"\nbrowser = %q\ncallback_addr = \"127.0.0.1:1\"\n", apps1, self))

	if out := in.must("login", url); !strings.Contains(out, "Signed in to") {
		t.Fatalf("login with the browser from the settings file: %s", out)
	}
	out := in.must("status")
	for _, want := range []string{
		"Settings (file " + file + ")",
		fmt.Sprintf("http://127.0.0.1:%d", apps1),
		"log_level            warn",
		"browser              " + self + "  file",
		"env MCPAUTH_CALLBACK_ADDR", // the environment wins over the file's port 1
		"secret_backend       keyring",
		"secrets:   keyring: working",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	before := in.status()

	in.writeSettings(fmt.Sprintf("apps_addr = \"127.0.0.1:%d\"\nbrowser = %q\n", apps2, self))
	out = in.must("restart")
	if !strings.Contains(out, "Restarted mcpauthd") {
		t.Fatalf("restart: %s", out)
	}
	after := in.status()
	if after.PID != before.PID || !after.Started.After(before.Started) {
		t.Errorf("restart: pid %d → %d, started %v → %v; want the same pid, started anew", before.PID, after.PID, before.Started, after.Started)
	}
	if after.AppsURL != fmt.Sprintf("http://127.0.0.1:%d", apps2) {
		t.Errorf("after restart the apps address is %q, want the file's new port %d", after.AppsURL, apps2)
	}
	if tok := strings.TrimSpace(in.must("token", url)); tok == "" {
		t.Error("no token after the restart")
	}
}

// TestSettingsBadFile: a broken settings file is reported by the command
// the user ran, at once, naming file, line and key; no daemon is started;
// and `restart` refuses to replace a running daemon with one that would not
// start.
func TestSettingsBadFile(t *testing.T) {
	in := newInstance(t)
	file := in.writeSettings("log_level = \"info\"\n\napps_adr = \"127.0.0.1:9\"\n")
	start := time.Now()
	_, errs, code := in.run("list")
	if code == 0 {
		t.Fatal("list started with a broken settings file")
	}
	for _, want := range []string{file, "line 3", `"apps_adr"`, "unknown setting", "apps_addr"} {
		if !strings.Contains(errs, want) {
			t.Errorf("error %q lacks %q", errs, want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the error took %s: it should not wait for a daemon", d)
	}
	if _, err := os.Stat(in.socket()); err == nil {
		t.Error("a daemon was started with a broken settings file")
	}

	in.writeSettings("")
	before := in.status0()
	in.writeSettings("secret_backend = \"vault\"\n")
	_, errs, code = in.run("restart")
	if code == 0 || !strings.Contains(errs, "keyring, file") || !strings.Contains(errs, "not restarted") {
		t.Fatalf("restart with a bad file: exit %d, %q", code, errs)
	}
	if now := in.status(); now.PID != before.PID || !now.Started.Equal(before.Started) {
		t.Error("restart with a bad settings file replaced the running daemon")
	}
}

// status0 starts a daemon with a command and returns its status.
func (in *instance) status0() *ipc.Status {
	in.must("status")
	return in.status()
}

// TestStopCommand: stop ends the daemon and waits for it; a second stop
// says nothing runs and succeeds.
func TestStopCommand(t *testing.T) {
	in := newInstance(t)
	st := in.status0()
	out := in.must("stop")
	if !strings.Contains(out, fmt.Sprintf("Stopped mcpauthd (pid %d)", st.PID)) {
		t.Fatalf("stop: %s", out)
	}
	if _, err := ipc.NewClient(in.socket()).Status(context.Background()); !ipc.IsNotRunning(err) {
		t.Fatalf("after stop the socket still answers: %v", err)
	}
	if out := in.must("stop"); !strings.Contains(out, "not running") {
		t.Fatalf("second stop: %s", out)
	}
}
