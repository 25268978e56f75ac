package cli

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/internal/paths"
)

// testEnv is an Env with no daemon behind its socket (and none started),
// whose RunDaemon records its arguments.
func testEnv(t *testing.T) (e *Env, stdout, stderr *bytes.Buffer, daemon *[][]string) {
	t.Helper()
	stdout, stderr, daemon = new(bytes.Buffer), new(bytes.Buffer), new([][]string)
	e = &Env{
		Paths:  paths.Paths{Socket: filepath.Join(t.TempDir(), "none.sock"), State: t.TempDir()},
		Stdin:  strings.NewReader(""),
		Stdout: stdout, Stderr: stderr, NoAutostart: true,
		RunDaemon: func(_ context.Context, args []string) error {
			*daemon = append(*daemon, append([]string{}, args...))
			return nil
		},
	}
	return e, stdout, stderr, daemon
}

// helpArgs is every command line that names a command, for the help test:
// each registered command, app's own subcommands, and cobra's.
func helpArgs() [][]string {
	var out [][]string
	for _, c := range commands {
		out = append(out, []string{c.name})
	}
	return append(out, []string{"app", "add"}, []string{"app", "list"}, []string{"app", "remove"},
		[]string{"version"}, []string{"completion"}, []string{"completion", "bash"})
}

// TestHelpEveryCommand: -h, --help and `help CMD` exit 0 (Run returns nil)
// for every command, on stdout only, and list every flag the command parses.
func TestHelpEveryCommand(t *testing.T) {
	for _, cmd := range helpArgs() {
		var want []string // the flags the command parses
		for _, c := range commands {
			if c.name == cmd[0] {
				e, _, _, _ := testEnv(t)
				if cmd[0] == "app" && len(cmd) > 1 {
					c.run = func(ctx context.Context, e *Env, args []string) error {
						return runApp(ctx, e, append([]string{cmd[1]}, args...))
					}
				}
				for _, f := range describe(context.Background(), e, c.run) {
					want = append(want, "--"+f.Name)
				}
				if len(want) == 0 {
					t.Errorf("%v: describe found no flags (not even --help)", cmd)
				}
			}
		}
		for _, h := range []string{"-h", "--help", "help"} {
			args := append(slices.Clone(cmd), h)
			if h == "help" {
				if len(cmd) > 1 {
					continue // `help` is a command name, not a flag
				}
				args = []string{"help", cmd[0]}
			}
			e, stdout, stderr, daemon := testEnv(t)
			if err := Run(context.Background(), e, args); err != nil {
				t.Errorf("%v: %v, want success (exit 0)", args, err)
				continue
			}
			out := stdout.String()
			if !strings.Contains(out, "Usage:") || stderr.Len() != 0 || len(*daemon) != 0 {
				t.Errorf("%v: stdout %q, stderr %q, daemon runs %v; want the usage on stdout only", args, out, stderr, *daemon)
			}
			for _, f := range want {
				if !strings.Contains(out, f) {
					t.Errorf("%v: the help does not list %s:\n%s", args, f, out)
				}
			}
		}
	}
	// The flags login's one-line usage used to hide.
	e, stdout, _, _ := testEnv(t)
	if err := Run(context.Background(), e, []string{"login", "-h"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"--no-browser", "--reregister", "--client-credentials", "--provider", "--use-id-token"} {
		if !strings.Contains(stdout.String(), f) {
			t.Errorf("login -h does not list %s", f)
		}
	}
}

// TestRootHelp: mcpauthd -h lists every command, aligned by cobra.
func TestRootHelp(t *testing.T) {
	for _, h := range []string{"-h", "--help", "help"} {
		e, stdout, _, daemon := testEnv(t)
		if err := Run(context.Background(), e, []string{h}); err != nil || len(*daemon) != 0 {
			t.Fatalf("mcpauthd %s: %v (daemon runs %v)", h, err, *daemon)
		}
		for _, c := range append(slices.Collect(func(yield func(string) bool) {
			for _, c := range commands {
				if !yield(c.name) {
					return
				}
			}
		}), "version", "completion", "--no-tray") {
			if !strings.Contains(stdout.String(), "  "+c) {
				t.Errorf("mcpauthd %s does not list %s:\n%s", h, c, stdout)
			}
		}
	}
}

// TestVersion: `mcpauthd version`, --version and -v print cli.Version.
func TestVersion(t *testing.T) {
	old := Version
	Version = "1.2.3-test"
	defer func() { Version = old }()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		e, stdout, stderr, daemon := testEnv(t)
		if err := Run(context.Background(), e, args); err != nil {
			t.Errorf("%v: %v", args, err)
		}
		if stdout.String() != "mcpauthd 1.2.3-test\n" || stderr.Len() != 0 || len(*daemon) != 0 {
			t.Errorf("%v: stdout %q stderr %q daemon %v, want \"mcpauthd 1.2.3-test\\n\"", args, stdout, stderr, *daemon)
		}
	}
}

