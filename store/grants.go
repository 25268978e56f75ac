package store

import (
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// CommitGrant writes srv (as PutServer does; srv.Grant is the grant's
// non-secret part) and seals sec, marshalled as JSON, as its grant secrets
// under "grant:"+server URL, in one transaction: a record never names a
// grant whose secrets are missing or stale. A nil sec (an untyped nil)
// deletes the stored grant secrets. The store does not interpret sec: the
// daemon's ipc.GrantConfig.Secrets is the one layout.
func (s *Store) CommitGrant(srv *Server, sec any) error {
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

// GetGrantSecrets unseals the grant secrets of the server at url into sec
// (as json.Unmarshal does), or returns ErrNotFound. It fetches the data key
// only if there is a record to open.
func (s *Store) GetGrantSecrets(url string, sec any) error {
	blob, err := s.sealedBlob(grantKey(url))
	if err != nil {
		return err
	}
	if blob == nil {
		return fmt.Errorf("store: grant secrets for %s: %w", url, ErrNotFound)
	}
	return s.openSealed(grantKey(url), blob, sec)
}
