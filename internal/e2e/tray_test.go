package e2e

// The tray (issue 4) read and clicked over D-Bus, as a desktop's panel would:
// the real binary runs with its tray on the test's private session bus
// (scripts/keyring-session.sh inside dbus-run-session); the test reads the
// com.canonical.dbusmenu menu of its org.kde.StatusNotifierItem, reads the
// icon, clicks items, and plays the desktop's notification server
// (org.freedesktop.Notifications) to see and answer the tray's notifications.

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/mcpauthd/mcpauthd/assets"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// menuItem is one com.canonical.dbusmenu item.
type menuItem struct {
	ID       int32
	Label    string
	Enabled  bool
	Children []menuItem
}

// find returns the first item (depth first) whose label starts with prefix.
func (m menuItem) find(prefix string) (menuItem, bool) {
	for _, c := range m.Children {
		if strings.HasPrefix(c.Label, prefix) {
			return c, true
		}
		if f, ok := c.find(prefix); ok {
			return f, true
		}
	}
	return menuItem{}, false
}

// entries are the top-level items with a submenu: one per server.
func (m menuItem) entries() []menuItem {
	var out []menuItem
	for _, c := range m.Children {
		if len(c.Children) > 0 {
			out = append(out, c)
		}
	}
	return out
}

func (m menuItem) String() string {
	var b strings.Builder
	var walk func(menuItem, string)
	walk = func(m menuItem, indent string) {
		for _, c := range m.Children {
			fmt.Fprintf(&b, "%s%d %q enabled=%v\n", indent, c.ID, c.Label, c.Enabled)
			walk(c, indent+"  ")
		}
	}
	walk(m, "")
	return b.String()
}

// toMenuItem decodes a layout node, (ia{sv}av) as godbus delivers it.
func toMenuItem(id int32, props map[string]dbus.Variant, children []dbus.Variant) menuItem {
	m := menuItem{ID: id, Enabled: true}
	if v, ok := props["label"].Value().(string); ok {
		m.Label = v
	}
	if v, ok := props["enabled"].Value().(bool); ok {
		m.Enabled = v
	}
	if v, ok := props["visible"].Value().(bool); ok && !v {
		m.Label = "" // hidden
	}
	for _, c := range children {
		f, ok := c.Value().([]any)
		if !ok || len(f) != 3 {
			continue
		}
		cid, _ := f[0].(int32)
		cp, _ := f[1].(map[string]dbus.Variant)
		cc, _ := f[2].([]dbus.Variant)
		m.Children = append(m.Children, toMenuItem(cid, cp, cc))
	}
	return m
}

// trayUI is the tray of one running daemon, seen from the session bus.
type trayUI struct {
	t    *testing.T
	conn *dbus.Conn
	name string // org.kde.StatusNotifierItem-PID-1
}

func (u *trayUI) menu() menuItem {
	u.t.Helper()
	var (
		rev    uint32
		layout struct {
			ID       int32
			Props    map[string]dbus.Variant
			Children []dbus.Variant
		}
	)
	// systray answers the first GetLayout with depth 1 only (docs
	// TESTING.md §2); the second has the submenus.
	for range 2 {
		err := u.conn.Object(u.name, "/StatusNotifierItem/menu").
			Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{}).Store(&rev, &layout)
		if err != nil {
			u.t.Fatalf("GetLayout: %v", err)
		}
	}
	return toMenuItem(layout.ID, layout.Props, layout.Children)
}

// trayWait bounds each wait for the tray to show something. It is generous
// on purpose: on a loaded CI machine the tray's first connection to its
// daemon (status, app approvals, company sign-ins, the clipboard — each
// bounded at a few seconds) once took longer than 20 s. It asserts no speed.
const trayWait = 60 * time.Second

