// Command mcpauthd signs the user in to MCP servers once and hands tokens to
// every local app. `mcpauthd` alone runs the daemon; subcommands talk to it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mcpauthd/mcpauthd/cli"
	"github.com/mcpauthd/mcpauthd/internal/paths"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cli.Env{Paths: paths.Default(), Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	env.RunDaemon = func(ctx context.Context, args []string) error { return runDaemon(ctx, env, args) }
	err := cli.Run(ctx, env, os.Args[1:])
	if errors.Is(err, errRestart) {
		stop()
		err = reexec()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcpauthd:", sanitize.Error(err))
		var ee *cli.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.Code)
		}
		os.Exit(1)
	}
}
