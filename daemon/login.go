package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// login is one sign-in in flight. Its authorization request waits in
// d.logins under its state until the redirect comes back.
type login struct {
	id        string
	url       string
	noBrowser bool
	cancel    context.CancelFunc
	// created: this sign-in added the server; prevState, prevMsg: the
	// server's state before it. A failed sign-in returns to them (loginFailed).
	created   bool
	prevState ipc.State
	prevMsg   string
	// accountCreated: this sign-in added its (further) account, which a
	// failure removes again; makeDefault: success makes it the default.
	accountCreated, makeDefault bool

	once     sync.Once
	ready    chan struct{} // closed when authURL is known or the login ended
	authURL  string
	userCode string // device sign-ins: the code to enter at authURL
	// browserErr: the browser could not be opened (set before ready).
	browserErr string
	redirect   chan string
	done       chan struct{}
	err        error

	// A sign-in through the browser is bound to the browser that starts it
	// (callback.go): the start link startID sets the cookie bindName =
	// bindValue and forwards to authorizeURL; /callback takes a redirect
	// only from a browser holding that cookie; authURL, what the user is
	// shown, is then the start link. All empty for NoBrowser.
	startID, authorizeURL string
	bindName, bindValue   string
}

func newLogin(url string, noBrowser bool) *login {
	return &login{
		id: rand.Text(), url: url, noBrowser: noBrowser, cancel: func() {},
		ready: make(chan struct{}), redirect: make(chan string, 1), done: make(chan struct{}),
	}
}

func (l *login) markReady() { l.once.Do(func() { close(l.ready) }) }

// finish records the outcome and wakes everyone waiting for it.
func (l *login) finish(err error) {
	l.err = err
	l.markReady()
	close(l.done)
}

type loginKey struct{}

// Login adds url (when new) and signs in to it. It returns once the
// authorization URL is known (the browser has been asked to open it), or,
// with r.Wait, once the sign-in has ended.
func (d *Daemon) Login(ctx context.Context, r *ipc.LoginRequest) (*ipc.LoginResponse, error) {
	if err := checkServerURL(r.URL); err != nil {
		return nil, err
	}
	// A sign-in whose result could not be kept is not started: the secret
	// backend is asked first, so a missing or locked keyring is reported
	// before any browser opens.
	if err := d.st.CheckSecrets(); err != nil {
		return nil, toIPC(r.URL, err)
	}
	if r.Provider != nil {
		if err := overridesFrom(r.Provider).Check(); err != nil { // before a new server is added
			return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: r.URL + ": " + err.Error()}
		}
	}
	named := r.Account != "" && r.Account != ipc.DefaultAccount
	if named {
		if err := ipc.CheckAccountName(r.Account); err != nil {
			return nil, err
		}
		if r.Grant != nil {
			return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "a non-interactive grant signs in as its client: it cannot be one of several accounts (drop --account)"}
		}
	}
	if len(r.LoginHint) > 256 {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "the login hint is longer than 256 bytes"}
	}
	created := d.server(r.URL) == nil
	if r.Grant != nil {
		if err := d.SetGrant(r.URL, r.Grant); err != nil {
			return nil, err
		}
	}
	p, err := d.ensureServer(r.URL)
	if err != nil {
		return nil, toIPC(r.URL, err)
	}
	s, accountCreated, err := d.ensureAccount(p, r.Account, r.LoginHint)
	if err != nil {
		return nil, err
	}
	hadOthers := false // another account of the server is signed in: the user picks the identity
	for _, o := range p.signIns() {
		hadOthers = hadOthers || (o != s && o.sess.Grant() != nil)
	}
	if s.sess.SigningIn() {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "a sign-in to " + r.URL + " (account " + s.name() + ") is already in progress"}
	}
	if r.Reregister {
		if err := d.dropRegistration(p); err != nil {
			return nil, toIPC(r.URL, err)
		}
	}
	if err := p.configure(r.Provider, r.ClientID, r.ClientSecret, r.ClientIssuer); err != nil {
		return nil, err
	}
	if s != p && r.ClientID != "" {
		s.sess.SetPreregistered(&oauth.Registration{ClientID: r.ClientID, ClientSecret: r.ClientSecret, Issuer: r.ClientIssuer})
	}
	s.mu.Lock()
	if r.LoginHint != "" {
		s.rec.LoginHint = r.LoginHint // stored by the sign-in's save
	}
	hint := s.rec.LoginHint
	s.mu.Unlock()
	s.prepareSignIn(hadOthers, hint)
	l := newLogin(r.URL, r.NoBrowser)
	prev := s.own()
	l.created, l.prevState, l.prevMsg = created, prev.Status, prev.StatusMessage
	l.accountCreated, l.makeDefault = accountCreated, r.MakeDefault || (created && named)
	lctx, cancel := context.WithTimeout(context.WithValue(context.Background(), loginKey{}, l), d.cfg.LoginTimeout)
	l.cancel = cancel
	d.mu.Lock()
	d.logins[l.id] = l
	d.mu.Unlock()
	s.setState(ipc.StateSigningIn, "")
	go d.runLogin(lctx, s, l, r.Scopes)

	select {
	case <-l.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.Wait {
		return d.waitLogin(ctx, l)
	}
	return &ipc.LoginResponse{ID: l.id, AuthURL: l.authURL, UserCode: l.userCode, BrowserError: l.browserErr, Server: ptr(s.info())}, nil
}

