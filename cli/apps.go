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
	register(command{"apps", "[--json] | revoke APP [URL] | sensitive URL [--off]", "programs that asked for tokens: decisions, last use, revoke", runApps})
}

// runApps lists every program that has a decision or used a token (per
// server, from the audit log), revokes decisions, and marks servers
// sensitive (every request asks).
func runApps(ctx context.Context, e *Env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "revoke":
			return runAppsRevoke(ctx, e, args[1:])
		case "sensitive":
			return runAppsSensitive(ctx, e, args[1:])
		}
	}
	fs := flags(e, "apps", "[--json] | revoke APP [URL] | sensitive URL [--off]")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	res, err := c.ApprovalApps(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(res)
	}
	fmt.Fprintf(e.Stdout, "Approval: %s", res.Mode)
	if res.Mode != "ask" {
		fmt.Fprint(e.Stdout, " (every program of yours gets tokens; approval = \"ask\" in the settings asks first)")
	}
	fmt.Fprintln(e.Stdout)
	for _, s := range res.Sensitive {
		fmt.Fprintf(e.Stdout, "Sensitive (asks every time): %s\n", sanitize.Terminal(s))
	}
	if len(res.Apps) == 0 {
		fmt.Fprintln(e.Stdout, "No program has asked for a token yet.")
		return nil
	}
	fmt.Fprintln(e.Stdout)
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tSERVER\tDECISION\tLAST USE\tCOUNT\tID")
	for _, a := range res.Apps {
		dec := a.Decision
		switch {
		case dec == "":
			dec = "-"
		case a.Account != "":
			dec += " (account " + sanitize.Terminal(a.Account) + ")"
		}
		last := "-"
		if !a.LastUsed.IsZero() {
			last = a.LastUsed.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", sanitize.Terminal(a.Name), sanitize.Terminal(a.Server), dec, last, a.Count, sanitize.Terminal(a.App))
	}
	return tw.Flush()
}

func runAppsRevoke(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "apps revoke", "APP [URL]")
	pos, err := parsePositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError(fs, fmt.Errorf("want APP and an optional URL, got %d arguments", len(pos)))
	}
	r := ipc.RevokeRequest{App: pos[0]}
	if len(pos) == 2 {
		r.URL = pos[1]
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	n, err := c.Revoke(ctx, &r)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "Revoked %d decision(s) of %s; its next request asks again.\n", n, sanitize.Terminal(pos[0]))
	return nil
}

func runAppsSensitive(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "apps sensitive", "URL [--off]")
	off := fs.Bool("off", false, "unmark the server")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	if err := c.SetSensitive(ctx, &ipc.SensitiveRequest{URL: pos[0], Sensitive: !*off}); err != nil {
		return err
	}
	if *off {
		fmt.Fprintf(e.Stdout, "%s is no longer sensitive: an app allowed always is not asked again.\n", pos[0])
		return nil
	}
	fmt.Fprintf(e.Stdout, "%s is sensitive: every token request for it asks first.\n", pos[0])
	if st, err := c.Status(ctx); err == nil && st.Setting("approval") != "ask" {
		fmt.Fprintln(e.Stderr, "warning: approval is off, so nothing asks yet; set approval = \"ask\" in the settings (then mcpauthd restart)")
	}
	return nil
}
