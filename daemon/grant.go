package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mcpauthd/mcpauthd/internal/grantfile"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// Non-interactive grants: a server configured with an ipc.GrantConfig gets
// its tokens from an oauth.Strategy instead of the browser. The session
// runs the strategy for sign-ins and to re-acquire expired tokens, so
// persistence, refresh scheduling and hand-out are those of any server.
//
// The configuration is persisted: its non-secret part (GrantConfig.Public)
// in the server's record (store.Server.Grant), its secrets
// (GrantConfig.Secrets) sealed like tokens, both in ipc.GrantConfig's
// JSON, so a restarted daemon restores the strategy in
// load and re-acquires expired tokens without a browser. A sign-out keeps
// the configuration (the next `mcpauthd login URL` runs the grant again);
// removing the server deletes it.

// SetGrant makes url's sign-ins use the grant c describes, adding url when
// new, and stores c (secrets sealed) before it takes effect. It validates c
// first (GrantConfig.Validate, then checkGrant: keys are parsed, tokens
// and secrets checked, a token file read once) and returns an ipc bad_request error naming what is
// wrong, never a secret. The grant is url's alone, and binds itself to the
// authorization server of its first sign-in (see save).
func (d *Daemon) SetGrant(url string, c *ipc.GrantConfig) error {
	if c != nil && c.Type == ipc.GrantEnterprise && c.IdPSession {
		cc := *c
		if cc.ClientID == "" {
			// The IdP's client id names mcpauthd at the server's
			// authorization server too, unless given (the ID-JAG's client_id).
			cc.ClientID = cc.IdPClientID
		}
		c = &cc
	}
	err := c.Validate()
	if err == nil {
		err = checkGrant(c)
	}
	if err != nil {
		return &ipc.Error{Code: ipc.CodeBadRequest, Message: err.Error()}
	}
	if c.Type == ipc.GrantEnterprise && c.IdPSession && c.IdPClientSecret != "" {
		// Kept once, with the company sign-in, not per server; the other
		// servers of the sign-in exchange their ID tokens with it from now on.
		i := d.idp(c.IdPIssuer, c.IdPClientID)
		if err := i.setClientSecret(context.Background(), c.IdPClientSecret); err != nil {
			return toIPC(url, err)
		}
		for _, o := range d.idpServers(i) {
			o.mu.Lock()
			raw := o.rec.Grant
			o.mu.Unlock()
			gc, err := grantOf(raw)
			var st oauth.Strategy
			if err == nil {
				st, err = d.loadStrategy(o.url, gc)
			}
			if err != nil {
				d.log.Warn("could not renew a company server's grant after its IdP client secret changed", "server", o.url, "err", err)
				continue
			}
			o.sess.SetStrategy(st)
		}
		cc := *c
		cc.IdPClientSecret = ""
		c = &cc
	}
	st, err := d.strategyFor(c)
	if err != nil {
		return &ipc.Error{Code: ipc.CodeBadRequest, Message: err.Error()}
	}
	public, err := json.Marshal(c.Public())
	if err != nil {
		return toIPC(url, err)
	}
	s, err := d.ensureServer(url)
	if err != nil {
		return toIPC(url, err)
	}
	s.mu.Lock()
	rec := s.rec
	s.mu.Unlock()
	rec.Grant = public
	if err := d.st.CommitGrant(&rec, c.Secrets()); err != nil {
		return toIPC(url, err)
	}
	s.sess.SetStrategy(st)
	s.setRecord(rec)
	d.log.Info("server uses a non-interactive grant", "server", url, "grant", st.Name())
	return nil
}

