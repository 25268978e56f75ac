package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/desktopentry"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// Approval modes: Config.Approval, the approval setting.
const (
	// ApprovalOff hands a token to every program of the user (the
	// behaviour before approvals; the default).
	ApprovalOff = "off"
	// ApprovalAsk makes the first request of a program for a server wait
	// until the user decides (once, always, deny); a server marked
	// sensitive asks on every request.
	ApprovalAsk = "ask"
)

// DefaultApprovalWait is how long a request waits for the user's decision
// before it fails with ipc.CodeApprovalPending, when Config.ApprovalWait
// (the approval_timeout setting) is zero.
const DefaultApprovalWait = 2 * time.Minute

// pendingTTL is how long a pending request can still be decided after its
// first request stopped waiting: a decision then applies to the app's next
// request (the error told the user to run mcpauthd approve ID).
const pendingTTL = 10 * time.Minute

// maxPending bounds the requests waiting at once: past it a new (app,
// server) pair is refused at once instead of adding to the prompts (a
// program copying itself under many names cannot flood the tray).
const maxPending = 64

// selfApp is the identity of the daemon's own process (its tray): the
// user's own clicks, never asked about.
const selfApp = "self"

// pair is one (app, server).
type pair struct{ app, server string }

// run is one running instance (process id) of an app, for a server.
type run struct {
	pair
	pid int
}

// maxRunning bounds approvals.running; past it the oldest passes go
// (all of them: their programs are asked again).
const maxRunning = 4096

// approvals is the daemon's approval state. Lock order: d.mu before
// approvals.mu; nothing publishes an event while holding approvals.mu.
type approvals struct {
	mu        sync.Mutex
	loaded    bool
	decisions map[pair]store.Approval
	sensitive map[string]bool
	pending   map[string]*pending // by id
	byPair    map[pair]*pending
	once      map[pair]time.Time // decided "once" after every waiter left: the next request passes, until then
	running   map[run]bool       // decided "once" for a running program: its requests pass
	names     desktopentry.Index
}

// pending is a request waiting for the user.
type pending struct {
	info     ipc.PendingApproval
	key      pair
	waiters  int
	done     chan struct{} // closed when decided or expired
	decision string        // set before done is closed
	timer    *time.Timer
}

// caller is what the approval policy knows about a request's program.
type caller struct {
	app, name, exe string
	pid            int
}

// appOf identifies the program behind p: an app of the reverse proxy by
// its key's name, a socket caller by the executable the daemon found for
// it (ipc.Identify), the daemon's own process (its tray) as selfApp. A
// caller the OS could not identify is "unknown": all such callers share
// one decision.
func (d *Daemon) appOf(p ipc.Peer) caller {
	switch {
	case p.App != "":
		return caller{app: "key:" + p.App, name: p.App + " (app key)"}
	case p.PID == os.Getpid() && p.Via == "":
		return caller{app: selfApp, name: "mcpauthd", pid: p.PID}
	case p.Program != "":
		return caller{app: "exe:" + p.Program, name: d.appr.names.Name(p.Program), exe: p.Program, pid: p.ProgramPID}
	}
	return caller{app: "unknown", name: "an unidentified program", pid: p.PID}
}

// loadLocked reads the decisions and sensitive marks once; appr.mu is held.
func (d *Daemon) loadApprovalsLocked() error {
	a := &d.appr
	if a.loaded {
		return nil
	}
	list, err := d.st.ListApprovals()
	if err != nil {
		return err
	}
	sens, err := d.st.ListSensitive()
	if err != nil {
		return err
	}
	a.decisions = map[pair]store.Approval{}
	for _, ap := range list {
		a.decisions[pair{ap.App, ap.Server}] = ap
	}
	a.sensitive = map[string]bool{}
	for _, s := range sens {
		a.sensitive[s] = true
	}
	if a.pending == nil {
		a.pending, a.byPair, a.once, a.running = map[string]*pending{}, map[pair]*pending{}, map[pair]time.Time{}, map[run]bool{}
	}
	a.loaded = true
	return nil
}

