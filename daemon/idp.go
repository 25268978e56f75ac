package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// Company sign-ins (enterprise-managed authorization with a browser): a
// server whose grant has ipc.GrantConfig.IdPSession gets the user's ID token
// from an idpSession, one per IdP issuer and mcpauthd's client id there,
// shared by every such server and stored once (store.IdPSession, its ID
// token, refresh token and client secret sealed).
//
// The ID token is handed to the server's oauth.Enterprise strategy, which
// exchanges it for an ID-JAG and redeems that at the server's
// authorization server. When the ID token has expired, the session renews
// it with the IdP's refresh token (one renewal at a time, for all its
// servers). When the IdP refuses the refresh token, the session ends: it and
// every server using it go to needs_sign_in with one EventIdP, and the next
// sign-in to any of them — through the same browser hand-off and callback
// as every sign-in (browse) — signs in at the IdP once and restores the
// others without a browser.

// idTokenMargin: an ID token valid for less than this is renewed before it
// is exchanged.
const idTokenMargin = time.Minute

// idpSession is one company sign-in.
type idpSession struct {
	d                *Daemon
	issuer, clientID string
	// sem is held (a one-slot channel, so that waiting honours ctx) by the
	// one renewal, sign-in or sign-out under way.
	sem chan struct{}

	mu  sync.Mutex
	rec store.IdPSession
	md  *oauth.Metadata // the IdP's metadata, discovered on first use
}

// loadIdPs reads the stored IdP sessions (at start-up).
func (d *Daemon) loadIdPs() error {
	recs, err := d.st.ListIdPs()
	if err != nil {
		return err
	}
	for _, r := range recs {
		i := d.idp(r.Issuer, r.ClientID)
		i.rec = *r
	}
	return nil
}

// idp returns the session for issuer and clientID, making an empty one
// (signed out, not stored) when there is none.
func (d *Daemon) idp(issuer, clientID string) *idpSession {
	key := store.IdPKey(issuer, clientID)
	d.mu.Lock()
	defer d.mu.Unlock()
	if i := d.idps[key]; i != nil {
		return i
	}
	i := &idpSession{d: d, issuer: issuer, clientID: clientID, sem: make(chan struct{}, 1),
		rec: store.IdPSession{Issuer: issuer, ClientID: clientID, Status: string(ipc.StateSignedOut)}}
	d.idps[key] = i
	return i
}

