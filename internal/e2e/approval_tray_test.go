package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestTrayApproval: with approval = ask, a waiting request shows in the
// tray's menu (read over D-Bus) with Allow once / Always allow / Deny, and
// as a notification with the same actions. "Always allow" clicked in the
// menu releases it; the decision shows under "App approvals", whose Revoke
// makes the next request ask again; the notification's Allow releases
// that one.
func TestTrayApproval(t *testing.T) {
	a := newFlakyAS(t)
	in := newInstance(t)
	a.signIn(t, in)
	in.restart()
	in.env = append(in.env, "MCPAUTH_APPROVAL=ask")
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	notes := notificationServer(t, conn)
	u, _ := in.startWithTray(conn)
	editor := app(t, "editor-app")

	wait := runApp(t, in, editor, "token", a.url)
	title := "Allow editor-app to use "
	var item menuItem
	u.waitMenu("the pending request", func(m menuItem) bool {
		var ok bool
		item, ok = m.find(title)
		return ok && len(item.Children) == 3
	})
	var labels []string
	for _, c := range item.Children {
		labels = append(labels, c.Label)
	}
	if !slices.Equal(labels, []string{"Allow once", "Always allow", "Deny"}) {
		t.Fatalf("the pending request's actions: %q", labels)
	}
	note := waitNote(t, notes, "Allow editor-app?")
	if !slices.Equal(note.actions, []string{"once", "Allow", "always", "Always", "deny", "Deny"}) {
		t.Errorf("the notification's actions: %q", note.actions)
	}
	u.click(item.Children[1]) // Always allow
	if out, _ := wait(); strings.TrimSpace(out) != "200" {
		t.Fatalf("the request allowed in the tray: %q", out)
	}
	waitFor(t, 20*time.Second, "the notification of the decided request to close", func() bool { return notes.wasClosed(note.id) })

	// The decision is listed; Revoke asks again at the next request.
	var revoke menuItem
	u.waitMenu("the decision under App approvals", func(m menuItem) bool {
		var ok bool
		revoke, ok = m.find("editor-app → ")
		if ok && strings.HasSuffix(revoke.Label, ": always") && len(revoke.Children) == 1 {
			revoke = revoke.Children[0]
			return true
		}
		return false
	})
	u.click(revoke)
	waitFor(t, 20*time.Second, "Revoke in the tray to forget the decision", func() bool {
		var apps ipc.ApprovalApps
		_ = json.Unmarshal([]byte(in.must("apps", "--json")), &apps)
		for _, p := range apps.Apps {
			if p.Decision != "" {
				return false
			}
		}
		return true
	})
	wait = runApp(t, in, editor, "token", a.url)
	u.waitMenu("the next request", func(m menuItem) bool { _, ok := m.find(title); return ok })
	var second notification
	waitFor(t, 20*time.Second, "a notification for the second request", func() bool {
		notes.mu.Lock()
		defer notes.mu.Unlock()
		n := notes.shown[len(notes.shown)-1]
		second = n
		return n.id != note.id && n.summary == "Allow editor-app?"
	})
	if err := conn.Emit("/org/freedesktop/Notifications", "org.freedesktop.Notifications.ActionInvoked", second.id, "once"); err != nil {
		t.Fatal(err)
	}
	if out, _ := wait(); strings.TrimSpace(out) != "200" {
		t.Fatalf("the request allowed from the notification: %q", out)
	}
	u.waitMenu("no pending request", func(m menuItem) bool { _, ok := m.find(title); return !ok })
}

func waitNote(t *testing.T, n *notifications, summary string) notification {
	t.Helper()
	var got notification
	waitFor(t, 20*time.Second, "the notification "+summary, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, s := range n.shown {
			if s.summary == summary {
				got = s
				return true
			}
		}
		return false
	})
	return got
}
