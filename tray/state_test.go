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
