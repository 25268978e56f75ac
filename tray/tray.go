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

	header, empty, add, addClip, dashboard *systray.MenuItem
	entries                                map[string]*entry
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
	case ipc.EventApproval:
		t.applyApproval(ctx, ev.Approval)
	case ipc.EventPolicy:
		t.loadPolicies(ctx)
	case ipc.EventServer:
		if ev.Server == nil {
			return
		}
		s := *ev.Server
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
		key.WriteString(s.URL + "\n")
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
		e.signOut = t.sub(e.item, url, "Sign out", "Revoke and forget the tokens", func(ctx context.Context) error { _, err := t.cfg.Client.Logout(ctx, url, false); return err })
		e.remove = t.sub(e.item, url, "Remove", "Sign out and forget the server", func(ctx context.Context) error { _, err := t.cfg.Client.Logout(ctx, url, true); return err })
		t.entries[url] = e
	}
	systray.AddSeparator()
	t.add = t.top("Add server…", "Add a server on the dashboard", func(context.Context) error { return t.openWeb("#add") })
	t.addClip = t.top("Add server from clipboard", "Sign in to the MCP server whose URL is on the clipboard", t.addFromClipboard)
	t.dashboard = t.top("Open dashboard", "mcpauthd's page in your browser", func(context.Context) error { return t.openWeb("") })
	systray.AddSeparator()
	t.top("Quit mcpauthd", "Stop the daemon: apps get no tokens until it runs again", func(context.Context) error { t.cfg.Quit(); return nil })
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

// signIn starts a sign-in to url; the daemon opens the browser.
func (t *tray) signIn(url string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := t.cfg.Client.Login(ctx, &ipc.LoginRequest{URL: url}); err != nil {
		t.log.Warn("tray: sign-in did not start", "server", url, "err", err)
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
