package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/grantfile"
	"github.com/mcpauthd/mcpauthd/internal/settings"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
	"github.com/spf13/pflag"
)

func init() {
	register(command{"login", "URL", "sign in to an MCP server", runLogin})
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(v string) error { *m = append(*m, strings.Fields(v)...); return nil }
func (m *multi) Type() string       { return "strings" }

// grantFlags are login's flags for non-interactive grants. Secrets are
// only ever named by file, and every file is read by grantfile.Read:
// regular files of at most 64 KiB holding what the flag says (a JWT, a PEM
// key, a secret), checked before anything is sent to the daemon.
type grantFlags struct {
	clientCredentials, jwtBearer, enterprise           *bool
	privateKeyFile, signingAlg, assertionFile          *string
	idpIssuer, idpClientID, idpSecretFile, idTokenFile *string
}

func addGrantFlags(fs *pflag.FlagSet) *grantFlags {
	return &grantFlags{
		clientCredentials: fs.Bool("client-credentials", false, "no browser: the client_credentials grant with --client-id and --client-secret-file or --private-key-file (CI machines)"),
		jwtBearer:         fs.Bool("jwt-bearer", false, "no browser: exchange the workload JWT in --assertion-file (re-read for every grant) for tokens"),
		enterprise:        fs.Bool("enterprise", false, "company SSO: sign in once at --idp-issuer in the browser (or use the ID token in --id-token-file), then get this server's tokens with it (no browser per server); the idp_* settings give the defaults"),
		privateKeyFile:    fs.String("private-key-file", "", "PEM private key file: authenticate the client with private_key_jwt"),
		signingAlg:        fs.String("signing-alg", "", "client assertion algorithm (ES256, RS256, …; default from the key)"),
		assertionFile:     fs.String("assertion-file", "", "file holding the workload JWT (a projected service-account token), read anew for every grant"),
		idpIssuer:         fs.String("idp-issuer", "", "the enterprise IdP's issuer URL"),
		idpClientID:       fs.String("idp-client-id", "", "mcpauthd's client id at the IdP"),
		idpSecretFile:     fs.String("idp-client-secret-file", "", "file holding the client secret at the IdP (optional)"),
		idTokenFile:       fs.String("id-token-file", "", "file holding your ID token from the IdP (instead of the browser sign-in there)"),
	}
}

// config builds the ipc.GrantConfig the flags describe (nil: a browser
// sign-in), reading the secret files; usage errors exit with status 2.
// set gives --enterprise its defaults (the idp_* settings; nil: none).
func (g *grantFlags) config(clientID, secretFile string, set *settings.Settings) (*ipc.GrantConfig, error) {
	usage := func(format string, a ...any) error { return &ExitError{Code: 2, Err: fmt.Errorf(format, a...)} }
	var typ string
	for _, f := range []struct {
		on  bool
		typ string
	}{{*g.clientCredentials, ipc.GrantClientCredentials}, {*g.jwtBearer, ipc.GrantJWTBearer}, {*g.enterprise, ipc.GrantEnterprise}} {
		if f.on && typ != "" {
			return nil, usage("choose one of --client-credentials, --jwt-bearer and --enterprise")
		}
		if f.on {
			typ = f.typ
		}
	}
	if typ == "" {
		for name, v := range map[string]string{"--private-key-file": *g.privateKeyFile, "--signing-alg": *g.signingAlg, "--assertion-file": *g.assertionFile,
			"--idp-issuer": *g.idpIssuer, "--idp-client-id": *g.idpClientID, "--idp-client-secret-file": *g.idpSecretFile, "--id-token-file": *g.idTokenFile} {
			if v != "" {
				return nil, usage("%s needs --client-credentials, --jwt-bearer or --enterprise", name)
			}
		}
		return nil, nil
	}
	if typ == ipc.GrantEnterprise && set != nil {
		for _, d := range []struct {
			dst *string
			v   string
		}{{g.idpIssuer, set.IdPIssuer()}, {g.idpClientID, set.IdPClientID()}, {g.idpSecretFile, set.IdPClientSecretFile()}} {
			if *d.dst == "" {
				*d.dst = d.v
			}
		}
	}
	if typ == ipc.GrantEnterprise && (*g.idpIssuer == "" || *g.idpClientID == "") {
		return nil, usage("--enterprise needs --idp-issuer and --idp-client-id (or the idp_issuer and idp_client_id settings)")
	}
	if clientID == "" && typ == ipc.GrantEnterprise && *g.idTokenFile == "" {
		clientID = *g.idpClientID // the company sign-in: the IdP's client id names mcpauthd at the server too, unless given
	}
	if clientID == "" {
		return nil, usage("--%s needs --client-id", strings.ReplaceAll(typ, "_", "-"))
	}
	c := &ipc.GrantConfig{Type: typ, ClientID: clientID, SigningAlg: *g.signingAlg, IdPIssuer: *g.idpIssuer, IdPClientID: *g.idpClientID}
	if secretFile != "" && *g.privateKeyFile != "" {
		return nil, usage("use --client-secret-file or --private-key-file, not both")
	}
	var err error
	for _, f := range []struct {
		path string
		dst  *string
		kind grantfile.Kind
	}{{secretFile, &c.ClientSecret, grantfile.Secret}, {*g.privateKeyFile, &c.PrivateKey, grantfile.PrivateKey},
		{*g.idpSecretFile, &c.IdPClientSecret, grantfile.Secret}, {*g.idTokenFile, &c.IDToken, grantfile.JWT}} {
		if f.path != "" {
			if *f.dst, err = grantfile.Read(f.path, f.kind); err != nil {
				return nil, err
			}
		}
	}
	switch typ {
	case ipc.GrantClientCredentials:
		if c.ClientSecret == "" && c.PrivateKey == "" {
			return nil, usage("--client-credentials needs --client-secret-file or --private-key-file")
		}
	case ipc.GrantJWTBearer:
		if *g.assertionFile == "" {
			return nil, usage("--jwt-bearer needs --assertion-file")
		}
		// The daemon reads it (anew for every grant, with the same rules),
		// from its own directory; reading it here first reports a wrong
		// file on the user's terminal.
		if c.AssertionFile, err = filepath.Abs(*g.assertionFile); err != nil {
			return nil, err
		}
		if _, err := grantfile.Read(c.AssertionFile, grantfile.JWT); err != nil {
			return nil, err
		}
	case ipc.GrantEnterprise:
		c.IdPSession = c.IDToken == "" // no token file: sign in at the IdP in the browser
	}
	return c, c.Validate()
}

// providerFlags are login's per-server sign-in settings (kept with the
// server): the names mcp-remote uses where it has one.
type providerFlags struct {
	provider, resource, authMethod *string
	params                         params
	noResource, useIDToken         *bool
}

// params is a repeatable key=value flag.
type params map[string]string

func (p params) String() string {
	if len(p) == 0 {
		return "" // no "(default …)" in the help
	}
	return strconv.Itoa(len(p)) + " parameter(s)"
}
func (p params) Type() string { return "key=value" }
func (p params) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	p[k] = val
	return nil
}

