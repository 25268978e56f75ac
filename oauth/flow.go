package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Registrations persists client registrations, keyed by issuer exactly.
// Implementations must be safe for concurrent use.
type Registrations interface {
	// LoadRegistration returns the registration kept for issuer, or nil, nil.
	LoadRegistration(ctx context.Context, issuer string) (*Registration, error)
	// SaveRegistration keeps reg (ClientSecret included, as a secret).
	SaveRegistration(ctx context.Context, reg *Registration) error
	// DropRegistration forgets the registration for issuer.
	DropRegistration(ctx context.Context, issuer string) error
}

// Browser takes the user through an authorization request and returns the
// URL the authorization server redirected to. The daemon opens a browser and
// waits for its loopback callback (or a pasted URL); the conformance adapter
// performs a GET that does not follow the redirect. It must honour ctx.
type Browser func(ctx context.Context, a *Authorization) (redirected string, err error)

// Flow runs whole logins with the engine's steps. A Flow is configuration
// only and is safe for concurrent use; per-login state lives in the call.
type Flow struct {
	HTTP          *http.Client  // NewHTTPClient's client when nil
	Client        ClientConfig  // how mcpauthd presents itself
	Registrations Registrations // required
	// WantRefresh asks for refresh tokens (offline_access where listed).
	WantRefresh bool
	Logger      *slog.Logger
}

// LoginRequest describes one login.
type LoginRequest struct {
	ServerURL string
	// Challenge is the server's refusal that prompted the login; nil makes
	// Login probe the server first.
	Challenge *Challenge
	// Previous are the scopes requested before (kept in a step-up).
	Previous []string
	// Scopes are extra scopes the user asked for.
	Scopes []string
	// Preregistered are credentials the user supplied, or nil.
	Preregistered *Registration
	Browser       Browser
	// Device, when set, chooses the device authorization grant (RFC 8628)
	// for sign-ins that want it, where the authorization server offers it.
	Device DevicePresenter
	// Strategy, when set, obtains the token with a non-interactive grant
	// (client credentials, JWT bearer, enterprise) instead of the
	// authorization code: no registration, no browser.
	Strategy Strategy
}

// Grant is the result of a login. A Public grant has no token: the server
// answered without authorization. Token holds secrets.
type Grant struct {
	Public       bool
	Metadata     *Metadata
	Registration *Registration
	Token        *Token
	// Requested are the scopes the authorization request asked for.
	Requested []string
	// DPoPKey is the key Token is bound to when Token.TokenType is DPoP
	// (RFC 9449); nil for Bearer tokens. A secret.
	DPoPKey *DPoPKey
}

func (f *Flow) http() *http.Client {
	if f.HTTP != nil {
		return f.HTTP
	}
	return NewHTTPClient(HTTPOptions{})
}

func (f *Flow) log() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Login probes (when no challenge is given), discovers, registers or reuses
// the registration for the issuer, sends the user through the browser and
// exchanges the code. A registration the token endpoint rejects as
// invalid_client — while the browser waits (CheckClient, for a dynamic
// registration kept from earlier, after ClientCheckDelay) or at the code
// exchange — is dropped and the login runs once more with a new one.
func (f *Flow) Login(ctx context.Context, req LoginRequest) (*Grant, error) {
	c := f.http()
	ch := req.Challenge
	if ch == nil {
		p, err := Probe(ctx, c, req.ServerURL)
		if err != nil {
			return nil, err
		}
		if p.Public {
			return &Grant{Public: true}, nil
		}
		ch = p.Challenge
	}
	// A non-interactive grant neither sends a browser to the authorization
	// endpoint nor uses PKCE: its discovery does not require them.
	md, err := discover(ctx, c, req.ServerURL, ch, req.Strategy == nil)
	if err != nil {
		return nil, err
	}
	f.log().Info("discovered authorization server", "server", req.ServerURL, "issuer", md.Issuer, "legacy", md.Legacy)
	if req.Strategy != nil {
		return f.Obtain(ctx, md, req.Strategy, SelectScopes(ch, md, req.Previous, req.Scopes, false), nil)
	}
	scopes := SelectScopes(ch, md, req.Previous, req.Scopes, f.WantRefresh)
	for attempt := 0; ; attempt++ {
		g, err := f.authorize(ctx, c, md, req, scopes)
		if err == nil || attempt > 0 || !errors.Is(err, ErrInvalidClient) || req.Preregistered != nil {
			return g, err
		}
		f.log().Warn("client registration rejected; registering again", "issuer", md.Issuer)
		if derr := f.Registrations.DropRegistration(ctx, md.Issuer); derr != nil {
			return nil, derr
		}
	}
}

