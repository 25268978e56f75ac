// Package proxy is `mcpauthd proxy URL`: a stdio ↔ Streamable HTTP bridge
// (the legacy HTTP+SSE transport as a fallback) whose tokens come from the
// daemon, a drop-in for `npx mcp-remote URL`.
//
// The proxy does not speak MCP: it relays JSON-RPC messages (requests,
// responses, notifications, batches) unchanged between the app's stdio and
// the server, but for the tool policy (Config.Tools), protocol version
// bridging (bridge.go, with mrtr.go for multi-round-trip requests and
// subscribe.go for resource subscriptions) and the custom parameter
// headers (paramheaders.go): newline-delimited JSON on the app's side
// (stdio.go); on the server's, Streamable HTTP (streamable.go: the message
// POSTed as it came, the answer decoded once, params and results kept as
// raw JSON) or the Go SDK's mcp.SSEClientTransport for the legacy
// transport. Both keep Mcp-Session-Id, resume response streams with
// Last-Event-ID, and DELETE the session on close. It watches only what a
// transport needs: the protocol
// version in the initialize result (sent back as MCP-Protocol-Version) and
// notifications/initialized (after which it opens the standalone GET stream
// for server-initiated messages, which the SDK opens only for its own
// client).
//
// Tokens ride on oauth.Transport: on a 401 it asks the source for a fresh
// token once and retries, and on a 403 insufficient_scope the daemon steps
// up. A refusal that survives that never reaches the app as HTTP: the
// pending request gets a JSON-RPC error naming `mcpauthd login URL`.
package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type mcpMessage = jsonrpc.Message

// CodeSignInNeeded is the JSON-RPC error code of a request the proxy could
// not send because the user must sign in (an implementation-defined server
// error code). The message names `mcpauthd login URL`.
const CodeSignInNeeded = -32030

// CodeUpstream is the JSON-RPC error code of a request the proxy could not
// deliver to the server for another reason (network, daemon, transport).
const CodeUpstream = -32031

// noStandaloneStream is the first protocol version without the standalone
// GET stream (SEP-2575).
const noStandaloneStream = "2026-07-28"

// Config is one proxy's setup.
type Config struct {
	// URL is the MCP endpoint.
	URL string
	// Resource is the server as the daemon knows it (the canonical resource
	// URL) when it differs from URL; it is what tokens are asked for and
	// what a sign-in error names. Empty means URL.
	Resource string
	// Mode picks the upstream transports; "" means HTTPFirst.
	Mode Mode
	// Headers are added to every upstream request (mcp-remote's --header),
	// which never leaves URL's origin. Authorization is the Source's alone.
	Headers http.Header
	// Source hands out the tokens; ipcsource.Source in mcpauthd.
	Source oauth.TokenSource
	// Base carries the HTTP requests; oauth.NewTransport's (the network
	// policy's) when nil. It must not time out whole requests: streams
	// stay open. Whatever Base, requests are pinned to URL's origin.
	Base http.RoundTripper
	// AllowPrivateNetworks lets the server be on a private, link-local or
	// CGNAT address (the daemon's allow_private_networks setting); only
	// used when Base is nil.
	AllowPrivateNetworks bool
	// Proxy chooses the HTTP proxy for the server's requests (the daemon's
	// proxy setting, see oauth.HTTPOptions.Proxy); nil connects directly.
	// Only used when Base is nil.
	Proxy func(*http.Request) (*url.URL, error)
	// Tools is the tool policy: the tools it refuses are removed from every
	// tools/list result and a tools/call naming one is answered with a
	// JSON-RPC error (toolpolicy.CodeRefused) without reaching the server.
	Tools toolpolicy.Policy
	// ToolUpdates, when set, brings policies that replace Tools while the
	// proxy runs (the server's policy changed in the daemon); each applies
	// to the requests the app sends after it, and the app is sent
	// notifications/tools/list_changed so that it lists the tools again.
	ToolUpdates <-chan toolpolicy.Policy
	// Refused, when set, is told of each tools/call Tools refused (the
	// daemon's audit log); it runs in a goroutine of its own, and Run waits
	// for it before returning.
	Refused func(tool string)
	// Logger gets the proxy's diagnostics (never a token, a header value
	// or a message's content). Discarded when nil.
	Logger *slog.Logger
}

func (c *Config) resource() string {
	if c.Resource != "" {
		return c.Resource
	}
	return c.URL
}

