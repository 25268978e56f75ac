package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/ipc/ipcsource"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// DefaultMinValid is the validity a token handed out has at least, when the
// caller does not say — capped at half the token's lifetime (oauth.Token.Margin).
// A caller that asks for more than a token can ever have gets a refresh on
// every request: that is what it asked for.
const DefaultMinValid = 30 * time.Second

// Token hands out the access token of url's default account, valid for at
// least minValid, refreshing it first when needed (one refresh however many
// callers ask). Every hand-out is recorded in the audit log with the
// caller's identity and the account. When the refresh fails for a passing
// reason and the current token is still valid, the current token is served.
// TokenFor names the account and asks for DPoP proofs.
func (d *Daemon) Token(ctx context.Context, url string, minValid time.Duration, caller ipc.Peer) (*ipc.TokenResponse, error) {
	return d.TokenFor(ctx, &ipc.TokenRequest{URL: url, MinValid: ipc.Duration(minValid)}, caller)
}

// token is Token for the sign-in s that also returns the grant the answer
// describes (nil for a public server): everything in the answer comes from
// that one grant, whatever refresh or sign-out runs concurrently.
func (d *Daemon) token(ctx context.Context, s *server, minValid time.Duration, caller ipc.Peer) (*ipc.TokenResponse, *oauth.Grant, error) {
	url := s.url
	g := s.sess.Grant()
	s.mu.Lock()
	loadErr := s.loadErr
	s.mu.Unlock()
	if g == nil && loadErr != nil {
		g, loadErr = s.retryLoad()
	}
	switch {
	case g == nil && loadErr != nil:
		return nil, nil, toIPC(url, fmt.Errorf("the stored sign-in to %s could not be read: %w", url, loadErr))
	case g == nil && s.sess.SigningIn():
		return nil, nil, s.errNeedsSignIn("the sign-in to " + url + " is not finished; approve it in the browser")
	case g == nil:
		return nil, nil, s.errNeedsSignIn("not signed in to " + url)
	case g.Public:
		return &ipc.TokenResponse{}, nil, nil
	}
	if minValid <= 0 {
		minValid = g.Token.Margin(DefaultMinValid)
	}
	// Nothing can renew a token without a refresh token or a grant: asking
	// it to last longer than it will proves nothing against the sign-in.
	// The token there is goes out with a warning; the state is unchanged.
	warning := ""
	switch {
	case s.renewable(g):
	case g.Token.Valid(minValid):
	case g.Token.Valid(0):
		warning = fmt.Sprintf("the token is valid only until %s, less than the %s asked for, and cannot be renewed (no refresh token); sign in again for a new one: mcpauthd login %s",
			g.Token.Expiry.Local().Format(time.DateTime), minValid, url)
		minValid = 0
	default:
		s.setState(ipc.StateNeedsSignIn, msgExpiredUnrenewable)
		return nil, nil, s.errNeedsSignIn("the token for " + url + " expired and there is no refresh token to renew it")
	}
	g, err := s.sess.Token(ctx, minValid)
	if err != nil {
		if errors.Is(err, oauth.ErrInvalidGrant) || errors.Is(err, oauth.ErrInvalidClient) {
			s.rejected(err)
			return nil, nil, s.errNeedsSignIn("the sign-in to " + url + " has expired")
		}
		g = s.sess.Grant()
		if g == nil || g.Token == nil || !g.Token.Valid(0) {
			s.setState(ipc.StateError, "refresh failed: "+err.Error())
			return nil, nil, toIPC(url, err)
		}
		d.log.Warn("refresh failed; serving the still-valid token", "server", url, "err", err)
	}
	switch {
	case g == nil: // signed out meanwhile
		return nil, nil, s.errNeedsSignIn("not signed in to " + url)
	case g.Public || g.Token == nil:
		return &ipc.TokenResponse{}, nil, nil
	}
	d.audit(store.AuditRecord{Server: url, Account: s.name(), Action: "token", PID: caller.PID, UID: caller.UID, Exe: caller.Exe, App: caller.App, Via: caller.Via, Program: caller.Program})
	return &ipc.TokenResponse{AccessToken: g.Token.AccessToken, TokenType: tokenType(g), Expiry: g.Token.Expiry, Scopes: g.Token.Scopes, Warning: warning}, g, nil
}

// Challenge hands a server's refusal of token to the engine's policy:
// refresh, sign in again, or step up (the last two open the browser). A 401
// from a server mcpauthd does not know yet adds it and starts its sign-in:
// an app's first request is how most servers get added.
//
// The challenge concerns the account accountFor picks (r.Account, else
// app's, else the default); a 401 for an account the server does not have
// yet adds it and starts its sign-in too.
//
// Challenge is the daemon's own (it asks no approval); the challenge of an
// app (For: the socket's, the reverse proxy's) passes the approval gate
// first, as its token requests do: before anything is added or opened,
// and before the account is picked, so that an "always" decided meanwhile
// with an account routes it.
func (d *Daemon) Challenge(ctx context.Context, r *ipc.ChallengeRequest) error {
	return d.challenge(ctx, r, "", ipc.Peer{})
}

