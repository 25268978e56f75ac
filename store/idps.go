package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// IdPSession is the record of one sign-in at a company's identity provider
// (enterprise-managed authorization): one per IdP issuer and mcpauthd's
// client id there, shared by every server whose grant uses that IdP. JSON
// in the idps bucket under IdPKey; it holds no secret (IdPSecrets are
// sealed apart, under "idp:"+IdPKey). Status is the daemon's state name,
// opaque here.
//
// The idps bucket is created by the first write of an IdP session, not by a
// schema migration: a registry without one reads as having no IdP session,
// and an older mcpauthd opens a registry that has one (and ignores it).
type IdPSession struct {
	Issuer          string    `json:"issuer"`
	ClientID        string    `json:"client_id"`
	Status          string    `json:"status,omitempty"`
	StatusMessage   string    `json:"status_message,omitempty"`
	Subject         string    `json:"subject,omitempty"`
	Account         string    `json:"account,omitempty"` // the user's email or name, for display
	IDTokenExpiry   time.Time `json:"id_token_expiry,omitzero"`
	HasRefreshToken bool      `json:"has_refresh_token,omitempty"`
	SignedInAt      time.Time `json:"signed_in_at,omitzero"`
	UpdatedAt       time.Time `json:"updated_at,omitzero"` // set by the store on every write
}

// IdPSecrets are an IdP session's secrets: the user's ID token, the IdP's
// refresh token, and mcpauthd's client secret at the IdP (empty for a
// public client).
type IdPSecrets struct {
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

var bucketIdPs = []byte("idps")

// IdPKey is the key of the IdP session for issuer and clientID: the issuer
// (a URL, which has no space), a space, the client id.
func IdPKey(issuer, clientID string) string { return issuer + " " + clientID }

func idpSecretKey(key string) []byte { return []byte("idp:" + key) }

// PutIdP writes rec and seals sec as its secrets in one transaction, so the
// record never describes secrets other than those stored. A nil sec keeps
// the secrets stored.
func (s *Store) PutIdP(rec *IdPSession, sec *IdPSecrets) error {
	var key []byte
	if sec != nil {
		var err error
		if key, err = s.dataKey(true); err != nil {
			return err
		}
	}
	k := IdPKey(rec.Issuer, rec.ClientID)
	return s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketIdPs)
		if err != nil {
			return err
		}
		r := *rec
		r.UpdatedAt = time.Now()
		v, err := json.Marshal(&r)
		if err != nil {
			return fmt.Errorf("store: encoding the IdP session %s: %w", rec.Issuer, err)
		}
		if err := b.Put([]byte(k), v); err != nil {
			return err
		}
		if sec == nil {
			return nil
		}
		return putSealed(tx, key, idpSecretKey(k), sec)
	})
}

// GetIdP returns the IdP session for issuer and clientID, or ErrNotFound.
func (s *Store) GetIdP(issuer, clientID string) (*IdPSession, error) {
	var v []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketIdPs); b != nil {
			v = bytes.Clone(b.Get([]byte(IdPKey(issuer, clientID))))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("store: IdP session %s: %w", issuer, ErrNotFound)
	}
	var rec IdPSession
	return &rec, decode(v, &rec, "IdP session")
}

// GetIdPSecrets unseals the secrets of the IdP session for issuer and
// clientID, or returns ErrNotFound.
func (s *Store) GetIdPSecrets(issuer, clientID string) (*IdPSecrets, error) {
	k := idpSecretKey(IdPKey(issuer, clientID))
	blob, err := s.sealedBlob(k)
	if err != nil {
		return nil, err
	}
	if blob == nil {
		return nil, fmt.Errorf("store: IdP secrets for %s: %w", issuer, ErrNotFound)
	}
	var sec IdPSecrets
	return &sec, s.openSealed(k, blob, &sec)
}

// ListIdPs returns every IdP session, ordered by key.
func (s *Store) ListIdPs() ([]*IdPSession, error) {
	var out []*IdPSession
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketIdPs)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec IdPSession
			if err := decode(v, &rec, "IdP session"); err != nil {
				return err
			}
			out = append(out, &rec)
			return nil
		})
	})
	return out, err
}

// DeleteIdP removes the IdP session for issuer and clientID and its
// secrets; nothing to remove is fine.
func (s *Store) DeleteIdP(issuer, clientID string) error {
	k := IdPKey(issuer, clientID)
	return s.db.Update(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketIdPs); b != nil {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketSecrets).Delete(idpSecretKey(k))
	})
}
