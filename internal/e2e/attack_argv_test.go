package e2e

// Attack: another local user reads every process's command line (and
// tries every environment) in /proc while the victim opens the web page
// (`mcpauthd ui`, the tray's "Open dashboard") and signs in (`mcpauthd
// login`), hoping for the web page's one-time ticket or the sign-in's
// state and code_challenge. mcpauthd hands the browser only the file:// URL
// of a private redirect page, which that user cannot read.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// spyMode makes this test binary the other user's /proc scanner (spy).
const spyMode = "MCPAUTHD_E2E_SPY"

// spy reads /proc/*/cmdline and /proc/*/environ over and over until its
// stdin closes, then prints every distinct text it could read as a JSON
// array: what another user learns from the process table.
func spy() int {
	stop := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stop) }()
	seen := map[string]bool{}
	for {
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			for _, f := range []string{"cmdline", "environ"} {
				if b, err := os.ReadFile(filepath.Join(p, f)); err == nil && len(b) > 0 {
					seen[f+": "+strings.ReplaceAll(string(b), "\x00", " ")] = true
				}
			}
		}
		select {
		case <-stop:
			out := make([]string, 0, len(seen))
			for s := range seen {
				out = append(out, s)
			}
			_ = json.NewEncoder(os.Stdout).Encode(out)
			return 0
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// otherUser is a second local user (created once), and a way to run
// commands as it. It needs root and setpriv.
type otherUser struct {
	t *testing.T
	u *user.User
}

func newOtherUser(t *testing.T) *otherUser {
	t.Helper()
	needRoot(t)
	return &otherUser{t: t, u: testUser(t, "mcpauthd-e2e")}
}

// command runs name with args as the other user, with only env.
func (o *otherUser) command(env []string, name string, args ...string) *exec.Cmd {
	return asUser(o.u, env, name, args...)
}

// reachable copies this test binary to where the other user can run it.
func (o *otherUser) reachable(in *instance) string { return exposeForOthers(o.t, in) }

// startSpy starts the other user's /proc scanner; stop ends it and returns
// what it read.
func (o *otherUser) startSpy(in *instance) (stop func() []string) {
	cmd := o.command([]string{spyMode + "=1"}, o.reachable(in))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		o.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		o.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		o.t.Fatal(err)
	}
	o.t.Cleanup(func() { _ = cmd.Process.Kill() })
	return func() []string {
		stdin.Close()
		var seen []string
		if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&seen); err != nil {
			o.t.Fatalf("the spy's report: %v", err)
		}
		_ = cmd.Wait()
		return seen
	}
}

// browserVisits is what the browser stand-in logged: the pages it was
// given, and every URL it opened.
func browserVisits(t *testing.T, log string) []string {
	b, _ := os.ReadFile(log)
	return strings.Fields(string(b))
}

