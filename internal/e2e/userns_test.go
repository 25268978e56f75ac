package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestUserNamespacePeers is the container case with the kernel's own
// mechanism (unshare -U, as rootless container runtimes do): a client in a
// user namespace whose uid 1000 maps to the daemon's user gets the token
// (it sees the socket served by itself, uid 1000; the daemon sees its own
// uid), and is marked "container" in the daemon's log. Another user in a
// namespace of its own (its uid 0 maps to that user): its client refuses
// the socket naming the uid it sees serving it (unmapped: the overflow uid
// 65534), and a raw request that skips that check is refused by the daemon
// naming the uid the connection came from.
func TestUserNamespacePeers(t *testing.T) {
	needRoot(t)
	_, err := exec.LookPath("unshare")
	need(t, err == nil, "unshare (util-linux)")
	a := newFlakyAS(t)
	in := newInstance(t)
	tok := a.signIn(t, in)

	mapped := exec.Command("unshare", "--user", "--map-user=1000", "--map-group=1000", in.bin, "token", a.url)
	mapped.Env = in.env
	out, code := runCmd(t, mapped)
	if code != 0 || strings.TrimSpace(out) != tok {
		t.Fatalf("a client in a user namespace mapped to the user: exit %d %q; want the token", code, out)
	}

	u := testUser(t, "mcpauthd-e2e")
	helper := exposeForOthers(t, in)
	_ = os.Chmod(filepath.Dir(in.socket()), 0o755)
	_ = os.Chmod(in.socket(), 0o666)
	out, code = runCmd(t, asUser(u, in.env, "unshare", "--user", "--map-root-user", in.bin, "status"))
	if want := "it is served by uid 65534, not by you (uid 0)"; code == 0 || !strings.Contains(out, want) {
		t.Fatalf("another user's client in its own user namespace: exit %d, %s; want %q", code, out, want)
	}
	out, _ = runCmd(t, asUser(u, []string{helperMode + "=raw", helperSocks + "=" + in.socket()}, "unshare", "--user", "--map-root-user", helper))
	if want := "came from uid " + u.Uid; !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, want) {
		t.Fatalf("another user's raw request from its own user namespace: %s; want 403 naming %q", out, want)
	}

	var container int
	for _, r := range in.stoppedAudit(a.url) {
		if strings.HasPrefix(r.Via, ipc.ViaContainer+": peer pid ") && strings.HasSuffix(r.Via, "in another user namespace") {
			container++
		}
	}
	if container != 1 {
		t.Fatalf("%d hand-outs marked as from another user namespace, want 1", container)
	}
}
