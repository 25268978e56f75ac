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
	"github.com/spf13/pflag"
)

func main() {
	done, err := fast(context.Background(), os.Args[1:], paths.Default().Socket, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcpauthd:", err)
		os.Exit(1)
	}
	if done {
		return
	}
	engine, err := findEngine(ownExecutable(), lookPath)
	if err == nil {
		err = handOver(engine) // returns only on failure (Unix) or with the engine's status (Windows)
	}
	var code exitCode
	if errors.As(err, &code) {
		os.Exit(int(code))
	}
	fmt.Fprintln(os.Stderr, "mcpauthd:", err)
	os.Exit(1)
}

// fast runs `token` and `headers` (args without the program name) with the
// daemon at socket, and reports whether it did: false, with nothing
// written, for any command line or answer the engine must handle. err is
// only a failure to write the output, after the daemon answered.
func fast(ctx context.Context, args []string, socket string, stdout, stderr io.Writer) (done bool, err error) {
	if len(args) == 0 || args[0] != "token" && args[0] != "headers" {
		return false, nil
	}
	fs := pflag.NewFlagSet(args[0], pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c := tokencmd.Define(args[0], fs)
	help := fs.BoolP("help", "h", false, "")
	if fs.Parse(args[1:]) != nil || *help || fs.NArg() != 1 || c.Check() != nil {
		return false, nil
	}
	url := fs.Arg(0)
	t, err := ipc.NewClient(socket).TokenFor(ctx, c.Request(url))
	if err != nil {
		return false, nil
	}
	out := c.Output(url, t, time.Now())
	if out.Err != nil {
		return false, nil
	}
	return true, out.Write(stdout, stderr)
}
