package daemon

import (
	"context"
	"net/url"
	"strings"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// Import takes over a sign-in made by another program (mcp-remote): r's
// client registration and tokens for r.URL. It discovers the server's
// authorization server as a sign-in would, refuses a registration recorded
// for another issuer, keeps the registration for that issuer (unless
// mcpauthd already has its own client there, whose tokens these are not:
// then the import is refused and the user signs in), and commits the
// server and its tokens in one transaction before anyone can be handed the
// token. A server already signed in is left alone unless r.Replace.
// The import is recorded in the audit log with caller.
//
// The registration keeps the other program's redirect URIs: it serves
// refreshes; a later interactive sign-in registers mcpauthd anew (see
// registrations.LoadRegistration).
func (d *Daemon) Import(ctx context.Context, r *ipc.ImportRequest, caller ipc.Peer) (*ipc.ServerInfo, error) {
	if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "import: not an http(s) URL"}
	}
	if r.Client.ClientID == "" || (r.Tokens.AccessToken == "" && r.Tokens.RefreshToken == "") {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "import: a client id and an access or refresh token are needed"}
	}
	if strings.EqualFold(r.Tokens.TokenType, oauth.DPoPScheme) {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "import: DPoP-bound tokens cannot be imported (their key stays with the other program); sign in with mcpauthd login " + r.URL}
	}
	method := r.Client.AuthMethod
	switch {
	case r.Client.ClientSecret == "":
		method = oauth.AuthNone
	case method == "" || method == oauth.AuthNone:
		method = oauth.AuthBasic
	case method != oauth.AuthBasic && method != oauth.AuthPost:
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "import: client authentication " + method + " is not supported"}
	}
	old := d.server(r.URL)
	if old != nil {
		if old.sess.SigningIn() {
			return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "a sign-in to " + r.URL + " is in progress"}
		}
		if g := old.sess.Grant(); g != nil && !r.Replace {
			return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "mcpauthd is already signed in to " + r.URL + " (replace it with --replace)"}
		}
	}

	hc := d.cfg.HTTP
	p, err := oauth.Probe(ctx, hc, r.URL)
	if err != nil {
		return nil, toIPC(r.URL, err)
	}
	if p.Public {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: r.URL + " needs no sign-in: nothing to import"}
	}
	md, err := oauth.Discover(ctx, hc, r.URL, p.Challenge)
	if err != nil {
		return nil, toIPC(r.URL, err)
	}
	if r.Client.Issuer != "" && strings.TrimSuffix(r.Client.Issuer, "/") != strings.TrimSuffix(md.Issuer, "/") {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "import: the registration belongs to " + r.Client.Issuer + ", but " + r.URL + " now uses " + md.Issuer + "; sign in with mcpauthd login " + r.URL}
	}
	regs := registrations{st: d.st}
	reg, err := regs.LoadRegistration(ctx, md.Issuer)
	if err != nil {
		return nil, toIPC(r.URL, err)
	}
	switch {
	case reg == nil:
		reg = &oauth.Registration{
			Issuer: md.Issuer, ClientID: r.Client.ClientID, ClientSecret: r.Client.ClientSecret,
			AuthMethod: method, Method: oauth.MethodDynamic, RedirectURIs: r.Client.RedirectURIs,
		}
		if err := regs.SaveRegistration(ctx, reg); err != nil {
			return nil, toIPC(r.URL, err)
		}
	case reg.ClientID != r.Client.ClientID:
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "mcpauthd has its own client at " + md.Issuer + " and these tokens belong to another; sign in with mcpauthd login " + r.URL}
	}
	tokenType := r.Tokens.TokenType
	if tokenType == "" {
		tokenType = "Bearer"
	}
	g := &oauth.Grant{
		Metadata:     md,
		Registration: reg,
		Requested:    r.Tokens.Scopes,
		Token: &oauth.Token{
			AccessToken: r.Tokens.AccessToken, RefreshToken: r.Tokens.RefreshToken, TokenType: tokenType,
			Expiry: r.Tokens.Expiry, Scopes: r.Tokens.Scopes,
		},
	}

	// A fresh server object carries the grant from its start; it replaces
	// any old one once the grant is committed.
	rec := store.Server{URL: r.URL, Status: string(ipc.StateSignedOut)}
	if old != nil {
		old.mu.Lock()
		rec = old.rec
		old.mu.Unlock()
	}
	s := d.newServer(&rec)
	s.sess.Restore(g, nil)
	if err := s.save(ctx, g); err != nil {
		return nil, toIPC(r.URL, err)
	}
	d.mu.Lock()
	d.servers[r.URL] = s
	d.mu.Unlock()
	if old != nil {
		old.stopTimer()
	}
	d.audit(store.AuditRecord{Server: r.URL, Action: "import", PID: caller.PID, UID: caller.UID, Exe: caller.Exe, App: caller.App})
	d.log.Info("imported a sign-in", "server", r.URL, "issuer", md.Issuer, "refresh_token", r.Tokens.RefreshToken != "")
	if r.Tokens.AccessToken != "" {
		d.describe(s)
	}
	return ptr(s.info()), nil
}
