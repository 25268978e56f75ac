package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// IdP is mcpauthd's client at a company's OpenID Connect identity provider,
// for enterprise-managed authorization (Enterprise): the browser sign-in
// that yields the user's ID token (and a refresh token), the refresh that
// renews it, and the revocation at sign-out. ClientSecret is optional
// (public clients) and a secret.
//
// The go-sdk's extauth.PerformOIDCLogin does the sign-in but neither sends
// nor checks a nonce, nor verifies the ID token (signature, iss, aud, exp),
// and has its own redirect handling; this uses the engine's Authorize and
// Authorization.Complete instead (PKCE S256, state, RFC 9207 iss, the
// daemon's one browser hand-off), and VerifyIDToken.
type IdP struct {
	Issuer       string
	ClientID     string
	ClientSecret string
}

// IDClaims is what mcpauthd reads from a verified ID token. It holds no
// secret (the token itself is one).
type IDClaims struct {
	Subject string
	// Email or Name, when the IdP includes them, name the account to the user.
	Email  string
	Name   string
	Expiry time.Time
}

// Discover fetches and checks the IdP's metadata (RFC 8414 or OpenID
// Connect discovery, the issuer identical to p.Issuer). interactive (a
// browser sign-in) requires what that needs: an authorization endpoint,
// PKCE S256 and a jwks_uri for the ID token's signature. The token exchange
// alone needs only the token endpoint. The returned Metadata has the IdP
// as its issuer and authorization server, and no resource.
func (p *IdP) Discover(ctx context.Context, c *http.Client, interactive bool) (*Metadata, error) {
	ctx = withServer(ctx, p.Issuer)
	asm, _, from, err := fetchAuthServer(ctx, c, p.Issuer, false, interactive)
	if err != nil {
		return nil, err
	}
	if interactive {
		if asm.JWKSURI == "" {
			return nil, newErr("discovery", CheckBadMetadata, p.Issuer, "the IdP's metadata has no jwks_uri: its ID tokens could not be verified")
		}
		if err := checkEndpoint("discovery", "jwks_uri", asm.JWKSURI); err != nil {
			return nil, err
		}
	}
	md := &Metadata{ServerURL: p.Issuer, Issuer: p.Issuer, AuthServer: asm, AuthServerMetadataURL: from}
	md.Quirk = ResolveQuirk(p.Issuer, nil) // Google: access_type=offline for a refresh token
	return md, nil
}

// registration is p as a pre-registered client at md (the IdP).
func (p *IdP) registration(md *Metadata) *Registration {
	return (&ClientAuth{ClientID: p.ClientID, ClientSecret: p.ClientSecret}).registration(md)
}

// Scopes are the scopes an IdP sign-in asks for: openid, and offline_access
// when the IdP lists it (Okta, Entra ID: the refresh token), which
// Authorize pairs with prompt=consent as OpenID Connect Core §11 requires.
// An IdP that lists no offline_access gets openid alone (Google's quirk asks
// for its refresh token with access_type=offline instead).
func (p *IdP) Scopes(md *Metadata) []string {
	s := []string{"openid"}
	if slices.Contains(md.AuthServer.ScopesSupported, OfflineAccess) {
		s = append(s, OfflineAccess)
	}
	return s
}

// Authorize builds the IdP sign-in's authorization request (md from
// Discover with interactive set): PKCE S256, state and a fresh nonce.
func (p *IdP) Authorize(md *Metadata, redirectURI string) (*Authorization, error) {
	return authorize(md, p.registration(md), redirectURI, p.Scopes(md), rand.Text())
}

// Complete finishes the sign-in a (from Authorize) with the redirect: the
// code is exchanged as for any sign-in, and the ID token in the answer is
// verified (VerifyIDToken, with a's nonce). The token's IDToken and
// RefreshToken are what the caller keeps.
func (p *IdP) Complete(ctx context.Context, c *http.Client, a *Authorization, redirected string) (*Token, *IDClaims, error) {
	tok, err := a.Complete(ctx, c, redirected)
	if err != nil {
		return nil, nil, err
	}
	claims, err := p.VerifyIDToken(ctx, c, a.md, tok.IDToken, a.nonce)
	if err != nil {
		return nil, nil, err
	}
	return tok, claims, nil
}

