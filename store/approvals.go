package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// The approvals bucket (schema 2) keeps the per-app approval policy:
//
//	"p\x00" + app + "\x00" + server  -> Approval (JSON)
//	"s\x00" + server                 -> "1": the server is sensitive (every request asks)
//
// It holds no secret.
var bucketApprovals = []byte("approvals")

// migrateApprovals adds the approvals bucket (schema 1 -> 2).
func migrateApprovals(tx *bbolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketApprovals)
	return err
}

// Approval is the decision kept for one (app, server) pair. App is the
// daemon's identity of the app ("exe:/path" or "key:NAME"); Name what was
// shown for it when decided. Decision is "always" or "deny". Account is
// the account the app gets for the server ("" the default).
type Approval struct {
	App       string    `json:"app"`
	Server    string    `json:"server"`
	Name      string    `json:"name,omitempty"`
	Decision  string    `json:"decision"`
	Account   string    `json:"account,omitempty"`
	DecidedAt time.Time `json:"decided_at"` // set to now by PutApproval if zero
}

func approvalKey(app, server string) []byte { return []byte("p\x00" + app + "\x00" + server) }
func sensitiveKey(server string) []byte     { return []byte("s\x00" + server) }

// PutApproval creates or replaces the decision for (a.App, a.Server).
func (s *Store) PutApproval(a *Approval) error {
	if a.App == "" || a.Server == "" || a.Decision == "" {
		return errors.New("store: an approval needs an app, a server and a decision")
	}
	rec := *a
	if rec.DecidedAt.IsZero() {
		rec.DecidedAt = time.Now()
	}
	v, err := json.Marshal(&rec)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketApprovals).Put(approvalKey(a.App, a.Server), v) })
}

// ListApprovals returns every kept decision, ordered by app, then server.
func (s *Store) ListApprovals() ([]Approval, error) {
	var out []Approval
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketApprovals).Cursor()
		p := []byte("p\x00")
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			var a Approval
			if err := decode(v, &a, "approval"); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// DeleteApprovals deletes app's decisions for server, or for every server
// when server is "", in one transaction, and returns how many it deleted.
func (s *Store) DeleteApprovals(app, server string) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketApprovals)
		if server != "" {
			if b.Get(approvalKey(app, server)) == nil {
				return nil
			}
			n = 1
			return b.Delete(approvalKey(app, server))
		}
		p := []byte("p\x00" + app + "\x00")
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return n, nil
}

// SetSensitive marks server as sensitive, or unmarks it.
func (s *Store) SetSensitive(server string, sensitive bool) error {
	if server == "" {
		return errors.New("store: no server to mark")
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketApprovals)
		if sensitive {
			return b.Put(sensitiveKey(server), []byte("1"))
		}
		return b.Delete(sensitiveKey(server))
	})
}

// ListSensitive returns the servers marked sensitive, ordered.
func (s *Store) ListSensitive() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketApprovals).Cursor()
		p := []byte("s\x00")
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			out = append(out, string(k[len(p):]))
		}
		return nil
	})
	return out, err
}
