package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

func init() {
	register(command{"approve", "[ID [--always] [--account NAME]]", "allow a token request waiting for approval; alone, list the waiting ones", runApprove})
}

// runApprove allows pending request ID once (the app while it runs; see
// ipc.DecisionOnce), or, with --always, for good: the app's later requests
// for that server are not asked about. Without ID it lists the pending
// requests.
func runApprove(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "approve", "[ID [--always] [--account NAME]]")
	always := fs.Bool("always", false, "allow the app this server from now on, not just this request")
	account := fs.String("account", "", "with --always: the `NAME` of the account the app gets for the server (default: the default account)")
	pos, err := parsePositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError(fs, fmt.Errorf("want at most one ID, got %d arguments", len(pos)))
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		if *always || *account != "" {
			return usageError(fs, fmt.Errorf("--always and --account need the ID of a pending request"))
		}
		return listPending(ctx, e, c)
	}
	d := ipc.DecideRequest{ID: pos[0], Decision: ipc.DecisionOnce, Account: *account}
	if *always {
		d.Decision = ipc.DecisionAlways
	}
	if err := c.Decide(ctx, &d); err != nil {
		return err
	}
	if *always {
		fmt.Fprintf(e.Stdout, "Allowed request %s, and the app's later requests for that server.\n", pos[0])
	} else {
		fmt.Fprintf(e.Stdout, "Allowed request %s once (the app, while it runs).\n", pos[0])
	}
	return nil
}

// listPending prints the requests waiting for approval.
func listPending(ctx context.Context, e *Env, c *ipc.Client) error {
	list, err := c.Approvals(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(e.Stdout, "No request is waiting for approval.")
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAPP\tSERVER\tWAITING\tPROGRAM")
	for _, p := range list {
		name := sanitize.Terminal(p.Name)
		if p.Sensitive {
			name += " (sensitive server: once only)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, name, sanitize.Terminal(p.Server), time.Since(p.Since).Round(time.Second), sanitize.Terminal(p.Exe))
	}
	tw.Flush()
	fmt.Fprintln(e.Stdout, "\nmcpauthd approve ID [--always]  or  mcpauthd deny ID")
	return nil
}