// Run relays messages between the app (newline-delimited JSON-RPC on in and
// out) and the server until the app closes in, ctx ends (SIGTERM), or the
// server side fails for good. On the way out it closes the upstream
// session (a DELETE for Streamable HTTP). It returns nil after the app or
// ctx ended it, and the upstream error otherwise. Run closes in and out.
func Run(ctx context.Context, cfg Config, in io.ReadCloser, out io.WriteCloser) error {
	if cfg.Source == nil {
		return errors.New("proxy: no token source")
	}
	if cfg.Mode == "" {
		cfg.Mode = HTTPFirst
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := cfg.Base
	if base == nil {
		base = oauth.NewTransport(oauth.HTTPOptions{AllowPrivateNetworks: cfg.AllowPrivateNetworks, Proxy: cfg.Proxy})
	}
	rt := &upstreamRT{
		// The network policy: nothing leaves cfg.URL's origin (neither a
		// redirect nor a legacy SSE endpoint elsewhere), so the token and
		// Headers reach that origin only. Every answer is bounded.
		next:     &oauth.Transport{Base: budget.Answers(oauth.PinOrigin(base, cfg.URL), budget.MCPAnswer, "an MCP answer"), Source: cfg.Source, ServerURL: cfg.URL},
		headers:  cfg.Headers,
		resource: cfg.resource(),
	}
	down := newStdioConn(in, out)
	// life bounds everything upstream but the session's DELETE, which the
	// SDK sends on a context of its own.
	life, cancel := context.WithCancel(ctx)
	r := &relay{cfg: cfg, log: log, rt: rt, hc: &http.Client{Transport: rt, CheckRedirect: oauth.CheckRedirect}, down: down, life: life, answered: make(chan struct{}, 1), workers: newWorkers()}
	r.policy = cfg.Tools
	if cfg.ToolUpdates != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				select {
				case p, ok := <-cfg.ToolUpdates:
					if !ok {
						return
					}
					r.mu.Lock()
					r.policy = p
					ready := r.ready
					r.mu.Unlock()
					log.Debug("tool policy changed", "policy", p.String())
					if ready { // the app's list of tools is out of date
						if err := r.down.Write(life, &jsonrpc.Request{Method: "notifications/tools/list_changed"}); err != nil {
							log.Debug("writing to the app", "err", err)
						}
					}
				case <-life.Done():
					return
				}
			}
		}()
	}
	r.quiet = &http.Client{Transport: &upstreamRT{
		next:    &oauth.Transport{Base: oauth.PinOrigin(base, cfg.URL), Source: quietSource(cfg.Source), ServerURL: cfg.URL},
		headers: cfg.Headers, resource: rt.resource,
	}, CheckRedirect: oauth.CheckRedirect}
	for {
		msg, err := down.Read(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil && r.failure() == nil {
				log.Warn("reading from the app", "err", err)
			}
			break
		}
		r.fromApp(msg)
	}
	r.drain(ctx, drainLimit)
	cancel()
	r.wg.Wait()
	r.workers.stop()
	if up := r.upstream(); up != nil {
		if err := up.Close(); err != nil {
			log.Debug("closing the upstream session", "err", err)
		}
	}
	_ = down.Close()
	return r.failure()
}

// relay is one running proxy.
type relay struct {
	cfg Config
	log *slog.Logger
	rt  *upstreamRT
	hc  *http.Client
	// quiet carries the server/discover probe, which runs beside the app's
	// initialize: with a token the server refuses it does not ask the
	// daemon to act (the initialize does; the probe retries after it).
	quiet *http.Client
	down  mcp.Connection
	life  context.Context
	wg    sync.WaitGroup
	// workers run the requests of a ready session (workers.go).
	workers *workers

	mu         sync.Mutex
	up         mcp.Connection
	streamable bool
	initID     jsonrpc.ID // the app's initialize request, until answered
	ready      bool       // the initialize result went to the app
	listening  bool
	err        error // the upstream failure that ended the relay
	// pending holds the IDs of the app's requests not yet answered;
	// answered is signalled each time one is (drain waits on it).
	pending  map[jsonrpc.ID]bool
	answered chan struct{}
	// lists holds the IDs of the app's tools/list requests not yet
	// answered: their results are filtered by the tool policy.
	lists map[jsonrpc.ID]bool
	// policy is the tool policy in force (cfg.Tools, then ToolUpdates).
	policy toolpolicy.Policy
	br     bridge // protocol version bridging (bridge.go)
	// params holds the tools' custom parameter headers (paramheaders.go).
	params paramTools
	mr     mrtr // multi-round-trip requests of a bridged session (mrtr.go)
}

