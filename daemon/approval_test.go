package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func approvalErr(t *testing.T, err error, code string) *ipc.Error {
	t.Helper()
	var e *ipc.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
	return e
}

// fakePID is above Linux's largest pid (4194304), so a made-up peer's pid
// is never this test process's own: the gate lets the daemon's own process
// through unasked, and a collision once made a request pass in CI.
const fakePID = 1 << 22

// The gate of ask mode, with the server not signed in: a request that
// passes the gate fails with needs_sign_in, one that does not with the
// approval's own error.
func TestApprovalGate(t *testing.T) {
	d := newEventsDaemon(t, 2)
	d.cfg.Approval = ApprovalAsk
	d.cfg.ApprovalWait = 50 * time.Millisecond // how long each request here waits; nothing is timed
	url, sens := "https://s0000.example/mcp", "https://s0001.example/mcp"
	ctx := context.Background()
	editor := ipc.Peer{UID: os.Getuid(), PID: fakePID + 4242, Exe: "/usr/bin/mcpauthd", Program: "/opt/editor/editor", ProgramPID: 4000}
	user := ipc.Peer{UID: os.Getuid(), PID: fakePID + 5000, Program: "/usr/bin/bash-less-terminal"}
	events := d.Subscribe()
	defer d.Unsubscribe(events)
	for range 2 {
		<-events // the snapshot
	}

	// Nobody decides: the request fails naming the pending request, which stays.
	_, err := d.Token(ctx, url, 0, editor)
	e := approvalErr(t, err, ipc.CodeApprovalPending)
	if e.ApprovalID == "" || !strings.Contains(e.Message, "mcpauthd approve "+e.ApprovalID) || !strings.Contains(e.Message, "editor") {
		t.Fatalf("timeout error %+v: want the ID, the command and the app", e)
	}
	ev := <-events
	if ev.Type != ipc.EventApproval || ev.Approval.ID != e.ApprovalID || ev.Approval.Exe != "/opt/editor/editor" || ev.Approval.Decision != "" {
		t.Fatalf("event %+v, want the new pending request", ev)
	}
	if p := d.PendingApprovals(); len(p) != 1 || p[0].ID != e.ApprovalID || p[0].Server != url {
		t.Fatalf("pending = %+v", p)
	}
	// A second request of the same app for the same server joins it.
	_, err = d.Token(ctx, url, 0, editor)
	if e2 := approvalErr(t, err, ipc.CodeApprovalPending); e2.ApprovalID != e.ApprovalID {
		t.Errorf("a second request made a second pending request %s", e2.ApprovalID)
	}

	// The app cannot approve itself (running mcpauthd approve, say): the
	// decider is found as the request's program was, through mcpauthd
	// and the shell, to the same process.
	self := ipc.Peer{UID: os.Getuid(), PID: fakePID + 4343, Exe: "/usr/bin/mcpauthd", Program: "/opt/editor/editor", ProgramPID: 4000}
	if err := d.Decide(&ipc.DecideRequest{ID: e.ApprovalID, Decision: ipc.DecisionOnce}, self); err == nil || !strings.Contains(err.Error(), "cannot approve its own request") {
		t.Fatalf("an app approving its own request: %v", err)
	}
	// Approved once after the request gave up: that running app (its
	// process) passes from then on; another instance of it asks again.
	if err := d.Decide(&ipc.DecideRequest{ID: e.ApprovalID, Decision: ipc.DecisionOnce}, user); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.Type != ipc.EventApproval || ev.Approval.Decision != ipc.DecisionOnce {
		t.Fatalf("event %+v, want the decision", ev)
	}
	for range 2 {
		_, err = d.Token(ctx, url, 0, editor)
		approvalErr(t, err, ipc.CodeNeedsSignIn)
	}
	editor2 := editor
	editor2.ProgramPID = 4001
	_, err = d.Token(ctx, url, 0, editor2)
	e = approvalErr(t, err, ipc.CodeApprovalPending)
	// Revoking takes the running instance's pass at once.
	if n, err := d.Revoke("/opt/editor/editor", url); err != nil || n != 1 {
		t.Fatalf("Revoke of the running app's pass = %d, %v", n, err)
	}
	_, err = d.Token(ctx, url, 0, editor)
	if e2 := approvalErr(t, err, ipc.CodeApprovalPending); e2.ApprovalID != e.ApprovalID {
		t.Errorf("after revocation the running app joined request %s, want %s", e2.ApprovalID, e.ApprovalID)
	}

	// Always, with an account: kept, and the account rule answers it.
	if err := d.Decide(&ipc.DecideRequest{ID: e.ApprovalID, Decision: ipc.DecisionOnce, Account: "work"}, user); err == nil {
		t.Error("an account with \"once\" was accepted")
	}
	if err := d.Decide(&ipc.DecideRequest{ID: e.ApprovalID, Decision: ipc.DecisionAlways, Account: "work"}, user); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, err = d.Token(ctx, url, 0, editor)
		approvalErr(t, err, ipc.CodeNeedsSignIn)
	}
	if got := d.accountRule("exe:/opt/editor/editor", url); got != "work" {
		t.Errorf("accountRule = %q, want work", got)
	}
	if err := d.Decide(&ipc.DecideRequest{ID: e.ApprovalID, Decision: ipc.DecisionOnce}, user); err == nil {
		t.Error("a decided request was decided again")
	}

	// A sensitive server asks every time, whatever was decided, and
	// refuses "always".
	if err := d.SetSensitive(sens, true); err != nil {
		t.Fatal(err)
	}
	_, err = d.Token(ctx, sens, 0, editor)
	e = approvalErr(t, err, ipc.CodeApprovalPending)
	if err := d.Decide(&ipc.DecideRequest{ID: e.ApprovalID, Decision: ipc.DecisionAlways}, user); err == nil {
		t.Error("\"always\" was accepted for a sensitive server")
	}
	if err := d.Decide(&ipc.DecideRequest{ID: e.ApprovalID, Decision: ipc.DecisionDeny}, user); err != nil {
		t.Fatal(err)
	}
	if err := d.SetSensitive(sens, false); err != nil {
		t.Fatal(err)
	}
	// Denied: refused at once from then on, until revoked.
	_, err = d.Token(ctx, sens, 0, editor)
	approvalErr(t, err, ipc.CodeDenied)
	if n, err := d.Revoke("editor", sens); err != nil || n != 1 {
		t.Fatalf("Revoke = %d, %v", n, err)
	}
	_, err = d.Token(ctx, sens, 0, editor)
	approvalErr(t, err, ipc.CodeApprovalPending)
	if _, err := d.Revoke("nobody", ""); err == nil {
		t.Error("revoking an app without decisions succeeded")
	}

	// At most maxPending requests wait; past that a new pair is refused
	// at once, without a prompt.
	for i := len(d.PendingApprovals()); i < maxPending; i++ {
		p := ipc.Peer{UID: os.Getuid(), PID: fakePID + 9000 + i, Program: fmt.Sprintf("/tmp/copy%d", i), ProgramPID: 9000 + i}
		_, err = d.Token(ctx, url, 0, p)
		approvalErr(t, err, ipc.CodeApprovalPending)
	}
	_, err = d.Token(ctx, url, 0, ipc.Peer{UID: os.Getuid(), PID: fakePID + 8999, Program: "/tmp/one-more", ProgramPID: 8999})
	if e := approvalErr(t, err, ipc.CodeApprovalPending); e.ApprovalID != "" || len(d.PendingApprovals()) != maxPending {
		t.Errorf("request past the limit: %+v, %d pending", e, len(d.PendingApprovals()))
	}

	// The daemon's own process (its tray) is never asked; off asks nobody.
	_, err = d.Token(ctx, url, 0, ipc.Peer{UID: os.Getuid(), PID: os.Getpid()})
	approvalErr(t, err, ipc.CodeNeedsSignIn)
	d.cfg.Approval = ApprovalOff
	_, err = d.Token(ctx, sens, 0, ipc.Peer{UID: os.Getuid(), PID: fakePID + 77, Program: "/usr/bin/new"})
	approvalErr(t, err, ipc.CodeNeedsSignIn)
}

