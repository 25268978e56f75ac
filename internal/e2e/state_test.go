package e2e

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestFailedLoginChangesOnlyWhatItProves: a sign-in that fails (the
// authorization server is down) leaves a working sign-in as it was, its
// token still handed out; a first sign-in to a mistyped URL leaves no
// server behind.
func TestFailedLoginChangesOnlyWhatItProves(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	tok := a.signIn(t, in)

	a.allDown.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.bin, "login", a.url)
	cmd.Env = in.env
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("login against a down AS succeeded: %s", out)
	}
	a.allDown.Store(false)
	info := in.serverInfo(a.url)
	if info.Status != ipc.StateSignedIn || !strings.Contains(info.StatusMessage, "last sign-in attempt failed") {
		t.Fatalf("after a failed sign-in the working one became %s: %q", info.Status, info.StatusMessage)
	}
	if got := strings.TrimSpace(in.must("token", a.url)); got != tok {
		t.Fatal("after a failed sign-in the stored token is no longer handed out")
	}

	typo := "http://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/mpc"
	if _, _, code := in.run("login", typo); code == 0 {
		t.Fatal("login to a URL nothing serves succeeded")
	}
	for _, s := range in.servers() {
		if s.URL == typo {
			t.Fatalf("a sign-in that never succeeded left its server behind: %+v", s)
		}
	}
	if n := len(in.servers()); n != 1 {
		t.Fatalf("servers after the typo: %d, want 1", n)
	}
}

// TestForgottenRegistrationRepaired: the authorization server restarts and
// forgets mcpauthd's dynamically registered client. Its authorization
// endpoint would show the browser invalid_client and never redirect back;
// the next login finds out before the browser opens, registers anew and
// succeeds.
func TestForgottenRegistrationRepaired(t *testing.T) {
	mcpPort, authPort := freePort(t), freePort(t)
	url, stop := tsServerAt(t, mcpPort, authPort)
	in := newInstance(t)
	login(t, in, url)
	stop()
	tsServerAt(t, mcpPort, authPort)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.bin, "login", url)
	cmd.Env = in.env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signed in to") {
		t.Fatalf("login after the AS forgot the client: %v (ctx %v)\n%s", err, ctx.Err(), out)
	}
	if tok := strings.TrimSpace(in.must("token", url)); initializeStatus(t, url, tok) != 200 {
		t.Fatal("the new sign-in's token does not work")
	}
}

// TestMinValidBeyondPossible: `token --min-valid 2h` for a token that lasts
// an hour and cannot be renewed (the TypeScript SDK server issues no
// refresh token) hands out that token with a warning and leaves the
// sign-in as it was.
func TestMinValidBeyondPossible(t *testing.T) {
	url := tsServer(t)
	in := newInstance(t)
	login(t, in, url)
	if in.serverInfo(url).HasRefreshToken {
		t.Fatal("the TypeScript SDK server issued a refresh token: this test needs a token that cannot be renewed")
	}
	tok := strings.TrimSpace(in.must("token", url))
	out, errs, code := in.run("token", "--min-valid", "2h", url)
	if code != 0 || strings.TrimSpace(out) != tok || !strings.Contains(errs, "warning") || !strings.Contains(errs, "cannot be renewed") {
		t.Fatalf("token --min-valid 2h: exit %d, stdout %q, stderr %q; want the token with a warning", code, out, errs)
	}
	if info := in.serverInfo(url); info.Status != ipc.StateSignedIn || info.StatusMessage != "" {
		t.Fatalf("after token --min-valid 2h the server is %s: %q", info.Status, info.StatusMessage)
	}
}

// TestReregisterAndRemoveDropRegistration: `login --reregister` registers
// mcpauthd's client anew; `logout --remove` of the last server of an
// authorization server drops the registration there, so adding the server
// again registers anew instead of reusing a client that may have gone stale.
func TestReregisterAndRemoveDropRegistration(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	clients := func() int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.clients)
	}
	a.signIn(t, in)
	if n := clients(); n != 1 {
		t.Fatalf("registrations after the first sign-in: %d", n)
	}
	login(t, in, a.url)
	if n := clients(); n != 1 {
		t.Fatalf("a second sign-in registered again: %d", n)
	}
	in.must("login", "--reregister", a.url)
	if n := clients(); n != 2 {
		t.Fatalf("login --reregister: %d registrations, want 2", n)
	}
	in.must("logout", "--remove", a.url)
	a.signIn(t, in)
	if n := clients(); n != 3 {
		t.Fatalf("after logout --remove and a new sign-in: %d registrations, want 3", n)
	}
}
