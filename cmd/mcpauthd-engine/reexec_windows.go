package main

import (
	"fmt"
	"os"
	"os/exec"
)

// reexec starts a fresh daemon with the same arguments and environment and
// lets this process exit (Windows has no exec). The registry lock and the
// listeners are already released.
func reexec() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restart: cannot find my own binary: %w", err)
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("restart: %s: %w; start mcpauthd again by hand", exe, err)
	}
	return nil
}
