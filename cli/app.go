package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"app", "add NAME --server URL [--account NAME] | list [--json] | remove NAME", "apps of the local reverse proxy (HTTP apps)", runApp})
}

// runApp manages the apps of the daemon's local reverse proxy. `app add`
// prints the app's key: the only time it is ever shown.
func runApp(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 {
		return &ExitError{Code: 2, Err: fmt.Errorf("app: want add, list or remove")}
	}
	switch args[0] {
	case "-h", "--help", "help":
		fs := flags(e, "app", "add NAME --server URL | list [--json] | remove NAME")
		_, err := parse(fs, []string{"--help"}, 0)
		return err
	case "add":
		return runAppAdd(ctx, e, args[1:])
	case "list":
		return runAppList(ctx, e, args[1:])
	case "remove", "rm":
		return runAppRemove(ctx, e, args[1:])
	}
	return &ExitError{Code: 2, Err: fmt.Errorf("app %q: want add, list or remove", args[0])}
}

func runAppAdd(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "app add", "NAME --server URL [--account NAME]")
	server := fs.String("server", "", "the MCP server `URL` the app reaches (required)")
	account := fs.String("account", "", "the server's account (sign-in) the app's requests get (default: the server's default account, whichever it is at each request)")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *server == "" {
		return &ExitError{Code: 2, Err: fmt.Errorf("app add: --server URL is required")}
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	a, err := c.AddApp(ctx, &ipc.AppRequest{Name: pos[0], Server: *server, Account: *account})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "App %s reaches %s through mcpauthd.\n", a.Name, a.Server)
	if a.URL == "" {
		fmt.Fprintln(e.Stderr, "warning: the daemon's reverse proxy is not listening (see its log; MCPAUTH_APPS_ADDR)")
		fmt.Fprintf(e.Stdout, "Key (shown only now): %s\n", a.Key)
		return nil
	}
	fmt.Fprintf(e.Stdout, "Its key is shown only now; treat these like a password.\n\n")
	fmt.Fprintf(e.Stdout, "  URL with the key:  %s\n", a.KeyURL)
	fmt.Fprintf(e.Stdout, "  or URL %s\n  with header %s: %s\n", a.URL, ipc.AppKeyHeader, a.Key)
	return nil
}

func runAppList(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "app list", "[--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	apps, err := c.Apps(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.Stdout).Encode(apps)
	}
	if len(apps) == 0 {
		fmt.Fprintln(e.Stdout, "No apps. Add one: mcpauthd app add NAME --server URL")
		return nil
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tSERVER\tURL (add /k/KEY or the "+ipc.AppKeyHeader+" header)")
	for _, a := range apps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, a.Server, a.URL)
	}
	return tw.Flush()
}

func runAppRemove(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "app remove", "NAME")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	if err := c.RemoveApp(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "Removed app %s; its key no longer works.\n", pos[0])
	return nil
}
