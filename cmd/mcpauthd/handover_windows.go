package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
)

// handOver runs engine with the same arguments (argv[0] as given),
// environment and stdio, and returns its exit status as an exitCode
// (Windows has no exec). Ctrl-C reaches both processes: the front ignores
// it and waits for the engine to end.
func handOver(engine string) error {
	signal.Ignore(os.Interrupt)
	cmd := exec.Command(engine)
	cmd.Args = os.Args
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return exitCode(0)
	case errors.As(err, &ee):
		return exitCode(ee.ExitCode())
	}
	return fmt.Errorf("cannot run %s: %w", engine, err)
}
