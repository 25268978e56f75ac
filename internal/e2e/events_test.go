package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// TestEventsThousandServers: the README promises 1,000 servers. With that
// many in the registry, /v1/events over the real socket answers at once
// with hello and the whole snapshot (it used to hang past 256 servers,
// leaking the handler), twice in a row, and the daemon keeps answering.
func TestEventsThousandServers(t *testing.T) {
	const n = 1000
	in := newInstance(t)
	dir := filepath.Join(in.dir, "data", "mcpauthd")
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := st.PutServer(&store.Server{URL: fmt.Sprintf("https://s%04d.example/mcp", i), Status: ipc.StateSignedOut}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	in.must("status") // starts the daemon over that registry

	for round := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector, not a threshold
		start := time.Now()
		servers, hello := 0, false
		errDone := errors.New("snapshot complete")
		err := ipc.NewClient(in.socket()).Events(ctx, func(ev ipc.Event) error {
			switch ev.Type {
			case "hello":
				hello = true
			case "server":
				servers++
			default:
				return fmt.Errorf("unexpected %q event in the snapshot", ev.Type)
			}
			if servers == n {
				return errDone
			}
			return nil
		})
		cancel()
		if !errors.Is(err, errDone) || !hello {
			t.Fatalf("round %d: hello %v, %d of %d server events, then %v", round, hello, servers, n, err)
		}
		t.Logf("round %d: hello and %d server events in %v", round, n, time.Since(start))
	}
	if _, err := ipc.NewClient(in.socket()).Status(context.Background()); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("status after the streams: %v", err)
	}
}
