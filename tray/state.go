package tray

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/assets"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

// This file is the tray's model: pure functions from the daemon's server
// list to what the menu shows, testable on every platform without a tray.

// displayName is the server's display name, else its URL without the
// scheme, made safe to show (sanitize.Label): the server chooses its name.
func displayName(s ipc.ServerInfo) string {
	if n := strings.TrimSpace(sanitize.Label(s.Name)); n != "" {
		return n
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" {
		return sanitize.Label(s.URL)
	}
	return sanitize.Label(u.Host + strings.TrimSuffix(u.EscapedPath(), "/"))
}

// tooltip is a menu entry's tooltip: lines of text, each made safe.
func tooltip(lines ...string) string {
	for i, l := range lines {
		lines[i] = sanitize.Notification(l)
	}
	return strings.Join(lines, "\n")
}

// stateText describes s's state in a few words ("signed in · expires in
// 42 min", "needs sign-in", "error: …") as of now.
func stateText(s ipc.ServerInfo, now time.Time) string {
	switch s.Status {
	case ipc.StateSignedIn:
		if s.TokenExpiry.IsZero() {
			return "signed in"
		}
		if d := s.TokenExpiry.Sub(now); d > 0 {
			return "signed in · expires in " + approx(d)
		}
		return "signed in · token expired"
	case ipc.StateSignedOut:
		return "signed out"
	case ipc.StateSigningIn:
		return "signing in…"
	case ipc.StateRefreshing:
		return "refreshing…"
	case ipc.StateNeedsSignIn:
		return "needs sign-in"
	case ipc.StatePublic:
		return "no sign-in needed"
	case ipc.StateError:
		if s.StatusMessage == "" {
			return "error"
		}
		return "error: " + shorten(sanitize.Text(s.StatusMessage, 0), 48)
	}
	return sanitize.Label(string(s.Status))
}

// approx writes d the way a person would glance at it: "<1 min", "42 min",
// "3 h", "2 days".
func approx(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "<1 min"
	case d < 100*time.Minute:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int((d+30*time.Minute)/time.Hour))
	}
	return fmt.Sprintf("%d days", int((d+12*time.Hour)/(24*time.Hour)))
}

// shorten cuts s to at most n runes, ending in "…" when cut.
func shorten(s string, n int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) <= n {
		return string(r)
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// entryLabel is the label of s's menu entry.
func entryLabel(s ipc.ServerInfo, now time.Time) string {
	return shorten(displayName(s), 40) + " — " + stateText(s, now)
}

// grantNames are the non-interactive grants as the menu names them.
var grantNames = map[string]string{
	ipc.GrantClientCredentials: "client credentials",
	ipc.GrantJWTBearer:         "workload identity",
	ipc.GrantEnterprise:        "company SSO",
}

// signInInfo is the text of s's disabled info item: how its tokens are
// obtained, and whether they are DPoP-bound (usable only through mcpauthd).
func signInInfo(s ipc.ServerInfo) string {
	how := "Sign-in: in the browser"
	if s.Grant != "" {
		name := grantNames[s.Grant]
		if name == "" {
			name = s.Grant
		}
		how = "Sign-in: " + name + " (no browser)"
	}
	if s.IdP != "" {
		how = "Sign-in: company sign-in at " + shorten(sanitizeHost(s.IdP), 60) + " (shared: see its Company sign-in entry)"
	}
	if s.DPoP {
		how += " · DPoP-bound tokens"
	}
	return how
}

// sanitizeHost is the host of an IdP issuer URL (the URL itself when it has
// none), for a menu line.
func sanitizeHost(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		return u.Host
	}
	return issuer
}

// needsUser reports whether s waits for the user (sign in, or look at an error).
func needsUser(s ipc.ServerInfo) bool {
	return s.Status == ipc.StateNeedsSignIn || s.Status == ipc.StateError
}

