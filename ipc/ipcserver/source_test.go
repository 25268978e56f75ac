package ipcserver

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/ipc/ipcsource"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// TestSourceSucceededEndsSignInRun: the one token source limits a
// challenge-driven sign-in loop the same way over the socket (the stdio
// proxy) and in-process (the reverse proxy for apps): a success after a
// challenge reaches the daemon (/v1/succeeded) and ends the run of
// sign-ins, so a server that refuses a token now and then is signed in to
// again each time; without successes the daemon gives up after
// oauth.MaxAuthorizations. Before, the socket had no route for a success:
// the stdio proxy's source dropped it, and its (MaxAuthorizations+1)-th
// challenge within a minute failed however many requests had succeeded in
// between.
func TestSourceSucceededEndsSignInRun(t *testing.T) {
	a := testfake.NewDPoPAS(t)
	h := newHandlerWith(t, nil, 30*time.Second)
	c := serveClient(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Login(ctx, &ipc.LoginRequest{URL: a.URL, Wait: true,
		Grant: &ipc.GrantConfig{Type: ipc.GrantClientCredentials, ClientID: a.ClientID, ClientSecret: a.ClientSecret}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		daemon ipcsource.Daemon
	}{
		{"socket", c},
		{"in-process", h.D.For(ipc.Peer{UID: os.Getuid(), App: "test"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// challenge hands the daemon a refusal of the current token, as a
			// server that revoked it would, and says whether a retry may
			// succeed (the daemon signed in again).
			challenge := func(src *ipcsource.Source) error {
				cred, err := src.Credential(ctx, "POST", a.URL, "")
				if err != nil {
					t.Fatal(err)
				}
				if cred.Scheme != oauth.DPoPScheme || cred.Proof == "" {
					t.Fatalf("credential %q with proof %v; want DPoP with a proof", cred.Scheme, cred.Proof != "")
				}
				return src.Challenged(ctx, cred.Token, &oauth.Challenge{Status: 401})
			}
			src := &ipcsource.Source{Daemon: tt.daemon, URL: a.URL}
			grants, _ := a.Counts()
			for i := range 2 * oauth.MaxAuthorizations {
				if err := challenge(src); err != nil {
					t.Fatalf("challenge %d with a success after each: %v", i+1, err)
				}
				src.Succeeded(ctx)
			}
			if g, _ := a.Counts(); g-grants != 2*oauth.MaxAuthorizations {
				t.Fatalf("%d sign-ins for %d challenges", g-grants, 2*oauth.MaxAuthorizations)
			}
			// Without successes the run is cut: the limit is real.
			var err error
			for range oauth.MaxAuthorizations + 1 {
				if err = challenge(src); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), "gave up") {
				t.Fatalf("%d challenges without a success: %v; want the daemon to give up", oauth.MaxAuthorizations+1, err)
			}
			// A success ends that run too: the next refusal signs in again.
			src.Succeeded(ctx)
			if err := challenge(src); err != nil {
				t.Fatalf("challenge after the success that ended a cut run: %v", err)
			}
			src.Succeeded(ctx)
		})
	}
}
