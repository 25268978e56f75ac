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
	register(command{"list", "[--json]", "list servers and their state", runList})
}

func runList(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "list", "[--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	servers, err := c.Servers(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(servers)
	}
	if len(servers) == 0 {
		fmt.Fprintln(e.Stdout, "No servers yet. Sign in to one with: mcpauthd login URL")
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tNAME\tSTATE\tEXPIRES\tPROVIDER")
	for _, s := range servers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sanitize.Terminal(s.URL), sanitize.Terminal(s.Name), sanitize.Text(state(s), sanitize.ErrorLen), expires(s), sanitize.Terminal(s.Provider))
		if len(s.Accounts) < 2 {
			continue // one sign-in: the line above is all there is
		}
		// Several accounts: one line each under the server, the default
		// marked; the server's line shows the default's state.
		for _, a := range s.Accounts {
			name := "  account " + sanitize.Terminal(a.Name)
			if a.Default {
				name += " (default)"
			}
			v := *accountView(&s, a.Name)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, sanitize.Terminal(a.LoginHint), sanitize.Text(state(v), sanitize.ErrorLen), expires(v))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The company sign-ins, each with its servers (a daemon older than
	// revision 5 has none to tell).
	idps, err := c.IdPs(ctx)
	if err != nil || len(idps) == 0 {
		return nil
	}
	fmt.Fprintln(e.Stdout, "\nCompany sign-ins (mcpauthd logout --idp ISSUER signs out of one and its servers):")
	for _, p := range idps {
		who := ""
		if p.Account != "" {
			who = " as " + sanitize.Terminal(p.Account)
		}
		st := string(p.Status)
		if p.StatusMessage != "" && p.Status != ipc.StateSignedIn {
			st += ": " + p.StatusMessage
		}
		fmt.Fprintf(e.Stdout, "  %s (client %s)%s: %s\n", sanitize.Terminal(p.Issuer), sanitize.Terminal(p.ClientID), who, sanitize.Text(st, sanitize.ErrorLen))
		for _, u := range p.Servers {
			fmt.Fprintf(e.Stdout, "    %s\n", sanitize.Terminal(u))
		}
	}
	return nil
}

func state(s ipc.ServerInfo) string {
	if s.StatusMessage != "" && s.Status != ipc.StateSignedIn {
		return string(s.Status) + ": " + s.StatusMessage
	}
	return string(s.Status)
}

func expires(s ipc.ServerInfo) string {
	if s.TokenExpiry.IsZero() || s.Status == ipc.StateSignedOut {
		return "-"
	}
	d := time.Until(s.TokenExpiry).Round(time.Second)
	if d < 0 {
		return "expired"
	}
	return "in " + d.String()
}
