// Package readme checks that the README is the front door it claims to be:
// its two commands are the ones CI and a new user run, and they work from a
// fresh clone.
package readme

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// twoCommands returns the commands of the README's "The two commands"
// block, comments stripped: run it, then test it.
func twoCommands(t *testing.T) (run, test string) {
	b, err := os.ReadFile(filepath.Join(root(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "## The two commands")
	if !ok {
		t.Fatal(`README.md has no "## The two commands" section`)
	}
	_, block, _ := strings.Cut(after, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	var cmds []string
	for _, line := range strings.Split(block, "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		if cmd = strings.TrimSpace(cmd); cmd != "" {
			cmds = append(cmds, cmd)
		}
	}
	if len(cmds) != 2 {
		t.Fatalf("the two-commands block has %d commands: %q", len(cmds), cmds)
	}
	return cmds[0], cmds[1]
}

// TestCIRunsTheTestCommand: .ci/run runs the README's test command verbatim.
func TestCIRunsTheTestCommand(t *testing.T) {
	_, test := twoCommands(t)
	b, err := os.ReadFile(filepath.Join(root(), ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "exec ")) == test {
			return
		}
	}
	t.Fatalf(".ci/run does not run the README's test command %q:\n%s", test, b)
}

// TestRunCommandFromFreshClone: the README's run command, verbatim, in a
// fresh clone, with nothing but temporary XDG directories: the daemon comes
// up with its embedded defaults and answers on its socket. (The test
// command is what runs this test, from CI's fresh clone.)
func TestRunCommandFromFreshClone(t *testing.T) {
	run, _ := twoCommands(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed to clone the repository")
	}
	dir := t.TempDir()
	clone := filepath.Join(dir, "clone")
	if out, err := exec.Command("git", "clone", "--quiet", root(), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "run", "mcpauthd.sock")
	cmd := exec.Command("sh", "-c", "exec "+run)
	cmd.Dir = clone
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(),
		"MCPAUTH_SOCK="+sock,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_STATE_HOME="+filepath.Join(dir, "state"),
		"MCPAUTH_CALLBACK_ADDR=127.0.0.1:0",
		"MCPAUTH_APPS_ADDR=127.0.0.1:0",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	c := ipc.NewClient(sock)
	deadline := time.Now().Add(3 * time.Minute) // go run compiles first
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.Status(ctx)
		cancel()
		if err == nil {
			if st.PID == 0 || st.Socket != sock {
				t.Fatalf("status: %+v", st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q did not answer on %s: %v\noutput:\n%s", run, sock, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
