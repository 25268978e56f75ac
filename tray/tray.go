//go:build !darwin || cgo

package tray

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/systray"

	"github.com/mcpauthd/mcpauthd/assets"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
	"github.com/mcpauthd/mcpauthd/webui/webentry"
)

const (
	callTimeout   = 30 * time.Second // one ipc call made for a click
	tokenOnClip   = 45 * time.Second // how long a copied token stays on the clipboard
	backoffFirst  = 250 * time.Millisecond
	backoffLast   = 10 * time.Second
	relabelPeriod = 30 * time.Second // "expires in N min" is redrawn this often while shown
)

// update is one message from the event stream to the menu: an event, or
// the stream's end (lost).
type update struct {
	ev   *ipc.Event
	lost error
}

// tray is the running tray. Everything but cfg, notes, webURL and the
// action goroutines belongs to the loop goroutine.
type tray struct {
	cfg   Config
	log   *slog.Logger
	notes *notifier

	// webURL is the web page's entry URL ("" while unknown): set by the
	// loop, read by clicks too. It carries a secret: never logged.
	webURL atomic.Pointer[string]

	connected bool
	servers   map[string]ipc.ServerInfo
	last      map[string]ipc.State // status last seen per URL (kept across reconnects): notify once per transition
	// idpNote: per company sign-in (IdP issuer), the server whose
	// notification stands for all of its servers: one notification when
	// the company sign-in ends, not one per server.
	idpNote map[string]string
	clipURL string // the server URL on the clipboard, if any
	icon    string
	menuKey string // the server list the menu was built for

	// idps are the company sign-ins (the daemon's /v1/idps, then its idp
	// events); idpsStale: read them again before the next redraw (the
	// tray reconnected, or a server joined or left one).
	idps      []ipc.IdPInfo
	idpsStale bool

	// entries: the servers' entries by URL; idpEntries: the company
	// sign-ins' by idpKey.
	header, empty, add, addClip, dashboard *systray.MenuItem
	entries                                map[string]*entry
	idpEntries                             map[string]*idpEntry
	shown                                  map[*systray.MenuItem][2]string // title and tooltip on the bus
	tooltip                                string

	pending  map[string]ipc.PendingApproval // requests waiting for approval, by id (approval.go)
	policies []ipc.AppPolicy                // kept approval decisions

	appsErr   string            // why the reverse proxy for apps is off (ipc.Status.AppsError)
	appsWarn  *systray.MenuItem // shown while appsErr is set
	warnShown bool              // appsWarn is visible
}

// entry is one server's menu item and its submenu.
type entry struct {
	item, info, signIn, refresh, copyToken, signOut, remove *systray.MenuItem
	// accounts are the server's accounts, each with its state and its own
	// submenu, when it has more than one (the items above act on the
	// default account).
	accounts []*accountEntry
	// another opens the web page to sign in to another account (nil for a
	// server with a non-interactive grant).
	another *systray.MenuItem
}

// accountEntry is one account's item in its server's submenu, and its
// own submenu: items that act on that account only.
type accountEntry struct {
	item, signIn, makeDefault, signOut *systray.MenuItem
}

// idpEntry is one company sign-in's menu item and its submenu.
type idpEntry struct {
	item, signIn, signOut *systray.MenuItem
	servers               []*systray.MenuItem // one per server using it (IdPInfo.Servers), with its state
}

func run(ctx context.Context, cfg Config) error {
	if err := checkHost(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := &tray{cfg: cfg, log: cfg.Log, servers: map[string]ipc.ServerInfo{}, last: map[string]ipc.State{}, pending: map[string]ipc.PendingApproval{}}
	t.notes = newNotifier(t.log, t.signIn, t.decideFromNotification)
	defer t.notes.close()
	go func() {
		<-ctx.Done()
		systray.Quit()
	}()
	systray.Run(func() {
		t.render() // the first menu: GetLayout waits for it
		go t.loop(ctx)
	}, nil)
	return nil
}

// loop applies the daemon's events to the menu until ctx ends.
func (t *tray) loop(ctx context.Context) {
	updates := make(chan update)
	go t.watch(ctx, updates)
	relabel := time.NewTimer(relabelPeriod)
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-updates:
			t.apply(ctx, u)
			for more := true; more; { // a burst (the snapshot after hello) gives one redraw
				select {
				case u := <-updates:
					t.apply(ctx, u)
				default:
					more = false
				}
			}
		case <-relabel.C:
		case <-systray.TrayOpenedCh:
			t.checkClipboard(ctx)
		}
		if t.idpsStale && t.connected {
			t.loadIdPs(ctx)
		}
		t.render()
		relabel.Reset(relabelPeriod)
	}
}