// accountRule is the account app gets for serverURL by the user's
// decision ("" the default account): the account chosen with "always" in
// the approval prompt, `mcpauthd approve ID --always --account NAME`, or
// DecideRequest.Account. app is the approval identity (caller.app:
// "exe:/path", "key:NAME"). It reads the kept decision only, whatever the
// approval mode; a denied pair has no account.
func (d *Daemon) accountRule(app, serverURL string) string {
	a := &d.appr
	a.mu.Lock()
	defer a.mu.Unlock()
	if d.loadApprovalsLocked() != nil {
		return ""
	}
	if ap, ok := a.decisions[pair{app, serverURL}]; ok && ap.Decision == ipc.DecisionAlways {
		return ap.Account
	}
	return ""
}

// approve lets a request of p for url go ahead (nil) or refuses it,
// asking the user first when the approval mode and the decisions say so:
// the request then waits at most Config.ApprovalWait. It gates what an
// app asks of a server: a token (tokenFor) and a challenge (challenge),
// which may add the server or an account and open a sign-in.
func (d *Daemon) approve(ctx context.Context, url string, p ipc.Peer) error {
	if d.cfg.Approval != ApprovalAsk {
		return nil
	}
	c := d.appOf(p)
	if c.app == selfApp {
		return nil
	}
	key := pair{c.app, url}
	a := &d.appr
	a.mu.Lock()
	if err := d.loadApprovalsLocked(); err != nil {
		a.mu.Unlock()
		return toIPC(url, err)
	}
	sensitive := a.sensitive[url]
	if !sensitive {
		switch a.decisions[key].Decision {
		case ipc.DecisionAlways:
			a.mu.Unlock()
			return nil
		case ipc.DecisionDeny:
			a.mu.Unlock()
			d.audit(store.AuditRecord{Server: url, Action: "denied", PID: p.PID, UID: p.UID, Exe: p.Exe, App: p.App, Via: p.Via, Program: c.exe})
			return errDenied(c, url)
		}
	}
	if !sensitive && c.pid > 0 && a.running[run{key, c.pid}] {
		a.mu.Unlock()
		return nil
	}
	if exp, ok := a.once[key]; ok {
		delete(a.once, key)
		if time.Now().Before(exp) {
			a.mu.Unlock()
			return nil
		}
	}
	pd := a.byPair[key]
	fresh := pd == nil
	if fresh && len(a.pending) >= maxPending {
		a.mu.Unlock()
		return &ipc.Error{Code: ipc.CodeApprovalPending, Message: fmt.Sprintf(
			"%d requests already wait for approval; decide them first (mcpauthd approve lists them), then %s may ask for %s again", maxPending, c.name, url)}
	}
	if fresh {
		pd = &pending{key: key, done: make(chan struct{}), info: ipc.PendingApproval{
			ID: strings.ToLower(rand.Text()[:8]), App: c.app, Name: c.name, Exe: c.exe, PID: c.pid,
			Server: url, Sensitive: sensitive, Since: time.Now(),
		}}
		a.pending[pd.info.ID], a.byPair[key] = pd, pd
		id := pd.info.ID
		pd.timer = time.AfterFunc(d.approvalWait()+pendingTTL, func() { d.endPending(id, ipc.DecisionTimeout) })
	}
	pd.waiters++
	info := pd.info
	a.mu.Unlock()
	if fresh {
		d.log.Info("request waits for approval", "id", info.ID, "app", info.Name, "exe", info.Exe, "server", url)
		d.publish(ipc.Event{Type: ipc.EventApproval, Approval: &info})
	}
	t := time.NewTimer(d.approvalWait())
	defer t.Stop()
	select {
	case <-pd.done:
	case <-t.C:
	case <-ctx.Done():
	}
	a.mu.Lock()
	pd.waiters--
	decision := pd.decision
	a.mu.Unlock()
	switch decision {
	case ipc.DecisionOnce, ipc.DecisionAlways:
		return nil
	case ipc.DecisionDeny:
		return errDenied(c, url)
	}
	if ctx.Err() != nil {
		return toIPC(url, ctx.Err())
	}
	return &ipc.Error{Code: ipc.CodeApprovalPending, ApprovalID: info.ID, Message: fmt.Sprintf(
		"waiting for approval of %s for %s timed out; allow it in the mcpauthd tray or web page, or run: mcpauthd approve %s",
		c.name, url, info.ID)}
}

