package cli

import (
	"context"
	"fmt"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"deny", "ID", "refuse a token request waiting for approval (and the app's later ones for that server)", runDeny})
}

// runDeny refuses pending request ID. The denial is kept for the (app,
// server) pair: its later requests are refused without asking until
// `mcpauthd apps revoke APP URL`.
func runDeny(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "deny", "ID")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	if err := c.Decide(ctx, &ipc.DecideRequest{ID: pos[0], Decision: ipc.DecisionDeny}); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "Denied request %s; the app's later requests for that server are refused until: mcpauthd apps revoke APP URL\n", pos[0])
	return nil
}
