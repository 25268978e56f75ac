package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

func init() {
	register(command{"logout", "URL [--remove]", "revoke and forget a server's tokens", runLogout})
}

// runLogout signs out of a server and says what the authorization server
// did: revoked the tokens, cannot revoke them, or failed to. In every case
// mcpauthd's copy is gone; when the tokens were not revoked, a warning on
// stderr says until when a copy an app already has keeps working.
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
	res, err := c.Logout(ctx, pos[0], *remove)
	if err != nil {
		return err
	}
	what := "Signed out of " + pos[0]
	if *remove {
		what += " and removed it"
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