// approvalWait is how long a request waits for the user's decision.
func (d *Daemon) approvalWait() time.Duration {
	if d.cfg.ApprovalWait > 0 {
		return d.cfg.ApprovalWait
	}
	return DefaultApprovalWait
}

func errDenied(c caller, url string) *ipc.Error {
	return &ipc.Error{Code: ipc.CodeDenied, Message: fmt.Sprintf(
		"you denied %s a token for %s in mcpauthd; to be asked again, run: mcpauthd apps revoke %s %s", c.name, url, c.app, url)}
}

// endPending ends pending request id with decision (nil: it had ended).
func (d *Daemon) endPending(id, decision string) *pending {
	a := &d.appr
	a.mu.Lock()
	pd := a.pending[id]
	if pd == nil {
		a.mu.Unlock()
		return nil
	}
	delete(a.pending, id)
	delete(a.byPair, pd.key)
	pd.timer.Stop()
	pd.decision = decision
	// "Once" is for the running program (its process) until it exits:
	// the many requests of one session ask once. A sensitive server, and
	// an app the OS gives no process for (a reverse proxy key), ask for
	// every request: there "once" is for the requests waiting, or, when
	// none waits any more, for the app's next request.
	switch {
	case decision != ipc.DecisionOnce:
	case !pd.info.Sensitive && pd.info.PID > 0:
		if len(a.running) >= maxRunning {
			clear(a.running)
		}
		a.running[run{pd.key, pd.info.PID}] = true
	case pd.waiters == 0:
		a.once[pd.key] = time.Now().Add(pendingTTL)
	}
	close(pd.done)
	info := pd.info
	info.Decision = decision
	a.mu.Unlock()
	d.publish(ipc.Event{Type: ipc.EventApproval, Approval: &info})
	return pd
}

// PendingApprovals lists the requests waiting for the user, oldest first.
func (d *Daemon) PendingApprovals() []ipc.PendingApproval {
	a := &d.appr
	a.mu.Lock()
	out := make([]ipc.PendingApproval, 0, len(a.pending))
	for _, pd := range a.pending {
		out = append(out, pd.info)
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y ipc.PendingApproval) int { return x.Since.Compare(y.Since) })
	return out
}

// Decide answers a pending request (the one step that approves). by is who
// decides: the program that asked (the same process, found as for its
// request) cannot decide its own request: an app, or an AI agent, that
// runs `mcpauthd approve` after reading the error is refused. Another
// terminal, SSH session or instance of the app can; this is a check on
// programs that follow the error's advice, not a wall against code running
// as the user. "always" and "deny" are kept
// for the (app, server) pair until revoked; "always" is refused for a
// sensitive server, which asks every time. Every decision is audited.
func (d *Daemon) Decide(r *ipc.DecideRequest, by ipc.Peer) error {
	switch r.Decision {
	case ipc.DecisionOnce, ipc.DecisionAlways, ipc.DecisionDeny:
	default:
		return &ipc.Error{Code: ipc.CodeBadRequest, Message: fmt.Sprintf("decision %q: want once, always or deny", r.Decision)}
	}
	if r.Account != "" && r.Decision != ipc.DecisionAlways {
		return &ipc.Error{Code: ipc.CodeBadRequest, Message: "an account is chosen with \"always\" only (mcpauthd approve ID --always --account NAME)"}
	}
	a := &d.appr
	a.mu.Lock()
	pd := a.pending[r.ID]
	var info ipc.PendingApproval
	if pd != nil {
		info = pd.info
	}
	a.mu.Unlock()
	if pd == nil {
		return &ipc.Error{Code: ipc.CodeNotFound, Message: "no pending request " + r.ID + " (decided already, or expired); mcpauthd approve lists the pending ones"}
	}
	if c := d.appOf(by); c.app == info.App && c.pid == info.PID && c.pid > 0 {
		return &ipc.Error{Code: ipc.CodeForbidden, Message: fmt.Sprintf(
			"%s (pid %d) cannot approve its own request: approve it in the tray, its notification, the web page (mcpauthd ui), or a terminal %s did not start", info.Name, info.PID, info.Name)}
	}
	if r.Decision == ipc.DecisionAlways && info.Sensitive {
		return &ipc.Error{Code: ipc.CodeBadRequest, Message: info.Server + " is marked sensitive: every request asks; allow this one once (or unmark it: mcpauthd apps sensitive --off " + info.Server + ")"}
	}
	if r.Decision != ipc.DecisionOnce {
		ap := store.Approval{App: info.App, Server: info.Server, Name: info.Name, Decision: r.Decision, Account: r.Account}
		if err := d.st.PutApproval(&ap); err != nil {
			return toIPC(info.Server, err)
		}
		a.mu.Lock()
		if a.loaded {
			ap.DecidedAt = time.Now()
			a.decisions[pair{ap.App, ap.Server}] = ap
		}
		a.mu.Unlock()
	}
	if d.endPending(r.ID, r.Decision) == nil {
		return &ipc.Error{Code: ipc.CodeNotFound, Message: "no pending request " + r.ID + " (decided meanwhile)"}
	}
	d.log.Info("approval decided", "id", r.ID, "app", info.Name, "exe", info.Exe, "server", info.Server, "decision", r.Decision)
	d.auditDecision(info, "approval_"+r.Decision)
	if r.Decision != ipc.DecisionOnce {
		d.publish(ipc.Event{Type: ipc.EventPolicy})
	}
	return nil
}

