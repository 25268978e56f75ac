package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// sshHost is OpenSSH's sshd on a loopback port standing in for a remote
// machine ("remote" in its ssh config): root logs in with a key of the
// test's own; the "remote" session's environment is sshd's (no variable of
// the test's), plus PATH with the mcpauthd under test, MCPAUTH_SOCK (where
// the remote mcpauthd looks for its socket) and XDG directories of its own,
// so a remote mcpauthd that started a daemon of its own would show.
type sshHost struct {
	dir        string // holds the keys, the config, the remote's files
	config     string // ssh -F file: Host remote, and Include forward.conf
	forward    string // the file ssh-config's output goes to
	remoteSock string // MCPAUTH_SOCK on the remote side
	bin        string // a directory with an ssh that uses config
}

func startSSHHost(t *testing.T, in *instance) *sshHost {
	t.Helper()
	if os.Getuid() != 0 {
		need(t, false, "root (sshd)")
	}
	_, err := os.Stat("/usr/sbin/sshd")
	need(t, err == nil, "/usr/sbin/sshd (Debian openssh-server)")
	_, err = exec.LookPath("ssh")
	need(t, err == nil, "ssh (Debian openssh-client)")
	// Short: socket paths must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "ssh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &sshHost{dir: dir, config: filepath.Join(dir, "config"), forward: filepath.Join(dir, "forward.conf"),
		remoteSock: filepath.Join(dir, "remote", "run", "mcpauthd.sock"), bin: filepath.Join(dir, "bin")}
	for _, d := range []string{"remote/run", "bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"host", "user"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v %s", err, out)
		}
	}
	userPub, _ := os.ReadFile(filepath.Join(dir, "user.pub"))
	hostPub, _ := os.ReadFile(filepath.Join(dir, "host.pub"))
	write := func(name, content string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("authorized_keys", string(userPub), 0o600)
	port := freePort(t)
	write("known_hosts", fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub), 0o600)
	write("forward.conf", "", 0o600)
	r := filepath.Join(dir, "remote")
	remoteEnv := strings.Join([]string{"PATH=" + filepath.Dir(in.bin) + ":/usr/bin:/bin", "MCPAUTH_SOCK=" + h.remoteSock,
		"XDG_DATA_HOME=" + r + "/data", "XDG_CONFIG_HOME=" + r + "/config", "XDG_STATE_HOME=" + r + "/state"}, " ")
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	sshd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null", "-p", strconv.Itoa(port), "-h", filepath.Join(dir, "host"),
		"-o", "ListenAddress=127.0.0.1", "-o", "AuthorizedKeysFile="+filepath.Join(dir, "authorized_keys"), "-o", "StrictModes=no",
		"-o", "PidFile=none", "-o", "UsePAM=no", "-o", "StreamLocalBindUnlink=yes", "-o", "PermitRootLogin=prohibit-password",
		"-o", "SetEnv="+remoteEnv)
	var logs lockedBuffer
	sshd.Stderr = &logs
	if err := sshd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sshd.Process.Kill()
		_ = sshd.Wait()
		if t.Failed() {
			t.Logf("sshd:\n%s", logs.String())
		}
	})
	waitPort(t, port)
	write("config", fmt.Sprintf(`Host remote
    HostName 127.0.0.1
    Port %d
    User root
    IdentityFile %s
    IdentitiesOnly yes
    UserKnownHostsFile %s
    StrictHostKeyChecking yes
    BatchMode yes
    LogLevel ERROR
Include %s
`, port, filepath.Join(dir, "user"), filepath.Join(dir, "known_hosts"), h.forward), 0o600)
	// `mcpauthd ssh-config remote` runs ssh from PATH: this one reads config.
	write("bin/ssh", "#!/bin/sh\nexec /usr/bin/ssh -F "+h.config+` "$@"`+"\n", 0o700)
	return h
}

