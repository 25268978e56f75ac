package ipc

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// copyExe copies the executable behind name (found on PATH) to dir/as.
func copyExe(t *testing.T, name, dir, as string) string {
	t.Helper()
	src, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	if src, err = filepath.EvalSymlinks(src); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, as)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// waitPID reads the pid a child writes to file.
func waitPID(t *testing.T, file string) int {
	t.Helper()
	for range 500 {
		if b, err := os.ReadFile(file); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the child never wrote its pid")
	return 0
}

func start(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// An app that runs a shell that runs mcpauthd: the request is the app's.
func TestWalkThroughShellAndMcpauthd(t *testing.T) {
	dir := t.TempDir()
	app := copyExe(t, "sh", dir, "myapp")        // a shell under another name is an app
	fake := copyExe(t, "sleep", dir, "mcpauthd") // "mcpauthd proxy"
	pidFile := filepath.Join(dir, "pid")
	// myapp -> sh -> mcpauthd; "; true" keeps each shell from exec'ing its last command.
	cmd := exec.Command(app, "-c", `sh -c '"$0" 60 & echo $! > "$1"; wait; true' "$0" "$1"; true`, fake, pidFile)
	start(t, cmd)
	pid := waitPID(t, pidFile)
	info, err := readProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	if info.exe != fake {
		t.Fatalf("exe of the fake mcpauthd = %q, want %q", info.exe, fake)
	}
	prog, progPID := walk(pid, info, "", readProc)
	if prog != app || progPID != cmd.Process.Pid {
		t.Errorf("walk = %s (pid %d), want %s (pid %d)", prog, progPID, app, cmd.Process.Pid)
	}
	// A program that is not pass-through is its own app.
	self, _ := os.Executable()
	me, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if prog, p := walk(os.Getpid(), me, "", readProc); prog != self || p != os.Getpid() {
		t.Errorf("walk of the test binary = %s (%d), want itself", prog, p)
	}
	// The daemon's own executable, whatever its name, is pass-through.
	if !IsPassThrough(self, self) || IsPassThrough(app, self) {
		t.Error("IsPassThrough does not tell the daemon's executable from an app")
	}
}

// A parent pid that names a process started after the child is a reused
// pid: the walk stops at the child instead of blaming that process.
func TestWalkStopsAtReusedPID(t *testing.T) {
	dir := t.TempDir()
	fake := copyExe(t, "sleep", dir, "mcpauthd")
	child := exec.Command(fake, "60")
	start(t, child)
	ci, err := readProc(child.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// Start time is in clock ticks: wait for the next tick so that the
	// later process's start time is strictly greater.
	time.Sleep(50 * time.Millisecond)
	later := exec.Command(copyExe(t, "sleep", dir, "innocent"), "60")
	start(t, later)
	li, err := readProc(later.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if li.start <= ci.start {
		t.Fatalf("start times %d, %d: not increasing", ci.start, li.start)
	}
	// As if the child's parent had died and its pid gone to "innocent".
	ci.ppid = later.Process.Pid
	if prog, pid := walk(child.Process.Pid, ci, "", readProc); prog != fake || pid != child.Process.Pid {
		t.Errorf("walk = %s (%d), want to stop at the child %s (%d)", prog, pid, fake, child.Process.Pid)
	}
	// With the real parent (this test, started before) it goes on.
	ci.ppid = os.Getpid()
	self, _ := os.Executable()
	if prog, _ := walk(child.Process.Pid, ci, "", readProc); prog != self {
		t.Errorf("walk to the real parent = %s, want %s", prog, self)
	}
}

// A binary replaced or removed after it started is still named by its path.
func TestReadProcDeletedExe(t *testing.T) {
	dir := t.TempDir()
	fake := copyExe(t, "sleep", dir, "gone")
	cmd := exec.Command(fake, "60")
	start(t, cmd)
	if err := os.Remove(fake); err != nil {
		t.Fatal(err)
	}
	info, err := readProc(cmd.Process.Pid)
	if err != nil || info.exe != fake {
		t.Errorf("readProc of a deleted binary = %q, %v; want %q", info.exe, err, fake)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Error("readProc of a pid that does not exist succeeded")
	}
}

// BenchmarkIdentify is the cost the socket server pays per accepted
// connection: the peer's credentials, its pidfd and its /proc entries
// (the peer here is this test binary, which is no pass-through program).
func BenchmarkIdentify(b *testing.B) {
	l, err := net.Listen("unix", filepath.Join(b.TempDir(), "s"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	self, _ := os.Executable()
	for b.Loop() {
		p, err := PeerOf(s)
		if err != nil {
			b.Fatal(err)
		}
		Identify(s, &p, "")
		if p.Program != self {
			b.Fatalf("Program = %q, want %q", p.Program, self)
		}
	}
}
