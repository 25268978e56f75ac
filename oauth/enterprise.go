package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Enterprise is enterprise-managed authorization (SEP-990, the MCP extension
// io.modelcontextprotocol/enterprise-managed-authorization): the user's ID
// token from the enterprise IdP is exchanged at the IdP for an Identity
// Assertion JWT Authorization Grant (ID-JAG, RFC 8693 token exchange), which
// the MCP server's authorization server redeems in a JWT-bearer grant
// (RFC 7523) for an access token. No browser is involved once the user holds
// an ID token.
//
// The token exchange is the go-sdk's oauthex.ExchangeToken. The go-sdk's
// extauth.EnterpriseHandler is not used whole: its JWT-bearer step always
// sends the client credentials in the form (client_secret_post) and omits
// the resource indicator, while authorization servers may require
// client_secret_basic or private_key_jwt (the conformance suite's does); so
// the JWT-bearer step is ClientAuth's token request, shared with the other
// grants.
type Enterprise struct {
	// IdPIssuer is the enterprise IdP's issuer; its token endpoint is found
	// by metadata discovery unless IdPTokenEndpoint is set.
	IdPIssuer        string
	IdPTokenEndpoint string
	// IdPClientID and IdPClientSecret are mcpauthd's client at the IdP; the
	// secret is optional (public clients) and a secret.
	IdPClientID     string
	IdPClientSecret string
	// IDToken returns the user's ID token from the IdP (for example from
	// extauth.PerformOIDCLogin, or a token the user supplied). It is a
	// secret.
	IDToken func(ctx context.Context) (string, error)
	// Client is mcpauthd's client at the MCP server's authorization server.
	Client ClientAuth
}

// Name implements Strategy: "enterprise".
func (s *Enterprise) Name() string { return "enterprise" }

// Registration implements Strategy: mcpauthd's client at the MCP server's
// authorization server (not the IdP's).
func (s *Enterprise) Registration(md *Metadata) *Registration { return s.Client.registration(md) }

// Obtain implements Strategy.
func (s *Enterprise) Obtain(ctx context.Context, c *http.Client, md *Metadata, scopes []string) (*Token, *Registration, error) {
	ctx = withServer(ctx, md.ServerURL) // the network policy: loopback only for a local server
	if err := s.Client.check("token", md); err != nil {
		return nil, nil, err
	}
	if s.IDToken == nil || s.IdPClientID == "" || (s.IdPIssuer == "" && s.IdPTokenEndpoint == "") {
		return nil, nil, newErr("token", CheckGrantConfig, md.Issuer, "enterprise sign-in needs the IdP issuer (or token endpoint), mcpauthd's IdP client id and an ID token source")
	}
	idToken, err := s.IDToken(ctx)
	var ee *Error
	if errors.As(err, &ee) {
		return nil, nil, err // the IdP's own answer (a sign-in there that ended, say)
	}
	if err != nil {
		return nil, nil, wrapErr("token", CheckGrantConfig, s.IdPIssuer, err, "cannot get an ID token from the IdP")
	}
	ep, err := s.idpTokenEndpoint(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	creds := &oauthex.ClientCredentials{ClientID: s.IdPClientID}
	if s.IdPClientSecret != "" {
		creds.ClientSecretAuth = &oauthex.ClientSecretAuth{ClientSecret: s.IdPClientSecret}
	}
	jag, err := oauthex.ExchangeToken(ctx, ep, &oauthex.TokenExchangeRequest{
		RequestedTokenType: oauthex.TokenTypeIDJAG,
		Audience:           md.Issuer,
		Resource:           md.Resource,
		Scope:              scopes,
		SubjectToken:       idToken,
		SubjectTokenType:   oauthex.TokenTypeIDToken,
	}, creds, tokenClient(c))
	if err != nil {
		return nil, nil, tokenErr("token exchange", ep, err, idToken, s.IdPClientSecret)
	}
	if tt, _ := jag.Extra("issued_token_type").(string); tt != oauthex.TokenTypeIDJAG || jag.AccessToken == "" {
		return nil, nil, newErr("token exchange", CheckToken, ep, "the IdP issued %q, not an ID-JAG", clip(tt))
	}
	tok, err := s.Client.tokenRequest(ctx, c, "token", md, GrantJWTBearer, url.Values{"assertion": {jag.AccessToken}}, scopes)
	if err != nil {
		return nil, nil, err
	}
	return tok, s.Client.registration(md), nil
}

// OffersEnterprise reports whether md's authorization server lists the
// JWT-bearer grant (RFC 7523), with which enterprise-managed authorization
// redeems ID-JAGs, in its grant_types_supported.
func OffersEnterprise(md *Metadata) bool {
	return md != nil && md.AuthServer != nil && slices.Contains(md.AuthServer.GrantTypesSupported, GrantJWTBearer)
}

func (s *Enterprise) idpTokenEndpoint(ctx context.Context, c *http.Client) (string, error) {
	ep := s.IdPTokenEndpoint
	if ep == "" {
		// Only the token exchange: the IdP need not offer PKCE or an
		// authorization endpoint here (an interactive IdP sign-in does).
		md, err := (&IdP{Issuer: s.IdPIssuer}).Discover(ctx, c, false)
		if err != nil {
			return "", err
		}
		ep = md.AuthServer.TokenEndpoint
	}
	if err := checkEndpoint("discovery", "IdP token endpoint", ep); err != nil {
		return "", err
	}
	return strings.TrimSpace(ep), nil
}
