package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// Registration methods, in the spec's priority order.
const (
	MethodPreregistered = "preregistered"
	MethodCIMD          = "cimd"
	MethodDynamic       = "dynamic"
	// MethodImported marks another program's client (a sign-in imported
	// from mcp-remote): its tokens are refreshed and revoked with it, but a
	// new sign-in uses mcpauthd's own client.
	MethodImported = "imported"
)

// Token endpoint client authentication methods.
const (
	AuthNone   = "none"
	AuthBasic  = "client_secret_basic"
	AuthPost   = "client_secret_post"
	grantCode  = "authorization_code"
	grantRefr  = "refresh_token"
	appTypeNat = "native"
)

// Registration is a client identity at one authorization server. It is bound
// to Issuer: it must never be presented to another authorization server.
// ClientSecret is a secret; callers persist it in the secret store only.
type Registration struct {
	Issuer       string    `json:"issuer"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"-"`
	AuthMethod   string    `json:"auth_method"`
	Method       string    `json:"method"`
	RedirectURIs []string  `json:"redirect_uris,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// auth is the pre-registered client a Strategy authenticated with,
	// kept for requests that need its private key (revocation with
	// private_key_jwt); nil otherwise.
	auth *ClientAuth
}

// ClientConfig is how mcpauthd presents itself to authorization servers.
type ClientConfig struct {
	// RedirectURIs are the loopback redirect URIs registered dynamically; the
	// first is the one used in authorization requests. Required.
	RedirectURIs []string
	// ClientName and ClientURI are shown on consent pages.
	ClientName string
	ClientURI  string
	// ClientIDMetadataURL is the https URL of mcpauthd's Client ID Metadata
	// Document. Empty: CIMD is not used and dynamic registration is the
	// fallback.
	ClientIDMetadataURL string
}

// Register picks the client identity for md's authorization server, in the
// spec's order:
//
//  1. pre, pre-registered credentials given by the user (refused when bound
//     to another issuer);
//  2. stored, the registration already kept for this issuer;
//  3. a Client ID Metadata Document, when configured and the authorization
//     server advertises client_id_metadata_document_supported;
//  4. dynamic client registration, when the server has a registration endpoint.
//
// created reports whether the returned registration is new (the caller
// persists it). Register never returns a registration whose Issuer differs
// from md.Issuer.
func Register(ctx context.Context, c *http.Client, cfg ClientConfig, md *Metadata, pre, stored *Registration) (reg *Registration, created bool, err error) {
	ctx = withServer(ctx, md.ServerURL) // the network policy: loopback only for a local server
	asm := md.AuthServer
	if pre != nil {
		if pre.Issuer != "" && pre.Issuer != md.Issuer {
			return nil, false, newErr("registration", CheckClientMismatch, md.Issuer,
				"the pre-registered client id belongs to authorization server %q, but this server now uses %q; get credentials for the new one", pre.Issuer, md.Issuer)
		}
		r := *pre
		r.Issuer = md.Issuer
		r.Method = MethodPreregistered
		if r.AuthMethod == "" {
			r.AuthMethod = pickSecretMethod(r.ClientSecret, asm.TokenEndpointAuthMethodsSupported)
		}
		if r.CreatedAt.IsZero() {
			r.CreatedAt = time.Now()
		}
		return &r, stored == nil || stored.ClientID != r.ClientID, nil
	}
	if stored != nil && stored.Issuer == md.Issuer {
		return stored, false, nil
	}
	if cfg.ClientIDMetadataURL != "" && asm.ClientIDMetadataDocumentSupported {
		return &Registration{
			Issuer:       md.Issuer,
			ClientID:     cfg.ClientIDMetadataURL,
			AuthMethod:   AuthNone,
			Method:       MethodCIMD,
			RedirectURIs: cfg.RedirectURIs,
			CreatedAt:    time.Now(),
		}, true, nil
	}
	if asm.RegistrationEndpoint == "" {
		return nil, false, newErr("registration", CheckRegistration, md.Issuer,
			"the authorization server supports neither Client ID Metadata Documents nor dynamic registration; register a client with it and sign in with --client-id")
	}
	if len(cfg.RedirectURIs) == 0 {
		return nil, false, newErr("registration", CheckRegistration, md.Issuer, "no redirect URI configured")
	}
	grants := []string{grantCode, grantRefr}
	if md.DeviceAuthorizationEndpoint != "" {
		grants = append(grants, grantDevice)
	}
	meta := &oauthex.ClientRegistrationMetadata{
		RedirectURIs:            cfg.RedirectURIs,
		TokenEndpointAuthMethod: AuthNone,
		GrantTypes:              grants,
		ResponseTypes:           []string{"code"},
		ClientName:              cfg.ClientName,
		ClientURI:               cfg.ClientURI,
		ApplicationType:         appTypeNat,
	}
	rc := *c
	rc.Transport = jwksObjectFix{transportOf(c)}
	res, err := oauthex.RegisterClient(ctx, asm.RegistrationEndpoint, meta, &rc)
	if err != nil {
		var rerr *oauthex.ClientRegistrationError
		if errors.As(err, &rerr) {
			return nil, false, newErr("registration", CheckRegistration, asm.RegistrationEndpoint,
				"authorization server refused dynamic registration: %s %s", rerr.ErrorCode, rerr.ErrorDescription)
		}
		return nil, false, wrapErr("registration", CheckRegistration, asm.RegistrationEndpoint, registrationCause(err), "dynamic registration failed")
	}
	method := res.TokenEndpointAuthMethod
	if method == "" || (method == AuthNone && res.ClientSecret != "") {
		method = pickSecretMethod(res.ClientSecret, asm.TokenEndpointAuthMethodsSupported)
	}
	switch method {
	case AuthNone, AuthBasic, AuthPost:
	default:
		return nil, false, newErr("registration", CheckRegistration, asm.RegistrationEndpoint,
			"authorization server assigned token endpoint auth method %q, which mcpauthd does not support", method)
	}
	return &Registration{
		Issuer:       md.Issuer,
		ClientID:     res.ClientID,
		ClientSecret: res.ClientSecret,
		AuthMethod:   method,
		Method:       MethodDynamic,
		RedirectURIs: cfg.RedirectURIs,
		CreatedAt:    time.Now(),
	}, true, nil
}

// pickSecretMethod chooses how to present a client secret at the token
// endpoint: none without a secret; else client_secret_basic when advertised
// or when nothing is advertised (RFC 8414's default), else client_secret_post.
func pickSecretMethod(secret string, supported []string) string {
	switch {
	case secret == "":
		return AuthNone
	case len(supported) == 0 || slices.Contains(supported, AuthBasic):
		return AuthBasic
	case slices.Contains(supported, AuthPost):
		return AuthPost
	default:
		return AuthBasic
	}
}

// registrationCause keeps the first clause of an oauthex registration error:
// the library appends the response body, which on a garbled success response
// can contain the issued client secret.
func registrationCause(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, " ("); i >= 0 {
		msg = msg[:i]
	}
	if strings.HasPrefix(msg, "registration failed with status") || strings.HasPrefix(msg, "failed to decode") {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[:i]
		}
	}
	return plainError(msg)
}

// jwksObjectFix works around a decoding bug in the Go SDK v1.8.0:
// oauthex.ClientRegistrationResponse declares jwks as a string, but RFC 7591
// §2 defines it as a JSON object, and real servers (Ory Hydra) answer
// "jwks": {}. Such a registration response would fail to decode as a
// whole; mcpauthd never uses the client's own jwks, so an object-valued
// jwks is dropped from successful registration responses before the SDK
// decodes them. A successful answer that is not a JSON object (JSON null,
// on which the SDK's decoder panics, among them) becomes an empty object. Everything else passes through
// untouched.
type jwksObjectFix struct{ base http.RoundTripper }

func (f jwksObjectFix) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := f.base.RoundTrip(req)
	if err != nil || res.StatusCode/100 != 2 {
		return res, err
	}
	body, err := budget.ResponseBody(res, budget.Registration, "registration answer")
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		// Not a JSON object. The SDK v1.8.0 decodes only the first JSON value
		// of the body, and on a leading null ("null", "null0")
		// ClientRegistrationResponse.UnmarshalJSON dereferences a nil pointer
		// and panics (found by FuzzRegister). An empty object decodes, and
		// fails as "missing client_id".
		body = []byte("{}")
	} else if json.Unmarshal(body, &fields) == nil && fields != nil {
		if j, ok := fields["jwks"]; ok && len(bytes.TrimSpace(j)) > 0 && bytes.TrimSpace(j)[0] == '{' {
			delete(fields, "jwks")
			if b, err := json.Marshal(fields); err == nil {
				body = b
			}
		}
	}
	budget.SetResponseBody(res, body)
	return res, nil
}
