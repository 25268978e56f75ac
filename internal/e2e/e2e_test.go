// Package e2e runs the real mcpauthd binary over its real socket against the
// official TypeScript SDK example server (with its OAuth authorization
// server), with the real keyring, all state in temp XDG directories.
//
// It needs tools/node_modules (scripts/install-test-deps.sh) and a Secret
// Service (scripts/keyring-session.sh). Under CI=true a missing piece fails
// the test; elsewhere it skips with the command to run.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// browserMode makes this test binary act as the user's browser (see
// actAsBrowser).
const browserMode = "MCPAUTHD_E2E_BROWSER"

// Settings of the browser stand-in, in its environment (all optional):
// a delay before it reads the page it is given, a file to which it appends
// the page's path and every URL it visits, and a file whose appearance it
// waits for before it follows a redirect to mcpauthd's /callback.
const (
	browserDelay = "MCPAUTHD_E2E_BROWSER_DELAY"
	browserLog   = "MCPAUTHD_E2E_BROWSER_LOG"
	browserHold  = "MCPAUTHD_E2E_BROWSER_HOLD"
	// browserRelay: only append the file:// URL to this file, for a real
	// browser driven by the test to open.
	browserRelay = "MCPAUTHD_E2E_BROWSER_RELAY"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperMode); mode != "" {
		os.Exit(runHelper(mode))
	}
	if os.Getenv(browserMode) == "1" {
		if err := actAsBrowser(os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "e2e browser:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(spyMode) == "1" {
		os.Exit(spy())
	}
	os.Exit(m.Run())
}

// metaRefresh finds the target of a page's meta refresh.
var metaRefresh = regexp.MustCompile(`<meta http-equiv="refresh" content="\d+;url=([^"]*)">`)

// actAsBrowser opens arg the way a browser handed a file:// URL does: it
// reads the file (as the user it runs as), follows its meta refresh, and
// then every redirect, with a cookie jar (mcpauthd's start link sets the
// sign-in's binding cookie; authorization servers keep their login state in
// cookies). So it lands on mcpauthd's loopback callback or web page. It
// accepts nothing but a file:// URL: mcpauthd must never hand the browser
// the URL itself.
func actAsBrowser(arg string) error {
	if d, err := time.ParseDuration(os.Getenv(browserDelay)); err == nil {
		time.Sleep(d)
	}
	logURL := func(u string) {
		if p := os.Getenv(browserLog); p != "" {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err == nil {
				fmt.Fprintln(f, u)
				f.Close()
			}
		}
	}
	u, err := url.Parse(arg)
	if err != nil || u.Scheme != "file" {
		return fmt.Errorf("given %q, not a file:// URL", arg)
	}
	if p := os.Getenv(browserRelay); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(f, arg)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	logURL(u.Path)
	page, err := os.ReadFile(u.Path)
	if err != nil {
		return err
	}
	m := metaRefresh.FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("%s has no meta refresh:\n%s", u.Path, page)
	}
	target := html.UnescapeString(string(m[1]))
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		logURL(req.URL.String())
		if hold := os.Getenv(browserHold); hold != "" && req.URL.Path == "/callback" {
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if _, err := os.Stat(hold); err == nil {
					break
				}
			}
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}}
	logURL(target)
	res, err := c.Get(target)
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing %s (CI=true: required)", what)
	}
	t.Skipf("missing %s; run make test", what)
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, port int) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d", port)
}

func secretServiceRunning() bool {
	conn, err := dbus.SessionBus()
	if err != nil {
		return false
	}
	var has bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.secrets").Store(&has)
	return err == nil && has
}

// tsServer starts the TypeScript SDK example server with --oauth and
// returns its MCP URL.
func tsServer(t *testing.T) string {
	url, _ := tsServerAt(t, freePort(t), freePort(t))
	return url
}

// tsServerAt starts the TypeScript SDK example server on the given ports
// and returns its MCP URL and a function that stops it (a restart is a stop
// and a new tsServerAt on the same ports: the server forgets its clients
// and tokens, as a real one that keeps them in memory does).
func tsServerAt(t *testing.T, mcpPort, authPort int) (string, func()) {
	root := repoRoot(t)
	node := filepath.Join(root, "tools", "node_modules", "node", "bin", "node")
	script := filepath.Join(root, "tools", "node_modules", "@modelcontextprotocol", "sdk", "dist", "esm", "examples", "server", "simpleStreamableHttp.js")
	_, errN := os.Stat(node)
	_, errS := os.Stat(script)
	need(t, errN == nil && errS == nil, "Node 22 and the TypeScript SDK in tools/node_modules")
	cmd := exec.Command(node, script, "--oauth")
	cmd.Env = append(os.Environ(), "MCP_PORT="+strconv.Itoa(mcpPort), "MCP_AUTH_PORT="+strconv.Itoa(authPort))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("TypeScript server output:\n%s", logs.String())
		}
	})
	waitPort(t, mcpPort)
	waitPort(t, authPort)
	return fmt.Sprintf("http://localhost:%d/mcp", mcpPort), stop
}

