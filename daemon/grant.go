package daemon

import (
	"context"
	"fmt"
	"os"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// Non-interactive grants: a server configured with an ipc.GrantConfig gets
// its tokens from an oauth.Strategy instead of the browser. The session
// runs the strategy for sign-ins and to re-acquire expired tokens, so
// persistence, refresh scheduling and hand-out are those of any server.
//
// The configuration is kept in memory: a restarted daemon needs the
// `mcpauthd login --client-credentials …` again (persisting it, secrets
// sealed, is the next step).

// SetGrant makes url's sign-ins use the grant c describes, adding url when
// new. It validates c (keys are parsed, files are not read yet) and returns
// an ipc bad_request error naming what is wrong, never a secret.
func (d *Daemon) SetGrant(url string, c *ipc.GrantConfig) error {
	st, err := strategyFor(c)
	if err != nil {
		return &ipc.Error{Code: ipc.CodeBadRequest, Message: err.Error()}
	}
	s, err := d.ensureServer(url)
	if err != nil {
		return toIPC(url, err)
	}
	s.sess.Strategy = st
	d.log.Info("server uses a non-interactive grant", "server", url, "grant", st.Name())
	return nil
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
