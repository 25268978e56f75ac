package store

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"
)

// A backendHarness is one SecretBackend under test, with what the shared tests need to reach
// around it: remove a data key (a reset keyring) and ask whether one exists.
type backendHarness struct {
	backend SecretBackend
	wipe    func(t *testing.T, id string)
	hasKey  func(t *testing.T, id string) bool
}

// testService keeps test keys apart from a developer's real "mcpauthd" items when the tests run
// against a desktop keyring. Every test store has its own random instance id as well.
const testService = "mcpauthd-test"

func TestKeyringBackend(t *testing.T) {
	requireKeyring(t)
	testBackend(t, keyringHarness)
}

func TestFileBackend(t *testing.T) { testBackend(t, fileHarness) }

// requireKeyring fails the test under CI=true (CI must provide a keyring) if no Secret Service is
// reachable, and skips it otherwise.
func requireKeyring(t *testing.T) {
	t.Helper()
	_, err := KeyringBackend{Service: testService}.DataKey("probe-"+randomHex(8), false)
	switch {
	case errors.Is(err, ErrNoKeyring) && os.Getenv("CI") == "true":
		t.Fatalf("CI=true but no usable OS keyring: %v", err)
	case errors.Is(err, ErrNoKeyring):
		t.Skipf("no usable OS keyring (%v); run under a private keyring: "+
			"XDG_DATA_HOME=$(mktemp -d) dbus-run-session -- ./scripts/keyring-session.sh go test ./store/...", err)
	case !errors.Is(err, ErrDataKeyMissing):
		t.Fatalf("probing keyring: %v", err)
	}
}

func keyringHarness(t *testing.T) *backendHarness {
	return &backendHarness{
		backend: KeyringBackend{Service: testService},
		wipe: func(t *testing.T, id string) {
			if err := keyring.Delete(testService, "data-key:"+id); err != nil {
				t.Fatalf("deleting keyring item: %v", err)
			}
		},
		hasKey: func(t *testing.T, id string) bool {
			_, err := keyring.Get(testService, "data-key:"+id)
			if err != nil && !errors.Is(err, keyring.ErrNotFound) {
				t.Fatal(err)
			}
			return err == nil
		},
	}
}

func fileHarness(t *testing.T) *backendHarness {
	dir := filepath.Join(t.TempDir(), "keys")
	keyPath := func(id string) string { return filepath.Join(dir, "data-key-"+id) }
	return &backendHarness{
		backend: NewFileBackend(dir, quietLogger()),
		wipe: func(t *testing.T, id string) {
			if err := os.Remove(keyPath(id)); err != nil {
				t.Fatal(err)
			}
		},
		hasKey: func(t *testing.T, id string) bool {
			_, err := os.Stat(keyPath(id))
			return err == nil
		},
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func TestFileBackendRefusesLooseKeyFile(t *testing.T) {
	dir := t.TempDir()
	fb := NewFileBackend(dir, quietLogger())
	key, err := fb.DataKey("x", true)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "data-key-x")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := fb.DataKey("x", false)
		if !errors.Is(err, ErrInsecureKeyFile) {
			t.Errorf("mode %v: err = %v, want ErrInsecureKeyFile", mode, err)
		}
		if err != nil && strings.Contains(err.Error(), string(key)) {
			t.Error("error message contains the key")
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := fb.DataKey("x", false)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("after chmod 600: err = %v, same key = %v", err, bytes.Equal(again, key))
	}
}

func TestFileBackendWarns(t *testing.T) {
	var buf bytes.Buffer
	NewFileBackend(t.TempDir(), slog.New(slog.NewTextHandler(&buf, nil)))
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "file backend") {
		t.Errorf("no warning logged: %q", buf.String())
	}
}

func TestFileBackendRejectsShortKeyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data-key-x"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFileBackend(dir, quietLogger()).DataKey("x", true); err == nil {
		t.Fatal("a 5-byte key file was accepted")
	}
}

// TestNoKeyring runs a child process whose session bus address leads nowhere, and checks that the
// keyring backend reports ErrNoKeyring naming the file backend opt-in (never falling back).
// godbus caches its session bus connection per process, hence the child.
func TestNoKeyring(t *testing.T) {
	if os.Getenv("STORE_TEST_NO_KEYRING_CHILD") == "1" {
		_, err := KeyringBackend{Service: testService}.DataKey("x", true)
		if !errors.Is(err, ErrNoKeyring) {
			t.Fatalf("err = %v, want ErrNoKeyring", err)
		}
		os.Stdout.WriteString("ERR: " + err.Error() + "\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoKeyring$", "-test.v")
	cmd.Env = append(os.Environ(),
		"STORE_TEST_NO_KEYRING_CHILD=1",
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "MCPAUTH_SECRET_BACKEND=file") {
		t.Errorf("error does not name the file backend opt-in:\n%s", out)
	}
	t.Logf("child said:\n%s", out)
}
