package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/internal/grantfile"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Strategy is a way to obtain tokens without a browser: a grant other than
// the authorization code, chosen per server from the user's configuration
// (ClientCredentials, JWTBearer, Enterprise). The Flow discovers the server
// and selects scopes as for any sign-in, then hands the token request to the
// strategy; the Session calls it again to re-acquire a token when the
// current one expires without a (usable) refresh token. So refresh,
// persistence and hand-out stay one code path for every grant.
//
// Obtain makes one grant and never retries a refused one: the error goes
// back to the caller (a refused assertion or secret does not improve by
// being sent again, and the Flow does not fall back to another grant).
// Implementations must be safe for concurrent use.
type Strategy interface {
	// Name is the grant's configuration name: "client_credentials",
	// "jwt_bearer" or "enterprise".
	Name() string
	// Obtain runs the grant at md's authorization server asking for
	// scopes. c adds DPoP proofs when the tokens are to be DPoP-bound. The
	// Registration returned is the client identity used (kept in the grant
	// for refresh and revocation; its ClientSecret is a secret).
	Obtain(ctx context.Context, c *http.Client, md *Metadata, scopes []string) (*Token, *Registration, error)
	// Registration is the client identity the grant authenticates with at
	// md's authorization server, the Registration Obtain returns, without
	// running the grant: for a grant rebuilt from storage (a restarted
	// daemon) to refresh and revoke its tokens.
	Registration(md *Metadata) *Registration
}

