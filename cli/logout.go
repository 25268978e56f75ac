package cli

import (
	"context"
	"fmt"
)

func init() {
	register(command{"logout", "URL [--remove]   revoke and forget a server's tokens", runLogout})
}

func runLogout(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "logout", "URL [--remove]")
	remove := fs.Bool("remove", false, "also forget the server")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	if err := c.Logout(ctx, pos[0], *remove); err != nil {
		return err
	}
	if *remove {
		fmt.Fprintf(e.Stdout, "Signed out of %s and removed it.\n", pos[0])
	} else {
		fmt.Fprintf(e.Stdout, "Signed out of %s.\n", pos[0])
	}
	return nil
}