// errLagged ends one subscription of watch: the daemon said the tray fell
// behind (ipc.EventLagged).
var errLagged = errors.New("fell behind the event stream")

// watch follows the daemon's event stream, reconnecting with backoff
// (250 ms doubling to 10 s, reset by every hello) when it ends, and at once
// when the daemon ended it for falling behind.
func (t *tray) watch(ctx context.Context, out chan<- update) {
	backoff := backoffFirst
	send := func(u update) error {
		select {
		case out <- u:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		err := t.cfg.Client.Events(ctx, func(ev ipc.Event) error {
			switch ev.Type {
			case ipc.EventHello:
				backoff = backoffFirst
			case ipc.EventAudit:
				return nil // hand-outs change nothing the menu shows
			case ipc.EventLagged:
				return errLagged
			}
			return send(update{ev: &ev})
		})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errLagged) {
			// The daemon dropped us for reading too slowly; nothing is
			// wrong with it: resubscribe at once (the next hello brings a
			// fresh snapshot).
			t.log.Debug("tray: fell behind the daemon's event stream; resubscribing")
			continue
		}
		if send(update{lost: err}) != nil {
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, backoffLast)
	}
}

func (t *tray) apply(ctx context.Context, u update) {
	if u.lost != nil {
		if t.connected {
			t.log.Warn("tray: lost the daemon's event stream; reconnecting", "err", u.lost)
		}
		t.connected = false
		return
	}
	switch ev := u.ev; ev.Type {
	case ipc.EventHello:
		// A fresh snapshot follows: forget servers removed while away.
		t.connected, t.servers = true, map[string]ipc.ServerInfo{}
		web := ""
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if st, err := t.cfg.Client.Status(sctx); err == nil {
			web = st.WebURL
			if st.AppsError != "" && st.AppsError != t.appsErr {
				t.notes.message("mcpauthd: HTTP apps cannot reach it", st.AppsError)
			}
			t.appsErr = st.AppsError
		}
		t.webURL.Store(&web)
		cancel()
		t.checkClipboard(ctx)
		t.pending = map[string]ipc.PendingApproval{} // the snapshot brings them again
		t.loadPolicies(ctx)
		t.idpsStale = true // the snapshot has no idp events
	case ipc.EventIdP:
		if ev.IdP != nil {
			t.idps = upsertIdP(t.idps, *ev.IdP)
		}
	case ipc.EventApproval:
		t.applyApproval(ctx, ev.Approval)
	case ipc.EventPolicy:
		t.loadPolicies(ctx)
	case ipc.EventServer:
		if ev.Server == nil {
			return
		}
		s := *ev.Server
		if old, ok := t.servers[s.URL]; (ok && old.IdP != s.IdP) || (!ok && s.IdP != "") {
			t.idpsStale = true // its company sign-in's server list changed
		}
		t.servers[s.URL] = s
		prev := t.last[s.URL]
		t.last[s.URL] = s.Status
		if t.idpNote == nil {
			t.idpNote = map[string]string{}
		}
		show, withdraw := noteFor(prev, s, t.idpNote)
		if show != nil {
			t.notes.needsSignIn(*show)
		}
		if withdraw != "" {
			t.notes.withdraw(withdraw)
		}
	case ipc.EventRemoved:
		if ev.Server == nil {
			return
		}
		if t.servers[ev.Server.URL].IdP != "" {
			t.idpsStale = true
		}
		delete(t.servers, ev.Server.URL)
		delete(t.last, ev.Server.URL)
		t.notes.withdraw(ev.Server.URL)
	}
}

// checkClipboard notes whether the clipboard holds a server URL. It runs
// when the menu opens (where the desktop says so) and on each connect.
func (t *tray) checkClipboard(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	t.clipURL = ""
	if text, err := pasteText(ctx); err == nil {
		t.clipURL, _ = serverURL(text)
	}
}

