package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// server is one MCP server the daemon knows — or one further sign-in
// (account) of it, see accounts.go. Its token state and policies live in
// the engine's Session (which serialises refreshes); the record shown to
// users lives in rec, guarded by mu.
type server struct {
	d    *Daemon
	url  string
	sess *oauth.Session
	// account is the name of the further sign-in this is ("" for the
	// server itself, whose own sign-in is the account "default"); parent
	// is then the server's object (nil for the server itself).
	account string
	parent  atomic.Pointer[server]

	mu      sync.Mutex
	rec     store.Server
	timer   *time.Timer
	retries int // consecutive failed background refreshes
	// Facts about the grant, kept here because save runs under the session's
	// lock and must not call back into the session.
	lastMD     *oauth.Metadata
	hasRefresh bool
	regMethod  string
	dpop       bool // the current token is DPoP-bound
	// loadErr is why the stored sign-in could not be read at start-up (the
	// keyring unavailable, say): reported to callers instead of a plain
	// "not signed in", which would send them to a login that cannot work.
	loadErr error
	// accounts are the server's further sign-ins, by name (only on the
	// server itself).
	accounts map[string]*server
}

func (d *Daemon) newServer(rec *store.Server) *server {
	s := &server{d: d, url: rec.URL, rec: *rec, account: rec.Account}
	s.sess = oauth.NewSession(d.flow, rec.URL, nil)
	s.sess.Save = s.save
	s.sess.Browser = d.browse(s)
	s.sess.Device = devicePresenter{s}
	if rec.Status == "" {
		s.rec.Status = string(ipc.StateSignedOut)
	}
	if len(rec.Provider) > 0 {
		var o oauth.Overrides
		if err := json.Unmarshal(rec.Provider, &o); err != nil || o.Check() != nil {
			d.log.Warn("ignoring unreadable provider settings", "server", rec.URL)
		} else {
			s.sess.SetOverrides(&o)
		}
	}
	return s
}

// overridesFrom is the engine's form of the API's provider settings.
func overridesFrom(p *ipc.ProviderOverrides) *oauth.Overrides {
	return &oauth.Overrides{Quirk: p.Provider, AuthParams: p.AuthorizeParams, Resource: p.Resource,
		UseIDToken: p.UseIDToken, TokenAuthMethod: p.TokenAuthMethod, Scopes: p.Scopes}
}

// setOverrides checks o and makes it the server's provider settings, for
// the sign-ins that start after it returns; they are stored with the
// server record by the next write of it.
func (s *server) setOverrides(o *oauth.Overrides) error {
	if err := o.Check(); err != nil {
		return &ipc.Error{Code: ipc.CodeBadRequest, Message: s.url + ": " + err.Error()}
	}
	raw, err := json.Marshal(o)
	if err != nil {
		return err
	}
	s.sess.SetOverrides(o)
	s.mu.Lock()
	s.rec.Provider = raw
	s.mu.Unlock()
	return nil
}

