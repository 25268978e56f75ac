package oauth

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// TokenSource is what a [Transport] asks for the credential of each
// request, and tells how the server answered. There is one implementation
// per place the tokens live: [SessionSource] over a [Session] in this
// process (the engine alone), and ipcsource.Source over the mcpauthd daemon
// (its socket, or in-process). Implementations must be safe for concurrent
// use.
type TokenSource interface {
	// Credential returns the credential for one request (method to target,
	// with the resource server's last DPoP nonce, "" when none): the access
	// token, valid for it, and, when the token is DPoP-bound (RFC 9449), the
	// DPoP scheme and a fresh proof for that request. A Credential with no
	// Token sends the request without Authorization (not signed in yet: the
	// server's challenge starts the sign-in). The DPoP key stays with the
	// source.
	Credential(ctx context.Context, method, target, nonce string) (*Credential, error)
	// Challenged reports that the server refused a request made with token
	// ("" for none); nil means a retry with a fresh Credential may succeed.
	Challenged(ctx context.Context, token string, ch *Challenge) error
	// Succeeded reports that the server accepted a request, which ends a
	// run of sign-ins (see [MaxAuthorizations]). Best effort: it returns
	// nothing and must not block for long.
	Succeeded(ctx context.Context)
}

// SessionSource is the [TokenSource] over a *Session: tokens expiring
// within Margin are refreshed before use, Margin being capped at half the
// token's lifetime ([Token.Margin]) so that a short-lived token is not
// refreshed for every request. Challenged is [Session.Challenged]: it may
// refresh, sign in again or step up.
type SessionSource struct {
	S      *Session
	Margin time.Duration
}

// Credential implements [TokenSource]: see [Session.Credential].
func (s SessionSource) Credential(ctx context.Context, method, target, nonce string) (*Credential, error) {
	margin := s.Margin
	if g := s.S.Grant(); g != nil {
		margin = g.Token.Margin(margin)
	}
	return s.S.Credential(ctx, margin, method, target, nonce)
}

// Challenged implements [TokenSource]: see [Session.Challenged].
func (s SessionSource) Challenged(ctx context.Context, token string, ch *Challenge) error {
	return s.S.Challenged(ctx, token, ch)
}

// Succeeded implements [TokenSource]: see [Session.Succeeded].
func (s SessionSource) Succeeded(context.Context) { s.S.Succeeded() }

// Transport is an http.RoundTripper that carries one MCP server's token: it
// sets Authorization on requests to that server's origin, and on a 401, or a
// 403 with insufficient_scope, hands the challenge to the source and retries
// the request once. Requests to other origins pass through untouched. Safe for
// concurrent use.
//
// The token may be DPoP-bound (RFC 9449): the source signs a proof for each
// request, sent in the DPoP header with the Authorization scheme the source
// names (Bearer when it names none); a 401 use_dpop_nonce is
// answered by one retry with the server's nonce, which is remembered for
// later requests (§9), and is not handed to the source as a challenge.
type Transport struct {
	Base      http.RoundTripper // http.DefaultTransport when nil
	Source    TokenSource
	ServerURL string

	mu    sync.Mutex
	nonce string // the resource server's last DPoP-Nonce
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper as the type's doc says. A request
// body is buffered (at most budget.Replay, 16 MiB; a larger one is an
// error) so that the request can be sent again after a challenge or a
// nonce demand.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameOrigin(req.URL, t.ServerURL) {
		return t.base().RoundTrip(req)
	}
	body, err := budget.RequestBody(req, budget.Replay, "request body")
	if err != nil {
		return nil, err
	}
	var proofs bool // the last request carried a DPoP proof
	send := func() (*http.Response, string, error) {
		cred, err := t.credential(req)
		if err != nil {
			return nil, "", err
		}
		r := req.Clone(req.Context())
		budget.SetRequestBody(r, body)
		r.Header.Del("Authorization")
		r.Header.Del("DPoP")
		if cred.Token != "" {
			r.Header.Set("Authorization", cred.Scheme+" "+cred.Token)
		}
		if proofs = cred.Proof != ""; proofs {
			r.Header.Set("DPoP", cred.Proof)
		}
		res, err := t.base().RoundTrip(r)
		if err == nil {
			t.setNonce(res.Header.Get("DPoP-Nonce"))
		}
		return res, cred.Token, err
	}
	res, tok, err := send()
	if err != nil {
		return nil, err
	}
	if proofs && wantsNonce(res) {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, budget.ErrorBody))
		res.Body.Close()
		if res, tok, err = send(); err != nil {
			return nil, err
		}
	}
	ch := refusal(res)
	if ch == nil {
		if res.StatusCode < 400 {
			t.Source.Succeeded(req.Context())
		}
		return res, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, budget.ErrorBody))
	res.Body.Close()
	if err := t.Source.Challenged(req.Context(), tok, ch); err != nil {
		return nil, err
	}
	res, _, err = send()
	if err == nil && res.StatusCode < 400 {
		t.Source.Succeeded(req.Context())
	}
	return res, err
}

// refusal returns the challenge of a response that authorization may fix:
// 401, or 403 with error="insufficient_scope".
func refusal(res *http.Response) *Challenge {
	if res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusForbidden {
		return nil
	}
	ch, _ := ParseChallenge(res.StatusCode, res.Header)
	if res.StatusCode == http.StatusForbidden && !ch.InsufficientScope() {
		return nil
	}
	return ch
}

// SameOrigin reports whether the URLs a and b have one origin (RFC 6454:
// scheme and host compared without case, the port with the scheme's
// default made explicit, so https://h and https://H:443 are one). A URL
// that does not parse or has no host has no origin: false.
func SameOrigin(a, b string) bool {
	u, err := url.Parse(a)
	return err == nil && u.Host != "" && sameOrigin(u, b)
}

// sameOrigin is SameOrigin for a parsed u.
func sameOrigin(u *url.URL, server string) bool {
	s, err := url.Parse(server)
	return err == nil && s.Host != "" && originKey(u) == originKey(s)
}

func originKey(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// Credential authorizes one request to a resource server: the access token,
// the Authorization scheme to send it with, and for a DPoP-bound token the
// proof for that request. Token and Proof are secrets.
type Credential struct {
	Scheme string // "Bearer" or "DPoP"
	Token  string // "" to send no Authorization header
	Proof  string // the DPoP header value, when Scheme is DPoP
}

func (t *Transport) credential(req *http.Request) (*Credential, error) {
	t.mu.Lock()
	nonce := t.nonce
	t.mu.Unlock()
	c, err := t.Source.Credential(req.Context(), req.Method, req.URL.String(), nonce)
	if err != nil {
		return nil, err
	}
	if c.Scheme == "" {
		c.Scheme = "Bearer"
	}
	return c, nil
}

func (t *Transport) setNonce(n string) {
	if n == "" {
		return
	}
	t.mu.Lock()
	t.nonce = n
	t.mu.Unlock()
}

// wantsNonce reports a resource server's demand for a DPoP nonce (RFC 9449
// §9): 401 with error="use_dpop_nonce" and a DPoP-Nonce header.
func wantsNonce(res *http.Response) bool {
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("DPoP-Nonce") == "" {
		return false
	}
	ch, _ := ParseChallenge(res.StatusCode, res.Header)
	return ch.Error == "use_dpop_nonce"
}