// drainLimit bounds how long the proxy waits, after the app closed its
// end, for the answers to requests already sent.
const drainLimit = 10 * time.Second

// drain waits until every request the app sent has its answer written (so
// `printf 'INIT\nINITIALIZED\nLIST\n' | mcpauthd proxy URL` prints both
// replies), the server connection failed, ctx ended, or limit passed.
func (r *relay) drain(ctx context.Context, limit time.Duration) {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		r.mu.Lock()
		n, failed := len(r.pending), r.err != nil
		r.mu.Unlock()
		if n == 0 || failed {
			return
		}
		select {
		case <-r.answered:
		case <-t.C:
			r.log.Warn("the app closed its end; gave up waiting for answers", "unanswered", n)
			return
		case <-ctx.Done():
			return
		}
	}
}

// track notes an app request that awaits an answer.
func (r *relay) track(id jsonrpc.ID) {
	r.mu.Lock()
	if r.pending == nil {
		r.pending = map[jsonrpc.ID]bool{}
	}
	r.pending[id] = true
	r.mu.Unlock()
}

// cancelled notes that the app gave up a request (notifications/cancelled):
// the proxy waits for no answer to it when the app closes its end.
func (r *relay) cancelled(params json.RawMessage) {
	if id, ok := cancelledID(params); ok {
		r.answer(id)
	}
}

// cancelledID is the request a notifications/cancelled with params names.
func cancelledID(params json.RawMessage) (jsonrpc.ID, bool) {
	var p struct {
		RequestID any `json:"requestId"`
	}
	if json.Unmarshal(params, &p) != nil {
		return jsonrpc.ID{}, false
	}
	id, err := jsonrpc.MakeID(p.RequestID)
	return id, err == nil && id.IsValid()
}

// answer notes that the app got the answer to id.
func (r *relay) answer(id jsonrpc.ID) {
	r.mu.Lock()
	delete(r.pending, id)
	r.mu.Unlock()
	select {
	case r.answered <- struct{}{}:
	default:
	}
}

func (r *relay) upstream() mcp.Connection {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

func (r *relay) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// fromApp sends one message of the app upstream. Until the session is set
// up messages go one at a time, in order; then each request goes in its
// own goroutine, so a slow answer does not hold up the others.
func (r *relay) fromApp(msg mcpMessage) {
	if resp, ok := msg.(*jsonrpc.Response); ok && r.inputAnswer(resp) {
		return
	}
	req, isReq := msg.(*jsonrpc.Request)
	if isReq {
		r.log.Debug("app → server", "method", req.Method, "id", req.ID.Raw())
	}
	if isReq && req.IsCall() {
		r.track(req.ID)
		if r.toolPolicy(req) {
			return
		}
	}
	if isReq && req.Method == "notifications/cancelled" {
		r.cancelled(req.Params)
	}
	r.mu.Lock()
	up, ready := r.up, r.ready
	if isReq && req.IsCall() && req.Method == "initialize" {
		r.initID = req.ID
	}
	r.mu.Unlock()
	if up == nil {
		if isReq && req.IsCall() && req.Method == "initialize" {
			r.startProbe(req)
		}
		conn, streamable, err := r.dial(r.life, msg)
		if err != nil {
			r.refuse(msg, err)
			return
		}
		r.mu.Lock()
		r.up, r.streamable = conn, streamable
		r.mu.Unlock()
		r.wg.Add(1)
		go r.fromServer(conn)
		return
	}
	var call *inputCall // a multi-round-trip call (mrtr.go)
	if isReq && r.bridged() {
		out, answered := r.bridgeRequest(req)
		if answered || out == nil {
			return
		}
		msg, req = out, out
		call = r.noteCall(req)
	}
	if isReq && req.IsCall() && ready {
		r.wg.Add(1)
		r.workers.do(func() {
			defer r.wg.Done()
			r.send(up, msg, call, true)
		})
		return
	}
	r.send(up, msg, call, false)
	if isReq && req.Method == "notifications/initialized" {
		r.startListening(up)
	}
}

// tools is the tool policy in force.
func (r *relay) tools() toolpolicy.Policy {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.policy
}

// toolPolicy applies the tool policy to the app's request req: it answers a
// tools/call of a refused tool itself (and reports true: req goes no
// further), and notes a tools/list so that its result is filtered.
func (r *relay) toolPolicy(req *jsonrpc.Request) bool {
	switch req.Method {
	case "tools/list":
		r.mu.Lock()
		if r.lists == nil {
			r.lists = map[jsonrpc.ID]bool{}
		}
		r.lists[req.ID] = true
		r.mu.Unlock()
	case "tools/call":
		pol := r.tools()
		if pol.IsZero() {
			return false
		}
		tool := toolpolicy.CallTool(req.Params)
		if pol.Allows(tool) {
			return false
		}
		r.log.Warn("refused a tool call: the tool policy blocks this tool", "tool", tool)
		werr := &jsonrpc.Error{Code: toolpolicy.CodeRefused, Message: toolpolicy.RefusalMessage(tool, r.cfg.resource()), Data: toolpolicy.RefusalData(tool)}
		if err := r.down.Write(r.life, &jsonrpc.Response{ID: req.ID, Error: werr}); err != nil {
			r.log.Debug("writing to the app", "err", err)
		}
		r.answer(req.ID)
		if r.cfg.Refused != nil {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.cfg.Refused(tool)
			}()
		}
		return true
	}
	return false
}

