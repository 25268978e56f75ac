package ipc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// serveSocket serves h on a fresh socket until the test ends and returns
// the socket's path.
func serveSocket(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := ipc.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return sock
}

// TestZeroClientConcurrentFirstUse: a zero Client with only Socket set is
// usable from many goroutines at once, its first calls included (under
// -race, a lazily built HTTP client without sync.Once is a data race).
func TestZeroClientConcurrentFirstUse(t *testing.T) {
	sock := serveSocket(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(&ipc.Status{Version: "test"})
	}))
	c := &ipc.Client{Socket: sock}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			st, err := c.Status(context.Background())
			if err == nil && st.Version != "test" {
				err = &ipc.Error{Code: ipc.CodeInternal, Message: "wrong status " + st.Version}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
}
