package tray

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/assets"
	"github.com/mcpauthd/mcpauthd/ipc"
)

func TestEntryLabel(t *testing.T) {
	now := time.Date(2026, 7, 28, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		s    ipc.ServerInfo
		want string
	}{
		{ipc.ServerInfo{URL: "https://mcp.example.com/mcp", Name: "Example", Status: ipc.StateSignedIn, TokenExpiry: now.Add(42*time.Minute + 10*time.Second)}, "Example — signed in · expires in 42 min"},
		{ipc.ServerInfo{URL: "https://mcp.example.com/mcp", Status: ipc.StateSignedIn, TokenExpiry: now.Add(30 * time.Second)}, "mcp.example.com/mcp — signed in · expires in <1 min"},
		{ipc.ServerInfo{URL: "https://a.example/", Status: ipc.StateSignedIn, TokenExpiry: now.Add(5*time.Hour + 40*time.Minute)}, "a.example — signed in · expires in 6 h"},
		{ipc.ServerInfo{URL: "https://a.example/", Status: ipc.StateSignedIn, TokenExpiry: now.Add(90 * time.Hour)}, "a.example — signed in · expires in 4 days"},
		{ipc.ServerInfo{URL: "https://a.example/", Status: ipc.StateSignedIn, TokenExpiry: now.Add(-time.Second)}, "a.example — signed in · token expired"},
		{ipc.ServerInfo{URL: "https://a.example/", Status: ipc.StateSignedIn}, "a.example — signed in"},
		{ipc.ServerInfo{URL: "https://a.example/", Status: ipc.StateNeedsSignIn, StatusMessage: "refresh token rejected"}, "a.example — needs sign-in"},
		{ipc.ServerInfo{URL: "https://a.example/", Status: ipc.StateError, StatusMessage: "refresh failed, will retry: Post \"https://as.example/token\": dial tcp: connection refused"}, "a.example — error: refresh failed, will retry: Post \"https://as.ex…"},
		{ipc.ServerInfo{URL: "https://a.example/", Status: ipc.StateSigningIn}, "a.example — signing in…"},
		{ipc.ServerInfo{URL: "https://a.example/", Status: ipc.StatePublic}, "a.example — no sign-in needed"},
	} {
		if got := entryLabel(c.s, now); got != c.want {
			t.Errorf("entryLabel(%+v)\n got %q\nwant %q", c.s, got, c.want)
		}
	}
}

func TestOverallAndSummary(t *testing.T) {
	ok := ipc.ServerInfo{URL: "https://a.example/", Status: ipc.StateSignedIn}
	signing := ipc.ServerInfo{URL: "https://b.example/", Status: ipc.StateSigningIn}
	bad := ipc.ServerInfo{URL: "https://c.example/", Status: ipc.StateNeedsSignIn}
	broken := ipc.ServerInfo{URL: "https://d.example/", Status: ipc.StateError}
	for _, c := range []struct {
		servers   []ipc.ServerInfo
		connected bool
		icon, sum string
	}{
		{nil, false, assets.IconOffline, "mcpauthd: not connected to the daemon"},
		{nil, true, assets.IconOK, "mcpauthd: no servers yet"},
		{[]ipc.ServerInfo{ok}, true, assets.IconOK, "mcpauthd: 1 server, all good"},
		{[]ipc.ServerInfo{ok, ok}, true, assets.IconOK, "mcpauthd: 2 servers, all good"},
		{[]ipc.ServerInfo{ok, signing}, true, assets.IconSigningIn, "mcpauthd: signing in…"},
		{[]ipc.ServerInfo{signing, bad}, true, assets.IconAttention, "mcpauthd: 1 server needs you"},
		{[]ipc.ServerInfo{bad, ok, broken}, true, assets.IconAttention, "mcpauthd: 2 servers need you"},
	} {
		if got := overall(c.servers, c.connected); got != c.icon {
			t.Errorf("overall(%v, %v) = %s, want %s", c.servers, c.connected, got, c.icon)
		}
		if got := summary(c.servers, c.connected); got != c.sum {
			t.Errorf("summary(%v, %v) = %q, want %q", c.servers, c.connected, got, c.sum)
		}
		if len(assets.TrayIcon(c.icon, false)) == 0 || len(assets.TrayIcon(c.icon, true)) == 0 {
			t.Errorf("no icon %s", c.icon)
		}
	}
}