// configure sets s's provider settings (nil: keep them) and pre-registered
// client (clientID "": keep it) for the sign-ins that start after it
// returns; the next write of s's record stores them.
func (s *server) configure(p *ipc.ProviderOverrides, clientID, clientSecret, clientIssuer string) error {
	if p != nil {
		if err := s.setOverrides(overridesFrom(p)); err != nil {
			return err
		}
	}
	if clientID != "" {
		s.sess.SetPreregistered(&oauth.Registration{ClientID: clientID, ClientSecret: clientSecret, Issuer: clientIssuer})
		s.mu.Lock()
		s.rec.ClientIDOverride = clientID
		s.mu.Unlock()
	}
	return nil
}

// SetProvider sets r.URL's own sign-in settings without signing in (the
// stdio proxy's mcp-remote flags), adding the server when it is new, and
// stores them.
func (d *Daemon) SetProvider(r *ipc.ProviderRequest) (*ipc.ServerInfo, error) {
	if err := checkServerURL(r.URL); err != nil {
		return nil, err
	}
	if r.Provider != nil {
		if err := overridesFrom(r.Provider).Check(); err != nil { // before a new server is added
			return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: r.URL + ": " + err.Error()}
		}
	}
	s, err := d.ensureServer(r.URL)
	if err != nil {
		return nil, toIPC(r.URL, err)
	}
	if err := s.configure(r.Provider, r.ClientID, r.ClientSecret, ""); err != nil {
		return nil, err
	}
	s.mu.Lock()
	rec := s.rec
	s.mu.Unlock()
	if err := d.st.PutServer(&rec); err != nil {
		return nil, toIPC(r.URL, err)
	}
	return ptr(s.info()), nil
}

func (d *Daemon) runLogin(ctx context.Context, s *server, l *login, scopes []string) {
	defer l.cancel()
	g, err := s.sess.Login(ctx, scopes)
	switch {
	case err != nil:
		d.log.Warn("sign-in failed", "server", s.url, "err", err)
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			err = &ipc.Error{Code: ipc.CodeUpstream, Message: "the sign-in was not completed in time; start it again"}
		case errors.Is(err, context.Canceled):
			err = &ipc.Error{Code: ipc.CodeUpstream, Message: "the sign-in was cancelled"}
		}
		d.loginFailed(s, l, err)
	case g.Public:
		d.log.Info("server needs no sign-in", "server", s.url)
	default:
		d.log.Info("signed in", "server", s.url, "account", s.name(), "issuer", g.Metadata.Issuer, "scopes", g.Token.Scopes)
	}
	if err == nil && l.makeDefault {
		if derr := d.setDefaultAccount(s.primary(), s.account); derr != nil {
			d.log.Warn("could not make the account the default", "server", s.url, "account", s.name(), "err", derr)
		}
	}
	if err == nil {
		d.describe(s)
	}
	l.finish(err)
	time.AfterFunc(time.Minute, func() { // keep the result for late waiters
		d.mu.Lock()
		delete(d.logins, l.id)
		d.mu.Unlock()
	})
}

