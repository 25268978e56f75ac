package daemon

import (
	"fmt"
	"slices"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

// SetToolPolicy replaces the tool policy of the known server url (stored
// with its record) and returns the server as it now is. Every reverse-proxy
// request from now on applies it, and running stdio proxies get it from the
// server's event.
func (d *Daemon) SetToolPolicy(url string, p toolpolicy.Policy) (*ipc.ServerInfo, error) {
	if err := p.Check(); err != nil {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: err.Error()}
	}
	s := d.server(url)
	if s == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: fmt.Sprintf("mcpauthd does not know %s; add it first: mcpauthd login %s", url, url)}
	}
	s.mu.Lock()
	rec := s.rec
	rec.ToolPolicy = p
	s.mu.Unlock()
	if err := d.st.PutServer(&rec); err != nil {
		return nil, &ipc.Error{Code: ipc.CodeInternal, Message: "storing the tool policy: " + err.Error()}
	}
	s.setRecord(rec)
	d.log.Info("tool policy changed", "server", url, "policy", p.String())
	info := s.info()
	return &info, nil
}

// ToolPolicy is the tool policy in force for url: the one stored with it
// (none for an unknown server) with Config.DenyTools added.
func (d *Daemon) ToolPolicy(url string) toolpolicy.Policy {
	var p toolpolicy.Policy
	if s := d.server(url); s != nil {
		s.mu.Lock()
		p = s.rec.ToolPolicy
		s.mu.Unlock()
	}
	return p.With(d.cfg.DenyTools...)
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
