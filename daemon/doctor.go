package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// Doctor probes rawURL as a sign-in would, without signing in (oauth.Doctor,
// through the daemon's network policy), with the server's own settings when
// it is known; for a signed-in server it adds the token's state.
func (d *Daemon) Doctor(ctx context.Context, rawURL string) (*ipc.DoctorReport, error) {
	if err := checkServerURL(rawURL); err != nil {
		return nil, err
	}
	var o *oauth.Overrides
	preregistered := false
	s := d.server(rawURL)
	if s != nil {
		s.mu.Lock()
		raw, method := s.rec.Provider, s.regMethod
		preregistered = s.rec.ClientIDOverride != "" || method == oauth.MethodPreregistered
		s.mu.Unlock()
		if len(raw) > 0 {
			o = &oauth.Overrides{}
			if json.Unmarshal(raw, o) != nil {
				o = nil
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r := oauth.Doctor(ctx, d.cfg.HTTP, d.flow.Client, rawURL, preregistered, o)
	out := &ipc.DoctorReport{URL: r.URL}
	for _, st := range r.Steps {
		out.Steps = append(out.Steps, ipc.DoctorStep{Step: st.Step, Outcome: st.Outcome, Detail: st.Detail})
	}
	if s != nil {
		if info := s.info(); info.Status == ipc.StateSignedIn {
			detail := "signed in"
			if !info.TokenExpiry.IsZero() {
				detail += fmt.Sprintf("; the access token expires %s", info.TokenExpiry.Format(time.RFC3339))
			}
			switch {
			case info.HasRefreshToken:
				detail += "; it is refreshed automatically before then"
			case info.Grant != "":
				detail += "; it is obtained again automatically with the " + info.Grant + " grant"
			default:
				detail += "; there is no refresh token: sign in again then"
			}
			out.Steps = append(out.Steps, ipc.DoctorStep{Step: "token", Outcome: oauth.DoctorInfo, Detail: detail})
			out.Steps = append(out.Steps, d.tryToken(ctx, s))
		} else if info.Status != ipc.StateSignedOut && info.StatusMessage != "" {
			out.Steps = append(out.Steps, ipc.DoctorStep{Step: "token", Outcome: oauth.DoctorInfo, Detail: string(info.Status) + ": " + info.StatusMessage})
		}
	}
	out.Failed = r.Failed()
	for _, st := range out.Steps {
		out.Failed = out.Failed || st.Outcome == oauth.DoctorFail
	}
	return out, nil
}

// tryToken sends the server an MCP initialize with s's current access
// token, as it stands: nothing is refreshed, and the token goes only to
// the server (oauth.Probe's request and the session it may open, ended at
// once).
func (d *Daemon) tryToken(ctx context.Context, s *server) ipc.DoctorStep {
	step := ipc.DoctorStep{Step: "token at the server", Outcome: oauth.DoctorInfo}
	g := s.sess.Grant()
	switch {
	case g == nil || g.Public || g.Token == nil:
		step.Detail = "no token to try"
		return step
	case g.Token.TokenType == oauth.DPoPScheme:
		step.Detail = "DPoP-bound: not tried (every request needs its own proof)"
		return step
	case !g.Token.Valid(0):
		step.Detail = "the access token has expired: the next request refreshes it first"
		return step
	}
	hc := *d.cfg.HTTP
	hc.Transport = bearer{base: d.cfg.HTTP.Transport, token: g.Token.AccessToken}
	p, err := oauth.Probe(ctx, &hc, s.url)
	switch {
	case err != nil:
		step.Outcome, step.Detail = oauth.DoctorFail, err.Error()
	case p.Public:
		step.Outcome, step.Detail = oauth.DoctorOK, "the server accepts the current access token"
	default:
		step.Outcome = oauth.DoctorFail
		step.Detail = fmt.Sprintf("the server refuses the current access token (HTTP %d %s): sign in again with mcpauthd login %s", p.Challenge.Status, p.Challenge.Error, s.url)
	}
	return step
}

// bearer adds the access token to every request (all of them to the one
// server oauth.Probe talks to).
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	base := b.base
	if base == nil {
		base = http.DefaultTransport
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return base.RoundTrip(r)
}
