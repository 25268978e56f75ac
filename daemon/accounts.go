package daemon

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// Accounts: a server has its own sign-in — the account called "default"
// (ipc.DefaultAccount), the one every server had before accounts — and any
// number of further named sign-ins. Each further account is a *server of
// its own (account set, parent the server's object) with its own Session,
// tokens, DPoP key, refresh timer and state, stored as an account record
// (store.ListAccounts); what belongs to the server (its name, provider
// settings, tool policy, non-interactive grant) stays with the server's
// object. One account is the default (store.Server.DefaultAccount): the one
// requests get when nothing names another (accountFor).

// primary is the server's object: s itself, or a further account's parent.
func (s *server) primary() *server {
	if p := s.parent.Load(); p != nil {
		return p
	}
	return s
}

// name is the account's name as shown and typed: "default" for the
// server's own sign-in.
func (s *server) name() string {
	if s.account == "" {
		return ipc.DefaultAccount
	}
	return s.account
}

// newAccount makes the object of p's further account rec (rec.Account set)
// and adds it to p. The caller loads it.
func (d *Daemon) newAccount(p *server, rec *store.Server) *server {
	a := d.newServer(rec)
	a.parent.Store(p)
	a.prepareSignIn(true, rec.LoginHint)
	p.mu.Lock()
	if p.accounts == nil {
		p.accounts = map[string]*server{}
	}
	p.accounts[rec.Account] = a
	p.mu.Unlock()
	return a
}

// accountList is p's further accounts, by name.
func (p *server) accountList() []*server {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.SortedFunc(maps.Values(p.accounts), func(a, b *server) int { return strings.Compare(a.account, b.account) })
}

// signIns is p's own sign-in followed by its further accounts.
func (p *server) signIns() []*server { return append([]*server{p}, p.accountList()...) }