func TestSorted(t *testing.T) {
	m := map[string]ipc.ServerInfo{
		"https://z.example/mcp": {URL: "https://z.example/mcp", Name: "alpha"},
		"https://a.example/mcp": {URL: "https://a.example/mcp"},
		"https://b.example/mcp": {URL: "https://b.example/mcp", Name: "Beta"},
	}
	var got []string
	for _, s := range sorted(m) {
		got = append(got, s.URL)
	}
	want := []string{"https://a.example/mcp", "https://z.example/mcp", "https://b.example/mcp"}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("sorted: %v, want %v", got, want)
	}
}

func TestServerURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://mcp.example.com/mcp":      "https://mcp.example.com/mcp",
		"  http://localhost:3000/mcp\n":    "http://localhost:3000/mcp",
		"ftp://example.com/":               "",
		"mcp.example.com":                  "",
		"https://user:pw@mcp.example.com/": "",
		"https://a.example/ and more":      "",
		"":                                 "",
	} {
		got, ok := serverURL(in)
		if got != want || ok != (want != "") {
			t.Errorf("serverURL(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestAllowed(t *testing.T) {
	for _, c := range []struct {
		s    ipc.ServerInfo
		want actions
	}{
		{ipc.ServerInfo{Status: ipc.StateSignedIn, HasRefreshToken: true}, actions{signIn: true, refresh: true, copyToken: true, signOut: true}},
		{ipc.ServerInfo{Status: ipc.StateSignedIn}, actions{signIn: true, copyToken: true, signOut: true}},
		{ipc.ServerInfo{Status: ipc.StateSignedOut}, actions{signIn: true}},
		{ipc.ServerInfo{Status: ipc.StateSigningIn}, actions{signOut: true}},
		{ipc.ServerInfo{Status: ipc.StateNeedsSignIn}, actions{signIn: true, signOut: true}},
		{ipc.ServerInfo{Status: ipc.StatePublic}, actions{}},
	} {
		if got := allowed(c.s); got != c.want {
			t.Errorf("allowed(%s) = %+v, want %+v", c.s.Status, got, c.want)
		}
	}
}

func TestAccountLabel(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		a    ipc.AccountInfo
		want string
	}{
		{ipc.AccountInfo{Name: "default", Default: true, Status: ipc.StateSignedIn, TokenExpiry: now.Add(42 * time.Minute)}, "Account default (default): signed in · expires in 42 min"},
		{ipc.AccountInfo{Name: "work", Status: ipc.StateNeedsSignIn}, "Account work: needs sign-in"},
		{ipc.AccountInfo{Name: "evil\x1b[31m", Status: ipc.StateSignedOut}, "Account evil: signed out"},
	} {
		if got := accountLabel(c.a, now); got != c.want {
			t.Errorf("accountLabel(%+v) = %q, want %q", c.a, got, c.want)
		}
	}
}

// TestNoteForCompanySignIn: when a company sign-in ends, its servers turn
// needs_sign_in one by one, and the user sees one notification naming the
// IdP, not one per server; it goes when the sign-in is back. A server
// without a company sign-in keeps its own.
func TestNoteForCompanySignIn(t *testing.T) {
	notes := map[string]string{}
	a := ipc.ServerInfo{URL: "https://a.example/mcp", Status: ipc.StateNeedsSignIn, IdP: "https://idp.example"}
	b := ipc.ServerInfo{URL: "https://b.example/mcp", Status: ipc.StateNeedsSignIn, IdP: "https://idp.example"}
	show, _ := noteFor(ipc.StateSignedIn, a, notes)
	if show == nil || !strings.Contains(displayName(*show), "idp.example") {
		t.Fatalf("first server of the company sign-in: %+v, want a notification naming the IdP", show)
	}
	if show, w := noteFor(ipc.StateSignedIn, b, notes); show != nil || w != "" {
		t.Fatalf("second server: a second notification (%+v, %q)", show, w)
	}
	b.Status = ipc.StateSignedIn
	if show, w := noteFor(ipc.StateNeedsSignIn, b, notes); show != nil || w != a.URL {
		t.Fatalf("sign-in back: withdraw %q, want %q", w, a.URL)
	}
	a.Status = ipc.StateSignedIn
	if show, w := noteFor(ipc.StateNeedsSignIn, a, notes); show != nil || w != "" {
		t.Fatalf("second server back: %+v %q, want nothing more", show, w)
	}
	plain := ipc.ServerInfo{URL: "https://c.example/mcp", Status: ipc.StateNeedsSignIn}
	if show, _ := noteFor(ipc.StateSignedIn, plain, notes); show == nil || show.URL != plain.URL {
		t.Fatal("a server without a company sign-in lost its notification")
	}
}

// TestAccountAllowed: an account's own items are offered in the states
// where the daemon's answer makes sense: Sign in when it needs one, Make
// default unless it is the default, Sign out unless it is signed out.
func TestAccountAllowed(t *testing.T) {
	for _, c := range []struct {
		a    ipc.AccountInfo
		want accountActions
	}{
		{ipc.AccountInfo{Name: "default", Default: true, Status: ipc.StateSignedIn}, accountActions{signOut: true}},
		{ipc.AccountInfo{Name: "work", Status: ipc.StateSignedIn}, accountActions{makeDefault: true, signOut: true}},
		{ipc.AccountInfo{Name: "work", Status: ipc.StateRefreshing}, accountActions{makeDefault: true, signOut: true}},
		{ipc.AccountInfo{Name: "work", Status: ipc.StateNeedsSignIn}, accountActions{signIn: true, makeDefault: true, signOut: true}},
		{ipc.AccountInfo{Name: "work", Status: ipc.StateError}, accountActions{signIn: true, makeDefault: true, signOut: true}},
		{ipc.AccountInfo{Name: "default", Default: true, Status: ipc.StateSignedOut}, accountActions{signIn: true}},
		{ipc.AccountInfo{Name: "work", Status: ipc.StateSigningIn}, accountActions{makeDefault: true, signOut: true}},
	} {
		if got := accountAllowed(c.a); got != c.want {
			t.Errorf("accountAllowed(%s, default %v) = %+v, want %+v", c.a.Status, c.a.Default, got, c.want)
		}
	}
	for _, c := range []struct {
		s    ipc.ServerInfo
		want bool
	}{
		{ipc.ServerInfo{Status: ipc.StateSignedIn}, true},
		{ipc.ServerInfo{Status: ipc.StateSignedOut}, true},
		{ipc.ServerInfo{Status: ipc.StateSignedIn, Grant: ipc.GrantClientCredentials}, false},
		{ipc.ServerInfo{Status: ipc.StateNeedsSignIn, Grant: ipc.GrantEnterprise}, false},
		{ipc.ServerInfo{Status: ipc.StatePublic}, false},
	} {
		if got := takesAccounts(c.s); got != c.want {
			t.Errorf("takesAccounts(%s, grant %q) = %v, want %v", c.s.Status, c.s.Grant, got, c.want)
		}
	}
}

// TestIdPEntry: a company sign-in's menu line names the IdP's host, the
// user's account there (made safe: the IdP chooses it) and its state; Sign
// in again is offered once the session ended while servers use it, Sign
// out unless it is signed out.
func TestIdPEntry(t *testing.T) {
	on := ipc.IdPInfo{Issuer: "https://acme.okta.com", ClientID: "0oa1", Status: ipc.StateSignedIn, Account: "me@acme.example", Servers: []string{"https://a.example/mcp"}}
	if got, want := idpLabel(on), "Company sign-in at acme.okta.com (me@acme.example) — signed in"; got != want {
		t.Errorf("idpLabel = %q, want %q", got, want)
	}
	ended := on
	ended.Status, ended.Account = ipc.StateNeedsSignIn, "evil\x1b[31m\u202e"
	if got, want := idpLabel(ended), "Company sign-in at acme.okta.com (evil) — needs sign-in"; got != want {
		t.Errorf("idpLabel = %q, want %q", got, want)
	}
	out := ipc.IdPInfo{Issuer: "https://acme.okta.com", Status: ipc.StateSignedOut, Servers: on.Servers}
	lone := out
	lone.Servers = nil
	for _, c := range []struct {
		p    ipc.IdPInfo
		want idpActions
	}{
		{on, idpActions{signOut: true}},
		{ended, idpActions{signIn: true, signOut: true}},
		{out, idpActions{signIn: true}},
		{lone, idpActions{}},
	} {
		if got := idpAllowed(c.p); got != c.want {
			t.Errorf("idpAllowed(%s, %d servers) = %+v, want %+v", c.p.Status, len(c.p.Servers), got, c.want)
		}
	}
}

// TestIdPSignInServer: Sign in again signs in through a server that needs
// it (its sign-in restores the others), else one not already signing in;
// a server the tray does not know, or one signing in, is never picked.
func TestIdPSignInServer(t *testing.T) {
	p := ipc.IdPInfo{Issuer: "https://idp.example", Servers: []string{"https://a.example/mcp", "https://b.example/mcp", "https://c.example/mcp"}}
	srv := func(u string, st ipc.State) ipc.ServerInfo { return ipc.ServerInfo{URL: u, Status: st} }
	for _, c := range []struct {
		servers []ipc.ServerInfo
		want    string
	}{
		{[]ipc.ServerInfo{srv("https://a.example/mcp", ipc.StateSignedIn), srv("https://b.example/mcp", ipc.StateNeedsSignIn), srv("https://c.example/mcp", ipc.StateNeedsSignIn)}, "https://b.example/mcp"},
		{[]ipc.ServerInfo{srv("https://a.example/mcp", ipc.StateSigningIn), srv("https://b.example/mcp", ipc.StateSignedOut), srv("https://c.example/mcp", ipc.StateSignedOut)}, "https://b.example/mcp"},
		{[]ipc.ServerInfo{srv("https://c.example/mcp", ipc.StateSignedOut)}, "https://c.example/mcp"},
		{[]ipc.ServerInfo{srv("https://a.example/mcp", ipc.StateSigningIn), srv("https://other.example/mcp", ipc.StateNeedsSignIn)}, ""},
		{nil, ""},
	} {
		if got := idpSignInServer(p, c.servers); got != c.want {
			t.Errorf("idpSignInServer(%v) = %q, want %q", c.servers, got, c.want)
		}
	}
}

// TestUpsertIdP: an idp event replaces the sign-in of the same issuer and
// client id (a second client at the same issuer is another sign-in), keeps
// the daemon's order, and drops a signed-out one no server uses, as the
// daemon's list does.
func TestUpsertIdP(t *testing.T) {
	b := ipc.IdPInfo{Issuer: "https://b.example", ClientID: "x", Status: ipc.StateSignedIn, Servers: []string{"https://s1/"}}
	a := ipc.IdPInfo{Issuer: "https://a.example", ClientID: "x", Status: ipc.StateSignedIn}
	list := upsertIdP(upsertIdP(nil, b), a)
	if len(list) != 2 || list[0].Issuer != a.Issuer || list[1].Issuer != b.Issuer {
		t.Fatalf("after two sign-ins: %+v", list)
	}
	ended := b
	ended.Status = ipc.StateNeedsSignIn
	got := upsertIdP(list, ended)
	if len(got) != 2 || got[1].Status != ipc.StateNeedsSignIn {
		t.Fatalf("after b ended: %+v", got)
	}
	if list[1].Status != ipc.StateSignedIn {
		t.Fatal("upsertIdP changed the list it was given")
	}
	other := ipc.IdPInfo{Issuer: b.Issuer, ClientID: "y", Status: ipc.StateSignedIn}
	if got = upsertIdP(got, other); len(got) != 3 {
		t.Fatalf("another client id at the same issuer replaced a sign-in: %+v", got)
	}
	out := a
	out.Status = ipc.StateSignedOut
	if got = upsertIdP(got, out); len(got) != 2 || got[0].Issuer != b.Issuer || got[1].ClientID != "y" {
		t.Fatalf("a signed-out sign-in no server uses was kept: %+v", got)
	}
	outUsed := b
	outUsed.Status = ipc.StateSignedOut
	if got := upsertIdP(got, outUsed); len(got) != 2 || got[0].Status != ipc.StateSignedOut {
		t.Fatalf("a signed-out sign-in its servers still use was dropped: %+v", got)
	}
}
