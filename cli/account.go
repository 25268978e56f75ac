package cli

import (
	"context"
	"fmt"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

func init() {
	register(command{"account", "default URL NAME", "choose the account of a server that requests get when they name none", runAccount})
}

// runAccount is `mcpauthd account default URL NAME`: NAME ("default": the
// server's own sign-in) becomes the server's default account. Signing in
// to accounts is `login URL --account NAME`, signing out `logout URL
// --account NAME`, and `list` shows them.
func runAccount(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "account", "default URL NAME")
	pos, err := parse(fs, args, 3)
	if err != nil {
		return err
	}
	if pos[0] != "default" {
		return &ExitError{Code: 2, Err: fmt.Errorf("account %q: want: mcpauthd account default URL NAME", pos[0])}
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	s, err := c.SetDefaultAccount(ctx, &ipc.ServerRequest{URL: pos[1], Account: pos[2]})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "Requests to %s that name no account now get account %s.\n", sanitize.Terminal(s.URL), sanitize.Terminal(s.Account))
	return nil
}
