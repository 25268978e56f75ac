package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// helperMode makes this test binary, run as another uid, act as that user's
// program (runHelper): "squat" serves sockets at the paths in helperSocks
// and reports what it received; "raw" sends a request to the socket at
// helperSocks without any client-side check and prints the answer.
const (
	helperMode  = "MCPAUTHD_E2E_HELPER"
	helperSocks = "MCPAUTHD_E2E_SOCKS"
)

func runHelper(mode string) int {
	socks := strings.Split(os.Getenv(helperSocks), "\n")
	switch mode {
	case "squat":
		// Create each socket's directory and the socket, open to all (as an
		// attacker would, so the victim's client can connect), and count
		// every byte anyone sends until stdin closes.
		var received, conns atomic.Int64
		for _, sock := range socks {
			if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			_ = os.Chmod(filepath.Dir(sock), 0o755)
			_ = os.Remove(sock)
			l, err := net.Listen("unix", sock)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			_ = os.Chmod(sock, 0o777)
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					conns.Add(1)
					go func() {
						defer c.Close()
						n, _ := io.Copy(io.Discard, c)
						received.Add(n)
					}()
				}
			}()
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		time.Sleep(100 * time.Millisecond) // let the last reads finish
		fmt.Printf("bytes=%d conns=%d\n", received.Load(), conns.Load())
		return 0
	case "raw":
		c, err := net.Dial("unix", socks[0])
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer c.Close()
		fmt.Fprint(c, "GET /v1/status HTTP/1.1\r\nHost: mcpauthd\r\nConnection: close\r\n\r\n")
		_, _ = io.Copy(os.Stdout, c)
		return 0
	}
	if code, ok := approvalHelper(mode); ok {
		return code
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

// needRoot skips (or under CI fails) a test that creates users.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		need(t, false, "root (to create a second user)")
	}
	_, err := exec.LookPath("setpriv")
	need(t, err == nil, "setpriv (util-linux)")
}