func (i *idpSession) lock(ctx context.Context) error {
	select {
	case i.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (i *idpSession) unlock() { <-i.sem }

// secrets are the session's stored secrets (none: empty).
func (i *idpSession) secrets() (*store.IdPSecrets, error) {
	sec, err := i.d.st.GetIdPSecrets(i.issuer, i.clientID)
	if errors.Is(err, store.ErrNotFound) {
		return &store.IdPSecrets{}, nil
	}
	return sec, err
}

// setClientSecret keeps secret as mcpauthd's client secret at the IdP,
// keeping the session's tokens.
func (i *idpSession) setClientSecret(ctx context.Context, secret string) error {
	if err := i.lock(ctx); err != nil {
		return err
	}
	defer i.unlock()
	sec, err := i.secrets()
	if err != nil {
		return err
	}
	sec.ClientSecret = secret
	i.mu.Lock()
	rec := i.rec
	i.mu.Unlock()
	return i.d.st.PutIdP(&rec, sec)
}

// metadata is the IdP's metadata (fit for a browser sign-in: its ID tokens
// are verified with its JWKS).
func (i *idpSession) metadata(ctx context.Context) (*oauth.Metadata, error) {
	i.mu.Lock()
	md := i.md
	i.mu.Unlock()
	if md != nil {
		return md, nil
	}
	md, err := (&oauth.IdP{Issuer: i.issuer, ClientID: i.clientID}).Discover(ctx, i.d.cfg.HTTP, true)
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	i.md = md
	i.mu.Unlock()
	return md, nil
}

// idToken is the user's ID token for the IdPSession grant of a server: the
// stored one while it is valid for idTokenMargin, else one renewed with the
// IdP's refresh token. Without either, a sign-in started by the user (ctx
// carries its login record) signs in at the IdP in the browser; anything
// else (a background renewal, a token hand-out) ends the session (ended)
// and fails with oauth.ErrInvalidGrant, which makes the server need a
// sign-in. A network failure is returned as it is: the session stays.
func (i *idpSession) idToken(ctx context.Context) (string, error) {
	if err := i.lock(ctx); err != nil {
		return "", err
	}
	defer i.unlock()
	sec, err := i.secrets()
	if err != nil {
		return "", err
	}
	i.mu.Lock()
	rec := i.rec
	i.mu.Unlock()
	if sec.IDToken != "" && time.Until(rec.IDTokenExpiry) > idTokenMargin {
		return sec.IDToken, nil
	}
	p := &oauth.IdP{Issuer: i.issuer, ClientID: i.clientID, ClientSecret: sec.ClientSecret}
	if sec.RefreshToken != "" {
		md, err := i.metadata(ctx)
		if err != nil {
			return "", err
		}
		tok, claims, err := p.Refresh(ctx, i.d.cfg.HTTP, md, sec.RefreshToken, rec.Subject)
		if err == nil {
			i.d.log.Info("renewed the company sign-in", "issuer", i.issuer)
			return tok.IDToken, i.keep(tok, claims, sec.ClientSecret, false)
		}
		if !errors.Is(err, oauth.ErrInvalidGrant) && !errors.Is(err, oauth.ErrInvalidClient) {
			return "", err
		}
		i.d.log.Warn("the IdP no longer accepts the company sign-in", "issuer", i.issuer, "err", err)
	}
	l, _ := ctx.Value(loginKey{}).(*login)
	if l == nil {
		msg := "your company sign-in at " + i.issuer + " has ended; sign in again (mcpauthd login URL, for any of its servers, signs in to all of them)"
		i.ended(msg, sec.ClientSecret)
		return "", &oauth.Error{Step: "token", Check: oauth.CheckInvalidGrant, URL: i.issuer, Msg: msg}
	}
	return i.signIn(ctx, p, sec.ClientSecret, l)
}

// signIn signs in at the IdP through the browser hand-off of the sign-in l
// (its start link, binding cookie and callback), verifies the ID token and
// keeps the session.
func (i *idpSession) signIn(ctx context.Context, p *oauth.IdP, clientSecret string, l *login) (string, error) {
	s := i.d.server(l.url)
	if s == nil {
		return "", errors.New("the server was removed during sign-in")
	}
	md, err := i.metadata(ctx)
	if err != nil {
		return "", err
	}
	a, err := p.Authorize(md, i.d.callbackURL)
	if err != nil {
		return "", err
	}
	i.d.log.Info("signing in at the company IdP", "issuer", i.issuer, "server", l.url)
	redirected, err := i.d.browse(s)(ctx, a)
	if err != nil {
		return "", err
	}
	tok, claims, err := p.Complete(ctx, i.d.cfg.HTTP, a, redirected)
	if err != nil {
		return "", err
	}
	if err := i.keep(tok, claims, clientSecret, true); err != nil {
		return "", err
	}
	// The other servers that wait for this sign-in get their tokens now,
	// without a browser (after this sign-in releases the session).
	go i.restore(l.url)
	return tok.IDToken, nil
}

// keep stores a new ID token (and refresh token) for the session, and tells
// subscribers. signIn: a new sign-in (not a renewal).
func (i *idpSession) keep(tok *oauth.Token, claims *oauth.IDClaims, clientSecret string, signIn bool) error {
	i.mu.Lock()
	rec := i.rec
	i.mu.Unlock()
	rec.Status, rec.StatusMessage = string(ipc.StateSignedIn), ""
	rec.Subject, rec.IDTokenExpiry, rec.HasRefreshToken = claims.Subject, claims.Expiry, tok.RefreshToken != ""
	rec.Account = claims.Email
	if rec.Account == "" {
		rec.Account = claims.Name
	}
	if signIn || rec.SignedInAt.IsZero() {
		rec.SignedInAt = time.Now()
	}
	if err := i.d.st.PutIdP(&rec, &store.IdPSecrets{IDToken: tok.IDToken, RefreshToken: tok.RefreshToken, ClientSecret: clientSecret}); err != nil {
		return err
	}
	i.set(rec)
	return nil
}

// set replaces the shown record and tells subscribers.
func (i *idpSession) set(rec store.IdPSession) {
	i.mu.Lock()
	i.rec = rec
	i.mu.Unlock()
	i.d.publish(ipc.Event{Type: ipc.EventIdP, IdP: ptr(i.d.idpInfo(i))})
}

// ended records that the IdP ended the session: its tokens are dropped
// (the client secret is kept), the session and every server using it need a
// sign-in. It tells subscribers once (one EventIdP for the session, whatever
// the number of servers), on the transition only.
func (i *idpSession) ended(msg, clientSecret string) {
	i.mu.Lock()
	rec := i.rec
	i.mu.Unlock()
	if rec.Status == string(ipc.StateNeedsSignIn) {
		return
	}
	rec.Status, rec.StatusMessage, rec.IDTokenExpiry, rec.HasRefreshToken = string(ipc.StateNeedsSignIn), msg, time.Time{}, false
	if err := i.d.st.PutIdP(&rec, &store.IdPSecrets{ClientSecret: clientSecret}); err != nil {
		i.d.log.Warn("could not record the end of the company sign-in", "issuer", i.issuer, "err", err)
	}
	i.set(rec)
	for _, s := range i.d.idpServers(i) {
		if st := s.info().Status; st == ipc.StateSignedIn || st == ipc.StateRefreshing || st == ipc.StateError {
			s.stopTimer()
			s.setState(ipc.StateNeedsSignIn, msg)
		}
	}
}

// restore renews the tokens of the session's servers that need a sign-in
// (but done, the one just signed in), now that the session is back.
func (i *idpSession) restore(done string) {
	for _, s := range i.d.idpServers(i) {
		if s.url == done || s.info().Status != ipc.StateNeedsSignIn || s.sess.Grant() == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := s.refresh(ctx); err != nil {
			i.d.log.Warn("could not restore a server after the company sign-in", "server", s.url, "err", err)
		}
		cancel()
	}
}

// idpOf is the company sign-in a server record's grant uses, or nil.
func (d *Daemon) idpOf(rec *store.Server) *idpSession {
	if len(rec.Grant) == 0 {
		return nil
	}
	gc, err := grantOf(rec.Grant)
	if err != nil || gc.Type != ipc.GrantEnterprise || !gc.IdPSession {
		return nil
	}
	return d.idp(gc.IdPIssuer, gc.IdPClientID)
}

// idpServers are the servers that use session i, ordered by URL.
func (d *Daemon) idpServers(i *idpSession) []*server {
	d.mu.Lock()
	all := make([]*server, 0, len(d.servers))
	for _, s := range d.servers {
		all = append(all, s)
	}
	d.mu.Unlock()
	var out []*server
	for _, s := range all {
		s.mu.Lock()
		rec := s.rec
		s.mu.Unlock()
		if d.idpOf(&rec) == i {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].url < out[b].url })
	return out
}

func (d *Daemon) idpInfo(i *idpSession) ipc.IdPInfo {
	i.mu.Lock()
	rec := i.rec
	i.mu.Unlock()
	in := ipc.IdPInfo{Issuer: rec.Issuer, ClientID: rec.ClientID, Status: ipc.State(rec.Status), StatusMessage: rec.StatusMessage,
		Account: rec.Account, IDTokenExpiry: rec.IDTokenExpiry, HasRefreshToken: rec.HasRefreshToken, SignedInAt: rec.SignedInAt}
	for _, s := range d.idpServers(i) {
		in.Servers = append(in.Servers, s.url)
	}
	return in
}

// IdPs lists the company sign-ins with their servers, ordered by issuer.
func (d *Daemon) IdPs() []ipc.IdPInfo {
	d.mu.Lock()
	all := make([]*idpSession, 0, len(d.idps))
	for _, i := range d.idps {
		all = append(all, i)
	}
	d.mu.Unlock()
	out := make([]ipc.IdPInfo, 0, len(all))
	for _, i := range all {
		if in := d.idpInfo(i); in.Status != ipc.StateSignedOut || len(in.Servers) > 0 {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b ipc.IdPInfo) int { return strings.Compare(a.Issuer+" "+a.ClientID, b.Issuer+" "+b.ClientID) })
	return out
}

// LogoutIdP signs out of the company sign-in at issuer (clientID "": the
// only one there): the IdP's refresh token is revoked where the IdP offers
// revocation (RFC 7009), the session's tokens are wiped (mcpauthd's client
// secret there is kept), and every server using it is signed out (Logout).
func (d *Daemon) LogoutIdP(ctx context.Context, issuer, clientID string) (*ipc.IdPLogoutResponse, error) {
	var match []*idpSession
	d.mu.Lock()
	for _, i := range d.idps {
		if i.issuer == issuer && (clientID == "" || i.clientID == clientID) {
			match = append(match, i)
		}
	}
	d.mu.Unlock()
	switch {
	case len(match) == 0:
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: "no company sign-in at " + issuer + " (see mcpauthd list)"}
	case len(match) > 1:
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "there are several company sign-ins at " + issuer + "; name one with --idp-client-id"}
	}
	i := match[0]
	if err := i.lock(ctx); err != nil {
		return nil, toIPC("", err)
	}
	res := &ipc.IdPLogoutResponse{Revocation: ipc.RevocationNone}
	sec, err := i.secrets()
	if err != nil {
		i.unlock()
		return nil, toIPC("", err)
	}
	if sec.RefreshToken != "" {
		res.Revocation = ipc.RevocationRevoked
		md, err := i.metadata(ctx)
		sent := false
		if err == nil {
			sent, err = (&oauth.IdP{Issuer: i.issuer, ClientID: i.clientID, ClientSecret: sec.ClientSecret}).Revoke(ctx, d.cfg.HTTP, md, sec.RefreshToken)
		}
		switch {
		case err != nil:
			d.log.Warn("revocation at the IdP failed; wiping the company sign-in anyway", "issuer", issuer, "err", err)
			res.Revocation, res.RevocationError = ipc.RevocationFailed, err.Error()
		case !sent:
			res.Revocation = ipc.RevocationUnsupported
		}
	}
	i.mu.Lock()
	rec := i.rec
	i.mu.Unlock()
	rec.Status, rec.StatusMessage, rec.IDTokenExpiry, rec.HasRefreshToken, rec.Subject, rec.Account = string(ipc.StateSignedOut), "", time.Time{}, false, "", ""
	err = d.st.PutIdP(&rec, &store.IdPSecrets{ClientSecret: sec.ClientSecret})
	i.unlock()
	if err != nil {
		return nil, toIPC("", err)
	}
	i.set(rec)
	for _, s := range d.idpServers(i) {
		if _, err := d.Logout(ctx, &ipc.ServerRequest{URL: s.url}); err != nil {
			return nil, fmt.Errorf("signing out of %s: %w", s.url, err)
		}
		res.Servers = append(res.Servers, s.url)
	}
	d.log.Info("signed out of the company sign-in", "issuer", issuer, "servers", len(res.Servers))
	return res, nil
}

// CompanyIdP is the company sign-in the settings name (idp_issuer,
// idp_client_id; "" when unset): the default of a company sign-in started
// without IdP details (the web page's add form).
func (d *Daemon) CompanyIdP() (issuer, clientID string) {
	for _, s := range d.cfg.Settings {
		switch s.Key {
		case "idp_issuer":
			issuer = s.Value
		case "idp_client_id":
			clientID = s.Value
		}
	}
	return issuer, clientID
}

// OffersCompanySignIn reports whether url's authorization server takes
// the JWT-bearer grant that redeems the IdP's ID-JAGs (enterprise-managed
// authorization), from its metadata, without signing in: the web page
// offers the company sign-in first for such a server.
func (d *Daemon) OffersCompanySignIn(ctx context.Context, url string) (bool, error) {
	p, err := oauth.Probe(ctx, d.cfg.HTTP, url)
	if err != nil {
		return false, toIPC(url, err)
	}
	if p.Public {
		return false, nil
	}
	md, err := oauth.DiscoverForGrant(ctx, d.cfg.HTTP, url, p.Challenge)
	if err != nil {
		return false, toIPC(url, err)
	}
	return oauth.OffersEnterprise(md), nil
}
