//go:build !windows

package main

import (
	"fmt"
	"os"
	"syscall"
)

// handOver replaces this process with engine, with the same arguments
// (argv[0] as given) and environment: the pid, the parent, the open files
// and the signals a caller sends stay those of the command it started. It
// returns only when the exec fails.
func handOver(engine string) error {
	if err := syscall.Exec(engine, os.Args, os.Environ()); err != nil {
		return fmt.Errorf("cannot run %s: %w", engine, err)
	}
	return nil // not reached
}
