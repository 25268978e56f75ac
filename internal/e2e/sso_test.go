package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestCompanySignIn is issue 19 with the real binary: a company's IdP (a
// fake OpenID provider that issues ID-JAGs) and two MCP servers of that
// company whose authorization servers take only ID-JAGs from it.
//
//   - `login A --enterprise --idp-issuer … --idp-client-id …` signs in once
//     at the IdP in the browser (the e2e browser stand-in, through the
//     daemon's start link and callback), and A gets its tokens;
//   - after a daemon restart, `login B --enterprise`, the IdP coming from
//     the settings file, gets B's tokens without a browser;
//   - access tokens expire (they live 4 s) and are renewed through the IdP's
//     refresh token (the ID tokens live 30 s, under the daemon's one-minute
//     margin, so every renewal refreshes at the IdP) with no browser;
//   - the IdP ends the session (every refresh token revoked): one EventIdP
//     for the IdP turns needs_sign_in, both servers need a sign-in, and one
//     `login A` (one more browser sign-in) brings both back;
//   - `logout --idp` revokes at the IdP and signs out of both.
func TestCompanySignIn(t *testing.T) {
	idp := testfake.NewIdP(t, 30*time.Second)
	a := testfake.NewEnterpriseAS(t, idp, 4*time.Second)
	b := testfake.NewEnterpriseAS(t, idp, 4*time.Second)
	in := newInstance(t)
	blog := filepath.Join(t.TempDir(), "browser.log")
	in.env = append(in.env, browserLog+"="+blog)
	browserSignIns := func() int {
		raw, _ := os.ReadFile(blog)
		return strings.Count(string(raw), idp.Issuer+"/authorize?")
	}

	out := in.must("login", a.URL, "--enterprise", "--idp-issuer", idp.Issuer, "--idp-client-id", idp.ClientID)
	if !strings.Contains(out, "Signed in to") || !strings.Contains(out, "company sign-in at "+idp.Issuer) {
		t.Fatalf("login A: %s", out)
	}
	if n := browserSignIns(); n != 1 {
		t.Fatalf("%d browser sign-ins at the IdP, want 1", n)
	}
	// The company sign-in is kept: a restarted daemon still has it.
	in.must("restart")

	// Events from here on: the IdP's transitions.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var idpEvents []ipc.IdPInfo
	go func() {
		_ = ipc.NewClient(in.socket()).Events(ctx, func(ev ipc.Event) error {
			if ev.Type == ipc.EventIdP && ev.IdP != nil {
				mu.Lock()
				idpEvents = append(idpEvents, *ev.IdP)
				mu.Unlock()
			}
			return nil
		})
	}()

	in.writeSettings("idp_issuer = \"" + idp.Issuer + "\"\nidp_client_id = \"" + idp.ClientID + "\"\n")
	if out := in.must("login", b.URL, "--enterprise"); !strings.Contains(out, "Signed in to") {
		t.Fatalf("login B: %s", out)
	}
	if n := browserSignIns(); n != 1 {
		t.Fatalf("the second server of the company opened the browser (%d sign-ins at the IdP)", n)
	}
	if auth, _, _, _ := idp.Counts(); auth != 1 {
		t.Fatalf("%d authorization requests at the IdP, want 1", auth)
	}
	list := in.must("list")
	if !strings.Contains(list, "Company sign-ins") || !strings.Contains(list, idp.Issuer) || !strings.Contains(list, "user-1@example.com") ||
		!strings.Contains(list, a.URL) || !strings.Contains(list, b.URL) {
		t.Fatalf("list does not show the company sign-in with its servers:\n%s", list)
	}

	// Expiry: the first access token dies; a later one works, and the IdP
	// saw refresh-token grants, not another browser.
	first := strings.TrimSpace(in.must("token", a.URL))
	waitFor(t, 20*time.Second, "A's access token renewed", func() bool {
		tok := strings.TrimSpace(in.must("token", a.URL))
		return tok != first && a.Accepts(tok) && !a.Accepts(first)
	})
	if _, refreshes, _, _ := idp.Counts(); refreshes == 0 {
		t.Fatal("no refresh-token grant at the IdP")
	}
	if n := browserSignIns(); n != 1 {
		t.Fatalf("renewal opened the browser (%d sign-ins)", n)
	}

	// The IdP ends the session.
	idp.RevokeAll()
	waitFor(t, 20*time.Second, "both servers need a sign-in", func() bool {
		st := statuses(t, in)
		return st[a.URL] == ipc.StateNeedsSignIn && st[b.URL] == ipc.StateNeedsSignIn
	})
	// An app asking for each server's token meets the ended session again
	// (once the access token it had has expired: until then it works).
	waitFor(t, 20*time.Second, "token to say needs sign-in for both servers", func() bool {
		_, _, ca := in.run("token", a.URL)
		_, _, cb := in.run("token", b.URL)
		return ca == 3 && cb == 3
	})
	time.Sleep(500 * time.Millisecond) // any further event would have come
	mu.Lock()
	ended := 0
	for _, e := range idpEvents {
		if e.Status == ipc.StateNeedsSignIn {
			ended++
		}
	}
	mu.Unlock()
	if ended != 1 {
		t.Fatalf("%d needs-sign-in events for the IdP, want exactly 1: %+v", ended, idpEvents)
	}
	if n := browserSignIns(); n != 1 {
		t.Fatalf("the end of the session opened the browser by itself (%d sign-ins)", n)
	}

	// One sign-in restores both.
	in.must("login", a.URL, "--enterprise")
	if n := browserSignIns(); n != 2 {
		t.Fatalf("%d browser sign-ins at the IdP after signing in again, want 2", n)
	}
	waitFor(t, 20*time.Second, "B restored without a browser", func() bool {
		return statuses(t, in)[b.URL] == ipc.StateSignedIn
	})
	for _, s := range []*testfake.EnterpriseAS{a, b} {
		if tok := strings.TrimSpace(in.must("token", s.URL)); !s.Accepts(tok) {
			t.Fatalf("%s: the token after the new company sign-in is not accepted", s.URL)
		}
	}
	if n := browserSignIns(); n != 2 {
		t.Fatalf("restoring B opened the browser (%d sign-ins)", n)
	}

	// Sign-out of the company sign-in: revoked at the IdP, both signed out.
	out = in.must("logout", "--idp", idp.Issuer)
	if !strings.Contains(out, "the IdP revoked it") || !strings.Contains(out, a.URL) || !strings.Contains(out, b.URL) {
		t.Fatalf("logout --idp: %s", out)
	}
	if _, _, _, revoked := idp.Counts(); revoked != 1 {
		t.Fatalf("%d refresh tokens revoked at the IdP, want 1", revoked)
	}
	st := statuses(t, in)
	if st[a.URL] != ipc.StateSignedOut || st[b.URL] != ipc.StateSignedOut {
		t.Fatalf("after logout --idp: %v", st)
	}
	for _, u := range []string{a.URL, b.URL} {
		if _, _, code := in.run("token", u); code != 3 {
			t.Fatalf("token %s after logout --idp: exit %d, want 3", u, code)
		}
	}
}

// statuses are the daemon's servers' states by URL.
func statuses(t *testing.T, in *instance) map[string]ipc.State {
	t.Helper()
	servers, err := ipc.NewClient(in.socket()).Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]ipc.State{}
	for _, s := range servers {
		m[s.URL] = s.Status
	}
	return m
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
	}
}