func (d *Daemon) challenge(ctx context.Context, r *ipc.ChallengeRequest, app string, caller ipc.Peer) error {
	p := d.server(r.URL)
	if p == nil && r.Status == http.StatusUnauthorized {
		var err error
		if p, err = d.ensureServer(r.URL); err != nil {
			return toIPC(r.URL, err)
		}
	}
	if p == nil {
		return errNeedsSignIn(r.URL, "mcpauthd has no sign-in for "+r.URL)
	}
	name := d.accountFor(p, r.Account, app, caller)
	s := p.accountNamed(name)
	if s == nil && r.Status == http.StatusUnauthorized {
		var err error
		if s, _, err = d.ensureAccount(p, name, ""); err != nil {
			return err
		}
	}
	if s == nil {
		e := errNeedsSignIn(r.URL, "mcpauthd has no account "+name+" for "+r.URL)
		e.SignInAccount = name
		return e
	}
	if s != p { // a sign-in this starts takes the server's current settings
		s.mu.Lock()
		hint := s.rec.LoginHint
		s.mu.Unlock()
		s.prepareSignIn(true, hint)
	}
	h := http.Header{}
	for _, v := range r.WWWAuthenticate {
		h.Add("WWW-Authenticate", v)
	}
	ch, _ := oauth.ParseChallenge(r.Status, h)
	// A sign-in this causes is tracked like one the user started, so the
	// callback (or a pasted URL) can finish it and wait for its outcome.
	l := newLogin(r.URL, false)
	ctx, cancel := context.WithTimeout(context.WithValue(ctx, loginKey{}, l), d.cfg.LoginTimeout)
	defer cancel()
	err := s.sess.Challenged(ctx, r.Token, ch)
	l.finish(err)
	if err != nil {
		s.setState(ipc.StateNeedsSignIn, err.Error())
		if e := toIPC(r.URL, err); e.Code == ipc.CodeNeedsSignIn {
			e.SignInAccount = s.account
			return e
		}
		return toIPC(r.URL, err)
	}
	return nil
}

// Succeeded tells the session of url's account (as accountFor picks it)
// that the server accepted its token, which ends a run of sign-in attempts.
func (d *Daemon) Succeeded(url, account string) { d.succeeded(url, account, "", ipc.Peer{}) }

func (d *Daemon) succeeded(url, account, app string, caller ipc.Peer) {
	if s, err := d.signIn(url, account, app, caller); err == nil {
		s.sess.Succeeded()
	}
}

// For is the daemon as ipcsource.Daemon, in-process, for caller: what
// the socket's /v1/token, /v1/challenge and /v1/succeeded routes answer a
// client, with caller as the identity the audit log records.
func (d *Daemon) For(caller ipc.Peer) ipcsource.Daemon { return callerView{d, caller, ""} }

// callerView is the daemon for one caller; app, when set, is the app of
// the reverse proxy whose key authenticated it (accountFor).
type callerView struct {
	d      *Daemon
	caller ipc.Peer
	app    string
}

func (v callerView) TokenFor(ctx context.Context, r *ipc.TokenRequest) (*ipc.TokenResponse, error) {
	return v.d.tokenFor(ctx, r, v.caller, v.app)
}

// Challenge is Daemon.Challenge for the caller, once the approval gate
// lets it through (see there).
func (v callerView) Challenge(ctx context.Context, r *ipc.ChallengeRequest) error {
	if err := v.d.approve(ctx, r.URL, v.caller); err != nil {
		return err
	}
	return v.d.challenge(ctx, r, v.app, v.caller)
}

func (v callerView) Succeeded(_ context.Context, url, account string) error {
	v.d.succeeded(url, account, v.app, v.caller)
	return nil
}

// Refresh refreshes the token of url's account ("": the default) now.
func (d *Daemon) Refresh(ctx context.Context, url, account string) (*ipc.ServerInfo, error) {
	p := d.server(url)
	if p == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: "unknown server " + url}
	}
	s, err := d.signIn(url, account, "", ipc.Peer{})
	if err != nil {
		return nil, err
	}
	if err := s.refresh(ctx); err != nil {
		return nil, toIPC(url, err)
	}
	return ptr(s.info()), nil
}

