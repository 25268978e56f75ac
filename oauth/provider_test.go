package oauth_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// followRedirect plays the browser for the testfake providers: it takes the
// authorization URL to the provider's redirect.
var followRedirect = (*fake)(nil).Browser(nil)

// TestOfflineAccessAsksConsent: a stock OpenID provider (OIDC Core §11
// enforced, metadata only at openid-configuration) issues a refresh token
// only because the request for offline_access carries prompt=consent; and
// the refresh works with it.
func TestOfflineAccessAsksConsent(t *testing.T) {
	as := testfake.NewProviderAS(t, testfake.StyleOIDC)
	f := &oauth.Flow{HTTP: newClient(), Client: testClientConfig(), Registrations: newMemRegs(), WantRefresh: true}
	g, err := f.Login(ctxT(t), oauth.LoginRequest{ServerURL: as.URL, Browser: followRedirect})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	q := as.LastAuthorization()
	if !slices.Contains(strings.Fields(q.Get("scope")), oauth.OfflineAccess) || q.Get("prompt") != "consent" {
		t.Fatalf("authorization request scope %q prompt %q; want offline_access with prompt=consent", q.Get("scope"), q.Get("prompt"))
	}
	if g.Token.RefreshToken == "" {
		t.Fatal("no refresh token from an OpenID provider that was asked with prompt=consent")
	}
	tok, err := oauth.Refresh(ctxT(t), newClient(), g.Metadata, g.Registration, g.Token.RefreshToken, g.Token.Scopes)
	if err != nil || !as.Accepts(tok.AccessToken) {
		t.Fatalf("refresh: %v", err)
	}

	// Without offline_access (WantRefresh off) there is no prompt to add.
	f.WantRefresh = false
	if _, err := f.Login(ctxT(t), oauth.LoginRequest{ServerURL: as.URL, Browser: followRedirect}); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if q := as.LastAuthorization(); q.Has("prompt") || strings.Contains(q.Get("scope"), oauth.OfflineAccess) {
		t.Errorf("without offline_access the request still says scope %q prompt %q", q.Get("scope"), q.Get("prompt"))
	}
}
