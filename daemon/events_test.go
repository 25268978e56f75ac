package daemon

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// newEventsDaemon is a daemon over an empty store with n servers known
// (added directly: their records are never written, events only).
func newEventsDaemon(t *testing.T, n int) *Daemon {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	d, err := New(Config{Store: st, Logger: log, CallbackAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	for i := range n {
		s := d.newServer(&store.Server{URL: fmt.Sprintf("https://s%04d.example/mcp", i)})
		d.mu.Lock()
		d.servers[s.url] = s
		d.mu.Unlock()
	}
	return d
}

// rename changes what s shows and publishes it, as any state change does.
func rename(s *server, name string) {
	s.mu.Lock()
	rec := s.rec
	s.mu.Unlock()
	rec.Name = name
	s.setRecord(rec)
}

// TestSubscribeSnapshotRace: a change racing a Subscribe is either in the
// snapshot or delivered after it, never lost. Each round renames the one
// server while another goroutine subscribes; once both are done, the last
// name the subscriber saw must be the server's name. (Before the snapshot
// and the registration were one step, a change between them was lost.)
func TestSubscribeSnapshotRace(t *testing.T) {
	d := newEventsDaemon(t, 1)
	s := d.server("https://s0000.example/mcp")
	const rounds = 10000
	lost := 0
	for i := range rounds {
		var go1 atomic.Bool
		done := make(chan struct{})
		name := fmt.Sprint("name-", i)
		go func() {
			defer close(done)
			for !go1.Load() {
				runtime.Gosched()
			}
			rename(s, name)
		}()
		go1.Store(true)
		ch := d.Subscribe()
		<-done
		seen := ""
		for len(ch) > 0 {
			if ev := <-ch; ev.Server != nil {
				seen = ev.Server.Name
			}
		}
		d.Unsubscribe(ch)
		if seen != name {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d subscribers never saw the change that raced their Subscribe", lost, rounds)
	}
}

// TestSubscribeThousandServersStalled: with 1,000 servers Subscribe returns
// at once with the whole snapshot queued; a subscriber that never reads
// holds up no publish, and once it is subscribeHeadroom events behind it
// is sent ipc.EventLagged and closed, having lost nothing before that. No
// goroutine is left behind.
func TestSubscribeThousandServersStalled(t *testing.T) {
	const n = 1000
	d := newEventsDaemon(t, n)
	before := runtime.NumGoroutine()
	stalled := d.Subscribe() // never read until the end
	if len(stalled) != n {
		t.Fatalf("snapshot of %d events queued, want %d", len(stalled), n)
	}
	reader := d.Subscribe()
	s := d.server("https://s0000.example/mcp")
	got := 0
	for i := range 2 * subHeadroom {
		rename(s, fmt.Sprint("n", i)) // returns: publish does not wait for stalled
		for len(reader) > 0 {
			<-reader
			got++
		}
	}
	if got != n+2*subHeadroom {
		t.Errorf("the reading subscriber got %d events, want %d", got, n+2*subHeadroom)
	}
	var evs []ipc.Event
	for ev := range stalled { // ends: the channel was closed
		evs = append(evs, ev)
	}
	if len(evs) != n+subHeadroom {
		t.Fatalf("the stalled subscriber got %d events before its channel closed, want %d", len(evs), n+subHeadroom)
	}
	for i, ev := range evs[:len(evs)-1] {
		if ev.Type != "server" {
			t.Fatalf("event %d is %q", i, ev.Type)
		}
	}
	if last := evs[len(evs)-1]; last.Type != ipc.EventLagged || last.Server != nil {
		t.Fatalf("last event %+v, want %q", last, ipc.EventLagged)
	}
	d.Unsubscribe(stalled) // harmless after the daemon dropped it
	d.Unsubscribe(reader)
	if _, open := <-reader; open {
		t.Fatal("reader not closed by Unsubscribe")
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before subscribing, %d after", before, after)
	}
	d.mu.Lock()
	left := len(d.subs)
	d.mu.Unlock()
	if left != 0 {
		t.Errorf("%d subscribers still registered", left)
	}
}
