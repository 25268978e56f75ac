package daemon_test

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

func appsDaemon(t *testing.T) *daemon.Daemon {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, log)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{Store: st, Logger: log, CallbackAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); st.Close() })
	return d
}

// TestAppsListenerState: how the reverse proxy came up is in Status; while
// it could not listen, AddApp refuses with the reason and stores nothing;
// once it listens, the app's URLs are built on its origin.
func TestAppsListenerState(t *testing.T) {
	d := appsDaemon(t)
	taken := errors.New("cannot listen on 127.0.0.1:53683 for apps: it is held by another user: uid 1234; set MCPAUTH_APPS_ADDR")
	d.SetApps(daemon.AppsListener{Err: taken})
	if s := d.Status(); s.AppsError != taken.Error() || s.AppsURL != "" {
		t.Fatalf("status: %q %q", s.AppsError, s.AppsURL)
	}
	a, err := d.AddApp(&ipc.AppRequest{Name: "cursor", Server: "https://mcp.example.com/mcp"})
	if err == nil || !strings.Contains(err.Error(), "uid 1234") || !strings.Contains(err.Error(), "MCPAUTH_APPS_ADDR") || a != nil {
		t.Fatalf("add while the port is taken: %+v, %v", a, err)
	}
	if apps, err := d.Apps(); err != nil || len(apps) != 0 {
		t.Fatalf("apps after a refused add: %+v %v", apps, err)
	}

	d.SetApps(daemon.AppsListener{URL: "http://127.0.0.1:5000/", UIDChecked: true})
	if s := d.Status(); s.AppsError != "" || s.AppsURL != "http://127.0.0.1:5000" || !s.AppsUIDChecked {
		t.Fatalf("status: %+v", s)
	}
	a, err = d.AddApp(&ipc.AppRequest{Name: "cursor", Server: "https://mcp.example.com/mcp"})
	if err != nil || a.URL != "http://127.0.0.1:5000/s/cursor" || a.KeyURL != a.URL+"/k/"+a.Key || a.Key == "" {
		t.Fatalf("add: %+v %v", a, err)
	}
}
