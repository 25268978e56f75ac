// Command mcpauthd is the command users type: a small front for
// mcpauthd-engine (cmd/mcpauthd-engine), the whole program. Apps run
// `mcpauthd headers URL` (a headersHelper) or `mcpauthd token URL` before
// every connection, and a binary that links the daemon, the tray and the
// web page pays their package initialisers and page faults at each start;
// this one links little more than a bare client of the socket.
//
// For token and headers it asks the daemon itself and prints the answer,
// with the engine's code for both (cli/tokencmd, ipc: the same socket, the
// same check that the socket is served by this user). Everything else is
// the engine's: any other command line, help and usage errors, a daemon
// that does not answer (the engine starts one), any error the daemon
// answers, an answer the command cannot print. The front then runs the
// engine with the same arguments (argv[0] as given) and environment: on
// Unix by exec, in the same process (so the daemon identifies the app and
// signals reach it as before); on Windows as a child with the same stdio,
// exiting with its status.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mcpauthd/mcpauthd/cli/tokencmd"
	"github.com/mcpauthd/mcpauthd/internal/paths"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
	"github.com/spf13/pflag"
)

func main() {
	done, code := fast(context.Background(), os.Args[1:], paths.Default().Socket, os.Stdout, os.Stderr)
	if done {
		os.Exit(code)
	}
	engine, err := findEngine(ownExecutable(), lookPath)
	if err == nil {
		err = handOver(engine) // returns only on failure (Unix) or with the engine's status (Windows)
	}
	var status exitCode
	if errors.As(err, &status) {
		os.Exit(int(status))
	}
	fmt.Fprintln(os.Stderr, "mcpauthd:", err)
	os.Exit(1)
}

// fast runs `token` and `headers` (args without the program name) with the
// daemon at socket, and reports whether it did, with the exit status: false,
// with nothing written, for any command line the engine must handle or a
// daemon that does not answer (the engine starts one). What the daemon
// answers, a token or a refusal, is printed as the engine prints it: a
// refusal (not signed in, an app the user denied, a failed refresh) is not
// asked again by the engine, which would wait for an approval twice and
// record a denial twice.
func fast(ctx context.Context, args []string, socket string, stdout, stderr io.Writer) (done bool, code int) {
	if len(args) == 0 || args[0] != "token" && args[0] != "headers" {
		return false, 0
	}
	fs := pflag.NewFlagSet(args[0], pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c := tokencmd.Define(args[0], fs)
	help := fs.BoolP("help", "h", false, "")
	if fs.Parse(args[1:]) != nil || *help || fs.NArg() != 1 || c.Check() != nil {
		return false, 0
	}
	url := fs.Arg(0)
	t, err := ipc.NewClient(socket).TokenFor(ctx, c.Request(url))
	var answered *ipc.Error
	switch {
	case errors.As(err, &answered):
		return true, fail(stderr, err, tokencmd.ExitCode(err))
	case err != nil:
		return false, 0
	}
	if err := c.Output(url, t, time.Now()).Write(stdout, stderr); err != nil {
		return true, fail(stderr, err, 1)
	}
	return true, 0
}

// fail prints err as the engine's main does and returns code.
func fail(stderr io.Writer, err error, code int) int {
	fmt.Fprintln(stderr, "mcpauthd:", sanitize.Error(err))
	return code
}
