package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	// 100 tools each: a 2.5 MB snapshot, more than a socket buffers, so a
	// subscriber that does not read holds up the handler's writes.
	tools := make([]string, 100)
	for i := range tools {
		tools[i] = fmt.Sprintf("a_tool_with_a_long_name_%03d", i)
	}
	for i := range n {
		if err := st.PutServer(&store.Server{URL: fmt.Sprintf("https://s%04d.example/mcp", i), Status: string(ipc.StateSignedOut), Tools: tools}); err != nil {
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

	// A subscriber that never reads: 300 changes (sign-outs) all return,
	// and the daemon's memory stays bounded. Read afterwards, the stream
	// has lost nothing: either it carries every event, or (when the
	// socket's buffers filled and the handler fell behind, as on Linux
	// with this 2.5 MB snapshot) it ends with "lagged".
	pid := daemonPID(t, in)
	stalled, err := net.Dial("unix", in.socket())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := io.WriteString(stalled, "GET /v1/events HTTP/1.1\r\nHost: mcpauthd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c := ipc.NewClient(in.socket())
	const changes = 300 // more than the 256 a subscriber may fall behind
	for i := range changes {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a hang detector
		_, err := c.Logout(ctx, &ipc.ServerRequest{URL: fmt.Sprintf("https://s%04d.example/mcp", i)})
		cancel()
		if err != nil {
			t.Fatalf("sign-out %d with a stalled subscriber: %v", i, err)
		}
	}
	const rssLimit = 100 << 20
	if rss := vmRSS(t, pid); rss > rssLimit {
		t.Errorf("daemon RSS %d MB with 1,000 servers and a stalled subscriber; limit %d MB", rss>>20, rssLimit>>20)
	} else {
		t.Logf("daemon RSS %d MB with 1,000 servers, a stalled subscriber and %d changes", rss>>20, changes)
	}
	_ = stalled.SetReadDeadline(time.Now().Add(20 * time.Second)) // a hang detector
	res, err := http.ReadResponse(bufio.NewReader(stalled), nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var last ipc.Event
	events, all := 0, 1+n+changes
	for events < all && sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("event %d: %v", events, err)
		}
		events++
		if last.Type == ipc.EventLagged {
			break
		}
	}
	switch {
	case last.Type == ipc.EventLagged:
		if sc.Scan() {
			t.Errorf("an event after %q", ipc.EventLagged)
		}
		t.Logf("the stalled stream: %d events, the last %q, then its end", events, last.Type)
	case events == all && last.Server != nil && last.Server.URL == fmt.Sprintf("https://s%04d.example/mcp", changes-1):
		t.Logf("the stalled stream: all %d events (the socket held them)", events)
	default:
		t.Fatalf("the stalled stream: %d events of %d, the last %+v (%v); want all of them, or %q last", events, all, last, sc.Err(), ipc.EventLagged)
	}
}

// vmRSS is the resident memory of process pid, in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
