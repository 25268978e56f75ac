package ipc

import (
	"fmt"
	"os"
)

// checkDir on Windows: the socket directory is in the user's profile, whose
// ACL is the wall (see peerOf); file modes say little there, and only a
// directory reported writable by others is refused.
func checkDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("socket directory %s is writable by other users (mode %v); fix its permissions or set MCPAUTH_SOCK", dir, fi.Mode().Perm())
	}
	return nil
}