// Logout signs out of r.URL: the account r.Account ("": the default
// account), or every account with r.All or r.Remove (which also forgets
// the server). Signing out revokes the tokens where the authorization
// server offers revocation (RFC 7009), then wipes them; a further account
// signed out is forgotten (the server's own sign-in stays, signed out; the
// default falls back to it). The client registration is kept: it belongs
// to the issuer, not the server. The answer says whether the authorization
// server revoked the tokens (the worst outcome of several accounts); a
// failed or impossible revocation does not stop the wipe.
func (d *Daemon) Logout(ctx context.Context, r *ipc.ServerRequest) (*ipc.LogoutResponse, error) {
	url := r.URL
	p := d.server(url)
	if p == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: "unknown server " + url}
	}
	targets := p.signIns()
	if !r.All && !r.Remove {
		s, err := d.signIn(url, r.Account, "", ipc.Peer{})
		if err != nil {
			return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: url + " has no account " + r.Account}
		}
		targets = []*server{s}
	}
	res := &ipc.LogoutResponse{Revocation: ipc.RevocationNone, Removed: r.Remove}
	for _, s := range targets {
		if err := s.signOut(ctx, res); err != nil {
			return nil, toIPC(url, err)
		}
	}
	if r.Remove {
		if err := d.st.DeleteServer(url); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, toIPC(url, err)
		}
		d.mu.Lock()
		delete(d.servers, url)
		others := make([]*server, 0, len(d.servers))
		for _, o := range d.servers {
			others = append(others, o)
		}
		d.mu.Unlock()
		p.mu.Lock()
		issuer := p.rec.Issuer
		p.mu.Unlock()
		shared := false
		for _, o := range others {
			o.mu.Lock()
			shared = shared || o.rec.Issuer == issuer
			o.mu.Unlock()
		}
		// The last server of an authorization server takes mcpauthd's
		// registration there with it (it would only go stale).
		if !shared {
			if err := d.dropRegistration(p); err != nil {
				d.log.Warn("could not drop the client registration", "server", url, "err", err)
			}
		}
		d.publish(ipc.Event{Type: ipc.EventRemoved, Server: &ipc.ServerInfo{URL: url}})
		return res, nil
	}
	for _, s := range targets {
		if s.account != "" {
			if err := d.dropAccount(p, s); err != nil {
				return nil, toIPC(url, err)
			}
			continue
		}
		s.setState(ipc.StateSignedOut, "")
	}
	return res, nil
}

// revocationRank orders revocation outcomes, the worst last: the answer
// for several accounts is the worst.
var revocationRank = map[string]int{ipc.RevocationNone: 0, ipc.RevocationRevoked: 1, ipc.RevocationUnsupported: 2, ipc.RevocationFailed: 3}

// signOut revokes the sign-in's tokens where the authorization server
// offers revocation, wipes them and resets the session; the outcome is
// merged into res.
func (s *server) signOut(ctx context.Context, res *ipc.LogoutResponse) error {
	d, url := s.d, s.url
	s.stopTimer()
	outcome, why := ipc.RevocationNone, ""
	if g := s.sess.Grant(); g != nil && g.Token != nil {
		outcome = ipc.RevocationRevoked
		if g.Token.Expiry.After(res.TokenExpiry) {
			res.TokenExpiry = g.Token.Expiry
		}
		hc := d.cfg.HTTP
		for _, t := range []struct{ tok, hint string }{{g.Token.RefreshToken, "refresh_token"}, {g.Token.AccessToken, "access_token"}} {
			if t.tok == "" {
				continue
			}
			sent, err := oauth.Revoke(ctx, hc, g.Metadata, g.Registration, t.tok, t.hint)
			switch {
			case err != nil:
				d.log.Warn("revocation failed; wiping the tokens anyway", "server", url, "account", s.name(), "err", err)
				outcome, why = ipc.RevocationFailed, err.Error()
			case !sent && outcome == ipc.RevocationRevoked:
				outcome = ipc.RevocationUnsupported
			}
		}
	}
	if revocationRank[outcome] > revocationRank[res.Revocation] {
		res.Revocation = outcome
	}
	if why != "" {
		res.RevocationError = why
	}
	if err := d.st.DeleteTokensOf(url, s.account); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.sess.Reset()
	s.mu.Lock()
	s.rec.Discovery, s.rec.TokenExpiry, s.rec.ScopesGranted, s.rec.Public = nil, time.Time{}, nil, false
	s.lastMD, s.hasRefresh, s.dpop = nil, false, false
	s.mu.Unlock()
	return nil
}

// retryLoad reads the stored sign-in again after it could not be read at
// start-up (the keyring was locked and has been unlocked since, say).
func (s *server) retryLoad() (*oauth.Grant, error) {
	err := s.load()
	s.mu.Lock()
	s.loadErr = err
	s.mu.Unlock()
	g := s.sess.Grant()
	if err == nil && g != nil {
		if g.Public {
			s.setState(ipc.StatePublic, "")
		} else if g.Token != nil {
			s.setState(ipc.StateSignedIn, "")
			s.schedule()
		}
	}
	return g, err
}
