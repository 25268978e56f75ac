// Package cli implements mcpauthd's command line: one file per subcommand,
// each a func(ctx, *Env, args) error, so tests can run them in-process.
// Every subcommand but the daemon itself is a client of the daemon's socket,
// and starts the daemon first when none is running.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/paths"
	"github.com/mcpauthd/mcpauthd/internal/settings"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// Version is set at build time (-ldflags "-X …/cli.Version=…").
var Version = "dev"

// Env is what a subcommand may touch.
type Env struct {
	Paths  paths.Paths
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// NoAutostart: fail instead of starting a daemon (tests).
	NoAutostart bool
	// RunDaemon runs the daemon in this process (wired by main, which may
	// import the daemon; this package talks only to its socket).
	RunDaemon func(ctx context.Context, args []string) error
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *Env, args []string) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

// ExitError carries a specific exit status.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Run runs the subcommand named by args[0]; no arguments runs the daemon.
func Run(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" {
		return e.RunDaemon(ctx, args)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.Stdout)
		return nil
	}
	usage(e.Stderr)
	return &ExitError{Code: 2, Err: fmt.Errorf("unknown command %q", args[0])}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "mcpauthd signs you in to MCP servers once, for every app on this machine.")
	fmt.Fprintln(w, "\nUsage:\n  mcpauthd [--no-tray]        run the daemon (with its tray where there is a desktop)")
	for _, c := range commands {
		fmt.Fprintf(w, "  mcpauthd %-19s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'mcpauthd COMMAND -h' for a command's flags.")
}

// flags returns a FlagSet that writes its usage to e.Stderr.
func flags(e *Env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.Stderr, "Usage: mcpauthd %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parsePositional parses args, allowing flags after positional arguments
// (mcpauthd token URL --format raw), and returns the positional ones.
func parsePositional(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, &ExitError{Code: 2, Err: err}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parse parses args and wants exactly n positional arguments.
func parse(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	pos, err := parsePositional(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != n {
		fs.Usage()
		return nil, &ExitError{Code: 2, Err: fmt.Errorf("%s: want %d argument(s), got %d", fs.Name(), n, len(pos))}
	}
	return pos, nil
}

// client returns a client of the running daemon, starting one when none
// answers on the socket. A socket the client refuses (served by another
// user, a path the OS cannot bind) is an error, never a reason to start a
// daemon.
func (e *Env) client(ctx context.Context) (*ipc.Client, error) {
	c := ipc.NewClient(e.Paths.Socket)
	var refused *ipc.SocketError
	if _, err := c.Status(ctx); err == nil {
		return c, nil
	} else if errors.As(err, &refused) {
		return nil, refused
	} else if !ipc.IsNotRunning(err) {
		return nil, fmt.Errorf("the daemon at %s does not answer: %w", e.Paths.Socket, err)
	}
	if e.NoAutostart {
		return nil, fmt.Errorf("no mcpauthd is running at %s", e.Paths.Socket)
	}
	// The daemon reads the same file and inherits this environment: a bad
	// setting is reported here, at once, rather than in its log.
	if _, err := settings.Load(e.Paths.ConfigFile(), os.Getenv); err != nil {
		return nil, fmt.Errorf("%w; mcpauthd cannot start until this is fixed", err)
	}
	exited, from, err := e.startDaemon()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Status(ctx)
		if err == nil {
			return c, nil
		}
		if errors.As(err, &refused) {
			return nil, refused
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("started mcpauthd but it does not answer on %s; see %s", e.Paths.Socket, e.logFile())
		}
		select {
		case <-exited:
			// The daemon we started gave up. Unless it found another one
			// starting at the same time (which will answer), say why now
			// instead of after the deadline.
			exited = nil
			if why := e.startFailure(from); why != "" && !strings.Contains(why, "another mcpauthd is already") {
				return nil, fmt.Errorf("mcpauthd could not start: %s (log: %s)", why, e.logFile())
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startFailure is the error a daemon that exited at start-up printed: the
// last "mcpauthd: " line written to the log after offset from.
func (e *Env) startFailure(from int64) string {
	f, err := os.Open(e.logFile())
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, from, 64<<10))
	why := ""
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "mcpauthd: "); ok {
			why = rest
		}
	}
	return why
}

func (e *Env) logFile() string { return filepath.Join(e.Paths.State, "mcpauthd.log") }

// startDaemon starts `mcpauthd --no-tray` in the background, in its own
// session, logging to the state directory. exited is closed when that
// process ends; from is where its output starts in the log.
func (e *Env) startDaemon() (exited <-chan struct{}, from int64, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	if err := os.MkdirAll(e.Paths.State, 0o700); err != nil {
		return nil, 0, err
	}
	logf, err := os.OpenFile(e.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, err
	}
	defer logf.Close()
	if fi, err := logf.Stat(); err == nil {
		from = fi.Size()
	}
	cmd := exec.Command(exe, "--no-tray")
	cmd.Stdout, cmd.Stderr = logf, logf
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("starting the daemon: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return done, from, nil
}

// needsSignIn reports whether err says the user must sign in.
func needsSignIn(err error) bool {
	return errors.Is(err, ipc.ErrNeedsSignIn)
}