// load rebuilds the session's grant from the store, and its Strategy when
// the server has a non-interactive grant: then the client identity is the
// grant's own (not the issuer's stored registration), and an expired token
// is re-acquired with the strategy on first use.
func (s *server) load() error {
	s.mu.Lock()
	rec := s.rec
	s.mu.Unlock()
	var strategy oauth.Strategy
	if len(rec.Grant) > 0 {
		gc, err := grantOf(rec.Grant)
		if err != nil {
			return err
		}
		if strategy, err = s.d.loadStrategy(rec.URL, gc); err != nil {
			return err
		}
	}
	if rec.Public {
		s.sess.Restore(&oauth.Grant{Public: true}, strategy)
		return nil
	}
	if len(rec.Discovery) == 0 {
		s.sess.Restore(nil, strategy)
		return nil
	}
	var md oauth.Metadata
	if err := json.Unmarshal(rec.Discovery, &md); err != nil {
		return err
	}
	tok, err := s.d.st.GetTokensOf(rec.URL, rec.Account)
	if errors.Is(err, store.ErrNotFound) {
		s.sess.Restore(nil, strategy)
		return nil
	}
	if err != nil {
		return err
	}
	var reg *oauth.Registration
	switch {
	case strategy != nil:
		reg = strategy.Registration(&md)
	case tok.Client != nil:
		reg = importedRegistration(tok.Client)
	default:
		if reg, err = (registrations{st: s.d.st}).LoadRegistration(context.Background(), md.Issuer); err != nil {
			return err
		}
	}
	if reg == nil {
		return errors.New("the client registration for " + md.Issuer + " is missing")
	}
	var key *oauth.DPoPKey
	if len(tok.DPoPKey) > 0 {
		if key, err = oauth.ParseDPoPKey(tok.DPoPKey); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.lastMD, s.hasRefresh, s.regMethod = &md, tok.RefreshToken != "", reg.Method
	s.dpop = key != nil && tok.TokenType == oauth.DPoPScheme
	s.mu.Unlock()
	s.sess.Restore(&oauth.Grant{
		Metadata:     &md,
		Registration: reg,
		Requested:    rec.ScopesRequested,
		Token: &oauth.Token{
			AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.TokenType,
			IDToken: tok.IDToken, Expiry: tok.Expiry, Obtained: tok.Obtained, Scopes: tok.Scopes,
		},
		DPoPKey: key,
	}, strategy)
	return nil
}

// save is the session's persistence hook: it commits the server record and
// the tokens in one transaction, before the session hands the token out.
func (s *server) save(_ context.Context, g *oauth.Grant) error {
	s.mu.Lock()
	rec := s.rec
	s.mu.Unlock()
	now := time.Now()
	if g.Public {
		rec.Public = true
		rec.Status, rec.StatusMessage = string(ipc.StatePublic), ""
		if err := s.d.st.PutServer(&rec); err != nil {
			return err
		}
		s.setRecord(rec)
		return nil
	}
	md, err := json.Marshal(g.Metadata)
	if err != nil {
		return err
	}
	s.mu.Lock()
	rec.ToolPolicy = s.rec.ToolPolicy // set meanwhile (SetToolPolicy): keep it
	rec.AppToolPolicies = s.rec.AppToolPolicies
	rec.DefaultAccount = s.rec.DefaultAccount // likewise (SetDefaultAccount)
	if g.Metadata != s.lastMD {
		rec.SignedInAt = now // a login; a refresh keeps the metadata it started from
	}
	s.lastMD, s.hasRefresh, s.regMethod = g.Metadata, g.Token.RefreshToken != "", g.Registration.Method
	s.dpop = tokenType(g) == oauth.DPoPScheme
	s.loadErr = nil // a new sign-in replaces what could not be read
	s.mu.Unlock()
	rec.Public = false
	rec.Issuer = g.Metadata.Issuer
	// A non-interactive grant binds itself to the authorization server of
	// its first sign-in: its secrets and assertions are sent to that
	// server's token endpoint only, and a sign-in that discovers another
	// (the resource now names a different one) is refused before anything
	// is sent (oauth.ClientAuth.Issuer). Configuring the grant again
	// (SetGrant) unbinds it.
	var bound oauth.Strategy
	if len(rec.Grant) > 0 {
		gc, err := grantOf(rec.Grant)
		if err != nil {
			return err
		}
		if gc.ClientIssuer == "" {
			gc.ClientIssuer = g.Metadata.Issuer
			if bound, err = s.d.loadStrategy(rec.URL, gc); err != nil {
				return err
			}
			if rec.Grant, err = json.Marshal(gc); err != nil {
				return err
			}
		}
	}
	rec.Discovery = md
	rec.ResourceMetadata, _ = json.Marshal(g.Metadata.Protected)
	rec.AuthServerMetadata, _ = json.Marshal(g.Metadata.AuthServer)
	rec.ScopesRequested = g.Requested
	rec.ScopesGranted = g.Token.Scopes
	rec.TokenExpiry = g.Token.Expiry
	rec.Status, rec.StatusMessage = string(ipc.StateSignedIn), ""
	if g.Metadata.Protected != nil && rec.Name == "" {
		rec.Name = budget.Text(g.Metadata.Protected.ResourceName, budget.ServerName)
	}
	tok := &store.Tokens{
		AccessToken: g.Token.AccessToken, RefreshToken: g.Token.RefreshToken, TokenType: g.Token.TokenType,
		IDToken: g.Token.IDToken, Expiry: g.Token.Expiry, Obtained: g.Token.Obtained, Scopes: g.Token.Scopes,
	}
	if tok.DPoPKey, err = oauth.MarshalDPoPKey(g.DPoPKey); err != nil {
		return err
	}
	if r := g.Registration; r != nil && r.Method == oauth.MethodImported {
		tok.Client = &store.TokenClient{Issuer: r.Issuer, ClientID: r.ClientID, ClientSecret: r.ClientSecret, AuthMethod: r.AuthMethod, RedirectURIs: r.RedirectURIs}
	}
	if err := s.d.st.CommitLogin(&rec, tok); err != nil {
		return err
	}
	if bound != nil {
		s.sess.SetStrategy(bound) // a leaf lock: safe in save, which runs with the session locked
	}
	// The timer is armed before the new state is published: whoever acts
	// on the publication finds it armed.
	s.scheduleFor(g)
	s.setRecord(rec)
	return nil
}

// setRecord replaces the shown record and tells subscribers.
func (s *server) setRecord(rec store.Server) {
	s.mu.Lock()
	s.rec = rec
	s.mu.Unlock()
	s.d.publish(ipc.Event{Type: ipc.EventServer, Server: ptr(s.info())})
}

// setState records a state change, persists it unless it is transient (best
// effort: the state is also derivable on restart) and tells subscribers.
func (s *server) setState(state ipc.State, msg string) {
	s.mu.Lock()
	s.rec.Status, s.rec.StatusMessage = string(state), msg
	rec := s.rec
	s.mu.Unlock()
	// A refresh or a sign-in under way is shown but not written: it ends
	// in another state, and start-up recomputes states from the stored
	// tokens anyway, so a synced write for it would buy nothing.
	if state != ipc.StateRefreshing && state != ipc.StateSigningIn {
		if err := s.d.st.PutServer(&rec); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.d.log.Warn("could not record server state", "server", s.url, "err", err)
		}
	}
	s.d.publish(ipc.Event{Type: ipc.EventServer, Server: ptr(s.info())})
}

