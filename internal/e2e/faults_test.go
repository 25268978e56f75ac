package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// signIn logs in to a.url through the real binary and returns the token.
func (a *flakyAS) signIn(t *testing.T, in *instance) string {
	t.Helper()
	login(t, in, a.url)
	tok := strings.TrimSpace(in.must("token", a.url))
	if a.mcpStatus(t, tok) != 200 {
		t.Fatal("the token does not work at the MCP server")
	}
	return tok
}

func (in *instance) serverInfo(url string) ipc.ServerInfo {
	in.t.Helper()
	for _, s := range in.servers() {
		if s.URL == url {
			return s
		}
	}
	in.t.Fatalf("%s not listed", url)
	return ipc.ServerInfo{}
}

func (in *instance) restart() {
	in.t.Helper()
	if err := ipc.NewClient(in.socket()).Shutdown(context.Background()); err != nil {
		in.t.Fatal(err)
	}
	waitGone(in.t, in.socket())
}

// TestFaultRefreshFailsServesValidToken: through the real binary, the
// authorization server starts failing (500, garbage, truncated JSON, a hung
// up connection, 10 MB, a never-ending body). A caller that asks for a
// refresh still gets the current, still-valid token; the server stays
// signed in with a message saying the refresh will be retried; after a
// restart the stored token is intact; when the AS recovers, the refresh
// succeeds. invalid_grant, by contrast, means "sign in again".
func TestFaultRefreshFailsServesValidToken(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	tok := a.signIn(t, in)
	for _, mode := range []string{mode500, modeGarbage, modeTruncated, modeHangUp, modeHuge, modeEndless} {
		a.tokenMode.Store(mode)
		before := a.refreshes.Load()
		out, errs, code := in.run("token", "--min-valid", "2h", a.url)
		if code != 0 || strings.TrimSpace(out) != tok {
			t.Fatalf("%s: token with a failing refresh: exit %d, stderr %q; want the still-valid token", mode, code, errs)
		}
		if a.refreshes.Load() == before {
			t.Fatalf("%s: no refresh was attempted", mode)
		}
		// A hand-out that served the old token leaves the server signed in
		// (the background refresh, not the hand-out, records "will retry").
		info := in.serverInfo(a.url)
		if info.Status != ipc.StateSignedIn {
			t.Errorf("%s: list says %s %q", mode, info.Status, info.StatusMessage)
		}
		if strings.Contains(info.StatusMessage, "AAAAAAAA") || len(info.StatusMessage) > 2000 {
			t.Errorf("%s: status message carries the response body: %.200q", mode, info.StatusMessage)
		}
		// `mcpauthd refresh`-like explicit refresh through the API reports
		// the failure clearly.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, err := ipc.NewClient(in.socket()).Refresh(ctx, a.url)
		cancel()
		var ie *ipc.Error
		if !errors.As(err, &ie) || ie.Code != ipc.CodeUpstream || !strings.Contains(ie.Message, "/token") {
			t.Errorf("%s: explicit refresh: %v; want an upstream error naming the token endpoint", mode, err)
		}
	}
	// Nothing stored was damaged: a restarted daemon serves the same token.
	in.restart()
	if got := strings.TrimSpace(in.must("token", a.url)); got != tok {
		t.Fatal("after failed refreshes and a restart, a different token")
	}
	// The AS recovers.
	a.tokenMode.Store(modeOK)
	fresh := strings.TrimSpace(in.must("token", "--min-valid", "2h", a.url))
	if fresh == tok || a.mcpStatus(t, fresh) != 200 {
		t.Fatal("after the AS recovered, the refresh did not give a new working token")
	}
	if info := in.serverInfo(a.url); info.Status != ipc.StateSignedIn || info.StatusMessage != "" {
		t.Errorf("after recovery: %s %q", info.Status, info.StatusMessage)
	}
	// invalid_grant is not a passing reason.
	a.tokenMode.Store(modeInvalid)
	_, errs, code := in.run("token", "--min-valid", "2h", a.url)
	if code != 3 || !strings.Contains(errs, "mcpauthd login "+a.url) {
		t.Fatalf("invalid_grant: exit %d, %q; want exit 3 naming the login command", code, errs)
	}
	if info := in.serverInfo(a.url); info.Status != ipc.StateNeedsSignIn {
		t.Errorf("after invalid_grant: %s", info.Status)
	}
}

