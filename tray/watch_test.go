package tray

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestWatchResubscribesWhenLagged: a stream the daemon ends with
// ipc.EventLagged is not a lost daemon: the tray subscribes again at once
// (no "lost" update, no disconnected state) and carries on with the fresh
// snapshot.
func TestWatchResubscribesWhenLagged(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var streams atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/events" {
			http.NotFound(w, r)
			return
		}
		n := streams.Add(1)
		enc := json.NewEncoder(w)
		_ = enc.Encode(ipc.Event{Type: "hello"})
		if n == 1 {
			_ = enc.Encode(ipc.Event{Type: "server", Server: &ipc.ServerInfo{URL: "https://a.example/mcp"}})
			_ = enc.Encode(ipc.Event{Type: ipc.EventLagged})
			return
		}
		_ = enc.Encode(ipc.Event{Type: "server", Server: &ipc.ServerInfo{URL: "https://b.example/mcp"}})
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang detector
	defer cancel()
	tr := &tray{cfg: Config{Client: ipc.NewClient(sock)}, log: slog.New(slog.DiscardHandler)}
	out := make(chan update)
	done := make(chan struct{})
	go func() { tr.watch(ctx, out); close(done) }()
	var got []string
	for len(got) < 4 {
		select {
		case u := <-out:
			if u.lost != nil {
				t.Fatalf("after %v: reported the stream lost (%v); want a quiet resubscription", got, u.lost)
			}
			s := u.ev.Type
			if u.ev.Server != nil {
				s += " " + u.ev.Server.URL
			}
			got = append(got, s)
		case <-ctx.Done():
			t.Fatalf("updates so far: %v", got)
		}
	}
	want := []string{"hello", "server https://a.example/mcp", "hello", "server https://b.example/mcp"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("updates %q, want %q", got, want)
		}
	}
	if n := streams.Load(); n != 2 {
		t.Errorf("%d subscriptions, want 2", n)
	}
	cancel()
	<-done
}
