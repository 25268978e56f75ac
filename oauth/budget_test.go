package oauth_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// TestAnswerBudgets: each kind of answer is read against its budget in
// internal/budget. Just under the budget it is used; just over, the step
// fails with an error that names the URL and the limit (not a "bad JSON"
// from a silently cut document).
func TestAnswerBudgets(t *testing.T) {
	pad := func(n int) string { return strings.Repeat("A", n) }
	t.Run("metadata document", func(t *testing.T) {
		for _, over := range []bool{false, true} {
			n := budget.Metadata - 2048
			if over {
				n = budget.Metadata + 1
			}
			f := newFake(t, func(f *fake) { f.ASMeta["padding"] = pad(n) })
			c := newClient()
			p, err := oauth.Probe(ctxT(t), c, f.ServerURL)
			if err != nil {
				t.Fatal(err)
			}
			_, err = oauth.Discover(ctxT(t), c, f.ServerURL, p.Challenge)
			if !over {
				if err != nil {
					t.Fatalf("a document under the budget: %v", err)
				}
				continue
			}
			wantErr(t, err, oauth.ErrBadMetadata, f.AS.URL+f.ASMetaPath, budget.Size(budget.Metadata))
		}
	})
	t.Run("protected-resource metadata", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.PRM["resource_name"] = pad(budget.Metadata) })
		c := newClient()
		p, err := oauth.Probe(ctxT(t), c, f.ServerURL)
		if err != nil {
			t.Fatal(err)
		}
		_, err = oauth.Discover(ctxT(t), c, f.ServerURL, p.Challenge)
		wantErr(t, err, oauth.ErrBadMetadata, "/.well-known/oauth-protected-resource", budget.Size(budget.Metadata))
		var over *budget.ExceededError
		if !errors.As(err, &over) || over.Limit != budget.Metadata {
			t.Errorf("err = %v; want a *budget.ExceededError for the metadata budget", err)
		}
	})
	t.Run("registration answer", func(t *testing.T) {
		for _, over := range []bool{false, true} {
			n := budget.Registration - 2048
			if over {
				n = budget.Registration + 1
			}
			f := newFake(t)
			md := discoverFake(t, f)
			f.Handle("as", "/register", status(201, fmt.Sprintf(`{"client_id":"abc","redirect_uris":["http://127.0.0.1/cb"],"padding":"%s"}`, pad(n))))
			_, _, err := oauth.Register(ctxT(t), newClient(), testClientConfig(), md, nil, nil)
			if !over {
				if err != nil {
					t.Fatalf("an answer under the budget: %v", err)
				}
				continue
			}
			wantErr(t, err, oauth.ErrRegistration, md.AuthServer.RegistrationEndpoint, budget.Size(budget.Registration))
		}
	})
	t.Run("token answer", func(t *testing.T) {
		for _, over := range []bool{false, true} {
			n := budget.TokenAnswer - 2048
			if over {
				n = budget.TokenAnswer + 1
			}
			f := newFake(t)
			regs := newMemRegs()
			g := loginFake(t, f, regs)
			f.Handle("as", "/token", status(200, fmt.Sprintf(`{"access_token":"new","token_type":"Bearer","expires_in":3600,"padding":"%s"}`, pad(n))))
			_, err := oauth.Refresh(ctxT(t), newClient(), g.Metadata, g.Registration, g.Token.RefreshToken, nil)
			if !over {
				if err != nil {
					t.Fatalf("an answer under the budget: %v", err)
				}
				continue
			}
			wantErr(t, err, oauth.ErrToken, g.Metadata.AuthServer.TokenEndpoint, budget.Size(budget.TokenAnswer))
		}
	})
}

// TestTokenCharacters: a token answer whose access or refresh token holds
// anything but printable ASCII (RFC 6749's VSCHAR) — an escape sequence
// `mcpauthd token` would print to the terminal — is refused, and the error
// does not quote it.
func TestTokenCharacters(t *testing.T) {
	for _, body := range []string{
		`{"access_token":"\u001b]0;PWNED\u0007","token_type":"Bearer","expires_in":3600}`,
		`{"access_token":"fine","refresh_token":"r\u001b[2K\r","token_type":"Bearer","expires_in":3600}`,
		`{"access_token":"caf\u00e9","token_type":"Bearer","expires_in":3600}`,
	} {
		f := newFake(t)
		regs := newMemRegs()
		g := loginFake(t, f, regs)
		f.Handle("as", "/token", status(200, body))
		_, err := oauth.Refresh(ctxT(t), newClient(), g.Metadata, g.Registration, g.Token.RefreshToken, nil)
		wantErr(t, err, oauth.ErrToken, g.Metadata.AuthServer.TokenEndpoint)
		if strings.ContainsAny(err.Error(), "\x1b\r") || strings.Contains(err.Error(), "PWNED") {
			t.Errorf("the error quotes the token: %q", err)
		}
	}
}
