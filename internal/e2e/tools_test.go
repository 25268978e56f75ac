package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/toolpolicy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestProxyToolPolicy: `mcpauthd tools URL --deny` stores the policy with
// the server; `mcpauthd proxy URL --ignore-tool` (mcp-remote's flag and
// wildcards) adds to it; the app (the Go SDK client) then sees neither
// kind of tool in tools/list of the TypeScript server, its call of one is
// answered with the policy's error, and the daemon's audit log records the
// refusal with the proxy's process.
func TestProxyToolPolicy(t *testing.T) {
	target := tsServer(t)
	in := newInstance(t)
	in.must("login", target)
	if out := in.must("tools", target, "--deny", "multi*"); !strings.Contains(out, "deny multi*") {
		t.Fatalf("tools --deny: %s", out)
	}
	if _, stderr, code := in.run("tools", target, "--deny", ""); code != 2 || !strings.Contains(stderr, "empty tool pattern") {
		t.Fatalf("tools --deny '': exit %d, %s", code, stderr)
	}
	if _, stderr, code := in.run("tools", "https://unknown.example/mcp", "--deny", "x"); code == 0 || !strings.Contains(stderr, "mcpauthd login https://unknown.example/mcp") {
		t.Fatalf("tools for an unknown server: exit %d, %s", code, stderr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs atomic.Int32
	cs, cmd, _ := in.startProxy(t, ctx, &logs, nil, target, "--ignore-tool", "START-*")
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tl := range tools.Tools {
		names[tl.Name] = true
	}
	if !names["greet"] || names["multi-greet"] || names["start-notification-stream"] {
		t.Fatalf("tools/list through the policy: %v; want greet, without multi-greet and start-notification-stream", names)
	}
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "multi-greet", Arguments: map[string]any{"name": "x"}})
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != toolpolicy.CodeRefused || !strings.Contains(werr.Message, "mcpauthd tools "+target) {
		t.Fatalf("tools/call multi-greet: %v; want the policy's error", err)
	}
	if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "e2e"}}); err != nil || res.IsError {
		t.Fatalf("greet: %+v %v", res, err)
	}
	// A change of the stored policy reaches the running proxy.
	in.must("tools", target, "--deny", "greet")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "e2e"}})
		if errors.As(err, &werr) && werr.Code == toolpolicy.CodeRefused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("greet after mcpauthd tools --deny greet: %v; want the policy's error", err)
		}
	}
	pid := cmd.Process.Pid
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	wantRefusalAudited(t, in, target, "multi-greet", pid)
}

