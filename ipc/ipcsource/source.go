// Package ipcsource is the oauth.TokenSource over the mcpauthd daemon: the
// one way everything outside the engine gets the tokens for an
// oauth.Transport — the stdio proxy and other client processes over the
// socket (*ipc.Client), the daemon's own reverse proxy for apps in-process.
// The daemon keeps the refresh tokens and the DPoP keys and decides what a
// refusal means (refresh, sign in again, step up); this package only
// carries the questions and answers, so every client limits sign-in loops
// the same way.
package ipcsource

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// Daemon is what a Source asks: the daemon's token hand-out, challenge and
// success routes (/v1/token, /v1/challenge, /v1/succeeded). *ipc.Client
// implements it over the socket; the daemon implements it in-process for a
// caller (daemon.Daemon.For).
type Daemon interface {
	// TokenFor hands out r.URL's token; with r.DPoP set and a DPoP-bound
	// token, with a proof for that request. An error wrapping
	// ipc.ErrNeedsSignIn means there is no sign-in to hand out yet.
	TokenFor(ctx context.Context, r *ipc.TokenRequest) (*ipc.TokenResponse, error)
	// Challenge hands the server's refusal to the daemon's policy; nil
	// means a retry may succeed.
	Challenge(ctx context.Context, r *ipc.ChallengeRequest) error
	// Succeeded tells the daemon that url's server accepted a request,
	// which ends its run of sign-ins.
	Succeeded(ctx context.Context, url, account string) error
}

var _ Daemon = (*ipc.Client)(nil)

// Source asks Daemon for URL's tokens. URL is the server as the daemon
// knows it: the canonical resource, which may differ from the endpoint the
// requests go to. Safe for concurrent use; do not copy it after first use.
type Source struct {
	Daemon Daemon
	URL    string
	// Account names the server's sign-in to use ("": the daemon chooses,
	// see ipc.TokenRequest.Account).
	Account string
	// MinValid is the validity a token handed out must have left; the
	// daemon refreshes first otherwise. Zero means the daemon's default.
	MinValid time.Duration
	// Reuse, when > 0, lets a Bearer token the daemon handed out (or its
	// answer that the server needs none) be used again without asking it
	// for up to Reuse, and never closer to its
	// expiry than MinValid (or 30 s); Challenged and Forget drop it. A
	// DPoP-bound token is never reused: each request needs its own proof.
	// Each hand-out is one audit record; reused tokens make none.
	Reuse time.Duration

	// challenged: a challenge was handed over since the last success was
	// reported, so the next success is worth telling the daemon.
	challenged atomic.Bool

	mu     sync.Mutex
	cached *oauth.Credential
	until  time.Time
	// fetching, with Reuse, is closed when the hand-out in flight ends
	// (nil when none is): the requests of a burst that find no token to
	// reuse wait for that one instead of each asking the daemon.
	fetching chan struct{}
	// unshared: the last hand-out could not be reused (a DPoP-bound token,
	// one with a warning), so requests do not wait for each other's.
	unshared bool
	// gen counts Forget calls: a hand-out asked for before one is not
	// kept for reuse (it may be the token the server just refused).
	gen uint64
}

// defaultMargin is how close to its expiry a reused token stops being
// reused when MinValid is zero.
const defaultMargin = 30 * time.Second

// Forget drops the reused token, if any: the next request asks the daemon.
func (s *Source) Forget() {
	s.mu.Lock()
	s.cached = nil
	s.gen++
	s.mu.Unlock()
}

var _ oauth.TokenSource = (*Source)(nil)

// succeededTimeout bounds the report of a success: the request it follows
// has its answer already and must not wait for a stalled daemon.
const succeededTimeout = 5 * time.Second