// waitMenu waits until ok accepts the menu and returns that menu.
func (u *trayUI) waitMenu(what string, ok func(menuItem) bool) menuItem {
	u.t.Helper()
	deadline := time.Now().Add(trayWait)
	for {
		m := u.menu()
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("the tray's menu never showed %s; it is:\n%s", what, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitEntry waits for exactly one server entry whose label contains want.
func (u *trayUI) waitEntry(want string) menuItem {
	u.t.Helper()
	var e menuItem
	u.waitMenu("one server entry with "+want, func(m menuItem) bool {
		es := m.entries()
		if len(es) == 1 && strings.Contains(es[0].Label, want) {
			e = es[0]
			return true
		}
		return false
	})
	return e
}

func (u *trayUI) click(it menuItem) {
	u.t.Helper()
	if !it.Enabled {
		u.t.Fatalf("clicking %q, which is disabled", it.Label)
	}
	err := u.conn.Object(u.name, "/StatusNotifierItem/menu").
		Call("com.canonical.dbusmenu.Event", 0, it.ID, "clicked", dbus.MakeVariant(""), uint32(0)).Err
	if err != nil {
		u.t.Fatalf("click %q: %v", it.Label, err)
	}
}

// waitIcon waits until the icon shows kind (compared by the colour of the
// disc, left of the centre).
func (u *trayUI) waitIcon(kind string) {
	u.t.Helper()
	want, err := png.Decode(bytes.NewReader(assets.TrayIcon(kind, false)))
	if err != nil {
		u.t.Fatal(err)
	}
	x, y := 4, want.Bounds().Dy()/2
	r, g, b, _ := want.At(x, y).RGBA()
	deadline := time.Now().Add(trayWait)
	for {
		v, err := u.conn.Object(u.name, "/StatusNotifierItem").GetProperty("org.kde.StatusNotifierItem.IconPixmap")
		var px []struct {
			W, H int32
			Pix  []byte // ARGB32, network byte order
		}
		if err == nil {
			err = v.Store(&px)
		}
		if err == nil && len(px) == 1 && len(px[0].Pix) == int(4*px[0].W*px[0].H) {
			p := px[0].Pix[4*(y*int(px[0].W)+x):]
			if p[1] == byte(r>>8) && p[2] == byte(g>>8) && p[3] == byte(b>>8) {
				return
			}
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("the tray icon never became %q (err %v)", kind, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// notification is one Notify call the tray made.
type notification struct {
	id      uint32
	summary string
	actions []string
}

// notifications plays org.freedesktop.Notifications on the session bus.
type notifications struct {
	mu     sync.Mutex
	shown  []notification
	closed []uint32
}

func (n *notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string, hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	id := uint32(len(n.shown) + 1)
	n.shown = append(n.shown, notification{id, summary, actions})
	return id, nil
}

func (n *notifications) CloseNotification(id uint32) *dbus.Error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = append(n.closed, id)
	return nil
}

func (n *notifications) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"actions", "body"}, nil
}

func (n *notifications) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "e2e", "mcpauthd", "1", "1.2", nil
}

// signInNotes returns the "Sign in to …" notifications shown so far.
func (n *notifications) signInNotes() []notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []notification
	for _, s := range n.shown {
		if strings.HasPrefix(s.summary, "Sign in to ") {
			out = append(out, s)
		}
	}
	return out
}

func (n *notifications) wasClosed(id uint32) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.closed, id)
}

func notificationServer(t *testing.T, conn *dbus.Conn) *notifications {
	n := &notifications{}
	if err := conn.Export(n, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("cannot own org.freedesktop.Notifications on the test's bus: %v %v", reply, err)
	}
	return n
}