// send sends msg upstream; the request of call, when not nil, on its
// context. With answer, see write.
func (r *relay) send(up mcp.Connection, msg mcpMessage, call *inputCall, answer bool) {
	ctx := r.life
	if call != nil {
		ctx = call.ctx
	}
	if err := r.write(ctx, up, msg, answer); err != nil {
		if call != nil && !r.endCall(call) {
			return // the app cancelled it: no answer
		}
		r.refuse(msg, err)
	}
}

// write sends msg upstream on ctx, a tools/call with its parameter headers.
// With answer (a request sent from a goroutine of its own) over Streamable
// HTTP, the answer is read and relayed to the app in this goroutine
// (streamConn.Call): two goroutine hand-offs fewer on every call's way
// back than through fromServer. Otherwise it comes through up's Read.
func (r *relay) write(ctx context.Context, up mcp.Connection, msg mcpMessage, answer bool) error {
	if req, ok := msg.(*jsonrpc.Request); ok && req.Method == "tools/call" {
		ctx = withParamHeaders(ctx, r.params.paramHeaders(req.Params))
	}
	if sc, ok := up.(*streamConn); ok && answer {
		return sc.Call(ctx, msg, r.toApp)
	}
	return up.Write(ctx, msg)
}

// refuse tells the app that msg could not be delivered: a JSON-RPC error
// answers a request; anything else is only logged.
func (r *relay) refuse(msg mcpMessage, err error) {
	if r.life.Err() != nil {
		return
	}
	werr := r.rpcError(err)
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		r.log.Warn("a message to the server was not delivered", "err", werr.Message)
		return
	}
	r.log.Warn("a request to the server failed", "method", req.Method, "err", werr.Message)
	if err := r.down.Write(r.life, &jsonrpc.Response{ID: req.ID, Error: werr}); err != nil {
		r.log.Debug("writing to the app", "err", err)
	}
	r.answer(req.ID)
}

// rpcError is what the app is told about err: the server's own JSON-RPC
// error when it sent one, a sign-in error naming `mcpauthd login URL`, or
// a transport error. None holds a token: the ipc and oauth errors never
// do, and no HTTP body of a refusal is read into one.
func (r *relay) rpcError(err error) *jsonrpc.Error {
	if isAuth(err) || errors.Is(err, ipc.ErrNeedsSignIn) {
		u := r.cfg.resource()
		return &jsonrpc.Error{Code: CodeSignInNeeded, Message: fmt.Sprintf("mcpauthd: sign-in to %s needed; run: mcpauthd login %s", u, u)}
	}
	if werr := serverError(err); werr != nil {
		return werr
	}
	return &jsonrpc.Error{Code: CodeUpstream, Message: "mcpauthd proxy: " + err.Error()}
}

// codeRejected is the code of the Go SDK's "rejected by transport"
// sentinel, which wraps every error of a request that did not reach the
// server; it says nothing the app can use.
const codeRejected = -32005