// Credential implements oauth.TokenSource: URL's token for one request
// (method to target, with the resource server's last nonce). When the token
// is DPoP-bound the daemon signs the proof for that request (the key never
// leaves the daemon) and the credential's Scheme is DPoP; otherwise it is
// Bearer. When the daemon has no sign-in for URL yet (ipc.ErrNeedsSignIn),
// the credential is empty and the error nil: the request goes out without
// a token and the server's challenge, handed to Challenged, is what makes
// the daemon add the server and sign in. Other errors (the daemon is gone,
// the server is in error) are returned as they are.
//
// With Reuse, concurrent requests that find no token to reuse make one
// hand-out: the first asks the daemon, the others wait for its answer (or
// their ctx) and reuse it; when it cannot be reused (an error, a DPoP-bound
// token) each asks the daemon itself.
func (s *Source) Credential(ctx context.Context, method, target, nonce string) (*oauth.Credential, error) {
	var lead chan struct{} // closed when this request's hand-out ends
	var gen uint64
	if s.Reuse > 0 {
		s.mu.Lock()
		if c := s.reusable(); c != nil {
			s.mu.Unlock()
			return c, nil
		}
		if wait := s.fetching; wait != nil && !s.unshared {
			s.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			s.mu.Lock()
			if c := s.reusable(); c != nil {
				s.mu.Unlock()
				return c, nil
			}
		} else if wait == nil {
			lead = make(chan struct{})
			s.fetching = lead
		}
		gen = s.gen
		s.mu.Unlock()
	}
	if lead != nil {
		defer func() {
			s.mu.Lock()
			s.fetching = nil
			s.mu.Unlock()
			close(lead)
		}()
	}
	t, err := s.Daemon.TokenFor(ctx, &ipc.TokenRequest{URL: s.URL, Account: s.Account, MinValid: ipc.Duration(s.MinValid),
		DPoP: &ipc.DPoPRequest{Method: method, URL: target, Nonce: nonce}})
	if errors.Is(err, ipc.ErrNeedsSignIn) {
		return &oauth.Credential{}, nil
	}
	if err != nil {
		return nil, err
	}
	c := &oauth.Credential{Scheme: t.TokenType, Token: t.AccessToken, Proof: t.DPoPProof}
	if s.Reuse > 0 {
		// No token at all is the answer for a server that needs no sign-in:
		// reused as a token is (a 401 would drop it).
		reuse := t.DPoPProof == "" && t.TokenType != oauth.DPoPScheme && t.Warning == ""
		until := time.Now().Add(s.Reuse)
		margin := s.MinValid
		if margin <= 0 {
			margin = defaultMargin
		}
		if !t.Expiry.IsZero() && t.Expiry.Add(-margin).Before(until) {
			until = t.Expiry.Add(-margin)
		}
		reuse = reuse && until.After(time.Now())
		s.mu.Lock()
		s.unshared = !reuse
		if reuse && gen == s.gen {
			s.cached, s.until = c, until
		}
		s.mu.Unlock()
	}
	return c, nil
}

// reusable is the token to reuse now, or nil. s.mu is held.
func (s *Source) reusable() *oauth.Credential {
	if s.cached != nil && time.Now().Before(s.until) {
		return s.cached
	}
	return nil
}

// Challenged implements oauth.TokenSource: it hands the server's refusal of
// token to the daemon, which may refresh, open a sign-in in the browser, or
// ask the user to step up, and returns when that is done. nil means a retry
// with a fresh Credential may succeed; an error wrapping ipc.ErrNeedsSignIn
// means the user must run `mcpauthd login URL` (its Error() says so).
func (s *Source) Challenged(ctx context.Context, token string, ch *oauth.Challenge) error {
	s.Forget()
	s.challenged.Store(true)
	return s.Daemon.Challenge(ctx, &ipc.ChallengeRequest{URL: s.URL, Account: s.Account, Token: token, Status: ch.Status, WWWAuthenticate: ch.Header})
}

// Succeeded implements oauth.TokenSource: after a challenge this Source
// handed over, the first success is reported to the daemon, which ends the
// server's run of sign-ins (oauth.MaxAuthorizations); other successes cost
// nothing. A daemon that cannot be told (gone, or too old for the route)
// only means the run ends after a quiet minute instead.
func (s *Source) Succeeded(ctx context.Context) {
	if s.challenged.Swap(false) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), succeededTimeout)
		defer cancel()
		_ = s.Daemon.Succeeded(ctx, s.URL, s.Account)
	}
}
