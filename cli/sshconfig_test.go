package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/internal/paths"
)

// TestSSHConfigLines: the printed block forwards --remote-socket to this
// machine's socket (or its read-only socket), quoting a path with a space
// (macOS's "Application Support"); a host that ssh would read as an option
// (-oProxyCommand=…) and remote paths ssh_config cannot carry are refused
// before ssh ever runs (PATH holds no ssh here).
func TestSSHConfigLines(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	local := "/Users/me/Library/Application Support/mcpauthd/run/mcpauthd.sock"
	run := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		e := &Env{Paths: paths.Paths{Socket: local}, Stdout: &out, Stderr: &errb, NoAutostart: true}
		err := runSSHConfig(context.Background(), e, args)
		return out.String(), err
	}
	out, err := run("devbox", "--remote-socket", "/run/user/1000/mcpauthd/mcpauthd.sock")
	if want := "Host devbox\n    RemoteForward /run/user/1000/mcpauthd/mcpauthd.sock \"" + local + "\"\n    StreamLocalBindUnlink yes\n"; err != nil || !strings.HasSuffix(out, want) {
		t.Fatalf("ssh-config: %v\n%s\nwant it to end with\n%s", err, out, want)
	}
	out, err = run("devbox", "--read-only", "--remote-socket", "/home/me/.mcpauthd.sock")
	if want := "RemoteForward /home/me/.mcpauthd.sock \"/Users/me/Library/Application Support/mcpauthd/run/mcpauthd-readonly.sock\""; err != nil || !strings.Contains(out, want) {
		t.Fatalf("ssh-config --read-only: %v\n%s\nwant %s", err, out, want)
	}
	for _, bad := range [][]string{
		{"-oProxyCommand=touch /tmp/x", "--remote-socket", "/r.sock"},
		{"dev box", "--remote-socket", "/r.sock"},
		{"devbox", "--remote-socket", "relative.sock"},
		{"devbox", "--remote-socket", "/r\n    ProxyCommand x.sock"},
		{"devbox", "--remote-socket", "/%d/r.sock"},
	} {
		if out, err := run(bad...); err == nil {
			t.Errorf("ssh-config %q: printed\n%s\nwant an error", bad, out)
		}
	}
	// Without --remote-socket it asks the host over ssh: with no ssh, the
	// error says what to do.
	_, err = run("devbox")
	if err == nil || !strings.Contains(err.Error(), "--remote-socket") {
		t.Fatalf("ssh-config without ssh: %v", err)
	}
}
