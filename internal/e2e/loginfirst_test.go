package e2e

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoginWithoutKeyringFailsBeforeBrowser: on a session bus without a
// Secret Service, `login` reports the keyring at once and never starts the
// browser (which would send the user through a sign-in whose tokens could
// not be kept).
func TestLoginWithoutKeyringFailsBeforeBrowser(t *testing.T) {
	url := tsServer(t)
	in := newInstance(t)
	cfg := filepath.Join(t.TempDir(), "bus.conf")
	if err := os.WriteFile(cfg, []byte(noServicesBus), 0o600); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "browser-ran")
	browser := filepath.Join(t.TempDir(), "browser")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	in.env = append(withoutEnv(in.env, "BROWSER", "DBUS_SESSION_BUS_ADDRESS"),
		"BROWSER="+browser, "DBUS_SESSION_BUS_ADDRESS="+startBus(t, cfg))

	start := time.Now()
	_, errs, code := in.run("login", url)
	took := time.Since(start)
	if code == 0 {
		t.Fatal("login succeeded without a keyring")
	}
	if !strings.Contains(errs, "keyring is unavailable") || !strings.Contains(errs, `secret_backend = "file"`) {
		t.Errorf("login without a keyring: %q; want the keyring named and the way out", errs)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the browser was started although the sign-in's result could not be kept")
	}
	// No browser round trip, no 60 s wait: the answer comes within the
	// store's bounded keyring wait (a few seconds at most).
	t.Logf("login without a keyring answered in %s", took.Round(time.Millisecond))
}

// TestStartupAndBrowserFailuresReachTheCLI: a daemon that cannot start
// (its callback port is taken) and a browser command that fails are
// reported to the command the user ran within a few seconds, not after a
// 10 s start-up wait or the sign-in's timeout.
func TestStartupAndBrowserFailuresReachTheCLI(t *testing.T) {
	url := tsServer(t)
	in := newInstance(t)
	squat, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env := in.env
	in.env = append(withoutEnv(in.env, "MCPAUTH_CALLBACK_ADDR"), "MCPAUTH_CALLBACK_ADDR="+squat.Addr().String())
	start := time.Now()
	_, errs, code := in.run("list")
	took := time.Since(start)
	squat.Close()
	if code == 0 || !strings.Contains(errs, "could not start") || !strings.Contains(errs, "callback listener on "+squat.Addr().String()) {
		t.Fatalf("list with the callback port taken: exit %d, %q", code, errs)
	}
	t.Logf("a daemon that could not start was reported after %s", took.Round(time.Millisecond))

	in.env = env
	failing := filepath.Join(t.TempDir(), "browser")
	if err := os.WriteFile(failing, []byte("#!/bin/sh\necho 'no display' >&2\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	in.env = append(withoutEnv(in.env, "BROWSER"), "BROWSER="+failing)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.bin, "login", url)
	cmd.Env = in.env
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	start = time.Now()
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "could not open your browser") {
			t.Logf("the browser failure reached login after %s: %s", time.Since(start).Round(time.Millisecond), sc.Text())
			return
		}
	}
	t.Fatalf("login never said the browser failed (ctx %v)", ctx.Err())
}
