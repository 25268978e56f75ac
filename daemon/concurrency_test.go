package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// openDaemon returns a daemon over a fresh store (file-backed secrets)
// that is closed with the test.
// signedInDPoP is a daemon signed in, with client credentials, to the DPoP
// fake (its tokens DPoP-bound), and a context bounded to a minute.
func signedInDPoP(t *testing.T) (*testfake.DPoPAS, *daemon.Daemon, context.Context) {
	t.Helper()
	a := testfake.NewDPoPAS(t)
	d, _ := openDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	grant := &ipc.GrantConfig{Type: ipc.GrantClientCredentials, ClientID: a.ClientID, ClientSecret: a.ClientSecret}
	if _, err := d.Login(ctx, &ipc.LoginRequest{URL: a.URL, Grant: grant, Wait: true}); err != nil {
		t.Fatal(err)
	}
	return a, d, ctx
}

func openDaemon(t *testing.T) (*daemon.Daemon, *store.Store) {
	t.Helper()
	st := openStore(t)
	d, err := daemon.New(daemon.Config{Store: st, CallbackAddr: "127.0.0.1:1", LoginTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, st
}

// proofATH returns the ath claim of a DPoP proof JWT ("" if unreadable).
func proofATH(proof string) string {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		ATH string `json:"ath"`
	}
	_ = json.Unmarshal(b, &c)
	return c.ATH
}

// TestTokenDuringRefresh: token hand-outs racing with refreshes (and with
// the server's grant configuration being set again) describe one grant
// each: a DPoP-bound token always comes as DPoP with a proof for that very
// token, and every hand-out of one token carries the same expiry. Before,
// the daemon paired the token of one grant with the expiry, type and key of
// the grant a concurrent refresh had just committed, dropping the proof (a
// silent fall-back to Bearer), and set the session's strategy without its
// lock (a data race under -race).
func TestTokenDuringRefresh(t *testing.T) {
	a, d, ctx := signedInDPoP(t)
	grant := &ipc.GrantConfig{Type: ipc.GrantClientCredentials, ClientID: a.ClientID, ClientSecret: a.ClientSecret}

	const refreshes, readers = 10, 2
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for range refreshes {
			if _, err := d.Refresh(ctx, a.URL, ""); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := d.SetGrant(a.URL, grant); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var mu sync.Mutex
	expiry := map[string]time.Time{}
	served := 0
	for range readers {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				r, err := d.TokenFor(ctx, &ipc.TokenRequest{URL: a.URL, DPoP: &ipc.DPoPRequest{Method: "POST", URL: a.URL}}, ipc.Peer{})
				if err != nil {
					t.Error(err)
					return
				}
				sum := sha256.Sum256([]byte(r.AccessToken))
				if r.TokenType != "DPoP" || r.DPoPProof == "" || proofATH(r.DPoPProof) != base64.RawURLEncoding.EncodeToString(sum[:]) {
					t.Errorf("hand-out of a DPoP-bound token: type %q, proof for it: %v", r.TokenType, r.DPoPProof != "" && proofATH(r.DPoPProof) == base64.RawURLEncoding.EncodeToString(sum[:]))
					return
				}
				mu.Lock()
				served++
				if e, ok := expiry[r.AccessToken]; ok && !e.Equal(r.Expiry) {
					t.Errorf("one token handed out with two expiries: %v and %v", e, r.Expiry)
				}
				expiry[r.AccessToken] = r.Expiry
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d hand-outs of %d tokens during %d refreshes", served, len(expiry), refreshes)
}

// TestHandOutAfterClose: a token handed out by a request still running
// after Close (the server's shutdown grace period is over) is served and
// audited, not a panic on the closed audit queue.
func TestHandOutAfterClose(t *testing.T) {
	a, d, ctx := signedInDPoP(t)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := d.Token(ctx, a.URL, 0, ipc.Peer{PID: 4242, Exe: "/usr/bin/late"})
	if err != nil || r.AccessToken == "" {
		t.Fatalf("hand-out after Close: %v", err)
	}
	recs, err := d.Audit(a.URL, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.PID == 4242 && rec.Exe == "/usr/bin/late" && rec.Action == "token" {
			return
		}
	}
	t.Fatalf("the hand-out after Close is not in the audit log: %+v", recs)
}
