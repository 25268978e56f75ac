package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// TokenFor is Token for a full ipc.TokenRequest: it hands out r.URL's token
// as Token does and, when the token is DPoP-bound (RFC 9449), says so
// (TokenType "DPoP", the key's thumbprint) and signs a proof for the request
// r.DPoP describes. The DPoP key never leaves the daemon; a proof is only
// signed for a request to the server's own origin. For a server whose
// tokens are not DPoP-bound r.DPoP is ignored, wherever it points: a proxy
// describes every request, also to an endpoint other than the canonical
// resource (mcpauthd proxy --resource).
//
// The token is that of the account accountFor picks: r.Account, else the
// server's default account.
func (d *Daemon) TokenFor(ctx context.Context, r *ipc.TokenRequest, caller ipc.Peer) (*ipc.TokenResponse, error) {
	return d.tokenFor(ctx, r, caller, "")
}

// tokenFor is TokenFor for a caller that is app of the reverse proxy
// ("" for none), whose account it gets unless r names one.
func (d *Daemon) tokenFor(ctx context.Context, r *ipc.TokenRequest, caller ipc.Peer, app string) (*ipc.TokenResponse, error) {
	s, err := d.signIn(r.URL, r.Account, app, caller)
	if err != nil {
		return nil, err
	}
	if err := d.approve(ctx, r.URL, caller); err != nil {
		return nil, err
	}
	if r.DPoP != nil && !oauth.SameOrigin(r.DPoP.URL, r.URL) {
		if g := s.sess.Grant(); g != nil && g.DPoPKey != nil {
			return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "a DPoP proof is only signed for requests to " + r.URL}
		}
		r = &ipc.TokenRequest{URL: r.URL, MinValid: r.MinValid} // nothing to sign
	}
	resp, g, err := d.token(ctx, s, time.Duration(r.MinValid), caller)
	var ie *ipc.Error
	if errors.As(err, &ie) && ie.Code == ipc.CodeNeedsSignIn && ie.SignInAccount == "" {
		ie.SignInAccount = s.account // the command that signs in names the account
	}
	if err != nil {
		return nil, err
	}
	if g == nil || g.DPoPKey == nil {
		return resp, nil
	}
	resp.TokenType, resp.DPoPKeyThumbprint = oauth.DPoPScheme, g.DPoPKey.Thumbprint()
	if r.DPoP != nil {
		cred, err := oauth.CredentialFor(g, r.DPoP.Method, r.DPoP.URL, r.DPoP.Nonce)
		if err != nil {
			return nil, toIPC(r.URL, err)
		}
		resp.DPoPProof = cred.Proof
	}
	return resp, nil
}

// tokenType is the token_type to hand out for g's token.
func tokenType(g *oauth.Grant) string {
	if g.Token.TokenType == oauth.DPoPScheme && g.DPoPKey != nil {
		return oauth.DPoPScheme
	}
	return "Bearer"
}