// loginFailed records a failed sign-in without claiming more than the
// failure proves: a server this sign-in added is removed again (a mistyped
// URL leaves nothing behind; the error goes to whoever waits for the
// sign-in); a server that was usable stays usable with its tokens, the
// failure in its message; any other server needs a sign-in.
func (d *Daemon) loginFailed(s *server, l *login, err error) {
	switch {
	case l.accountCreated && !l.created:
		if derr := d.dropAccount(s.primary(), s); derr != nil {
			d.log.Warn("could not remove the account of a failed first sign-in", "server", s.url, "account", s.name(), "err", derr)
			s.setState(ipc.StateNeedsSignIn, "sign-in failed: "+err.Error())
		}
	case l.created:
		if derr := d.st.DeleteServer(s.url); derr != nil && !errors.Is(derr, store.ErrNotFound) {
			d.log.Warn("could not remove the server of a failed first sign-in", "server", s.url, "err", derr)
			s.setState(ipc.StateNeedsSignIn, "sign-in failed: "+err.Error())
			return
		}
		d.mu.Lock()
		if p := s.primary(); d.servers[s.url] == p {
			delete(d.servers, s.url)
		}
		d.mu.Unlock()
		d.publish(ipc.Event{Type: "removed", Server: &ipc.ServerInfo{URL: s.url}})
	case l.prevState == ipc.StateSignedIn || l.prevState == ipc.StatePublic:
		s.setState(l.prevState, "the last sign-in attempt failed ("+err.Error()+"); the earlier sign-in still works")
	default:
		s.setState(ipc.StateNeedsSignIn, "sign-in failed: "+err.Error())
	}
}

func (d *Daemon) waitLogin(ctx context.Context, l *login) (*ipc.LoginResponse, error) {
	select {
	case <-l.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if l.err != nil {
		return nil, toIPC(l.url, l.err)
	}
	s := d.server(l.url)
	if s == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: "the server was removed during sign-in"}
	}
	return &ipc.LoginResponse{ID: l.id, AuthURL: l.authURL, UserCode: l.userCode, Server: ptr(s.info())}, nil
}

// WaitLogin waits for the sign-in id to end.
func (d *Daemon) WaitLogin(ctx context.Context, id string) (*ipc.LoginResponse, error) {
	d.mu.Lock()
	l := d.logins[id]
	d.mu.Unlock()
	if l == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: "no such sign-in (it ended more than a minute ago, or never started)"}
	}
	return d.waitLogin(ctx, l)
}

// CancelLogin stops the sign-in id; its waiters get an error.
func (d *Daemon) CancelLogin(id string) error {
	d.mu.Lock()
	l := d.logins[id]
	d.mu.Unlock()
	if l == nil {
		return &ipc.Error{Code: ipc.CodeNotFound, Message: "no such sign-in"}
	}
	l.cancel()
	return nil
}

