package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// ErrDecrypt is returned when a sealed record does not open under the data key: the key is not
// the one that sealed it, or the record was altered or moved to another key. The record is left
// as it is.
var ErrDecrypt = errors.New("cannot decrypt sealed record")

// A sealed record is sealVersion || nonce || AES-256-GCM(ciphertext+tag). The additional data is
// the bucket name and the record key, so a record copied under another key does not open.
const sealVersion = 1

// Keys in the secrets bucket.
func tokenKey(serverURL string) []byte     { return []byte("token:" + serverURL) }
func clientSecretKey(issuer string) []byte { return []byte("client-secret:" + issuer) }
func grantKey(serverURL string) []byte     { return []byte("grant:" + serverURL) }

func additionalData(recKey []byte) []byte {
	ad := append([]byte(nil), bucketSecrets...)
	ad = append(ad, 0)
	return append(ad, recKey...)
}

func newGCM(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // key length is checked when the key is loaded
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return gcm
}

func seal(key, recKey, plaintext []byte) []byte {
	gcm := newGCM(key)
	out := make([]byte, 1+gcm.NonceSize(), 1+gcm.NonceSize()+len(plaintext)+gcm.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:])
	return gcm.Seal(out, out[1:], plaintext, additionalData(recKey))
}

func unseal(key, recKey, blob []byte) ([]byte, error) {
	gcm := newGCM(key)
	if len(blob) < 1+gcm.NonceSize()+gcm.Overhead() || blob[0] != sealVersion {
		return nil, errors.New("malformed")
	}
	nonce, ct := blob[1:1+gcm.NonceSize()], blob[1+gcm.NonceSize():]
	return gcm.Open(nil, nonce, ct, additionalData(recKey))
}

// putSealed stores v, JSON-encoded and sealed, under recKey in the secrets bucket.
func putSealed(tx *bbolt.Tx, key, recKey []byte, v any) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encoding %s: %w", recKey, err) // v holds only strings, times and slices: no value in this error
	}
	defer clear(plain)
	return tx.Bucket(bucketSecrets).Put(recKey, seal(key, recKey, plain))
}

// openSealed decrypts blob, read from recKey, into v. Errors name the record, never its contents.
func (s *Store) openSealed(recKey, blob []byte, v any) error {
	key, err := s.dataKey(false)
	if err != nil {
		return err
	}
	plain, err := unseal(key, recKey, blob)
	if err != nil {
		return fmt.Errorf("store: sealed record %q: %w (it was sealed under another data key, or altered); it was left as it is", recKey, ErrDecrypt)
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, v); err != nil {
		// The JSON error could quote the plaintext: do not pass it on.
		return fmt.Errorf("store: sealed record %q decrypts to malformed JSON", recKey)
	}
	return nil
}

// dataKey returns the data key (see fetchKey), waiting at most
// Options.KeyringTimeout for the secret backend. A keyring that is locked
// with an unlock prompt nobody answers (a headless session) would otherwise
// hold every caller, and the daemon's start-up, for minutes. The fetch goes
// on in the background: when the user unlocks the keyring, it completes and
// the key is cached for the next caller.
func (s *Store) dataKey(forWrite bool) ([]byte, error) {
	if k := s.cached.Load(); k != nil {
		return *k, nil
	}
	type result struct {
		key []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		k, err := s.fetchKey(forWrite)
		ch <- result{k, err}
	}()
	t := time.NewTimer(s.keyTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.key, r.err
	case <-t.C:
		return nil, &keyringError{cause: fmt.Errorf("no answer within %s: it may be locked, with an unlock prompt waiting; unlock it and try again", s.keyTimeout)}
	}
}

// CheckSecrets reports whether the secret backend gives the data key now
// (creating it while no sealed record exists), with the same bounded wait
// as every sealed read or write. The daemon checks it before a sign-in
// opens a browser, so a missing or locked keyring is reported first.
func (s *Store) CheckSecrets() error {
	_, err := s.dataKey(true)
	return err
}

// fetchKey returns the data key, fetching it from the secret backend on first use. For a write it
// may create the key, but only while no sealed record exists: a missing key with records present
// means the keyring was reset, and a new key would hide that.
//
// keyMu is held across the backend call: every sealed write goes through here first, so no record
// can appear between the emptiness check and the key's creation.
func (s *Store) fetchKey(forWrite bool) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	create := false
	if forWrite {
		if err := s.db.View(func(tx *bbolt.Tx) error {
			k, _ := tx.Bucket(bucketSecrets).Cursor().First()
			create = k == nil
			return nil
		}); err != nil {
			return nil, err
		}
	}
	key, err := s.secrets.DataKey(s.id, create)
	if errors.Is(err, ErrDataKeyMissing) {
		return nil, fmt.Errorf("store: %w, yet sealed secrets exist (was the keyring reset or the key file removed?); "+
			"they were left as they are and no new key was made; remove and add the affected servers again to start over", err)
	}
	if err != nil {
		return nil, err
	}
	if len(key) != dataKeySize {
		return nil, fmt.Errorf("store: the secret backend returned a %d-byte data key, want %d", len(key), dataKeySize)
	}
	s.key = key
	s.cached.Store(&key)
	return key, nil
}
