package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// DPoP (RFC 9449): a per-server key pair proves possession of the access
// token on every request, so a stolen token is useless without the key.
//
// mcpauthd uses DPoP when the authorization server advertises ES256 in
// dpop_signing_alg_values_supported, or the protected resource says it
// requires DPoP-bound tokens. The key is created at sign-in, lives in the
// grant (Grant.DPoPKey) and is persisted sealed with the tokens it is bound
// to; a new sign-in makes a new key. Proofs are signed with
// github.com/golang-jwt/jwt/v5 (already a go-sdk dependency); the JWK and
// its RFC 7638 thumbprint are built here because that library has no JWK
// support.

// DPoPScheme is the Authorization scheme and token_type of DPoP-bound tokens.
const DPoPScheme = "DPoP"

// dpopAlg is the only proof algorithm mcpauthd signs with.
const dpopAlg = "ES256"

// DPoPKey is one server's proof-of-possession key (ECDSA P-256, ES256). It
// is a secret: persist it only sealed (MarshalDPoPKey) and never log it.
// It also remembers the last nonce each origin supplied (RFC 9449 §8, §9).
// Safe for concurrent use.
type DPoPKey struct {
	priv *ecdsa.PrivateKey
	jwk  map[string]any
	jkt  string

	mu     sync.Mutex
	nonces map[string]string // origin → last DPoP-Nonce
}

// NewDPoPKey generates a fresh key.
func NewDPoPKey() (*DPoPKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return newDPoPKey(priv), nil
}

func newDPoPKey(priv *ecdsa.PrivateKey) *DPoPKey {
	pub, _ := priv.PublicKey.Bytes() // uncompressed point: 0x04 || X || Y
	x, y := pub[1:33], pub[33:65]
	enc := base64.RawURLEncoding.EncodeToString
	// RFC 7638: the required members in lexicographic order, no spaces.
	canon := `{"crv":"P-256","kty":"EC","x":"` + enc(x) + `","y":"` + enc(y) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return &DPoPKey{
		priv:   priv,
		jwk:    map[string]any{"kty": "EC", "crv": "P-256", "x": enc(x), "y": enc(y)},
		jkt:    enc(sum[:]),
		nonces: map[string]string{},
	}
}

// ParseDPoPKey reads a key written by MarshalDPoPKey (PKCS #8 DER).
func ParseDPoPKey(der []byte) (*DPoPKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, newErr("dpop", CheckDPoP, "", "stored DPoP key is unreadable")
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, newErr("dpop", CheckDPoP, "", "stored DPoP key is not a P-256 key")
	}
	return newDPoPKey(priv), nil
}

// MarshalDPoPKey returns k as PKCS #8 DER (a secret), or nil for a nil key.
func MarshalDPoPKey(k *DPoPKey) ([]byte, error) {
	if k == nil {
		return nil, nil
	}
	return x509.MarshalPKCS8PrivateKey(k.priv)
}

// Thumbprint is the key's RFC 7638 JWK SHA-256 thumbprint: the cnf.jkt of
// tokens bound to it. It is public.
func (k *DPoPKey) Thumbprint() string { return k.jkt }

// Proof returns a DPoP proof JWT for one HTTP request: method and target
// (query and fragment are dropped, RFC 9449 §4.2), the server-supplied nonce
// when there is one, and ath when accessToken is set (requests to a resource
// server, §7). Every proof has a fresh jti, so a proof is never reused.
func (k *DPoPKey) Proof(method, target, nonce, accessToken string) (string, error) {
	htu, err := proofURL(target)
	if err != nil {
		return "", err
	}
	claims := jwt.MapClaims{
		"jti": rand.Text(),
		"htm": method,
		"htu": htu,
		"iat": time.Now().Unix(),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["typ"] = "dpop+jwt"
	t.Header["jwk"] = k.jwk
	s, err := t.SignedString(k.priv)
	if err != nil {
		return "", newErr("dpop", CheckDPoP, htu, "cannot sign a DPoP proof")
	}
	return s, nil
}

// Nonce returns the last nonce the origin of rawURL supplied ("" if none).
func (k *DPoPKey) Nonce(rawURL string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.nonces[originOf(rawURL)]
}

// SetNonce records a nonce the origin of rawURL supplied.
func (k *DPoPKey) SetNonce(rawURL, nonce string) {
	if nonce == "" {
		return
	}
	k.mu.Lock()
	k.nonces[originOf(rawURL)] = nonce
	k.mu.Unlock()
}

func proofURL(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return "", newErr("dpop", CheckDPoP, "", "cannot build a DPoP proof for a request without an absolute URL")
	}
	u.RawQuery, u.Fragment, u.RawFragment, u.User = "", "", "", nil
	return u.String(), nil
}

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// WantsDPoP reports whether tokens for md should be DPoP-bound: the
// authorization server signs up for ES256 proofs, or the protected resource
// requires DPoP-bound tokens.
func WantsDPoP(md *Metadata) bool {
	if md == nil {
		return false
	}
	if slices.Contains(md.DPoPSigningAlgs, dpopAlg) {
		return true
	}
	return md.Protected != nil && md.Protected.DPOPBoundAccessTokensRequired
}

