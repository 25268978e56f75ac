package ipcserver

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

// TestReadOnlySocket: on the read-only socket every call that signs in,
// signs out, changes apps, imports or stops the daemon is refused with a
// message saying the connection is read-only, and the daemon is unchanged;
// reading and token calls get their ordinary answers. On the ordinary
// socket, ForwardedReadOnly does not touch a local caller (no Via).
func TestReadOnlySocket(t *testing.T) {
	h := newTestHandler(t)
	stopped := make(chan bool, 1)
	h.Shutdown = func(bool) { stopped <- true }
	h.ForwardedReadOnly = true
	const url = "http://127.0.0.1:9/mcp"
	addServer(t, h, url)

	sock := filepath.Join(t.TempDir(), "run", "mcpauthd.sock")
	l, err := ipc.Listen(ipc.ReadOnlySocket(sock))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- h.ServeReadOnly(ctx, l) }()
	defer func() { cancel(); <-served }()
	ro := ipc.NewClient(ipc.ReadOnlySocket(sock))

	refused := func(name string, err error) {
		t.Helper()
		var ie *ipc.Error
		if !errors.As(err, &ie) || ie.Code != ipc.CodeForbidden || !strings.Contains(ie.Message, "read-only") {
			t.Errorf("%s on the read-only socket: %v; want forbidden, read-only", name, err)
		}
	}
	_, err = ro.Login(ctx, &ipc.LoginRequest{URL: url})
	refused("Login", err)
	_, err = ro.Logout(ctx, &ipc.ServerRequest{URL: url, Remove: true})
	refused("Logout", err)
	_, err = ro.Complete(ctx, "http://127.0.0.1:1/callback?code=x&state=y")
	refused("Complete", err)
	refused("Challenge", ro.Challenge(ctx, &ipc.ChallengeRequest{URL: url, Status: 401}))
	refused("Shutdown", ro.Shutdown(ctx))
	_, err = ro.SetToolPolicy(ctx, &ipc.ToolPolicyRequest{URL: url, Policy: toolpolicy.Policy{Allow: []string{"*"}}})
	refused("SetToolPolicy", err) // a remote proxy applies the policy; it must not loosen it
	if p, err := ro.ToolPolicy(ctx, url); err != nil || !p.IsZero() {
		t.Fatalf("ToolPolicy on the read-only socket: %s %v; want the server's (none)", p, err)
	}
	select {
	case <-stopped:
		t.Fatal("the read-only socket stopped the daemon")
	default:
	}
	if list, err := ro.Servers(ctx); err != nil || len(list) != 1 {
		t.Fatalf("Servers on the read-only socket: %v %v", list, err)
	}
	var ie *ipc.Error
	if _, err := ro.Token(ctx, url, 0); !errors.As(err, &ie) || ie.Code == ipc.CodeForbidden {
		t.Fatalf("Token on the read-only socket: %v; want its ordinary answer (not signed in)", err)
	}

	// A local caller on the ordinary socket: not read-only.
	c := serveClient(t, h)
	if _, err := c.Logout(ctx, &ipc.ServerRequest{URL: url, Remove: true}); err != nil {
		t.Fatalf("a local Logout with ForwardedReadOnly: %v", err)
	}
}
