package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// The scheduler keeps one timer per server, set from the token's expiry:
// nothing wakes up while nothing is due.

// schedule arms the timer from the current grant.
func (s *server) schedule() { s.scheduleFor(s.sess.Grant()) }

// scheduleFor arms the timer for g (see dueAt); none when nothing is due.
func (s *server) scheduleFor(g *oauth.Grant) {
	s.stopTimer()
	if at := s.dueAt(g); !at.IsZero() {
		s.arm(at.Sub(s.d.cfg.Now()))
	}
}

// dueAt is the wall-clock time g needs attention: RefreshAhead before
// expiry (at most half the token's lifetime, so short-lived tokens refresh
// at mid-life, not in a loop) when there is a refresh token; at expiry (to
// show "needs sign-in") when there is not. Zero: never.
func (s *server) dueAt(g *oauth.Grant) time.Time {
	if g == nil || g.Public || g.Token == nil || g.Token.Expiry.IsZero() {
		return time.Time{}
	}
	at := g.Token.Expiry
	if g.Token.RefreshToken != "" || s.sess.Strategy() != nil { // renewable: refresh or re-acquire
		at = at.Add(-g.Token.Margin(s.d.cfg.RefreshAhead))
	}
	return at
}

func (s *server) arm(after time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = time.AfterFunc(max(after, 0), s.due)
}

func (s *server) stopTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// due runs when the timer fires (or Resync finds the server due). A grant
// renewed meanwhile (by a hand-out, or a timer and a Resync racing) is not
// refreshed again: the timer is armed for its own due time.
func (s *server) due() {
	g := s.sess.Grant()
	if g == nil || g.Token == nil {
		return
	}
	if at, now := s.dueAt(g), s.d.cfg.Now(); now.Before(at) {
		s.arm(at.Sub(now))
		return
	}
	if !s.renewable(g) {
		s.setState(ipc.StateNeedsSignIn, msgExpiredUnrenewable)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.refresh(ctx); err != nil {
		s.d.log.Warn("background refresh failed", "server", s.url, "err", err)
	}
}

// refresh refreshes now and records the outcome: invalid_grant means the
// user must sign in again; other failures are retried with backoff while
// the token lives.
func (s *server) refresh(ctx context.Context) error {
	s.setState(ipc.StateRefreshing, "")
	err := s.sess.Refresh(ctx)
	if err == nil {
		s.mu.Lock()
		s.retries = 0
		s.mu.Unlock()
		return nil // save() already set signed_in and rescheduled
	}
	if errors.Is(err, oauth.ErrInvalidGrant) || errors.Is(err, oauth.ErrInvalidClient) {
		s.rejected(err)
		return err
	}
	s.mu.Lock()
	s.retries++
	backoff := min(time.Duration(1<<min(s.retries, 6))*5*time.Second, 5*time.Minute)
	s.mu.Unlock()
	g := s.sess.Grant()
	if g != nil && g.Token != nil && g.Token.Valid(0) {
		s.setState(ipc.StateSignedIn, "refresh failed, will retry: "+err.Error())
	} else {
		s.setState(ipc.StateError, "refresh failed, will retry: "+err.Error())
	}
	s.arm(backoff)
	return err
}

// rejected records that the authorization server refused the refresh token
// (invalid_grant) or the client itself (invalid_client). A rejected
// dynamic or CIMD registration is dropped, so the next sign-in registers
// anew; pre-registered credentials are the user's to fix.
func (s *server) rejected(err error) {
	msg := "the authorization server no longer accepts the refresh token; sign in again"
	s.mu.Lock()
	rec := s.rec
	s.mu.Unlock()
	if i := s.d.idpOf(&rec); i != nil && errors.Is(err, oauth.ErrInvalidGrant) {
		if in := s.d.idpInfo(i); in.Status == ipc.StateNeedsSignIn {
			s.setState(ipc.StateNeedsSignIn, in.StatusMessage) // the company sign-in ended
			return
		}
	}
	if errors.Is(err, oauth.ErrInvalidClient) {
		msg = "the authorization server no longer accepts mcpauthd's client registration; sign in again to register anew"
		g := s.sess.Grant()
		if g != nil && g.Registration != nil && g.Registration.Method == oauth.MethodImported {
			// Another program's client: it goes with the tokens; the issuer's
			// registration (mcpauthd's own, if any) is not concerned.
			msg = "the authorization server no longer accepts the client the imported sign-in used; sign in again (with mcpauthd's own client)"
		} else if g != nil && g.Registration != nil && g.Registration.Method != oauth.MethodPreregistered {
			if derr := s.d.st.DeleteRegistration(g.Registration.Issuer); derr != nil {
				s.d.log.Warn("could not drop the rejected registration", "issuer", g.Registration.Issuer, "err", derr)
			}
		} else {
			msg = "the authorization server rejects the pre-registered client credentials; sign in with valid --client-id/--client-secret-file"
		}
	}
	s.setState(ipc.StateNeedsSignIn, msg)
}