// Refresh renews the ID token with refreshToken. The answer must carry a
// new ID token for the same subject (OpenID Connect Core §12.2), verified
// as at sign-in but for the nonce. The returned token holds the refresh
// token to keep (the rotated one when the IdP rotates). An IdP that no
// longer takes the refresh token fails with ErrInvalidGrant.
func (p *IdP) Refresh(ctx context.Context, c *http.Client, md *Metadata, refreshToken, subject string) (*Token, *IDClaims, error) {
	tok, err := Refresh(ctx, c, md, p.registration(md), refreshToken, p.Scopes(md))
	if err != nil {
		return nil, nil, err
	}
	if tok.IDToken == "" {
		return nil, nil, newErr("refresh", CheckInvalidGrant, md.AuthServer.TokenEndpoint, "the IdP renewed the sign-in without a new ID token; sign in again")
	}
	claims, err := p.VerifyIDToken(ctx, c, md, tok.IDToken, "")
	if err != nil {
		return nil, nil, err
	}
	if subject != "" && claims.Subject != subject {
		return nil, nil, newErr("refresh", CheckToken, md.AuthServer.TokenEndpoint, "the renewed ID token is for another user; sign in again")
	}
	return tok, claims, nil
}

// Revoke asks the IdP to revoke refreshToken (RFC 7009); false when it
// offers no revocation endpoint.
func (p *IdP) Revoke(ctx context.Context, c *http.Client, md *Metadata, refreshToken string) (bool, error) {
	return Revoke(withServer(ctx, p.Issuer), c, md, p.registration(md), refreshToken, "refresh_token")
}

// idTokenAlgs are the signature algorithms an ID token may use: the
// asymmetric ones (never none, never HS*: the client secret is no key).
var idTokenAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// idTokenLeeway is the clock skew allowed on exp, iat and nbf.
const idTokenLeeway = time.Minute

// VerifyIDToken checks raw as OpenID Connect Core §3.1.3.7 says: signed
// with an asymmetric algorithm by a key of the IdP's JWKS (md's jwks_uri,
// fetched now), iss identical to the IdP's issuer, aud containing p's
// client id (and azp equal to it when there are several audiences), not
// expired, and, when nonce is given, carrying that nonce. Errors say which
// check failed and never quote the token.
func (p *IdP) VerifyIDToken(ctx context.Context, c *http.Client, md *Metadata, raw, nonce string) (*IDClaims, error) {
	fail := func(format string, a ...any) error {
		return newErr("token", CheckToken, p.Issuer, "the IdP's ID token is not acceptable: "+format, a...)
	}
	if raw == "" {
		return nil, fail("the answer has no id_token (was the openid scope granted?)")
	}
	keys, err := fetchJWKS(withServer(ctx, p.Issuer), c, md.AuthServer.JWKSURI)
	if err != nil {
		return nil, err
	}
	var claims struct {
		jwt.RegisteredClaims
		Nonce string `json:"nonce"`
		AZP   string `json:"azp"`
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	_, err = jwt.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return keys.find(kid, t.Method.Alg())
	}, jwt.WithValidMethods(idTokenAlgs), jwt.WithIssuer(md.Issuer), jwt.WithAudience(p.ClientID),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(idTokenLeeway))
	if err != nil {
		return nil, fail("%s", idTokenProblem(err))
	}
	if len(claims.Audience) > 1 && claims.AZP != p.ClientID {
		return nil, fail("it has several audiences and azp is not mcpauthd's client id")
	}
	if nonce != "" && claims.Nonce != nonce {
		return nil, fail("its nonce does not match this sign-in's (a replayed or injected token)")
	}
	if claims.Subject == "" {
		return nil, fail("it names no subject")
	}
	return &IDClaims{Subject: claims.Subject, Email: budget.Text(claims.Email, 256), Name: budget.Text(claims.Name, 256), Expiry: claims.ExpiresAt.Time}, nil
}

