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

// Token hands out url's access token, valid for at least minValid,
// refreshing it first when needed (one refresh however many callers ask).
// Every hand-out is recorded in the audit log with the caller's identity.
// When the refresh fails for a passing reason and the current token is still
// valid, the current token is served.
func (d *Daemon) Token(ctx context.Context, url string, minValid time.Duration, caller ipc.Peer) (*ipc.TokenResponse, error) {
	resp, _, err := d.token(ctx, url, minValid, caller)
	return resp, err
}

// token is Token that also returns the grant the answer describes (nil for
// a public server): everything in the answer comes from that one grant,
// whatever refresh or sign-out runs concurrently.
func (d *Daemon) token(ctx context.Context, url string, minValid time.Duration, caller ipc.Peer) (*ipc.TokenResponse, *oauth.Grant, error) {
	s := d.server(url)
	if s == nil {
		return nil, nil, errNeedsSignIn(url, "mcpauthd has no sign-in for "+url)
	}
	if err := d.approve(ctx, url, caller); err != nil {
		return nil, nil, err
	}
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
		return nil, nil, errNeedsSignIn(url, "the sign-in to "+url+" is not finished; approve it in the browser")
	case g == nil:
		return nil, nil, errNeedsSignIn(url, "not signed in to "+url)
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
		return nil, nil, errNeedsSignIn(url, "the token for "+url+" expired and there is no refresh token to renew it")
	}
	g, err := s.sess.Token(ctx, minValid)
	if err != nil {
		if errors.Is(err, oauth.ErrInvalidGrant) || errors.Is(err, oauth.ErrInvalidClient) {
			s.rejected(err)
			return nil, nil, errNeedsSignIn(url, "the sign-in to "+url+" has expired")
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
		return nil, nil, errNeedsSignIn(url, "not signed in to "+url)
	case g.Public || g.Token == nil:
		return &ipc.TokenResponse{}, nil, nil
	}
	d.audit(store.AuditRecord{Server: url, Action: "token", PID: caller.PID, UID: caller.UID, Exe: caller.Exe, App: caller.App, Via: caller.Via, Program: caller.Program})
	return &ipc.TokenResponse{AccessToken: g.Token.AccessToken, TokenType: tokenType(g), Expiry: g.Token.Expiry, Scopes: g.Token.Scopes, Warning: warning}, g, nil
}

// Challenge hands a server's refusal of token to the engine's policy:
// refresh, sign in again, or step up (the last two open the browser). A 401
// from a server mcpauthd does not know yet adds it and starts its sign-in:
// an app's first request is how most servers get added.
func (d *Daemon) Challenge(ctx context.Context, r *ipc.ChallengeRequest) error {
	s := d.server(r.URL)
	if s == nil && r.Status == http.StatusUnauthorized {
		var err error
		if s, err = d.ensureServer(r.URL); err != nil {
			return toIPC(r.URL, err)
		}
	}
	if s == nil {
		return errNeedsSignIn(r.URL, "mcpauthd has no sign-in for "+r.URL)
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
		return toIPC(r.URL, err)
	}
	return nil
}

// Succeeded tells url's session that the server accepted its token, which
// ends a run of sign-in attempts.
func (d *Daemon) Succeeded(url string) {
	if s := d.server(url); s != nil {
		s.sess.Succeeded()
	}
}

// For is the daemon as ipcsource.Daemon, in-process, for caller: what
// the socket's /v1/token, /v1/challenge and /v1/succeeded routes answer a
// client, with caller as the identity the audit log records.
func (d *Daemon) For(caller ipc.Peer) ipcsource.Daemon { return callerView{d, caller} }

type callerView struct {
	d      *Daemon
	caller ipc.Peer
}

func (v callerView) TokenFor(ctx context.Context, r *ipc.TokenRequest) (*ipc.TokenResponse, error) {
	return v.d.TokenFor(ctx, r, v.caller)
}

func (v callerView) Challenge(ctx context.Context, r *ipc.ChallengeRequest) error {
	return v.d.Challenge(ctx, r)
}

func (v callerView) Succeeded(_ context.Context, url string) error {
	v.d.Succeeded(url)
	return nil
}

// Refresh refreshes url's token now.
func (d *Daemon) Refresh(ctx context.Context, url string) (*ipc.ServerInfo, error) {
	s := d.server(url)
	if s == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: "unknown server " + url}
	}
	if err := s.refresh(ctx); err != nil {
		return nil, toIPC(url, err)
	}
	return ptr(s.info()), nil
}

// Logout revokes url's tokens where the authorization server offers
// revocation (RFC 7009), then wipes them; remove also forgets the server.
// The client registration is kept: it belongs to the issuer, not the server.
// The answer says whether the authorization server revoked the tokens; a
// failed or impossible revocation does not stop the wipe.
func (d *Daemon) Logout(ctx context.Context, url string, remove bool) (*ipc.LogoutResponse, error) {
	s := d.server(url)
	if s == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: "unknown server " + url}
	}
	s.stopTimer()
	res := &ipc.LogoutResponse{Revocation: ipc.RevocationNone, Removed: remove}
	if g := s.sess.Grant(); g != nil && g.Token != nil {
		res.Revocation, res.TokenExpiry = ipc.RevocationRevoked, g.Token.Expiry
		hc := d.cfg.HTTP
		for _, t := range []struct{ tok, hint string }{{g.Token.RefreshToken, "refresh_token"}, {g.Token.AccessToken, "access_token"}} {
			if t.tok == "" {
				continue
			}
			sent, err := oauth.Revoke(ctx, hc, g.Metadata, g.Registration, t.tok, t.hint)
			switch {
			case err != nil:
				d.log.Warn("revocation failed; wiping the tokens anyway", "server", url, "err", err)
				res.Revocation, res.RevocationError = ipc.RevocationFailed, err.Error()
			case !sent && res.Revocation == ipc.RevocationRevoked:
				res.Revocation = ipc.RevocationUnsupported
			}
		}
	}
	if err := d.st.DeleteTokens(url); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, toIPC(url, err)
	}
	s.sess.Reset()
	s.mu.Lock()
	s.rec.Discovery, s.rec.TokenExpiry, s.rec.ScopesGranted, s.rec.Public = nil, time.Time{}, nil, false
	s.lastMD, s.hasRefresh, s.dpop = nil, false, false
	s.mu.Unlock()
	if remove {
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
		s.mu.Lock()
		issuer := s.rec.Issuer
		s.mu.Unlock()
		shared := false
		for _, o := range others {
			o.mu.Lock()
			shared = shared || o.rec.Issuer == issuer
			o.mu.Unlock()
		}
		// The last server of an authorization server takes mcpauthd's
		// registration there with it (it would only go stale).
		if !shared {
			if err := d.dropRegistration(s); err != nil {
				d.log.Warn("could not drop the client registration", "server", url, "err", err)
			}
		}
		d.publish(ipc.Event{Type: ipc.EventRemoved, Server: &ipc.ServerInfo{URL: url}})
		return res, nil
	}
	s.setState(ipc.StateSignedOut, "")
	return res, nil
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