// sshConfig runs `mcpauthd ssh-config remote ARGS…` on the daemon's side
// and makes its output the forwarding the next ssh connections use.
func (h *sshHost) sshConfig(t *testing.T, in *instance, args ...string) string {
	t.Helper()
	cmd := exec.Command(in.bin, append([]string{"ssh-config", "remote"}, args...)...)
	cmd.Env = append(in.env, "PATH="+h.bin+":"+os.Getenv("PATH"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh-config %v: %v %s", args, err, out)
	}
	if err := os.WriteFile(h.forward, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// remote runs mcpauthd ARGS… on the remote side (through ssh, which
// forwards the socket as configured) with stdin, and returns its combined
// output and exit status.
func (h *sshHost) remote(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("ssh", append([]string{"-F", h.config, "remote", "mcpauthd"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, cmd)
}

// TestRemoteOverSSH is the laptop lending its daemon to a dev box over a
// real OpenSSH connection: `mcpauthd ssh-config` asks the remote mcpauthd
// for its socket path and prints the lines; with them, the remote CLI signs
// in (the browser opens on the daemon's side: the remote has none, and the
// callback is the daemon's loopback), gets the daemon's token through
// token, headers and exec, runs the stdio proxy; no daemon ever starts remotely; the audit log marks the
// remote hand-outs as forwarded by ssh. With `ssh-config --read-only`, or
// the forwarded = "read-only" setting, the remote side still gets tokens
// but its sign-in is refused.
func TestRemoteOverSSH(t *testing.T) {
	a := newFlakyAS(t)
	b := newFlakyAS(t)
	in := newInstance(t)
	in.must("status")
	h := startSSHHost(t, in)

	lines := h.sshConfig(t, in)
	want := "RemoteForward " + h.remoteSock + " " + in.socket()
	if !strings.Contains(lines, "Host remote\n") || !strings.Contains(lines, want) || !strings.Contains(lines, "StreamLocalBindUnlink yes") {
		t.Fatalf("ssh-config:\n%s\nwant a line %q", lines, want)
	}

	out, code := h.remote(t, "", "login", a.url)
	if code != 0 || !strings.Contains(out, "Signed in to") {
		t.Fatalf("remote login: exit %d\n%s", code, out)
	}
	out, code = h.remote(t, "", "token", a.url)
	tok := strings.TrimSpace(out)
	if code != 0 || tok != strings.TrimSpace(in.must("token", a.url)) || a.mcpStatus(t, tok) != 200 {
		t.Fatalf("remote token: exit %d %q; want the daemon's working token", code, out)
	}
	if out, code := h.remote(t, "", "headers", a.url); code != 0 || !strings.Contains(out, `"Bearer `+tok+`"`) {
		t.Fatalf("remote headers: exit %d %q", code, out)
	}
	if out, code := h.remote(t, "", "exec", a.url, "--", "printenv", "MCP_ACCESS_TOKEN"); code != 0 || strings.TrimSpace(out) != tok {
		t.Fatalf("remote exec: exit %d %q", code, out)
	}
	rpc := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"remote","version":"0"}}}
{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/list"}
`
	out, code = h.remote(t, rpc, "proxy", a.url)
	if code != 0 || !strings.Contains(out, `"flaky-e2e"`) || !strings.Contains(out, `"id":2,"result"`) || !strings.Contains(out, `"name":"ping"`) {
		t.Fatalf("remote proxy: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "remote", "state", "mcpauthd")); err == nil {
		t.Fatal("a daemon started on the remote side")
	}

	// Read-only: tokens yes, sign-in no.
	lines = h.sshConfig(t, in, "--read-only")
	if want := "RemoteForward " + h.remoteSock + " " + ipc.ReadOnlySocket(in.socket()); !strings.Contains(lines, want) {
		t.Fatalf("ssh-config --read-only:\n%s\nwant %q", lines, want)
	}
	if out, code := h.remote(t, "", "token", a.url); code != 0 || strings.TrimSpace(out) != tok {
		t.Fatalf("read-only remote token: exit %d %q", code, out)
	}
	out, code = h.remote(t, "", "login", b.url)
	if code == 0 || !strings.Contains(out, "read-only") {
		t.Fatalf("read-only remote login: exit %d\n%s; want a refusal saying read-only", code, out)
	}
	if out, code := h.remote(t, "", "logout", a.url); code == 0 || !strings.Contains(out, "read-only") {
		t.Fatalf("read-only remote logout: exit %d\n%s", code, out)
	}
	for _, s := range in.servers() {
		if s.URL == b.url && s.Status == ipc.StateSignedIn {
			t.Fatal("the read-only forward signed in")
		}
	}

	// The forwarded = "read-only" setting: the ordinary socket, forwarded
	// by ssh, is read-only too; local callers are not.
	h.sshConfig(t, in)
	in.restart()
	in.env = append(in.env, "MCPAUTH_FORWARDED=read-only")
	in.must("status") // starts the daemon with the setting
	if out, code := h.remote(t, "", "token", a.url); code != 0 || strings.TrimSpace(out) != tok {
		t.Fatalf("remote token with forwarded = read-only: exit %d %q", code, out)
	}
	out, code = h.remote(t, "", "login", b.url)
	if code == 0 || !strings.Contains(out, "read-only ("+ipc.ViaSSH+": forwarded by the OpenSSH client") {
		t.Fatalf("remote login with forwarded = read-only: exit %d\n%s; want a refusal naming the ssh forward", code, out)
	}

	// The audit log: remote hand-outs say ssh forwarded them, local ones
	// say nothing.
	in.must("token", a.url)
	recs := in.stoppedAudit(a.url)
	var viaSSH, local int
	for _, r := range recs {
		switch {
		case strings.HasPrefix(r.Via, ipc.ViaSSH+": forwarded by the OpenSSH client"):
			viaSSH++
		case r.Via == "":
			local++
		default:
			t.Errorf("unexpected origin %q", r.Via)
		}
	}
	if viaSSH == 0 || local == 0 {
		t.Fatalf("audit: %d forwarded, %d local hand-outs; want both: %+v", viaSSH, local, recs)
	}
}

// stoppedAudit stops in's daemon (which writes its queued audit records)
// and returns the audit log's records for url.
func (in *instance) stoppedAudit(url string) []store.AuditRecord {
	in.t.Helper()
	if err := ipc.NewClient(in.socket()).Shutdown(context.Background()); err != nil {
		in.t.Fatal(err)
	}
	waitGone(in.t, in.socket())
	st, err := store.Open(filepath.Join(in.dir, "data", "mcpauthd", "registry.db"), store.Options{Secrets: store.KeyringBackend{}})
	if err != nil {
		in.t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(url, 0)
	if err != nil {
		in.t.Fatal(err)
	}
	return recs
}
