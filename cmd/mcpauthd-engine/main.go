// Command mcpauthd-engine is the whole of mcpauthd: it signs the user in to
// MCP servers once and hands tokens to every local app. Alone it runs the
// daemon; subcommands talk to it. Users type `mcpauthd` (cmd/mcpauthd), a
// small front that answers `token` and `headers` itself when the daemon does
// and hands every other command line to this binary, which must sit beside
// it (or on PATH). It runs the same without the front.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/mcpauthd/mcpauthd/cli"
	"github.com/mcpauthd/mcpauthd/internal/paths"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

func main() {
	if !cli.RunsDaemon(os.Args[1:]) {
		// The tray's package (fyne.io/systray) locks the main goroutine to
		// the main thread in its init, for the UI of the daemon's tray
		// (macOS and Windows draw it from that thread). Every other command
		// runs on the main goroutine too, and locked, each time it waits and
		// wakes the runtime must hand its processor over to that one thread:
		// the proxy's loop reading the app paid a thread switch per message
		// (docs/benchmarks.md, "The hop for a plain newline-JSON client").
		runtime.UnlockOSThread()
	}
	if len(os.Args) > 1 && os.Args[1] == "proxy" && os.Getenv("GOMAXPROCS") == "" {
		// A relay waits on its app and its server and does little between:
		// on one processor each message is handled on the thread that
		// polled it, with no other thread to wake per hand-off (about
		// 0.2 ms less added per call, and a third less CPU, measured in
		// docs/benchmarks.md). GOMAXPROCS in the environment still wins.
		runtime.GOMAXPROCS(1)
	}
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
