package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// streamConn is the relay's Streamable HTTP connection to the server (an
// mcp.Connection): one POST per message, its answer read from a JSON body
// or from the event stream the POST opened, which is resumed with a GET
// and Last-Event-ID when it breaks after an event id. It keeps the
// Mcp-Session-Id the server assigns and DELETEs the session on Close.
//
// It replaces the Go SDK's StreamableClientTransport in the relay because
// the relay needs none of what that transport decodes: the SDK reads each
// request's params again to find its _meta and decodes every answer with
// a decoder that allocates ~64 KB a message, most of the proxy's added
// time per call. Here a message is decoded once, with encoding/json, into
// a jsonrpc message whose params and result stay raw bytes; a request's
// params are looked into only for the SEP-2575 _meta protocol version
// (when they hold that key) and, from 2026-07-28 on, for the name of a
// tools/call, prompts/get or resources/read (the SEP-2243 Mcp-Name).
//
// What the SDK's transport does and streamConn does too: a 500, 502, 503,
// 504 or 429 fails only the request; an HTTP refusal carrying a JSON-RPC
// error surfaces that error (serverError finds it); a 404 for a known
// session, or another refusal, breaks the connection (its Read fails: the
// relay ends) and a session the server dropped is not DELETEd; a stream
// that ends without the answer and cannot be resumed answers the request
// with an error. Safe for concurrent use.
type streamConn struct {
	url      string
	hc       *http.Client
	maxEvent int

	incoming chan jsonrpc.Message
	done     chan struct{} // closed by Close
	closing  sync.Once
	closeErr error

	failing sync.Once
	failed  chan struct{} // closed with failErr set
	failErr error

	mu        sync.Mutex
	sessionID string
	gone      bool // the server dropped the session: no DELETE
}

func newStreamConn(url string, hc *http.Client, maxEvent int) *streamConn {
	return &streamConn{url: url, hc: hc, maxEvent: maxEvent, incoming: make(chan jsonrpc.Message, 16), done: make(chan struct{}), failed: make(chan struct{})}
}

// errStreamEnded answers a request whose event stream ended without its
// answer and could not be resumed.
var errStreamEnded = errors.New("mcpauthd proxy: the server ended the response stream without an answer")

// streamRetries bounds the resumptions of one response stream that bring
// no new event.
const streamRetries = 5

// deleteTimeout bounds the DELETE that ends the session on Close.
const deleteTimeout = 5 * time.Second

func (c *streamConn) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

func (c *streamConn) fail(err error) {
	c.failing.Do(func() {
		c.failErr = err
		close(c.failed)
	})
}

func (c *streamConn) failure() error {
	select {
	case <-c.failed:
		return c.failErr
	default:
		return nil
	}
}

