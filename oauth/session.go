package oauth

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// MaxAuthorizations bounds the authorization attempts one request may cause
// (the spec's "no more than a few times").
const MaxAuthorizations = 3

// loginRunGap ends a run of authorizations: attempts further apart than
// this are not one operation's retries.
const loginRunGap = time.Minute

// Session is the token state for one MCP server: the current grant, and the
// policy for what a refusal means — refresh, sign in again, or step up.
//
// All methods are safe for concurrent use. Refreshes and logins are
// serialised per Session: callers that arrive while one runs wait for it and
// share its result, so a burst of callers causes one refresh. Reading the
// current grant (Grant, and Token while the token is valid for the margin
// asked) never waits for a refresh or login in flight.
//
// The exported fields configure the Session: set them before its first use
// and do not change them after. What may change while the Session is in use
// has a setter (SetPreregistered, SetStrategy).
//
// Save is called with every new grant before any caller can see its access
// token; when Save fails the new grant is dropped and the error returned, so
// a rotated refresh token is never handed out unpersisted.
type Session struct {
	Flow      *Flow
	ServerURL string
	Browser   Browser
	// Device is offered sign-ins first where the authorization server has
	// the device authorization grant (nil: always the browser).
	Device DevicePresenter
	// Save persists a new grant; nil keeps grants in memory only.
	Save func(ctx context.Context, g *Grant) error

	// policy guards preregistered and strategy; it is never held while
	// waiting for anything, so it may be taken with or without mu.
	policy        sync.Mutex
	preregistered *Registration
	strategy      Strategy
	overrides     *Overrides

	mu sync.Mutex
	// grant is the current grant: stored only with mu held, loaded without
	// it, so readers never wait for a refresh holding mu.
	grant atomic.Pointer[Grant]
	// logins counts authorizations since a token last satisfied the server
	// (Succeeded) or, for callers that cannot say (a proxy in another
	// process), since a quiet minute without one.
	logins    int
	lastLogin time.Time
	// inflight is closed when the running login ends; loginErr is its result.
	inflight chan struct{}
	loginErr error
}

// NewSession returns a Session that starts from g (nil: not signed in).
func NewSession(f *Flow, serverURL string, g *Grant) *Session {
	s := &Session{Flow: f, ServerURL: serverURL}
	s.grant.Store(g)
	return s
}

// SetPreregistered sets the user's credentials for this server (nil: none),
// used by the sign-ins that start after it returns.
func (s *Session) SetPreregistered(r *Registration) {
	s.policy.Lock()
	s.preregistered = r
	s.policy.Unlock()
}

// SetOverrides sets the server's own settings (nil: none), used by the
// sign-ins that start after it returns. A refresh keeps the quirk its
// sign-in resolved.
func (s *Session) SetOverrides(o *Overrides) {
	s.policy.Lock()
	s.overrides = o
	s.policy.Unlock()
}

// SetStrategy sets the non-interactive grant this server's tokens come from
// (client credentials, JWT bearer, enterprise; nil: the browser): sign-ins
// run it instead of the browser, and a token that expires without a usable
// refresh token is re-acquired with it. It applies to the sign-ins and
// refreshes that start after it returns.
func (s *Session) SetStrategy(st Strategy) {
	s.policy.Lock()
	s.strategy = st
	s.policy.Unlock()
}

// Strategy returns the strategy set by SetStrategy or Restore, or nil.
// It never waits for a refresh or sign-in.
func (s *Session) Strategy() Strategy {
	s.policy.Lock()
	defer s.policy.Unlock()
	return s.strategy
}

// loginRequest is a LoginRequest for this server with the current policy.
func (s *Session) loginRequest() LoginRequest {
	s.policy.Lock()
	defer s.policy.Unlock()
	return LoginRequest{
		ServerURL:     s.ServerURL,
		Preregistered: s.preregistered,
		Browser:       s.Browser,
		Device:        s.Device,
		Strategy:      s.strategy,
		Overrides:     s.overrides,
	}
}

