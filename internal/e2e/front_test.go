package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestFrontTokenAndHandOver: mcpauthd, the front users type, answers token
// and headers with a running daemon by itself (a copy of it with no engine
// beside it or on PATH still does), and hands every other command, and
// token with no daemon running, to mcpauthd-engine beside it, which starts
// the daemon as itself. Without an engine, those say what is missing.
func TestFrontTokenAndHandOver(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	tok := a.signIn(t, in)

	alone := filepath.Join(t.TempDir(), "mcpauthd")
	b, err := os.ReadFile(in.bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(slices.DeleteFunc(slices.Clone(in.env), func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }), "PATH=/usr/bin:/bin")
	runAlone := func(args ...string) (string, string, int) { return runProgram(t, alone, env, args...) }
	if out, errs, code := runAlone("token", a.url); code != 0 || out != tok+"\n" || errs != "" {
		t.Fatalf("the front alone, token: exit %d, stdout %q, stderr %q; want the token", code, out, errs)
	}
	if out, errs, code := runAlone("headers", a.url); code != 0 || out != `{"Authorization":"Bearer `+tok+`"}`+"\n" {
		t.Fatalf("the front alone, headers: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	missing := func(what string, args ...string) {
		t.Helper()
		_, errs, code := runAlone(args...)
		if code != 1 || !strings.Contains(errs, "mcpauthd-engine is missing") || !strings.Contains(errs, filepath.Join(filepath.Dir(alone), "mcpauthd-engine")) ||
			!strings.Contains(errs, "go install github.com/mcpauthd/mcpauthd/cmd/...@latest") {
			t.Errorf("the front alone, %s: exit %d, stderr %q; want the engine missing, where looked and how to install", what, code, errs)
		}
	}
	missing("list", "list")
	missing("token --help", "token", "--help")

	// With no daemon the front hands token to the engine, which starts one:
	// the same token, from a daemon running as the engine.
	stop(t, in)
	missing("token without a daemon", "token", a.url)
	if got := in.must("token", a.url); got != tok+"\n" {
		t.Fatalf("token with the daemon stopped: %q, want the same token", got)
	}
	st, err := ipc.NewClient(in.socket()).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(st.PID) + "/exe"); err != nil || exe != engineOf(in.bin) {
		t.Errorf("the daemon started runs %q (%v), want the engine %s", exe, err, engineOf(in.bin))
	}
	var h map[string]string
	if err := json.Unmarshal([]byte(in.must("headers", a.url)), &h); err != nil || h["Authorization"] != "Bearer "+tok {
		t.Errorf("headers: %v %v", h, err)
	}
}
