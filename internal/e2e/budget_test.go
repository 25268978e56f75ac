package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// Memory limits the hostile-server tests hold the real processes to: the
// peak resident set (VmHWM) of the daemon and of `mcpauthd proxy` while a
// hostile server does its worst. docs/benchmarks.md records the measured
// peaks.
const (
	maxDaemonHWM = 100 << 20
	maxProxyHWM  = 64 << 20
)

// hostileText is a server-chosen string that tries everything a terminal
// acts on: OSC 0 (window title), CSI erase-line + CR (rewrite the line),
// OSC 8 (hyperlink), colours, a bidi override, C1 CSI/OSC, DCS. Everything
// inside a sequence is "PWNED"; the printable rest is "Evil Name link
// esrever red c1 end".
const hostileText = "\x1b]0;PWNED\x07Evil\x1b[2K\rName \x1b]8;;https://PWNED.example/\x1b\\link\x1b]8;;\x1b\\ \u202eesrever\u202c \x1b[31mred\x1b[0m \u009b31mc1\u009dPWNED\u009c \x1bPPWNED\x1b\\end"

// checkTerminal fails when out, printed to a terminal, would do anything
// but show text.
func checkTerminal(t *testing.T, what, out string) {
	t.Helper()
	for _, bad := range []string{"\x1b", "\a", "\r", "\u009b", "\u009d", "\u009c", "\u202e", "\u202c", "PWNED"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s reaches the terminal with %q:\n%q", what, bad, out)
		}
	}
}

// Modes of hostileMCP.
const (
	hostileEndlessPages = "endless pages"      // tools/list pages forever, 100 tools each
	hostileHugeNames    = "huge names"         // tools with 150 KiB names, pages forever
	hostileHugePage     = "huge page"          // one tools/list answer of 3 MB (over budget.DescribeAnswer)
	hostileEscapes      = "escapes"            // hostileText in the server's name, title and tool names
	hostileSSE          = "never-ending event" // the standalone GET stream sends data: lines without the blank line
)

// hostileMCP is an MCP server (Streamable HTTP, JSON answers) that
// misbehaves as mode says. sent counts the bytes of server-sent events it
// wrote, gets the GET streams it opened.
type hostileMCP struct {
	mode string
	sent atomic.Int64
	gets atomic.Int32
}