// waitVisit waits until the browser stand-in has opened a URL containing want.
func waitVisit(t *testing.T, log, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, v := range browserVisits(t, log) {
			if strings.Contains(v, want) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the browser never opened a URL with %q; it opened %q", want, browserVisits(t, log))
}

// TestAttackArgvScan: a second user scans /proc/*/cmdline and
// /proc/*/environ while the victim runs `mcpauthd ui`, `mcpauthd login`
// and the tray's "Open dashboard", each with a browser that waits 1.5 s
// before it reads its page. The scan sees the browser's command line (so it
// was watching) but no ticket, state, code_challenge, start link or URL of
// mcpauthd's loopback origin in any of it; and the other user cannot read
// the redirect page, even with the directories above it opened up.
func TestAttackArgvScan(t *testing.T) {
	other := newOtherUser(t)
	mcpURL := tsServer(t)
	in := newInstance(t)
	visits := filepath.Join(t.TempDir(), "visits")
	in.env = append(in.env, browserDelay+"=1500ms", browserLog+"="+visits)
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := other.startSpy(in)

	// The daemon, with its tray, opens the browser for the dashboard and
	// for the sign-in; the CLI opens it for `ui`.
	u, _ := in.startWithTray(conn)
	if out := in.must("ui"); !strings.Contains(out, "Opened the mcpauthd page") {
		t.Fatalf("mcpauthd ui: %q", out)
	}
	waitVisit(t, visits, "/ui?t=")
	uiVisits := len(browserVisits(t, visits))
	dash, ok := u.waitMenu("Open dashboard", func(m menuItem) bool { it, ok := m.find("Open dashboard"); return ok && it.Enabled }).find("Open dashboard")
	if !ok {
		t.Fatal("no Open dashboard item")
	}
	u.click(dash)
	deadline := time.Now().Add(30 * time.Second)
	for n := 0; n < 2; {
		n = 0
		for _, v := range browserVisits(t, visits) {
			if strings.Contains(v, "/ui?t=") {
				n++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tray's dashboard never reached the browser: %q", browserVisits(t, visits))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := in.must("login", mcpURL); !strings.Contains(out, "Signed in to") {
		t.Fatalf("login: %s", out)
	}
	seen := stop()
	all := browserVisits(t, visits)
	if len(all) <= uiVisits {
		t.Fatalf("browser visits: %q", all)
	}

	// What the attacker wanted: every value of every URL the browser
	// opened (ticket, state, code_challenge, start id, the code), and the
	// loopback origin's paths.
	var secrets, pages, hosts []string
	for _, v := range all {
		if strings.HasPrefix(v, "/") {
			pages = append(pages, v)
			continue
		}
		pu, err := url.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, pu.Host)
		for _, vals := range pu.Query() {
			for _, val := range vals {
				if len(val) >= 8 && !strings.HasPrefix(val, "http") {
					secrets = append(secrets, val)
				}
			}
		}
		if strings.HasPrefix(pu.Path, "/start/") {
			secrets = append(secrets, strings.TrimPrefix(pu.Path, "/start/"))
		}
	}
	if len(secrets) < 4 {
		t.Fatalf("found only %d values to look for in %q", len(secrets), all)
	}
	sawBrowser := 0
	for _, s := range seen {
		for _, p := range pages {
			if strings.Contains(s, "file://"+p) {
				sawBrowser++
			}
		}
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("the other user read %q in %.200s", sec, s)
			}
		}
		// (Other programs on a shared machine may well have such URLs on
		// their command lines: only this test's servers count.)
		ours := slices.ContainsFunc(hosts, func(h string) bool { return strings.Contains(s, h) })
		for _, bad := range []string{"/ui?t=", "code_challenge="} {
			if ours && strings.Contains(s, bad) {
				t.Errorf("the other user read %q in %.200s", bad, s)
			}
		}
		if strings.HasPrefix(s, "environ: ") && strings.Contains(s, browserMode) {
			t.Errorf("the other user read the browser's environment: %.200s", s)
		}
	}
	t.Logf("the other user read %d distinct command lines and environments; the browser's command line (a file:// URL) %d times for %d pages; %d values to look for",
		len(seen), sawBrowser, len(pages), len(secrets))
	if sawBrowser < 3 {
		t.Fatalf("the scan saw the browser's command line %d times for %d pages; it was not watching (it saw %d texts)", sawBrowser, len(pages), len(seen))
	}

	// The redirect pages: the one `mcpauthd ui` left is still there, and
	// the other user cannot read it, even with the runtime directory
	// opened up: the page directory itself is 0700, the page 0600.
	page := pages[0]
	if _, err := os.Stat(page); err != nil {
		t.Fatalf("the ui's page is gone already: %v", err)
	}
	if fi, err := os.Stat(filepath.Dir(page)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("page directory %v %v: want 0700", fi, err)
	}
	for p := filepath.Dir(filepath.Dir(page)); p != "/"; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			_ = os.Chmod(p, fi.Mode().Perm()|0o005)
			defer os.Chmod(p, fi.Mode().Perm())
		}
	}
	if out, err := other.command(nil, "/bin/cat", page).CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Fatalf("the other user reading the page: %v %s", err, out)
	}
	if out, err := other.command(nil, "/bin/ls", filepath.Dir(page)).CombinedOutput(); err == nil {
		t.Fatalf("the other user listed the page directory: %s", out)
	}

	st, err := ipc.NewClient(in.socket()).Status(context.Background())
	if err != nil || st.Servers != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}
}
