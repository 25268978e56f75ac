package e2e

import (
	"os"
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