func (h *hostileMCP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		return
	case http.MethodGet:
		if h.mode != hostileSSE {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		h.gets.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("data: "+strings.Repeat("x", 1000)+"\n", 32))
		for r.Context().Err() == nil && h.sent.Load() < 1<<30 {
			n, err := w.Write(chunk)
			h.sent.Add(int64(n))
			if err != nil {
				return
			}
		}
		return
	case http.MethodPost:
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Cursor string `json:"cursor"`
		} `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if len(msg.ID) == 0 { // a notification
		w.WriteHeader(http.StatusAccepted)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	var result any
	switch msg.Method {
	case "initialize":
		info := map[string]any{"name": "hostile", "version": "1"}
		if h.mode == hostileEscapes {
			info = map[string]any{"name": hostileText, "title": hostileText, "version": hostileText}
		}
		result = map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{"tools": map[string]any{}}, "serverInfo": info}
	case "tools/list":
		page, _ := strconv.Atoi(strings.TrimPrefix(msg.Params.Cursor, "p"))
		var tools []map[string]any
		add := func(name string) {
			tools = append(tools, map[string]any{"name": name, "inputSchema": map[string]any{"type": "object"}})
		}
		next := "p" + strconv.Itoa(page+1)
		switch h.mode {
		case hostileEndlessPages:
			for i := range 100 {
				add(fmt.Sprintf("tool-%d-%d", page, i))
			}
		case hostileHugeNames:
			for i := range 10 {
				add(fmt.Sprintf("%d-%d-%s", page, i, strings.Repeat("n", 150<<10)))
			}
		case hostileHugePage:
			for i := range 30 {
				add(fmt.Sprintf("%d-%s", i, strings.Repeat("h", 100<<10)))
			}
			next = ""
		case hostileEscapes:
			add(hostileText)
			add("fine_tool")
			next = ""
		default:
			add("ping")
			next = ""
		}
		res := map[string]any{"tools": tools}
		if next != "" {
			res["nextCursor"] = next
		}
		result = res
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": msg.ID, "error": map[string]any{"code": -32601, "message": "no such method"}})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": msg.ID, "result": result})
}

// serveHostile makes a's MCP server h.
func (a *flakyAS) serveHostile(h *hostileMCP) {
	var hh http.Handler = h
	a.mcp.Store(&hh)
}

// vmHWM is the peak resident set of process pid, from /proc.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the process's status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

func (in *instance) registrySize(t *testing.T) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(in.dir, "data", "mcpauthd", "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestHostileToolLists: through the real binary, sign in to servers whose
// tool lists never end, have huge names, or come in one answer over
// budget.DescribeAnswer. The sign-in succeeds and a well-behaved server
// beside it is not affected; the daemon keeps a bounded summary (at most
// budget.ToolsKept names of at most budget.ToolName bytes, the count, "more
// than"), stays under maxDaemonHWM, the registry file under budget.Record,
// and `mcpauthd list` works; an app's tools/list through the proxy keeps
// it under maxProxyHWM.
func TestHostileToolLists(t *testing.T) {
	for _, mode := range []string{hostileEndlessPages, hostileHugeNames, hostileHugePage} {
		t.Run(mode, func(t *testing.T) {
			a := newFlakyAS(t)
			a.serveHostile(&hostileMCP{mode: mode})
			in := newInstance(t)
			good := newFlakyAS(t) // a well-behaved server beside it
			good.signIn(t, in)
			start := time.Now()
			out := login(t, in, a.url)
			took := time.Since(start)
			info := in.serverInfo(a.url)
			pid := daemonPID(t, in)
			hwm := vmHWM(t, pid)
			size := in.registrySize(t)
			t.Logf("%s: daemon VmHWM %.1f MB, registry %d KiB, %d tools kept, count %d, more %v, login took %v",
				mode, float64(hwm)/(1<<20), size>>10, len(info.Tools), info.ToolCount, info.ToolsMore, took.Round(time.Millisecond))
			if hwm > maxDaemonHWM {
				t.Errorf("daemon VmHWM %d bytes, over %d", hwm, maxDaemonHWM)
			}
			if size > budget.Record {
				t.Errorf("registry file %d bytes, over %d", size, budget.Record)
			}
			if len(info.Tools) > budget.ToolsKept {
				t.Errorf("%d tool names kept", len(info.Tools))
			}
			for _, n := range info.Tools {
				if len(n) > budget.ToolName {
					t.Errorf("a tool name of %d bytes kept", len(n))
				}
			}
			switch mode {
			case hostileEndlessPages:
				if !info.ToolsMore || len(info.Tools) != budget.ToolsKept || info.ToolCount != budget.ToolPages*100 || info.Tools[0] != "tool-0-0" {
					t.Errorf("summary: %d names from %q, count %d, more %v", len(info.Tools), info.Tools[0], info.ToolCount, info.ToolsMore)
				}
				if !strings.Contains(out, fmt.Sprintf("more than %d", budget.ToolPages*100)) {
					t.Errorf("login does not say there are more tools:\n%s", out)
				}
			case hostileHugeNames:
				if !info.ToolsMore || len(info.Tools) == 0 || !strings.HasSuffix(info.Tools[0], "…") {
					t.Errorf("summary: %d names, more %v", len(info.Tools), info.ToolsMore)
				}
			case hostileHugePage:
				if len(info.Tools) != 0 {
					t.Errorf("tools kept from an answer over budget: %d", len(info.Tools))
				}
				b, _ := os.ReadFile(filepath.Join(in.dir, "state", "mcpauthd", "mcpauthd.log"))
				if !strings.Contains(string(b), budget.Size(budget.DescribeAnswer)) {
					t.Errorf("the daemon's log does not name the limit %s", budget.Size(budget.DescribeAnswer))
				}
			}
			if len(out) > 4096 {
				t.Errorf("login printed %d bytes", len(out))
			}
			list := in.must("list")
			if !strings.Contains(list, a.url) || len(list) > 4096 {
				t.Errorf("list:\n%s", list)
			}
			// An app reads the first page through the proxy, which relays it
			// whole (it is under budget.MCPAnswer).
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var logs atomic.Int32
			cs, cmd, _ := in.startProxy(t, ctx, &logs, nil, a.url)
			if _, err := cs.ListTools(ctx, nil); err != nil {
				t.Errorf("tools/list through the proxy: %v", err)
			}
			proxyHWM := vmHWM(t, cmd.Process.Pid)
			_ = cs.Close()
			t.Logf("%s: proxy VmHWM %.1f MB", mode, float64(proxyHWM)/(1<<20))
			if proxyHWM > maxProxyHWM {
				t.Errorf("proxy VmHWM %d bytes, over %d", proxyHWM, maxProxyHWM)
			}
			in.must("logout", "--remove", a.url)
			// Nothing else was affected: the other server still serves.
			if tok := strings.TrimSpace(in.must("token", good.url)); good.mcpStatus(t, tok) != 200 {
				t.Error("the well-behaved server's token no longer works")
			}
		})
	}
}

// TestHostileEscapes: escape sequences in every field a server controls
// that the CLI shows — resource_name, serverInfo name and title, tool
// names, an error_description — through the real binary's `login`, `list`
// and error output: nothing inside a sequence, and no escape or control
// character, reaches the terminal; the printable text does.
func TestHostileEscapes(t *testing.T) {
	a := newFlakyAS(t)
	a.resName.Store(hostileText)
	a.serveHostile(&hostileMCP{mode: hostileEscapes})
	in := newInstance(t)
	out, errs, code := in.run("login", a.url)
	if code != 0 {
		t.Fatalf("login: exit %d\n%s%s", code, out, errs)
	}
	checkTerminal(t, "login", out+errs)
	if !strings.Contains(out, "Evil Name link") || !strings.Contains(out, "fine_tool") {
		t.Errorf("login lost the printable name or tools:\n%q", out)
	}
	list := in.must("list")
	checkTerminal(t, "list", list)
	if !strings.Contains(list, "Evil Name link") {
		t.Errorf("list lost the printable name:\n%q", list)
	}

	// The authorization server refuses the next sign-in with a hostile
	// error_description: the CLI's error and `list`'s state quote it.
	in.must("logout", "--remove", a.url)
	a.tokenMode.Store(modeEscapes)
	out, errs, code = in.run("login", a.url)
	if code == 0 {
		t.Fatalf("login succeeded though the token endpoint refused:\n%s", out)
	}
	checkTerminal(t, "login's error", out+errs)
	if !strings.Contains(errs, "invalid_grant") || !strings.Contains(errs, "Evil") {
		t.Errorf("the error does not quote the description:\n%q", errs)
	}
	list = in.must("list")
	checkTerminal(t, "list after the refusal", list)
	t.Logf("escapes: daemon VmHWM %.1f MB", float64(vmHWM(t, daemonPID(t, in)))/(1<<20))
}

// TestHostileSSEProxy: the standalone GET stream sends data: lines that
// never end an event. `mcpauthd proxy` drops the stream once an event
// passes budget.SSEEvent (and, after a few tries, gives up on it), stays
// under maxProxyHWM, and keeps relaying the app's requests. The daemon's
// describe step, whose SDK client opens the same stream, stays under
// maxDaemonHWM.
func TestHostileSSEProxy(t *testing.T) {
	a := newFlakyAS(t)
	h := &hostileMCP{mode: hostileSSE}
	a.serveHostile(h)
	in := newInstance(t)
	login(t, in, a.url)
	daemonHWM := vmHWM(t, daemonPID(t, in))
	sentByDescribe := h.sent.Load()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs atomic.Int32
	cs, cmd, stderr := in.startProxy(t, ctx, &logs, nil, a.url)
	// Wait for the proxy to have been sent several events' worth over
	// several streams.
	deadline := time.Now().Add(90 * time.Second)
	for h.sent.Load()-sentByDescribe < 4*budget.SSEEvent || h.gets.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy read only %d bytes over %d streams", h.sent.Load()-sentByDescribe, h.gets.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := cs.ListTools(ctx, nil)
	if err != nil || len(res.Tools) != 1 {
		t.Fatalf("the proxy no longer relays: %v", err)
	}
	proxyHWM := vmHWM(t, cmd.Process.Pid)
	if err := cs.Close(); err != nil { // waits for the proxy to exit
		t.Logf("closing: %v", err)
	}
	t.Logf("never-ending event: daemon VmHWM %.1f MB (describe was sent %d MB), proxy VmHWM %.1f MB (sent %d MB over %d streams)",
		float64(daemonHWM)/(1<<20), sentByDescribe>>20, float64(proxyHWM)/(1<<20), (h.sent.Load()-sentByDescribe)>>20, h.gets.Load())
	if daemonHWM > maxDaemonHWM {
		t.Errorf("daemon VmHWM %d bytes, over %d", daemonHWM, maxDaemonHWM)
	}
	if proxyHWM > maxProxyHWM {
		t.Errorf("proxy VmHWM %d bytes, over %d", proxyHWM, maxProxyHWM)
	}
	if !strings.Contains(stderr.String(), budget.Size(budget.SSEEvent)) {
		t.Errorf("the proxy's log does not name the limit %s:\n%s", budget.Size(budget.SSEEvent), stderr.String())
	}
}
