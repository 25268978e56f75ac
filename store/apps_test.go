package store

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// TestAppsSealed: an app's key round-trips, is never on disk in the clear,
// and deleting the app removes it.
func TestAppsSealed(t *testing.T) {
	h := fileHarness(t)
	s, path := openStore(t, h)
	key := "k-" + randomHex(16)
	if err := s.PutApp(&App{Name: "cursor", Server: "https://mcp.example.com/mcp", Key: key}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutApp(&App{Name: "agent", Server: "https://other.example.com/mcp", Key: "k2-" + randomHex(16)}); err != nil {
		t.Fatal(err)
	}
	apps, err := s.ListApps()
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[0].Name != "agent" || apps[1].Name != "cursor" || apps[1].Key != key || apps[1].CreatedAt.IsZero() {
		t.Fatalf("apps = %+v", apps)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(key)) || bytes.Contains(raw, []byte("mcp.example.com")) {
		t.Fatal("an app record is on disk in the clear")
	}
	s = reopen(t, h, path)
	defer s.Close()
	if err := s.DeleteApp("cursor"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp("cursor"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if apps, err := s.ListApps(); err != nil || len(apps) != 1 || apps[0].Name != "agent" {
		t.Fatalf("after delete: %+v %v", apps, err)
	}
}
