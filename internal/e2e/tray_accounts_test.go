package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// child returns it's direct child whose label starts with prefix.
func (m menuItem) child(prefix string) (menuItem, bool) {
	for _, c := range m.Children {
		if strings.HasPrefix(c.Label, prefix) {
			return c, true
		}
	}
	return menuItem{}, false
}

// TestTrayAccounts (issue 16 in the tray): a server with two accounts shows
// one item per account in its submenu, each with its own Sign in, Make
// default and Sign out, clicked over D-Bus as a panel would. Make default
// on work makes requests naming no account get work's token, and on
// default back; Sign out on work (not the default) revokes work's tokens at
// the authorization server and forgets the account, and the default
// account keeps working.
func TestTrayAccounts(t *testing.T) {
	in := newInstance(t)
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	u, _ := in.startWithTray(conn)
	c := ipc.NewClient(in.socket())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	a := newFlakyAS(t)
	own := a.signIn(t, in)
	login(t, in, a.url, "--account", "work")
	token := func(flags ...string) string {
		t.Helper()
		return strings.TrimSpace(in.must(append([]string{"token", a.url}, flags...)...))
	}
	work := token("--account", "work")
	if work == own || a.mcpStatus(t, work) != http.StatusOK {
		t.Fatal("the work account has no working token of its own")
	}

	accountItem := func(name string) menuItem {
		t.Helper()
		var it menuItem
		u.waitMenu("the account "+name+" with its items", func(m menuItem) bool {
			es := m.entries()
			if len(es) != 1 {
				return false
			}
			var ok bool
			it, ok = es[0].child("Account " + name)
			return ok && len(it.Children) == 3
		})
		return it
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entry := u.waitEntry("signed in")
	if another, ok := entry.child("Sign in to another account…"); !ok || another.Enabled != (st.WebURL != "") {
		t.Fatalf("Sign in to another account… should be there, enabled exactly when the daemon has a web page (%v):\n%s", st.WebURL != "", entry)
	}
	def := accountItem("default (default)")
	if it, _ := def.child("Make default"); it.Enabled {
		t.Fatalf("Make default is enabled on the default account:\n%s", def)
	}
	if it, _ := def.child("Sign in"); it.Enabled {
		t.Fatalf("Sign in is enabled on a signed-in account:\n%s", def)
	}

	// Make default on work.
	w := accountItem("work: signed in")
	md, _ := w.child("Make default")
	u.click(md)
	waitFor(t, 20*time.Second, "work to be the default account", func() bool { return in.serverInfo(a.url).Account == "work" })
	if token() != work {
		t.Fatal("after Make default on work, a request naming no account did not get work's token")
	}
	w = accountItem("work (default)")
	if it, _ := w.child("Make default"); it.Enabled {
		t.Fatalf("Make default still enabled on work, now the default:\n%s", w)
	}
	// And back: Make default on the server's own sign-in.
	md, _ = accountItem("default: signed in").child("Make default")
	u.click(md)
	waitFor(t, 20*time.Second, "default to be the default account again", func() bool { return in.serverInfo(a.url).Account == ipc.DefaultAccount })
	if token() != own {
		t.Fatal("after Make default on default, a request naming no account did not get its token")
	}
	w = accountItem("work: signed in")

	// Sign out on work: its tokens are revoked, the account is forgotten,
	// the other account keeps working.
	so, _ := w.child("Sign out")
	u.click(so)
	u.waitMenu("one account left (no account items)", func(m menuItem) bool {
		es := m.entries()
		if len(es) != 1 {
			return false
		}
		_, ok := es[0].find("Account ")
		return !ok && strings.Contains(es[0].Label, "signed in")
	})
	if a.mcpStatus(t, work) == http.StatusOK {
		t.Error("work's token still works after Sign out on work in the tray")
	}
	if _, _, code := in.run("token", a.url, "--account", "work"); code != 3 {
		t.Errorf("token --account work after its Sign out: exit %d, want 3", code)
	}
	if token() != own || a.mcpStatus(t, own) != http.StatusOK {
		t.Fatal("Sign out on work touched the other account")
	}
	if info := in.serverInfo(a.url); len(info.Accounts) != 1 || info.Status != ipc.StateSignedIn || info.Account != ipc.DefaultAccount {
		t.Fatalf("after Sign out on work: %+v", info)
	}
}

// TestTrayCompanySignIn (issue 19 in the tray): a company sign-in shared by
// two servers has its own entry listing them. When the IdP ends the
// session, the entry says so and its Sign in again (clicked over D-Bus)
// signs in at the IdP once in the browser and restores both servers; its
// Sign out revokes at the IdP and signs out of both, as `logout --idp`.
func TestTrayCompanySignIn(t *testing.T) {
	idp := testfake.NewIdP(t, 30*time.Second)
	a := testfake.NewEnterpriseAS(t, idp, 4*time.Second)
	b := testfake.NewEnterpriseAS(t, idp, 4*time.Second)
	in := newInstance(t)
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	u, _ := in.startWithTray(conn)

	for _, s := range []*testfake.EnterpriseAS{a, b} {
		in.must("login", s.URL, "--enterprise", "--idp-issuer", idp.Issuer, "--idp-client-id", idp.ClientID)
	}
	prefix := "Company sign-in at " + strings.TrimPrefix(idp.Issuer, "http://")
	idpEntry := func(what string, ok func(menuItem) bool) menuItem {
		t.Helper()
		var e menuItem
		u.waitMenu("the company sign-in "+what, func(m menuItem) bool {
			var found bool
			e, found = m.child(prefix)
			return found && ok(e)
		})
		return e
	}
	// servers: the entry lists two servers, both in state.
	servers := func(e menuItem, state string) bool {
		n := 0
		for _, c := range e.Children {
			if !c.Enabled && strings.Contains(c.Label, " — "+state) {
				n++
			}
		}
		return n == 2
	}
	e := idpEntry("signed in, with both servers", func(e menuItem) bool {
		return strings.HasSuffix(e.Label, "(user-1@example.com) — signed in") && servers(e, "signed in")
	})
	if it, _ := e.child("Sign in again"); it.Enabled {
		t.Fatalf("Sign in again is enabled while signed in:\n%s", e)
	}

	// The IdP ends the session: the entry says so; Sign in again restores
	// both servers with one sign-in at the IdP.
	idp.RevokeAll()
	e = idpEntry("ended", func(e menuItem) bool { return strings.HasSuffix(e.Label, "— needs sign-in") })
	waitFor(t, 20*time.Second, "both servers to need a sign-in", func() bool {
		st := statuses(t, in)
		return st[a.URL] == ipc.StateNeedsSignIn && st[b.URL] == ipc.StateNeedsSignIn
	})
	authBefore, _, _, _ := idp.Counts()
	again, _ := e.child("Sign in again")
	u.click(again)
	idpEntry("signed in again, with both servers", func(e menuItem) bool {
		return strings.HasSuffix(e.Label, "— signed in") && servers(e, "signed in")
	})
	waitFor(t, 20*time.Second, "both servers restored", func() bool {
		st := statuses(t, in)
		return st[a.URL] == ipc.StateSignedIn && st[b.URL] == ipc.StateSignedIn
	})
	if auth, _, _, _ := idp.Counts(); auth != authBefore+1 {
		t.Fatalf("%d authorization requests at the IdP for Sign in again, want 1", auth-authBefore)
	}
	for _, s := range []*testfake.EnterpriseAS{a, b} {
		if tok := strings.TrimSpace(in.must("token", s.URL)); !s.Accepts(tok) {
			t.Fatalf("%s: the token after Sign in again is not accepted", s.URL)
		}
	}

	// Sign out: revoked at the IdP, both servers signed out.
	e = idpEntry("signed in, Sign out enabled", func(e menuItem) bool {
		it, ok := e.child("Sign out")
		return ok && it.Enabled
	})
	out, _ := e.child("Sign out")
	u.click(out)
	e = idpEntry("signed out, with both servers", func(e menuItem) bool {
		return strings.HasSuffix(e.Label, "— signed out") && servers(e, "signed out")
	})
	waitFor(t, 20*time.Second, "both servers signed out", func() bool {
		st := statuses(t, in)
		return st[a.URL] == ipc.StateSignedOut && st[b.URL] == ipc.StateSignedOut
	})
	if _, _, _, revoked := idp.Counts(); revoked != 1 {
		t.Fatalf("%d refresh tokens revoked at the IdP, want 1", revoked)
	}
	for _, s := range []string{a.URL, b.URL} {
		if _, _, code := in.run("token", s); code != 3 {
			t.Fatalf("token %s after Sign out of the company sign-in: exit %d, want 3", s, code)
		}
	}
	if it, _ := e.child("Sign out"); it.Enabled {
		t.Fatalf("Sign out still enabled on a signed-out company sign-in:\n%s", e)
	}
}
