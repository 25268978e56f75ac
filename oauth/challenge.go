package oauth

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// Challenge is what an MCP server said when it refused a request: the
// Bearer challenge of its WWW-Authenticate header (RFC 6750 §3, RFC 9728 §5.1).
type Challenge struct {
	Status           int      // 401 or 403
	Error            string   // "invalid_token", "insufficient_scope", …
	Scopes           []string // the scope parameter, split
	ResourceMetadata string   // the resource_metadata URL, if given
	// Header holds the WWW-Authenticate values as received, so a TokenSource
	// in another process can be handed the challenge unparsed.
	Header []string
}

// InsufficientScope reports whether the challenge asks for a step-up.
func (c *Challenge) InsufficientScope() bool {
	return c != nil && c.Status == http.StatusForbidden && c.Error == "insufficient_scope"
}

// maxChallengeHeader bounds the WWW-Authenticate text we parse.
const maxChallengeHeader = 8 << 10

// ParseChallenge reads the Bearer challenge from a 401 or 403 response's
// headers. A missing or unparsable header yields a Challenge with only
// Status set: discovery then falls back to the well-known URLs. The error is
// returned for callers that want to report a malformed header.
func ParseChallenge(status int, h http.Header) (*Challenge, error) {
	values := h.Values("WWW-Authenticate")
	c := &Challenge{Status: status, Header: values}
	total := 0
	for _, v := range values {
		total += len(v)
	}
	if total > maxChallengeHeader {
		return c, newErr("discovery", CheckBadMetadata, "", "WWW-Authenticate header is %d bytes; refusing to parse more than %d", total, maxChallengeHeader)
	}
	cs, err := oauthex.ParseWWWAuthenticate(values)
	if err != nil {
		return c, wrapErr("discovery", CheckBadMetadata, "", err, "malformed WWW-Authenticate header")
	}
	for _, ch := range cs {
		// DPoP challenges (RFC 9449 §7.1) carry the same parameters.
		if ch.Scheme != "bearer" && ch.Scheme != "dpop" {
			continue
		}
		c.Error = ch.Params["error"]
		c.Scopes = strings.Fields(ch.Params["scope"])
		c.ResourceMetadata = ch.Params["resource_metadata"]
		break
	}
	return c, nil
}

// ProbeResult is the outcome of asking an MCP server without a token.
type ProbeResult struct {
	Public    bool       // the server answered without asking for authorization
	Challenge *Challenge // set when the server answered 401 or 403
}

// initializeBody is a minimal MCP initialize request, enough to make a
// protected server answer 401 with its challenge.
const initializeBody = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpauthd-probe","version":"0"}}}`

// Probe sends an unauthenticated MCP initialize to serverURL and reports
// whether the server wants authorization and with which challenge. It is the
// first step of a login by URL.
func Probe(ctx context.Context, c *http.Client, serverURL string) (*ProbeResult, error) {
	ctx = withServer(ctx, serverURL) // the network policy: loopback only for a local server
	if err := checkServerURL(serverURL); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, bytes.NewReader([]byte(initializeBody)))
	if err != nil {
		return nil, wrapErr("discovery", CheckServer, serverURL, err, "cannot build request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	res, err := c.Do(req)
	if err != nil {
		return nil, netErr("discovery", serverURL, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, budget.ErrorBody))
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		ch, _ := ParseChallenge(res.StatusCode, res.Header)
		// A malformed header still leaves the well-known URLs to try.
		if sid := res.Header.Get("Mcp-Session-Id"); sid != "" {
			deleteSession(ctx, c, serverURL, sid)
		}
		return &ProbeResult{Challenge: ch}, nil
	case res.StatusCode >= 200 && res.StatusCode < 300:
		if sid := res.Header.Get("Mcp-Session-Id"); sid != "" {
			deleteSession(ctx, c, serverURL, sid)
		}
		return &ProbeResult{Public: true}, nil
	default:
		return nil, newErr("discovery", CheckServer, serverURL, "server answered %s to an MCP initialize; is this an MCP endpoint?", res.Status)
	}
}

// deleteSession ends a session the probe opened, so probing leaves nothing
// behind on the server.
func deleteSession(ctx context.Context, c *http.Client, serverURL, sid string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, serverURL, nil)
	if err != nil {
		return
	}
	req.Header.Set("Mcp-Session-Id", sid)
	if res, err := c.Do(req); err == nil {
		res.Body.Close()
	}
}