func addProviderFlags(fs *pflag.FlagSet) *providerFlags {
	p := &providerFlags{params: params{}}
	p.provider = fs.String("provider", "", "treat the authorization server as this provider of the quirks table (google, entra, auth0, slack, cognito, github, keycloak), none, or auto (recognise it from the issuer, and drop every setting kept for the server)")
	fs.Var(p.params, "authorize-param", "`key=value` added to the authorization request (repeatable; kept for this server)")
	p.resource = fs.String("resource-param", "", "how the resource indicator is sent: send, omit or audience (kept for this server)")
	p.noResource = fs.Bool("disable-resource-parameter", false, "the same as --resource-param omit (mcp-remote's name)")
	p.useIDToken = fs.Bool("use-id-token", false, "hand out the ID token instead of the access token (kept for this server; =false to turn off)")
	p.authMethod = fs.String("token-auth-method", "", "how the --client-id client authenticates at the token endpoint: client_secret_basic, client_secret_post or none")
	return p
}

// overrides are the settings the flags set, nil when none was given (the
// server keeps the ones it has).
func (p *providerFlags) overrides(fs *pflag.FlagSet) (*ipc.ProviderOverrides, error) {
	set := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { set[f.Name] = true })
	o := &ipc.ProviderOverrides{Provider: *p.provider, Resource: *p.resource, TokenAuthMethod: *p.authMethod}
	if o.Provider == "auto" {
		o.Provider = "" // and o replaces the kept settings even when it is otherwise empty
	}
	if len(p.params) > 0 {
		o.AuthorizeParams = p.params
	}
	if set["disable-resource-parameter"] && *p.noResource {
		if o.Resource != "" && o.Resource != "omit" {
			return nil, &ExitError{Code: 2, Err: fmt.Errorf("--disable-resource-parameter contradicts --resource-param %s", o.Resource)}
		}
		o.Resource = "omit"
	}
	if set["use-id-token"] {
		o.UseIDToken = p.useIDToken
	}
	if !set["provider"] && o.Resource == "" && o.TokenAuthMethod == "" && o.AuthorizeParams == nil && o.UseIDToken == nil {
		return nil, nil
	}
	return o, nil
}