// serverError finds the JSON-RPC error the server answered with in err's
// tree, if any.
func serverError(err error) *jsonrpc.Error {
	if w, ok := err.(*jsonrpc.Error); ok && w.Code != codeRejected {
		return w
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			return serverError(e)
		}
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if w := serverError(e); w != nil {
				return w
			}
		}
	}
	return nil
}

// fromServer relays what the server sends over conn to the app, until conn
// ends. A failure of conn ends the relay: the app sees its stdout close and
// can start the proxy again.
func (r *relay) fromServer(conn mcp.Connection) {
	defer r.wg.Done()
	for {
		msg, err := conn.Read(r.life)
		if err != nil {
			if r.life.Err() == nil {
				r.log.Error("the connection to the server failed", "err", err)
				r.mu.Lock()
				if r.err == nil {
					r.err = fmt.Errorf("connection to %s: %w", r.cfg.URL, err)
				}
				r.mu.Unlock()
				_ = r.down.Close()
			}
			return
		}
		r.toApp(msg)
	}
}

// toApp writes one server message to the app, noting the protocol version
// when it is the initialize result.
func (r *relay) toApp(msg mcpMessage) {
	if r.bridged() && ownMessage(msg) {
		return
	}
	switch m := msg.(type) {
	case *jsonrpc.Response:
		if r.bridged() {
			var round bool
			if m, round = r.inputRound(m); round {
				return
			}
			msg = m
		}
		r.mu.Lock()
		isInit := r.initID.IsValid() && m.ID == r.initID
		if isInit {
			r.initID = jsonrpc.ID{}
		}
		isList := r.lists[m.ID]
		delete(r.lists, m.ID)
		r.mu.Unlock()
		if isList && m.Error == nil {
			var dropped []string
			if m.Result, dropped = r.params.learn(m.Result); len(dropped) > 0 {
				r.log.Warn("tools/list: tools left out for invalid x-mcp-header annotations (SEP-2243)", "tools", dropped)
			}
			var n int
			if m.Result, n = r.tools().FilterList(m.Result); n > 0 {
				r.log.Debug("tools/list: tools hidden by the tool policy", "hidden", n)
			}
		}
		if isInit && m.Error == nil {
			var res struct {
				ProtocolVersion string `json:"protocolVersion"`
			}
			if json.Unmarshal(m.Result, &res) == nil && res.ProtocolVersion != "" {
				if v, bridged := r.bridgeInit(res.ProtocolVersion); bridged {
					r.startSubscription(m.Result)
					m.Result = setProtocolVersion(m.Result, v)
				} else {
					r.rt.setVersion(res.ProtocolVersion)
				}
				r.log.Debug("session initialized", "protocol_version", res.ProtocolVersion)
			}
			r.mu.Lock()
			r.ready = true
			r.mu.Unlock()
		}
		if !isInit && r.bridged() {
			bridgeResponse(m)
		}
		r.log.Debug("server → app", "response", m.ID.Raw(), "error", m.Error != nil)
	case *jsonrpc.Request:
		r.log.Debug("server → app", "method", m.Method, "id", m.ID.Raw())
	}
	if err := r.down.Write(r.life, msg); err != nil && r.life.Err() == nil {
		r.log.Debug("writing to the app", "err", err)
	}
	if m, ok := msg.(*jsonrpc.Response); ok {
		r.answer(m.ID)
	}
}

// startListening opens the standalone stream once the app has sent
// notifications/initialized over Streamable HTTP, for protocol versions
// that have one. Like the Go SDK's client, whose Connect returns only once
// that GET is answered, it returns when the server has answered the GET
// (or refused it, or listenWait passed): the app's next requests go after
// it, so what the server sends on the stream about them is not missed.
func (r *relay) startListening(up mcp.Connection) {
	v := r.rt.protocolVersion()
	r.mu.Lock()
	start := r.streamable && !r.listening && v != "" && v < noStandaloneStream
	r.listening = r.listening || start
	r.mu.Unlock()
	if !start {
		return
	}
	opened := make(chan struct{})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.listen(r.life, up.SessionID(), r.toApp, sync.OnceFunc(func() { close(opened) }))
	}()
	t := time.NewTimer(listenWait)
	defer t.Stop()
	select {
	case <-opened:
	case <-t.C:
	case <-r.life.Done():
	}
}

// listenWait bounds how long the app's requests wait for the standalone
// stream to open.
const listenWait = 2 * time.Second