// Read returns the server's next message: an answer, or a request or
// notification of the server's on a response stream.
func (c *streamConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case msg := <-c.incoming:
		return msg, nil
	case <-c.failed:
		return nil, c.failErr
	case <-c.done:
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// deliver hands msg to Read; false once the connection is closed.
func (c *streamConn) deliver(msg jsonrpc.Message) bool {
	select {
	case c.incoming <- msg:
		return true
	case <-c.done:
		return false
	}
}

// Write POSTs msg. It returns once the server accepted it; the answer to
// a request comes through Read.
func (c *streamConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	return c.post(ctx, msg, nil)
}

// Call POSTs msg and reads the answer in the calling goroutine, handing
// each message of it (the answer, and what the server sends on the
// request's stream before it) to handle instead of Read; it returns once
// the answer was handled, or the request failed. This saves the hand-offs
// of Write (to a reader goroutine, then to Read's caller) on a request's
// way back to the app: the relay calls it from the goroutine of one
// request. handle must be safe for concurrent use; it is not called once
// the connection is closed.
func (c *streamConn) Call(ctx context.Context, msg jsonrpc.Message, handle func(jsonrpc.Message)) error {
	return c.post(ctx, msg, func(m jsonrpc.Message) bool {
		select {
		case <-c.done:
			return false
		default:
		}
		handle(m)
		return true
	})
}

// post is Write with deliver nil (the answer read in a goroutine of its
// own and delivered to Read) and Call otherwise (read in this goroutine,
// each message given to deliver, which reports false once nobody waits).
func (c *streamConn) post(ctx context.Context, msg jsonrpc.Message, deliver func(jsonrpc.Message) bool) error {
	if err := c.failure(); err != nil {
		return err
	}
	data, err := encodeMessage(msg)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["Accept"] = []string{"application/json, text/event-stream"}
	call, _ := msg.(*jsonrpc.Request)
	if call != nil {
		setMCPHeaders(req.Header, call)
		if !call.IsCall() {
			call = nil
		}
	}
	if id := c.SessionID(); id != "" {
		req.Header[headerSessionID] = []string{id}
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sending %s: %w", summary(msg), err)
	}
	if err := c.check(res, summary(msg)); err != nil {
		return err
	}
	if id := res.Header.Get(headerSessionID); id != "" {
		c.mu.Lock()
		had := c.sessionID
		if had == "" {
			c.sessionID = id
		}
		c.mu.Unlock()
		if had != "" && had != id {
			drain(res.Body)
			return fmt.Errorf("the server answered with another session id than the one it assigned")
		}
	}
	if call == nil { // a notification or a response: 202 Accepted, no body
		drain(res.Body)
		return nil
	}
	ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	switch {
	case deliver != nil && ct == "application/json":
		c.readJSON(res, summary(msg), deliver)
	case deliver != nil && ct == "text/event-stream":
		c.readStream(ctx, res, call.ID, deliver)
	case ct == "application/json":
		go c.readJSON(res, summary(msg), c.deliver)
	case ct == "text/event-stream":
		go c.readStream(ctx, res, call.ID, c.deliver)
	default:
		drain(res.Body)
		return fmt.Errorf("sending %s: the server answered with content type %q", summary(msg), ct)
	}
	return nil
}

// summary names msg in an error (never its content).
func summary(msg jsonrpc.Message) string {
	if req, ok := msg.(*jsonrpc.Request); ok {
		return fmt.Sprintf("%q", req.Method)
	}
	return "a response"
}

// check turns an HTTP refusal into an error, breaking the connection
// unless it is one the request alone suffers (a transient status, or a
// JSON-RPC error in the body). It closes res.Body when it returns an error.
func (c *streamConn) check(res *http.Response, what string) error {
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return nil
	}
	defer res.Body.Close()
	err := fmt.Errorf("sending %s: HTTP %d %s", what, res.StatusCode, http.StatusText(res.StatusCode))
	switch res.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusTooManyRequests:
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, budget.ErrorBody))
	if m, derr := decodeMessage(bytes.TrimSpace(body)); derr == nil {
		if resp, ok := m.(*jsonrpc.Response); ok && resp.Error != nil {
			return fmt.Errorf("%w: HTTP %d", resp.Error, res.StatusCode)
		}
	}
	if res.StatusCode == http.StatusNotFound && c.SessionID() != "" {
		c.mu.Lock()
		c.gone = true
		c.mu.Unlock()
		err = fmt.Errorf("sending %s: the server ended the session (HTTP 404)", what)
	}
	c.fail(err)
	return err
}

// readJSON reads the one answer of a JSON body and gives it to deliver.
func (c *streamConn) readJSON(res *http.Response, what string, deliver func(jsonrpc.Message) bool) {
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil {
		var msg jsonrpc.Message
		if msg, err = decodeMessage(body); err == nil {
			deliver(msg)
			return
		}
	}
	c.fail(fmt.Errorf("reading the answer to %s: %w", what, err))
}

