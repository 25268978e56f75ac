package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// Non-interactive grants: a server configured with an ipc.GrantConfig gets
// its tokens from an oauth.Strategy instead of the browser. The session
// runs the strategy for sign-ins and to re-acquire expired tokens, so
// persistence, refresh scheduling and hand-out are those of any server.
//
// The configuration is persisted: its non-secret part in the server's
// record (store.Server.Grant), its secrets sealed like tokens
// (store.GrantSecrets), so a restarted daemon restores the strategy in
// load and re-acquires expired tokens without a browser. A sign-out keeps
// the configuration (the next `mcpauthd login URL` runs the grant again);
// removing the server deletes it.

// SetGrant makes url's sign-ins use the grant c describes, adding url when
// new, and stores c (secrets sealed) before it takes effect. It validates c
// (keys are parsed, files are not read yet) and returns an ipc bad_request
// error naming what is wrong, never a secret.
func (d *Daemon) SetGrant(url string, c *ipc.GrantConfig) error {
	st, err := strategyFor(c)
	if err != nil {
		return &ipc.Error{Code: ipc.CodeBadRequest, Message: err.Error()}
	}
	s, err := d.ensureServer(url)
	if err != nil {
		return toIPC(url, err)
	}
	gc, sec := splitGrant(c)
	s.mu.Lock()
	rec := s.rec
	s.mu.Unlock()
	rec.Grant = gc
	if err := d.st.CommitGrant(&rec, sec); err != nil {
		return toIPC(url, err)
	}
	s.sess.SetStrategy(st)
	s.setRecord(rec)
	d.log.Info("server uses a non-interactive grant", "server", url, "grant", st.Name())
	return nil
}

// splitGrant separates c into the part kept in the server's record and the
// secrets kept sealed.
func splitGrant(c *ipc.GrantConfig) (*store.GrantConfig, *store.GrantSecrets) {
	return &store.GrantConfig{
			Type: c.Type, ClientID: c.ClientID, SigningAlg: c.SigningAlg, ClientIssuer: c.ClientIssuer,
			AssertionFile: c.AssertionFile, IdPIssuer: c.IdPIssuer, IdPTokenEndpoint: c.IdPTokenEndpoint, IdPClientID: c.IdPClientID,
		}, &store.GrantSecrets{
			ClientSecret: c.ClientSecret, PrivateKey: c.PrivateKey, Assertion: c.Assertion,
			IdPClientSecret: c.IdPClientSecret, IDToken: c.IDToken,
		}
}

// joinGrant is the inverse of splitGrant.
func joinGrant(gc *store.GrantConfig, sec *store.GrantSecrets) *ipc.GrantConfig {
	return &ipc.GrantConfig{
		Type: gc.Type, ClientID: gc.ClientID, SigningAlg: gc.SigningAlg, ClientIssuer: gc.ClientIssuer,
		AssertionFile: gc.AssertionFile, IdPIssuer: gc.IdPIssuer, IdPTokenEndpoint: gc.IdPTokenEndpoint, IdPClientID: gc.IdPClientID,
		ClientSecret: sec.ClientSecret, PrivateKey: sec.PrivateKey, Assertion: sec.Assertion,
		IdPClientSecret: sec.IdPClientSecret, IDToken: sec.IDToken,
	}
}

// loadStrategy rebuilds the Strategy of a stored grant configuration,
// reading its sealed secrets.
func (d *Daemon) loadStrategy(url string, gc *store.GrantConfig) (oauth.Strategy, error) {
	sec, err := d.st.GetGrantSecrets(url)
	if errors.Is(err, store.ErrNotFound) {
		sec, err = &store.GrantSecrets{}, nil
	}
	if err != nil {
		return nil, err
	}
	return strategyFor(joinGrant(gc, sec))
}

// strategyFor builds the engine's Strategy from c.
func strategyFor(c *ipc.GrantConfig) (oauth.Strategy, error) {
	if c == nil {
		return nil, fmt.Errorf("no grant configured")
	}
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
		if c.ClientID == "" || (c.ClientSecret == "" && c.PrivateKey == "") {
			return nil, fmt.Errorf("client_credentials needs a client id and a client secret or private key")
		}
		return &oauth.ClientCredentials{Client: client}, nil
	case ipc.GrantJWTBearer:
		if c.Assertion == "" && c.AssertionFile == "" {
			return nil, fmt.Errorf("jwt_bearer needs the workload JWT or a file holding it")
		}
		assertion, file := c.Assertion, c.AssertionFile
		return &oauth.JWTBearer{Client: client, Assertion: func(context.Context) (string, error) {
			if file == "" {
				return assertion, nil
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return "", fmt.Errorf("reading the workload JWT file %s: %w", file, err)
			}
			return string(b), nil
		}}, nil
	case ipc.GrantEnterprise:
		if c.IDToken == "" {
			return nil, fmt.Errorf("enterprise needs the user's ID token from the IdP")
		}
		idToken := c.IDToken
		return &oauth.Enterprise{
			IdPIssuer: c.IdPIssuer, IdPTokenEndpoint: c.IdPTokenEndpoint,
			IdPClientID: c.IdPClientID, IdPClientSecret: c.IdPClientSecret,
			IDToken: func(context.Context) (string, error) { return idToken, nil },
			Client:  client,
		}, nil
	default:
		return nil, fmt.Errorf("unknown grant type %q (want %s, %s or %s)", c.Type, ipc.GrantClientCredentials, ipc.GrantJWTBearer, ipc.GrantEnterprise)
	}
}