// testUser returns the local user name, creating it (no home directory, no
// login shell) when missing.
func testUser(t *testing.T, name string) *user.User {
	t.Helper()
	if _, err := user.Lookup(name); err != nil {
		if out, err := exec.Command("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v %s", err, out)
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// asUser is a command that runs bin as u with exactly the environment env.
func asUser(u *user.User, env []string, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command("setpriv", append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--clear-groups", bin}, args...)...)
	cmd.Env = env
	return cmd
}

// trimmedEnv is the environment the TypeScript SDK gives a stdio server
// (getDefaultEnvironment: HOME, LOGNAME, PATH, SHELL, TERM, USER), as the
// MCP Inspector and other SDK-based apps start `mcpauthd proxy`.
func trimmedEnv(u *user.User, home string) []string {
	return []string{"HOME=" + home, "PATH=/usr/local/bin:/usr/bin:/bin", "USER=" + u.Username, "LOGNAME=" + u.Username, "SHELL=/bin/sh", "TERM=dumb"}
}

// ownedDir creates a fresh directory outside the test's (long) temp path,
// so sockets under it stay within the 108-byte address limit, owned by u
// with mode perm.
func ownedDir(t *testing.T, u *user.User, perm os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mah")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	chown(t, u, dir)
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	return dir
}

func chown(t *testing.T, u *user.User, path string) {
	t.Helper()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// exposeForOthers makes in's binary, and a copy of this test binary (the
// helper modes), runnable by other users; it returns the copy's path.
func exposeForOthers(t *testing.T, in *instance) string {
	t.Helper()
	for _, p := range []string{filepath.Dir(in.dir), in.dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return copySelf(t, in.dir)
}

// copySelf copies this test binary into dir (which other users can reach)
// as a 0755 file, for another user to run its helper modes.
func copySelf(t *testing.T, dir string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(dir, "e2e-helper")
	if err := os.WriteFile(helper, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return helper
}

// squatter is another user's program serving sockets and counting what
// arrives on them.
type squatter struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func squat(t *testing.T, helper string, u *user.User, socks ...string) *squatter {
	t.Helper()
	cmd := asUser(u, []string{helperMode + "=squat", helperSocks + "=" + strings.Join(socks, "\n")}, helper)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &squatter{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, err := s.out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("squatter did not start: %q %v", line, err)
	}
	return s
}

// report stops the squatter and returns the bytes and connections it got.
func (s *squatter) report(t *testing.T) (received, conns int) {
	t.Helper()
	s.stdin.Close()
	line, err := s.out.ReadString('\n')
	if _, serr := fmt.Sscanf(line, "bytes=%d conns=%d", &received, &conns); err != nil || serr != nil {
		t.Fatalf("squatter report %q: %v %v", line, err, serr)
	}
	_ = s.cmd.Wait()
	return received, conns
}

// procsOf lists the running processes (not zombies) whose executable is the
// front bin or the engine beside it (which the front execs into).
func procsOf(bin string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink("/proc/" + e.Name() + "/exe"); err != nil || exe != bin && exe != engineOf(bin) {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			if i := strings.LastIndexByte(string(b), ')'); i >= 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// runCmd runs cmd to its end (killed after 60 s: a daemon that should
// have refused to start ends the test rather than hang it) and returns its
// output and exit status.
func runCmd(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

const initializeLine = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}}` + "\n"

// TestAttackSocketSquat is the attack 4: another user creates the
// victim's socket directory first (here the home-directory fallback, in a
// home the attacker can write to; the old /tmp/mcpauthd-UID is no longer
// looked at) with a listening socket in it, or points MCPAUTH_SOCK at a
// socket of theirs. The victim's token, login with a client secret, and
// proxy send it nothing at all, say which uid they found there, and start
// no daemon; the victim's daemon refuses to serve from that directory.
func TestAttackSocketSquat(t *testing.T) {
	needRoot(t)
	in := newInstance(t)
	helper := exposeForOthers(t, in)
	attacker, victim := testUser(t, "mcpauthd-e2e"), testUser(t, "mcpauthd-e2e-v")

	// The victim's home is writable by the attacker: the fallback socket
	// directory in it is the attacker's, as is the socket in it.
	home := ownedDir(t, attacker, 0o755)
	fallback := filepath.Join(home, ".local", "state", "mcpauthd", "run", "mcpauthd.sock")
	elsewhere := filepath.Join(ownedDir(t, attacker, 0o755), "s", "mcpauthd.sock")
	s := squat(t, helper, attacker, fallback, elsewhere)

	secret := filepath.Join(in.dir, "victim-secret")
	if err := os.WriteFile(secret, []byte("victim-client-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chown(t, victim, secret)

	env := trimmedEnv(victim, home)
	url := "https://mcp.example.com/mcp"
	for _, c := range []struct {
		name  string
		env   []string
		sock  string
		args  []string
		stdin string
	}{
		{"token", env, fallback, []string{"token", url}, ""},
		{"login --client-secret-file", env, fallback, []string{"login", url, "--client-id", "victim", "--client-secret-file", secret}, ""},
		{"proxy", env, fallback, []string{"proxy", url}, initializeLine},
		{"token with MCPAUTH_SOCK", append(env[:len(env):len(env)], "MCPAUTH_SOCK="+elsewhere), elsewhere, []string{"token", url}, ""},
	} {
		cmd := asUser(victim, c.env, in.bin, c.args...)
		cmd.Stdin = strings.NewReader(c.stdin)
		out, code := runCmd(t, cmd)
		want := fmt.Sprintf("refusing the socket %s: it is served by uid %s, not by you (uid %s)", c.sock, attacker.Uid, victim.Uid)
		if code == 0 || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d, output %q; want an error saying %q", c.name, code, out, want)
		}
		if strings.Contains(out, "victim-client-secret") {
			t.Errorf("%s: output shows the client secret", c.name)
		}
	}
	if pids := procsOf(in.bin); len(pids) != 0 {
		t.Errorf("a daemon was started: pids %v", pids)
	}

	// The victim's daemon does not serve from the attacker's directory.
	data := ownedDir(t, victim, 0o700)
	daemon := asUser(victim, append(env[:len(env):len(env)], "XDG_DATA_HOME="+data, "XDG_STATE_HOME="+data, "MCPAUTH_SECRET_BACKEND=file",
		"MCPAUTH_CALLBACK_ADDR=127.0.0.1:0", "MCPAUTH_APPS_ADDR=127.0.0.1:0"), in.bin, "--no-tray")
	out, code := runCmd(t, daemon)
	want := fmt.Sprintf("socket directory %s belongs to uid %s, not to you (uid %s)", filepath.Dir(fallback), attacker.Uid, victim.Uid)
	if code == 0 || !strings.Contains(out, want) {
		t.Errorf("daemon: exit %d, output %q; want %q", code, out, want)
	}

	received, conns := s.report(t)
	if received != 0 {
		t.Errorf("the attacker's sockets received %d bytes", received)
	}
	if conns < 4 {
		t.Errorf("the victim connected %d times, want at least 4 (did it look elsewhere?)", conns)
	}
}

// TestTrimmedEnvFindsDaemon is the dependable-desktop issue's case: a
// daemon started with a full environment (as systemd or a desktop session
// starts it) is found by `status` and `proxy` run with only the TypeScript
// SDK's default environment, and no second daemon starts. Once with
// /run/user/UID (XDG_RUNTIME_DIR for the daemon, nothing for the client),
// once with neither (the home-directory fallback, whatever XDG_STATE_HOME
// the daemon had), where another user also serves the old
// /tmp/mcpauthd-UID socket and receives nothing.
func TestTrimmedEnvFindsDaemon(t *testing.T) {
	needRoot(t)
	in := newInstance(t)
	helper := exposeForOthers(t, in)
	srv := mcp.NewServer(&mcp.Implementation{Name: "public-test", Version: "1"}, nil)
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer hs.Close()

	t.Run("run-user", func(t *testing.T) {
		u := testUser(t, "mcpauthd-e2e-r")
		if _, err := os.Stat("/run/user"); os.IsNotExist(err) {
			if err := os.MkdirAll("/run/user", 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove("/run/user") })
		}
		rt := "/run/user/" + u.Uid
		if err := os.Mkdir(rt, 0o700); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(rt) })
		chown(t, u, rt)
		if err := os.Chmod(rt, 0o700); err != nil {
			t.Fatal(err)
		}
		home := ownedDir(t, u, 0o700)
		full := append(trimmedEnv(u, home), "XDG_RUNTIME_DIR="+rt, "XDG_STATE_HOME="+filepath.Join(home, "st"))
		findDaemon(t, in, u, home, full, filepath.Join(rt, "mcpauthd", "mcpauthd.sock"), hs.URL+"/mcp")
	})

	t.Run("home", func(t *testing.T) {
		u := testUser(t, "mcpauthd-e2e-h")
		if _, err := os.Lstat("/run/user/" + u.Uid); err == nil {
			t.Fatalf("/run/user/%s exists; this case needs it absent", u.Uid)
		}
		s := squat(t, helper, testUser(t, "mcpauthd-e2e"), "/tmp/mcpauthd-"+u.Uid+"/mcpauthd.sock")
		t.Cleanup(func() { os.RemoveAll("/tmp/mcpauthd-" + u.Uid) })
		home := ownedDir(t, u, 0o700)
		full := append(trimmedEnv(u, home), "XDG_STATE_HOME="+filepath.Join(home, "st"), "TMPDIR=/tmp")
		findDaemon(t, in, u, home, full, filepath.Join(home, ".local", "state", "mcpauthd", "run", "mcpauthd.sock"), hs.URL+"/mcp")
		if received, conns := s.report(t); received != 0 || conns != 0 {
			t.Errorf("the old /tmp socket got %d connections, %d bytes", conns, received)
		}
	})
}

// findDaemon starts in's daemon as u with the environment full, waits for
// its socket at sock, then checks that `status` and `proxy URL` run as u
// with only the trimmed environment reach that very daemon.
func findDaemon(t *testing.T, in *instance, u *user.User, home string, full []string, sock, url string) {
	t.Helper()
	full = append(full, "XDG_DATA_HOME="+filepath.Join(home, "data"), "MCPAUTH_SECRET_BACKEND=file", "MCPAUTH_LOG_LEVEL=debug",
		"MCPAUTH_CALLBACK_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)), "MCPAUTH_APPS_ADDR=127.0.0.1:"+strconv.Itoa(freePort(t)))
	daemon := asUser(u, full, in.bin, "--no-tray")
	var logs lockedBuffer
	daemon.Stdout, daemon.Stderr = &logs, &logs
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		_ = daemon.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon made no socket at %s", sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid := daemon.Process.Pid

	out, code := runCmd(t, asUser(u, trimmedEnv(u, home), in.bin, "status"))
	if code != 0 || !strings.Contains(out, "pid "+strconv.Itoa(pid)+",") || !strings.Contains(out, "socket:    "+sock+"\n") {
		t.Fatalf("status with the trimmed environment: exit %d\n%s\nwant pid %d and socket %s", code, out, pid, sock)
	}

	// An app (the Go SDK's client) starts the proxy with the trimmed
	// environment; the initialize goes through the daemon to the server.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	proxy := asUser(u, trimmedEnv(u, home), in.bin, "proxy", url)
	var stderr lockedBuffer
	proxy.Stderr = &stderr
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-app", Version: "0"}, nil).Connect(ctx, &mcp.CommandTransport{Command: proxy}, nil)
	if err != nil {
		t.Fatalf("initialize through the proxy: %v\nproxy stderr:\n%s", err, stderr.String())
	}
	if got := cs.InitializeResult().ServerInfo.Name; got != "public-test" {
		t.Errorf("initialize answered by %q", got)
	}
	if pids := procsOf(in.bin); len(pids) != 2 || pids[0] != pid && pids[1] != pid {
		t.Errorf("mcpauthd processes %v, want the daemon %d and the proxy", pids, pid)
	}
	cs.Close()
	if pids := procsOf(in.bin); len(pids) != 1 || pids[0] != pid {
		t.Errorf("mcpauthd processes %v after the proxy ended, want only the daemon %d", pids, pid)
	}
	if strings.Contains(stderr.String()+logs.String(), "registry is locked") {
		t.Errorf("a second daemon ran into the registry lock:\n%s\n%s", stderr.String(), logs.String())
	}

	// The same through the TypeScript SDK's StdioClientTransport, run with
	// the daemon's full environment: the SDK itself trims it for the proxy.
	out, code = runCmd(t, nodeStdioClient(t, full, append(asUser(u, nil, in.bin, "proxy", url).Args, "--silent")))
	if code != 0 || !strings.Contains(out, `"name":"public-test"`) {
		t.Errorf("initialize through the proxy from the TypeScript SDK: exit %d\n%s", code, out)
	}
	if pids := procsOf(in.bin); len(pids) != 1 || pids[0] != pid {
		t.Errorf("mcpauthd processes %v after the TypeScript SDK's session, want only the daemon %d", pids, pid)
	}
}

// nodeStdioClient is a command that runs argv as an MCP stdio server under
// the TypeScript SDK's client (StdioClientTransport with its default
// environment, as SDK-based apps such as the MCP Inspector do), with env as
// the app's own environment, and prints the server's implementation info.
func nodeStdioClient(t *testing.T, env []string, argv []string) *exec.Cmd {
	t.Helper()
	sdk := filepath.Join(repoRoot(t), "tools", "node_modules", "@modelcontextprotocol", "sdk", "dist", "esm", "client")
	node := filepath.Join(repoRoot(t), "tools", "node_modules", "node", "bin", "node")
	_, errN := os.Stat(node)
	_, errS := os.Stat(sdk)
	need(t, errN == nil && errS == nil, "Node 22 and the TypeScript SDK in tools/node_modules")
	script := `import { Client } from "file://` + sdk + `/index.js";
import { StdioClientTransport } from "file://` + sdk + `/stdio.js";
const [command, ...args] = process.argv.slice(1);
const client = new Client({ name: "e2e-node", version: "0" });
await client.connect(new StdioClientTransport({ command, args, stderr: "inherit" }));
console.log(JSON.stringify(client.getServerVersion()));
await client.close();`
	cmd := exec.Command(node, append([]string{"--input-type=module", "-e", script, "--"}, argv...)...)
	cmd.Env = env
	return cmd
}

// lockedBuffer is a bytes buffer that a process's output and the test can
// use at the same time.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
