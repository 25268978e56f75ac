package ipcsource_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/ipc/ipcsource"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// fakeDaemon records what a Source asks. The real daemon behind the real
// socket is in ipcserver's TestSourceSucceededEndsSignInRun.
type fakeDaemon struct {
	mu        sync.Mutex
	tokenErr  error
	requests  []*ipc.TokenRequest
	challenge []*ipc.ChallengeRequest
	succeeded []string
}

func (f *fakeDaemon) TokenFor(_ context.Context, r *ipc.TokenRequest) (*ipc.TokenResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r)
	if f.tokenErr != nil {
		return nil, f.tokenErr
	}
	return &ipc.TokenResponse{AccessToken: "tok", TokenType: "DPoP", DPoPProof: "proof"}, nil
}

func (f *fakeDaemon) Challenge(_ context.Context, r *ipc.ChallengeRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.challenge = append(f.challenge, r)
	return nil
}

func (f *fakeDaemon) Succeeded(_ context.Context, url, account string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.succeeded = append(f.succeeded, url+"#"+account)
	return nil
}

// TestAccount: a Source for one account of the server names it in every
// request to the daemon: token, challenge and success.
func TestAccount(t *testing.T) {
	ctx := context.Background()
	f := &fakeDaemon{}
	src := &ipcsource.Source{Daemon: f, URL: "https://mcp.example/mcp", Account: "work"}
	if _, err := src.Credential(ctx, "POST", src.URL, ""); err != nil {
		t.Fatal(err)
	}
	if err := src.Challenged(ctx, "tok", &oauth.Challenge{Status: 401}); err != nil {
		t.Fatal(err)
	}
	src.Succeeded(ctx)
	if f.requests[0].Account != "work" || f.challenge[0].Account != "work" || f.succeeded[0] != src.URL+"#work" {
		t.Fatalf("token %q, challenge %q, succeeded %q; want account work in each", f.requests[0].Account, f.challenge[0].Account, f.succeeded[0])
	}
}

// TestCredential: the request each credential is for reaches the daemon
// (which signs the DPoP proof); "needs sign-in" is an empty credential, so
// the request goes out bare and its challenge starts the sign-in; any other
// error is returned.
func TestCredential(t *testing.T) {
	ctx := context.Background()
	f := &fakeDaemon{}
	src := &ipcsource.Source{Daemon: f, URL: "https://mcp.example/mcp"}
	c, err := src.Credential(ctx, "POST", "https://mcp.example/mcp?x", "n-1")
	if err != nil || c.Scheme != "DPoP" || c.Token != "tok" || c.Proof != "proof" {
		t.Fatalf("Credential = %+v, %v", c, err)
	}
	if r := f.requests[0]; r.URL != src.URL || r.DPoP == nil || *r.DPoP != (ipc.DPoPRequest{Method: "POST", URL: "https://mcp.example/mcp?x", Nonce: "n-1"}) {
		t.Fatalf("asked the daemon %+v", r)
	}
	f.tokenErr = fmt.Errorf("wrapped: %w", &ipc.Error{Code: ipc.CodeNeedsSignIn, Message: "not signed in"})
	if c, err := src.Credential(ctx, "POST", src.URL, ""); err != nil || *c != (oauth.Credential{}) {
		t.Fatalf("Credential while not signed in = %+v, %v; want an empty credential", c, err)
	}
	f.tokenErr = errors.New("daemon gone")
	if _, err := src.Credential(ctx, "POST", src.URL, ""); err == nil {
		t.Fatal("Credential hid the daemon's error")
	}
}

// TestSucceededAfterChallenge: a success is reported to the daemon once
// after each challenge, and not at all otherwise (a round trip per request
// would be paid by every request through the stdio proxy).
func TestSucceededAfterChallenge(t *testing.T) {
	ctx := context.Background()
	f := &fakeDaemon{}
	src := &ipcsource.Source{Daemon: f, URL: "https://mcp.example/mcp"}
	src.Succeeded(ctx)
	if len(f.succeeded) != 0 {
		t.Fatalf("reported %v without a challenge", f.succeeded)
	}
	if err := src.Challenged(ctx, "tok", &oauth.Challenge{Status: 401}); err != nil {
		t.Fatal(err)
	}
	src.Succeeded(ctx)
	src.Succeeded(ctx)
	if len(f.succeeded) != 1 || f.succeeded[0] != src.URL+"#" {
		t.Fatalf("reported %v; want %s once", f.succeeded, src.URL)
	}
}
