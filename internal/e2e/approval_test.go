package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// Helper modes of this test binary, run as an "app" (a copy of it under
// another name). The URL to ask for is in approvalURL.
const approvalURL = "MCPAUTHD_E2E_URL"

// approvalHelper runs the helper modes of the approval tests: "token"
// asks the socket for a token with a raw request that lies about who it
// is (User-Agent and made-up headers naming mcpauthd and a trusted app)
// and prints the status and the error code; "run" runs its arguments
// (the app starting `mcpauthd token …`); "proxy" starts `mcpauthd proxy
// URL` (its arguments: the binary), sends initialize and prints the
// answer line.
func approvalHelper(mode string) (int, bool) {
	url := os.Getenv(approvalURL)
	switch mode {
	case "token":
		hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", os.Getenv(helperSocks))
		}}}
		req, _ := http.NewRequest("POST", "http://mcpauthd/v1/token", strings.NewReader(fmt.Sprintf(`{"url":%q}`, url)))
		req.Header.Set("User-Agent", "mcpauthd/1.0 (tray)")
		req.Header.Set("X-Mcpauthd-App", "Trusted Editor")
		res, err := hc.Do(req)
		if err != nil {
			fmt.Println(err)
			return 1, true
		}
		var e ipc.Error
		b, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(b, &e)
		fmt.Printf("%d %s\n", res.StatusCode, e.Code)
		return 0, true
	case "run":
		cmd := exec.Command(os.Args[1], os.Args[2:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode(), true
			}
			return 1, true
		}
		return 0, true
	case "selfapprove":
		// Ask (mcpauthd token), then do what the error advises, from this
		// same process through a shell: mcpauthd approve ID.
		tok := exec.Command(os.Args[1], "token", url)
		if err := tok.Start(); err != nil {
			fmt.Println(err)
			return 1, true
		}
		defer func() { _ = tok.Process.Kill(); _ = tok.Wait() }()
		self, _ := os.Executable()
		id := ""
		for deadline := time.Now().Add(20 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			list, _ := exec.Command(os.Args[1], "approve").Output()
			for _, line := range strings.Split(string(list), "\n") {
				if f := strings.Fields(line); len(f) > 0 && strings.HasSuffix(line, self) {
					id = f[0]
				}
			}
		}
		out, err := exec.Command("sh", "-c", `"$0" approve "$1"`, os.Args[1], id).CombinedOutput()
		fmt.Printf("%s%v\n", out, err)
		return 0, true
	case "proxy":
		cmd := exec.Command(os.Args[1], "proxy", url)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Println(err)
			return 1, true
		}
		defer func() { in.Close(); _ = cmd.Wait() }()
		fmt.Fprintln(in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcpauthd","version":"1"}}}`)
		line, _ := bufio.NewReader(out).ReadString('\n')
		fmt.Print(line)
		return 0, true
	}
	return 0, false
}

// approvalWatch collects the pending requests the event stream announces,
// as the tray and the web page see them.
func approvalWatch(t *testing.T, in *instance) <-chan ipc.PendingApproval {
	ch := make(chan ipc.PendingApproval, 16)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ready := make(chan struct{})
	go func() {
		_ = ipc.NewClient(in.socket()).Events(ctx, func(ev ipc.Event) error {
			if ev.Type == ipc.EventHello {
				close(ready)
			}
			if ev.Type == ipc.EventApproval && ev.Approval.Decision == "" {
				ch <- *ev.Approval
			}
			return nil
		})
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("no event stream")
	}
	return ch
}

func nextPending(t *testing.T, ch <-chan ipc.PendingApproval) ipc.PendingApproval {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(20 * time.Second):
		t.Fatal("no request waits for approval")
	}
	return ipc.PendingApproval{}
}