// TestDaemonArgs: mcpauthd alone and mcpauthd --no-tray (any leading flag
// cobra does not own) run the daemon with the arguments as given.
func TestDaemonArgs(t *testing.T) {
	for _, args := range [][]string{{}, {"--no-tray"}, {"--no-tray", "--whatever"}} {
		e, stdout, _, daemon := testEnv(t)
		if err := Run(context.Background(), e, args); err != nil {
			t.Fatal(err)
		}
		if len(*daemon) != 1 || !slices.Equal((*daemon)[0], args) || stdout.Len() != 0 {
			t.Errorf("%v: daemon runs %v, stdout %q; want one run with the same arguments", args, *daemon, stdout)
		}
	}
}

// TestUsageErrors: an unknown command, flag or argument count is one error
// line (printed by main), exit status 2, and nothing else on stdout or
// stderr; a typo names the command meant.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"logn"}, []string{`unknown command "logn"`, `Did you mean "login"?`, "mcpauthd --help"}},
		{[]string{"tokne", "https://x"}, []string{`Did you mean "token"?`}},
		{[]string{"zzzzzz"}, []string{`unknown command "zzzzzz"`, "mcpauthd --help"}},
		{[]string{"token", "https://x", "--bogus"}, []string{"unknown flag: --bogus", "mcpauthd token --help"}},
		// A flag after the positional argument is parsed as a flag.
		{[]string{"token", "https://x", "--min-valid", "soon"}, []string{`"soon"`, "--min-valid"}},
		{[]string{"list", "--json=maybe"}, []string{"--json"}},
		{[]string{"token"}, []string{"want 1 argument(s), got 0", "mcpauthd token --help"}},
		{[]string{"app", "add", "n", "--server"}, []string{"--server", "mcpauthd app add --help"}},
		{[]string{"exec", "https://x", "--nope", "--", "true"}, []string{"unknown flag: --nope"}},
		{[]string{"exec", "https://x"}, []string{"want URL -- CMD"}},
		{[]string{"version", "extra"}, []string{"extra"}},
	} {
		e, stdout, stderr, daemon := testEnv(t)
		err := Run(context.Background(), e, tc.args)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != 2 {
			t.Errorf("%v: %v, want a usage error (exit 2)", tc.args, err)
			continue
		}
		msg := err.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v: error %q does not say %q", tc.args, msg, w)
			}
		}
		if strings.Contains(msg, "\n") || stdout.Len() != 0 || stderr.Len() != 0 || len(*daemon) != 0 {
			t.Errorf("%v: error %q, stdout %q, stderr %q, daemon %v; want one error line and nothing printed", tc.args, msg, stdout, stderr, *daemon)
		}
	}
}

// TestCompletion: cobra's scripts for each shell, and the completions they
// ask mcpauthd for: every command name, and a command's flags.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		e, stdout, _, _ := testEnv(t)
		if err := Run(context.Background(), e, []string{"completion", sh}); err != nil {
			t.Fatalf("completion %s: %v", sh, err)
		}
		if !strings.Contains(stdout.String(), "mcpauthd") || !strings.Contains(stdout.String(), "__complete") {
			t.Errorf("completion %s: no call back to mcpauthd __complete:\n%.400s", sh, stdout)
		}
	}
	e, stdout, _, _ := testEnv(t)
	if err := Run(context.Background(), e, []string{"__complete", ""}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		name, _, _ := strings.Cut(line, "\t")
		names = append(names, name)
	}
	for _, c := range commands {
		if !slices.Contains(names, c.name) {
			t.Errorf("completing a command does not offer %s: %v", c.name, names)
		}
	}
	e, stdout, _, _ = testEnv(t)
	if err := Run(context.Background(), e, []string{"__complete", "token", "https://x", "--m"}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "--min-valid\t") || strings.Contains(stdout.String(), "--format") {
		t.Errorf("completing token --m: %q, want --min-valid only", stdout)
	}
}