// browse is the engine's Browser for s: it parks the authorization request
// under its state, opens the user's browser (unless the sign-in asked not
// to) on the sign-in's start link, which binds the browser and forwards it
// to the authorization request, and waits for Complete to bring the
// redirect back.
func (d *Daemon) browse(s *server) oauth.Browser {
	return func(ctx context.Context, a *oauth.Authorization) (string, error) {
		l, _ := ctx.Value(loginKey{}).(*login)
		if l == nil {
			return "", errors.New("internal: a sign-in started without a login record")
		}
		l.authURL = a.URL
		if !l.noBrowser {
			l.startID, l.authorizeURL = rand.Text(), a.URL
			l.bindName, l.bindValue = bindCookiePrefix+rand.Text()[:8], rand.Text()
			l.authURL = d.LoopbackURL() + startPath + l.startID
		}
		d.mu.Lock()
		d.logins[a.State] = l
		if l.startID != "" {
			d.starts[l.startID] = l
		}
		d.mu.Unlock()
		defer func() {
			d.mu.Lock()
			delete(d.logins, a.State)
			delete(d.starts, l.startID)
			d.mu.Unlock()
		}()
		s.setState(ipc.StateSigningIn, "waiting for you to approve in the browser")
		if !l.noBrowser {
			if err := d.cfg.OpenBrowser(l.authURL); err != nil {
				d.log.Warn("could not open a browser; open the sign-in URL yourself", "server", s.url, "err", err)
				l.browserErr = err.Error()
			}
		}
		l.markReady()
		select {
		case u := <-l.redirect:
			return u, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// devicePresenter is the engine's DevicePresenter for one server: a
// sign-in started with NoBrowser (the SSH case) uses the device
// authorization grant where the authorization server offers it; every other
// sign-in goes through the browser.
type devicePresenter struct{ s *server }

func (p devicePresenter) UseDevice(ctx context.Context) bool {
	l, _ := ctx.Value(loginKey{}).(*login)
	return l != nil && l.noBrowser
}

func (p devicePresenter) Present(ctx context.Context, da *oauth.DeviceAuthorization) error {
	l, _ := ctx.Value(loginKey{}).(*login)
	if l == nil {
		return errors.New("internal: a device sign-in started without a login record")
	}
	l.authURL, l.userCode = da.VerificationURI, da.UserCode
	if da.VerificationURIComplete != "" {
		l.authURL = da.VerificationURIComplete
	}
	p.s.setState(ipc.StateSigningIn, "waiting for you to enter code "+da.UserCode+" at "+da.VerificationURI)
	l.markReady()
	return nil
}

// Complete hands the URL the authorization server redirected to to the
// sign-in waiting for it (matched by state) and waits for the sign-in to end.
// This is the one entry point for the loopback callback (after it checked
// the browser's binding), a URL pasted over the socket (whose peer is the
// user), and tests.
func (d *Daemon) Complete(ctx context.Context, redirectURL string) (*ipc.LoginResponse, error) {
	u, err := url.Parse(redirectURL)
	if err != nil {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "that is not a URL"}
	}
	l := d.pending(u.Query().Get("state"))
	if l == nil {
		return nil, &ipc.Error{Code: ipc.CodeNotFound, Message: "no sign-in is waiting for this redirect (it expired, was already used, or belongs to another program)"}
	}
	select {
	case l.redirect <- redirectURL:
	default:
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "this sign-in already received its redirect"}
	}
	return d.waitLogin(ctx, l)
}

// pending is the sign-in waiting for a redirect with state, or nil.
func (d *Daemon) pending(state string) *login {
	if state == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logins[state]
}

// ensureServer returns url's server, adding it to the registry when new.
func (d *Daemon) ensureServer(url string) (*server, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.servers[url]; s != nil {
		return s, nil
	}
	rec := &store.Server{URL: url, Status: string(ipc.StateSignedOut)}
	if err := d.st.PutServer(rec); err != nil {
		return nil, err
	}
	s := d.newServer(rec)
	d.servers[url] = s
	return s, nil
}

// dropRegistration forgets mcpauthd's own client registration at s's
// authorization server (dynamic or CIMD; pre-registered credentials are the
// user's), so the next sign-in registers anew. Nothing to drop is fine.
func (d *Daemon) dropRegistration(s *server) error {
	s.mu.Lock()
	issuer := s.rec.Issuer
	s.mu.Unlock()
	if issuer == "" {
		return nil
	}
	reg, err := d.st.GetRegistration(issuer)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if reg.Method == oauth.MethodPreregistered {
		return nil
	}
	if err := d.st.DeleteRegistration(issuer); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	d.log.Info("dropped the client registration", "issuer", issuer, "client_id", reg.ClientID)
	return nil
}