// TestFaultBackgroundRefreshFails: through the real binary, an AS that
// fails every refresh. The daemon's own (background) refresh fails and says
// so in an event while the token still lives, the server staying signed
// in; once the token has expired a hand-out fails saying the refresh
// failed, and the server is in error; when the AS recovers, the next
// hand-out signs it back in. It waits on events and on the token's state,
// never for a fixed time: the retry schedule is daemon/TestRefreshBackoff's,
// exact under testing/synctest.
func TestFaultBackgroundRefreshFails(t *testing.T) {
	a := newFlakyAS(t)
	a.expiresIn.Store(4) // refreshed in the background at mid-life
	in := newInstance(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var events chan ipc.Event
	// waitFor returns the first event about a.url that ok accepts.
	waitFor := func(what string, ok func(*ipc.ServerInfo) bool) *ipc.ServerInfo {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Type == ipc.EventServer && ev.Server != nil && ev.Server.URL == a.url && ok(ev.Server) {
					return ev.Server
				}
			case <-ctx.Done():
				t.Fatalf("no event: %s", what)
			}
		}
	}
	a.signIn(t, in) // the daemon runs from here
	events = make(chan ipc.Event, 1024)
	go func() {
		_ = ipc.NewClient(in.socket()).Events(ctx, func(ev ipc.Event) error { events <- ev; return nil })
	}()
	if ev := <-events; ev.Type != ipc.EventHello {
		t.Fatalf("first event %+v; want hello", ev)
	}
	a.tokenMode.Store(mode500)
	sv := waitFor("a failed background refresh", func(s *ipc.ServerInfo) bool { return s.StatusMessage != "" })
	if sv.Status != ipc.StateSignedIn {
		t.Errorf("after a failed refresh of a live token: %s %q; want signed in with a message", sv.Status, sv.StatusMessage)
	}
	// The token expires (4 s after issue): a hand-out then fails clearly.
	var errs string
	for {
		out, e, code := in.run("token", a.url)
		if code != 0 {
			errs = e
			break
		}
		if strings.TrimSpace(out) == "" || ctx.Err() != nil {
			t.Fatalf("token: %q, %v", out, ctx.Err())
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not a bound
	}
	if !strings.Contains(errs, "refresh failed") && !strings.Contains(errs, "/token") {
		t.Errorf("expired token, failing AS: stderr %q does not say the refresh failed", errs)
	}
	waitFor("the server in error", func(s *ipc.ServerInfo) bool { return s.Status == ipc.StateError })
	if info := in.serverInfo(a.url); info.Status != ipc.StateError || !strings.Contains(info.StatusMessage, "refresh failed") {
		t.Errorf("list: %s %q", info.Status, info.StatusMessage)
	}
	// Recovery: the next attempt (the CLI's, here) succeeds.
	a.expiresIn.Store(3600)
	a.tokenMode.Store(modeOK)
	tok := strings.TrimSpace(in.must("token", a.url))
	if a.mcpStatus(t, tok) != 200 {
		t.Fatal("token after recovery does not work")
	}
	waitFor("the server signed in again", func(s *ipc.ServerInfo) bool { return s.Status == ipc.StateSignedIn && s.StatusMessage == "" })
	if info := in.serverInfo(a.url); info.Status != ipc.StateSignedIn {
		t.Errorf("after recovery: %s %q", info.Status, info.StatusMessage)
	}
}