func (f *Flow) authorize(ctx context.Context, c *http.Client, md *Metadata, req LoginRequest, scopes []string) (*Grant, error) {
	stored, err := f.Registrations.LoadRegistration(ctx, md.Issuer)
	if err != nil {
		return nil, err
	}
	reg, created, err := Register(ctx, c, f.Client, md, req.Preregistered, stored)
	if err != nil {
		return nil, err
	}
	if created {
		if err := f.Registrations.SaveRegistration(ctx, reg); err != nil {
			return nil, err
		}
		f.log().Info("client registered", "issuer", md.Issuer, "method", reg.Method)
	}
	redirectURI := ""
	if len(reg.RedirectURIs) > 0 {
		redirectURI = reg.RedirectURIs[0]
	} else if len(f.Client.RedirectURIs) > 0 {
		redirectURI = f.Client.RedirectURIs[0]
	}
	if req.Device != nil && md.DeviceAuthorizationEndpoint != "" && req.Device.UseDevice(ctx) {
		return f.device(ctx, c, md, reg, req.Device, scopes)
	}
	a, err := Authorize(md, reg, redirectURI, scopes)
	if err != nil {
		return nil, err
	}
	// A dynamic registration kept from an earlier sign-in may have been
	// forgotten by the authorization server (Login registers anew on
	// ErrInvalidClient).
	check := !created && reg.Method == MethodDynamic
	redirected, err := f.awaitBrowser(ctx, req.Browser, a, func(ctx context.Context) error {
		if !check {
			return nil
		}
		err := CheckClient(ctx, c, md, reg, redirectURI)
		if err != nil {
			f.log().Warn("the authorization server no longer knows the stored client; registering anew", "issuer", md.Issuer, "client_id", reg.ClientID)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	key, err := dpopKeyFor(md)
	if err != nil {
		return nil, err
	}
	tok, err := a.Complete(ctx, DPoPClient(c, key), redirected)
	if err != nil {
		return nil, err
	}
	return bindGrant(&Grant{Metadata: md, Registration: reg, Token: tok, Requested: scopes}, key)
}

// ClientCheckDelay is how long a browser sign-in with a client kept from an
// earlier sign-in runs before the client is checked (CheckClient): an
// authorization server that forgot the client shows the browser an error
// and never redirects back (RFC 6749 §4.1.2.1). A sign-in that comes back
// sooner is never checked, so a server that already answered costs no
// extra request (and a test server sees none).
var ClientCheckDelay = 5 * time.Second

// awaitBrowser runs browser for a and, when the redirect has not come back
// after ClientCheckDelay, runs check once: a check error ends the browser
// step and is returned (the browser step's own outcome wins when it ends
// first).
func (f *Flow) awaitBrowser(ctx context.Context, browser Browser, a *Authorization, check func(context.Context) error) (string, error) {
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		url string
		err error
	}
	done := make(chan result, 1)
	go func() {
		u, err := browser(bctx, a)
		done <- result{u, err}
	}()
	t := time.NewTimer(ClientCheckDelay)
	defer t.Stop()
	select {
	case r := <-done:
		return r.url, r.err
	case <-t.C:
	}
	if err := check(ctx); err != nil {
		cancel()
		<-done
		return "", err
	}
	r := <-done
	return r.url, r.err
}

// device runs the RFC 8628 device authorization grant: the presenter shows
// the user code, then the token endpoint is polled until the user approves.
func (f *Flow) device(ctx context.Context, c *http.Client, md *Metadata, reg *Registration, present DevicePresenter, scopes []string) (*Grant, error) {
	d, err := StartDevice(ctx, c, md, reg, scopes)
	if err != nil {
		return nil, err
	}
	if err := present.Present(ctx, d); err != nil {
		return nil, err
	}
	key, err := dpopKeyFor(md)
	if err != nil {
		return nil, err
	}
	tok, err := d.Wait(ctx, DPoPClient(c, key))
	if err != nil {
		return nil, err
	}
	return bindGrant(&Grant{Metadata: md, Registration: reg, Token: tok, Requested: scopes}, key)
}
