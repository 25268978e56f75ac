// Package budget is the one place that says how much mcpauthd accepts from
// a server, for each kind of input, and holds the bounded readers that
// enforce it.
//
// A server is whatever the user typed in: its MCP endpoint, its metadata,
// its authorization server. Nothing it sends may make the daemon, the
// proxy or the registry grow without bound, or hurt the other servers. Each
// kind of input below has one budget, enforced where that input is read:
//
//	input                         budget              enforced by
//	metadata document             Metadata            oauth (fetchMetadata)
//	registration answer           Registration        oauth (jwksObjectFix)
//	token answer                  TokenAnswer         oauth (withClient)
//	refused answer's body         ErrorBody           oauth, proxy (drained, never kept)
//	error text kept for the user  ErrorText           oauth (clip, cause)
//	one MCP answer (JSON)         MCPAnswer           proxy (relayed answers)
//	one describe answer           DescribeAnswer      daemon (describe: initialize, tools/list)
//	one SSE event, its lines      SSEEvent            proxy (readEvents), the SDK's readers (MaxEventSize)
//	tool list                     ToolPages, ToolsCounted, ToolsKept, ToolName
//	                                                  daemon (describe)
//	server name, title, version, resource_name
//	                              ServerName          daemon (describe, sign-in)
//	one server's registry record  Record              store (putServer)
//	a request body sent again     Replay              oauth (Transport, DPoP, token form)
//
// Over budget the input is refused with an [*ExceededError] that names the
// server and the limit; nothing of it is stored and nothing else is
// affected. Text that is only shown (a name, a tool name) is cut instead,
// with an ellipsis.
package budget

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// The budgets. Sizes are bytes.
const (
	// Metadata bounds one metadata document: RFC 9728 protected-resource
	// metadata, RFC 8414 / OpenID authorization-server metadata. Real ones
	// are a few KiB.
	Metadata = 128 << 10
	// Registration bounds one RFC 7591 dynamic client registration answer.
	Registration = 256 << 10
	// TokenAnswer bounds one token endpoint answer (authorization code,
	// refresh, device, client credentials, JWT bearer, token exchange).
	// Real ones, with JWT access and ID tokens, stay under 32 KiB.
	TokenAnswer = 256 << 10
	// ErrorBody bounds how much of a refused answer's body is read (to
	// drain the connection); it is discarded, never kept.
	ErrorBody = 64 << 10
	// ErrorText bounds text a server controls that is kept in an error
	// for the user: an error_description, a library's message quoting a
	// document.
	ErrorText = 300

	// MCPAnswer bounds one JSON answer of an MCP server that the proxy
	// relays to its app (a tool's result may carry an image).
	MCPAnswer = 8 << 20
	// DescribeAnswer bounds one answer (initialize, a tools/list page) the
	// daemon reads when it describes a server after a sign-in.
	DescribeAnswer = 2 << 20
	// SSEEvent bounds one server-sent event: its lines together, data,
	// comments and unknown fields included. A server that never ends an
	// event (no blank line) is cut off at this size.
	SSEEvent = MCPAnswer

	// ToolPages bounds the tools/list pages the daemon reads after a
	// sign-in; a server that keeps paging is not followed further.
	ToolPages = 50
	// ToolsCounted bounds the tools counted; the count shown is "at least"
	// beyond it.
	ToolsCounted = 10_000
	// ToolsKept is how many tool names are kept for display: the first
	// ones, with the total count beside them.
	ToolsKept = 100
	// ToolName bounds one kept tool name (the MCP spec says 1 to 128
	// characters); a longer one is cut with an ellipsis.
	ToolName = 128
	// ServerName bounds a server's display name, title or resource_name.
	ServerName = 256

	// Replay bounds a request body kept to be sent again (a retry after a
	// challenge or a DPoP nonce demand) or rewritten on its way out.
	Replay = 16 << 20

	// Record bounds one server's registry record (its JSON), metadata
	// snapshots and tool summary included. With the budgets above a
	// well-behaved record is a few KiB; one at every limit still fits.
	Record = 4 << 20
)

