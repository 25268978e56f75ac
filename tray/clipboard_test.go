//go:build linux

package tray

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// need skips (or, under CI=true, fails) a test whose component is missing.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing %s (CI=true: required)", what)
	}
	t.Skipf("missing %s; run scripts/install-test-deps.sh", what)
}

// xvfb starts a private X server for the test and points DISPLAY at it.
func xvfb(t *testing.T) {
	_, errX := exec.LookPath("Xvfb")
	_, errC := exec.LookPath("xclip")
	need(t, errX == nil && errC == nil, "Xvfb and xclip")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-nolisten", "tcp", "-screen", "0", "64x64x24")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case d := <-line:
		t.Setenv("WAYLAND_DISPLAY", "")
		t.Setenv("DISPLAY", ":"+d)
	case <-time.After(10 * time.Second):
		t.Fatal("Xvfb did not start")
	}
}

// TestClipboardRoundTrip copies through the real X clipboard (xclip) and
// reads it back, and checks that the copied text is not on any argv.
func TestClipboardRoundTrip(t *testing.T) {
	xvfb(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const secret = "tok-3b1f0c9e-not-in-argv"
	if err := copyText(ctx, secret); err != nil {
		t.Fatal(err)
	}
	got, err := pasteText(ctx)
	if err != nil || got != secret {
		t.Fatalf("pasteText = %q, %v; want the copied text", got, err)
	}
	// xclip keeps serving the selection from a child process: its argv
	// must not hold the text.
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	if len(cmdlines) == 0 {
		t.Fatal("no /proc to look at")
	}
	for _, f := range cmdlines {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), secret) {
			t.Fatalf("the copied text shows in %s", f)
		}
	}
	if u, ok := serverURL(got); ok {
		t.Fatalf("serverURL accepted %q as %q", got, u)
	}
	if err := copyText(ctx, "https://mcp.example.com/mcp\n"); err != nil {
		t.Fatal(err)
	}
	if got, _ := pasteText(ctx); got != "https://mcp.example.com/mcp\n" {
		t.Fatalf("pasteText = %q", got)
	}
}

// TestNoClipboard: without a display, copying fails with a message that
// says what to install.
func TestNoClipboard(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	if err := copyText(context.Background(), "x"); err != errNoClipboard {
		t.Fatalf("copyText without a display: %v", err)
	}
}
