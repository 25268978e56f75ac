package oauth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TokenSource is what a [Transport] asks for tokens. The daemon's sessions
// implement it in-process; the ipc client implements it over the socket.
// Implementations must be safe for concurrent use.
type TokenSource interface {
	// Token returns the access token to send, or "" to send none.
	Token(ctx context.Context) (string, error)
	// Challenged reports that the server refused a request made with token;
	// nil means a retry may succeed.
	Challenged(ctx context.Context, token string, ch *Challenge) error
	// Succeeded reports that the server accepted a request.
	Succeeded()
}

// SessionSource adapts a *Session to TokenSource; tokens expiring within
// Margin are refreshed before use.
type SessionSource struct {
	S      *Session
	Margin time.Duration
}

func (s SessionSource) Token(ctx context.Context) (string, error) { return s.S.Token(ctx, s.Margin) }
func (s SessionSource) Challenged(ctx context.Context, token string, ch *Challenge) error {
	return s.S.Challenged(ctx, token, ch)
}
func (s SessionSource) Succeeded() { s.S.Succeeded() }

// Transport is an http.RoundTripper that carries one MCP server's token: it
// sets Authorization on requests to that server's origin, and on a 401, or a
// 403 with insufficient_scope, hands the challenge to the source and retries
// the request once. Requests to other origins pass through untouched. Safe for
// concurrent use.
type Transport struct {
	Base      http.RoundTripper // http.DefaultTransport when nil
	Source    TokenSource
	ServerURL string
}

const maxReplayBody = 16 << 20

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameOrigin(req.URL, t.ServerURL) {
		return t.base().RoundTrip(req)
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxReplayBody+1))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(b) > maxReplayBody {
			return nil, fmt.Errorf("request body over %d bytes", maxReplayBody)
		}
		body = b
	}
	send := func() (*http.Response, string, error) {
		tok, err := t.Source.Token(req.Context())
		if err != nil {
			return nil, "", err
		}
		r := req.Clone(req.Context())
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		r.Header.Del("Authorization")
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := t.base().RoundTrip(r)
		return res, tok, err
	}
	res, tok, err := send()
	if err != nil {
		return nil, err
	}
	ch := refusal(res)
	if ch == nil {
		if res.StatusCode < 400 {
			t.Source.Succeeded()
		}
		return res, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if err := t.Source.Challenged(req.Context(), tok, ch); err != nil {
		return nil, err
	}
	res, _, err = send()
	if err == nil && res.StatusCode < 400 {
		t.Source.Succeeded()
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

func sameOrigin(u *url.URL, server string) bool {
	s, err := url.Parse(server)
	return err == nil && strings.EqualFold(u.Scheme, s.Scheme) && strings.EqualFold(u.Host, s.Host)
}
