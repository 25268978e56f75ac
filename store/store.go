// Package store keeps mcpauthd's state: a bbolt registry of MCP servers, client registrations and an
// audit log, plus secrets (tokens, client secrets) sealed with AES-GCM under one data key that lives
// in the OS keyring (or, by explicit opt-in, in a 0600 file; see SecretBackend).
//
// The registry file holds buckets:
//
//	meta           schema version, instance id, audit record count
//	servers        canonical resource URL -> Server (JSON): the server and its own sign-in
//	accounts       URL + "\x00" + account name -> Server (JSON): a further sign-in (accounts.go; schema 3)
//	registrations  issuer -> Registration (JSON, without the client secret)
//	secrets        "token:"+URL / "token:"+URL+"\x00"+account / "client-secret:"+issuer /
//	               "grant:"+URL / "idp:"+IdPKey -> sealed JSON
//	idps           IdPKey (issuer, client id) -> IdPSession (JSON); made by its first write
//	audit          big-endian time (ns) + sequence -> AuditRecord (JSON)
//	approvals      per-app approval decisions and sensitive servers (approvals.go; schema 2)
//
// Keys are used byte for byte: the store never normalizes a URL or an issuer, and never matches by
// prefix. Canonicalizing a resource URL is the caller's job.
//
// Every write is one bbolt transaction, and a returned nil error means it is committed and synced
// to disk (bbolt fsyncs on commit).
package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrNotFound is returned when a server, registration, token set or record does not exist.
	ErrNotFound = errors.New("not found")

	// ErrLocked is returned by Open when another process holds the registry's lock, which means
	// another mcpauthd is running for this user.
	ErrLocked = errors.New("another mcpauthd is already running for this user (its registry is locked)")

	// ErrSchemaTooNew is returned by Open when the registry was written by a newer mcpauthd with a
	// schema this binary does not know. Open leaves such a file untouched.
	ErrSchemaTooNew = errors.New("the registry was written by a newer version of mcpauthd")
)

// Bucket names and meta keys.
var (
	bucketMeta          = []byte("meta")
	bucketServers       = []byte("servers")
	bucketRegistrations = []byte("registrations")
	bucketSecrets       = []byte("secrets")
	bucketAudit         = []byte("audit")
	bucketAccounts      = []byte("accounts")

	metaSchemaVersion = []byte("schema_version")
	metaInstanceID    = []byte("instance_id")
	metaAuditCount    = []byte("audit_count")
)

// migrations[v] upgrades a registry from schema version v to v+1. They all run in one
// transaction at Open. Append here; never edit a migration that has shipped.
var migrations = []func(tx *bbolt.Tx) error{
	migrateCreate,    // 0 -> 1
	migrateApprovals, // 1 -> 2
	migrateAccounts,  // 2 -> 3: servers' further accounts (accounts.go)
}

// schemaCurrent is the registry schema version this binary writes.
var schemaCurrent = len(migrations)

// migrateCreate makes a fresh registry: the buckets, a random instance id (which names the data
// key in the secret backend), and an empty audit count.
func migrateCreate(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketServers, bucketRegistrations, bucketSecrets, bucketAudit} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	id := make([]byte, 16)
	rand.Read(id)
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(metaInstanceID, []byte(hex.EncodeToString(id))); err != nil {
		return err
	}
	return putUint(meta, metaAuditCount, 0)
}

// Options configure Open.
type Options struct {
	// Secrets holds the data key that seals secret records. Required.
	Secrets SecretBackend

	// LockTimeout is how long Open waits for the registry's file lock before it returns
	// ErrLocked. Zero means one second.
	LockTimeout time.Duration

	// MaxAudit is the number of audit records kept; older ones are trimmed on append.
	// Zero means 10000.
	MaxAudit int

	// KeyringTimeout bounds each wait for the secret backend's data key
	// (a locked keyring may never answer). Zero means five seconds.
	KeyringTimeout time.Duration
}