// readStream relays the events of a request's response stream until the
// answer to id came, resuming the stream (a GET with Last-Event-ID) when
// it ends before, as long as the server gave its events ids and resuming
// makes progress. Without the answer, id is answered with an error. Each
// message goes to deliver (false: nobody waits any more).
func (c *streamConn) readStream(ctx context.Context, res *http.Response, id jsonrpc.ID, deliver func(jsonrpc.Message) bool) {
	answered, lastID, fails := false, "", 0
	relay := func(m jsonrpc.Message) {
		if answered {
			return
		}
		if resp, ok := m.(*jsonrpc.Response); ok && resp.ID == id {
			answered = true
		}
		if !deliver(m) {
			answered = true // closed: nobody waits any more
		}
	}
	for {
		_, evID, retry, err := readEvents(res.Body, c.maxEvent, relay)
		drain(res.Body)
		if answered || ctx.Err() != nil {
			return
		}
		progress := evID != "" && evID != lastID
		if evID != "" {
			lastID = evID
		}
		if progress {
			fails = 0
		} else {
			fails++
		}
		var over *budget.ExceededError
		if lastID == "" || fails > streamRetries || errors.As(err, &over) {
			break
		}
		delay := backoff(fails)
		if retry > 0 {
			delay = retry
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		case <-c.done:
			return
		}
		if res, err = c.resume(ctx, lastID); err != nil {
			break
		}
	}
	if ctx.Err() == nil {
		deliver(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: CodeUpstream, Message: errStreamEnded.Error()}})
	}
}

// resume asks the server for the rest of a stream after lastID.
func (c *streamConn) resume(ctx context.Context, lastID string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header["Accept"] = []string{"text/event-stream"}
	req.Header[headerLastEventID] = []string{lastID}
	if id := c.SessionID(); id != "" {
		req.Header[headerSessionID] = []string{id}
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); res.StatusCode != http.StatusOK || ct != "text/event-stream" {
		drain(res.Body)
		return nil, fmt.Errorf("resuming a response stream: HTTP %d", res.StatusCode)
	}
	return res, nil
}

// Close DELETEs the session (unless the server dropped it) and stops the
// response streams.
func (c *streamConn) Close() error {
	c.closing.Do(func() {
		c.mu.Lock()
		id, gone := c.sessionID, c.gone
		c.mu.Unlock()
		if id != "" && !gone {
			ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
			if err == nil {
				req.Header[headerSessionID] = []string{id}
				var res *http.Response
				if res, err = c.hc.Do(req); err == nil {
					drain(res.Body)
				}
			}
			c.closeErr = err
		}
		close(c.done)
	})
	return c.closeErr
}

// drain reads what is left of a body (a little: so that its connection
// can be reused) and closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, budget.ErrorBody))
	body.Close()
}

// The SEP-2243 headers, from protocol version 2026-07-28 on.
const (
	headerMethod = "Mcp-Method"
	headerName   = "Mcp-Name"
)

// metaVersionKey is how the SEP-2575 protocol version key appears in a
// request's params (a cheap test before decoding them).
var metaVersionKey = []byte(`"` + metaProtocolVersion + `"`)

// setMCPHeaders sets the headers a request's content decides: the
// protocol version its _meta names (the relay's upstreamRT sets the
// negotiated one otherwise), and from 2026-07-28 on Mcp-Method and
// Mcp-Name.
func setMCPHeaders(h http.Header, req *jsonrpc.Request) {
	if !bytes.Contains(req.Params, metaVersionKey) {
		return
	}
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
		Name *string                    `json:"name"`
		URI  *string                    `json:"uri"`
	}
	if json.Unmarshal(req.Params, &p) != nil {
		return
	}
	var v string
	if json.Unmarshal(p.Meta[metaProtocolVersion], &v) != nil || v == "" {
		return
	}
	h[headerProtocolVersion] = []string{v}
	if v < modernVersion {
		return
	}
	h[headerMethod] = []string{req.Method}
	var name *string
	switch req.Method {
	case "tools/call", "prompts/get":
		name = p.Name
	case "resources/read":
		name = p.URI
	}
	if name != nil {
		h[headerName] = []string{*name}
	}
}
