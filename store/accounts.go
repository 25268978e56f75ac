package store

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// A server has one sign-in of its own (its record in the servers bucket and its tokens under
// "token:"+URL: the sign-in every registry had before accounts, called "default") and any number of
// further named sign-ins, its accounts. An account's record is a Server (with Account set, and only
// the sign-in's fields used: status, issuer, discovery, scopes, expiry, timestamps) in the accounts
// bucket under URL+"\x00"+name; its tokens are sealed apart under "token:"+URL+"\x00"+name. A URL
// holds no NUL byte (net/url refuses control characters) and account names are checked by the
// caller (printable, no NUL), so the keys of one server's accounts are exactly those beginning
// with URL+"\x00".
//
// PutServer, CommitLogin, GetTokensOf and DeleteTokensOf take the account from Server.Account
// (or their account argument): "" is the server's own sign-in. An account can only be written
// for a server that exists; DeleteServer takes every account of the server with it.

// migrateAccounts adds the accounts bucket (schema 3). Registries before it have only each
// server's own sign-in, which stays where it is: it is the server's default account.
func migrateAccounts(tx *bbolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketAccounts)
	return err
}

func accountKey(serverURL, name string) []byte { return []byte(serverURL + "\x00" + name) }

// tokenKeyOf is where the tokens of url's sign-in account ("" its own) are sealed.
func tokenKeyOf(serverURL, account string) []byte {
	if account == "" {
		return tokenKey(serverURL)
	}
	return tokenKey(serverURL + "\x00" + account)
}

// putAccount writes the account record rec (rec.Account set) of an existing server.
func putAccount(tx *bbolt.Tx, rec *Server, now time.Time) error {
	if tx.Bucket(bucketServers).Get([]byte(rec.URL)) == nil {
		return fmt.Errorf("store: server %s: %w", rec.URL, ErrNotFound)
	}
	b := tx.Bucket(bucketAccounts)
	r := *rec
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
		if old := b.Get(accountKey(rec.URL, rec.Account)); old != nil {
			var prev Server
			if err := decode(old, &prev, "account"); err == nil && !prev.CreatedAt.IsZero() {
				r.CreatedAt = prev.CreatedAt
			}
		}
	}
	r.UpdatedAt = now
	return putJSON(b, accountKey(rec.URL, rec.Account), &r, rec.URL)
}

// ListAccounts returns the accounts of the server at url (not its own sign-in), ordered by name.
func (s *Store) ListAccounts(url string) ([]*Server, error) {
	var out []*Server
	err := s.db.View(func(tx *bbolt.Tx) error {
		prefix := accountKey(url, "")
		c := tx.Bucket(bucketAccounts).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var a Server
			if err := decode(v, &a, "account "+string(k)); err != nil {
				return err
			}
			out = append(out, &a)
		}
		return nil
	})
	return out, err
}

// DeleteAccount deletes the account name of the server at url and its sealed tokens in one
// transaction (ErrNotFound if there is no such account). It does not need the data key.
func (s *Store) DeleteAccount(url, name string) error {
	if name == "" {
		return errors.New("store: DeleteAccount needs an account name")
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAccounts)
		if b.Get(accountKey(url, name)) == nil {
			return fmt.Errorf("store: account %s of %s: %w", name, url, ErrNotFound)
		}
		if err := b.Delete(accountKey(url, name)); err != nil {
			return err
		}
		return tx.Bucket(bucketSecrets).Delete(tokenKeyOf(url, name))
	})
}

// deleteAccounts deletes every account of the server at url and their tokens.
func deleteAccounts(tx *bbolt.Tx, url string) error {
	prefix := accountKey(url, "")
	c := tx.Bucket(bucketAccounts).Cursor()
	var names []string
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		names = append(names, string(k[len(prefix):]))
	}
	for _, n := range names {
		if err := tx.Bucket(bucketAccounts).Delete(accountKey(url, n)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSecrets).Delete(tokenKeyOf(url, n)); err != nil {
			return err
		}
	}
	return nil
}

// GetTokensOf returns the tokens of url's sign-in account ("" its own sign-in), or ErrNotFound.
func (s *Store) GetTokensOf(url, account string) (*Tokens, error) {
	k := tokenKeyOf(url, account)
	blob, err := s.sealedBlob(k)
	if err != nil {
		return nil, err
	}
	if blob == nil {
		return nil, fmt.Errorf("store: tokens for %s: %w", url, ErrNotFound)
	}
	var tok Tokens
	if err := s.openSealed(k, blob, &tok); err != nil {
		return nil, err
	}
	return &tok, nil
}

// DeleteTokensOf deletes the tokens of url's sign-in account ("" its own sign-in); ErrNotFound
// if there are none. It does not need the data key.
func (s *Store) DeleteTokensOf(url, account string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		k := tokenKeyOf(url, account)
		if b.Get(k) == nil {
			return fmt.Errorf("store: tokens for %s: %w", url, ErrNotFound)
		}
		return b.Delete(k)
	})
}