// own describes this sign-in alone (the server's fields as its record has
// them, the status and token of this sign-in); info describes the server.
func (s *server) own() ipc.ServerInfo {
	s.mu.Lock()
	rec, hasRefresh, method, dpop, md := s.rec, s.hasRefresh, s.regMethod, s.dpop, s.lastMD
	s.mu.Unlock()
	in := ipc.ServerInfo{
		URL: rec.URL, Name: rec.Name, Status: ipc.State(rec.Status), StatusMessage: rec.StatusMessage,
		Issuer: rec.Issuer, ScopesRequested: rec.ScopesRequested, ScopesGranted: rec.ScopesGranted,
		TokenExpiry: rec.TokenExpiry, SignedInAt: rec.SignedInAt, UpdatedAt: rec.UpdatedAt,
		Tools: rec.Tools, ToolCount: rec.ToolCount, ToolsMore: rec.ToolsMore,
		ToolPolicy: rec.ToolPolicy, AppToolPolicies: appToolPolicies(&rec),
	}
	if len(rec.Grant) > 0 {
		if gc, err := grantOf(rec.Grant); err == nil {
			in.Grant = gc.Type
			if gc.IdPSession {
				in.IdP = gc.IdPIssuer
			}
		}
	}
	if in.Status != ipc.StateSignedOut {
		in.HasRefreshToken, in.Registration, in.DPoP = hasRefresh, method, dpop
		if md != nil {
			in.Provider = md.Quirk.Summary()
		}
	}
	// renewable's rule on the recorded facts (info may run under the
	// session's lock, so it does not ask the session).
	renewable := in.HasRefreshToken || len(rec.Grant) > 0
	if in.Status == ipc.StateSignedIn && !rec.TokenExpiry.IsZero() && s.d.cfg.Now().After(rec.TokenExpiry) && !renewable {
		in.Status, in.StatusMessage = ipc.StateNeedsSignIn, msgExpiredUnrenewable
	}
	return in
}

func ptr[T any](v T) *T { return &v }

// msgExpiredUnrenewable is the state message of a server whose token
// expired with nothing to renew it (see renewable).
const msgExpiredUnrenewable = "the access token expired and there is no refresh token; sign in again"

// renewable is the one rule for whether g's token can be renewed without
// the user: with its refresh token, or by the server's non-interactive
// grant getting a new one. An expired token that is not renewable needs a
// sign-in.
func (s *server) renewable(g *oauth.Grant) bool {
	return g != nil && g.Token != nil && g.Token.RefreshToken != "" || s.sess.Strategy() != nil
}
