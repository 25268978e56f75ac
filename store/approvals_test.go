package store

import (
	"path/filepath"
	"slices"
	"testing"

	"go.etcd.io/bbolt"
)

// A registry written by a binary of schema 1 (before approvals) opens: the
// migration adds the approvals bucket and keeps the servers.
func TestOldRegistryGetsApprovals(t *testing.T) {
	h := fileHarness(t)
	path := filepath.Join(t.TempDir(), "registry.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if err := migrateCreate(tx); err != nil {
			return err
		}
		if err := tx.Bucket(bucketServers).Put([]byte("https://a.example/mcp"), []byte(`{"url":"https://a.example/mcp","name":"A","status":"signed_out"}`)); err != nil {
			return err
		}
		return putUint(tx.Bucket(bucketMeta), metaSchemaVersion, 1)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := reopen(t, h, path)
	if srv, err := s.GetServer("https://a.example/mcp"); err != nil || srv.Name != "A" {
		t.Fatalf("server after migration: %+v, %v", srv, err)
	}
	if list, err := s.ListApprovals(); err != nil || len(list) != 0 {
		t.Fatalf("approvals of a migrated registry: %v, %v", list, err)
	}
	if err := s.PutApproval(&Approval{App: "exe:/usr/bin/a", Server: "https://a.example/mcp", Decision: "always"}); err != nil {
		t.Fatal(err)
	}
}

func TestApprovals(t *testing.T) {
	s, path := openStore(t, fileHarness(t))
	const a, b = "https://a.example/mcp", "https://b.example/mcp"
	for _, ap := range []Approval{
		{App: "exe:/usr/bin/x", Server: a, Decision: "always", Account: "work"},
		{App: "exe:/usr/bin/x", Server: b, Decision: "deny"},
		{App: "exe:/usr/bin/x2", Server: a, Decision: "always"}, // a prefix of another app's id
	} {
		if err := s.PutApproval(&ap); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutApproval(&Approval{App: "x"}); err == nil {
		t.Error("an approval without server and decision was stored")
	}
	list, err := s.ListApprovals()
	if err != nil || len(list) != 3 || list[0].Account != "work" || list[0].DecidedAt.IsZero() {
		t.Fatalf("ListApprovals = %+v, %v", list, err)
	}
	if err := s.SetSensitive(b, true); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = reopen(t, fileHarness(t), path) // kept across restarts; no data key needed
	if sens, err := s.ListSensitive(); err != nil || !slices.Equal(sens, []string{b}) {
		t.Fatalf("ListSensitive = %v, %v", sens, err)
	}
	if n, err := s.DeleteApprovals("exe:/usr/bin/x", ""); err != nil || n != 2 {
		t.Fatalf("DeleteApprovals(all) = %d, %v", n, err)
	}
	list, _ = s.ListApprovals()
	if len(list) != 1 || list[0].App != "exe:/usr/bin/x2" {
		t.Fatalf("after revoking x: %+v (x2 must stay)", list)
	}
	if n, _ := s.DeleteApprovals("exe:/usr/bin/x2", b); n != 0 {
		t.Errorf("deleting a pair that has no decision deleted %d", n)
	}
	if err := s.SetSensitive(b, false); err != nil {
		t.Fatal(err)
	}
	if sens, _ := s.ListSensitive(); len(sens) != 0 {
		t.Errorf("unmarked server still sensitive: %v", sens)
	}
}
