package daemon

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

// SetToolPolicy replaces the tool policy of the known server url (stored
// with its record) and returns the server as it now is. Every reverse-proxy
// request from now on applies it, and running stdio proxies get it from the
// server's event.
func (d *Daemon) SetToolPolicy(url string, p toolpolicy.Policy) (*ipc.ServerInfo, error) {
	return d.setToolPolicy(url, "", p, func(rec *store.Server) { rec.ToolPolicy = p })
}

// SetAppToolPolicy replaces app's own tool policy for the known server
// url (an empty p drops it), stored with the server's record, and returns
// the server as it now is. app is what the user names it by: the absolute
// path of its program, an app identity as approvals show it ("exe:/path",
// "key:NAME"), or the name of an app key of the reverse proxy. It applies
// on top of the server's policy to that app's requests from then on
// (ToolPolicyFor); running stdio proxies ask again on the server's event.
func (d *Daemon) SetAppToolPolicy(url, app string, p toolpolicy.Policy) (*ipc.ServerInfo, error) {
	id, err := d.appIdentity(app)
	if err != nil {
		return nil, err
	}
	return d.setToolPolicy(url, id, p, func(rec *store.Server) {
		rec.AppToolPolicies = maps.Clone(rec.AppToolPolicies) // readers hold the old map (toolPolicies)
		if p.IsZero() {
			delete(rec.AppToolPolicies, id)
			return
		}
		if rec.AppToolPolicies == nil {
			rec.AppToolPolicies = map[string]toolpolicy.Policy{}
		}
		rec.AppToolPolicies[id] = p
	})
}

// setToolPolicy checks p (a stored policy holds no app's: that is stored
// apart), lets set put it into a copy of url's record, stores the record
// and tells subscribers. app ("" for the server's own) is for the log.
func (d *Daemon) setToolPolicy(url, app string, p toolpolicy.Policy, set func(*store.Server)) (*ipc.ServerInfo, error) {
	if err := p.Check(); err != nil {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: err.Error()}
	}
	if p.App != nil {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "a stored tool policy cannot hold an app's: set an app's own with its App (mcpauthd tools URL --app APP)"}
	}
	s := d.server(url)
	if s == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: fmt.Sprintf("mcpauthd does not know %s; add it first: mcpauthd login %s", url, url)}
	}
	s.mu.Lock()
	rec := s.rec
	set(&rec)
	s.mu.Unlock()
	if err := d.st.PutServer(&rec); err != nil {
		return nil, &ipc.Error{Code: ipc.CodeInternal, Message: "storing the tool policy: " + err.Error()}
	}
	s.setRecord(rec)
	d.log.Info("tool policy changed", "server", url, "app", app, "policy", p.String())
	info := s.info()
	return &info, nil
}

// appIdentity is the approval identity (caller.app) of an app as the user
// names it for SetAppToolPolicy.
func (d *Daemon) appIdentity(app string) (string, error) {
	id := ipc.AppIdentity(app)
	key, isKey := strings.CutPrefix(id, "key:")
	if !isKey {
		return id, nil
	}
	d.apps.mu.Lock()
	defer d.apps.mu.Unlock()
	if err := d.loadAppsLocked(); err != nil {
		return "", toIPC("", err)
	}
	if d.apps.byName[key] == nil {
		return "", &ipc.Error{Code: ipc.CodeBadRequest, Message: fmt.Sprintf("no app key %q: name an app by the absolute path of its program (as mcpauthd apps shows it) or by an app key of the reverse proxy (mcpauthd app add NAME)", key)}
	}
	return id, nil
}

// appToolPolicies describes rec's per-app policies, sorted by app.
func appToolPolicies(rec *store.Server) []ipc.AppToolPolicy {
	var out []ipc.AppToolPolicy
	for _, id := range slices.Sorted(maps.Keys(rec.AppToolPolicies)) {
		name := strings.TrimPrefix(id, "exe:")
		if k, ok := strings.CutPrefix(id, "key:"); ok {
			name = k + " (app key)"
		}
		out = append(out, ipc.AppToolPolicy{App: id, Name: name, Policy: rec.AppToolPolicies[id]})
	}
	return out
}

// ToolPolicy is the tool policy in force for url: the one stored with it
// (none for an unknown server) with Config.DenyTools added.
func (d *Daemon) ToolPolicy(url string) toolpolicy.Policy {
	p, _ := d.toolPolicies(url)
	return p.With(d.cfg.DenyTools...)
}

// ToolPolicyFor is the tool policy in force for caller's requests to url:
// ToolPolicy with, as its App, the policy of caller's app (identified as
// approvals identify it: the program behind a socket connection, the key
// of a reverse-proxy app), if it has one.
func (d *Daemon) ToolPolicyFor(url string, caller ipc.Peer) toolpolicy.Policy {
	p, apps := d.toolPolicies(url)
	p = p.With(d.cfg.DenyTools...)
	if ap, ok := apps[d.appOf(caller).app]; ok && !ap.IsZero() {
		p.App = &ap
	}
	return p
}

// toolPolicies is url's stored policy and its apps' (none for an unknown
// server). The map is the record's: read it only.
func (d *Daemon) toolPolicies(url string) (toolpolicy.Policy, map[string]toolpolicy.Policy) {
	s := d.server(url)
	if s == nil {
		return toolpolicy.Policy{}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.ToolPolicy, s.rec.AppToolPolicies
}

// DenyTools are the tool patterns refused on every server (the deny_tools
// setting, Config.DenyTools).
func (d *Daemon) DenyTools() []string { return slices.Clone(d.cfg.DenyTools) }

// maxAuditedTool bounds the tool name an audit record keeps: the app
// chooses it.
const maxAuditedTool = 256

// ToolRefused records in the audit log that a proxy refused caller's
// tools/call of tool on url under the tool policy.
func (d *Daemon) ToolRefused(url, tool string, caller ipc.Peer) {
	if len(tool) > maxAuditedTool {
		tool = tool[:maxAuditedTool]
	}
	d.audit(store.AuditRecord{Server: url, Action: "tool_refused", Tool: tool, PID: caller.PID, UID: caller.UID, Exe: caller.Exe, App: caller.App})
}
