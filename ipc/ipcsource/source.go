// Package ipcsource is oauth.TokenSource over the daemon's socket: the one
// way a client process (the stdio proxy, a reverse proxy, a probe) gets the
// tokens for an oauth.Transport. The daemon keeps the refresh tokens and
// decides what a refusal means (refresh, sign in again, step up); this
// package only carries the questions and answers.
package ipcsource

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// Source asks the daemon behind Client for URL's access token. URL is the
// server as the daemon knows it: the canonical resource, which may differ
// from the endpoint the requests go to. Safe for concurrent use.
type Source struct {
	Client *ipc.Client
	URL    string
	// MinValid is the validity a token handed out must have left; the
	// daemon refreshes first otherwise. Zero means the daemon's default.
	MinValid time.Duration
	// Reuse, when > 0, lets a Bearer token the daemon handed out be used
	// again without asking it for up to Reuse, and never closer to its
	// expiry than MinValid (or 30 s); Challenged and Forget drop it. A
	// DPoP-bound token is never reused: each request needs its own proof.
	// Each hand-out is one audit record; reused tokens make none.
	Reuse time.Duration

	mu     sync.Mutex
	cached *oauth.Credential
	until  time.Time
}

// defaultMargin is how close to its expiry a reused token stops being
// reused when MinValid is zero.
const defaultMargin = 30 * time.Second

// Forget drops the reused token, if any: the next request asks the daemon.
func (s *Source) Forget() {
	s.mu.Lock()
	s.cached = nil
	s.mu.Unlock()
}

var _ oauth.CredentialSource = (*Source)(nil)

// Token returns URL's access token. When the daemon has no sign-in for URL
// yet (needs_sign_in), it returns "" and no error: the request goes out
// without a token and the server's challenge, handed to Challenged, is what
// makes the daemon add the server and sign in. Other errors (the daemon is
// gone, the server is in error) are returned as they are.
func (s *Source) Token(ctx context.Context) (string, error) {
	c, err := s.credential(ctx, nil)
	if err != nil {
		return "", err
	}
	return c.Token, nil
}

// Credential implements oauth.CredentialSource: URL's token, as Token
// returns it, for one request (method to target, with the resource
// server's last nonce). When the token is DPoP-bound the daemon signs the
// proof for that request (the key never leaves the daemon) and the
// credential's Scheme is DPoP; otherwise it is Bearer.
func (s *Source) Credential(ctx context.Context, method, target, nonce string) (*oauth.Credential, error) {
	return s.credential(ctx, &ipc.DPoPRequest{Method: method, URL: target, Nonce: nonce})
}

func (s *Source) credential(ctx context.Context, dpop *ipc.DPoPRequest) (*oauth.Credential, error) {
	if s.Reuse > 0 {
		now := time.Now()
		s.mu.Lock()
		c := s.cached
		if c != nil && now.Before(s.until) {
			s.mu.Unlock()
			return c, nil
		}
		s.mu.Unlock()
	}
	t, err := s.Client.TokenFor(ctx, &ipc.TokenRequest{URL: s.URL, MinValid: ipc.Duration(s.MinValid), DPoP: dpop})
	if IsNeedsSignIn(err) {
		return &oauth.Credential{}, nil
	}
	if err != nil {
		return nil, err
	}
	c := &oauth.Credential{Scheme: t.TokenType, Token: t.AccessToken, Proof: t.DPoPProof}
	if s.Reuse > 0 && t.AccessToken != "" && t.DPoPProof == "" && t.TokenType != oauth.DPoPScheme && t.Warning == "" {
		until := time.Now().Add(s.Reuse)
		margin := s.MinValid
		if margin <= 0 {
			margin = defaultMargin
		}
		if !t.Expiry.IsZero() && t.Expiry.Add(-margin).Before(until) {
			until = t.Expiry.Add(-margin)
		}
		s.mu.Lock()
		s.cached, s.until = c, until
		s.mu.Unlock()
	}
	return c, nil
}

// Challenged hands the server's refusal of token to the daemon, which may
// refresh, open a sign-in in the browser, or ask the user to step up, and
// returns when that is done. nil means a retry with a fresh Token may
// succeed; an *ipc.Error with Code needs_sign_in means the user must run
// `mcpauthd login URL` (its Error() says so).
func (s *Source) Challenged(ctx context.Context, token string, ch *oauth.Challenge) error {
	s.Forget()
	return s.Client.Challenge(ctx, &ipc.ChallengeRequest{URL: s.URL, Token: token, Status: ch.Status, WWWAuthenticate: ch.Header})
}

// Succeeded does nothing yet: the local API has no route for it. Until it
// has, the daemon's count of sign-ins since the last success is reset only
// by a sign-out, so a challenge-driven sign-in loop stops after
// oauth.MaxAuthorizations in the daemon's lifetime and the user is told to
// run `mcpauthd login`.
func (s *Source) Succeeded() {}

// IsNeedsSignIn reports whether err is the daemon saying the user must
// sign in.
func IsNeedsSignIn(err error) bool {
	return errors.Is(err, ipc.ErrNeedsSignIn)
}
