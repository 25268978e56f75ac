package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

func init() {
	register(command{"logout", "URL [--account NAME | --all] [--remove] | --idp ISSUER", "revoke and forget a server's tokens (or a company sign-in's, with all its servers)", runLogout})
}

// runLogout signs out of a server — its default account, the account
// --account names, or with --all every account — and says what the
// authorization server did: revoked the tokens, cannot revoke them, or
// failed to. In every case mcpauthd's copy is gone; when the tokens were
// not revoked, a warning on stderr says until when a copy an app already
// has keeps working.
func runLogout(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "logout", "URL [--account NAME | --all] [--remove]\n       mcpauthd logout --idp ISSUER [--idp-client-id ID]")
	remove := fs.Bool("remove", false, "also forget the server (every account)")
	account := fs.String("account", "", "sign out of this account of the server only (default: its default account); the others stay signed in")
	all := fs.Bool("all", false, "sign out of every account of the server")
	idp := fs.String("idp", "", "sign out of the company sign-in at this IdP issuer and of every server that uses it (revoked at the IdP where it can)")
	idpClient := fs.String("idp-client-id", "", "with --idp: which of several sign-ins at that IdP")
	n := 1
	if *idp != "" || containsFlag(args, "--idp") {
		n = 0
	}
	pos, err := parse(fs, args, n)
	if err != nil {
		return err
	}
	if *idp == "" && *idpClient != "" {
		return &ExitError{Code: 2, Err: fmt.Errorf("--idp-client-id needs --idp")}
	}
	if *all && *account != "" {
		return &ExitError{Code: 2, Err: fmt.Errorf("--all and --account exclude each other")}
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	if *idp != "" {
		if *remove || *all || *account != "" {
			return &ExitError{Code: 2, Err: fmt.Errorf("--remove, --all and --account are for one server, not --idp")}
		}
		return logoutIdP(ctx, e, c, *idp, *idpClient)
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

// containsFlag reports whether args hold the flag name (as --name or
// --name=value), before they are parsed.
func containsFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// logoutIdP signs out of a company sign-in and its servers, and says what
// the IdP did with its refresh token.
func logoutIdP(ctx context.Context, e *Env, c *ipc.Client, issuer, clientID string) error {
	res, err := c.LogoutIdP(ctx, &ipc.IdPLogoutRequest{Issuer: issuer, ClientID: clientID})
	if err != nil {
		return err
	}
	what := "Signed out of the company sign-in at " + sanitize.Terminal(issuer)
	switch res.Revocation {
	case ipc.RevocationRevoked:
		what += " (the IdP revoked it)"
	case ipc.RevocationUnsupported:
		what += " (the IdP offers no revocation: its session there lasts until it ends)"
	case ipc.RevocationFailed:
		fmt.Fprintf(e.Stderr, "warning: revocation at the IdP failed (%s)\n", sanitize.Text(res.RevocationError, sanitize.ErrorLen))
	}
	fmt.Fprintf(e.Stdout, "%s.\n", what)
	for _, u := range res.Servers {
		fmt.Fprintf(e.Stdout, "  signed out of %s\n", sanitize.Terminal(u))
	}
	return nil
}