// TestSettingsDenyTools: the settings file's deny_tools applies to every
// server without `mcpauthd tools`: the proxy hides and refuses the tools
// it names (and the stored policy stays empty), the audit log records the
// refusal.
func TestSettingsDenyTools(t *testing.T) {
	target := tsServer(t)
	in := newInstance(t)
	cfg := filepath.Join(in.dir, "config", "mcpauthd", "config.toml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("deny_tools = \"MULTI*, nothing-else\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in.must("login", target)
	if out := in.must("tools", target); !strings.Contains(out, "all tools allowed") || !strings.Contains(out, "(the deny_tools setting): deny MULTI*, nothing-else") {
		t.Errorf("mcpauthd tools: %s; want no stored policy (the setting is not stored with the server) and the setting's patterns", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var logs atomic.Int32
	cs, cmd, _ := in.startProxy(t, ctx, &logs, nil, target)
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if !slices.Contains(names, "greet") || slices.Contains(names, "multi-greet") {
		t.Fatalf("tools/list under deny_tools: %v; want greet without multi-greet", names)
	}
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "multi-greet", Arguments: map[string]any{"name": "x"}})
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != toolpolicy.CodeRefused {
		t.Fatalf("tools/call multi-greet: %v; want the policy's error", err)
	}
	pid := cmd.Process.Pid
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	wantRefusalAudited(t, in, target, "multi-greet", pid)
}

// wantRefusalAudited stops in's daemon and finds the audit record of the
// proxy pid's refused call of tool on target.
func wantRefusalAudited(t *testing.T, in *instance, target, tool string, pid int) {
	t.Helper()
	// The audit log: read with the daemon stopped (it flushes first).
	recs := in.stoppedAudit(target)
	for _, r := range recs {
		if r.Action == "tool_refused" && r.Tool == tool && r.PID == pid {
			return
		}
	}
	t.Fatalf("no audit record of the refused call by the proxy (pid %d): %+v", pid, recs)
}

// TestAppToolPolicy: `mcpauthd tools URL --app PROGRAM` sets one app's own
// policy on top of the server's: the app (identified by the daemon as it
// identifies apps for approvals: the program that started mcpauthd proxy)
// no longer sees the tool through its proxy, another app still does; the
// policy shows in `mcpauthd tools URL`, and --clear drops it.
func TestAppToolPolicy(t *testing.T) {
	target := tsServer(t)
	in := newInstance(t)
	in.withApps(t)
	in.must("login", target)
	chat, editor := app(t, "chat-app"), app(t, "editor")
	if out := in.must("tools", target, "--app", chat, "--deny", "greet"); !strings.Contains(out, "and for "+chat+": deny greet") {
		t.Fatalf("tools --app: %s", out)
	}
	if _, stderr, code := in.run("tools", target, "--app", "no-such-key", "--deny", "x"); code == 0 || !strings.Contains(stderr, "no app key") {
		t.Fatalf("tools --app for an unknown app key: exit %d, %s", code, stderr)
	}
	listed := func(bin string) []string {
		t.Helper()
		out, code := runApp(t, in, bin, "toolslist", target, in.bin)()
		names, ok := lastListed(out)
		if code != 0 || !ok {
			t.Fatalf("%s's tools/list: exit %d, %s", bin, code, out)
		}
		return names
	}
	if names := listed(chat); slices.Contains(names, "greet") || !slices.Contains(names, "multi-greet") {
		t.Errorf("chat-app's tools under its own policy: %v; want multi-greet, not greet", names)
	}
	if names := listed(editor); !slices.Contains(names, "greet") {
		t.Errorf("another app's tools: %v; want greet (chat-app's policy is chat-app's)", names)
	}
	// An app of the reverse proxy, by its key's name.
	cursorURL, _ := in.addApp("cursor", target)
	otherURL, _ := in.addApp("other", target)
	if out := in.must("tools", target, "--app", "cursor", "--allow", "multi*"); !strings.Contains(out, "and for cursor (app key): allow multi*") {
		t.Fatalf("tools --app cursor: %s", out)
	}
	if names := listToolsVia(t, cursorURL, http.DefaultClient); !slices.Equal(names, []string{"multi-greet"}) {
		t.Errorf("the app key cursor's tools through the reverse proxy: %v; want only multi-greet", names)
	}
	if names := listToolsVia(t, otherURL, http.DefaultClient); !slices.Contains(names, "greet") {
		t.Errorf("another app key's tools: %v; want greet", names)
	}
	// Changes of the app's policy reach its running proxy: the second
	// comes after the proxy surely follows the server's events (the first
	// may reach it with the event stream's snapshot).
	out, again, wait := startApp(t, in, chat, "toolslist", target, in.bin)
	defer wait()
	until := func(what string, done func([]string) bool) {
		t.Helper()
		var names []string
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			n := strings.Count(out.String(), "LIST ")
			again()
			for end := time.Now().Add(10 * time.Second); strings.Count(out.String(), "LIST ") == n && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			}
			names, _ = lastListed(out.String())
			if done(names) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("chat-app's running proxy %s: lists %v", what, names)
			}
		}
	}
	in.must("tools", target, "--app", chat, "--deny", "multi*")
	until("after --deny multi*", func(n []string) bool {
		return !slices.Contains(n, "multi-greet") && !slices.Contains(n, "greet") && len(n) > 0
	})
	in.must("tools", target, "--app", chat, "--clear", "--deny", "multi*")
	until("after --clear --deny multi*", func(n []string) bool {
		return slices.Contains(n, "greet") && !slices.Contains(n, "multi-greet")
	})

	if out := in.must("tools", target, "--app", chat, "--clear"); strings.Contains(out, "and for "+chat) {
		t.Fatalf("tools --app --clear: %s", out)
	}
	if names := listed(chat); !slices.Contains(names, "greet") {
		t.Errorf("chat-app's tools, its policy dropped: %v", names)
	}
}

// lastListed is the tool names of the toolslist helper's last answer.
func lastListed(out string) ([]string, bool) {
	i := strings.LastIndex(out, "LIST ")
	if i < 0 {
		return nil, false
	}
	line, _, _ := strings.Cut(out[i+len("LIST "):], "\n")
	var res struct {
		Result struct {
			Tools []struct{ Name string }
		}
	}
	if json.Unmarshal([]byte(line), &res) != nil {
		return nil, false
	}
	var names []string
	for _, tl := range res.Result.Tools {
		names = append(names, tl.Name)
	}
	return names, true
}