func (d *Daemon) auditDecision(info ipc.PendingApproval, action string) {
	rec := store.AuditRecord{Server: info.Server, Action: action, PID: info.PID, UID: os.Getuid(), Program: info.Exe}
	if name, ok := strings.CutPrefix(info.App, "key:"); ok {
		rec.App = name
	}
	d.audit(rec)
}

// auditApp is the approval identity of the program an audit record names.
func auditApp(r store.AuditRecord) string {
	switch {
	case r.App != "":
		return "key:" + r.App
	case r.Program != "":
		return "exe:" + r.Program
	case r.Exe != "":
		return "exe:" + r.Exe // recorded before programs were identified
	}
	return ""
}

// ApprovalApps lists every (app, server) pair with a kept decision or a
// token hand-out in the audit log, with its last use and count.
func (d *Daemon) ApprovalApps() (*ipc.ApprovalApps, error) {
	recs, err := d.st.ListAudit("", 0)
	if err != nil {
		return nil, toIPC("", err)
	}
	a := &d.appr
	a.mu.Lock()
	if err := d.loadApprovalsLocked(); err != nil {
		a.mu.Unlock()
		return nil, toIPC("", err)
	}
	byPair := map[pair]*ipc.AppPolicy{}
	for r := range a.running {
		if !ipc.Running(r.pid) {
			delete(a.running, r) // the program exited: its "once" ended
			continue
		}
		byPair[r.pair] = &ipc.AppPolicy{App: r.app, Server: r.server, Decision: ipc.DecisionOnce}
	}
	for k, ap := range a.decisions {
		byPair[k] = &ipc.AppPolicy{App: ap.App, Name: ap.Name, Server: ap.Server, Decision: ap.Decision, Account: ap.Account, DecidedAt: ap.DecidedAt}
	}
	out := &ipc.ApprovalApps{Mode: d.cfg.Approval}
	for s := range a.sensitive {
		out.Sensitive = append(out.Sensitive, s)
	}
	a.mu.Unlock()
	if out.Mode == "" {
		out.Mode = ApprovalOff
	}
	for _, r := range recs { // newest first
		app := auditApp(r)
		if r.Action != "token" || app == "" {
			continue
		}
		k := pair{app, r.Server}
		p := byPair[k]
		if p == nil {
			p = &ipc.AppPolicy{App: app, Server: r.Server}
			byPair[k] = p
		}
		if p.LastUsed.IsZero() {
			p.LastUsed = r.Time
		}
		p.Count += max(r.Count, 1)
	}
	for _, p := range byPair {
		if exe, ok := strings.CutPrefix(p.App, "exe:"); ok {
			p.Name = d.appr.names.Name(exe)
		} else if p.Name == "" {
			p.Name = strings.TrimPrefix(p.App, "key:") + " (app key)"
		}
		out.Apps = append(out.Apps, *p)
	}
	slices.SortFunc(out.Apps, func(x, y ipc.AppPolicy) int {
		return cmpOr(strings.Compare(strings.ToLower(x.Name), strings.ToLower(y.Name)), strings.Compare(x.App, y.App), strings.Compare(x.Server, y.Server))
	})
	slices.Sort(out.Sensitive)
	return out, nil
}

