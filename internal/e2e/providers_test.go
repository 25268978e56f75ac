package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// refreshNow refreshes url's token through the daemon's API and returns the
// token then handed out.
func (in *instance) refreshNow(url string) string {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := ipc.NewClient(in.socket()).Refresh(ctx, url); err != nil {
		in.t.Fatalf("refresh %s: %v", url, err)
	}
	return strings.TrimSpace(in.must("token", url))
}

// TestProviderOIDCOfflineConsent: through the real binary, a stock OpenID
// provider that enforces OIDC Core §11 (offline_access counts only with
// prompt=consent) issues a refresh token, which then refreshes.
func TestProviderOIDCOfflineConsent(t *testing.T) {
	as := testfake.NewProviderAS(t, testfake.StyleOIDC)
	in := newInstance(t)
	login(t, in, as.URL)
	if q := as.LastAuthorization(); q.Get("prompt") != "consent" {
		t.Errorf("authorization request prompt %q; want consent", q.Get("prompt"))
	}
	if info := in.serverInfo(as.URL); !info.HasRefreshToken {
		t.Fatalf("no refresh token after signing in to an OpenID provider: %+v", info)
	}
	before := strings.TrimSpace(in.must("token", as.URL))
	after := in.refreshNow(as.URL)
	if after == before || !as.Accepts(after) {
		t.Fatal("the refreshed token is not a new token the server accepts")
	}
}