// Store is the registry. It is safe for concurrent use by multiple goroutines. Only one process
// can have a registry open at a time (Open takes bbolt's exclusive file lock).
type Store struct {
	db       *bbolt.DB
	secrets  SecretBackend
	id       string // instance id: names the data key in the secret backend
	maxAudit int

	keyMu      sync.Mutex
	cached     atomic.Pointer[[]byte] // the data key once fetched: read without keyMu
	keyTimeout time.Duration
	key        []byte // data key, fetched from secrets on first use
}

// Open opens (creating if needed) the registry at path, which the caller chooses; the store reads
// no environment variables. The directory is created 0700 (and tightened to 0700 if it is
// group- or world-accessible), the file 0600. Open waits up to opts.LockTimeout for the file
// lock and then fails with ErrLocked. It brings the schema up to date in one transaction, or
// fails with ErrSchemaTooNew without touching the file.
//
// Open does not contact the secret backend: the data key is fetched on the first operation that
// reads or writes a sealed record, so a locked or missing keyring surfaces there (as ErrNoKeyring).
func Open(path string, opts Options) (*Store, error) {
	if opts.Secrets == nil {
		return nil, errors.New("store: Options.Secrets is required")
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxAudit <= 0 {
		opts.MaxAudit = 10000
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := tighten(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("store: open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, secrets: opts.Secrets, maxAudit: opts.MaxAudit, keyTimeout: opts.KeyringTimeout}
	if s.keyTimeout == 0 {
		s.keyTimeout = 5 * time.Second
	}
	if err := s.open(path); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(path string) error {
	if err := migrate(s.db); err != nil {
		return fmt.Errorf("store: %s: %w", path, err)
	}
	if err := tighten(path, 0o600); err != nil {
		return err
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		s.id = string(tx.Bucket(bucketMeta).Get(metaInstanceID))
		if s.id == "" {
			return fmt.Errorf("store: %s: no instance id in meta bucket", path)
		}
		return nil
	})
}

// migrate runs the migrations the registry needs, all in one transaction. A registry that is
// already current is only read.
func migrate(db *bbolt.DB) error {
	var have int
	err := db.View(func(tx *bbolt.Tx) (err error) {
		have, err = schemaVersion(tx)
		return err
	})
	if err != nil || have == schemaCurrent {
		return err // too new (nothing written), or nothing to do
	}
	return db.Update(func(tx *bbolt.Tx) error {
		have, err := schemaVersion(tx)
		if err != nil {
			return err
		}
		for v := have; v < schemaCurrent; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrating schema %d to %d: %w", v, v+1, err)
			}
		}
		return putUint(tx.Bucket(bucketMeta), metaSchemaVersion, uint64(schemaCurrent))
	})
}

// schemaVersion reads the registry's schema version: 0 for a new file.
func schemaVersion(tx *bbolt.Tx) (int, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	v, err := getUint(meta, metaSchemaVersion)
	if err != nil {
		return 0, err
	}
	if v > uint64(schemaCurrent) {
		return 0, fmt.Errorf("%w (schema version %d; this binary knows up to %d): upgrade mcpauthd", ErrSchemaTooNew, v, schemaCurrent)
	}
	return int(v), nil
}

// Close closes the registry and releases its lock. It waits for running transactions.
func (s *Store) Close() error {
	s.keyMu.Lock()
	clear(s.key)
	s.key = nil
	s.keyMu.Unlock()
	return s.db.Close()
}

// tighten removes group and other permission bits from path if it has any (not on Windows,
// where permission bits do not describe access).
func tighten(path string, perm os.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, perm); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

func putUint(b *bbolt.Bucket, key []byte, v uint64) error {
	return b.Put(key, strconv.AppendUint(nil, v, 10))
}

// getUint reads a decimal number; a missing key reads as 0.
func getUint(b *bbolt.Bucket, key []byte) (uint64, error) {
	raw := b.Get(key)
	if raw == nil {
		return 0, nil
	}
	v, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("meta %s: %w", key, err)
	}
	return v, nil
}
