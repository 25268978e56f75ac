// Package cli implements mcpauthd's command line: one file per subcommand,
// each a func(ctx, *Env, args) error, so tests can run them in-process.
// cobra dispatches, prints help, suggests and completes; each command
// parses its own flags with pflag (flags, parse), -h included.
// Every subcommand but the daemon itself is a client of the daemon's socket,
// and starts the daemon first when none is running.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/paths"
	"github.com/mcpauthd/mcpauthd/internal/settings"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

	// describe, when set, receives a command's flag set instead of the
	// command running (see describe).
	describe func(*pflag.FlagSet)
}

// command is one subcommand: its file registers it from init, and run
// parses its own flags with flags and parse, so that each file keeps its
// flags next to the code that reads them.
type command struct {
	name    string
	args    string // the arguments after the name, for the one-line usage
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

// errHelpShown is what parse returns after printing a command's help for
// -h or --help: Run turns it into success.
var errHelpShown = errors.New("help shown")

// RunsDaemon reports whether Run runs the daemon for args (the command
// line without the program name): no arguments, or flags only (mcpauthd
// --no-tray).
func RunsDaemon(args []string) bool {
	return len(args) == 0 || strings.HasPrefix(args[0], "-") && !slices.Contains(rootFlags, args[0])
}

// Run runs the subcommand named by args[0], or the daemon (RunsDaemon). An
// unknown command is a usage error (ExitError 2) naming the closest
// commands.
func Run(ctx context.Context, e *Env, args []string) error {
	if RunsDaemon(args) {
		return e.RunDaemon(ctx, args)
	}
	var ran bool // a registered command ran: its errors are its own
	root := newRoot(ctx, e, &ran)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	if !strings.HasPrefix(args[0], "-") && !strings.HasPrefix(args[0], "__complete") {
		if c, _, err := root.Find(args[:1]); err != nil || c == root {
			return unknownCommand(root, args[0])
		}
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var ee *ExitError
	switch {
	case errors.Is(err, errHelpShown):
		return nil
	case err != nil && !errors.As(err, &ee) && !ran:
		// cobra's own (mcpauthd version extra): a usage error.
		return &ExitError{Code: 2, Err: fmt.Errorf("%w (run 'mcpauthd --help')", err)}
	}
	return err
}

// rootFlags are the arguments cobra handles on the root command; any other
// leading flag belongs to the daemon.
var rootFlags = []string{"-h", "--help", "-v", "--version"}

func unknownCommand(root *cobra.Command, name string) error {
	hint := "run 'mcpauthd --help' for the commands"
	if s := root.SuggestionsFor(name); len(s) > 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("unknown command %q. Did you mean %q? (%s)", name, strings.Join(s, `" or "`), hint)}
	}
	return &ExitError{Code: 2, Err: fmt.Errorf("unknown command %q (%s)", name, hint)}
}

// newRoot builds the command tree; *ran is set when a registered command
// runs. Every mcpauthd token call pays for it, so it only fills in structs:
// a command's flags are defined when it runs (or is described).
func newRoot(ctx context.Context, e *Env, ran *bool) *cobra.Command {
	root := &cobra.Command{
		Use:   "mcpauthd",
		Short: "mcpauthd signs you in to MCP servers once, for every app on this machine.",
		Long: "mcpauthd signs you in to MCP servers once, for every app on this machine.\n\n" +
			"mcpauthd alone (or mcpauthd --no-tray) runs the daemon, with its tray where there is a desktop;\n" +
			"the commands below talk to it, and start it when none is running.",
		Version:       Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Never reached (Run hands these to the daemon); it makes the
		// usage line show that mcpauthd alone is a command.
		RunE: func(*cobra.Command, []string) error { return e.RunDaemon(ctx, nil) },
	}
	root.SetIn(e.Stdin)
	root.SetOut(e.Stdout)
	root.SetErr(e.Stderr)
	root.SetVersionTemplate("mcpauthd {{.Version}}\n")
	root.Flags().Bool("no-tray", false, "run the daemon without its tray icon")
	for _, c := range commands {
		run := c.run
		cmd := &cobra.Command{
			Use:   strings.TrimSpace(c.name + " " + c.args),
			Short: c.summary,
			// The command's own file parses its flags (flags, parse).
			DisableFlagParsing: true,
			RunE: func(_ *cobra.Command, args []string) error {
				*ran = true
				return run(ctx, e, args)
			},
			ValidArgsFunction: func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if !strings.HasPrefix(toComplete, "-") {
					return nil, cobra.ShellCompDirectiveDefault
				}
				var out []cobra.Completion
				for _, f := range describe(ctx, e, run) {
					if strings.HasPrefix("--"+f.Name, toComplete) {
						out = append(out, cobra.CompletionWithDesc("--"+f.Name, f.Usage))
					}
				}
				return out, cobra.ShellCompDirectiveNoFileComp
			},
		}
		cmd.SetHelpFunc(func(*cobra.Command, []string) { _ = run(ctx, e, []string{"--help"}) })
		root.AddCommand(cmd)
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "print mcpauthd's version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintf(e.Stdout, "mcpauthd %s\n", Version) },
	})
	return root
}

