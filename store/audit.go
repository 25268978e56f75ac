package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// AuditRecord is one token hand-out (or other action on a server's credentials) and who asked:
// the caller's process id, user id and executable path, as seen by the daemon. It holds no
// secrets. Records are JSON in the audit bucket under an 8-byte big-endian Unix time in
// nanoseconds followed by an 8-byte sequence number, so key order is time order.
type AuditRecord struct {
	Time   time.Time `json:"time"` // set to now by AppendAudit if zero
	Server string    `json:"server"`
	// Account is the server's account whose token was handed out
	// ("default" for its own sign-in; empty in records before accounts).
	Account string `json:"account,omitempty"`
	Action  string `json:"action"`
	PID     int    `json:"pid"`
	UID     int    `json:"uid"`
	Exe     string `json:"exe,omitempty"`
	App     string `json:"app,omitempty"` // the registered app, for hand-outs through the reverse proxy
	Via     string `json:"via,omitempty"` // where a forwarded caller came from (ipc.Origin); empty for local ones
	// Program is the executable the daemon holds responsible (ipc.Peer.Program:
	// Exe, or the app that started mcpauthd or a shell); empty when unknown.
	Program string `json:"program,omitempty"`
	// Tool is the tool of a tools/call the tool policy refused (Action
	// "tool_refused"), as the app named it.
	Tool string `json:"tool,omitempty"`
	// Count is how many identical hand-outs this record stands for (0 and 1
	// both mean one): a caller asking many times within one write is
	// recorded once, with the time of its latest request.
	Count int `json:"count,omitempty"`
}

// AppendAudit adds recs to the log in one transaction (one fsync however
// many records) and, in the same transaction, trims the oldest records
// beyond Options.MaxAudit. A zero Time is set to now.
func (s *Store) AppendAudit(recs ...AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	vals := make([][]byte, len(recs))
	for i := range recs {
		if recs[i].Time.IsZero() {
			recs[i].Time = time.Now()
		}
		v, err := json.Marshal(&recs[i])
		if err != nil {
			return fmt.Errorf("store: encoding audit record: %w", err)
		}
		vals[i] = v
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b, meta := tx.Bucket(bucketAudit), tx.Bucket(bucketMeta)
		n, err := getUint(meta, metaAuditCount)
		if err != nil {
			return err
		}
		for i, rec := range recs {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			key := binary.BigEndian.AppendUint64(nil, uint64(rec.Time.UnixNano()))
			key = binary.BigEndian.AppendUint64(key, seq)
			if err := b.Put(key, vals[i]); err != nil {
				return err
			}
			n++
		}
		// Trim from the oldest end. The count lives in meta so trimming needs no scan.
		// (Seek to First each time: a bbolt cursor may skip a key when Next follows Delete.)
		c := b.Cursor()
		for ; n > uint64(s.maxAudit); n-- {
			if k, _ := c.First(); k == nil {
				n = 0
				break
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return putUint(meta, metaAuditCount, n)
	})
}

// ListAudit returns audit records newest first: those for server (all servers if server is ""),
// at most limit of them (all if limit <= 0).
func (s *Store) ListAudit(server string, limit int) ([]AuditRecord, error) {
	var out []AuditRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
			var rec AuditRecord
			if err := decode(v, &rec, "audit record"); err != nil {
				return err
			}
			if server == "" || rec.Server == server {
				out = append(out, rec)
			}
		}
		return nil
	})
	return out, err
}