// Restore sets the grant read back from storage, and the strategy when the
// server has a non-interactive grant, unless a grant is already there (a
// sign-in that finished first wins).
func (s *Session) Restore(g *Grant, st Strategy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st != nil {
		s.SetStrategy(st)
	}
	if s.grant.Load() == nil {
		s.grant.Store(g)
	}
}

// Grant returns the current grant (nil when not signed in). It never waits
// for a refresh or sign-in in flight. The caller must not modify it.
func (s *Session) Grant() *Grant {
	return s.grant.Load()
}

// Token returns the grant whose access token is valid for at least margin,
// refreshing it first when it is about to expire. The token, its type,
// expiry and scopes and its DPoP key are those of the one grant returned,
// whatever refresh runs concurrently: read them all from it, never from a
// second Grant call. It returns the grant as it is, without refreshing, when
// there is no token to send: nil when not signed in, a Public grant for a
// server that needs none (the request then goes out without a token and the
// server's challenge starts a login). Grant.AccessToken is the token to
// send, "" for none. While the current token is valid for margin, Token
// does not wait for a refresh in flight.
func (s *Session) Token(ctx context.Context, margin time.Duration) (*Grant, error) {
	if g := s.grant.Load(); !needsRefresh(g, margin) {
		return g, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.grant.Load(); !needsRefresh(g, margin) {
		return g, nil // refreshed while we waited
	}
	if err := s.refreshLocked(ctx); err != nil {
		return nil, err
	}
	return s.grant.Load(), nil
}

// needsRefresh reports whether g has a token that is not valid for margin.
func needsRefresh(g *Grant, margin time.Duration) bool {
	return g != nil && !g.Public && g.Token != nil && !g.Token.Valid(margin)
}

// AccessToken is the access token g gives a request: "" for a nil grant, a
// Public one, or one without a token.
func (g *Grant) AccessToken() string {
	if g == nil || g.Public || g.Token == nil {
		return ""
	}
	return g.Token.AccessToken
}

func (s *Session) refreshLocked(ctx context.Context) error {
	g := s.grant.Load()
	st := s.Strategy()
	if st != nil && g.Token.RefreshToken == "" {
		return s.reacquireLocked(ctx, st)
	}
	tok, err := Refresh(ctx, DPoPClient(s.Flow.http(), g.DPoPKey), g.Metadata, g.Registration, g.Token.RefreshToken, g.Token.Scopes)
	if err != nil {
		if st != nil && (errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrInvalidClient)) {
			return s.reacquireLocked(ctx, st)
		}
		return err
	}
	ng, err := bindGrant(&Grant{Metadata: g.Metadata, Registration: g.Registration, Token: tok, Requested: g.Requested}, g.DPoPKey)
	if err != nil {
		return err
	}
	return s.commitLocked(ctx, ng)
}

// reacquireLocked runs the session's strategy st again with the metadata and
// scopes of the current grant (and its DPoP key): the non-interactive
// counterpart of a refresh. One grant, no retry.
func (s *Session) reacquireLocked(ctx context.Context, st Strategy) error {
	g := s.grant.Load()
	ng, err := s.Flow.Obtain(ctx, g.Metadata, st, g.Requested, g.DPoPKey)
	if err != nil {
		return err
	}
	return s.commitLocked(ctx, ng)
}

func (s *Session) commitLocked(ctx context.Context, g *Grant) error {
	if s.Save != nil {
		if err := s.Save(ctx, g); err != nil {
			return err
		}
	}
	s.grant.Store(g)
	return nil
}

// Succeeded tells the session that the server accepted a request made with
// the current token, which ends a run of authorizations.
func (s *Session) Succeeded() {
	s.mu.Lock()
	s.logins = 0
	s.mu.Unlock()
}

