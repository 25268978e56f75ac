package oauth_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/oauth"
)

// syncBuffer is a bytes.Buffer safe for a logger used from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// leaks reports whether text holds secret, or a 12-character start or end
// of it (libraries quote truncated input in their errors).
func leaks(text, secret string) bool {
	if strings.Contains(text, secret) {
		return true
	}
	return len(secret) >= 24 && (strings.Contains(text, secret[:12]) || strings.Contains(text, secret[len(secret)-12:]))
}

func TestNoSecretsInLogsOrErrors(t *testing.T) {
	for _, method := range []string{oauth.AuthPost, oauth.AuthBasic} {
		t.Run(method, func(t *testing.T) {
			f := newFake(t, func(f *fake) { f.RegSecret = true; f.RegAuthMethod = method })
			var logs syncBuffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			regs := newMemRegs()
			fl := fakeFlow(regs)
			fl.Logger = logger
			ctx := ctxT(t)
			var errs []error
			collect := func(err error) {
				if err == nil {
					t.Errorf("expected an error")
					return
				}
				errs = append(errs, err)
			}
			login := func(mutate func(url.Values)) (*oauth.Grant, error) {
				return fl.Login(ctx, oauth.LoginRequest{ServerURL: f.ServerURL, Browser: f.Browser(mutate)})
			}

			g, err := login(nil)
			if err != nil {
				t.Fatal(err)
			}
			tr := f.TokenRequests()[0]
			secrets := map[string]string{
				"access token":  g.Token.AccessToken,
				"refresh token": g.Token.RefreshToken,
				"code":          tr.Form.Get("code"),
				"verifier":      tr.Form.Get("code_verifier"),
				"client secret": g.Registration.ClientSecret,
			}
			for what, s := range secrets {
				if len(s) < 8 {
					t.Fatalf("%s %q missing from the exchange", what, s)
				}
			}

			// Failures with the same registration and secrets in play.
			_, err = login(func(q url.Values) { q.Set("state", "forged") })
			collect(err)
			_, err = login(func(q url.Values) { q.Set("iss", "https://evil.example.com") })
			collect(err)
			_, err = login(func(q url.Values) { q.Del("iss") })
			collect(err)
			_, err = login(func(q url.Values) {
				q.Del("code")
				q.Set("error", "access_denied")
				q.Set("error_description", "user said no")
			})
			collect(err)
			f.Configure(func(f *fake) { f.CodeError = "invalid_grant" })
			_, err = login(nil)
			collect(err)
			f.Configure(func(f *fake) { f.CodeError = ""; f.InvalidClients[g.Registration.ClientID] = true })
			g2, err := login(nil) // re-registers: logs a warning
			if err != nil {
				t.Fatal(err)
			}
			secrets["second client secret"] = g2.Registration.ClientSecret
			secrets["second access token"] = g2.Token.AccessToken

			md := g2.Metadata
			_, err = oauth.Refresh(ctx, fl.HTTP, md, g.Registration, g.Token.RefreshToken, nil) // invalid_client now
			collect(err)
			f.Configure(func(f *fake) { f.RefreshError = "invalid_grant"; f.RefreshErrDesc = "expired" })
			_, err = oauth.Refresh(ctx, fl.HTTP, md, g2.Registration, g2.Token.RefreshToken, nil)
			collect(err)
			s := oauth.NewSession(fl, f.ServerURL, expired(g2))
			_, err = s.Token(ctx, time.Minute)
			collect(err)
			f.Handle("as", "/revoke", rawHandler(500, "text/plain", "revocation of "+g2.Token.RefreshToken+" failed"))
			_, err = oauth.Revoke(ctx, fl.HTTP, md, g2.Registration, g2.Token.RefreshToken, "refresh_token")
			collect(err)
			f.Handle("as", "/register", rawHandler(201, "application/json",
				`{"client_id":"c" "client_secret":"`+g2.Registration.ClientSecret+`"}`))
			_, _, err = oauth.Register(ctx, fl.HTTP, fl.Client, md, nil, nil)
			collect(err)
			f.Handle("as", "/token", rawHandler(200, "application/json", `{"access_token":"`+g2.Token.AccessToken+`"`))
			_, err = oauth.Refresh(ctx, fl.HTTP, md, g2.Registration, g2.Token.RefreshToken, nil)
			collect(err)

			for i, v := range f.Issued() {
				secrets[fmt.Sprintf("issued value #%d", i)] = v
			}
			out := logs.String()
			if !strings.Contains(out, "discovered authorization server") || !strings.Contains(out, "registering again") {
				t.Errorf("expected log lines missing; log:\n%s", out)
			}
			for what, s := range secrets {
				if leaks(out, s) {
					t.Errorf("log contains the %s", what)
				}
				for _, err := range errs {
					for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
						if leaks(text, s) {
							t.Errorf("error %q contains the %s", err, what)
						}
					}
				}
			}
			// A registration marshalled for storage keeps its secret out.
			b, _ := json.Marshal(g2.Registration)
			if strings.Contains(string(b), g2.Registration.ClientSecret) {
				t.Errorf("registration JSON carries the client secret: %s", b)
			}
			// The authorization URL carries no secret.
			a, _ := oauth.Authorize(md, g2.Registration, testRedirect, nil)
			for what, s := range secrets {
				if leaks(a.URL, s) {
					t.Errorf("authorization URL contains the %s", what)
				}
			}
		})
	}
}
