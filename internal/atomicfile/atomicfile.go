// Package atomicfile replaces a file's content all at once: a reader (or a
// crash) sees the old file or the new one, never a part.
package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
)

// Write makes path hold data with mode perm: it writes a temporary file in
// the same directory (created with dirPerm when missing), syncs it, renames
// it over path and syncs the directory, so the new content survives a
// crash once Write returns. The temporary file is never readable by others
// while it is written (it is created 0600 and chmod-ed to perm only before
// the rename). Concurrent Writes to one path leave one of them whole.
func Write(path string, data []byte, perm, dirPerm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		_ = d.Sync()
		d.Close()
	}
	return nil
}