func cmpOr(v ...int) int {
	for _, x := range v {
		if x != 0 {
			return x
		}
	}
	return 0
}

// matchApp reports whether the approval identity id is what the user
// named: the identity itself, the executable's path or base name, an app
// key's name, or the display name (any case).
func (d *Daemon) matchApp(id, name, want string) bool {
	exe := strings.TrimPrefix(id, "exe:")
	return want == id || want == exe || want == filepath.Base(exe) || want == strings.TrimPrefix(id, "key:") || strings.EqualFold(want, name)
}

// Revoke forgets the decisions of app (see matchApp) for url, or for
// every server when url is "": its next request asks again (or, with
// approval off, is served as before). It answers how many decisions it
// forgot; none is an ipc not_found error. Revocations are audited.
func (d *Daemon) Revoke(app, url string) (int, error) {
	if app == "" {
		return 0, &ipc.Error{Code: ipc.CodeBadRequest, Message: "name the app to revoke (mcpauthd apps lists them)"}
	}
	a := &d.appr
	a.mu.Lock()
	if err := d.loadApprovalsLocked(); err != nil {
		a.mu.Unlock()
		return 0, toIPC(url, err)
	}
	var hit []store.Approval
	for k, ap := range a.decisions {
		if d.matchApp(ap.App, ap.Name, app) && (url == "" || k.server == url) {
			hit = append(hit, ap)
		}
	}
	// "Once" passes go too (they are no kept decision).
	n := 0
	match := func(k pair) bool {
		return (url == "" || k.server == url) && d.matchApp(k.app, a.names.Name(strings.TrimPrefix(k.app, "exe:")), app)
	}
	for r := range a.running {
		if match(r.pair) {
			delete(a.running, r)
			n++
		}
	}
	for k := range a.once {
		if match(k) {
			delete(a.once, k)
			n++
		}
	}
	a.mu.Unlock()
	for _, ap := range hit {
		m, err := d.st.DeleteApprovals(ap.App, ap.Server)
		if err != nil {
			return n, toIPC(url, err)
		}
		a.mu.Lock()
		delete(a.decisions, pair{ap.App, ap.Server})
		a.mu.Unlock()
		n += m
		d.auditDecision(ipc.PendingApproval{App: ap.App, Server: ap.Server, Exe: strings.TrimPrefix(ap.App, "exe:")}, "approval_revoked")
	}
	if n == 0 {
		what := app
		if url != "" {
			what += " for " + url
		}
		return 0, &ipc.Error{Code: ipc.CodeNotFound, Message: "no decision kept for " + what + " (mcpauthd apps lists them)"}
	}
	d.log.Info("app decisions revoked", "app", app, "server", url, "count", n)
	d.publish(ipc.Event{Type: ipc.EventPolicy})
	return n, nil
}

// SetSensitive marks url sensitive (each of its token requests asks, in
// ask mode) or unmarks it.
func (d *Daemon) SetSensitive(url string, sensitive bool) error {
	if !ipc.IsHTTPURL(url) {
		return &ipc.Error{Code: ipc.CodeBadRequest, Message: fmt.Sprintf("%q is not an http(s) URL", url)}
	}
	if err := d.st.SetSensitive(url, sensitive); err != nil {
		return toIPC(url, err)
	}
	a := &d.appr
	a.mu.Lock()
	if a.loaded {
		if sensitive {
			a.sensitive[url] = true
		} else {
			delete(a.sensitive, url)
		}
	}
	a.mu.Unlock()
	d.publish(ipc.Event{Type: ipc.EventPolicy})
	return nil
}
