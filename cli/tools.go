package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

func init() {
	register(command{"tools", "URL [--app APP] [--allow PATTERN]… [--deny PATTERN]… [--clear]", "show or set the tools apps (or one app) may see and call", runTools})
}

// runTools is `mcpauthd tools URL`: without flags it shows the server's
// tool policy and its apps'; --allow and --deny add patterns to it (with
// --app, to that app's own policy, applied on top of the server's), --clear
// empties it first. The stdio proxies (running ones too, through the daemon's events)
// and the reverse proxy apply it: refused tools are hidden from tools/list and their calls refused
// (and recorded in the audit log).
func runTools(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "tools", "URL [--app APP] [--allow PATTERN]… [--deny PATTERN]… [--clear]")
	app := fs.String("app", "", "set the policy of one app, on top of the server's: the absolute `path` of its program (as mcpauthd apps shows it) or the name of an app key (mcpauthd app add)")
	var allow, deny headerList
	fs.Var(&allow, "allow", "let only tools matching `PATTERN` through ('*' is a wildcard, case is ignored; repeatable)")
	fs.Var(&deny, "deny", "hide and refuse tools matching `PATTERN` (wins over --allow; repeatable)")
	clearAll := fs.Bool("clear", false, "drop the server's current patterns first (alone: allow every tool)")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	url := pos[0]
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	list, err := c.Servers(ctx)
	if err != nil {
		return err
	}
	var cur *ipc.ServerInfo
	for i := range list {
		if list[i].URL == url {
			cur = &list[i]
		}
	}
	if cur == nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("mcpauthd does not know %s; add it first: mcpauthd login %s", url, url)}
	}
	p := cur.ToolPolicy
	if *app != "" {
		p = appToolPolicy(cur, *app)
	}
	if len(allow) > 0 || len(deny) > 0 || *clearAll {
		if *clearAll {
			p = toolpolicy.Policy{}
		}
		p.Allow = append(p.Allow, allow...)
		p.Deny = append(p.Deny, deny...)
		if err := p.Check(); err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		if cur, err = c.SetToolPolicy(ctx, &ipc.ToolPolicyRequest{URL: url, Policy: p, App: *app}); err != nil {
			return err
		}
	}
	p = cur.ToolPolicy
	fmt.Fprintf(e.Stdout, "%s: %s\n", url, p.String())
	for _, ap := range cur.AppToolPolicies {
		fmt.Fprintf(e.Stdout, "  and for %s: %s\n", sanitize.Terminal(ap.Name), ap.Policy.String())
	}
	// The daemon's deny_tools setting is refused on every server too.
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	denied, err := toolpolicy.ParseList(st.Setting("deny_tools"))
	if err != nil {
		return fmt.Errorf("the daemon's deny_tools setting: %w", err)
	}
	if len(denied) > 0 {
		fmt.Fprintf(e.Stdout, "  and on every server (the deny_tools setting): deny %s\n", strings.Join(denied, ", "))
	}
	if len(cur.Tools) > 0 {
		var shown, hidden []string
		inForce := p.With(denied...)
		if *app != "" {
			ap := appToolPolicy(cur, *app)
			inForce.App = &ap
		}
		for _, t := range cur.Tools {
			if inForce.Allows(t) {
				shown = append(shown, t)
			} else {
				hidden = append(hidden, t)
			}
		}
		forApp := ""
		if *app != "" {
			forApp = " for " + sanitize.Terminal(*app)
		}
		fmt.Fprintf(e.Stdout, "  allowed%s: %d of the %d tools last seen; refused: %v\n", forApp, len(shown), len(cur.Tools), hidden)
	}
	return nil
}

// appToolPolicy is the policy of app (as the user names it, ipc.AppIdentity)
// among in's apps' (none when it has none).
func appToolPolicy(in *ipc.ServerInfo, app string) toolpolicy.Policy {
	id := ipc.AppIdentity(app)
	for _, ap := range in.AppToolPolicies {
		if ap.App == id {
			return ap.Policy
		}
	}
	return toolpolicy.Policy{}
}