// startWithTray runs the daemon in the foreground with its tray, and
// returns the tray as the session bus shows it and a channel closed when
// the daemon has exited.
func (in *instance) startWithTray(conn *dbus.Conn) (*trayUI, <-chan struct{}) {
	t := in.t
	logPath := filepath.Join(in.dir, "daemon-with-tray.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(in.bin)
	cmd.Env = in.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = ipc.NewClient(in.socket()).Shutdown(context.Background())
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("daemon (with tray) log:\n%s", b)
		}
	})
	u := &trayUI{t: t, conn: conn, name: fmt.Sprintf("org.kde.StatusNotifierItem-%d-1", cmd.Process.Pid)}
	deadline := time.Now().Add(trayWait)
	for {
		var has bool
		if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, u.name).Store(&has); err == nil && has {
			return u, exited
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the daemon exited before its tray showed:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s on the session bus", u.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTray adds a server through the daemon and follows it in the tray's
// menu, icon and notifications: signed in, needs sign-in (one
// notification, whose Sign in action signs in again), Sign out and Remove
// clicked in the menu, then Quit.
func TestTray(t *testing.T) {
	url := tsServer(t)
	in := newInstance(t)
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	notes := notificationServer(t, conn)
	u, exited := in.startWithTray(conn)
	c := ipc.NewClient(in.socket())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	m := u.waitMenu("No servers yet", func(m menuItem) bool { _, ok := m.find("No servers yet"); return ok })
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if add, ok := m.find("Add server…"); !ok || add.Enabled != (st.WebURL != "") {
		t.Fatalf("Add server… should be enabled exactly when the daemon has a web page (%v):\n%s", st.WebURL != "", m)
	}
	if _, ok := m.find("Quit mcpauthd"); !ok {
		t.Fatalf("no Quit item:\n%s", m)
	}
	u.waitIcon(assets.IconOK)

	// Add a server through the daemon; the browser (this test binary)
	// approves at once.
	if _, err := c.Login(ctx, &ipc.LoginRequest{URL: url, Wait: true}); err != nil {
		t.Fatal(err)
	}
	entry := u.waitEntry("signed in · expires in ")
	for _, sub := range []string{"Sign-in: in the browser", "Sign in", "Refresh now", "Copy access token (secret)", "Sign out", "Remove"} {
		if _, ok := entry.find(sub); !ok {
			t.Fatalf("the entry has no %q:\n%s", sub, entry)
		}
	}
	tok, err := c.Token(ctx, url, 0)
	if err != nil {
		t.Fatal(err)
	}

	// Signed out, a sign-in that ends without approval leaves it needing
	// sign-in (a failed sign-in leaves a working one alone): the entry and
	// icon say so, and one notification offers Sign in.
	if _, err := c.Logout(ctx, &ipc.ServerRequest{URL: url}); err != nil {
		t.Fatal(err)
	}
	u.waitEntry("signed out")
	lr, err := c.Login(ctx, &ipc.LoginRequest{URL: url, NoBrowser: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CancelLogin(ctx, lr.ID); err != nil {
		t.Fatal(err)
	}
	u.waitEntry("needs sign-in")
	u.waitIcon(assets.IconAttention)
	deadline := time.Now().Add(10 * time.Second)
	for len(notes.signInNotes()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // room for a second, unwanted one
	shown := notes.signInNotes()
	if len(shown) != 1 || !slices.Contains(shown[0].actions, "sign-in") {
		t.Fatalf("want one sign-in notification with a sign-in action, got %+v", shown)
	}
	// The user picks "Sign in" on it: the tray starts the sign-in, the
	// daemon opens the browser, the notification goes away.
	if err := conn.Emit("/org/freedesktop/Notifications", "org.freedesktop.Notifications.ActionInvoked", shown[0].id, "sign-in"); err != nil {
		t.Fatal(err)
	}
	u.waitEntry("signed in · expires in ")
	u.waitIcon(assets.IconOK)
	if !notes.wasClosed(shown[0].id) {
		t.Fatal("the sign-in notification was not withdrawn after signing in")
	}
	if n := len(notes.signInNotes()); n != 1 {
		t.Fatalf("%d sign-in notifications, want still 1", n)
	}

	// Sign out from the menu.
	signOut, _ := u.waitEntry("signed in").find("Sign out")
	u.click(signOut)
	u.waitEntry("signed out")
	servers, err := c.Servers(ctx)
	if err != nil || len(servers) != 1 || servers[0].Status != ipc.StateSignedOut {
		t.Fatalf("after Sign out the daemon says %+v %v", servers, err)
	}
	if e := u.waitEntry("signed out"); func() bool { it, _ := e.find("Sign out"); return it.Enabled }() {
		t.Fatal("Sign out is still enabled for a signed-out server")
	}

	// Remove it from the menu.
	remove, _ := u.waitEntry("signed out").find("Remove")
	u.click(remove)
	u.waitMenu("No servers yet again", func(m menuItem) bool { _, ok := m.find("No servers yet"); return ok && len(m.entries()) == 0 })
	if servers, err := c.Servers(ctx); err != nil || len(servers) != 0 {
		t.Fatalf("after Remove the daemon says %+v %v", servers, err)
	}

	// Quit stops the daemon.
	quit, _ := u.menu().find("Quit mcpauthd")
	u.click(quit)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatal("Quit did not stop the daemon")
	}
	b, err := os.ReadFile(filepath.Join(in.dir, "daemon-with-tray.log"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(tok.AccessToken)) {
		t.Fatal("the daemon's log holds the access token")
	}
}