// idTokenProblem names the failed check of a jwt parse error.
func idTokenProblem(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "it has expired"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "it was issued by another issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "it is not for mcpauthd's client id"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "it has no expiry"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "its signature does not verify with the IdP's published keys (or uses an algorithm other than RS, PS, ES or EdDSA)"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "it is not a well-formed JWT"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		return "it is not valid yet (check this machine's clock)"
	default:
		return "it does not verify"
	}
}

// jwks is a JSON Web Key Set's usable public keys.
type jwks []jwk

type jwk struct {
	kid, alg string
	key      crypto.PublicKey
}

// find is the key for a token signed with alg under kid: the key with
// that kid, or the only key of alg's type when the token names none.
func (ks jwks) find(kid, alg string) (crypto.PublicKey, error) {
	var match []jwk
	for _, k := range ks {
		if (kid == "" || k.kid == kid) && (k.alg == "" || k.alg == alg) && keyFits(k.key, alg) {
			match = append(match, k)
		}
	}
	if len(match) != 1 {
		return nil, jwt.ErrTokenUnverifiable
	}
	return match[0].key, nil
}

// keyFits reports whether key can verify alg.
func keyFits(key crypto.PublicKey, alg string) bool {
	switch key.(type) {
	case *rsa.PublicKey:
		return alg[0] == 'R' || alg[0] == 'P'
	case *ecdsa.PublicKey:
		return alg[0] == 'E' && alg != "EdDSA"
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// maxJWKS bounds the JWKS document.
const maxJWKS = 256 << 10

// fetchJWKS reads the public keys at uri (RSA, EC P-256/384/521, Ed25519);
// keys of other types, or for encryption (use "enc"), are skipped.
func fetchJWKS(ctx context.Context, c *http.Client, uri string) (jwks, error) {
	if err := checkEndpoint("token", "jwks_uri", uri); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, newErr("token", CheckBadMetadata, uri, "cannot build the JWKS request")
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return nil, netErr("token", uri, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, newErr("token", CheckBadMetadata, uri, "the IdP's JWKS answered %s", res.Status)
	}
	body, err := budget.ReadAll(res.Body, maxJWKS, "the IdP's JWKS", uri)
	var over *budget.ExceededError
	if errors.As(err, &over) {
		return nil, newErr("token", CheckBadMetadata, uri, "%v", over)
	}
	if err != nil {
		return nil, netErr("token", uri, err)
	}
	var doc struct {
		Keys []struct {
			Kty, Kid, Alg, Use, Crv, N, E, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, newErr("token", CheckBadMetadata, uri, "the IdP's JWKS is not a JSON Web Key Set")
	}
	var out jwks
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var key crypto.PublicKey
		switch k.Kty {
		case "RSA":
			n, e := b64(k.N), b64(k.E)
			if len(n) < 256 || len(e) == 0 || len(e) > 4 { // at least 2048 bits
				continue
			}
			key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case "EC":
			curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[k.Crv]
			if curve == nil {
				continue
			}
			size := (curve.Params().BitSize + 7) / 8
			x, y := b64(k.X), b64(k.Y)
			if len(x) != size || len(y) != size {
				continue
			}
			pk, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
			if err != nil {
				continue // not on the curve
			}
			key = pk
		case "OKP":
			if x := b64(k.X); k.Crv == "Ed25519" && len(x) == ed25519.PublicKeySize {
				key = ed25519.PublicKey(x)
			}
		}
		if key != nil {
			out = append(out, jwk{kid: k.Kid, alg: k.Alg, key: key})
		}
	}
	if len(out) == 0 {
		return nil, newErr("token", CheckBadMetadata, uri, "the IdP's JWKS has no usable signing key")
	}
	return out, nil
}

func b64(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}
