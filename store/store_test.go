package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// testBackend is the body shared by every SecretBackend: each subtest gets a fresh registry and
// a fresh harness.
func testBackend(t *testing.T, harness func(*testing.T) *backendHarness) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *backendHarness)
	}{
		{"ServersRoundTrip", testServersRoundTrip},
		{"RegistrationsRoundTrip", testRegistrationsRoundTrip},
		{"TokensRoundTrip", testTokensRoundTrip},
		{"LargeToken", testLargeToken},
		{"CommitLogin", testCommitLogin},
		{"DeleteServerWipesTokens", testDeleteServerWipesTokens},
		{"NoPlaintextOnDisk", testNoPlaintextOnDisk},
		{"TamperedRecord", testTamperedRecord},
		{"DataKeyMissing", testDataKeyMissing},
		{"Concurrent", testConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, harness(t)) })
	}
}

// openStore opens a registry in a fresh temp dir; it is closed at the end of the test (closing it
// twice is harmless), and its data key removed from the backend.
func openStore(t *testing.T, h *backendHarness) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "registry.db")
	s := reopen(t, h, path)
	t.Cleanup(func() {
		if h.hasKey(t, s.id) {
			h.wipe(t, s.id)
		}
	})
	return s, path
}

func reopen(t *testing.T, h *backendHarness, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{Secrets: h.backend, LockTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testServersRoundTrip(t *testing.T, h *backendHarness) {
	s, path := openStore(t, h)
	in := &Server{
		URL:                "https://mcp.example.com/mcp",
		Name:               "Example",
		Issuer:             "https://auth.example.com",
		ResourceMetadata:   json.RawMessage(`{"resource":"https://mcp.example.com/mcp"}`),
		AuthServerMetadata: json.RawMessage(`{"issuer":"https://auth.example.com"}`),
		ScopesRequested:    []string{"read", "write"},
		ScopesGranted:      []string{"read"},
		Status:             "signed-in",
		ServerInfo:         json.RawMessage(`{"name":"ex"}`),
		Tools:              []string{"search"},
		TokenExpiry:        time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		SignedInAt:         time.Date(2029, 1, 2, 3, 4, 5, 0, time.UTC),
		ClientIDOverride:   "pre-registered",
	}
	if err := s.PutServer(in); err != nil {
		t.Fatal(err)
	}
	if !in.CreatedAt.IsZero() {
		t.Error("PutServer modified its argument")
	}
	got, err := s.GetServer(in.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Errorf("timestamps not set: %+v", got)
	}
	want := *in
	want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
	if !jsonEqual(t, got, &want) {
		t.Errorf("got %+v\nwant %+v", got, &want)
	}

	// A second write keeps CreatedAt.
	created := got.CreatedAt
	time.Sleep(time.Millisecond)
	in.Status = "needs-login"
	if err := s.PutServer(in); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = reopen(t, h, path)
	got, err = s.GetServer(in.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(created) || !got.UpdatedAt.After(created) || got.Status != "needs-login" {
		t.Errorf("after update: %+v (created %v)", got, created)
	}

	// Keys are exact: no normalization, no prefix match.
	for _, url := range []string{"https://mcp.example.com/mcp/", "https://MCP.example.com/mcp", "https://mcp.example.com"} {
		if _, err := s.GetServer(url); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetServer(%q): err = %v, want ErrNotFound", url, err)
		}
	}

	if err := s.PutServer(&Server{URL: "https://a.example/mcp", Name: "A"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListServers()
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, srv := range list {
		urls = append(urls, srv.URL)
	}
	if !slices.Equal(urls, []string{"https://a.example/mcp", "https://mcp.example.com/mcp"}) {
		t.Errorf("ListServers: %q", urls)
	}

	if err := s.DeleteServer("https://a.example/mcp"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteServer("https://a.example/mcp"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteServer: err = %v, want ErrNotFound", err)
	}
	if err := s.PutServer(&Server{}); err == nil {
		t.Error("PutServer accepted an empty URL")
	}
}

func testRegistrationsRoundTrip(t *testing.T, h *backendHarness) {
	s, path := openStore(t, h)
	reg := &Registration{
		Issuer:       "https://auth.example.com",
		ClientID:     "client-123",
		AuthMethod:   "client_secret_basic",
		Method:       "dynamic",
		RedirectURIs: []string{"http://127.0.0.1/callback"},
		ClientSecret: "s3cret-" + randomHex(8),
	}
	if err := s.PutRegistration(reg); err != nil {
		t.Fatal(err)
	}
	public := &Registration{Issuer: "https://auth.example.com/tenant", ClientID: "pub", AuthMethod: "none", Method: "cimd"}
	if err := s.PutRegistration(public); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = reopen(t, h, path)

	got, err := s.GetRegistration(reg.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	want := *reg
	want.CreatedAt = got.CreatedAt
	if got.CreatedAt.IsZero() || !jsonEqual(t, got, &want) || got.ClientSecret != reg.ClientSecret {
		t.Errorf("got %+v, want %+v (secrets equal: %v)", got, &want, got.ClientSecret == reg.ClientSecret)
	}
	got, err = s.GetRegistration(public.Issuer)
	if err != nil || got.ClientID != "pub" || got.ClientSecret != "" {
		t.Errorf("public client: %+v, %v", got, err)
	}
	// Bound to the exact issuer string.
	for _, iss := range []string{"https://auth.example.com/", "https://auth.example", "https://AUTH.example.com"} {
		if _, err := s.GetRegistration(iss); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetRegistration(%q): err = %v, want ErrNotFound", iss, err)
		}
	}

	// Replacing with no secret removes the sealed one.
	noSecret := *reg
	noSecret.ClientSecret = ""
	if err := s.PutRegistration(&noSecret); err != nil {
		t.Fatal(err)
	}
	if blob, _ := s.sealedBlob(clientSecretKey(reg.Issuer)); blob != nil {
		t.Error("sealed client secret survived a registration without one")
	}

	if err := s.PutRegistration(reg); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRegistration(reg.Issuer); err != nil {
		t.Fatal(err)
	}
	if blob, _ := s.sealedBlob(clientSecretKey(reg.Issuer)); blob != nil {
		t.Error("DeleteRegistration left the sealed client secret")
	}
	if _, err := s.GetRegistration(reg.Issuer); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: err = %v", err)
	}
	if err := s.DeleteRegistration(reg.Issuer); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: err = %v", err)
	}
}

func testTokensRoundTrip(t *testing.T, h *backendHarness) {
	s, _ := openStore(t, h)
	url := "https://mcp.example.com/mcp"
	tok := sampleTokens(64)
	if err := s.PutTokens(url, tok); !errors.Is(err, ErrNotFound) {
		t.Errorf("PutTokens for an unknown server: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetTokens(url); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetTokens before any: err = %v", err)
	}
	if err := s.PutServer(&Server{URL: url}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTokens(url, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetTokens(url)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, got, tok) {
		t.Error("tokens differ after round trip")
	}
	if err := s.DeleteTokens(url); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTokens(url); !errors.Is(err, ErrNotFound) {
		t.Errorf("after DeleteTokens: err = %v", err)
	}
	if err := s.DeleteTokens(url); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteTokens: err = %v", err)
	}
	if _, err := s.GetServer(url); err != nil {
		t.Errorf("DeleteTokens touched the server: %v", err)
	}
}

// A 20 KB token is far beyond what macOS (≈3 KB) or Windows (≈2.5 KB) keyrings take as one value.
func testLargeToken(t *testing.T, h *backendHarness) {
	s, path := openStore(t, h)
	url := "https://mcp.example.com/mcp"
	tok := sampleTokens(20 << 10)
	if err := s.CommitLogin(&Server{URL: url}, tok); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = reopen(t, h, path)
	got, err := s.GetTokens(url)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.AccessToken) != 20<<10 || !jsonEqual(t, got, tok) {
		t.Errorf("20 KB token did not round-trip (len %d)", len(got.AccessToken))
	}
}

func testCommitLogin(t *testing.T, h *backendHarness) {
	s, path := openStore(t, h)
	srv := &Server{URL: "https://mcp.example.com/mcp", Status: "signed-in", SignedInAt: time.Now().UTC().Truncate(time.Second)}
	tok := sampleTokens(64)
	if err := s.CommitLogin(srv, tok); err != nil {
		t.Fatal(err)
	}
	// A refresh rotates the refresh token; both halves land together.
	tok2 := sampleTokens(64)
	srv.TokenExpiry = tok2.Expiry
	if err := s.CommitLogin(srv, tok2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = reopen(t, h, path)
	gotSrv, err := s.GetServer(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	gotTok, err := s.GetTokens(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if gotTok.RefreshToken != tok2.RefreshToken || !gotSrv.TokenExpiry.Equal(tok2.Expiry) || gotSrv.Status != "signed-in" {
		t.Errorf("CommitLogin: server %+v, refresh token rotated: %v", gotSrv, gotTok.RefreshToken == tok2.RefreshToken)
	}
	if err := s.CommitLogin(&Server{}, tok); err == nil {
		t.Error("CommitLogin accepted an empty URL")
	}
}

func testDeleteServerWipesTokens(t *testing.T, h *backendHarness) {
	s, path := openStore(t, h)
	keep, drop := "https://keep.example/mcp", "https://drop.example/mcp"
	for _, url := range []string{keep, drop} {
		if err := s.CommitLogin(&Server{URL: url}, sampleTokens(64)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteServer(drop); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTokens(drop); !errors.Is(err, ErrNotFound) {
		t.Errorf("tokens of a deleted server: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetTokens(keep); err != nil {
		t.Errorf("other server's tokens: %v", err)
	}
	s.Close()
	withRaw(t, path, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketSecrets).Get(tokenKey(drop)) != nil {
			t.Error("sealed tokens of the deleted server are still in the file")
		}
		return nil
	})
}

// The registry file must never hold a secret in the clear, nor the data key.
func testNoPlaintextOnDisk(t *testing.T, h *backendHarness) {
	s, path := openStore(t, h)
	tok := sampleTokens(300)
	secret := "client-secret-" + randomHex(16)
	if err := s.CommitLogin(&Server{URL: "https://mcp.example.com/mcp"}, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRegistration(&Registration{Issuer: "https://auth.example.com", ClientID: "c", ClientSecret: secret}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(AuditRecord{Server: "https://mcp.example.com/mcp", Action: "token"}); err != nil {
		t.Fatal(err)
	}
	key, err := s.dataKey(false)
	if err != nil {
		t.Fatal(err)
	}
	key = bytes.Clone(key)
	s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string][]byte{
		"access token":  []byte(tok.AccessToken),
		"refresh token": []byte(tok.RefreshToken),
		"ID token":      []byte(tok.IDToken),
		"client secret": []byte(secret),
		"data key":      key,
	} {
		if bytes.Contains(raw, v) {
			t.Errorf("the registry file contains the %s", name)
		}
	}
	if !bytes.Contains(raw, []byte("https://mcp.example.com/mcp")) {
		t.Error("sanity: the server URL is not in the file")
	}
}

// A sealed record that was altered, or moved to another key, fails to open with ErrDecrypt and is
// left as it is.
func testTamperedRecord(t *testing.T, h *backendHarness) {
	s, path := openStore(t, h)
	a, b := "https://a.example/mcp", "https://b.example/mcp"
	tok := sampleTokens(64)
	for _, url := range []string{a, b} {
		if err := s.CommitLogin(&Server{URL: url}, tok); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	var tampered, moved []byte
	withRaw(t, path, func(tx *bbolt.Tx) error {
		sec := tx.Bucket(bucketSecrets)
		tampered = bytes.Clone(sec.Get(tokenKey(a)))
		tampered[len(tampered)-20] ^= 1
		moved = bytes.Clone(sec.Get(tokenKey(a))) // a's record, put under b's key
		if err := sec.Put(tokenKey(a), tampered); err != nil {
			return err
		}
		return sec.Put(tokenKey(b), moved)
	})
	s = reopen(t, h, path)
	for _, url := range []string{a, b} {
		_, err := s.GetTokens(url)
		if !errors.Is(err, ErrDecrypt) {
			t.Errorf("GetTokens(%s): err = %v, want ErrDecrypt", url, err)
		}
		if err != nil && (strings.Contains(err.Error(), tok.AccessToken) || strings.Contains(err.Error(), tok.RefreshToken)) {
			t.Error("error message contains a token")
		}
	}
	if blob, _ := s.sealedBlob(tokenKey(a)); !bytes.Equal(blob, tampered) {
		t.Error("tampered record was changed or removed")
	}
	if blob, _ := s.sealedBlob(tokenKey(b)); !bytes.Equal(blob, moved) {
		t.Error("moved record was changed or removed")
	}
}

// A reset keyring (data key gone, sealed records present) is an error for reads and writes; the
// store neither makes a new key nor touches the records, until the records are deleted.
func testDataKeyMissing(t *testing.T, h *backendHarness) {
	s, path := openStore(t, h)
	url := "https://mcp.example.com/mcp"
	if err := s.CommitLogin(&Server{URL: url}, sampleTokens(64)); err != nil {
		t.Fatal(err)
	}
	id := s.id
	s.Close()
	blob := rawSecret(t, path, tokenKey(url))
	h.wipe(t, id)

	s = reopen(t, h, path)
	if _, err := s.GetTokens(url); !errors.Is(err, ErrDataKeyMissing) {
		t.Errorf("GetTokens: err = %v, want ErrDataKeyMissing", err)
	} else {
		t.Logf("GetTokens: %v", err)
	}
	if err := s.PutTokens(url, sampleTokens(64)); !errors.Is(err, ErrDataKeyMissing) {
		t.Errorf("PutTokens: err = %v, want ErrDataKeyMissing", err)
	}
	if err := s.PutRegistration(&Registration{Issuer: "https://auth.example", ClientSecret: "x"}); !errors.Is(err, ErrDataKeyMissing) {
		t.Errorf("PutRegistration: err = %v, want ErrDataKeyMissing", err)
	}
	if h.hasKey(t, id) {
		t.Error("a new data key was created over existing sealed records")
	}
	s.Close()
	if got := rawSecret(t, path, tokenKey(url)); !bytes.Equal(got, blob) {
		t.Error("sealed record changed")
	}

	// Removing the server clears its sealed record (no key needed); then a new key may be made.
	s = reopen(t, h, path)
	if err := s.DeleteServer(url); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitLogin(&Server{URL: url}, sampleTokens(64)); err != nil {
		t.Fatalf("after clearing the records: %v", err)
	}
	if !h.hasKey(t, id) {
		t.Error("no new data key after the records were cleared")
	}
}

func testConcurrent(t *testing.T, h *backendHarness) {
	s, path := openStore(t, h)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			url := fmt.Sprintf("https://s%d.example/mcp", i)
			if err := s.CommitLogin(&Server{URL: url}, sampleTokens(64)); err != nil {
				t.Error(err)
			}
			if _, err := s.GetTokens(url); err != nil {
				t.Error(err)
			}
			if err := s.AppendAudit(AuditRecord{Server: url, Action: "token"}); err != nil {
				t.Error(err)
			}
			if _, err := s.ListServers(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Every record opens after a reopen: all were sealed under one key.
	s.Close()
	s = reopen(t, h, path)
	for i := range 16 {
		if _, err := s.GetTokens(fmt.Sprintf("https://s%d.example/mcp", i)); err != nil {
			t.Error(err)
		}
	}
}

// Tests below do not depend on the secret backend; they use the file backend.

func TestLocked(t *testing.T) {
	s, path := openStore(t, fileHarness(t))
	_ = s
	start := time.Now()
	_, err := Open(path, Options{Secrets: fileHarness(t).backend, LockTimeout: 300 * time.Millisecond})
	elapsed := time.Since(start)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: err = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "another mcpauthd is already running") {
		t.Errorf("message does not say why: %v", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("second Open took %v with a 300ms timeout", elapsed)
	}
	t.Logf("%v (after %v)", err, elapsed.Round(time.Millisecond))
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "loose")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "registry.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil { // bbolt initializes an empty file
		t.Fatal(err)
	}
	s := reopen(t, fileHarness(t), path)
	s.Close()
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

func TestSchemaVersion(t *testing.T) {
	h := fileHarness(t)
	s, path := openStore(t, h)
	s.Close()
	withRaw(t, path, func(tx *bbolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get(metaSchemaVersion)); v != strconv.Itoa(schemaCurrent) {
			t.Errorf("schema version %q, want %d", v, schemaCurrent)
		}
		return nil
	})

	// Reopening a current registry writes nothing.
	before := readFile(t, path)
	reopen(t, h, path).Close()
	if !bytes.Equal(before, readFile(t, path)) {
		t.Error("reopening a current registry changed the file")
	}

	// A newer schema is refused and the file left alone.
	withRaw(t, path, func(tx *bbolt.Tx) error {
		return putUint(tx.Bucket(bucketMeta), metaSchemaVersion, uint64(schemaCurrent+1))
	})
	before = readFile(t, path)
	_, err := Open(path, Options{Secrets: h.backend})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("err = %v, want ErrSchemaTooNew", err)
	}
	t.Log(err)
	if !bytes.Equal(before, readFile(t, path)) {
		t.Error("Open changed a registry with a newer schema")
	}
}

func TestMigrationsRunInOneTransaction(t *testing.T) {
	saved := migrations
	t.Cleanup(func() { migrations, schemaCurrent = saved, len(saved) })
	h := fileHarness(t)
	s, path := openStore(t, h)
	s.Close()

	// A next version whose migration writes, then fails: nothing of it may remain.
	cur, next := strconv.Itoa(len(saved)), strconv.Itoa(len(saved)+1)
	migrations = append(slices.Clip(saved), func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put([]byte("v2"), []byte("x")); err != nil {
			return err
		}
		return errors.New("boom")
	})
	schemaCurrent = len(migrations)
	if _, err := Open(path, Options{Secrets: h.backend}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the migration's error", err)
	}
	withRaw(t, path, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte("v2")) != nil || string(tx.Bucket(bucketMeta).Get(metaSchemaVersion)) != cur {
			t.Error("a failed migration left changes behind")
		}
		return nil
	})

	// The same, succeeding.
	migrations[len(saved)] = func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("v2"), []byte("x")) }
	reopen(t, h, path).Close()
	withRaw(t, path, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte("v2")) == nil || string(tx.Bucket(bucketMeta).Get(metaSchemaVersion)) != next {
			t.Error("migration to " + next + " did not run")
		}
		return nil
	})
}

