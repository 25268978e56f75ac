package e2e

// Attack: another local user who learnt a sign-in's state (say, from a
// browser that leaked it) delivers to the victim's loopback callback a code
// of their own (from running the same authorization request in their own
// session) with that state, and a forged error=access_denied. Both are
// refused, neither ends the sign-in, and the victim's browser finishes it.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func TestAttackCallbackInjection(t *testing.T) {
	other := newOtherUser(t)
	_, err := exec.LookPath("curl")
	need(t, err == nil, "curl")
	mcpURL := tsServer(t)
	in := newInstance(t)
	visits := filepath.Join(t.TempDir(), "visits")
	hold := filepath.Join(t.TempDir(), "go-on")
	// The victim's browser stops before it follows the redirect to the
	// callback, until the attacker has tried.
	in.env = append(in.env, browserLog+"="+visits, browserHold+"="+hold)
	in.must("status")

	login := exec.Command(in.bin, "login", mcpURL)
	login.Env = in.env
	var out strings.Builder
	login.Stdout, login.Stderr = &out, &out
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- login.Wait() }()
	t.Cleanup(func() { _ = login.Process.Kill() })

	// The leak: the authorization request the browser opened.
	waitVisit(t, visits, "/callback?")
	var authURL string
	for _, v := range browserVisits(t, visits) {
		if strings.Contains(v, "code_challenge=") {
			authURL = v
		}
	}
	au, err := url.Parse(authURL)
	if err != nil || authURL == "" {
		t.Fatalf("no authorization request among %q", browserVisits(t, visits))
	}
	state := au.Query().Get("state")

	// The attacker runs that authorization request in their own session:
	// the authorization server approves and redirects to the callback with
	// the attacker's code and the victim's state.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	stolen, err := url.Parse(res.Header.Get("Location"))
	if err != nil || stolen.Query().Get("code") == "" || stolen.Query().Get("state") != state {
		t.Fatalf("the attacker's authorization: %s, Location %q", res.Status, res.Header.Get("Location"))
	}
	forged := *stolen
	forged.RawQuery = url.Values{"error": {"access_denied"}, "state": {state}}.Encode()
	for _, inject := range []string{stolen.String(), forged.String()} {
		got, err := other.command(nil, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", inject).Output()
		if err != nil || string(got) != "403" {
			t.Fatalf("the other user's callback %s: %q %v; want 403", inject, got, err)
		}
		var list []ipc.ServerInfo
		if err := json.Unmarshal([]byte(in.must("list", "--json")), &list); err != nil || len(list) != 1 || list[0].Status != ipc.StateSigningIn {
			t.Fatalf("after the other user's callback: %+v %v; want the sign-in still waiting", list, err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("login ended after the attacker's callbacks (%v): %s", err, out.String())
	default:
	}

	// The victim's browser goes on and finishes the sign-in.
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "Signed in to") {
			t.Fatalf("login: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("login did not finish after the real browser's callback:\n%s", out.String())
	}
	tok := strings.TrimSpace(in.must("token", mcpURL))
	if got := initializeStatus(t, mcpURL, tok); got != http.StatusOK {
		t.Fatalf("initialize with the token answered %d", got)
	}
}
