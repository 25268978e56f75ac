package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/cli/tokencmd"
	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"exec", "URL [--account NAME] [--env NAME] -- CMD ARGS…", "run CMD with the access token in $MCP_ACCESS_TOKEN", runExec})
}

// runExec runs a command with URL's access token in its environment
// (never in its arguments, where other users could read it) and exits with
// the command's status. Stdin, stdout and stderr are the command's own.
func runExec(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "exec", "URL [--env NAME] [--min-valid D] -- CMD ARGS…")
	envName := fs.String("env", "MCP_ACCESS_TOKEN", "the environment variable that carries the token")
	minValid := fs.Duration("min-valid", 0, "refresh first unless the token stays valid this long (default 30s)")
	account := tokencmd.AccountFlag(fs)
	dash := slices.Index(args, "--")
	if dash < 0 || dash == len(args)-1 {
		if _, err := parsePositional(fs, args); err != nil {
			return err // --help, or a bad flag
		}
		return &ExitError{Code: 2, Err: errors.New("exec: want URL -- CMD ARGS…")}
	}
	pos, err := parse(fs, args[:dash], 1)
	if err != nil {
		return err
	}
	if *envName == "" || strings.ContainsAny(*envName, "=\x00") {
		return &ExitError{Code: 2, Err: fmt.Errorf("exec: --env %q is not a variable name", *envName)}
	}
	tok, err := fetchToken(ctx, e, pos[0], *account, *minValid)
	if err != nil {
		return err
	}
	if tok.TokenType == ipc.TokenTypeDPoP {
		return tokencmd.DPoPBound(pos[0], "a token in the environment")
	}
	argv := args[dash+1:]
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, *envName+"=")
	}), *envName+"="+tok.AccessToken)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.Stdin, e.Stdout, e.Stderr
	// mcpauthd stopped by a signal asks the command to stop too, then waits a while.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code := ee.ExitCode()
		if code < 0 {
			code = 128 + 15 // killed by a signal
		}
		return &ExitError{Code: code, Err: fmt.Errorf("exec: %s: %s", argv[0], ee.ProcessState)}
	}
	if err != nil {
		return &ExitError{Code: 127, Err: fmt.Errorf("exec: %w", err)}
	}
	return nil
}