// engineOf is the engine beside the front bin, which the front hands every
// command but token and headers to (and which runs the daemon).
func engineOf(bin string) string { return filepath.Join(filepath.Dir(bin), "mcpauthd-engine") }

type instance struct {
	t   *testing.T
	bin string
	env []string
	dir string
}

func newInstance(t *testing.T) *instance {
	need(t, secretServiceRunning(), "a Secret Service on the session bus (scripts/keyring-session.sh)")
	dir := t.TempDir()
	// Both programs, side by side as installed: the tests run the front
	// (mcpauthd), which hands all but token and headers to the engine.
	bin := filepath.Join(dir, "mcpauthd")
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/mcpauthd", "./cmd/mcpauthd-engine")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	self, _ := os.Executable()
	in := &instance{t: t, bin: bin, dir: dir, env: append(os.Environ(),
		"MCPAUTH_SOCK="+filepath.Join(dir, "run", "mcpauthd.sock"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_STATE_HOME="+filepath.Join(dir, "state"),
		"MCPAUTH_CALLBACK_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)),
		"MCPAUTH_LOG_LEVEL=debug",
		"BROWSER="+self,
		browserMode+"=1",
	)}
	t.Cleanup(func() {
		_, _, _ = in.run("status") // make sure one answers, then stop it
		c := ipc.NewClient(in.socket())
		st, err := c.Status(context.Background())
		_ = c.Shutdown(context.Background())
		if err == nil {
			// Gone before t.TempDir's removal, which a daemon still
			// closing its registry and log would race.
			waitPIDGone(t, st.PID)
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "state", "mcpauthd", "mcpauthd.log"))
			t.Logf("daemon log:\n%s", b)
		}
	})
	return in
}

func (in *instance) socket() string { return filepath.Join(in.dir, "run", "mcpauthd.sock") }

func (in *instance) run(args ...string) (string, string, int) {
	return runProgram(in.t, in.bin, in.env, args...)
}

