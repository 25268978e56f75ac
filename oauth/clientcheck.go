package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"

	"golang.org/x/oauth2"
)

// CheckClient asks md's token endpoint whether it still knows reg: an
// authorization server that forgot a client (it restarted, or the
// registration expired) shows the browser an error and does not redirect
// back (RFC 6749 §4.1.2.1), so a sign-in would wait for its timeout. The
// flow runs it while the browser step has not come back after
// ClientCheckDelay.
//
// It redeems a random authorization code that was never issued, with the
// client's credentials and a fresh PKCE verifier: a server that does not
// know the client answers invalid_client (RFC 6749 §5.2), one that does
// answers invalid_grant. Only the first is reported (as ErrInvalidClient);
// every other answer, a network error included, is nil — the sign-in goes
// on and finds out the usual way. Nothing is learnt from, or kept of, a
// server that redeems a code it never issued.
func CheckClient(ctx context.Context, c *http.Client, md *Metadata, reg *Registration, redirectURI string) error {
	_, err := oauthConfig(md, reg, redirectURI, nil).Exchange(withClient(ctx, c), rand.Text(),
		oauth2.VerifierOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("resource", md.Resource))
	if err == nil {
		return nil
	}
	if err := tokenErr("client check", md.AuthServer.TokenEndpoint, err, reg.ClientSecret); errors.Is(err, ErrInvalidClient) {
		return err
	}
	return nil
}