// DPoPClient returns a copy of c that adds a DPoP proof made with key to
// every POST it sends (token requests), and retries a request once with the
// server's nonce when the authorization server answers use_dpop_nonce
// (RFC 9449 §8). A nil key returns c itself.
func DPoPClient(c *http.Client, key *DPoPKey) *http.Client {
	if key == nil {
		return c
	}
	cc := *c
	cc.Transport = &dpopTokenTransport{base: transportOf(c), key: key}
	return &cc
}

type dpopTokenTransport struct {
	base http.RoundTripper
	key  *DPoPKey
}

func (t *dpopTokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost {
		return t.base.RoundTrip(req)
	}
	body, err := budget.RequestBody(req, budget.Replay, "token request")
	if err != nil {
		return nil, err
	}
	target := req.URL.String()
	send := func() (*http.Response, error) {
		proof, err := t.key.Proof(req.Method, target, t.key.Nonce(target), "")
		if err != nil {
			return nil, err
		}
		r := req.Clone(req.Context())
		budget.SetRequestBody(r, body)
		r.Header.Set("DPoP", proof)
		res, err := t.base.RoundTrip(r)
		if err == nil {
			t.key.SetNonce(target, res.Header.Get("DPoP-Nonce"))
		}
		return res, err
	}
	res, err := send()
	if err != nil || res.StatusCode != http.StatusBadRequest || res.Header.Get("DPoP-Nonce") == "" {
		return res, err
	}
	// Peek at the error code; hand the body on unchanged when it is not
	// use_dpop_nonce.
	b, err := budget.ResponseBody(res, budget.TokenAnswer, "token answer")
	if err != nil {
		return nil, err
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error != "use_dpop_nonce" {
		return res, nil
	}
	return send()
}

// dpopKeyFor returns a new key when tokens for md should be DPoP-bound, else
// nil.
func dpopKeyFor(md *Metadata) (*DPoPKey, error) {
	if !WantsDPoP(md) {
		return nil, nil
	}
	k, err := NewDPoPKey()
	if err != nil {
		return nil, newErr("dpop", CheckDPoP, md.Issuer, "cannot generate a DPoP key")
	}
	return k, nil
}

// bindGrant records in g the key its token is bound to: key when the
// authorization server issued a DPoP token, none when it answered with a
// Bearer token despite the proof (RFC 9449 §5 allows that).
func bindGrant(g *Grant, key *DPoPKey) (*Grant, error) {
	if g.Token.TokenType != DPoPScheme {
		g.DPoPKey = nil
		return g, nil
	}
	if key == nil {
		return nil, newErr("token", CheckDPoP, g.Metadata.AuthServer.TokenEndpoint, "the authorization server issued a DPoP-bound token to a request without a proof")
	}
	g.DPoPKey = key
	return g, nil
}

// Credential returns the credential for one request to the resource server:
// the access token (refreshed when it would expire within margin, as Token
// does) with the Bearer scheme, or, for a DPoP-bound grant, the DPoP scheme
// and a proof for method and target carrying nonce and the token's hash.
// The token and the key are taken from one grant, so a concurrent refresh
// cannot pair a token with another grant's key.
func (s *Session) Credential(ctx context.Context, margin time.Duration, method, target, nonce string) (*Credential, error) {
	g, err := s.Token(ctx, margin)
	if err != nil {
		return nil, err
	}
	if g == nil || g.Public || g.Token == nil {
		return &Credential{Scheme: "Bearer"}, nil
	}
	return CredentialFor(g, method, target, nonce)
}

// CredentialFor is the credential g's token gives one request: Bearer, or
// DPoP with a proof made with g's key.
func CredentialFor(g *Grant, method, target, nonce string) (*Credential, error) {
	if g.DPoPKey == nil || g.Token.TokenType != DPoPScheme {
		return &Credential{Scheme: "Bearer", Token: g.Token.AccessToken}, nil
	}
	proof, err := g.DPoPKey.Proof(method, target, nonce, g.Token.AccessToken)
	if err != nil {
		return nil, err
	}
	return &Credential{Scheme: DPoPScheme, Token: g.Token.AccessToken, Proof: proof}, nil
}

// sendsProofs reports whether c is a DPoPClient: token requests through it
// carry proofs, so a DPoP token_type in the answer is expected.
func sendsProofs(c *http.Client) bool {
	_, ok := c.Transport.(*dpopTokenTransport)
	return ok
}
