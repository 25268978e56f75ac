package ipcsource

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// reuseDaemon answers /v1/token over a Unix socket with tok and counts the
// requests.
func reuseDaemon(t *testing.T, tok *ipc.TokenResponse) (*ipc.Client, *atomic.Int32) {
	// A short directory: a socket path may have at most 107 bytes, and
	// t.TempDir under a CI's TMPDIR can be longer.
	dir, err := os.MkdirTemp("/tmp", "ipcsrc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/token":
			n.Add(1)
			_ = json.NewEncoder(w).Encode(tok)
		case "/v1/challenge":
			_, _ = w.Write([]byte("{}"))
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return ipc.NewClient(sock), &n
}

// TestReuse: with Reuse a Bearer token (or the answer that a server needs
// none) is asked of the daemon once, and again after Forget, after a
// challenge, and once it nears its expiry; a
// DPoP-bound token, and any token without Reuse, is asked for every time.
func TestReuse(t *testing.T) {
	ctx := context.Background()
	get := func(s *Source) {
		t.Helper()
		if _, err := s.Credential(ctx, "POST", "https://x/mcp", ""); err != nil {
			t.Fatal(err)
		}
	}
	c, n := reuseDaemon(t, &ipc.TokenResponse{AccessToken: "a", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)})
	s := &Source{Daemon: c, URL: "https://x/mcp", Reuse: time.Minute}
	get(s)
	get(s)
	if n.Load() != 1 {
		t.Fatalf("%d token requests for two uses, want 1", n.Load())
	}
	s.Forget()
	get(s)
	if err := s.Challenged(ctx, "a", &oauth.Challenge{Status: 401}); err != nil {
		t.Fatal(err)
	}
	get(s)
	if n.Load() != 3 {
		t.Fatalf("%d token requests, want 3 (after Forget and after Challenged)", n.Load())
	}

	c, n = reuseDaemon(t, &ipc.TokenResponse{AccessToken: "a", TokenType: "Bearer", Expiry: time.Now().Add(20 * time.Second)})
	s = &Source{Daemon: c, URL: "https://x/mcp", Reuse: time.Minute}
	get(s)
	get(s)
	if n.Load() != 2 {
		t.Errorf("a token within 30 s of its expiry was reused: %d requests, want 2", n.Load())
	}

	c, n = reuseDaemon(t, &ipc.TokenResponse{AccessToken: "a", TokenType: oauth.DPoPScheme, DPoPProof: "p", Expiry: time.Now().Add(time.Hour)})
	s = &Source{Daemon: c, URL: "https://x/mcp", Reuse: time.Minute}
	get(s)
	get(s)
	if n.Load() != 2 {
		t.Errorf("a DPoP-bound token was reused: %d requests, want 2", n.Load())
	}

	// A server that needs no sign-in: the daemon's answer (no token) is
	// reused too, until a challenge drops it.
	c, n = reuseDaemon(t, &ipc.TokenResponse{})
	s = &Source{Daemon: c, URL: "https://x/mcp", Reuse: time.Minute}
	get(s)
	get(s)
	if n.Load() != 1 {
		t.Errorf("a public server's answer was not reused: %d requests, want 1", n.Load())
	}
	if err := s.Challenged(ctx, "", &oauth.Challenge{Status: 401}); err != nil {
		t.Fatal(err)
	}
	get(s)
	if n.Load() != 2 {
		t.Errorf("after a challenge: %d requests, want 2", n.Load())
	}

	c, n = reuseDaemon(t, &ipc.TokenResponse{AccessToken: "a", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)})
	s = &Source{Daemon: c, URL: "https://x/mcp"}
	get(s)
	get(s)
	if n.Load() != 2 {
		t.Errorf("without Reuse: %d requests, want 2", n.Load())
	}
}

// gateDaemon hands out tok from TokenFor once release is closed, counting
// the calls (and those blocked in it).
type gateDaemon struct {
	tok     ipc.TokenResponse
	release chan struct{}
	calls   atomic.Int32
	blocked atomic.Int32
}

func (d *gateDaemon) TokenFor(ctx context.Context, _ *ipc.TokenRequest) (*ipc.TokenResponse, error) {
	d.calls.Add(1)
	d.blocked.Add(1)
	defer d.blocked.Add(-1)
	select {
	case <-d.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	tok := d.tok
	return &tok, nil
}

func (*gateDaemon) Challenge(context.Context, *ipc.ChallengeRequest) error { return nil }
func (*gateDaemon) Succeeded(context.Context, string, string) error        { return nil }

// inCredential counts the goroutines inside Source.Credential.
func inCredential() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "ipcsource.(*Source).Credential(")
}

// waitFor polls cond (the goroutines it counts get there in their own
// time); it fails after a minute, a bound on a hang, not a speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

// TestReuseBurst: with Reuse, a burst of concurrent requests that find no
// token to reuse asks the daemon once, every request getting its token; a
// burst after a DPoP-bound hand-out asks the daemon once per request, all
// at once (none waits for another's); and a hand-out that was in flight
// when Forget was called is not reused.
func TestReuseBurst(t *testing.T) {
	ctx := context.Background()
	const burst = 20
	run := func(s *Source) chan *oauth.Credential {
		got := make(chan *oauth.Credential, burst)
		for range burst {
			go func() {
				c, err := s.Credential(ctx, "POST", "https://x/mcp", "")
				if err != nil {
					t.Error(err)
				}
				got <- c
			}()
		}
		return got
	}

	d := &gateDaemon{tok: ipc.TokenResponse{AccessToken: "a", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, release: make(chan struct{})}
	s := &Source{Daemon: d, URL: "https://x/mcp", Reuse: time.Minute}
	got := run(s)
	waitFor(t, "the burst inside Credential", func() bool { return inCredential() == burst })
	close(d.release)
	for range burst {
		if c := <-got; c == nil || c.Token != "a" {
			t.Fatalf("a request of the burst got %+v", c)
		}
	}
	if n := d.calls.Load(); n != 1 {
		t.Errorf("a burst of %d asked the daemon %d times, want 1", burst, n)
	}

	d = &gateDaemon{tok: ipc.TokenResponse{AccessToken: "a", TokenType: oauth.DPoPScheme, DPoPProof: "p", Expiry: time.Now().Add(time.Hour)}, release: make(chan struct{})}
	close(d.release)
	s = &Source{Daemon: d, URL: "https://x/mcp", Reuse: time.Minute}
	if _, err := s.Credential(ctx, "POST", "https://x/mcp", ""); err != nil {
		t.Fatal(err)
	}
	d.release = make(chan struct{})
	got = run(s)
	waitFor(t, "every request of a DPoP burst asking the daemon at once", func() bool { return d.blocked.Load() == burst })
	close(d.release)
	for range burst {
		<-got
	}

	d = &gateDaemon{tok: ipc.TokenResponse{AccessToken: "a", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}, release: make(chan struct{})}
	s = &Source{Daemon: d, URL: "https://x/mcp", Reuse: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := s.Credential(ctx, "POST", "https://x/mcp", ""); err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, "the hand-out in flight", func() bool { return d.blocked.Load() == 1 })
	s.Forget()
	close(d.release)
	<-done
	if _, err := s.Credential(ctx, "POST", "https://x/mcp", ""); err != nil {
		t.Fatal(err)
	}
	if n := d.calls.Load(); n != 2 {
		t.Errorf("a hand-out in flight during Forget was reused: %d calls, want 2", n)
	}
}
