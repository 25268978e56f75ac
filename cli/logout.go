package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

func init() {
	register(command{"logout", "URL [--account NAME | --all] [--remove]", "revoke and forget a server's tokens", runLogout})
}

// runLogout signs out of a server — its default account, the account
// --account names, or with --all every account — and says what the
// authorization server did: revoked the tokens, cannot revoke them, or
// failed to. In every case mcpauthd's copy is gone; when the tokens were
// not revoked, a warning on stderr says until when a copy an app already
// has keeps working.
func runLogout(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "logout", "URL [--account NAME | --all] [--remove]")
	remove := fs.Bool("remove", false, "also forget the server (every account)")
	account := fs.String("account", "", "sign out of this account of the server only (default: its default account); the others stay signed in")
	all := fs.Bool("all", false, "sign out of every account of the server")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	if *all && *account != "" {
		return &ExitError{Code: 2, Err: fmt.Errorf("--all and --account exclude each other")}
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	res, err := c.Logout(ctx, &ipc.ServerRequest{URL: pos[0], Remove: *remove, Account: *account, All: *all})
	if err != nil {
		return err
	}
	what := "Signed out of " + pos[0]
	switch {
	case *remove:
		what += " and removed it"
	case *all:
		what += " (every account)"
	case *account != "":
		what += " (account " + sanitize.Terminal(*account) + ")"
	}
	until := "until it expires"
	if !res.TokenExpiry.IsZero() {
		until = "until " + res.TokenExpiry.Local().Format(time.DateTime)
	}
	switch res.Revocation {
	case ipc.RevocationRevoked:
		fmt.Fprintf(e.Stdout, "%s: the authorization server revoked the tokens.\n", what)
	case ipc.RevocationUnsupported:
		fmt.Fprintf(e.Stdout, "%s; mcpauthd no longer holds its tokens.\n", what)
		fmt.Fprintf(e.Stderr, "warning: the authorization server offers no way to revoke tokens: an access token an app already has keeps working %s.\n", until)
	case ipc.RevocationFailed:
		fmt.Fprintf(e.Stdout, "%s; mcpauthd no longer holds its tokens.\n", what)
		fmt.Fprintf(e.Stderr, "warning: revocation failed (%s): the tokens may keep working at the server %s.\n", sanitize.Text(res.RevocationError, sanitize.ErrorLen), until)
	default: // none, or an older daemon
		fmt.Fprintf(e.Stdout, "%s.\n", what)
	}
	return nil
}