// render brings the icon and menu up to date: the whole menu is rebuilt
// when the server list changed, items are updated in place otherwise.
func (t *tray) render() {
	servers := sorted(t.servers)
	if kind := overall(servers, t.connected); kind != t.icon {
		t.icon = kind
		systray.SetIcon(assets.TrayIcon(kind, runtime.GOOS == "windows"))
	}
	sum := summary(servers, t.connected)
	if sum != t.tooltip {
		t.tooltip = sum
		systray.SetTooltip(sum)
	}
	var key strings.Builder
	for _, s := range servers {
		key.WriteString(s.URL + "\x00" + s.Grant + "\n")
		for _, a := range s.Accounts {
			key.WriteString("\x00" + a.Name) // an account added or gone rebuilds the menu too
		}
	}
	for _, p := range t.idps {
		key.WriteString("\x01" + idpKey(p) + "\x00" + strings.Join(p.Servers, "\x00") + "\n")
	}
	key.WriteString(t.approvalKey())
	if t.header == nil || key.String() != t.menuKey {
		t.build(servers)
		t.menuKey = key.String()
	}
	t.label(t.header, sum, "")
	t.label(t.appsWarn, appsWarning, t.appsErr)
	if show := t.appsErr != ""; show != t.warnShown { // only a change reaches the bus
		t.warnShown = show
		if show {
			t.appsWarn.Show()
		} else {
			t.appsWarn.Hide()
		}
	}
	now := time.Now()
	for _, s := range servers {
		e := t.entries[s.URL]
		tip := tooltip(s.URL)
		if s.StatusMessage != "" {
			tip = tooltip(s.URL, s.StatusMessage)
		}
		t.label(e.item, entryLabel(s, now), tip)
		t.label(e.info, signInInfo(s), "")
		a := allowed(s)
		enable(e.signIn, a.signIn)
		enable(e.refresh, a.refresh)
		enable(e.copyToken, a.copyToken)
		enable(e.signOut, a.signOut)
		for i, ae := range e.accounts {
			acc := s.Accounts[i]
			t.label(ae.item, accountLabel(acc, now), "")
			aa := accountAllowed(acc)
			enable(ae.signIn, aa.signIn)
			enable(ae.makeDefault, aa.makeDefault)
			enable(ae.signOut, aa.signOut)
		}
		if e.another != nil {
			enable(e.another, takesAccounts(s) && t.web() != "" && t.cfg.OpenURL != nil)
		}
	}
	for _, p := range t.idps {
		ie := t.idpEntries[idpKey(p)]
		tip := tooltip(p.Issuer)
		if p.StatusMessage != "" {
			tip = tooltip(p.Issuer, p.StatusMessage)
		}
		t.label(ie.item, idpLabel(p), tip)
		for i, u := range p.Servers {
			line := shorten(u, 60)
			if s, ok := t.servers[u]; ok {
				line = entryLabel(s, now)
			}
			t.label(ie.servers[i], line, tooltip(u))
		}
		a := idpAllowed(p)
		enable(ie.signIn, a.signIn)
		enable(ie.signOut, a.signOut)
	}
	enable(t.add, t.web() != "" && t.cfg.OpenURL != nil)
	enable(t.dashboard, t.web() != "" && t.cfg.OpenURL != nil)
	clip := "Add server from clipboard"
	if t.clipURL != "" {
		clip += ": " + shorten(t.clipURL, 40)
	}
	t.label(t.addClip, clip, "Sign in to the MCP server whose URL is on the clipboard")
	enable(t.addClip, t.clipURL != "" && t.connected)
}

// build makes the menu for servers, in order.
func (t *tray) build(servers []ipc.ServerInfo) {
	systray.ResetMenu()
	t.shown = map[*systray.MenuItem][2]string{}
	t.header = systray.AddMenuItem("mcpauthd", "")
	t.header.Disable()
	t.appsWarn = systray.AddMenuItem(appsWarning, "")
	t.appsWarn.Disable()
	t.warnShown = true
	systray.AddSeparator()
	t.buildApprovals()
	t.entries = map[string]*entry{}
	t.empty = nil
	if len(servers) == 0 {
		t.empty = systray.AddMenuItem("No servers yet", "")
		t.empty.Disable()
	}
	for _, s := range servers {
		url := s.URL
		e := &entry{item: systray.AddMenuItem(displayName(s), tooltip(url))}
		e.info = e.item.AddSubMenuItem(signInInfo(s), "")
		e.info.Disable()
		e.signIn = t.sub(e.item, url, "Sign in", "Sign in again in your browser", func(context.Context) error { t.signIn(url); return nil })
		e.refresh = t.sub(e.item, url, "Refresh now", "Get a fresh access token now", func(ctx context.Context) error {
			_, err := t.cfg.Client.Refresh(ctx, url)
			return err
		})
		e.copyToken = t.sub(e.item, url, "Copy access token (secret)", "A secret: anyone who pastes it can act as you on this server", func(ctx context.Context) error { return t.copyToken(ctx, url) })
		e.item.AddSeparator()
		e.signOut = t.sub(e.item, url, "Sign out", "Revoke and forget the tokens", func(ctx context.Context) error {
			_, err := t.cfg.Client.Logout(ctx, &ipc.ServerRequest{URL: url})
			return err
		})
		e.remove = t.sub(e.item, url, "Remove", "Sign out and forget the server", func(ctx context.Context) error {
			_, err := t.cfg.Client.Logout(ctx, &ipc.ServerRequest{URL: url, Remove: true})
			return err
		})
		t.buildAccounts(e, s)
		t.entries[url] = e
	}
	t.idpEntries = map[string]*idpEntry{}
	for _, p := range t.idps {
		t.idpEntries[idpKey(p)] = t.buildIdP(p)
	}
	systray.AddSeparator()
	t.add = t.top("Add server…", "Add a server on the dashboard", func(context.Context) error { return t.openWeb("#add") })
	t.addClip = t.top("Add server from clipboard", "Sign in to the MCP server whose URL is on the clipboard", t.addFromClipboard)
	t.dashboard = t.top("Open dashboard", "mcpauthd's page in your browser", func(context.Context) error { return t.openWeb("") })
	systray.AddSeparator()
	t.top("Quit mcpauthd", "Stop the daemon: apps get no tokens until it runs again", func(context.Context) error { t.cfg.Quit(); return nil })
}

