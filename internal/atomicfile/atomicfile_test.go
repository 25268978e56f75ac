package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub")
	p := filepath.Join(dir, "f")
	if err := Write(p, []byte("one"), 0o640, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two"), 0o600, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	di, _ := os.Stat(dir)
	if string(b) != "two" || fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Fatalf("content %q mode %v dir %v", b, fi.Mode(), di.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestWriteFailureKeepsOld(t *testing.T) {
	if os.Getuid() == 0 {
		t.Log("as root a read-only directory does not stop a write; checking the error path by a missing parent instead")
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := Write(p, []byte("old"), 0o600, 0o700); err != nil {
		t.Fatal(err)
	}
	// A path whose parent is a regular file cannot be written.
	if err := Write(filepath.Join(p, "x"), []byte("new"), 0o600, 0o700); err == nil {
		t.Fatal("wrote below a regular file")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("old content changed: %q", b)
	}
}
