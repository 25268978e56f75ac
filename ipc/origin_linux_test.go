package ipc

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOrigin: this test process is local (""); a process named ssh is an
// OpenSSH client's forward; a process whose parent is named sshd is part of
// an SSH login; a child of a process named conmon is in a container, its
// runtime named. Names come from /proc/PID/comm, which is what a copy of
// sleep under that name shows.
func TestOrigin(t *testing.T) {
	if got := Origin(os.Getpid()); got != "" {
		t.Fatalf("Origin(this test) = %q, want \"\"", got)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	named := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	start := func(cmd *exec.Cmd) *exec.Cmd {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	ssh := start(exec.Command(named("ssh"), "60"))
	if got := Origin(ssh.Process.Pid); !strings.HasPrefix(got, ViaSSH+": forwarded by the OpenSSH client") {
		t.Errorf("Origin(ssh) = %q", got)
	}
	// A shell named sshd (conmon) whose child is sleep: the child's origin.
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	shb, err := os.ReadFile(sh)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"sshd": ViaSSH + ": a process of an SSH login (sshd pid ", "conmon": ViaContainer + ": under conmon (pid "} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, shb, 0o755); err != nil {
			t.Fatal(err)
		}
		parent := exec.Command(p, "-c", sleep+" 60 & echo $!; wait")
		out, err := parent.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		start(parent)
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		child, _ := strconv.Atoi(strings.TrimSpace(line))
		t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
		// Until it execs sleep, the forked child still bears the shell's name.
		for deadline := time.Now().Add(10 * time.Second); comm(child) != "sleep"; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("child %d never became sleep", child)
			}
		}
		if got := Origin(child); !strings.HasPrefix(got, want+strconv.Itoa(parent.Process.Pid)+")") {
			t.Errorf("Origin(child %d of %s %d) = %q, want %q…", child, name, parent.Process.Pid, got, want)
		}
	}
}