// buildAccounts adds to e's submenu one item per account of s, when it has
// several, each with a submenu acting on that account (Sign in, Make
// default, Sign out: the calls `mcpauthd login/account default/logout
// --account` make), and "Sign in to another account…" for a browser
// sign-in: an account needs a name, typed on the web page's card.
func (t *tray) buildAccounts(e *entry, s ipc.ServerInfo) {
	url := s.URL
	if len(s.Accounts) > 1 || s.Grant == "" {
		e.item.AddSeparator()
	}
	if len(s.Accounts) > 1 {
		for _, a := range s.Accounts {
			name := a.Name
			ae := &accountEntry{item: e.item.AddSubMenuItem(accountLabel(a, time.Now()), "")}
			ae.signIn = t.sub(ae.item, url, "Sign in", "Sign in to this account again in your browser", func(context.Context) error { t.signInAs(url, name); return nil })
			ae.makeDefault = t.sub(ae.item, url, "Make default", "Requests that name no account get this account's tokens", func(ctx context.Context) error {
				_, err := t.cfg.Client.SetDefaultAccount(ctx, &ipc.ServerRequest{URL: url, Account: name})
				return err
			})
			ae.signOut = t.sub(ae.item, url, "Sign out", "Revoke and forget this account's tokens; the other accounts stay", func(ctx context.Context) error {
				_, err := t.cfg.Client.Logout(ctx, &ipc.ServerRequest{URL: url, Account: name})
				return err
			})
			e.accounts = append(e.accounts, ae)
		}
	}
	if s.Grant == "" {
		e.another = t.sub(e.item, url, "Sign in to another account…", "Opens the dashboard: name the account on this server's card there", func(context.Context) error { return t.openWeb("") })
	}
}

// buildIdP adds company sign-in p's entry: its servers with their state,
// Sign in again (a sign-in to one of its servers signs in at the IdP once
// and restores the others) and Sign out (`mcpauthd logout --idp`: revoked
// at the IdP where it offers revocation, every server of it signed out).
func (t *tray) buildIdP(p ipc.IdPInfo) *idpEntry {
	ie := &idpEntry{item: systray.AddMenuItem(idpLabel(p), tooltip(p.Issuer))}
	for _, u := range p.Servers {
		it := ie.item.AddSubMenuItem(shorten(u, 60), tooltip(u))
		it.Disable()
		ie.servers = append(ie.servers, it)
	}
	ie.item.AddSeparator()
	ie.signIn = t.sub(ie.item, p.Issuer, "Sign in again", "Sign in at the IdP in your browser: its servers get their tokens again", func(ctx context.Context) error {
		servers, err := t.cfg.Client.Servers(ctx)
		if err != nil {
			return err
		}
		u := idpSignInServer(p, servers)
		if u == "" {
			return errors.New("no server of this company sign-in can start a sign-in now; one may be signing in already")
		}
		t.signIn(u)
		return nil
	})
	ie.signOut = t.sub(ie.item, p.Issuer, "Sign out", "Sign out at the IdP and of every server of this company sign-in", func(ctx context.Context) error {
		_, err := t.cfg.Client.LogoutIdP(ctx, &ipc.IdPLogoutRequest{Issuer: p.Issuer, ClientID: p.ClientID})
		return err
	})
	return ie
}

