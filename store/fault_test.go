package store_test

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mcpauthd/mcpauthd/store"
)

// smallDisk mounts a tmpfs of size bytes and returns its path; it is
// unmounted when the test ends. It needs root (mount(2)); CI runs as root.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := "mount -t tmpfs (root) for a full disk: " + strings.TrimSpace(string(out))
		if os.Getenv("CI") == "true" {
			t.Fatalf("missing %s (CI=true: required)", msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file until the disk is full and returns a function that
// frees the space again.
func fill(t *testing.T, dir string) func() {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	f.Close()
	return func() { _ = os.Remove(p) }
}

// TestDiskFull: the registry's disk fills up. Writes fail with an error that
// says so (ENOSPC), and what was committed before stays intact and readable;
// after space is freed, the registry opens and takes writes again.
func TestDiskFull(t *testing.T) {
	dir := smallDisk(t, "2m")
	log := slog.New(slog.DiscardHandler)
	db := filepath.Join(dir, "mcpauthd", "registry.db")
	open := func() *store.Store {
		t.Helper()
		st, err := store.Open(db, store.Options{Secrets: store.NewFileBackend(filepath.Dir(db), log)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	old := &store.Tokens{AccessToken: "old-access-token", RefreshToken: "old-refresh-token", TokenType: "Bearer"}
	if err := st.CommitLogin(&store.Server{URL: "https://mcp.example.com/mcp", Name: "before"}, old); err != nil {
		t.Fatal(err)
	}
	free := fill(t, dir)

	// Big records force the file to grow: there is no room for them.
	big := strings.Repeat("x", 1<<20)
	var writeErrs []error
	err := st.CommitLogin(&store.Server{URL: "https://mcp.example.com/mcp", Name: "after", StatusMessage: big},
		&store.Tokens{AccessToken: "new-access-" + big, RefreshToken: "new-refresh", TokenType: "Bearer"})
	writeErrs = append(writeErrs, err)
	writeErrs = append(writeErrs, st.PutServer(&store.Server{URL: "https://other.example.com/mcp", StatusMessage: big}))
	writeErrs = append(writeErrs, st.PutTokens("https://mcp.example.com/mcp", &store.Tokens{AccessToken: big}))
	for i, err := range writeErrs {
		if err == nil {
			t.Fatalf("write %d succeeded on a full disk", i)
		}
		if !errors.Is(err, syscall.ENOSPC) && !strings.Contains(err.Error(), "no space left on device") {
			t.Errorf("write %d on a full disk: %v; want an error that says the disk is full", i, err)
		}
	}
	// The previous state is intact, in this process...
	check := func(st *store.Store, when string) {
		t.Helper()
		srv, err := st.GetServer("https://mcp.example.com/mcp")
		if err != nil || srv.Name != "before" {
			t.Fatalf("%s: server %+v, %v; want the record from before", when, srv, err)
		}
		tok, err := st.GetTokens("https://mcp.example.com/mcp")
		if err != nil || tok.AccessToken != old.AccessToken || tok.RefreshToken != old.RefreshToken {
			t.Fatalf("%s: tokens %v; want the tokens from before", when, err)
		}
		if _, err := st.GetServer("https://other.example.com/mcp"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: a failed write left a record: %v", when, err)
		}
	}
	check(st, "after the failed writes")
	// ...and on disk, with the disk still full (a restart of the daemon).
	if err := st.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Logf("close on a full disk: %v", err)
	}
	st = open()
	check(st, "reopened on a full disk")
	st.Close()

	free()
	st = open()
	defer st.Close()
	check(st, "reopened after space was freed")
	if err := st.PutTokens("https://mcp.example.com/mcp", &store.Tokens{AccessToken: "newer", TokenType: "Bearer"}); err != nil {
		t.Fatalf("write after space was freed: %v", err)
	}
	if tok, err := st.GetTokens("https://mcp.example.com/mcp"); err != nil || tok.AccessToken != "newer" {
		t.Fatalf("tokens after the write: %v", err)
	}
}
