//go:build !windows

package main

import (
	"fmt"
	"os"
	"syscall"
)

// reexec replaces this process with a fresh start of the same binary, with
// the same arguments and environment: the pid stays, so a service manager
// (systemd, launchd) keeps tracking it. Every descriptor the old daemon had
// is close-on-exec (Go opens them so), so the registry lock and the
// listeners are released before the new daemon takes them. The binary is
// looked up again, so a restart after an upgrade runs the new version.
func reexec() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restart: cannot find my own binary: %w", err)
	}
	if err := syscall.Exec(exe, os.Args, os.Environ()); err != nil {
		return fmt.Errorf("restart: %s: %w; start mcpauthd again by hand", exe, err)
	}
	return nil // not reached
}
