package daemon_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestCompanySignInClientSecret: mcpauthd's client secret at a
// confidential IdP is kept once, with the company sign-in: the second
// company server, configured without it, exchanges its ID tokens with it;
// and when a later sign-in gives a new secret (the IdP's was rotated), the
// first server's next renewal uses the new one rather than the one it
// started with.
func TestCompanySignInClientSecret(t *testing.T) {
	idp := testfake.NewIdP(t, time.Hour)
	idp.SetClientSecret("idp-secret-1")
	a := testfake.NewEnterpriseAS(t, idp, time.Hour)
	b := testfake.NewEnterpriseAS(t, idp, time.Hour)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	opened := 0
	var d *daemon.Daemon
	d, err := daemon.New(daemon.Config{Store: openStore(t), CallbackAddr: "127.0.0.1:1", LoginTimeout: time.Minute,
		OpenBrowser: func(start string) error {
			opened++
			go func() { // the start link and the callback are the daemon's loopback routes
				c := *browser
				c.Transport = handlerTransport{d.Handler(), http.DefaultTransport}
				if res, err := c.Get(start); err == nil {
					res.Body.Close()
				}
			}()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	grant := func(secret string) *ipc.GrantConfig {
		return &ipc.GrantConfig{Type: ipc.GrantEnterprise, IdPSession: true, IdPIssuer: idp.Issuer, IdPClientID: idp.ClientID, IdPClientSecret: secret}
	}
	if _, err := d.Login(ctx, &ipc.LoginRequest{URL: a.URL, Grant: grant("idp-secret-1"), Wait: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Login(ctx, &ipc.LoginRequest{URL: b.URL, Grant: grant(""), Wait: true}); err != nil {
		t.Fatalf("the second server, without the secret: %v", err)
	}
	if opened != 1 {
		t.Fatalf("%d browser sign-ins, want 1", opened)
	}

	idp.SetClientSecret("idp-secret-2")
	if _, err := d.Login(ctx, &ipc.LoginRequest{URL: b.URL, Grant: grant("idp-secret-2"), Wait: true}); err != nil {
		t.Fatalf("B with the new secret: %v", err)
	}
	if _, err := d.Refresh(ctx, a.URL, ""); err != nil {
		t.Fatalf("A's renewal after the secret changed: %v", err)
	}
	if st, msg := state(t, d, a.URL); st != ipc.StateSignedIn {
		t.Fatalf("A: %s (%s)", st, msg)
	}
}

// handlerTransport serves requests to the daemon's loopback address
// (127.0.0.1:1, never listened on) with its handler, and the rest over
// the network.
type handlerTransport struct {
	h    http.Handler
	base http.RoundTripper
}

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "127.0.0.1:1" {
		return t.base.RoundTrip(r)
	}
	req := r.Clone(r.Context())
	req.RemoteAddr, req.RequestURI = "127.0.0.1:40000", r.URL.RequestURI()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}