// runProgram runs bin with args in env and returns its stdout, stderr and
// exit status; a program that cannot be run fails the test.
func runProgram(t *testing.T, bin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (in *instance) must(args ...string) string {
	in.t.Helper()
	out, errs, code := in.run(args...)
	if code != 0 {
		in.t.Fatalf("mcpauthd %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func initializeStatus(t *testing.T, url, token string) int {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}}`
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestLoginTokenRestartLogout is the daemon issue's flow against the
// TypeScript SDK example server.
func TestLoginTokenRestartLogout(t *testing.T) {
	url := tsServer(t)
	in := newInstance(t)

	if got := initializeStatus(t, url, ""); got != http.StatusUnauthorized {
		t.Fatalf("server without token answered %d, want 401", got)
	}
	out := in.must("login", url)
	if !strings.Contains(out, "Signed in to") {
		t.Fatalf("login output: %s", out)
	}
	tok := strings.TrimSpace(in.must("token", url))
	if tok == "" {
		t.Fatal("empty token")
	}
	if got := initializeStatus(t, url, tok); got != http.StatusOK {
		t.Fatalf("initialize with mcpauthd's token answered %d, want 200", got)
	}
	var hdr map[string]string
	if err := json.Unmarshal([]byte(in.must("headers", url)), &hdr); err != nil || hdr["Authorization"] != "Bearer "+tok {
		t.Fatalf("headers: %v %v", hdr, err)
	}
	var list []ipc.ServerInfo
	if err := json.Unmarshal([]byte(in.must("list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Status != ipc.StateSignedIn || list[0].Registration != "dynamic" || len(list[0].Tools) == 0 {
		t.Fatalf("list: %+v", list)
	}

	// Restart: stop the daemon; the next command starts a new one, which
	// must serve the same token and keep the registration.
	if err := ipc.NewClient(in.socket()).Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitGone(t, in.socket())
	if again := strings.TrimSpace(in.must("token", url)); again != tok {
		t.Fatal("after a restart the daemon served a different token")
	}
	if err := json.Unmarshal([]byte(in.must("list", "--json")), &list); err != nil || list[0].Registration != "dynamic" || list[0].Status != ipc.StateSignedIn {
		t.Fatalf("after restart: %+v %v", list, err)
	}

	in.must("logout", url)
	_, errs, code := in.run("token", url)
	if code != 3 || !strings.Contains(errs, "mcpauthd login "+url) {
		t.Fatalf("token after logout: exit %d, stderr %q; want exit 3 naming mcpauthd login", code, errs)
	}
	if got := initializeStatus(t, url, ""); got != http.StatusUnauthorized {
		t.Fatalf("server answered %d", got)
	}
}

func waitGone(t *testing.T, socket string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(socket); os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("daemon did not stop")
}

// TestOtherUserRefused checks the walls between users: the socket
// directory is 0700; with the permissions opened up, the other user's
// client refuses a socket served by another uid (before sending anything),
// and the daemon refuses a peer with another uid (a raw request that skips
// the client's check).
func TestOtherUserRefused(t *testing.T) {
	needRoot(t)
	in := newInstance(t)
	in.must("status")
	u := testUser(t, "mcpauthd-e2e")
	helper := exposeForOthers(t, in)
	asOther := func() (string, int) {
		return runCmd(t, asUser(u, in.env, in.bin, "status"))
	}
	if out, code := asOther(); code == 0 || !strings.Contains(out, "permission denied") {
		t.Fatalf("other user through the 0700 directory: exit %d, %s", code, out)
	}
	_ = os.Chmod(filepath.Dir(in.socket()), 0o755)
	_ = os.Chmod(in.socket(), 0o666)
	out, code := asOther()
	if want := "it is served by uid 0, not by you (uid " + u.Uid + ")"; code == 0 || !strings.Contains(out, want) {
		t.Fatalf("other user's client with open permissions: exit %d, %s; want %q", code, out, want)
	}
	out, _ = runCmd(t, asUser(u, []string{helperMode + "=raw", helperSocks + "=" + in.socket()}, helper))
	if !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, "belongs to another user") {
		t.Fatalf("other user's raw request with open permissions: %s", out)
	}
}

// TestLoginNoBrowserPaste is the SSH case: `login --no-browser` prints the
// sign-in URL, the user opens it elsewhere, and pastes the URL the browser
// ended on (here: the authorization server's redirect, never followed).
func TestLoginNoBrowserPaste(t *testing.T) {
	url := tsServer(t)
	in := newInstance(t)
	cmd := exec.Command(in.bin, "login", "--no-browser", url)
	cmd.Env = in.env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The sign-in URL is the indented line of the instructions.
	var authURL string
	buf := make([]byte, 0, 4096)
	chunk := make([]byte, 1024)
	for authURL == "" {
		n, err := stderr.Read(chunk)
		if err != nil {
			t.Fatalf("login ended before printing a URL: %v; %s", err, buf)
		}
		buf = append(buf, chunk[:n]...)
		for _, line := range strings.Split(string(buf), "\n") {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, "http") && strings.Contains(l, "code_challenge") {
				authURL = l
			}
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	redirect := res.Header.Get("Location")
	if !strings.Contains(redirect, "code=") {
		t.Fatalf("authorization server answered %s, Location %q", res.Status, redirect)
	}
	if _, err := io.WriteString(stdin, "\n"+redirect+"\n"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, _ = io.Copy(io.Discard, stderr); done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(stdout.String(), "Signed in to") {
			t.Fatalf("login: %v; stdout %q", err, stdout.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("login did not finish after the redirect URL was pasted")
	}
	tok := strings.TrimSpace(in.must("token", url))
	if got := initializeStatus(t, url, tok); got != http.StatusOK {
		t.Fatalf("initialize with the token answered %d", got)
	}
}

// TestLoginNoBrowserDevice: where the authorization server offers the
// device authorization grant, `login --no-browser` shows a code to enter
// on any device instead of a URL to come back from.
func TestLoginNoBrowserDevice(t *testing.T) {
	as := testfake.NewDeviceAS(t)
	in := newInstance(t)
	url := as.Srv.URL + "/mcp"
	out, errs, code := in.run("login", "--no-browser", url)
	if code != 0 {
		t.Fatalf("login: exit %d\n%s\n%s", code, out, errs)
	}
	if !strings.Contains(errs, "WDJB-MJHT") || !strings.Contains(errs, as.Srv.URL+"/activate") || !strings.Contains(out, "Signed in to") {
		t.Fatalf("login output:\nstdout %s\nstderr %s", out, errs)
	}
	if tok := strings.TrimSpace(in.must("token", url)); tok != "device-access" {
		t.Fatalf("token = %q", tok)
	}
}

// TestPublicServerAndEvents: a server that answers without any sign-in is
// recorded as public, not failed; the event stream reports it.
func TestPublicServerAndEvents(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "public-test", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "ping"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, struct{}, error) {
		return &mcp.CallToolResult{}, struct{}{}, nil
	})
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer hs.Close()
	in := newInstance(t)
	in.must("status")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	events := make(chan ipc.Event, 64)
	go func() {
		_ = ipc.NewClient(in.socket()).Events(ctx, func(ev ipc.Event) error { events <- ev; return nil })
	}()
	if ev := <-events; ev.Type != "hello" {
		t.Fatalf("first event %+v, want hello", ev)
	}

	url := hs.URL + "/mcp"
	if out := in.must("login", url); !strings.Contains(out, "needs no sign-in") {
		t.Fatalf("login output %q", out)
	}
	for {
		select {
		case ev := <-events:
			if ev.Type == "server" && ev.Server.URL == url && ev.Server.Status == ipc.StatePublic {
				if out := strings.TrimSpace(in.must("headers", url)); out != "{}" {
					t.Fatalf("headers for a public server = %q, want {}", out)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("no event reported the server as public")
		}
	}
}