// Grant type URNs.
const (
	GrantClientCredentials = "client_credentials"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// AuthPrivateKeyJWT is RFC 7523 §2.2 client authentication.
	AuthPrivateKeyJWT  = "private_key_jwt"
	clientAssertionJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// ClientAuth is a pre-registered client and how it authenticates at a
// token endpoint. ClientSecret and PrivateKey are secrets.
type ClientAuth struct {
	ClientID string
	// ClientSecret, for client_secret_basic or client_secret_post.
	ClientSecret string
	// PrivateKey, for private_key_jwt (RFC 7523 §2.2): ECDSA (ES256/384/512),
	// RSA (RS256) or Ed25519 (EdDSA). See ParsePrivateKey.
	PrivateKey crypto.Signer
	// SigningAlg overrides the JWS algorithm derived from PrivateKey (for
	// example PS256 or RS384 for an RSA key).
	SigningAlg string
	// Method forces a token endpoint auth method; "" chooses: private_key_jwt
	// with a key, client_secret_basic (or _post when that is all the server
	// lists) with a secret, none otherwise.
	Method string
	// Issuer, when set, binds the credentials to one authorization server:
	// a server whose authorization server is another is refused.
	Issuer string
}

func (a *ClientAuth) method(md *Metadata) string {
	switch {
	case a.Method != "":
		return a.Method
	case a.PrivateKey != nil:
		return AuthPrivateKeyJWT
	case a.ClientSecret != "":
		var listed []string
		if md.AuthServer != nil {
			listed = md.AuthServer.TokenEndpointAuthMethodsSupported
		}
		for _, m := range listed {
			if m == AuthBasic {
				return AuthBasic
			}
		}
		for _, m := range listed {
			if m == AuthPost {
				return AuthPost
			}
		}
		return AuthBasic
	default:
		return AuthNone
	}
}

// check validates a against md before anything is sent.
func (a *ClientAuth) check(step string, md *Metadata) error {
	if a.ClientID == "" {
		return newErr(step, CheckGrantConfig, md.Issuer, "no client id is configured")
	}
	if a.Issuer != "" && a.Issuer != md.Issuer {
		return newErr(step, CheckClientMismatch, md.Issuer, "the client credentials are for the authorization server %q, not this server's %q", a.Issuer, md.Issuer)
	}
	switch m := a.method(md); m {
	case AuthBasic, AuthPost:
		if a.ClientSecret == "" {
			return newErr(step, CheckGrantConfig, md.Issuer, "%s needs a client secret", m)
		}
	case AuthPrivateKeyJWT:
		if a.PrivateKey == nil {
			return newErr(step, CheckGrantConfig, md.Issuer, "private_key_jwt needs a private key")
		}
	case AuthNone:
	default:
		return newErr(step, CheckGrantConfig, md.Issuer, "unknown token endpoint auth method %q", clip(m))
	}
	return nil
}

func (a *ClientAuth) registration(md *Metadata) *Registration {
	return &Registration{
		Issuer: md.Issuer, ClientID: a.ClientID, ClientSecret: a.ClientSecret,
		AuthMethod: a.method(md), Method: MethodPreregistered, CreatedAt: time.Now(), auth: a,
	}
}

// tokenRequest sends one token request for grantType with params (plus
// resource, RFC 8707) and scopes, authenticated as a, and returns the token.
// It uses x/oauth2's clientcredentials.Config, which lets grant_type be
// overridden, so every non-interactive grant goes through one request path
// without an empty code parameter.
func (a *ClientAuth) tokenRequest(ctx context.Context, c *http.Client, step string, md *Metadata, grantType string, params url.Values, scopes []string) (*Token, error) {
	ctx = withServer(ctx, md.ServerURL) // the network policy: loopback only for a local server
	ep := md.AuthServer.TokenEndpoint
	if params == nil {
		params = url.Values{}
	}
	params.Set("grant_type", grantType)
	if p := md.Quirk.resourceParam(); p != "" && md.Resource != "" {
		params.Set(p, md.Resource)
	}
	cfg := &clientcredentials.Config{ClientID: a.ClientID, TokenURL: ep, Scopes: scopes, EndpointParams: params, AuthStyle: oauth2.AuthStyleInParams}
	var assertion string
	switch a.method(md) {
	case AuthBasic:
		cfg.ClientSecret, cfg.AuthStyle = a.ClientSecret, oauth2.AuthStyleInHeader
	case AuthPost:
		cfg.ClientSecret = a.ClientSecret
	case AuthPrivateKeyJWT:
		var err error
		if assertion, err = a.addAssertion(params, md); err != nil {
			return nil, err
		}
	}
	tok, err := cfg.Token(withClient(ctx, c))
	if err != nil {
		return nil, tokenErr(step, ep, err, a.ClientSecret, assertion, params.Get("assertion"))
	}
	return newTokenFrom(tok, scopes, ep, sendsProofs(c))
}

// addAssertion sets a's client authentication (RFC 7523 §2.2) in form:
// client_assertion_type and a new client_assertion (clientAssertion: a
// fresh jti each time). It is the one way every token endpoint request
// authenticated with private_key_jwt gets its assertion: the first grant,
// refresh-token grants and revocation. It returns the assertion, for
// redacting it from errors.
func (a *ClientAuth) addAssertion(form url.Values, md *Metadata) (string, error) {
	assertion, err := a.clientAssertion(md)
	if err != nil {
		return "", err
	}
	form.Set("client_assertion_type", clientAssertionJWT)
	form.Set("client_assertion", assertion)
	return assertion, nil
}

// clientAssertion is an RFC 7523 §2.2 client authentication JWT: iss and
// sub the client id, aud the authorization server's issuer identifier (as
// draft-ietf-oauth-rfc7523bis requires, against audience injection; the
// conformance suite checks the same), a short expiry and a fresh jti.
func (a *ClientAuth) clientAssertion(md *Metadata) (string, error) {
	alg := a.SigningAlg
	if alg == "" {
		alg = algFor(a.PrivateKey)
	}
	m := jwt.GetSigningMethod(alg)
	if m == nil || alg == "none" || strings.HasPrefix(alg, "HS") {
		return "", newErr("token", CheckGrantConfig, md.Issuer, "unsupported client assertion algorithm %q", clip(alg))
	}
	now := time.Now()
	t := jwt.NewWithClaims(m, jwt.RegisteredClaims{
		Issuer:    a.ClientID,
		Subject:   a.ClientID,
		Audience:  jwt.ClaimStrings{md.Issuer},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(2 * time.Minute)),
		ID:        rand.Text(),
	})
	s, err := t.SignedString(a.PrivateKey)
	if err != nil {
		return "", newErr("token", CheckGrantConfig, md.Issuer, "cannot sign the client assertion with a %s key", alg)
	}
	return s, nil
}

// algFor is the JWS algorithm a key signs with by default.
func algFor(k crypto.Signer) string {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
		return "ES256"
	case ed25519.PrivateKey:
		return "EdDSA"
	default:
		return "RS256"
	}
}

// ParsePrivateKey reads a PEM private key for private_key_jwt: PKCS #8
// ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE
// KEY"); grantfile.ParsePrivateKey, the one parser the CLI, the web page
// and the daemon share, with the engine's error. The error never quotes
// the input.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	k, err := grantfile.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, newErr("token", CheckGrantConfig, "", "%s", err)
	}
	return k, nil
}