// ExceededError is input refused for being over its budget.
type ExceededError struct {
	What  string // "token answer", "metadata document", …
	From  string // the URL it came from
	Limit int64
}

func (e *ExceededError) Error() string {
	if e.From == "" {
		return fmt.Sprintf("%s is larger than mcpauthd's limit of %s", e.What, Size(e.Limit))
	}
	return fmt.Sprintf("%s from %s is larger than mcpauthd's limit of %s", e.What, e.From, Size(e.Limit))
}

// Size formats n bytes for a message: "8 MiB", "256 KiB", "300 bytes".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadAll reads r to its end, or fails with an *ExceededError naming what
// and from once more than limit bytes come. It never holds more than
// limit+1 bytes.
func ReadAll(r io.Reader, limit int64, what, from string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &ExceededError{What: what, From: from, Limit: limit}
	}
	return b, nil
}

// Reader returns a reader of r that fails with an *ExceededError once
// more than limit bytes have been read through it.
func Reader(r io.Reader, limit int64, what, from string) io.Reader {
	return &bounded{r: r, left: limit, err: &ExceededError{What: what, From: from, Limit: limit}}
}

type bounded struct {
	r    io.Reader
	left int64
	err  *ExceededError
}

func (b *bounded) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - int(-b.left), b.err
	}
	return n, err
}

// Answers wraps rt so that every response body it returns fails with an
// *ExceededError (naming what and the request's URL) once more than limit
// bytes were read from it, before a caller buffers more. A
// text/event-stream body is left alone: a stream is long-lived by design,
// and its reader bounds each event (SSEEvent).
func Answers(rt http.RoundTripper, limit int64, what string) http.RoundTripper {
	return answers{base: rt, limit: limit, what: what}
}

type answers struct {
	base  http.RoundTripper
	limit int64
	what  string
}

func (a answers) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := a.base.RoundTrip(req)
	if err != nil {
		return res, err
	}
	if ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); ct == "text/event-stream" {
		return res, nil
	}
	from := Where(req.URL)
	if res.ContentLength > a.limit {
		res.Body.Close()
		return nil, &ExceededError{What: a.what, From: from, Limit: a.limit}
	}
	res.Body = readCloser{Reader: Reader(res.Body, a.limit, a.what, from), Closer: res.Body}
	return res, nil
}

// RequestBody reads req's body to its end and closes it, for a
// RoundTripper that sends the request again or rewrites its body (put it
// back with [SetRequestBody]). Over limit it fails with an *ExceededError
// naming what and the request's URL: a body is never cut short. A request
// without a body gives nil.
func RequestBody(req *http.Request, limit int64, what string) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	return ReadAll(req.Body, limit, what, Where(req.URL))
}

// SetRequestBody makes body the body of req, ready to be sent (again):
// Body, ContentLength and GetBody agree with it. A nil body leaves req as
// it is.
func SetRequestBody(req *http.Request, body []byte) {
	if body == nil {
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}

// ResponseBody reads res's body to its end, closes it, and puts the same
// bytes back, so that a RoundTripper can look at an answer and hand it on
// unchanged (or change it with [SetResponseBody]). Over limit it fails with
// an *ExceededError naming what and the request's URL; the answer is then
// not usable.
func ResponseBody(res *http.Response, limit int64, what string) ([]byte, error) {
	from := ""
	if res.Request != nil {
		from = Where(res.Request.URL)
	}
	b, err := ReadAll(res.Body, limit, what, from)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	SetResponseBody(res, b)
	return b, nil
}

// SetResponseBody makes body the body of res: Body, ContentLength and the
// Content-Length header agree with it.
func SetResponseBody(res *http.Response, body []byte) {
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// Where is u as an error names it: scheme, host and path, without the
// query (which may carry a key) or user information.
func Where(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Text cuts s to at most n bytes (n ≥ 3) of valid UTF-8, ending in "…"
// when it was cut. For text that is only shown; see the sanitize package for
// making it safe to show.
func Text(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n-len("…"), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