// Challenged handles the server's refusal of a request that carried token
// ("" when it carried none). It returns nil when a retry may succeed:
//
//   - 401 with a token that was current: refresh once; when that is not
//     possible or the refreshed token is refused too, sign in again with the
//     challenge (a changed authorization server is found by the new
//     discovery, and gets its own registration);
//   - 401 with a stale token: nothing to do, retry with the current one;
//   - 403 insufficient_scope: step up, asking for the union of the scopes
//     requested so far and the challenged ones — unless that union asks for
//     nothing new, which no authorization can fix;
//   - anything else: an error.
//
// At most MaxAuthorizations logins happen between two successes.
func (s *Session) Challenged(ctx context.Context, token string, ch *Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.grant.Load()
	current := g != nil && g.Token != nil && g.Token.AccessToken == token && token != ""
	switch {
	case ch.Status == http.StatusUnauthorized:
		if token != "" && !current {
			return nil // someone already replaced that token
		}
		if current && g.Token.RefreshToken != "" && s.logins == 0 {
			if err := s.refreshLocked(ctx); err == nil {
				s.logins++ // a refreshed token refused again means: sign in
				return nil
			}
		}
		return s.loginLocked(ctx, ch, previous(g))
	case ch.InsufficientScope():
		prev := previous(g)
		nothingNew := len(union(prev, ch.Scopes)) == len(prev)
		if nothingNew && token != "" && !current {
			return nil // a newer token already asked for these scopes: retry with it
		}
		if current && nothingNew {
			return newErr("authorization", CheckStepUpLimit, s.ServerURL,
				"the server still refuses with scopes %v, which were already requested; the authorization server will not grant more", ch.Scopes)
		}
		return s.loginLocked(ctx, ch, prev)
	default:
		return newErr("authorization", CheckAuthorization, s.ServerURL, "server refused the request (HTTP %d, %s)", ch.Status, ch.Error)
	}
}

func previous(g *Grant) []string {
	if g == nil {
		return nil
	}
	return g.Requested
}

func (s *Session) loginLocked(ctx context.Context, ch *Challenge, prev []string) error {
	if time.Since(s.lastLogin) > loginRunGap {
		s.logins = 0
	}
	s.lastLogin = time.Now()
	if s.logins >= MaxAuthorizations {
		return newErr("authorization", CheckStepUpLimit, s.ServerURL, "gave up after %d authorization attempts", MaxAuthorizations)
	}
	s.logins++
	req := s.loginRequest()
	req.Challenge, req.Previous = ch, prev
	_, err := s.runLoginLocked(ctx, req)
	return err
}

// runLoginLocked runs one login with s.mu released while the user is in the
// browser, so Token keeps answering; concurrent callers share the login in
// flight. Called and returns with s.mu held.
func (s *Session) runLoginLocked(ctx context.Context, req LoginRequest) (*Grant, error) {
	if wait := s.inflight; wait != nil {
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
		}
		s.mu.Lock()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return s.grant.Load(), s.loginErr
	}
	done := make(chan struct{})
	s.inflight = done
	s.mu.Unlock()
	g, err := s.Flow.Login(ctx, req)
	s.mu.Lock()
	if err == nil {
		err = s.commitLocked(ctx, g)
	}
	s.inflight, s.loginErr = nil, err
	close(done)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// SigningIn reports whether a login is in flight.
func (s *Session) SigningIn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight != nil
}

// Login signs in (again) from scratch, probing the server first. scopes are
// added to those requested before.
func (s *Session) Login(ctx context.Context, scopes []string) (*Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.loginRequest()
	req.Scopes, req.Previous = scopes, previous(s.grant.Load())
	return s.runLoginLocked(ctx, req)
}

// Refresh refreshes the token now, whatever its expiry.
func (s *Session) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.grant.Load(); g == nil || g.Token == nil {
		return newErr("refresh", CheckInvalidGrant, s.ServerURL, "not signed in")
	}
	return s.refreshLocked(ctx)
}

// Reset forgets the grant (after a sign-out).
func (s *Session) Reset() {
	s.mu.Lock()
	s.grant.Store(nil)
	s.logins = 0
	s.mu.Unlock()
}
