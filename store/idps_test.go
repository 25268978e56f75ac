package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestIdPSessionRoundTrip: an IdP session is kept once per issuer and
// client id, its secrets sealed apart (not in the plain record), a nil
// secrets write keeps them, and deleting removes both. A registry that
// never had one (no idps bucket) reads as empty.
func TestIdPSessionRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := Open(path, Options{Secrets: fileHarness(t).backend})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if l, err := s.ListIdPs(); err != nil || len(l) != 0 {
		t.Fatalf("fresh registry: %v %v", l, err)
	}
	if _, err := s.GetIdP("https://idp.example", "c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	rec := &IdPSession{Issuer: "https://idp.example", ClientID: "c", Status: "signed_in", Account: "a@example.com"}
	if err := s.PutIdP(rec, &IdPSecrets{IDToken: "idt-secret", RefreshToken: "rt-secret"}); err != nil {
		t.Fatal(err)
	}
	rec.Status = "needs_sign_in"
	if err := s.PutIdP(rec, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetIdP("https://idp.example", "c")
	if err != nil || got.Status != "needs_sign_in" || got.UpdatedAt.IsZero() {
		t.Fatalf("get: %+v %v", got, err)
	}
	sec, err := s.GetIdPSecrets("https://idp.example", "c")
	if err != nil || sec.RefreshToken != "rt-secret" || sec.IDToken != "idt-secret" {
		t.Fatalf("secrets kept across a record-only write: %+v %v", sec, err)
	}
	if _, err := s.GetIdP("https://idp.example", "other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another client's session: %v", err)
	}
	if raw, err := os.ReadFile(path); err != nil || bytes.Contains(raw, []byte("rt-secret")) || bytes.Contains(raw, []byte("idt-secret")) {
		t.Fatalf("the registry file holds an IdP secret in the clear (%v)", err)
	}
	if err := s.DeleteIdP("https://idp.example", "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetIdPSecrets("https://idp.example", "c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("secrets after delete: %v", err)
	}
	if l, _ := s.ListIdPs(); len(l) != 0 {
		t.Fatalf("after delete: %v", l)
	}
}