// TestApprovalGateChallenge: in ask mode an app's challenge (a 401 or
// step-up it reports, which can add a server or an account and open a
// sign-in) passes the approval gate as its token requests do, before
// anything is added and before the account is picked; the daemon's own
// challenges and its own process are never asked.
func TestApprovalGateChallenge(t *testing.T) {
	d := newEventsDaemon(t, 1)
	d.cfg.Approval = ApprovalAsk
	d.cfg.ApprovalWait = 50 * time.Millisecond // how long each request here waits; nothing is timed
	known, fresh, other := "https://s0000.example/mcp", "https://new.example/mcp", "https://other.example/mcp"
	ctx := context.Background()
	editor := ipc.Peer{UID: os.Getuid(), PID: fakePID + 4242, Exe: "/usr/bin/mcpauthd", Program: "/opt/editor/editor", ProgramPID: 4000}
	user := ipc.Peer{UID: os.Getuid(), PID: fakePID + 5000, Program: "/usr/bin/terminal"}
	challenge := func(p ipc.Peer, url, account string, status int) error {
		return d.For(p).Challenge(ctx, &ipc.ChallengeRequest{URL: url, Account: account, Status: status})
	}

	// Unknown: the 401 of a new server waits, and adds nothing.
	e := approvalErr(t, challenge(editor, fresh, "", http.StatusUnauthorized), ipc.CodeApprovalPending)
	if e.ApprovalID == "" || !strings.Contains(e.Message, "mcpauthd approve "+e.ApprovalID) {
		t.Fatalf("timeout error %+v: want the ID and the command", e)
	}
	if d.server(fresh) != nil {
		t.Fatal("an unapproved app's 401 added the server")
	}
	// Denied: refused at once with the documented error, still nothing added.
	if err := d.Decide(&ipc.DecideRequest{ID: e.ApprovalID, Decision: ipc.DecisionDeny}, user); err != nil {
		t.Fatal(err)
	}
	e = approvalErr(t, challenge(editor, fresh, "", http.StatusUnauthorized), ipc.CodeDenied)
	if !strings.Contains(e.Message, "you denied editor a token for "+fresh) || d.server(fresh) != nil {
		t.Fatalf("denied challenge: %+v, server added: %v", e, d.server(fresh) != nil)
	}
	// A 401 naming a further account waits too: the account is not added.
	e = approvalErr(t, challenge(editor, known, "work", http.StatusUnauthorized), ipc.CodeApprovalPending)
	if d.server(known).accountNamed("work") != nil {
		t.Fatal("an unapproved app's 401 added an account")
	}
	// "Always" with an account, decided after the request gave up: the
	// next challenge passes and concerns that account (picked after the gate).
	if err := d.Decide(&ipc.DecideRequest{ID: e.ApprovalID, Decision: ipc.DecisionAlways, Account: "work"}, user); err != nil {
		t.Fatal(err)
	}
	if e = approvalErr(t, challenge(editor, known, "", http.StatusForbidden), ipc.CodeNeedsSignIn); e.SignInAccount != "work" {
		t.Errorf("the approved app's challenge concerns account %q, want work", e.SignInAccount)
	}

	// Never asked: the daemon's own challenges, and its process (the tray).
	n := len(d.PendingApprovals())
	approvalErr(t, d.Challenge(ctx, &ipc.ChallengeRequest{URL: other, Status: http.StatusForbidden}), ipc.CodeNeedsSignIn)
	approvalErr(t, challenge(ipc.Peer{UID: os.Getuid(), PID: os.Getpid()}, other, "", http.StatusForbidden), ipc.CodeNeedsSignIn)
	if got := len(d.PendingApprovals()); got != n {
		t.Errorf("the daemon's own challenges made %d requests wait", got-n)
	}
	// A new app is asked for it; with approval off, nobody is.
	approvalErr(t, challenge(ipc.Peer{UID: os.Getuid(), PID: fakePID + 77, Program: "/usr/bin/new"}, other, "", http.StatusForbidden), ipc.CodeApprovalPending)
	d.cfg.Approval = ApprovalOff
	approvalErr(t, challenge(ipc.Peer{UID: os.Getuid(), PID: fakePID + 78, Program: "/usr/bin/newer"}, other, "", http.StatusForbidden), ipc.CodeNeedsSignIn)
}
