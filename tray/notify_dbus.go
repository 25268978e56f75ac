//go:build linux || freebsd || openbsd || netbsd

package tray

import (
	"fmt"
	"html"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/godbus/dbus/v5"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

// Desktop notifications through org.freedesktop.Notifications (the Desktop
// Notifications Specification), on a private session-bus connection.

const (
	notifyName  = "org.freedesktop.Notifications"
	notifyPath  = dbus.ObjectPath("/org/freedesktop/Notifications")
	actionLogin = "sign-in"
	// Approval actions: the action key is the decision (ipc.Decision*).
)

// checkHost fails when there is no session bus: the tray (StatusNotifierItem)
// lives there.
func checkHost() error {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return fmt.Errorf("%w: no D-Bus session bus (%v)", ErrUnavailable, err)
	}
	return conn.Close()
}

// notifier shows the tray's notifications. Its methods are safe for
// concurrent use; without a notification server they only log.
type notifier struct {
	log      *slog.Logger
	conn     *dbus.Conn
	onSignIn func(url string)
	onDecide func(id, decision string)

	mu        sync.Mutex
	ids       map[string]uint32 // server URL → its "needs sign-in" notification
	urls      map[uint32]string
	approvals map[uint32]string // notification → pending approval id
}

// newNotifier connects to the session bus; onSignIn runs (on its own
// goroutine) when the user picks a notification's "Sign in", onDecide when
// they pick Allow, Always or Deny on an approval's.
func newNotifier(log *slog.Logger, onSignIn func(url string), onDecide func(id, decision string)) *notifier {
	n := &notifier{log: log, onSignIn: onSignIn, onDecide: onDecide, ids: map[string]uint32{}, urls: map[uint32]string{}, approvals: map[uint32]string{}}
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		log.Info("no desktop notifications", "err", err)
		return n
	}
	if err := conn.AddMatchSignal(dbus.WithMatchObjectPath(notifyPath), dbus.WithMatchInterface(notifyName)); err != nil {
		log.Info("no desktop notification actions", "err", err)
	}
	ch := make(chan *dbus.Signal, 16)
	conn.Signal(ch)
	go n.signals(ch)
	n.conn = conn
	return n
}

func (n *notifier) signals(ch chan *dbus.Signal) {
	for sig := range ch {
		if len(sig.Body) < 2 {
			continue
		}
		id, _ := sig.Body[0].(uint32)
		switch sig.Name {
		case notifyName + ".ActionInvoked":
			key, _ := sig.Body[1].(string)
			n.mu.Lock()
			url, ok := n.urls[id]
			pid, isApproval := n.approvals[id]
			n.mu.Unlock()
			if ok && (key == actionLogin || key == "default") {
				go n.onSignIn(url)
			}
			switch {
			case !isApproval:
			case key == ipc.DecisionOnce || key == ipc.DecisionAlways || key == ipc.DecisionDeny:
				go n.onDecide(pid, key)
			}
		case notifyName + ".NotificationClosed":
			n.mu.Lock()
			if url, ok := n.urls[id]; ok {
				delete(n.urls, id)
				delete(n.ids, url)
			}
			delete(n.approvals, id)
			n.mu.Unlock()
		}
	}
}

// notify sends one notification, replacing replaces (0: none), and returns
// its id (0 when it could not be shown).
func (n *notifier) notify(replaces uint32, summary, body string, actions []string, urgency byte) uint32 {
	if n.conn == nil {
		return 0
	}
	hints := map[string]dbus.Variant{"urgency": dbus.MakeVariant(urgency)}
	var id uint32
	// Summary and body may hold what a server chose (its name, an
	// error_description): made safe to show, and the body, which may be
	// read as markup, escaped.
	summary, body = sanitize.Label(summary), sanitize.Notification(body)
	err := n.conn.Object(notifyName, notifyPath).Call(notifyName+".Notify", 0,
		"mcpauthd", replaces, "dialog-password", summary, html.EscapeString(body), actions, hints, int32(-1)).Store(&id)
	if err != nil {
		n.log.Debug("notification not shown", "err", err)
		return 0
	}
	return id
}

// needsSignIn tells the user that s needs them to sign in, with a Sign in
// action. The caller calls it once per transition into needs_sign_in.
func (n *notifier) needsSignIn(s ipc.ServerInfo) {
	n.mu.Lock()
	old := n.ids[s.URL]
	n.mu.Unlock()
	body := s.StatusMessage
	if body == "" {
		body = "mcpauthd needs you to sign in again."
	}
	id := n.notify(old, "Sign in to "+displayName(s), body, []string{"default", "Sign in", actionLogin, "Sign in"}, 1)
	if id == 0 {
		return
	}
	n.mu.Lock()
	delete(n.urls, old)
	n.ids[s.URL], n.urls[id] = id, s.URL
	n.mu.Unlock()
}

// withdraw closes url's "needs sign-in" notification, if one is showing.
func (n *notifier) withdraw(url string) {
	n.mu.Lock()
	id, ok := n.ids[url]
	delete(n.ids, url)
	delete(n.urls, id)
	n.mu.Unlock()
	if ok && n.conn != nil {
		_ = n.conn.Object(notifyName, notifyPath).Call(notifyName+".CloseNotification", 0, id).Err
	}
}

// approval asks the user about pending request p, with Allow (once),
// Always (not for a sensitive server) and Deny actions; once per request,
// however often the tray reconnects.
func (n *notifier) approval(p ipc.PendingApproval) {
	n.mu.Lock()
	shown := slices.Contains(slices.Collect(maps.Values(n.approvals)), p.ID)
	n.mu.Unlock()
	if shown {
		return
	}
	actions := []string{ipc.DecisionOnce, "Allow", ipc.DecisionAlways, "Always", ipc.DecisionDeny, "Deny"}
	if p.Sensitive {
		actions = []string{ipc.DecisionOnce, "Allow", ipc.DecisionDeny, "Deny"}
	}
	body := fmt.Sprintf("%s (%s) asks for your token for %s.", p.Name, p.Exe, p.Server)
	id := n.notify(0, "Allow "+p.Name+"?", body, actions, 2)
	if id == 0 {
		return
	}
	n.mu.Lock()
	n.approvals[id] = p.ID
	n.mu.Unlock()
}

// withdrawApproval closes the notification of pending request pid.
func (n *notifier) withdrawApproval(pid string) {
	n.mu.Lock()
	var id uint32
	for k, v := range n.approvals {
		if v == pid {
			id = k
			delete(n.approvals, k)
		}
	}
	n.mu.Unlock()
	if id != 0 && n.conn != nil {
		_ = n.conn.Object(notifyName, notifyPath).Call(notifyName+".CloseNotification", 0, id).Err
	}
}

// message shows a plain notification (a failed action, a copied token).
func (n *notifier) message(summary, body string) {
	n.notify(0, summary, body, []string{}, 1)
}

func (n *notifier) close() {
	if n.conn != nil {
		_ = n.conn.Close()
	}
}
