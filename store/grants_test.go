package store

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGrantRoundTrip: a server's grant configuration survives a reopen,
// its secrets only sealed (never in the registry file in the clear), and
// removing the server deletes them.
func TestGrantRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.db")
	backend := NewFileBackend(dir, slog.New(slog.DiscardHandler))
	s, err := Open(path, Options{Secrets: backend, LockTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://mcp.example.com/mcp"
	var gs grantSecrets
	if err := s.GetGrantSecrets(url, &gs); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetGrantSecrets before any: %v", err)
	}
	sec := &grantSecrets{ClientSecret: "cs-SECRET-1", PrivateKey: "-----BEGIN PRIVATE KEY-----\nKEY-SECRET-2\n", Assertion: "jwt-SECRET-3", IdPClientSecret: "idp-SECRET-4", IDToken: "idt-SECRET-5"}
	srv := &Server{URL: url, Grant: json.RawMessage(`{"type":"client_credentials","client_id":"robot","assertion_file":"/run/token"}`)}
	if err := s.CommitGrant(srv, sec); err != nil {
		t.Fatal(err)
	}
	s.Close()

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"SECRET-1", "SECRET-2", "SECRET-3", "SECRET-4", "SECRET-5"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the registry holds %s in the clear", secret)
		}
	}
	if !strings.Contains(string(raw), `"client_id":"robot"`) {
		t.Fatal("the grant's non-secret part is not in the server record")
	}

	s, err = Open(path, Options{Secrets: backend, LockTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.GetServer(url)
	if err != nil || string(got.Grant) != string(srv.Grant) {
		t.Fatalf("server after reopen: %+v %v", got, err)
	}
	if err := s.GetGrantSecrets(url, &gs); err != nil || gs != *sec {
		t.Fatalf("grant secrets after reopen: %v", err)
	}
	if err := s.CommitGrant(&Server{URL: url}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.GetGrantSecrets(url, &gs); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after CommitGrant(nil): %v", err)
	}
	if err := s.CommitGrant(srv, sec); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteServer(url); err != nil {
		t.Fatal(err)
	}
	if err := s.GetGrantSecrets(url, &gs); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after DeleteServer: %v", err)
	}
}

// grantSecrets is a grant's sealed record as the daemon writes it (the
// secret fields of ipc.GrantConfig, which the store does not import).
type grantSecrets struct {
	ClientSecret    string `json:"client_secret,omitempty"`
	PrivateKey      string `json:"private_key,omitempty"`
	Assertion       string `json:"assertion,omitempty"`
	IdPClientSecret string `json:"idp_client_secret,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
}