func runLogin(ctx context.Context, e *Env, args []string) error {
	fs := flags(e, "login", "URL [--account NAME [--default] [--login-hint H]] [--scope S]… [--client-id ID --client-secret-file F] [--no-browser] [--provider P] [--authorize-param K=V]… [--resource-param send|omit|audience] [--use-id-token] [--token-auth-method M]\n"+
		"       mcpauthd login URL --client-credentials --client-id ID (--client-secret-file F | --private-key-file F [--signing-alg ALG])\n"+
		"       mcpauthd login URL --jwt-bearer --client-id ID --assertion-file F\n"+
		"       mcpauthd login URL --enterprise [--idp-issuer URL --idp-client-id ID] [--idp-client-secret-file F] [--client-id ID] [--id-token-file F]")
	var scopes multi
	fs.Var(&scopes, "scope", "scope to request in addition to what the server asks for (repeatable)")
	clientID := fs.String("client-id", "", "pre-registered OAuth client id")
	secretFile := fs.String("client-secret-file", "", "file holding the pre-registered client secret (never pass secrets as arguments)")
	noBrowser := fs.Bool("no-browser", false, "print the sign-in URL instead of opening a browser, and accept the pasted redirect URL")
	reregister := fs.Bool("reregister", false, "register mcpauthd's client at the authorization server anew (when it forgot or rejects the old one)")
	account := fs.String("account", "", "sign in to the server's account `NAME` (a label of yours: letters, digits, . _ - @ +), kept beside its other sign-ins; default: the server's own sign-in, \"default\"")
	makeDefault := fs.Bool("default", false, "make this account the server's default (the one requests get when they name none)")
	loginHint := fs.String("login-hint", "", "ask the authorization server for this identity (sent as login_hint, e.g. an e-mail address; kept for the account)")
	gf := addGrantFlags(fs)
	pf := addProviderFlags(fs)
	pos, err := parse(fs, args, 1)
	if err != nil {
		return err
	}
	req := &ipc.LoginRequest{URL: pos[0], Scopes: scopes, ClientID: *clientID, NoBrowser: *noBrowser, Reregister: *reregister,
		Account: *account, MakeDefault: *makeDefault, LoginHint: *loginHint}
	if *account != "" && *account != ipc.DefaultAccount {
		if err := ipc.CheckAccountName(*account); err != nil {
			return &ExitError{Code: 2, Err: err}
		}
	}
	if req.Provider, err = pf.overrides(fs); err != nil {
		return err
	}
	var set *settings.Settings
	if *gf.enterprise {
		if set, err = settings.Load(e.Paths.ConfigFile(), os.Getenv); err != nil { // the idp_* settings, as the daemon's
			return err
		}
	}
	if req.Grant, err = gf.config(*clientID, *secretFile, set); err != nil {
		return err
	}
	if req.Grant != nil {
		req.ClientID = "" // the grant carries the client
	} else if *secretFile != "" {
		if *clientID == "" {
			return &ExitError{Code: 2, Err: fmt.Errorf("--client-secret-file needs --client-id")}
		}
		if req.ClientSecret, err = grantfile.Read(*secretFile, grantfile.Secret); err != nil {
			return err
		}
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
		fmt.Fprintf(e.Stderr, "To sign in to %s, open this URL on any device:\n\n  %s\n\nand enter the code:  %s\n\nWaiting…\n", pos[0], sanitize.Text(res.AuthURL, 0), sanitize.Terminal(res.UserCode))
	} else if res.AuthURL != "" {
		if *noBrowser {
			fmt.Fprintf(e.Stderr, "Open this URL in a browser to sign in:\n\n  %s\n\nThen wait here, or paste the URL the browser ends up on (if it cannot reach this machine) and press Enter.\n", sanitize.Text(res.AuthURL, 0))
			go pasteRedirect(ctx, e, c)
		} else if res.BrowserError != "" {
			fmt.Fprintf(e.Stderr, "mcpauthd could not open your browser: %s\nOpen this link in a browser on this machine to sign in to %s:\n  %s\nWaiting…\n", res.BrowserError, pos[0], res.AuthURL)
		} else {
			fmt.Fprintf(e.Stderr, "Opening your browser to sign in to %s…\nIf it does not open, visit:\n  %s\n", pos[0], sanitize.Text(res.AuthURL, 0))
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
	if done.Server == nil {
		return fmt.Errorf("the daemon's answer to the sign-in to %s names no server; it is not a mcpauthd this command understands (see mcpauthd status)", pos[0])
	}
	printServer(e, accountView(done.Server, *account))
	return nil
}

// accountView is s with the state of its account name ("": the default
// account) at the top, where printServer and list read it.
func accountView(s *ipc.ServerInfo, name string) *ipc.ServerInfo {
	v := *s
	for _, a := range s.Accounts {
		if a.Name == name || (name == "" && a.Default) {
			v.Account, v.Status, v.StatusMessage, v.Issuer = a.Name, a.Status, a.StatusMessage, a.Issuer
			v.ScopesGranted, v.TokenExpiry, v.HasRefreshToken, v.SignedInAt, v.DPoP = a.ScopesGranted, a.TokenExpiry, a.HasRefreshToken, a.SignedInAt, a.DPoP
		}
	}
	return &v
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
			fmt.Fprintln(e.Stderr, "mcpauthd:", sanitize.Error(err))
			continue
		}
		return
	}
}

