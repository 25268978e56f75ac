//go:build !darwin || cgo

package tray

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/systray"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// Per-app approval in the tray: one menu item per request waiting for the
// user, with Allow once / Always allow / Deny, a notification with the
// same actions, and an "App approvals" submenu listing the kept decisions
// with Revoke per (app, server). Every action is one ipc call, the same
// the CLI makes.

// applyApproval records an approval event: a new pending request (shown
// and notified) or one that ended (withdrawn). Loop goroutine only.
func (t *tray) applyApproval(ctx context.Context, p *ipc.PendingApproval) {
	if p == nil {
		return
	}
	if p.Decision == "" {
		if _, seen := t.pending[p.ID]; !seen {
			t.notes.approval(*p)
		}
		t.pending[p.ID] = *p
		return
	}
	delete(t.pending, p.ID)
	t.notes.withdrawApproval(p.ID)
	t.loadPolicies(ctx)
}

// loadPolicies reads the kept decisions for the "App approvals" submenu.
func (t *tray) loadPolicies(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := t.cfg.Client.ApprovalApps(ctx)
	if err != nil {
		t.log.Debug("tray: cannot read the app approvals", "err", err)
		return
	}
	t.policies = t.policies[:0]
	for _, a := range res.Apps {
		if a.Decision != "" {
			t.policies = append(t.policies, a)
		}
	}
}

// approvalKey is what the approval part of the menu was built for.
func (t *tray) approvalKey() string {
	var b strings.Builder
	for _, p := range t.sortedPending() {
		b.WriteString(p.ID + "\n")
	}
	b.WriteString("--\n")
	for _, a := range t.policies {
		fmt.Fprintf(&b, "%s\x00%s\x00%s\x00%s\n", a.App, a.Server, a.Decision, a.Name)
	}
	return b.String()
}

func (t *tray) sortedPending() []ipc.PendingApproval {
	out := make([]ipc.PendingApproval, 0, len(t.pending))
	for _, p := range t.pending {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b ipc.PendingApproval) int { return a.Since.Compare(b.Since) })
	return out
}

// approvalTitle is a pending request's menu item.
func approvalTitle(p ipc.PendingApproval) string {
	return fmt.Sprintf("Allow %s to use %s?", p.Name, shorten(p.Server, 48))
}

// buildApprovals adds the pending requests and the "App approvals"
// submenu to the menu being built.
func (t *tray) buildApprovals() {
	pend := t.sortedPending()
	for _, p := range pend {
		id := p.ID
		it := systray.AddMenuItem(approvalTitle(p), "Program: "+p.Exe+"\nRequest "+id)
		t.sub(it, p.Server, "Allow once", "Allow this request (the app, while it runs)", t.decide(id, ipc.DecisionOnce))
		if !p.Sensitive {
			t.sub(it, p.Server, "Always allow", "Allow this app this server from now on", t.decide(id, ipc.DecisionAlways))
		}
		t.sub(it, p.Server, "Deny", "Refuse; the app's later requests are refused too until revoked", t.decide(id, ipc.DecisionDeny))
	}
	if len(t.policies) > 0 {
		apps := systray.AddMenuItem("App approvals", "Programs allowed or denied a server; revoke to be asked again")
		for _, a := range t.policies {
			it := apps.AddSubMenuItem(fmt.Sprintf("%s → %s: %s", a.Name, shorten(a.Server, 40), a.Decision), a.App)
			t.sub(it, a.Server, "Revoke", "Forget this decision: the app's next request asks again", func(ctx context.Context) error {
				_, err := t.cfg.Client.Revoke(ctx, &ipc.RevokeRequest{App: a.App, URL: a.Server})
				return err
			})
		}
	}
	if len(pend) > 0 || len(t.policies) > 0 {
		systray.AddSeparator()
	}
}

// decide is a click that answers pending request id.
func (t *tray) decide(id, decision string) func(context.Context) error {
	return func(ctx context.Context) error {
		return t.cfg.Client.Decide(ctx, &ipc.DecideRequest{ID: id, Decision: decision})
	}
}

// decideFromNotification answers id from a notification's action.
func (t *tray) decideFromNotification(id, decision string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := t.decide(id, decision)(ctx); err != nil {
		t.log.Warn("tray: approval not sent", "id", id, "err", err)
		t.notes.message("mcpauthd: approval failed", err.Error())
	}
}
