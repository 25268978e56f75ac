package cli

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestTokenOneRequest: `mcpauthd token URL` (what a headersHelper runs
// before every request) makes one request of a running daemon, the token
// hand-out, and no status check before it; with no daemon running (and
// autostart off) it still says so, naming the socket.
func TestTokenOneRequest(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "run", "mcpauthd.sock")
	l, err := ipc.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/v1/token" {
			io.WriteString(w, `{"access_token":"tok-1","token_type":"Bearer"}`)
			return
		}
		io.WriteString(w, `{}`)
	})}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	e, stdout, _, _ := testEnv(t)
	e.Paths.Socket = sock
	if err := Run(context.Background(), e, []string{"token", "https://mcp.example.com/mcp"}); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "tok-1\n" {
		t.Fatalf("stdout %q", stdout.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "POST /v1/token" {
		t.Fatalf("requests %v, want only POST /v1/token", got)
	}

	e, _, _, _ = testEnv(t)
	err = Run(context.Background(), e, []string{"token", "https://mcp.example.com/mcp"})
	if err == nil || !strings.Contains(err.Error(), "no mcpauthd is running at "+e.Paths.Socket) {
		t.Fatalf("with no daemon: %v", err)
	}
}
