package store

import (
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// GrantConfig is the non-secret part of a server's non-interactive grant
// (client credentials, JWT bearer, enterprise), kept in its Server record.
// The store does not interpret it.
type GrantConfig struct {
	Type         string `json:"type"`
	ClientID     string `json:"client_id,omitempty"`
	SigningAlg   string `json:"signing_alg,omitempty"`
	ClientIssuer string `json:"client_issuer,omitempty"`
	// AssertionFile is read anew for every grant (a projected workload token).
	AssertionFile    string `json:"assertion_file,omitempty"`
	IdPIssuer        string `json:"idp_issuer,omitempty"`
	IdPTokenEndpoint string `json:"idp_token_endpoint,omitempty"`
	IdPClientID      string `json:"idp_client_id,omitempty"`
}

// GrantSecrets are the secrets of a server's non-interactive grant. They are
// stored only sealed, under "grant:"+server URL, and are written by
// CommitGrant.
type GrantSecrets struct {
	ClientSecret    string `json:"client_secret,omitempty"`
	PrivateKey      string `json:"private_key,omitempty"` // PEM
	Assertion       string `json:"assertion,omitempty"`   // a static workload JWT
	IdPClientSecret string `json:"idp_client_secret,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
}

// CommitGrant writes srv (as PutServer does; srv.Grant is the grant's
// non-secret part) and seals sec as its grant secrets, in one transaction:
// a record never names a grant whose secrets are missing or stale. A nil
// sec deletes the stored grant secrets.
func (s *Store) CommitGrant(srv *Server, sec *GrantSecrets) error {
	var key []byte
	if sec != nil {
		var err error
		if key, err = s.dataKey(true); err != nil {
			return err
		}
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := putServer(tx, srv, time.Now()); err != nil {
			return err
		}
		if sec == nil {
			return tx.Bucket(bucketSecrets).Delete(grantKey(srv.URL))
		}
		return putSealed(tx, key, grantKey(srv.URL), sec)
	})
}

// GetGrantSecrets returns the grant secrets of the server at url, or
// ErrNotFound. It fetches the data key only if there is a record to open.
func (s *Store) GetGrantSecrets(url string) (*GrantSecrets, error) {
	blob, err := s.sealedBlob(grantKey(url))
	if err != nil {
		return nil, err
	}
	if blob == nil {
		return nil, fmt.Errorf("store: grant secrets for %s: %w", url, ErrNotFound)
	}
	var sec GrantSecrets
	if err := s.openSealed(grantKey(url), blob, &sec); err != nil {
		return nil, err
	}
	return &sec, nil
}