// describe returns the flags run defines, without running it: run is
// called with --help and an Env that records its flag set and prints
// nothing.
func describe(ctx context.Context, e *Env, run func(context.Context, *Env, []string) error) []*pflag.Flag {
	var flags []*pflag.Flag
	d := *e
	d.Stdout, d.Stderr = io.Discard, io.Discard
	d.describe = func(fs *pflag.FlagSet) { fs.VisitAll(func(f *pflag.Flag) { flags = append(flags, f) }) }
	_ = run(ctx, &d, []string{"--help"})
	return flags
}

// flags returns the flag set of the command name (as typed: "token",
// "app add"); args is its usage after the name. Its Usage prints the
// command's help to stdout.
func flags(e *Env, name, args string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse reports errors, once
	fs.SortFlags = false
	if e.describe != nil {
		fs.Usage = func() { e.describe(fs) }
		return fs
	}
	fs.Usage = func() {
		fmt.Fprintf(e.Stdout, "Usage: mcpauthd %s %s\n", name, args)
		if s := summary(name); s != "" {
			fmt.Fprintf(e.Stdout, "\n%s\n", s)
		}
		fmt.Fprintf(e.Stdout, "\nFlags:\n%s", fs.FlagUsages())
	}
	return fs
}

// summary is the one-line description of the command name is part of.
func summary(name string) string {
	top, _, _ := strings.Cut(name, " ")
	for _, c := range commands {
		if c.name == top {
			return c.summary
		}
	}
	return ""
}

// usageError is a usage error of the command of fs: one line, pointing to
// its help.
func usageError(fs *pflag.FlagSet, err error) error {
	return &ExitError{Code: 2, Err: fmt.Errorf("%s: %w (see 'mcpauthd %s --help')", fs.Name(), err, fs.Name())}
}

// parsePositional parses args, allowing flags after positional arguments
// (mcpauthd token URL --format raw), and returns the positional ones. On -h
// or --help it prints the command's help to stdout and returns
// errHelpShown; a bad flag is one error line (ExitError 2).
func parsePositional(fs *pflag.FlagSet, args []string) ([]string, error) {
	if fs.Lookup("help") == nil {
		fs.BoolP("help", "h", false, "show this help")
	}
	err := fs.Parse(args)
	help, _ := fs.GetBool("help")
	if errors.Is(err, pflag.ErrHelp) || err == nil && help {
		fs.Usage()
		return nil, errHelpShown
	}
	if err != nil {
		return nil, usageError(fs, err)
	}
	return fs.Args(), nil
}

// parse parses args and wants exactly n positional arguments.
func parse(fs *pflag.FlagSet, args []string, n int) ([]string, error) {
	pos, err := parsePositional(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != n {
		return nil, usageError(fs, fmt.Errorf("want %d argument(s), got %d", n, len(pos)))
	}
	return pos, nil
}

// do runs f, which makes requests of the daemon, with a client of its
// socket without first asking whether a daemon answers there: a command
// made of one request (token, headers, exec: what a headersHelper runs
// before every request) pays one round trip, not two. When no daemon
// answers, f runs again with the client of a daemon client started, so f
// must be safe to repeat. Errors are client's (a refused socket, a daemon
// that does not answer) or f's.
func (e *Env) do(ctx context.Context, f func(c *ipc.Client) error) error {
	err := f(ipc.NewClient(e.Paths.Socket))
	var refused *ipc.SocketError
	var answered *ipc.Error
	switch {
	case err == nil || errors.As(err, &answered):
		return err
	case errors.As(err, &refused):
		return refused
	case !ipc.IsNotRunning(err):
		return fmt.Errorf("the daemon at %s does not answer: %w", e.Paths.Socket, err)
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	return f(c)
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

// printJSON writes v to standard output as indented JSON: the --json form
// of every command.
func (e *Env) printJSON(v any) error {
	enc := json.NewEncoder(e.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
