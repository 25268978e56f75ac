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
