package e2e

// Attacks on the reverse proxy for HTTP apps (issue 11, items 5 and 6),
// each by a second local user created in the test and run with setpriv,
// against the real daemon: the second user squats the apps port before the
// daemon starts; uses a stolen app key; and an app key holder sends `..`
// in every encoding to leave its server's path.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/godbus/dbus/v5"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// otherUIDHelper makes this test binary, run as the second user, play the
// attacker: "squat ADDR" listens on ADDR and says "listening"; "fetch URL
// [KEY]" posts to URL (with KEY in the X-Mcpauthd-Key header) and prints
// the status and body.
const otherUIDHelper = "MCPAUTHD_E2E_OTHER_UID"

func init() {
	if os.Getenv(otherUIDHelper) != "1" {
		return
	}
	if err := otherUIDMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "e2e helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func otherUIDMain(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "squat":
		l, err := net.Listen("tcp", args[1])
		if err != nil {
			return err
		}
		fmt.Println("listening")
		return http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "squatter") }))
	case (len(args) == 2 || len(args) == 3) && args[0] == "fetch":
		req, err := http.NewRequest(http.MethodPost, args[1], strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if len(args) == 3 {
			req.Header.Set(ipc.AppKeyHeader, args[2])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		fmt.Printf("%d\n%s", res.StatusCode, b)
		return nil
	}
	return fmt.Errorf("usage: squat ADDR | fetch URL [KEY]")
}

// attacker is a second local user and a copy of this test binary it can run.
type attacker struct {
	t   *testing.T
	u   *user.User
	bin string
}

// newAttacker creates (once per machine) the second user and gives it this
// test binary. It needs root and setpriv.
func newAttacker(t *testing.T) *attacker {
	needRoot(t)
	u := testUser(t, "mcpauthd-e2e")
	// Not under TMPDIR: the test run's private TMPDIR is 0700 all the way up.
	dir, err := os.MkdirTemp("/tmp", "mcpauthd-e2e-attacker-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &attacker{t: t, u: u, bin: copySelf(t, dir)}
}

func (a *attacker) command(args ...string) *exec.Cmd {
	return asUser(a.u, []string{otherUIDHelper + "=1", "PATH=/usr/bin:/bin"}, a.bin, args...)
}

// squat listens on addr as the attacker until the test ends.
func (a *attacker) squat(addr string) {
	cmd := a.command("squat", addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		a.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "listening\n" {
		a.t.Fatalf("the attacker could not listen on %s: %q", addr, line)
	}
}

// fetch posts to url as the attacker and returns the status and body.
func (a *attacker) fetch(url string, key ...string) (string, string) {
	a.t.Helper()
	out, err := a.command(append([]string{"fetch", url}, key...)...).CombinedOutput()
	if err != nil {
		a.t.Fatalf("attacker fetch %s: %v\n%s", url, err, out)
	}
	status, body, _ := strings.Cut(string(out), "\n")
	return status, body
}

// recorder is an MCP server stand-in that records every request it gets.
type recorder struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string // escaped paths, as received
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.EscapedPath())
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}

// addApp adds the app name for server and returns its key URL and key.
func (in *instance) addApp(name, server string) (string, string) {
	in.t.Helper()
	out := in.must("app", "add", name, "--server", server)
	keyURL := regexp.MustCompile(`URL with the key:\s+(\S+)`).FindStringSubmatch(out)
	key := regexp.MustCompile(`header X-Mcpauthd-Key: (\S+)`).FindStringSubmatch(out)
	if keyURL == nil || key == nil {
		in.t.Fatalf("app add output: %s", out)
	}
	return keyURL[1], key[1]
}

