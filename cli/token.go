package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpauthd/mcpauthd/cli/tokencmd"
	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"token", "URL [--account NAME] [--format raw|header|json] [--min-valid D]", "print an access token (json says token_type Bearer or DPoP)", runToken})
}

// runToken prints URL's access token (tokencmd: the front, cmd/mcpauthd,
// does the same when the daemon answers).
func runToken(ctx context.Context, e *Env, args []string) error {
	return runTokenCommand(ctx, e, "token", "URL [--account NAME] [--format raw|header|json] [--min-valid DURATION]", args)
}

// runTokenCommand runs the tokencmd command name (token, headers), whose
// usage after the name is usage.
func runTokenCommand(ctx context.Context, e *Env, name, usage string, args []string) error {
	fs := flags(e, name, usage)
	c := tokencmd.Define(name, fs)
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if err := c.Check(); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	t, err := askToken(ctx, e, c.Request(pos[0]))
	if err != nil {
		return err
	}
	return c.Output(pos[0], t, time.Now()).Write(e.Stdout, e.Stderr)
}

// askToken asks the daemon for r's token; "sign in first" becomes exit
// status 3 with the command to run.
func askToken(ctx context.Context, e *Env, r *ipc.TokenRequest) (*ipc.TokenResponse, error) {
	var t *ipc.TokenResponse
	err := e.do(ctx, func(c *ipc.Client) (err error) {
		t, err = c.TokenFor(ctx, r)
		return err
	})
	if err != nil {
		if code := tokencmd.ExitCode(err); code != 1 {
			return nil, &ExitError{Code: code, Err: err}
		}
		return nil, err
	}
	return t, nil
}

// fetchToken is askToken for url's Bearer token of account ("": the
// daemon's choice, the default) that prints the daemon's warning, for the
// commands that hand the token on (exec, export).
func fetchToken(ctx context.Context, e *Env, url, account string, minValid time.Duration) (*ipc.TokenResponse, error) {
	t, err := askToken(ctx, e, &ipc.TokenRequest{URL: url, Account: account, MinValid: ipc.Duration(minValid)})
	if err != nil {
		return nil, err
	}
	if t.Warning != "" {
		fmt.Fprintln(e.Stderr, "mcpauthd: warning:", t.Warning)
	}
	return t, nil
}
