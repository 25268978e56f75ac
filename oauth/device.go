package oauth

import (
	"context"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// grantDevice is the RFC 8628 grant type, registered when the authorization
// server offers the device authorization grant.
const grantDevice = "urn:ietf:params:oauth:grant-type:device_code"

// DevicePresenter decides whether a sign-in uses the device authorization
// grant (where the authorization server offers it) and shows the user where
// to go and which code to enter.
type DevicePresenter interface {
	// UseDevice reports whether the sign-in running under ctx wants the
	// device grant rather than the browser.
	UseDevice(ctx context.Context) bool
	// Present shows d to the user and returns; the Flow then polls.
	Present(ctx context.Context, d *DeviceAuthorization) error
}

// DeviceAuthorization is an RFC 8628 device authorization in flight. The
// device code it holds is a secret; the user code is meant to be shown.
type DeviceAuthorization struct {
	VerificationURI         string
	VerificationURIComplete string // may be empty
	UserCode                string
	Expiry                  time.Time
	Scopes                  []string

	resp *oauth2.DeviceAuthResponse
	md   *Metadata
	reg  *Registration
}

// StartDevice asks md's authorization server for a device authorization,
// with the resource indicator and scopes.
func StartDevice(ctx context.Context, c *http.Client, md *Metadata, reg *Registration, scopes []string) (*DeviceAuthorization, error) {
	ctx = withServer(ctx, md.ServerURL) // the network policy: loopback only for a local server
	if md.DeviceAuthorizationEndpoint == "" {
		return nil, newErr("authorization", CheckAuthorization, md.Issuer, "the authorization server does not offer the device authorization grant")
	}
	cfg := deviceConfig(md, reg, scopes)
	resp, err := cfg.DeviceAuth(withClient(ctx, c), resourceOption(md)...)
	if err != nil {
		return nil, tokenErr("authorization", md.DeviceAuthorizationEndpoint, err, reg.ClientSecret)
	}
	if resp.UserCode == "" || resp.VerificationURI == "" {
		return nil, newErr("authorization", CheckAuthorization, md.DeviceAuthorizationEndpoint, "device authorization response lacks user_code or verification_uri")
	}
	for _, u := range []string{resp.VerificationURI, resp.VerificationURIComplete} {
		if u != "" {
			if err := checkEndpoint("authorization", "verification_uri", u); err != nil {
				return nil, err
			}
		}
	}
	return &DeviceAuthorization{
		VerificationURI:         resp.VerificationURI,
		VerificationURIComplete: resp.VerificationURIComplete,
		UserCode:                resp.UserCode,
		Expiry:                  resp.Expiry,
		Scopes:                  scopes,
		resp:                    resp,
		md:                      md,
		reg:                     reg,
	}, nil
}

// Wait polls the token endpoint (at the interval the server asked for,
// slowing down when told) until the user approves, refuses, the code
// expires, or ctx ends. With a DPoPClient the polls carry proofs and a
// DPoP-bound token is accepted.
func (d *DeviceAuthorization) Wait(ctx context.Context, c *http.Client) (*Token, error) {
	ctx = withServer(ctx, d.md.ServerURL) // the network policy: loopback only for a local server
	cfg := deviceConfig(d.md, d.reg, d.Scopes)
	tok, err := cfg.DeviceAccessToken(withClient(ctx, d.md.Quirk.client(c)), d.resp, resourceOption(d.md)...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, tokenErr("token", d.md.AuthServer.TokenEndpoint, err, d.resp.DeviceCode, d.reg.ClientSecret)
	}
	t, err := newTokenFrom(tok, d.Scopes, d.md.AuthServer.TokenEndpoint, sendsProofs(c))
	if err != nil {
		return nil, err
	}
	return d.md.Quirk.finish(t, d.md.AuthServer.TokenEndpoint)
}

func deviceConfig(md *Metadata, reg *Registration, scopes []string) *oauth2.Config {
	cfg := oauthConfig(md, reg, "", scopes)
	cfg.Endpoint.DeviceAuthURL = md.DeviceAuthorizationEndpoint
	return cfg
}