// TestAppsPortSquatted: another user binds the apps port before the
// daemon starts. The daemon says so in `status` (naming that user) and in
// the tray, and `app add` refuses to hand out a URL that would reach the
// squatter.
func TestAppsPortSquatted(t *testing.T) {
	a := newAttacker(t)
	in := newInstance(t)
	origin := in.withApps(t)
	addr := strings.TrimPrefix(origin, "http://")
	a.squat(addr)

	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	notes := notificationServer(t, conn)
	u, _ := in.startWithTray(conn)
	u.waitMenu("the apps warning", func(m menuItem) bool {
		_, ok := m.find("⚠ HTTP apps proxy is off")
		return ok
	})

	status := in.must("status")
	for _, want := range []string{"apps:      OFF", addr, "uid " + a.u.Uid + " (" + a.u.Username + ")", "MCPAUTH_APPS_ADDR"} {
		if !strings.Contains(status, want) {
			t.Errorf("status does not say %q:\n%s", want, status)
		}
	}
	out, errs, code := in.run("app", "add", "cursor", "--server", "https://mcp.example.com/mcp")
	if code == 0 || !strings.Contains(errs, "uid "+a.u.Uid) || !strings.Contains(errs, "MCPAUTH_APPS_ADDR") {
		t.Fatalf("app add with the port squatted: exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
	if strings.Contains(out+errs, origin+"/s/") || strings.Contains(out, "Key") {
		t.Fatalf("app add handed out a key or URL:\n%s%s", out, errs)
	}
	if list := in.must("app", "list"); !strings.Contains(list, "No apps") {
		t.Fatalf("app list after a refused add: %s", list)
	}
	notes.mu.Lock()
	defer notes.mu.Unlock()
	for _, n := range notes.shown {
		if strings.Contains(n.summary, "HTTP apps cannot reach it") {
			return
		}
	}
	t.Errorf("no notification about the apps port: %+v", notes.shown)
}

// TestAppsStolenKey: another user who holds a valid app key (in the path
// or the header) is refused by the real reverse proxy, and the MCP server
// sees nothing; the same requests from the daemon's user go through.
func TestAppsStolenKey(t *testing.T) {
	a := newAttacker(t)
	srv := newRecorder(t)
	in := newInstance(t)
	origin := in.withApps(t)
	keyURL, key := in.addApp("cursor", srv.URL+"/mcp")
	if status := in.must("status"); !strings.Contains(status, "apps:      "+origin+" (only your user's connections") {
		t.Fatalf("status: %s", status)
	}

	// The owner's own requests reach the server: the attack below could succeed.
	if got := initializeStatus(t, keyURL, ""); got != http.StatusOK {
		t.Fatalf("owner's request through the proxy: %d", got)
	}
	if n := len(srv.seen()); n != 1 {
		t.Fatalf("the server saw %d requests from the owner; want 1", n)
	}

	for _, try := range [][]string{{keyURL}, {origin + "/s/cursor", key}, {origin + "/s/cursor/sub", key}} {
		status, body := a.fetch(try[0], try[1:]...)
		if status != "403" || !strings.Contains(body, "uid "+a.u.Uid) {
			t.Errorf("stolen key from uid %s (%v): %s %s; want 403 naming the uid", a.u.Uid, len(try) == 2, status, body)
		}
	}
	if n := len(srv.seen()); n != 1 {
		t.Fatalf("the server saw %d requests; the attacker's reached it: %v", n, srv.seen())
	}
	logb, _ := os.ReadFile(filepath.Join(in.dir, "state", "mcpauthd", "mcpauthd.log"))
	if !strings.Contains(string(logb), "refused a connection from another user") || !strings.Contains(string(logb), "uid="+a.u.Uid) {
		t.Errorf("the daemon's log does not record the refused uid:\n%s", logb)
	}
}

// TestAppsPathConfined: `..` in every encoding, through the real daemon
// with a valid key, is refused (400), and the server never sees a path
// outside its own /mcp.
func TestAppsPathConfined(t *testing.T) {
	srv := newRecorder(t)
	in := newInstance(t)
	origin := in.withApps(t)
	keyURL, key := in.addApp("cursor", srv.URL+"/mcp")
	addr := strings.TrimPrefix(origin, "http://")
	base := strings.TrimPrefix(keyURL, origin) // /s/cursor/k/KEY

	variants := []string{
		"/../../x", "/..", "/a/../../x", "/./x",
		"/%2e%2e/%2e%2e/x", "/%2E%2E/x", "/.%2e/x", "/%2e./x",
		"/%252e%252e/x", "/..;/x",
		"/..%2f..%2fx", "/..%2F..%2Fx", "/a%2f..%2f..%2fx",
		"/..%5c..%5cx", `/..\..\x`,
		"//x", "/a//x", "/a%00",
	}
	for _, rest := range variants {
		for _, target := range []string{base + rest, "/s/cursor" + rest} {
			status, body := rawPost(t, addr, target, key)
			if status != http.StatusBadRequest {
				t.Errorf("%s: %d %s; want 400", target, status, body)
			}
		}
	}
	if seen := srv.seen(); len(seen) != 0 {
		t.Fatalf("the server saw %v", seen)
	}
	// The control: ordinary paths arrive below /mcp, as sent.
	for _, rest := range []string{"", "/sub", "/a%20b/c/"} {
		if status, body := rawPost(t, addr, base+rest, ""); status != http.StatusOK {
			t.Fatalf("%s: %d %s", rest, status, body)
		}
	}
	if got := strings.Join(srv.seen(), " "); got != "/mcp /mcp/sub /mcp/a%20b/c/" {
		t.Fatalf("the server saw %s", got)
	}
}

// rawPost sends one POST with exactly target as its request-target (no
// client cleaning) and key, if any, in the X-Mcpauthd-Key header.
func rawPost(t *testing.T, addr, target, key string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	hdr := ""
	if key != "" {
		hdr = ipc.AppKeyHeader + ": " + key + "\r\n"
	}
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s", target, addr, hdr, len(body), body)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
