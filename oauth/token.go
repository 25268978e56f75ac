package oauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// Token is a token response. AccessToken, RefreshToken and IDToken are
// secrets: callers keep them in the secret store and never log them.
type Token struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	IDToken      string    `json:"id_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// Obtained is when the token response arrived (zero when unknown).
	Obtained time.Time `json:"obtained,omitzero"`
	// Scopes granted: the response's scope, else the scopes requested
	// (RFC 6749 §5.1: an absent scope means "as requested").
	Scopes []string `json:"scopes,omitempty"`
}

// Margin caps want at half the token's lifetime. A margin as long as the
// lifetime would make every fresh token look due at once: the refresh
// timer and the default hand-out margin use it so that short-lived tokens
// are refreshed at mid-life rather than back to back. Without a known
// lifetime, want is returned.
func (t *Token) Margin(want time.Duration) time.Duration {
	if t == nil || t.Obtained.IsZero() || t.Expiry.IsZero() {
		return want
	}
	return min(want, t.Expiry.Sub(t.Obtained)/2)
}

// Valid reports whether the token has an access token that is still valid
// for at least margin.
func (t *Token) Valid(margin time.Duration) bool {
	return t != nil && t.AccessToken != "" && (t.Expiry.IsZero() || time.Until(t.Expiry) > margin)
}

// newTokenFrom is newToken for a request that may have carried a DPoP
// proof (proofSent): only then is a DPoP token_type acceptable.
func newTokenFrom(t *oauth2.Token, requested []string, endpoint string, proofSent bool) (*Token, error) {
	if t.AccessToken == "" {
		return nil, newErr("token", CheckToken, endpoint, "token response has no access_token")
	}
	// RFC 6749 Appendix A.12, A.17: tokens are printable ASCII. Anything
	// else (an escape sequence for the terminal `mcpauthd token` prints
	// to, a line break for a header) is refused, not passed on.
	if !vschar(t.AccessToken) || !vschar(t.RefreshToken) {
		return nil, newErr("token", CheckToken, endpoint, "token response has a token with characters RFC 6749 does not allow (only printable ASCII)")
	}
	tt := t.Type()
	switch {
	case strings.EqualFold(tt, "bearer"):
		tt = "Bearer"
	case strings.EqualFold(tt, DPoPScheme) && proofSent:
		// RFC 9449 §5: a DPoP-bound token; only issued when the request
		// carried a proof, so the grant holds the key it is bound to.
		tt = DPoPScheme
	default:
		return nil, newErr("token", CheckToken, endpoint, "token response has token_type %q; only Bearer (and DPoP, after a DPoP proof) is supported", clip(tt))
	}
	out := &Token{
		AccessToken:  t.AccessToken,
		TokenType:    tt,
		RefreshToken: t.RefreshToken,
		Expiry:       t.Expiry,
		Obtained:     time.Now(),
		Scopes:       requested,
	}
	if s, ok := t.Extra("scope").(string); ok && s != "" {
		out.Scopes = strings.Fields(s)
	}
	if id, ok := t.Extra("id_token").(string); ok {
		out.IDToken = id
	}
	return out, nil
}

// vschar reports whether s is only RFC 6749 VSCHARs (0x20–0x7E).
func vschar(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// withClient hands c to x/oauth2 with its answers bounded at
// budget.TokenAnswer: a larger one fails with an error naming the endpoint
// and the limit (x/oauth2 would silently cut it at 1 MiB).
func withClient(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, tokenClient(c))
}

// tokenClient is c with its answers bounded at budget.TokenAnswer, for
// every token endpoint request.
func tokenClient(c *http.Client) *http.Client {
	bc := *c
	bc.Transport = budget.Answers(transportOf(c), budget.TokenAnswer, "token answer")
	return &bc
}

// tokenErr turns an x/oauth2 error into an engine error without the response
// body (which x/oauth2 puts in its error text and which may echo secrets).
// The authorization server's error_description is kept for the user, with
// any of secrets it echoes (the code, the refresh token, the client secret)
// blanked out.
func tokenErr(step, endpoint string, err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		check := CheckToken
		switch re.ErrorCode {
		case "invalid_grant":
			check = CheckInvalidGrant
		case "invalid_request":
			if step == "refresh" && deadRefresh(re.ErrorCode, re.ErrorDescription) {
				check = CheckInvalidGrant // the refresh token is dead, in other words
			}
		case "invalid_client", "unauthorized_client":
			check = CheckInvalidClient
		}
		status := ""
		if re.Response != nil {
			status = re.Response.Status
		}
		if re.ErrorCode == "" {
			return newErr(step, check, endpoint, "token endpoint answered %s", status)
		}
		return newErr(step, check, endpoint, "token endpoint refused: %s %s",
			clip(redact(re.ErrorCode, secrets)), clip(redact(re.ErrorDescription, secrets)))
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return netErr(step, endpoint, err)
	}
	return wrapErr(step, CheckToken, endpoint, err, "token request failed")
}

// Refresh redeems refreshToken for a new access token at md's authorization
// server, sending the resource indicator. The returned token always carries
// the refresh token to keep: the rotated one when the server issued one,
// else refreshToken itself. The caller must persist it before handing out
// the access token.
func Refresh(ctx context.Context, c *http.Client, md *Metadata, reg *Registration, refreshToken string, scopes []string) (*Token, error) {
	ctx = withServer(ctx, md.ServerURL) // the network policy: loopback only for a local server
	if refreshToken == "" {
		return nil, newErr("refresh", CheckInvalidGrant, md.AuthServer.TokenEndpoint, "no refresh token is stored; sign in again")
	}
	cfg := oauthConfig(md, reg, "", nil)
	// x/oauth2 offers no way to add parameters to a refresh request; the
	// spec wants resource on every token request, and a private_key_jwt
	// client authenticates every one with a new assertion (RFC 7523 §2.2),
	// so a transport adds them.
	add := url.Values{}
	if p := md.Quirk.resourceParam(); p != "" && md.Resource != "" {
		add.Set(p, md.Resource)
	}
	var assertion string
	if reg.AuthMethod == AuthPrivateKeyJWT {
		if reg.auth == nil || reg.auth.PrivateKey == nil {
			return nil, newErr("refresh", CheckGrantConfig, md.AuthServer.TokenEndpoint, "the client authenticates with private_key_jwt but its private key is not at hand; sign in again")
		}
		var err error
		if assertion, err = reg.auth.addAssertion(add, md); err != nil {
			return nil, err
		}
	}
	rc := *md.Quirk.client(c)
	if len(add) > 0 {
		rc.Transport = &formParam{base: transportOf(&rc), grant: "refresh_token", add: add}
	}
	tok, err := cfg.TokenSource(withClient(ctx, &rc), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return nil, tokenErr("refresh", md.AuthServer.TokenEndpoint, err, refreshToken, reg.ClientSecret, assertion)
	}
	t, err := newTokenFrom(tok, scopes, md.AuthServer.TokenEndpoint, sendsProofs(c))
	if err != nil {
		return nil, err
	}
	return md.Quirk.finish(t, md.AuthServer.TokenEndpoint)
}

// redact blanks every occurrence of the given secrets in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// formParam adds the parameters of add that a form-encoded token request
// of one grant type does not have already.
type formParam struct {
	base  http.RoundTripper
	grant string
	add   url.Values
}

func (f *formParam) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || !strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return f.base.RoundTrip(req)
	}
	body, err := budget.RequestBody(req, budget.Replay, "token request")
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err == nil && form.Get("grant_type") == f.grant {
		for k, v := range f.add {
			if !form.Has(k) {
				form[k] = v
			}
		}
		body = []byte(form.Encode())
	}
	r2 := req.Clone(req.Context())
	budget.SetRequestBody(r2, body)
	return f.base.RoundTrip(r2)
}

// Revoke asks md's authorization server to revoke token (RFC 7009), with
// hint "refresh_token" or "access_token". It reports false when the server
// offers no revocation endpoint; then nothing was sent.
func Revoke(ctx context.Context, c *http.Client, md *Metadata, reg *Registration, token, hint string) (bool, error) {
	ctx = withServer(ctx, md.ServerURL) // the network policy: loopback only for a local server
	ep := md.AuthServer.RevocationEndpoint
	if ep == "" || token == "" {
		return false, nil
	}
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	if reg.AuthMethod != AuthBasic {
		form.Set("client_id", reg.ClientID)
		if reg.AuthMethod == AuthPost {
			form.Set("client_secret", reg.ClientSecret)
		}
	}
	if reg.AuthMethod == AuthPrivateKeyJWT && reg.auth != nil && reg.auth.PrivateKey != nil {
		if _, err := reg.auth.addAssertion(form, md); err != nil {
			return false, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep, strings.NewReader(form.Encode()))
	if err != nil {
		return false, newErr("revocation", CheckRevocation, ep, "cannot build request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if reg.AuthMethod == AuthBasic {
		req.SetBasicAuth(url.QueryEscape(reg.ClientID), url.QueryEscape(reg.ClientSecret))
	}
	res, err := c.Do(req)
	if err != nil {
		return false, netErr("revocation", ep, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, budget.ErrorBody))
	if res.StatusCode != http.StatusOK {
		return false, newErr("revocation", CheckRevocation, ep, "revocation endpoint answered %s", res.Status)
	}
	return true, nil
}
