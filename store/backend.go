package store

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/mcpauthd/mcpauthd/internal/atomicfile"
	"github.com/zalando/go-keyring"
)

// dataKeySize is the AES-256 key length.
const dataKeySize = 32

var (
	// ErrNoKeyring is returned (wrapped, with the cause) when the OS keyring cannot be used: no
	// D-Bus session, no Secret Service, a locked collection, a dismissed prompt. mcpauthd never
	// falls back to another backend on its own; the file backend is an explicit opt-in.
	ErrNoKeyring = errors.New("the OS keyring is unavailable")

	// ErrDataKeyMissing is returned when the data key does not exist and may not be created
	// because sealed records exist (the keyring was reset, or the key file deleted). The records
	// are left as they are and no new key is made; deleting the affected servers and
	// registrations clears them, after which a new key is created.
	ErrDataKeyMissing = errors.New("the data key that seals the stored secrets is missing")

	// ErrInsecureKeyFile is returned by FileBackend when the key file can be read or written by
	// anyone but its owner.
	ErrInsecureKeyFile = errors.New("key file permissions are too open")
)

// SecretBackend keeps the data key that seals secret records in the registry.
//
// DataKey returns the 32-byte key named id (the registry's instance id). If there is no such key
// and create is true, it makes a random one, stores it and returns it; if create is false it
// returns an error wrapping ErrDataKeyMissing. The store calls DataKey once per Store (then
// caches the key) and never concurrently. Implementations never put a key in an error or log.
type SecretBackend interface {
	DataKey(id string, create bool) ([]byte, error)
}

func newDataKey() []byte {
	key := make([]byte, dataKeySize)
	rand.Read(key)
	return key
}

// KeyringBackend keeps the data key in the OS keyring (Secret Service, macOS Keychain, Windows
// Credential Manager) through go-keyring, as service Service and user "data-key:"+id, base64
// encoded. Its zero value uses service "mcpauthd".
type KeyringBackend struct {
	Service string
}

func (k KeyringBackend) service() string {
	if k.Service == "" {
		return "mcpauthd"
	}
	return k.Service
}

// DataKey implements SecretBackend.
//
// go-keyring v0.2.8 panics (a nil dereference in its prompt handling) when
// the Secret Service's unlock prompt cannot be shown, as on a headless
// session with a locked collection; that panic would take the daemon down.
// It is turned into the same ErrNoKeyring as any other unusable keyring.
func (k KeyringBackend) DataKey(id string, create bool) (key []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			key, err = nil, &keyringError{fmt.Errorf("the keyring library failed while asking to unlock the keyring (%v)", r)}
		}
	}()
	user := "data-key:" + id
	enc, err := keyring.Get(k.service(), user)
	switch {
	case err == nil:
		key, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(key) != dataKeySize {
			return nil, fmt.Errorf("store: keyring item service=%q user=%q is not a %d-byte data key", k.service(), user, dataKeySize)
		}
		return key, nil
	case !errors.Is(err, keyring.ErrNotFound):
		return nil, &keyringError{err}
	case !create:
		return nil, fmt.Errorf("%w: no keyring item service=%q user=%q", ErrDataKeyMissing, k.service(), user)
	}
	key = newDataKey()
	if err := keyring.Set(k.service(), user, base64.StdEncoding.EncodeToString(key)); err != nil {
		return nil, &keyringError{err}
	}
	return key, nil
}

// keyringError is an ErrNoKeyring with its cause.
type keyringError struct{ cause error }

func (e *keyringError) Error() string {
	return "store: the OS keyring is unavailable (" + e.cause.Error() + "); mcpauthd keeps its data key " +
		"there and does not fall back on its own: to keep the key in a 0600 file instead, " +
		"put secret_backend = \"file\" in the settings file (config.toml) and run mcpauthd restart, " +
		"or set MCPAUTH_SECRET_BACKEND=file"
}

func (e *keyringError) Is(target error) bool { return target == ErrNoKeyring }
func (e *keyringError) Unwrap() error        { return e.cause }

// FileBackend keeps the data key in a file, "data-key-"+id under Dir, readable only by its owner
// (0600, in a 0700 directory). It refuses a key file that group or others can access. It is an
// explicit opt-in for machines without an OS keyring: anyone who can read the user's files can
// read the key, so it protects the secrets no better than the file permissions do.
type FileBackend struct {
	dir string
}

// NewFileBackend returns a FileBackend that keeps its key under dir, and logs a warning on log
// (slog.Default() if nil) saying that secrets are protected by file permissions only.
func NewFileBackend(dir string, log *slog.Logger) *FileBackend {
	if log == nil {
		log = slog.Default()
	}
	log.Warn("secrets: using the file backend: the data key is kept in a file, protected only by file permissions, not by the OS keyring", "dir", dir)
	return &FileBackend{dir: dir}
}

// DataKey implements SecretBackend.
func (f *FileBackend) DataKey(id string, create bool) ([]byte, error) {
	path := filepath.Join(f.dir, "data-key-"+id)
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("store: %s: %w (mode %v; want 0600): fix them with chmod 600 if the file is yours", path, ErrInsecureKeyFile, fi.Mode().Perm())
		}
		if !fi.Mode().IsRegular() || fi.Size() != dataKeySize {
			return nil, fmt.Errorf("store: %s is not a %d-byte data key file", path, dataKeySize)
		}
		key, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		if len(key) != dataKeySize {
			return nil, fmt.Errorf("store: %s is not a %d-byte data key file", path, dataKeySize)
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("store: %w", err)
	case !create:
		return nil, fmt.Errorf("%w: no key file %s", ErrDataKeyMissing, path)
	}
	key := newDataKey()
	if err := writeKeyFile(path, key); err != nil {
		return nil, fmt.Errorf("store: writing data key file: %w", err)
	}
	return key, nil
}

// writeKeyFile writes key to path (0600, directory 0700) through a temporary file, so a crash
// leaves either no key file or a whole one.
func writeKeyFile(path string, key []byte) error {
	return atomicfile.Write(path, key, 0o600, 0o700)
}
