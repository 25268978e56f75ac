//go:build !(linux || freebsd || openbsd || netbsd)

package tray

import (
	"log/slog"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// checkHost: Windows and macOS always have a notification area.
func checkHost() error { return nil }

// notifier: desktop notifications are only wired up for freedesktop
// desktops so far; elsewhere the tray's icon and menu carry the news, and
// failures go to the log.
type notifier struct{ log *slog.Logger }

func newNotifier(log *slog.Logger, _ func(url string), _ func(id, decision string)) *notifier {
	return &notifier{log: log}
}

func (n *notifier) needsSignIn(ipc.ServerInfo)   {}
func (n *notifier) withdraw(string)              {}
func (n *notifier) approval(ipc.PendingApproval) {}
func (n *notifier) withdrawApproval(string)      {}
func (n *notifier) message(summary, body string) {
	n.log.Info(summary, "detail", body)
}
func (n *notifier) close() {}
