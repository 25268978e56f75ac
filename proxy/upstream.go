package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// The MCP headers the proxy itself sets.
const (
	headerProtocolVersion = "Mcp-Protocol-Version"
	headerSessionID       = "Mcp-Session-Id"
	headerLastEventID     = "Last-Event-Id"
)

// SignInError is a request the server still refused after the daemon did
// what it could (a fresh token, a sign-in, a step-up): the user must sign in.
type SignInError struct {
	URL    string // the server to run `mcpauthd login` for
	Status int    // 401 or 403
}

func (e *SignInError) Error() string {
	return fmt.Sprintf("%s refuses mcpauthd's token (HTTP %d); run: mcpauthd login %s", e.URL, e.Status, e.URL)
}

// upstreamRT is the outermost RoundTripper of the upstream HTTP client:
// it adds the user's --header values and the negotiated protocol version
// (the SDK's transport only learns it from an mcp.Client it is not used
// with here), lets oauth.Transport carry the token and answer challenges,
// and turns a refusal that survived that into a *SignInError, so no
// upstream challenge ever reaches the app and the SDK's connection is not
// broken by it. Safe for concurrent use.
type upstreamRT struct {
	next     http.RoundTripper // the oauth.Transport
	headers  http.Header
	resource string

	version    atomic.Pointer[string] // negotiated protocol version, once known
	lastStatus atomic.Int32           // status of the last answer (for the fallback)
}

func (t *upstreamRT) setVersion(v string) { t.version.Store(&v) }

func (t *upstreamRT) protocolVersion() string {
	if v := t.version.Load(); v != nil {
		return *v
	}
	return ""
}

func (t *upstreamRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	for k, vs := range t.headers {
		if r.Header.Get(k) == "" {
			r.Header[k] = vs
		}
	}
	if v := t.protocolVersion(); v != "" && r.Header.Get(headerProtocolVersion) == "" {
		r.Header.Set(headerProtocolVersion, v)
	}
	addParamHeaders(r)
	res, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	t.lastStatus.Store(int32(res.StatusCode))
	if refused(res) {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, budget.ErrorBody))
		res.Body.Close()
		return nil, &SignInError{URL: t.resource, Status: res.StatusCode}
	}
	return res, nil
}

// refused reports a 401, or a 403 insufficient_scope: what oauth.Transport
// already tried to fix.
func refused(res *http.Response) bool {
	switch res.StatusCode {
	case http.StatusUnauthorized:
		return true
	case http.StatusForbidden:
		ch, _ := oauth.ParseChallenge(res.StatusCode, res.Header)
		return ch.InsufficientScope()
	}
	return false
}

// notThere reports whether status says the endpoint does not speak the
// transport tried (the fallback condition mcp-remote uses).
func notThere(status int32) bool {
	return status == http.StatusNotFound || status == http.StatusMethodNotAllowed
}

// dial connects to the server with the transport(s) r.mode allows and sends
// first (the app's first message, normally initialize) over it. A
// Streamable HTTP connection does no I/O before its first message, so the
// fallback decision is made on first's answer.
func (r *relay) dial(ctx context.Context, first mcpMessage) (mcp.Connection, bool, error) {
	order := []bool{true, false} // streamable?
	switch r.cfg.Mode {
	case HTTPOnly:
		order = order[:1]
	case SSEOnly:
		order = order[1:]
	case SSEFirst:
		order = []bool{false, true}
	}
	var err error
	for i, streamable := range order {
		var conn mcp.Connection
		conn, err = r.dialOne(ctx, streamable, first)
		if err == nil {
			return conn, streamable, nil
		}
		if i+1 < len(order) && notThere(r.rt.lastStatus.Load()) {
			r.log.Info("the server does not offer this transport; trying the other", "streamable_http", streamable, "status", r.rt.lastStatus.Load())
			continue
		}
		break
	}
	return nil, false, err
}

func (r *relay) dialOne(ctx context.Context, streamable bool, first mcpMessage) (mcp.Connection, error) {
	r.rt.lastStatus.Store(0)
	var conn mcp.Connection
	if streamable {
		// streamConn, not the SDK's StreamableClientTransport (see
		// streamable.go); the standalone GET stream is opened by the relay.
		conn = newStreamConn(r.cfg.URL, r.hc, budget.SSEEvent)
	} else {
		t := &mcp.SSEClientTransport{Endpoint: r.cfg.URL, HTTPClient: r.hc, MaxEventSize: budget.SSEEvent}
		var err error
		if conn, err = t.Connect(ctx); err != nil {
			return nil, err
		}
	}
	if err := conn.Write(ctx, first); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// isAuth reports whether err means the user must sign in.
func isAuth(err error) bool {
	var se *SignInError
	return errors.As(err, &se)
}
