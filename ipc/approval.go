package ipc

import (
	"context"
	"time"
)

// Per-app approval (the approval setting). With approval = "ask", a token
// request from a program that has no decision for the server waits while
// the user is asked (tray, notification, web page, `mcpauthd approve`).

// Approval decisions. DecisionOnce allows the running program (its
// process) until it exits, or, for a sensitive server and an app of the
// reverse proxy, the waiting requests alone; DecisionAlways and
// DecisionDeny are kept for the (app, server) pair until revoked. DecisionTimeout is what an EventApproval reports for a
// pending request nobody decided in time.
const (
	DecisionOnce    = "once"
	DecisionAlways  = "always"
	DecisionDeny    = "deny"
	DecisionTimeout = "timeout"
)

// Approval errors. CodeDenied: the user denied the app this server (the
// request, or the pair until revoked). CodeApprovalPending: nobody
// decided within the wait; Error.ApprovalID names the pending request,
// which `mcpauthd approve ID` still decides for the app's next request.
const (
	CodeDenied          = "denied"
	CodeApprovalPending = "approval_pending"
)

// Approval events.
const (
	// EventApproval: Approval is a new pending request (Decision "") or
	// one that ended (Decision set).
	EventApproval EventType = "approval"
	// EventPolicy: the apps' decisions or the sensitive marks changed
	// (no payload); a view of them should re-read /v1/approval/apps.
	EventPolicy EventType = "policy"
)

// PendingApproval is a token request waiting for the user. App is the
// app's identity as the daemon keys its decisions ("exe:/usr/bin/foo", or
// "key:NAME" for an app of the reverse proxy); Name what a person knows it
// by (its desktop entry's name, else the binary's); Exe its executable.
type PendingApproval struct {
	ID        string    `json:"id"`
	App       string    `json:"app"`
	Name      string    `json:"name"`
	Exe       string    `json:"exe,omitempty"`
	PID       int       `json:"pid,omitempty"`
	Server    string    `json:"server"`
	Sensitive bool      `json:"sensitive,omitempty"` // asked every time: "always" is not offered
	Since     time.Time `json:"since"`
	// Decision is set only in an EventApproval that reports the end.
	Decision string `json:"decision,omitempty"`
}

// DecideRequest answers pending request ID with Decision (DecisionOnce,
// DecisionAlways or DecisionDeny). Account, with "always", is the account
// the app gets for the server from then on ("" the default).
type DecideRequest struct {
	ID       string `json:"id"`
	Decision string `json:"decision"`
	Account  string `json:"account,omitempty"`
}

// AppPolicy is one (app, server) pair: the decision kept for it
// (DecisionAlways, DecisionDeny, or "" when the app only appears in the
// audit log), the account rule, and its use from the audit log.
type AppPolicy struct {
	App       string    `json:"app"`
	Name      string    `json:"name"`
	Server    string    `json:"server"`
	Decision  string    `json:"decision,omitempty"`
	Account   string    `json:"account,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Count     int       `json:"count,omitempty"`
}

// ApprovalApps is /v1/approval/apps: every app pair, the mode, and the
// servers marked sensitive.
type ApprovalApps struct {
	Mode      string      `json:"mode"` // the approval setting: off or ask
	Apps      []AppPolicy `json:"apps"`
	Sensitive []string    `json:"sensitive,omitempty"`
}

// RevokeRequest forgets the decisions of App (its id, name or executable)
// for URL, or for every server when URL is "".
type RevokeRequest struct {
	App string `json:"app"`
	URL string `json:"url,omitempty"`
}

// SensitiveRequest marks URL sensitive (every request asks) or unmarks it.
type SensitiveRequest struct {
	URL       string `json:"url"`
	Sensitive bool   `json:"sensitive"`
}

// Approvals lists the pending requests, oldest first.
func (c *Client) Approvals(ctx context.Context) ([]PendingApproval, error) {
	var out []PendingApproval
	return out, c.do(ctx, "GET", "approval/pending", nil, &out)
}

// Decide answers a pending request: the one step that approves or denies.
func (c *Client) Decide(ctx context.Context, r *DecideRequest) error {
	return c.do(ctx, "POST", "approval/decide", r, nil)
}

// ApprovalApps lists every app with its servers, decisions and use.
func (c *Client) ApprovalApps(ctx context.Context) (*ApprovalApps, error) {
	var out ApprovalApps
	return &out, c.do(ctx, "GET", "approval/apps", nil, &out)
}

// Revoke forgets an app's decisions; its next request asks again.
// It returns how many decisions were forgotten.
func (c *Client) Revoke(ctx context.Context, r *RevokeRequest) (int, error) {
	var out struct {
		Revoked int `json:"revoked"`
	}
	return out.Revoked, c.do(ctx, "POST", "approval/revoke", r, &out)
}

// SetSensitive marks or unmarks a server as sensitive.
func (c *Client) SetSensitive(ctx context.Context, r *SensitiveRequest) error {
	return c.do(ctx, "POST", "approval/sensitive", r, nil)
}