// TestFaultASDownDuringLogin: the authorization server down (every
// endpoint 500) or gone (connection refused): login fails with a message
// naming the URL, bounded in time, and nothing half-made is left usable.
func TestFaultASDownDuringLogin(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	a.allDown.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.bin, "login", a.url)
	cmd.Env = in.env
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("login against a failing AS: %v (ctx %v)\n%s", err, ctx.Err(), out)
	}
	if !strings.Contains(string(out), a.srv.URL) || !strings.Contains(string(out), "500") {
		t.Errorf("login error does not name the URL and the status: %s", out)
	}
	// A first sign-in that failed leaves nothing behind.
	for _, s := range in.servers() {
		if s.URL == a.url {
			t.Errorf("a failed first sign-in left its server behind: %+v", s)
		}
	}
	// Gone altogether.
	dead := "http://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/mcp"
	cmd = exec.CommandContext(ctx, in.bin, "login", dead)
	cmd.Env = in.env
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), dead) || !strings.Contains(string(out), "could not reach") {
		t.Errorf("login to a server that is down: %v %s", err, out)
	}
	// The AS comes back: the same server signs in.
	a.allDown.Store(false)
	a.signIn(t, in)
}

// TestFaultKillLoop SIGKILLs the daemon at random points of registration,
// login (authorization and code exchange), refresh, revocation (logout)
// and the database writes that follow, many times (bounded). After each
// kill the next command starts a new daemon: the registry opens, and the
// server is either usable (its token works at the MCP server) or clearly
// marked as needing sign-in (then signed in again for the next round).
func TestFaultKillLoop(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	type point struct {
		endpoint string
		after    bool
		action   string // login, refresh, logout
	}
	points := []point{
		{"/register", false, "login"}, {"/register", true, "login"},
		{"/authorize", false, "login"}, {"/authorize", true, "login"},
		{"/token", false, "login"}, {"/token", true, "login"},
		{"/token", false, "refresh"}, {"/token", true, "refresh"},
		{"/revoke", false, "logout"}, {"/revoke", true, "logout"},
		{"", false, "refresh"}, {"", false, "login"}, {"", false, "logout"}, // random delay
	}
	iterations := 2 * len(points)
	var usable, needSignIn int
	for i := range iterations {
		p := points[i%len(points)]
		if i >= len(points) {
			p = points[rng.IntN(len(points))]
		}
		if p.action != "login" && !in.hasUsableToken(a) {
			login(t, in, a.url)
		}
		if p.action == "login" {
			// Start from nothing: forget the server (unknown is fine).
			_, _, _ = in.run("logout", "--remove", a.url)
		}
		pid := daemonPID(t, in)
		a.killAt.Store(p.endpoint)
		a.killAfter.Store(p.after)
		if p.endpoint != "" {
			a.killPID.Store(int64(pid))
		}
		var cmd *exec.Cmd
		switch p.action {
		case "login":
			cmd = exec.Command(in.bin, "login", a.url)
		case "refresh":
			cmd = exec.Command(in.bin, "token", "--min-valid", "2h", a.url)
		case "logout":
			cmd = exec.Command(in.bin, "logout", a.url)
		}
		cmd.Env = in.env
		var actOut strings.Builder
		cmd.Stdout, cmd.Stderr = &actOut, &actOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if p.endpoint == "" {
			time.Sleep(time.Duration(rng.Int64N(int64(80 * time.Millisecond))))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(90 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("iteration %d (%+v): the CLI did not return after the daemon was killed", i, p)
		}
		a.killPID.Store(0)
		a.killAt.Store("")
		_ = syscall.Kill(pid, syscall.SIGKILL) // the action may have finished first
		// The CLI may already have started a new daemon: wait for this one
		// to be gone (dead or a zombie), not for the socket to go quiet.
		waitPIDGone(t, pid)

		// Restart: the registry opens and lists the server (or nothing, if
		// the kill came before the server was recorded).
		out, errs, code := in.run("list", "--json")
		if code != 0 && strings.Contains(errs, "connection reset") {
			// Seen once: the first command after the kill met a daemon
			// that reset the connection. Ask again, and say so.
			t.Logf("iteration %d (%+v): list after restart: %s (the action printed %q); retrying", i, p, errs, actOut.String())
			time.Sleep(time.Second)
			out, errs, code = in.run("list", "--json")
		}
		var list []ipc.ServerInfo
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
			t.Fatalf("iteration %d (%+v): list after restart: exit %d\n%s\n%s\n(the action printed %q)", i, p, code, out, errs, actOut.String())
		}
		if len(list) > 1 {
			t.Fatalf("iteration %d: %d servers listed", i, len(list))
		}
		if len(list) == 0 {
			continue
		}
		s := list[0]
		out, errs, code = in.run("token", a.url)
		switch {
		case code == 0:
			if a.mcpStatus(t, strings.TrimSpace(out)) != 200 {
				// A token revoked before the daemon died (kill after
				// /revoke): the server must say so on first use.
				if p.action != "logout" {
					t.Errorf("iteration %d (%+v): token served but refused by the server", i, p)
				}
				in.must("logout", a.url)
				continue
			}
			usable++
		case code == 3:
			needSignIn++
			s = in.serverInfo(a.url)
			if s.Status != ipc.StateNeedsSignIn && s.Status != ipc.StateSignedOut {
				t.Errorf("iteration %d (%+v): token says sign in, list says %s %q", i, p, s.Status, s.StatusMessage)
			}
		default:
			t.Errorf("iteration %d (%+v): after restart token exit %d: %s (list: %s %q)", i, p, code, errs, s.Status, s.StatusMessage)
		}
	}
	t.Logf("%d kills: afterwards usable %d, needs sign-in %d; kills at %v", iterations, usable, needSignIn, a.killedAt)
	// At the end, everything still works.
	login(t, in, a.url)
	if tok := strings.TrimSpace(in.must("token", a.url)); a.mcpStatus(t, tok) != 200 {
		t.Fatal("final token does not work")
	}
}

func waitPIDGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		// The state follows the parenthesised command name.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("daemon %d still runs 10 s after it was killed or told to stop", pid)
}

func (in *instance) hasUsableToken(a *flakyAS) bool {
	out, _, code := in.run("token", a.url)
	return code == 0 && a.mcpStatus(in.t, strings.TrimSpace(out)) == 200
}

// startBus runs a private dbus-daemon with config (a file path, or
// "--session" for the standard session configuration, whose service
// directories let D-Bus activate gnome-keyring) and returns its address.
func startBus(t *testing.T, config string) string {
	// Not t.TempDir(): a subtest's long name would push the socket path past
	// the 108 bytes a Unix socket address may have.
	dir, err := os.MkdirTemp("", "bus")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr := "unix:path=" + filepath.Join(dir, "bus")
	args := []string{"--nofork", "--address=" + addr}
	if config == "--session" {
		args = append(args, "--session")
	} else {
		args = append(args, "--config-file="+config)
	}
	bus := exec.Command("dbus-daemon", args...)
	if err := bus.Start(); err != nil {
		need(t, false, "dbus-daemon: "+err.Error())
	}
	t.Cleanup(func() { _ = bus.Process.Kill(); _ = bus.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", filepath.Join(dir, "bus")); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("private bus did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noServicesBus is a session bus configuration without service
// directories: nothing can be activated, so no Secret Service.
const noServicesBus = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>`

// TestFaultNoSecretService starts the daemon, whose registry holds sealed
// secrets, where the keyring cannot be used: a session bus without a
// Secret Service, a bus where D-Bus activates a gnome-keyring whose
// collection is locked (and no one can answer its unlock prompt), and no
// session bus at all. token fails with an error naming
// MCPAUTH_SECRET_BACKEND=file, no key file appears (no silent fallback),
// and the stored token is intact once the keyring is back.
func TestFaultNoSecretService(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	tok := a.signIn(t, in)
	in.restart()
	cfg := filepath.Join(t.TempDir(), "bus.conf")
	if err := os.WriteFile(cfg, []byte(noServicesBus), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, config string }{
		{"bus without Secret Service", cfg},
		{"no session bus", ""},
		{"locked keyring activated by D-Bus", "--session"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := "unix:path=" + filepath.Join(t.TempDir(), "no-bus-here")
			if c.config != "" {
				addr = startBus(t, c.config)
			}
			env := append([]string{}, in.env...)
			env = append(env, "DBUS_SESSION_BUS_ADDRESS="+addr)
			run := func(args ...string) (string, int) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, in.bin, args...)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				}
				return string(out), code
			}
			start := time.Now()
			out, code := run("token", a.url)
			if strings.Contains(out, "does not answer") {
				// A locked keyring must not hold the daemon's start-up: the
				// store gives up waiting for it after a few seconds.
				t.Fatalf("the daemon did not answer %s after it was started: %q", time.Since(start).Round(time.Second), out)
			}
			if code == 0 {
				t.Fatalf("a token was served without the keyring: %q", out)
			}
			if !strings.Contains(out, "MCPAUTH_SECRET_BACKEND=file") {
				t.Errorf("token without a keyring: exit %d, %q; want a message naming MCPAUTH_SECRET_BACKEND=file", code, out)
			}
			if strings.Contains(out, "mcpauthd login") {
				t.Errorf("token without a keyring sends the user to a login that cannot work: %q", out)
			}
			out, _ = run("list")
			if !strings.Contains(out, "MCPAUTH_SECRET_BACKEND=file") {
				t.Errorf("list without a keyring does not say why: %q", out)
			}
			// No silent fallback to a key file.
			if m, _ := filepath.Glob(filepath.Join(in.dir, "data", "mcpauthd", "data-key*")); len(m) != 0 {
				t.Errorf("key file created without the opt-in: %v", m)
			}
			in.restart()
		})
	}
	// Back with the keyring: the stored token is intact.
	if got := strings.TrimSpace(in.must("token", a.url)); got != tok {
		t.Fatal("after running without a keyring, the stored token changed or was lost")
	}
}

// TestFaultKeyringKilledMidRun runs a daemon in its own session bus with its
// own gnome-keyring, signs in, then kills that gnome-keyring-daemon. The
// running daemon keeps serving (it holds the data key it read at start-up:
// documented behaviour); a restarted daemon cannot read the key and says
// so, naming MCPAUTH_SECRET_BACKEND=file, without creating a key file.
func TestFaultKeyringKilledMidRun(t *testing.T) {
	_, err := exec.LookPath("gnome-keyring-daemon")
	need(t, err == nil, "gnome-keyring-daemon")
	a := newFlakyAS(t)
	in := newInstance(t)
	mark := filepath.Join(in.dir, "kr-data") // this test's keyring data dir identifies its processes
	env := append([]string{}, in.env...)
	env = append(env, "XDG_DATA_HOME="+mark) // later value wins in exec
	script := filepath.Join(repoRoot(t), "scripts", "keyring-session.sh")
	daemon := exec.Command("dbus-run-session", "--", script, "sh", "-c", `MCPAUTHD_KEYRING_BUS="$DBUS_SESSION_BUS_ADDRESS" exec "$0" --no-tray`, in.bin)
	daemon.Env = env
	logf, _ := os.Create(filepath.Join(in.dir, "kr-daemon.log"))
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = daemon.Process.Kill()
		_ = daemon.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("keyring daemon log:\n%s", b)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("unix", in.socket()); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon in the private session did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Find the daemon's bus, for restarting it in the same session later.
	st, err := ipc.NewClient(in.socket()).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	envOf := func(pid int) string { b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ"); return string(b) }
	var busAddr string
	for _, kv := range strings.Split(envOf(st.PID), "\x00") {
		if v, ok := strings.CutPrefix(kv, "MCPAUTHD_KEYRING_BUS="); ok {
			busAddr = v
		}
	}
	tok := strings.TrimSpace(func() string { login(t, in, a.url); return in.must("token", a.url) }())
	if a.mcpStatus(t, tok) != 200 {
		t.Fatal("token does not work")
	}
	// Kill this test's gnome-keyring-daemon (found by its environment).
	var killed []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		if strings.HasPrefix(string(comm), "gnome-keyring") && strings.Contains(envOf(pid), "XDG_DATA_HOME="+mark+"\x00") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed = append(killed, pid)
		}
	}
	if len(killed) == 0 {
		t.Fatal("this test's gnome-keyring-daemon was not found")
	}
	// The running daemon holds the key: it keeps serving.
	if got := strings.TrimSpace(in.must("token", a.url)); got != tok {
		t.Error("after the keyring died the running daemon served another token")
	}
	// A refresh (a sealed write) still works with the cached key.
	if fresh := strings.TrimSpace(in.must("token", "--min-valid", "2h", a.url)); a.mcpStatus(t, fresh) != 200 {
		t.Error("refresh after the keyring died")
	}
	// Restart in the same bus, which no longer has a Secret Service.
	in.restart()
	env2 := append([]string{}, env...)
	env2 = append(env2, "DBUS_SESSION_BUS_ADDRESS="+busAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.bin, "token", a.url)
	cmd.Env = env2
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("token served by a daemon without its keyring: %q", out)
	}
	if !strings.Contains(string(out), "MCPAUTH_SECRET_BACKEND=file") {
		t.Errorf("without the keyring: %s; want a message naming MCPAUTH_SECRET_BACKEND=file", out)
	}
	if m, _ := filepath.Glob(filepath.Join(mark, "mcpauthd", "data-key*")); len(m) != 0 {
		t.Errorf("silent fallback: key file %v", m)
	}
	_ = ipc.NewClient(in.socket()).Shutdown(context.Background())
}

// TestFaultSocketDeleted removes the daemon's socket file under it. The
// daemon must notice: re-create the socket (so clients reach it again), or
// exit with a message. Either way a client is never left with a daemon that
// runs but cannot be reached and blocks a new one.
func TestFaultSocketDeleted(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	tok := a.signIn(t, in)
	pid := daemonPID(t, in)
	t.Cleanup(func() {
		// A daemon left unreachable (the failure this test looks for) is
		// not stopped by the instance's cleanup: stop it by its pid.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && strings.HasPrefix(string(b), in.bin) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if err := os.Remove(in.socket()); err != nil {
		t.Fatal(err)
	}
	// Bounded wait for the daemon to notice.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(in.socket()); err == nil {
			break
		}
		if syscall.Kill(pid, 0) != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	alive := syscall.Kill(pid, 0) == nil
	_, statErr := os.Stat(in.socket())
	t.Logf("socket deleted: daemon alive %v, socket present again %v", alive, statErr == nil)
	if alive && statErr != nil {
		t.Fatal("the daemon runs on without a socket: no client can reach it")
	}
	// Whatever it chose, the CLI works again and the token is intact.
	if got := strings.TrimSpace(in.must("token", a.url)); got != tok {
		t.Fatal("after the socket was deleted, another token")
	}
	if alive {
		if p := daemonPID(t, in); p != pid {
			t.Errorf("a second daemon (%d) started while the first (%d) runs", p, pid)
		}
	}
}

// TestFaultClockJump: tokens stored with an expiry in the past (the daemon
// was stopped past it, as after a clock jump forward) are refreshed on
// start; a token with an expiry in the far future (a clock jump back, or a
// server that lies) that the MCP server refuses is recovered through the
// challenge path.
func TestFaultClockJump(t *testing.T) {
	a := newFlakyAS(t)
	a.expiresIn.Store(2)
	in := newInstance(t)
	old := a.signIn(t, in)
	in.restart()
	time.Sleep(2500 * time.Millisecond) // the stored expiry is now in the past
	a.expiresIn.Store(3600)
	tok := strings.TrimSpace(in.must("token", a.url))
	if tok == old || a.mcpStatus(t, tok) != 200 {
		t.Fatal("a token stored with its expiry in the past was not refreshed on use")
	}
	if info := in.serverInfo(a.url); info.Status != ipc.StateSignedIn || !info.TokenExpiry.After(time.Now().Add(30*time.Minute)) {
		t.Errorf("after refresh: %+v", info)
	}

	// Far future: the AS says 10 years; the MCP server no longer accepts it.
	a.expiresIn.Store(10 * 365 * 24 * 3600)
	far := strings.TrimSpace(in.must("token", "--min-valid", "2h", a.url))
	in.restart()
	if got := strings.TrimSpace(in.must("token", a.url)); got != far {
		t.Fatal("far-future token not kept across a restart")
	}
	a.mu.Lock()
	delete(a.access, far)
	a.mu.Unlock()
	if a.mcpStatus(t, far) != 401 {
		t.Fatal("fake did not revoke")
	}
	a.expiresIn.Store(3600)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := ipc.NewClient(in.socket()).Challenge(ctx, &ipc.ChallengeRequest{URL: a.url, Status: 401, Token: far,
		WWWAuthenticate: []string{`Bearer error="invalid_token", resource_metadata="` + a.srv.URL + `/.well-known/oauth-protected-resource/mcp"`}})
	if err != nil {
		t.Fatalf("challenge: %v", err)
	}
	if tok := strings.TrimSpace(in.must("token", a.url)); tok == far || a.mcpStatus(t, tok) != 200 {
		t.Fatal("after the challenge, no working token")
	}
}

// TestFaultDiskFull puts the registry on a small tmpfs and fills it. A
// refresh whose rotated token cannot be committed does not hand out the
// new token (the still-valid one is served); a sign-in to a new server fails
// with a message saying the disk is full; the state from before is intact
// and, once space is freed, everything works again.
func TestFaultDiskFull(t *testing.T) {
	if os.Getuid() != 0 {
		need(t, false, "root (to mount a small tmpfs)")
	}
	a := newFlakyAS(t)
	b := newFlakyAS(t)
	in := newInstance(t)
	data := filepath.Join(in.dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", data).CombinedOutput(); err != nil {
		need(t, false, "mount -t tmpfs: "+string(out))
	}
	t.Cleanup(func() {
		// The daemon holds the registry open: stop it before unmounting.
		_ = ipc.NewClient(in.socket()).Shutdown(context.Background())
		waitGone(t, in.socket())
		if out, err := exec.Command("umount", data).CombinedOutput(); err != nil {
			t.Errorf("umount: %v %s", err, out)
		}
	})
	tok := a.signIn(t, in)
	filler := filepath.Join(data, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	// A rotated refresh token too big for the free pages: its commit fails,
	// so the new access token must not be handed out; the old one, still
	// valid, is.
	a.pad.Store(192 << 10) // under budget.TokenAnswer: the answer is read, its commit fails
	got := strings.TrimSpace(in.must("token", "--min-valid", "2h", a.url))
	if got != tok {
		t.Fatal("a new token was handed out although its rotated refresh token could not be committed")
	}
	if a.mcpStatus(t, got) != 200 {
		t.Fatal("the token served on a full disk does not work")
	}
	a.pad.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.bin, "login", b.url)
	cmd.Env = in.env
	out, err := cmd.CombinedOutput()
	t.Logf("login on a full disk: %v: %s", err, out)
	if err == nil {
		t.Log("the sign-in fit on the full disk (bbolt had free pages)")
	} else if !strings.Contains(string(out), "no space left on device") {
		t.Errorf("login on a full disk: %s; want a message saying the disk is full", out)
	}
	// Restart with the disk still full: the registry opens, the first
	// server still works.
	in.restart()
	if got2 := strings.TrimSpace(in.must("token", a.url)); a.mcpStatus(t, got2) != 200 {
		t.Fatal("after a restart on a full disk the token does not work")
	}
	_ = os.Remove(filler)
	b.signIn(t, in)
	if fresh := strings.TrimSpace(in.must("token", "--min-valid", "2h", a.url)); a.mcpStatus(t, fresh) != 200 {
		t.Fatal("refresh after space was freed")
	}
}