// overall is the icon for the servers (one of the assets.Icon kinds):
// attention when any needs the user, signing-in while a sign-in runs, else
// ok; offline when the tray is not connected to the daemon.
func overall(servers []ipc.ServerInfo, connected bool) string {
	if !connected {
		return assets.IconOffline
	}
	kind := assets.IconOK
	for _, s := range servers {
		switch {
		case needsUser(s):
			return assets.IconAttention
		case s.Status == ipc.StateSigningIn:
			kind = assets.IconSigningIn
		}
	}
	return kind
}

// summary is the menu's first line (and the icon's tooltip).
func summary(servers []ipc.ServerInfo, connected bool) string {
	if !connected {
		return "mcpauthd: not connected to the daemon"
	}
	var attention, signing int
	for _, s := range servers {
		switch {
		case needsUser(s):
			attention++
		case s.Status == ipc.StateSigningIn:
			signing++
		}
	}
	switch {
	case len(servers) == 0:
		return "mcpauthd: no servers yet"
	case attention == 1:
		return "mcpauthd: 1 server needs you"
	case attention > 1:
		return fmt.Sprintf("mcpauthd: %d servers need you", attention)
	case signing > 0:
		return "mcpauthd: signing in…"
	case len(servers) == 1:
		return "mcpauthd: 1 server, all good"
	}
	return fmt.Sprintf("mcpauthd: %d servers, all good", len(servers))
}

// sorted returns the servers ordered by display name, then URL.
func sorted(m map[string]ipc.ServerInfo) []ipc.ServerInfo {
	out := make([]ipc.ServerInfo, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b ipc.ServerInfo) int {
		if c := strings.Compare(strings.ToLower(displayName(a)), strings.ToLower(displayName(b))); c != 0 {
			return c
		}
		return strings.Compare(a.URL, b.URL)
	})
	return out
}

// serverURL returns text as an MCP server URL when it is one absolute
// http(s) URL (what "Add server from clipboard" accepts).
func serverURL(text string) (string, bool) {
	text = strings.TrimSpace(text)
	if text == "" || strings.ContainsAny(text, " \t\r\n") {
		return "", false
	}
	if !ipc.IsHTTPURL(text) {
		return "", false
	}
	u, _ := url.Parse(text)
	return u.String(), true
}

// actions says which of a server's submenu items make sense in its state.
type actions struct {
	signIn, refresh, copyToken, signOut bool
}

func allowed(s ipc.ServerInfo) actions {
	signedIn := s.Status == ipc.StateSignedIn || s.Status == ipc.StateRefreshing
	return actions{
		signIn:    s.Status != ipc.StateSigningIn && s.Status != ipc.StatePublic,
		refresh:   s.HasRefreshToken && (signedIn || s.Status == ipc.StateError),
		copyToken: signedIn,
		signOut:   s.Status != ipc.StateSignedOut && s.Status != ipc.StatePublic,
	}
}

// accountLabel is the menu line of one of a server's accounts: its name,
// whether it is the default (the one the entry's items act on), its state.
func accountLabel(a ipc.AccountInfo, now time.Time) string {
	name := "Account " + sanitize.Label(a.Name)
	if a.Default {
		name += " (default)"
	}
	return name + ": " + stateText(ipc.ServerInfo{Status: a.Status, StatusMessage: a.StatusMessage, TokenExpiry: a.TokenExpiry}, now)
}

// accountActions says which items of one account's submenu make sense.
type accountActions struct {
	signIn, makeDefault, signOut bool
}

// accountAllowed: Sign in when a needs one (signed out, needs sign-in,
// error), Make default when it is not the default, Sign out unless it is
// signed out (the items act on that account only).
func accountAllowed(a ipc.AccountInfo) accountActions {
	return accountActions{
		signIn:      a.Status == ipc.StateSignedOut || a.Status == ipc.StateNeedsSignIn || a.Status == ipc.StateError,
		makeDefault: !a.Default,
		signOut:     a.Status != ipc.StateSignedOut,
	}
}

// takesAccounts reports whether one can sign in to another account of s:
// a browser sign-in (a non-interactive grant signs in as its client, and
// a public server has no sign-in), as on the web page.
func takesAccounts(s ipc.ServerInfo) bool {
	return s.Grant == "" && s.Status != ipc.StatePublic
}

