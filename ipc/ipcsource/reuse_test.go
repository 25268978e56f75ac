package ipcsource

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
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

// TestReuse: with Reuse a Bearer token is asked of the daemon once, and
// again after Forget, after a challenge, and once it nears its expiry; a
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

	c, n = reuseDaemon(t, &ipc.TokenResponse{AccessToken: "a", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)})
	s = &Source{Daemon: c, URL: "https://x/mcp"}
	get(s)
	get(s)
	if n.Load() != 2 {
		t.Errorf("without Reuse: %d requests, want 2", n.Load())
	}
}
