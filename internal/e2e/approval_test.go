package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
// and prints the status and the error code; "challenge" reports a 401
// for the URL the same way; "run" runs its arguments (the app starting
// `mcpauthd token …`) and prints "exit CODE"; "proxy" starts `mcpauthd
// proxy URL` (its arguments: the binary), sends initialize and prints the
// answer line. "run" and "proxy" do it again, in the same process, for
// each line on their stdin (startApp's again).
func approvalHelper(mode string) (int, bool) {
	url := os.Getenv(approvalURL)
	stdin := bufio.NewScanner(os.Stdin)
	switch mode {
	case "token", "challenge":
		hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", os.Getenv(helperSocks))
		}}}
		body := fmt.Sprintf(`{"url":%q}`, url)
		if mode == "challenge" {
			body = fmt.Sprintf(`{"url":%q,"status":401,"www_authenticate":["Bearer"]}`, url)
		}
		req, _ := http.NewRequest("POST", "http://mcpauthd/v1/"+mode, strings.NewReader(body))
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
		for {
			cmd := exec.Command(os.Args[1], os.Args[2:]...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			code := 0
			if err := cmd.Run(); err != nil {
				code = 1
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				}
			}
			fmt.Printf("exit %d\n", code)
			if !stdin.Scan() {
				return code, true
			}
		}
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
		in, answers, stop, err := startProxyChild(url)
		if err != nil {
			fmt.Println(err)
			return 1, true
		}
		defer stop()
		for id := 1; ; id++ {
			fmt.Fprintf(in, `{"jsonrpc":"2.0","id":%d,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcpauthd","version":"1"}}}`+"\n", id)
			line, _ := answers.ReadString('\n')
			fmt.Print(line)
			if !stdin.Scan() {
				return 0, true
			}
		}
	case "toolslist":
		// An app that lists the server's tools through mcpauthd proxy and
		// prints each answer after "LIST ", again for each line on stdin.
		in, answers, stop, err := startProxyChild(url)
		if err != nil {
			fmt.Println(err)
			return 1, true
		}
		defer stop()
		fmt.Fprintln(in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"app","version":"1"}}}`)
		_, _ = answers.ReadString('\n')
		fmt.Fprintln(in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		for id := 2; ; id++ {
			fmt.Fprintf(in, `{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`+"\n", id)
			for { // the answer, past notifications (tools/list_changed)
				line, err := answers.ReadString('\n')
				if err != nil {
					fmt.Println(err)
					return 1, true
				}
				if strings.Contains(line, fmt.Sprintf(`"id":%d`, id)) {
					fmt.Print("LIST " + line)
					break
				}
			}
			if !stdin.Scan() {
				return 0, true
			}
		}
	}
	return 0, false
}

// startProxyChild starts `mcpauthd proxy url` (mcpauthd is os.Args[1]) as
// the helper app's child; stop ends its stdin and waits for it.
func startProxyChild(url string) (in io.WriteCloser, answers *bufio.Reader, stop func(), err error) {
	cmd := exec.Command(os.Args[1], "proxy", url)
	in, _ = cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	return in, bufio.NewReader(out), func() { in.Close(); _ = cmd.Wait() }, nil
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
	_, _, wait = startApp(t, in, bin, mode, url, args...)
	return wait
}

// startApp is runApp for an app that asks again in the same process (the
// "run" and "proxy" modes): again makes it repeat its request; out is its
// output so far. wait ends its stdin first.
func startApp(t *testing.T, in *instance, bin, mode, url string, args ...string) (out *lockedBuffer, again func(), wait func() (string, int)) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Args[0] = "mcpauthd" // argv[0] lies too
	cmd.Env = append(in.env, helperMode+"="+mode, helperSocks+"="+in.socket(), approvalURL+"="+url)
	out = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { w.Close(); _ = cmd.Process.Kill(); <-done })
	again = func() {
		if _, err := fmt.Fprintln(w); err != nil {
			t.Fatalf("%s %s: %v", filepath.Base(bin), mode, err)
		}
	}
	return out, again, func() (string, int) {
		t.Helper()
		w.Close()
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

// approveCmd finds the ID in a timeout error: "… run: mcpauthd approve ID".
var approveCmd = regexp.MustCompile(`run: mcpauthd approve (\w+)`)

// outputHas waits until the app's output has n lines holding s, and returns it.
func outputHas(t *testing.T, out *lockedBuffer, s string, n int) string {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got := out.String(); strings.Count(got, s) >= n {
			return got
		}
	}
	t.Fatalf("the app's output has no %d× %q: %s", n, s, out)
	return ""
}

// appInitialize sends initialize through the reverse proxy at keyURL.
func appInitialize(t *testing.T, keyURL string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, keyURL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestApprovalTimeout: with approval_timeout = 5s, a request nobody
// decides fails, through the real binary, with the error that names
// `mcpauthd approve ID`: `mcpauthd token` exits 1, `mcpauthd proxy`
// answers the app a JSON-RPC error, the reverse proxy a 403 with a JSON
// body; that ID is then approvable, and the app's next request (in the
// same process: "once" is for the running program) goes through. An
// app's challenge (a 401 for a new server, which would add it and open a
// sign-in) waits the same way, and once denied is refused at once with
// nothing added.
func TestApprovalTimeout(t *testing.T) {
	a := newFlakyAS(t)
	other := newFlakyAS(t)
	in := newInstance(t)
	in.withApps(t)
	a.signIn(t, in) // approval off: signs in and hands out as before
	keyURL, _ := in.addApp("cursor", a.url)
	in.restart()
	in.env = append(in.env, "MCPAUTH_APPROVAL=ask", "MCPAUTH_APPROVAL_TIMEOUT=5s")
	if out := in.must("status"); !regexp.MustCompile(`approval_timeout\s.*5s`).MatchString(out) {
		t.Fatalf("status does not show approval_timeout 5s:\n%s", out)
	}
	pending := approvalWatch(t, in)
	timedOut := func(name, url, id string) string {
		return "waiting for approval of " + name + " for " + url + " timed out; allow it in the mcpauthd tray or web page, or run: mcpauthd approve " + id
	}

	// mcpauthd token, started by an app nobody has allowed.
	term := app(t, "term-app")
	out, again, wait := startApp(t, in, term, "run", a.url, in.bin, "token", a.url)
	p := nextPending(t, pending)
	got := outputHas(t, out, "exit ", 1)
	if !strings.Contains(got, timedOut("term-app", a.url, p.ID)) || !strings.Contains(got, "exit 1") {
		t.Fatalf("mcpauthd token nobody approved: %s", got)
	}
	if m := approveCmd.FindStringSubmatch(got); m == nil || m[1] != p.ID {
		t.Fatalf("the error names %v, the pending request is %s", m, p.ID)
	}
	in.must("approve", p.ID)
	again()
	if got, code := wait(); code != 0 || !strings.HasSuffix(got, "exit 0\n") {
		t.Fatalf("mcpauthd token after mcpauthd approve: exit %d: %s", code, got)
	}

	// mcpauthd proxy: a JSON-RPC error to the app; its next call works.
	chat := app(t, "chat-app")
	out, again, wait = startApp(t, in, chat, "proxy", a.url, in.bin)
	p = nextPending(t, pending)
	// answers are the JSON-RPC lines among the proxy's log lines.
	answers := func(n int) []string {
		var l []string
		for _, line := range strings.Split(outputHas(t, out, `{"jsonrpc"`, n), "\n") {
			if strings.HasPrefix(line, `{"jsonrpc"`) {
				l = append(l, line)
			}
		}
		return l
	}
	var answer struct {
		ID    int
		Error *struct{ Message string }
	}
	if got := answers(1)[0]; json.Unmarshal([]byte(got), &answer) != nil || answer.ID != 1 || answer.Error == nil || !strings.Contains(answer.Error.Message, timedOut("chat-app", a.url, p.ID)) {
		t.Fatalf("mcpauthd proxy nobody approved answered: %s", got)
	}
	in.must("approve", p.ID)
	again()
	if got := answers(2)[1]; !strings.Contains(got, `"id":2,"result"`) {
		t.Fatalf("the app's next call after mcpauthd approve: %s", got)
	}
	wait()

	// The reverse proxy: 403 with the error in JSON; the next request works.
	status, body := appInitialize(t, keyURL)
	p = nextPending(t, pending)
	var refusal struct{ Error string }
	if status != http.StatusForbidden || json.Unmarshal([]byte(body), &refusal) != nil || !strings.Contains(refusal.Error, timedOut("cursor (app key)", a.url, p.ID)) {
		t.Fatalf("the reverse proxy answered an app nobody approved %d %s", status, body)
	}
	in.must("approve", p.ID)
	if status, body = appInitialize(t, keyURL); status != http.StatusOK || !strings.Contains(body, `"result"`) {
		t.Fatalf("the reverse proxy after mcpauthd approve: %d %s", status, body)
	}

	// A challenge: an unknown app's 401 for a new server waits and times
	// out; denied, it is refused at once; the server was never added.
	scan := app(t, "scan-app")
	if got, _ := runApp(t, in, scan, "challenge", other.url)(); strings.TrimSpace(got) != "403 approval_pending" {
		t.Fatalf("the challenge of an app nobody approved: %q", got)
	}
	p = nextPending(t, pending)
	if p.Exe != scan || p.Server != other.url {
		t.Fatalf("pending %+v, want scan-app's challenge for %s", p, other.url)
	}
	in.must("deny", p.ID)
	if got, _ := runApp(t, in, scan, "challenge", other.url)(); strings.TrimSpace(got) != "403 denied" {
		t.Fatalf("the challenge of a denied app: %q", got)
	}
	if list := in.must("list"); strings.Contains(list, other.url) {
		t.Fatalf("an unapproved app's challenge added %s:\n%s", other.url, list)
	}
}