func TestAudit(t *testing.T) {
	h := fileHarness(t)
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := Open(path, Options{Secrets: h.backend, MaxAudit: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 8 {
		server := "https://a.example/mcp"
		if i%2 == 1 {
			server = "https://b.example/mcp"
		}
		rec := AuditRecord{Time: base.Add(time.Duration(i) * time.Minute), Server: server, Action: fmt.Sprint("token-", i), PID: 100 + i, UID: 1000, Exe: "/usr/bin/app"}
		if err := s.AppendAudit(rec); err != nil {
			t.Fatal(err)
		}
	}
	actions := func(recs []AuditRecord) (out []string) {
		for _, r := range recs {
			out = append(out, r.Action)
		}
		return out
	}
	all, err := s.ListAudit("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(all), []string{"token-7", "token-6", "token-5", "token-4", "token-3"}; !slices.Equal(got, want) {
		t.Errorf("ListAudit: %q, want %q (newest first, oldest trimmed)", got, want)
	}
	if all[0].PID != 107 || all[0].UID != 1000 || all[0].Exe != "/usr/bin/app" || !all[0].Time.Equal(base.Add(7*time.Minute)) {
		t.Errorf("record fields: %+v", all[0])
	}
	b, _ := s.ListAudit("https://b.example/mcp", 2)
	if got, want := actions(b), []string{"token-7", "token-5"}; !slices.Equal(got, want) {
		t.Errorf("ListAudit(b, 2): %q, want %q", got, want)
	}

	// The count survives a reopen; trimming goes on from there, and an unset time means now.
	s.Close()
	s, err = Open(path, Options{Secrets: h.backend, MaxAudit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(AuditRecord{Server: "https://a.example/mcp", Action: "now"}); err != nil {
		t.Fatal(err)
	}
	all, _ = s.ListAudit("", 0)
	if got, want := actions(all), []string{"now", "token-7", "token-6", "token-5", "token-4"}; !slices.Equal(got, want) {
		t.Errorf("after reopen: %q, want %q", got, want)
	}
}

func sampleTokens(n int) *Tokens {
	return &Tokens{
		AccessToken:  "at-" + strings.Repeat("A", n-len("at-")-16) + randomHex(8),
		RefreshToken: "rt-" + randomHex(24),
		TokenType:    "Bearer",
		IDToken:      "idt-" + randomHex(24),
		Expiry:       time.Now().Add(time.Hour).UTC().Truncate(time.Second),
		Scopes:       []string{"read", "write"},
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

// withRaw runs fn in a write transaction on the closed registry at path, bypassing the store.
func withRaw(t *testing.T, path string, fn func(*bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func rawSecret(t *testing.T, path string, key []byte) (blob []byte) {
	t.Helper()
	withRaw(t, path, func(tx *bbolt.Tx) error {
		blob = bytes.Clone(tx.Bucket(bucketSecrets).Get(key))
		return nil
	})
	return blob
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