// printServer prints what the daemon says about s. Everything in it the
// server controls (name, status message, scopes, tool names) goes through
// sanitize.
func printServer(e *Env, s *ipc.ServerInfo) {
	name := sanitize.Terminal(s.URL)
	if s.Name != "" {
		name = sanitize.Terminal(s.Name) + " (" + name + ")"
	}
	if len(s.Accounts) > 1 || (s.Account != "" && s.Account != ipc.DefaultAccount) {
		name += " as account " + sanitize.Terminal(s.Account)
	}
	switch s.Status {
	case ipc.StatePublic:
		fmt.Fprintf(e.Stdout, "%s needs no sign-in; it answers without a token.\n", name)
	case ipc.StateSignedIn:
		fmt.Fprintf(e.Stdout, "Signed in to %s\n", name)
		if len(s.ScopesGranted) > 0 {
			fmt.Fprintf(e.Stdout, "  scopes:  %s\n", sanitize.Terminal(strings.Join(s.ScopesGranted, " ")))
		}
		if !s.TokenExpiry.IsZero() {
			fmt.Fprintf(e.Stdout, "  token:   expires in %s%s\n", time.Until(s.TokenExpiry).Round(time.Second), refreshNote(s))
		}
		if s.IdP != "" {
			fmt.Fprintf(e.Stdout, "  grant:   %s (company sign-in at %s)\n", sanitize.Terminal(s.Grant), sanitize.Terminal(s.IdP))
		} else if s.Grant != "" {
			fmt.Fprintf(e.Stdout, "  grant:   %s (no browser)\n", sanitize.Terminal(s.Grant))
		}
		if s.Provider != "" {
			fmt.Fprintf(e.Stdout, "  provider: %s\n", sanitize.Text(s.Provider, sanitize.ErrorLen))
		}
		if s.DPoP {
			fmt.Fprintf(e.Stdout, "  DPoP:    tokens are bound to a key only mcpauthd holds; apps must go through mcpauthd proxy (or headers --method --url)\n")
		}
		if len(s.Tools) > 0 {
			fmt.Fprintf(e.Stdout, "  tools:   %s\n", toolsLine(s))
		}
	default:
		fmt.Fprintf(e.Stdout, "%s: %s %s\n", name, sanitize.Terminal(string(s.Status)), sanitize.Text(s.StatusMessage, sanitize.ErrorLen))
	}
}

// toolsLine is the summary of s's tools on one line: the names the daemon
// kept, as many as fit, and how many there are in all.
func toolsLine(s *ipc.ServerInfo) string {
	names := make([]string, len(s.Tools))
	for i, t := range s.Tools {
		names[i] = sanitize.Text(t, 64)
	}
	line := sanitize.Terminal(strings.Join(names, ", "))
	count := max(s.ToolCount, len(s.Tools))
	switch {
	case s.ToolsMore:
		line += fmt.Sprintf(" (%d shown of more than %d)", len(s.Tools), count)
	case count > len(s.Tools) || strings.HasSuffix(line, "…"):
		line += fmt.Sprintf(" (%d in all)", count)
	}
	return line
}

func refreshNote(s *ipc.ServerInfo) string {
	if s.HasRefreshToken {
		return " (refreshed automatically)"
	}
	if s.Grant != "" {
		return " (obtained again automatically)"
	}
	return " (no refresh token: sign in again then)"
}