// accountNamed is p's sign-in name ("" or "default": p's own), or nil.
func (p *server) accountNamed(name string) *server {
	if name == "" || name == ipc.DefaultAccount {
		return p
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accounts[name]
}

// ensureAccount returns p's sign-in name, adding (and storing) a further
// account when it is new; created says it was.
func (d *Daemon) ensureAccount(p *server, name, loginHint string) (a *server, created bool, err error) {
	if a := p.accountNamed(name); a != nil {
		return a, false, nil
	}
	if err := ipc.CheckAccountName(name); err != nil {
		return nil, false, err
	}
	p.mu.Lock()
	grant := len(p.rec.Grant) > 0
	p.mu.Unlock()
	if grant {
		return nil, false, &ipc.Error{Code: ipc.CodeBadRequest, Message: p.url + " signs in with a non-interactive grant, as its client: it has no further accounts"}
	}
	rec := &store.Server{URL: p.url, Account: name, LoginHint: loginHint, Status: string(ipc.StateSignedOut)}
	if err := d.st.PutServer(rec); err != nil {
		return nil, false, toIPC(p.url, err)
	}
	return d.newAccount(p, rec), true, nil
}

// prepareSignIn sets the sign-in settings of s's next sign-ins: the
// server's provider settings, and, when selectAccount, a request that the
// user choose the identity (prompt=select_account where the authorization
// server supports it: oauth.Authorize), with loginHint as login_hint.
// Account names are labels: never sent.
func (s *server) prepareSignIn(selectAccount bool, loginHint string) {
	p := s.primary()
	p.mu.Lock()
	raw := p.rec.Provider
	p.mu.Unlock()
	var o oauth.Overrides
	if len(raw) > 0 && (json.Unmarshal(raw, &o) != nil || o.Check() != nil) {
		o = oauth.Overrides{} // ignored, and reported, when the server was loaded
	}
	o.SelectAccount, o.LoginHint = selectAccount, loginHint
	s.sess.SetOverrides(&o)
}

// accountFor is the one place that decides which of s's sign-ins a request
// gets, by name ("" is the server's own sign-in):
//
//  1. the account the request names (TokenRequest.Account and the like:
//     `--account` on token, headers, exec and proxy);
//  2. else the account the user chose for the calling program and this
//     server when approving it "always" (accountRule: the approval prompt,
//     `mcpauthd approve ID --always --account A`);
//  3. else, for a request of an app of the local reverse proxy (app: the
//     name its key is registered under), the account the app was added
//     with (`mcpauthd app add NAME --server URL --account A`);
//  4. else the server's default account (store.Server.DefaultAccount).
//
// A named account the server does not have is returned as it is: the
// request then needs a sign-in to it.
func (d *Daemon) accountFor(s *server, requested, app string, caller ipc.Peer) string {
	if requested != "" {
		if requested == ipc.DefaultAccount {
			return ""
		}
		return requested
	}
	if r := d.accountRule(d.appOf(caller).app, s.url); r != "" {
		if r == ipc.DefaultAccount {
			return ""
		}
		return r
	}
	if app != "" {
		if a := d.appAccount(app); a != "" {
			if a == ipc.DefaultAccount {
				return ""
			}
			return a
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.DefaultAccount
}

// signIn is the sign-in of url a request gets (accountFor): nil with a
// needs-sign-in error when url or the account is unknown.
func (d *Daemon) signIn(url, requested, app string, caller ipc.Peer) (*server, error) {
	p := d.server(url)
	if p == nil {
		return nil, errNeedsSignIn(url, "mcpauthd has no sign-in for "+url)
	}
	name := d.accountFor(p, requested, app, caller)
	a := p.accountNamed(name)
	if a == nil {
		e := errNeedsSignIn(url, "mcpauthd has no account "+name+" for "+url)
		e.SignInAccount = name
		return nil, e
	}
	return a, nil
}

// errNeedsSignIn is the "sign in first" answer for s, naming its account.
func (s *server) errNeedsSignIn(why string) *ipc.Error {
	e := errNeedsSignIn(s.url, why)
	e.SignInAccount = s.account
	return e
}

// info describes the server: its own fields, the default account's state
// at the top (as before accounts), and every account in Accounts.
func (s *server) info() ipc.ServerInfo {
	p := s.primary()
	in := p.own()
	p.mu.Lock()
	def := p.rec.DefaultAccount
	p.mu.Unlock()
	in.Account = ipc.DefaultAccount
	in.Accounts = []ipc.AccountInfo{accountInfo(ipc.DefaultAccount, def == "", &in, p)}
	for _, a := range p.accountList() {
		ai := a.own()
		in.Accounts = append(in.Accounts, accountInfo(a.account, def == a.account, &ai, a))
		if def == a.account {
			in.Account = a.account
			in.Status, in.StatusMessage, in.Issuer, in.Registration = ai.Status, ai.StatusMessage, ai.Issuer, ai.Registration
			in.ScopesRequested, in.ScopesGranted, in.TokenExpiry, in.SignedInAt = ai.ScopesRequested, ai.ScopesGranted, ai.TokenExpiry, ai.SignedInAt
			in.HasRefreshToken, in.DPoP, in.Provider = ai.HasRefreshToken, ai.DPoP, ai.Provider
		}
	}
	return in
}

func accountInfo(name string, isDefault bool, in *ipc.ServerInfo, s *server) ipc.AccountInfo {
	s.mu.Lock()
	hint := s.rec.LoginHint
	s.mu.Unlock()
	return ipc.AccountInfo{
		Name: name, Default: isDefault, Status: in.Status, StatusMessage: in.StatusMessage, Issuer: in.Issuer,
		ScopesGranted: in.ScopesGranted, TokenExpiry: in.TokenExpiry, HasRefreshToken: in.HasRefreshToken,
		SignedInAt: in.SignedInAt, DPoP: in.DPoP, LoginHint: hint,
	}
}

// SetDefaultAccount makes r.Account ("default": the server's own sign-in)
// the account of r.URL that requests get when they name none.
func (d *Daemon) SetDefaultAccount(r *ipc.ServerRequest) (*ipc.ServerInfo, error) {
	p := d.server(r.URL)
	if p == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: "unknown server " + r.URL}
	}
	a := p.accountNamed(r.Account)
	if a == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: r.URL + " has no account " + r.Account + " (sign in to it first: mcpauthd login " + r.URL + " --account " + r.Account + ")"}
	}
	if err := d.setDefaultAccount(p, a.account); err != nil {
		return nil, toIPC(r.URL, err)
	}
	return ptr(p.info()), nil
}

// setDefaultAccount stores name ("": the server's own sign-in) as p's
// default account and tells subscribers.
func (d *Daemon) setDefaultAccount(p *server, name string) error {
	p.mu.Lock()
	rec := p.rec
	p.mu.Unlock()
	rec.DefaultAccount = name
	if err := d.st.PutServer(&rec); err != nil {
		return err
	}
	p.mu.Lock()
	p.rec.DefaultAccount = name
	p.mu.Unlock()
	d.publish(ipc.Event{Type: ipc.EventServer, Server: ptr(p.info())})
	return nil
}

// dropAccount forgets p's further account a (its record and tokens: signed
// out already); the default falls back to the server's own sign-in when it
// was a.
func (d *Daemon) dropAccount(p, a *server) error {
	a.stopTimer()
	if err := d.st.DeleteAccount(p.url, a.account); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	p.mu.Lock()
	if p.accounts[a.account] == a {
		delete(p.accounts, a.account)
	}
	wasDefault := p.rec.DefaultAccount == a.account
	p.mu.Unlock()
	if wasDefault {
		return d.setDefaultAccount(p, "")
	}
	d.publish(ipc.Event{Type: ipc.EventServer, Server: ptr(p.info())})
	return nil
}

// allSignIns is every sign-in of every server.
func (d *Daemon) allSignIns() []*server {
	d.mu.Lock()
	list := slices.Collect(maps.Values(d.servers))
	d.mu.Unlock()
	var out []*server
	for _, p := range list {
		out = append(out, p.signIns()...)
	}
	return out
}