// idpKey identifies a company sign-in: the IdP's issuer and mcpauthd's
// client id there.
func idpKey(p ipc.IdPInfo) string { return p.Issuer + "\x00" + p.ClientID }

// idpLabel is the menu line of a company sign-in: the IdP's host, the
// user's account there, its state.
func idpLabel(p ipc.IdPInfo) string {
	l := "Company sign-in at " + shorten(sanitizeHost(p.Issuer), 40)
	if a := strings.TrimSpace(sanitize.Label(p.Account)); a != "" {
		l += " (" + shorten(a, 40) + ")"
	}
	return l + " — " + stateText(ipc.ServerInfo{Status: p.Status, StatusMessage: p.StatusMessage}, time.Time{})
}

// idpActions says which items of a company sign-in's submenu make sense.
type idpActions struct {
	signIn, signOut bool
}

// idpAllowed: Sign in again once the session ended (or was signed out)
// while servers still use it; Sign out unless it is signed out.
func idpAllowed(p ipc.IdPInfo) idpActions {
	return idpActions{
		signIn:  (p.Status == ipc.StateNeedsSignIn || p.Status == ipc.StateSignedOut) && len(p.Servers) > 0,
		signOut: p.Status != ipc.StateSignedOut,
	}
}

// idpSignInServer is the server of company sign-in p whose sign-in signs
// in again at the IdP (which restores the others that need it): the first
// that needs a sign-in, else the first not signing in already; "" when
// none. servers are the daemon's servers.
func idpSignInServer(p ipc.IdPInfo, servers []ipc.ServerInfo) string {
	state := map[string]ipc.State{}
	for _, s := range servers {
		state[s.URL] = s.Status
	}
	pick := ""
	for _, u := range p.Servers {
		st, ok := state[u]
		switch {
		case !ok || st == ipc.StateSigningIn:
		case st == ipc.StateNeedsSignIn:
			return u
		case pick == "":
			pick = u
		}
	}
	return pick
}

// upsertIdP returns list with p in place of the company sign-in of the same
// key (added when new), ordered by issuer and client id as the daemon
// orders them; a signed-out one no server uses is dropped, as the daemon
// drops it from its list.
func upsertIdP(list []ipc.IdPInfo, p ipc.IdPInfo) []ipc.IdPInfo {
	list = slices.DeleteFunc(slices.Clone(list), func(q ipc.IdPInfo) bool { return idpKey(q) == idpKey(p) })
	if p.Status != ipc.StateSignedOut || len(p.Servers) > 0 {
		list = append(list, p)
	}
	slices.SortFunc(list, func(a, b ipc.IdPInfo) int {
		return strings.Compare(a.Issuer+" "+a.ClientID, b.Issuer+" "+b.ClientID)
	})
	return list
}

// noteFor decides the "needs sign-in" notification for s, whose previous
// status was prev: the notification to show (nil: none) and the URL whose
// notification to withdraw (""). A server of a company sign-in (s.IdP)
// shares one notification, naming the IdP, with every server of that
// sign-in: idpNote (updated here) keeps, per IdP issuer, the server whose
// notification stands for them all; its Sign in signs in at the IdP once,
// which restores them all.
func noteFor(prev ipc.State, s ipc.ServerInfo, idpNote map[string]string) (show *ipc.ServerInfo, withdraw string) {
	into := s.Status == ipc.StateNeedsSignIn && prev != ipc.StateNeedsSignIn
	out := s.Status != ipc.StateNeedsSignIn && prev == ipc.StateNeedsSignIn
	switch {
	case into && s.IdP != "":
		if idpNote[s.IdP] != "" {
			return nil, ""
		}
		idpNote[s.IdP] = s.URL
		n := s
		n.Name = "your company sign-in at " + sanitizeHost(s.IdP)
		return &n, ""
	case into:
		return &s, ""
	case out && s.IdP != "":
		u := idpNote[s.IdP]
		delete(idpNote, s.IdP)
		return nil, u
	case out:
		return nil, s.URL
	}
	return nil, ""
}
