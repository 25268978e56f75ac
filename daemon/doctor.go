package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// Doctor probes rawURL as a sign-in would, without signing in (oauth.Doctor,
// through the daemon's network policy), with the server's own settings when
// it is known; for a signed-in server it adds the token's state.
func (d *Daemon) Doctor(ctx context.Context, rawURL string) (*ipc.DoctorReport, error) {
	if u, err := url.Parse(rawURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: fmt.Sprintf("%q is not an http(s) URL", rawURL)}
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
		} else if info.Status != ipc.StateSignedOut && info.StatusMessage != "" {
			out.Steps = append(out.Steps, ipc.DoctorStep{Step: "token", Outcome: oauth.DoctorInfo, Detail: string(info.Status) + ": " + info.StatusMessage})
		}
	}
	out.Failed = r.Failed()
	return out, nil
}
