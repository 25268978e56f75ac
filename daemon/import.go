package daemon

import (
	"context"
	"strings"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// Import takes over a sign-in made by another program (mcp-remote): r's
// client registration and tokens for r.URL. It discovers the server's
// authorization server as a sign-in would, refuses a registration recorded
// for another issuer, and commits the server, its tokens and the other
// program's client (kept with the tokens, whatever client mcpauthd has at
// that issuer) in one transaction before anyone can be handed the token.
// A server already signed in is left alone unless r.Replace. The import is
// recorded in the audit log with caller.
//
// The imported client serves refreshes and revocation of these tokens
// only; a later interactive sign-in uses mcpauthd's own client.
func (d *Daemon) Import(ctx context.Context, r *ipc.ImportRequest, caller ipc.Peer) (*ipc.ServerInfo, error) {
	if !ipc.IsHTTPURL(r.URL) {
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
	// The tokens keep the client they were issued to, whatever client
	// mcpauthd has (or will register) at that issuer: it is stored with
	// them (store.Tokens.Client), never as the issuer's registration.
	reg := &oauth.Registration{
		Issuer: md.Issuer, ClientID: r.Client.ClientID, ClientSecret: r.Client.ClientSecret,
		AuthMethod: method, Method: oauth.MethodImported, RedirectURIs: r.Client.RedirectURIs,
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
	if old != nil { // the server's further accounts stay as they are, now under s
		for _, a := range old.accountList() {
			a.parent.Store(s)
			s.mu.Lock()
			if s.accounts == nil {
				s.accounts = map[string]*server{}
			}
			s.accounts[a.account] = a
			s.mu.Unlock()
		}
	}
	d.mu.Lock()
	d.servers[r.URL] = s
	d.mu.Unlock()
	if old != nil {
		old.stopTimer()
	}
	d.audit(store.AuditRecord{Server: r.URL, Account: ipc.DefaultAccount, Action: "import", PID: caller.PID, UID: caller.UID, Exe: caller.Exe, App: caller.App, Via: caller.Via})
	d.log.Info("imported a sign-in", "server", r.URL, "issuer", md.Issuer, "refresh_token", r.Tokens.RefreshToken != "")
	if r.Tokens.AccessToken != "" {
		d.describe(s)
	}
	return ptr(s.info()), nil
}
