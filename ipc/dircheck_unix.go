//go:build unix

package ipc

import (
	"fmt"
	"os"
	"syscall"
)

// checkDir refuses a socket directory that is a symbolic link (Lstat: the
// last component is not followed), not a directory, not owned by this user
// (another user may have created it first, to serve a socket of their own
// in it), or of any mode but 0700.
func checkDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	fix := "remove it, or set MCPAUTH_SOCK to a socket in a directory of yours with mode 0700"
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("socket directory %s is a symbolic link; mcpauthd uses only a real directory of yours: %s", dir, fix)
	case !fi.IsDir():
		return fmt.Errorf("socket directory %s is not a directory: %s", dir, fix)
	}
	// ipc imports no project package (DESIGN.md), so the owner is read
	// here rather than through internal/paths.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		uid := int(st.Uid)
		return fmt.Errorf("socket directory %s belongs to uid %d, not to you (uid %d): another user may have created it to pose as mcpauthd; %s", dir, uid, os.Getuid(), fix)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		return fmt.Errorf("socket directory %s has mode %04o; mcpauthd wants 0700 (only you): run chmod 700 %s, or set MCPAUTH_SOCK to a socket in another directory", dir, perm, dir)
	}
	return nil
}