// loadIdPs reads the company sign-ins. Loop goroutine only.
func (t *tray) loadIdPs(ctx context.Context) {
	t.idpsStale = false
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	idps, err := t.cfg.Client.IdPs(ctx)
	if err != nil {
		t.log.Debug("tray: cannot read the company sign-ins", "err", err)
		return
	}
	t.idps = idps
}

// appsWarning is the menu's warning while the reverse proxy for HTTP apps
// is off; its tooltip and `mcpauthd status` say why (who holds the port).
const appsWarning = "⚠ HTTP apps proxy is off (mcpauthd status says why)"

// top adds a top-level item that runs do when clicked.
func (t *tray) top(title, tip string, do func(context.Context) error) *systray.MenuItem {
	it := systray.AddMenuItem(title, tip)
	t.onClick(it, title, "", do)
	return it
}

// sub adds an item for server url to parent's submenu that runs do when
// clicked.
func (t *tray) sub(parent *systray.MenuItem, url, title, tip string, do func(context.Context) error) *systray.MenuItem {
	it := parent.AddSubMenuItem(title, tip)
	t.onClick(it, title, url, do)
	return it
}

// label sets it's title and tooltip; only a change reaches the bus. The
// title is made safe to show here, whatever it was built from.
func (t *tray) label(it *systray.MenuItem, title, tip string) {
	title = sanitize.Text(title, 0)
	if t.shown[it] == [2]string{title, tip} {
		return
	}
	t.shown[it] = [2]string{title, tip}
	it.SetTitle(title)
	it.SetTooltip(tip)
}

// onClick runs do on its own goroutine for every click on it (so a slow
// call never makes the menu drop a click), until the item is removed. A
// failure is logged and shown as a notification.
func (t *tray) onClick(it *systray.MenuItem, title, server string, do func(context.Context) error) {
	go func() {
		for range it.ClickedCh {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				defer cancel()
				if err := do(ctx); err != nil {
					t.log.Warn("tray: action failed", "action", title, "server", server, "err", err)
					t.notes.message("mcpauthd: "+strings.TrimSuffix(title, "…")+" failed", err.Error())
				}
			}()
		}
	}()
}

// signIn starts a sign-in to url's default account; the daemon opens the
// browser.
func (t *tray) signIn(url string) { t.signInAs(url, "") }

// signInAs starts a sign-in to url's account ("": the default account);
// the daemon opens the browser.
func (t *tray) signInAs(url, account string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := t.cfg.Client.Login(ctx, &ipc.LoginRequest{URL: url, Account: account}); err != nil {
		t.log.Warn("tray: sign-in did not start", "server", url, "account", account, "err", err)
		t.notes.message("mcpauthd: sign-in did not start", err.Error())
	}
}

// addFromClipboard signs in to the server whose URL is on the clipboard.
func (t *tray) addFromClipboard(ctx context.Context) error {
	text, err := pasteText(ctx)
	if err != nil {
		return err
	}
	u, ok := serverURL(text)
	if !ok {
		return errors.New("the clipboard holds no http(s) URL")
	}
	t.signIn(u)
	return nil
}

// copyToken puts url's access token on the clipboard and takes it off
// again after tokenOnClip, unless something else was copied meanwhile.
func (t *tray) copyToken(ctx context.Context, url string) error {
	tok, err := t.cfg.Client.Token(ctx, url, 0)
	if err != nil {
		return err
	}
	if err := copyText(ctx, tok.AccessToken); err != nil {
		return err
	}
	t.notes.message("Access token copied", fmt.Sprintf("It is a secret. mcpauthd clears the clipboard in %v.", tokenOnClip))
	time.AfterFunc(tokenOnClip, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if cur, err := pasteText(ctx); err == nil && cur == tok.AccessToken {
			_ = copyText(ctx, "")
		}
	})
	return nil
}

func enable(it *systray.MenuItem, on bool) {
	if on == it.Disabled() { // only a change reaches the bus
		if on {
			it.Enable()
		} else {
			it.Disable()
		}
	}
}

// web returns the web page's entry URL, "" while unknown. Safe from any
// goroutine.
func (t *tray) web() string {
	if p := t.webURL.Load(); p != nil {
		return *p
	}
	return ""
}

// openWeb opens the web page through a one-time link: the browser's command
// line, which every local user can read, never carries the daemon's
// reusable entry secret.
func (t *tray) openWeb(fragment string) error {
	link, err := webentry.OneTime(t.web())
	if err != nil {
		return err
	}
	return t.cfg.OpenURL(link + fragment)
}
