package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Registration is mcpauthd's OAuth client at one authorization server. It is bound to the issuer
// and looked up by the exact issuer string, never by prefix or a normalized form.
//
// It is stored as JSON in the registrations bucket, without ClientSecret; the secret, when there
// is one, is sealed in the secrets bucket under "client-secret:"+issuer, written in the same
// transaction.
type Registration struct {
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	AuthMethod   string    `json:"auth_method"` // none | client_secret_basic | client_secret_post
	Method       string    `json:"method"`      // preregistered | cimd | dynamic
	RedirectURIs []string  `json:"redirect_uris,omitempty"`
	CreatedAt    time.Time `json:"created_at,omitzero"` // set to now by PutRegistration if zero
	ClientSecret string    `json:"-"`                   // stored sealed, never in the plain bucket
}

// PutRegistration creates or replaces the registration for reg.Issuer, and its sealed client
// secret, in one transaction. An empty ClientSecret deletes any stored one. It does not modify
// *reg. Only a non-empty secret needs the data key.
func (s *Store) PutRegistration(reg *Registration) error {
	if reg.Issuer == "" {
		return errors.New("store: registration issuer is empty")
	}
	var key []byte
	if reg.ClientSecret != "" {
		var err error
		if key, err = s.dataKey(true); err != nil {
			return err
		}
	}
	rec := *reg
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = time.Now()
	}
	v, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("store: encoding registration for %s: %w", reg.Issuer, err)
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketRegistrations).Put([]byte(reg.Issuer), v); err != nil {
			return err
		}
		if reg.ClientSecret == "" {
			return tx.Bucket(bucketSecrets).Delete(clientSecretKey(reg.Issuer))
		}
		return putSealed(tx, key, clientSecretKey(reg.Issuer), reg.ClientSecret)
	})
}

// GetRegistration returns the registration for exactly issuer, with its client secret, or
// ErrNotFound. It needs the data key only if a client secret is stored.
func (s *Store) GetRegistration(issuer string) (*Registration, error) {
	var plain, blob []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		plain = bytes.Clone(tx.Bucket(bucketRegistrations).Get([]byte(issuer)))
		blob = bytes.Clone(tx.Bucket(bucketSecrets).Get(clientSecretKey(issuer)))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if plain == nil {
		return nil, fmt.Errorf("store: registration for %s: %w", issuer, ErrNotFound)
	}
	var reg Registration
	if err := decode(plain, &reg, "registration for "+issuer); err != nil {
		return nil, err
	}
	if blob != nil {
		if err := s.openSealed(clientSecretKey(issuer), blob, &reg.ClientSecret); err != nil {
			return nil, err
		}
	}
	return &reg, nil
}

// DeleteRegistration deletes the registration for issuer and its client secret in one
// transaction (ErrNotFound, changing nothing, if there is none). It does not need the data key.
func (s *Store) DeleteRegistration(issuer string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRegistrations)
		if b.Get([]byte(issuer)) == nil {
			return fmt.Errorf("store: registration for %s: %w", issuer, ErrNotFound)
		}
		if err := b.Delete([]byte(issuer)); err != nil {
			return err
		}
		return tx.Bucket(bucketSecrets).Delete(clientSecretKey(issuer))
	})
}