// checkGrant checks c's tokens and secrets with the rules of grantfile
// before anything is stored or sent: a JWT for the workload JWT and the ID
// token, printable text for the client secrets, at most 64 KiB each; and a
// workload JWT file must be an absolute path to a regular file holding a
// JWT now (the daemon reads it again, the same way, for every grant). The
// private key is checked by strategyFor, which parses it.
func checkGrant(c *ipc.GrantConfig) error {
	for _, v := range []struct {
		what, v string
		kind    grantfile.Kind
	}{
		{"the client secret", c.ClientSecret, grantfile.Secret},
		{"the client secret at the IdP", c.IdPClientSecret, grantfile.Secret},
		{"the workload JWT", c.Assertion, grantfile.JWT},
		{"the ID token", c.IDToken, grantfile.JWT},
	} {
		if v.v == "" {
			continue
		}
		if _, err := grantfile.Check(v.what, v.v, v.kind); errors.Is(err, grantfile.ErrExpired) {
			return fmt.Errorf("%w: give a fresh one", err)
		} else if err != nil {
			return err
		}
	}
	if f := c.AssertionFile; f != "" { // absolute: Validate
		if _, err := grantfile.Read(f, grantfile.JWT); err != nil {
			return fmt.Errorf("the workload JWT file: %w", err)
		}
	}
	return nil
}

// grantOf decodes a server record's grant (GrantConfig.Public).
func grantOf(raw json.RawMessage) (*ipc.GrantConfig, error) {
	var gc ipc.GrantConfig
	if err := json.Unmarshal(raw, &gc); err != nil {
		return nil, fmt.Errorf("the stored grant configuration: %w", err)
	}
	return &gc, nil
}

// loadStrategy rebuilds the Strategy of a server record's grant gc (its
// public part, see grantOf), reading its sealed secrets.
func (d *Daemon) loadStrategy(url string, gc *ipc.GrantConfig) (oauth.Strategy, error) {
	var sec ipc.GrantConfig
	if err := d.st.GetGrantSecrets(url, &sec); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	c := gc.Join(&sec)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("the stored grant configuration: %w", err)
	}
	return d.strategyFor(c)
}

// strategyFor builds the engine's Strategy from c, which Validate accepted.
// An enterprise grant with IdPSession takes its ID token from the company
// sign-in (idp.go).
func (d *Daemon) strategyFor(c *ipc.GrantConfig) (oauth.Strategy, error) {
	client := oauth.ClientAuth{ClientID: c.ClientID, ClientSecret: c.ClientSecret, SigningAlg: c.SigningAlg, Issuer: c.ClientIssuer}
	if c.PrivateKey != "" {
		k, err := oauth.ParsePrivateKey([]byte(c.PrivateKey))
		if err != nil {
			return nil, err
		}
		client.PrivateKey = k
	}
	switch c.Type {
	case ipc.GrantClientCredentials:
		return &oauth.ClientCredentials{Client: client}, nil
	case ipc.GrantJWTBearer:
		// The JWT is checked before every grant, so an expired or replaced
		// one is refused here rather than sent.
		assertion, file := c.Assertion, c.AssertionFile
		return &oauth.JWTBearer{Client: client, Assertion: func(context.Context) (string, error) {
			if file == "" {
				return grantfile.Check("the workload JWT", assertion, grantfile.JWT)
			}
			return grantfile.Read(file, grantfile.JWT)
		}}, nil
	case ipc.GrantEnterprise:
		idToken := c.IDToken
		source := func(context.Context) (string, error) { return grantfile.Check("the ID token", idToken, grantfile.JWT) }
		secret := c.IdPClientSecret
		if c.IdPSession {
			i := d.idp(c.IdPIssuer, c.IdPClientID)
			source = i.idToken
			// The client secret at the IdP is the session's (SetGrant moved
			// it there), for the token exchange as for the sign-in.
			sec, err := i.secrets()
			if err != nil {
				return nil, err
			}
			secret = sec.ClientSecret
		}
		return &oauth.Enterprise{
			IdPIssuer: c.IdPIssuer, IdPTokenEndpoint: c.IdPTokenEndpoint,
			IdPClientID: c.IdPClientID, IdPClientSecret: secret,
			IDToken: source,
			Client:  client,
		}, nil
	default:
		return nil, c.Validate() // an unknown type
	}
}