// ClientCredentials is the client_credentials grant (RFC 6749 §4.4; the MCP
// extension io.modelcontextprotocol/oauth-client-credentials, SEP-1046) with
// a client secret or a private_key_jwt assertion.
//
// The go-sdk's extauth.ClientCredentialsHandler does this grant, but as an
// auth.OAuthHandler with its own discovery and token cache; mcpauthd's
// Session already owns discovery, persistence and refresh, so this uses the
// same x/oauth2 clientcredentials.Config the handler does, with the
// engine's discovery result and private_key_jwt added.
type ClientCredentials struct {
	Client ClientAuth
}

// Name implements Strategy: "client_credentials".
func (s *ClientCredentials) Name() string { return "client_credentials" }

// Registration implements Strategy.
func (s *ClientCredentials) Registration(md *Metadata) *Registration {
	return s.Client.registration(md)
}

// Obtain implements Strategy.
func (s *ClientCredentials) Obtain(ctx context.Context, c *http.Client, md *Metadata, scopes []string) (*Token, *Registration, error) {
	if err := s.Client.check("token", md); err != nil {
		return nil, nil, err
	}
	tok, err := s.Client.tokenRequest(ctx, c, "token", md, GrantClientCredentials, nil, scopes)
	if err != nil {
		return nil, nil, err
	}
	return tok, s.Client.registration(md), nil
}

// AssertionSource returns a JWT for a jwt-bearer grant. It is called for
// every grant, so a source that reads a file picks up a rotated token.
type AssertionSource func(ctx context.Context) (string, error)

// JWTBearer is the RFC 7523 §2.1 JWT-bearer authorization grant with an
// externally supplied JWT: workload identity federation (SEP-1933), where
// the platform (Kubernetes, a CI system, a cloud) issues the workload a JWT
// that the authorization server trusts. Client authentication is usually
// none (the client id is sent), but any ClientAuth works.
type JWTBearer struct {
	Client    ClientAuth
	Assertion AssertionSource
}

// Name implements Strategy: "jwt_bearer".
func (s *JWTBearer) Name() string { return "jwt_bearer" }

// Registration implements Strategy.
func (s *JWTBearer) Registration(md *Metadata) *Registration { return s.Client.registration(md) }

// Obtain implements Strategy.
func (s *JWTBearer) Obtain(ctx context.Context, c *http.Client, md *Metadata, scopes []string) (*Token, *Registration, error) {
	if err := s.Client.check("token", md); err != nil {
		return nil, nil, err
	}
	if s.Assertion == nil {
		return nil, nil, newErr("token", CheckGrantConfig, md.Issuer, "no assertion source is configured for the jwt-bearer grant")
	}
	jwtStr, err := s.Assertion(ctx)
	if err != nil {
		return nil, nil, wrapErr("token", CheckGrantConfig, md.Issuer, err, "cannot read the workload JWT")
	}
	if jwtStr = strings.TrimSpace(jwtStr); jwtStr == "" {
		return nil, nil, newErr("token", CheckGrantConfig, md.Issuer, "the workload JWT is empty")
	}
	tok, err := s.Client.tokenRequest(ctx, c, "token", md, GrantJWTBearer, url.Values{"assertion": {jwtStr}}, scopes)
	if err != nil {
		return nil, nil, err
	}
	return tok, s.Client.registration(md), nil
}

// Obtain runs st at md's authorization server for scopes and returns the
// grant: DPoP-bound with key when given, with a new key when md asks for
// DPoP (WantsDPoP), else Bearer. The Flow's Login calls it after discovery;
// the Session calls it directly to re-acquire a token with the metadata it
// has. It makes one grant and does not retry.
func (f *Flow) Obtain(ctx context.Context, md *Metadata, st Strategy, scopes []string, key *DPoPKey) (*Grant, error) {
	if key == nil {
		var err error
		if key, err = dpopKeyFor(md); err != nil {
			return nil, err
		}
	}
	tok, reg, err := st.Obtain(ctx, DPoPClient(f.http(), key), md, scopes)
	if err != nil {
		f.log().Warn("grant refused", "grant", st.Name(), "issuer", md.Issuer, "err", err)
		return nil, err
	}
	f.log().Info("token obtained", "grant", st.Name(), "issuer", md.Issuer, "token_type", tok.TokenType)
	return bindGrant(&Grant{Metadata: md, Registration: reg, Token: tok, Requested: scopes}, key)
}