// app copies this test binary to a fresh directory as name: a program
// the daemon has never seen.
func app(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, name)
	if err := os.Rename(copySelf(t, dir), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// runApp starts the app in helper mode; wait returns its output and exit code.
func runApp(t *testing.T, in *instance, bin, mode, url string, args ...string) (wait func() (string, int)) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Args[0] = "mcpauthd" // argv[0] lies too
	cmd.Env = append(in.env, helperMode+"="+mode, helperSocks+"="+in.socket(), approvalURL+"="+url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return func() (string, int) {
		t.Helper()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("%s %s did not finish: %s", filepath.Base(bin), mode, out.String())
		}
		return out.String(), cmd.ProcessState.ExitCode()
	}
}

func decide(t *testing.T, in *instance, id, decision string) {
	t.Helper()
	// Exactly what the tray sends.
	if err := ipc.NewClient(in.socket()).Decide(context.Background(), &ipc.DecideRequest{ID: id, Decision: decision}); err != nil {
		t.Fatal(err)
	}
}

// TestApprovalAsk: with approval = ask, through the real binary and socket.
// A new program's request waits and an approval over the socket releases
// it; the program is named by the daemon's own lookup, whatever it says
// about itself; `mcpauthd proxy` and `mcpauthd token` started by an app
// are that app's requests; deny is refused with the documented error by
// the socket, the CLI and the proxy; "always" survives a restart;
// revocation asks again at the next request.
func TestApprovalAsk(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	in.withApps(t)
	a.signIn(t, in) // approval off: signs in and hands out as before
	in.restart()
	in.env = append(in.env, "MCPAUTH_APPROVAL=ask")
	in.must("status") // the daemon, now asking
	pending := approvalWatch(t, in)
	editor := app(t, "editor-app")

	// A request from a new binary waits; once approves it alone.
	wait := runApp(t, in, editor, "token", a.url)
	p := nextPending(t, pending)
	if p.Exe != editor || p.Name != "editor-app" || p.Server != a.url || p.App != "exe:"+editor {
		t.Fatalf("pending %+v: want the app %s, found by the daemon whatever it claims", p, editor)
	}
	if out := in.must("approve"); !strings.Contains(out, p.ID) || !strings.Contains(out, "editor-app") {
		t.Errorf("mcpauthd approve does not list %s:\n%s", p.ID, out)
	}
	decide(t, in, p.ID, ipc.DecisionOnce)
	if out, _ := wait(); strings.TrimSpace(out) != "200" {
		t.Fatalf("the approved request: %q", out)
	}

	// The next request asks again: deny it; refused from then on, by
	// the socket, the CLI and the proxy started by that app.
	wait = runApp(t, in, editor, "token", a.url)
	p = nextPending(t, pending)
	if out, _, code := in.run("deny", p.ID); code != 0 {
		t.Fatalf("mcpauthd deny: %s", out)
	}
	if out, _ := wait(); strings.TrimSpace(out) != "403 denied" {
		t.Fatalf("the denied request: %q", out)
	}
	out, code := runApp(t, in, editor, "run", a.url, in.bin, "token", a.url)()
	if code != 1 || !strings.Contains(out, "you denied editor-app a token for "+a.url) || !strings.Contains(out, "mcpauthd apps revoke") {
		t.Fatalf("mcpauthd token of a denied app: exit %d: %s", code, out)
	}
	out, _ = runApp(t, in, editor, "proxy", a.url, in.bin)()
	if !strings.Contains(out, `"error"`) || !strings.Contains(out, "you denied editor-app") {
		t.Fatalf("mcpauthd proxy of a denied app answered: %s", out)
	}

	// Revoked: the next request asks again; "always" lets it through,
	// also after a restart, with no question asked.
	in.must("apps", "revoke", "editor-app", a.url)
	wait = runApp(t, in, editor, "token", a.url)
	p = nextPending(t, pending)
	decide(t, in, p.ID, ipc.DecisionAlways)
	if out, _ := wait(); strings.TrimSpace(out) != "200" {
		t.Fatalf("the request approved always: %q", out)
	}
	in.restart()
	in.must("status")
	pending = approvalWatch(t, in)
	if out, _ := runApp(t, in, editor, "token", a.url)(); strings.TrimSpace(out) != "200" {
		t.Fatalf("after a restart, the app allowed always: %q", out)
	}

	// An app of the reverse proxy is its key's name; denied, it gets a
	// 403 with a JSON body that says so.
	keyURL, _ := in.addApp("cursor", a.url)
	type answer struct {
		status int
		body   string
	}
	got403 := make(chan answer, 1)
	go func() {
		res, err := http.Post(keyURL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		if err != nil {
			got403 <- answer{0, err.Error()}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got403 <- answer{res.StatusCode, string(b)}
	}()
	p = nextPending(t, pending)
	if p.App != "key:cursor" || p.Name != "cursor (app key)" {
		t.Fatalf("the reverse proxy's request is attributed to %+v, want the key cursor", p)
	}
	decide(t, in, p.ID, ipc.DecisionDeny)
	select {
	case ans := <-got403:
		var body struct{ Error string }
		if ans.status != http.StatusForbidden || json.Unmarshal([]byte(ans.body), &body) != nil || !strings.Contains(body.Error, "you denied cursor (app key)") {
			t.Fatalf("the reverse proxy answered a denied app %d %s", ans.status, ans.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the reverse proxy did not answer")
	}

	// mcpauthd proxy, started by another app: the request is that app's.
	chat := app(t, "chat-app")
	wait = runApp(t, in, chat, "proxy", a.url, in.bin)
	p = nextPending(t, pending)
	if p.Exe != chat || p.Name != "chat-app" {
		t.Fatalf("the proxy's request is attributed to %+v, want chat-app (%s), not mcpauthd", p, chat)
	}
	decide(t, in, p.ID, ipc.DecisionOnce)
	if out, _ := wait(); !strings.Contains(out, `"result"`) {
		t.Fatalf("the proxy after approval answered: %s", out)
	}

	// The apps list: both apps, with decisions, use and counts (the audit
	// log is written a fraction of a second after a hand-out).
	var apps ipc.ApprovalApps
	got := map[string]ipc.AppPolicy{}
	for deadline := time.Now().Add(10 * time.Second); got["chat-app"].Count == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		apps = ipc.ApprovalApps{} // Unmarshal would keep fields an answer omits
		if err := json.Unmarshal([]byte(in.must("apps", "--json")), &apps); err != nil {
			t.Fatal(err)
		}
		for _, ap := range apps.Apps {
			got[ap.Name] = ap
		}
	}
	if e := got["editor-app"]; apps.Mode != "ask" || e.Decision != ipc.DecisionAlways || e.Count < 3 || e.LastUsed.IsZero() || e.Server != a.url {
		t.Errorf("apps: %+v", apps)
	}
	if c := got["chat-app"]; c.Decision != "" || c.Count < 1 { // "once" ended when it exited
		t.Errorf("chat-app in the apps list: %+v", c)
	}
	// The app that asked cannot approve its own request by running
	// mcpauthd approve (an agent following the error's advice).
	out, _ = runApp(t, in, chat, "selfapprove", a.url, in.bin)()
	if !strings.Contains(out, "chat-app (pid ") || !strings.Contains(out, "cannot approve its own request") || !strings.Contains(out, "exit status 1") {
		t.Fatalf("an app approving its own request: %s", out)
	}
	p = nextPending(t, pending)
	if p.Exe != chat {
		t.Fatalf("pending %+v, want chat-app's", p)
	}
	if list := in.must("approve"); !strings.Contains(list, p.ID) {
		t.Fatalf("the self-approved request is not waiting any more:\n%s", list)
	}

	// Revoking the "always" makes the next request ask at once.
	in.must("apps", "revoke", "editor-app")
	wait = runApp(t, in, editor, "token", a.url)
	p = nextPending(t, pending)
	decide(t, in, p.ID, ipc.DecisionDeny)
	wait()
}
