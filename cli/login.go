package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

func init() {
	register(command{"login", "URL   sign in to an MCP server", runLogin})
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, strings.Fields(v)...); return nil }

func runLogin(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "login", "URL [--scope S]… [--client-id ID --client-secret-file F] [--no-browser]")
	var scopes multi
	fs.Var(&scopes, "scope", "scope to request in addition to what the server asks for (repeatable)")
	clientID := fs.String("client-id", "", "pre-registered OAuth client id")
	secretFile := fs.String("client-secret-file", "", "file holding the pre-registered client secret (never pass secrets as arguments)")
	noBrowser := fs.Bool("no-browser", false, "print the sign-in URL instead of opening a browser, and accept the pasted redirect URL")
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	req := &ipc.LoginRequest{URL: pos[0], Scopes: scopes, ClientID: *clientID, NoBrowser: *noBrowser}
	if *secretFile != "" {
		if *clientID == "" {
			return &ExitError{Code: 2, Err: fmt.Errorf("--client-secret-file needs --client-id")}
		}
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return err
		}
		req.ClientSecret = strings.TrimSpace(string(b))
	}
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	res, err := c.Login(ctx, req)
	if err != nil {
		return err
	}
	if res.UserCode != "" {
		fmt.Fprintf(e.Stderr, "To sign in to %s, open this URL on any device:\n\n  %s\n\nand enter the code:  %s\n\nWaiting…\n", pos[0], res.AuthURL, res.UserCode)
	} else if res.AuthURL != "" {
		if *noBrowser {
			fmt.Fprintf(e.Stderr, "Open this URL in a browser to sign in:\n\n  %s\n\nThen wait here, or paste the URL the browser ends up on (if it cannot reach this machine) and press Enter.\n", res.AuthURL)
			go pasteRedirect(ctx, e, c)
		} else {
			fmt.Fprintf(e.Stderr, "Opening your browser to sign in to %s…\nIf it does not open, visit:\n  %s\n", pos[0], res.AuthURL)
		}
	}
	done, err := c.WaitLogin(ctx, res.ID)
	if ctx.Err() != nil {
		// Interrupted: stop the sign-in too, not just this command.
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.CancelLogin(cctx, res.ID)
		return fmt.Errorf("sign-in cancelled")
	}
	if err != nil {
		return err
	}
	printServer(e, done.Server)
	return nil
}

// pasteRedirect completes the sign-in with a redirect URL typed on stdin.
func pasteRedirect(ctx context.Context, e *Env, c *ipc.Client) {
	if e.Stdin == nil {
		return
	}
	sc := bufio.NewScanner(e.Stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if _, err := c.Complete(ctx, line); err != nil {
			fmt.Fprintln(e.Stderr, "mcpauthd:", err)
			continue
		}
		return
	}
}

func printServer(e *Env, s *ipc.ServerInfo) {
	name := s.URL
	if s.Name != "" {
		name = s.Name + " (" + s.URL + ")"
	}
	switch s.Status {
	case ipc.StatePublic:
		fmt.Fprintf(e.Stdout, "%s needs no sign-in; it answers without a token.\n", name)
	case ipc.StateSignedIn:
		fmt.Fprintf(e.Stdout, "Signed in to %s\n", name)
		if len(s.ScopesGranted) > 0 {
			fmt.Fprintf(e.Stdout, "  scopes:  %s\n", strings.Join(s.ScopesGranted, " "))
		}
		if !s.TokenExpiry.IsZero() {
			fmt.Fprintf(e.Stdout, "  token:   expires in %s%s\n", time.Until(s.TokenExpiry).Round(time.Second), refreshNote(s))
		}
		if len(s.Tools) > 0 {
			fmt.Fprintf(e.Stdout, "  tools:   %s\n", strings.Join(s.Tools, ", "))
		}
	default:
		fmt.Fprintf(e.Stdout, "%s: %s %s\n", name, s.Status, s.StatusMessage)
	}
}

func refreshNote(s *ipc.ServerInfo) string {
	if s.HasRefreshToken {
		return " (refreshed automatically)"
	}
	return " (no refresh token: sign in again then)"
}
