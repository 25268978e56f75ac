//go:build !darwin || cgo

package tray

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/webui/webentry"
)

// TestOpenWebDuringReconnect: a click on "Add server…" runs on its own
// goroutine while the loop goroutine reconnects and sets the web page's
// entry URL again; the click opens a one-time link (never the secret)
// from the URL before or after, and under -race the two do not race.
func TestOpenWebDuringReconnect(t *testing.T) {
	t.Setenv("DISPLAY", "") // no clipboard tool: checkClipboard gives up at once
	t.Setenv("WAYLAND_DISPLAY", "")
	entry := "http://127.0.0.1:53682/?" + webentry.SecretParam + "=s3cret"
	sock := filepath.Join(t.TempDir(), "run", "s.sock") // Listen wants its own 0700 directory
	l, err := ipc.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(&ipc.Status{WebURL: entry})
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	opened := make(chan string, 1)
	tr := &tray{
		cfg: Config{Client: ipc.NewClient(sock), OpenURL: func(u string) error { opened <- u; return nil }},
		log: slog.New(slog.DiscardHandler), servers: map[string]ipc.ServerInfo{}, last: map[string]ipc.State{},
	}
	ctx := context.Background()
	hello := update{ev: &ipc.Event{Type: "hello"}}
	tr.apply(ctx, hello) // connected: the entry URL is known
	var wg sync.WaitGroup
	wg.Go(func() { tr.apply(ctx, hello) }) // the loop, reconnected
	// A click.
	wg.Go(func() {
		if err := tr.openWeb("#add"); err != nil {
			t.Errorf("openWeb: %v", err)
		}
	})
	wg.Wait()
	link, err := url.Parse(<-opened)
	if err != nil || link.Query().Get(webentry.TicketParam) == "" || link.Query().Has(webentry.SecretParam) || link.Fragment != "add" {
		t.Fatalf("opened %v (%v); want a one-time link without the secret, to #add", link, err)
	}
}
