package daemon_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestServerURLRefused: every API call that takes a server URL refuses one
// that is not an absolute http(s) URL, or that carries user:password@, as
// a bad request naming it, and adds no server.
func TestServerURLRefused(t *testing.T) {
	f, st := testfake.NewOAuth(t), openStore(t)
	d := startFakeDaemon(t, st, f)
	defer d.Close()
	ctx := context.Background()
	for _, bad := range []string{"ftp://mcp.example.com/", "mcp.example.com/mcp", "https://user:pw@mcp.example.com/mcp", "file:///etc/passwd"} {
		calls := map[string]func() error{
			"Login":       func() error { _, err := d.Login(ctx, &ipc.LoginRequest{URL: bad}); return err },
			"SetProvider": func() error { _, err := d.SetProvider(&ipc.ProviderRequest{URL: bad}); return err },
			"Doctor":      func() error { _, err := d.Doctor(ctx, bad); return err },
			"AddApp":      func() error { _, err := d.AddApp(&ipc.AppRequest{Name: "app", Server: bad}); return err },
		}
		for name, call := range calls {
			err := call()
			var ie *ipc.Error
			if !errors.As(err, &ie) || ie.Code != ipc.CodeBadRequest || !strings.Contains(ie.Message, bad) {
				t.Errorf("%s(%q) = %v; want a bad request naming it", name, bad, err)
			}
		}
	}
	if n := len(d.Servers()); n != 0 {
		t.Errorf("%d servers added by refused calls", n)
	}
}
