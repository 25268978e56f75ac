package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Protocol version bridging.
//
// An app that speaks a version before 2026-07-28 opens with initialize and
// then sends plain requests; a server that speaks only 2026-07-28 answers
// that initialize (with 2025-11-25) but refuses every later request that
// is not a 2026-07-28 one: MCP-Protocol-Version 2026-07-28, the per-request
// _meta triple (protocolVersion, clientInfo, clientCapabilities; SEP-2575),
// and the Mcp-Method/Mcp-Name headers (SEP-2243). So, alongside the app's
// initialize, the proxy asks the server server/discover (SEP-2575). When
// the initialize opened no session (a server with sessions serves older
// versions: the app's answer then waits for nothing), and the server's
// supported versions hold 2026-07-28 and not the version its initialize
// answered, the relay bridges for the rest of the session: the
// app is told its own version, notifications/initialized is not sent on
// (there is no session to initialize; nor is any other notification,
// see below), logging/setLevel is answered by the
// proxy and its level rides in each request's _meta, every request gets
// the _meta triple (from the app's initialize; the relay (streamable.go) derives
// the headers from it), and resultType "complete" is dropped from results.
//
// The other direction needs no translation: a 2026-07-28 app opens with
// server/discover, which an older server refuses, and falls back to
// initialize as the spec requires; the proxy passes both on.
//
// The change notifications an older app got on the standalone stream come,
// from a 2026-07-28 server, on a subscriptions/listen stream: when the
// server's capabilities offer list changes, the proxy opens one for the
// session and passes the notifications on (not its acknowledgement).
//
// Multi-round-trip requests (SEP-2322, resultType "input_required") are
// turned into server→client requests to the app and retried (mrtr.go).
//
// No notification of the app is sent on: a stateless 2026-07-28 server
// has none to take from a client over Streamable HTTP (the Go SDK's
// refuses such a POST, which breaks its client's connection). A request
// is cancelled by closing its stream, which the proxy does on the app's
// notifications/cancelled for every request of the app it keeps
// (cancelCall); notifications/initialized has no session to initialize;
// notifications/progress could only be about a server→client request,
// and the server makes none (it asks for input in its results, and the
// proxy, not the server, asks the app); notifications/roots/list_changed
// has no session to tell: the server asks for the roots (roots/list) in
// the input requests of each request that needs them.
//
// resources/subscribe and resources/unsubscribe become a
// subscriptions/listen stream per resource (subscribe.go).

// modernVersion is the protocol version the proxy bridges older apps to.
const modernVersion = "2026-07-28"

// probeWait bounds how long the initialize answer waits for server/discover.
const probeWait = 5 * time.Second

// The SEP-2575 _meta keys.
const (
	metaProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	metaClientInfo         = "io.modelcontextprotocol/clientInfo"
	metaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
	metaLogLevel           = "io.modelcontextprotocol/logLevel"
)

// initParams is what the bridge reads of the app's initialize.
type initParams struct {
	ProtocolVersion string          `json:"protocolVersion"`
	Capabilities    json.RawMessage `json:"capabilities"`
	ClientInfo      json.RawMessage `json:"clientInfo"`
}

// bridge is the relay's bridging state; guarded by relay.mu.
type bridge struct {
	app   initParams    // the app's initialize
	probe chan []string // the server's supported versions (nil: unknown)
	// initDone is closed when the initialize is answered (the probe
	// retries then if its token was refused).
	initDone chan struct{}
	on       bool // the app is older than the server: translate
	meta     map[string]json.RawMessage
	subs     map[string]*resourceSub // resource URI → its stream (subscribe.go)
}

// startProbe notes the app's initialize msg and, when the app speaks a
// version before modernVersion over Streamable HTTP, asks the server
// server/discover in the background.
func (r *relay) startProbe(req *jsonrpc.Request) {
	var p initParams
	if json.Unmarshal(req.Params, &p) != nil || p.ProtocolVersion >= modernVersion || r.cfg.Mode == SSEOnly {
		return
	}
	probe, initDone := make(chan []string, 1), make(chan struct{})
	r.mu.Lock()
	r.br.app, r.br.probe, r.br.initDone = p, probe, initDone
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		versions, refused := r.discover(r.quiet, p.ClientInfo)
		if refused {
			// The token was refused: once the initialize has been
			// answered (with a token the daemon made good), ask again.
			select {
			case <-initDone:
				versions, _ = r.discover(r.hc, p.ClientInfo)
			case <-r.life.Done():
			}
		}
		probe <- versions
	}()
}

// quietSource is src whose Challenged asks the daemon nothing.
func quietSource(src oauth.TokenSource) oauth.TokenSource { return quietTokens{src} }

var errQuiet = errors.New("proxy: the probe's token was refused")

type quietTokens struct{ oauth.TokenSource }

func (quietTokens) Challenged(context.Context, string, *oauth.Challenge) error { return errQuiet }

// discover asks the server server/discover over hc and returns the
// versions it supports, nil when it does not answer it; refused when the
// server refused the token.
func (r *relay) discover(hc *http.Client, clientInfo json.RawMessage) (versions []string, refused bool) {
	if len(clientInfo) == 0 {
		clientInfo = json.RawMessage(`{"name":"mcpauthd","version":"0"}`)
	}
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": "mcpauthd-discover", "method": "server/discover",
		"params": map[string]any{"_meta": map[string]any{
			metaProtocolVersion: modernVersion, metaClientInfo: clientInfo, metaClientCapabilities: map[string]any{},
		}},
	})
	ctx, cancel := context.WithTimeout(r.life, probeWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(headerProtocolVersion, modernVersion)
	req.Header.Set("Mcp-Method", "server/discover")
	res, err := hc.Do(req)
	if err != nil {
		r.log.Debug("server/discover failed", "err", err)
		return nil, isAuth(err) || errors.Is(err, errQuiet)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		r.log.Debug("server/discover refused: an older server", "status", res.StatusCode)
		return nil, false
	}
	var answer *jsonrpc.Response
	ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if err != nil {
			return nil, false
		}
		if m, err := jsonrpc.DecodeMessage(b); err == nil {
			answer, _ = m.(*jsonrpc.Response)
		}
	case "text/event-stream":
		_, _, _, _ = readEvents(io.LimitReader(res.Body, 1<<20), 1<<20, func(m jsonrpc.Message) {
			if resp, ok := m.(*jsonrpc.Response); ok && answer == nil {
				answer = resp
			}
		})
	}
	if answer == nil || answer.Error != nil {
		return nil, false
	}
	var dr struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	if json.Unmarshal(answer.Result, &dr) != nil {
		return nil, false
	}
	r.log.Debug("server/discover", "supported_versions", dr.SupportedVersions)
	return dr.SupportedVersions, false
}

// bridgeInit decides, on the server's answer to the app's initialize
// (protocol version answered), whether the session is bridged, and
// returns the version to tell the app.
func (r *relay) bridgeInit(answered string) (string, bool) {
	r.mu.Lock()
	probe, app, initDone := r.br.probe, r.br.app, r.br.initDone
	r.br.probe = nil
	r.mu.Unlock()
	if probe == nil {
		return answered, false
	}
	close(initDone)
	if up := r.upstream(); up != nil && up.SessionID() != "" {
		// The server opened a session: it serves this version statefully,
		// so it is no 2026-07-28-only server (SEP-2567 has no sessions).
		// The app's answer does not wait for the probe.
		return answered, false
	}
	var supported []string
	select {
	case supported = <-probe:
	case <-time.After(probeWait):
	case <-r.life.Done():
	}
	if slices.Contains(supported, answered) || !slices.Contains(supported, modernVersion) {
		return answered, false
	}
	meta := map[string]json.RawMessage{metaProtocolVersion: json.RawMessage(`"` + modernVersion + `"`)}
	if len(app.ClientInfo) > 0 {
		meta[metaClientInfo] = app.ClientInfo
	}
	meta[metaClientCapabilities] = app.Capabilities
	if len(app.Capabilities) == 0 {
		meta[metaClientCapabilities] = json.RawMessage(`{}`)
	}
	r.mu.Lock()
	r.br.on, r.br.meta = true, meta
	r.mu.Unlock()
	r.rt.setVersion(modernVersion)
	r.log.Info("bridging protocol versions: the server speaks only "+modernVersion, "app_version", app.ProtocolVersion)
	return app.ProtocolVersion, true
}

// bridged reports whether the session is bridged.
func (r *relay) bridged() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.br.on
}

// bridgeRequest translates an app's message for a bridged session. It
// returns the message to send (nil: none) and whether the proxy answered
// it itself.
func (r *relay) bridgeRequest(req *jsonrpc.Request) (send *jsonrpc.Request, answered bool) {
	switch req.Method {
	case "notifications/initialized":
		return nil, false
	case "logging/setLevel":
		var p struct {
			Level json.RawMessage `json:"level"`
		}
		if json.Unmarshal(req.Params, &p) == nil && len(p.Level) > 0 {
			r.mu.Lock()
			r.br.meta[metaLogLevel] = p.Level
			r.mu.Unlock()
		}
		if req.IsCall() {
			if err := r.down.Write(r.life, &jsonrpc.Response{ID: req.ID, Result: json.RawMessage(`{}`)}); err != nil {
				r.log.Debug("writing to the app", "err", err)
			}
			r.answer(req.ID)
		}
		return nil, true
	case "resources/subscribe", "resources/unsubscribe":
		if req.IsCall() {
			r.bridgeSubscription(req)
		}
		return nil, true
	case "notifications/cancelled":
		if id, ok := cancelledID(req.Params); ok {
			r.cancelCall(id)
		}
		return nil, false
	}
	if !req.IsCall() {
		r.log.Debug("app → server: notification dropped: it has no meaning in "+modernVersion, "method", req.Method)
		return nil, false
	}
	params := map[string]json.RawMessage{}
	if len(req.Params) > 0 && json.Unmarshal(req.Params, &params) != nil {
		return req, false // not an object: let the server say what is wrong
	}
	meta := map[string]json.RawMessage{}
	if raw, ok := params["_meta"]; ok {
		_ = json.Unmarshal(raw, &meta)
	}
	r.mu.Lock()
	for k, v := range r.br.meta {
		if _, ok := meta[k]; !ok {
			meta[k] = v
		}
	}
	r.mu.Unlock()
	params["_meta"], _ = json.Marshal(meta)
	out := *req
	out.Params, _ = json.Marshal(params)
	return &out, false
}

// listenID is the ID of the proxy's own subscriptions/listen request.
var listenID, _ = jsonrpc.MakeID("mcpauthd-subscriptions-listen")

// startSubscription opens a subscriptions/listen stream for the list
// changes the bridged server offers in its initialize result.
func (r *relay) startSubscription(initResult json.RawMessage) {
	var res struct {
		Capabilities map[string]struct {
			ListChanged bool `json:"listChanged"`
		} `json:"capabilities"`
	}
	if json.Unmarshal(initResult, &res) != nil {
		return
	}
	subs := map[string]bool{}
	for capability, key := range map[string]string{"tools": "toolsListChanged", "prompts": "promptsListChanged", "resources": "resourcesListChanged"} {
		if res.Capabilities[capability].ListChanged {
			subs[key] = true
		}
	}
	up := r.upstream()
	if len(subs) == 0 || up == nil {
		return
	}
	params, _ := json.Marshal(map[string]any{"notifications": subs})
	req, _ := r.bridgeRequest(&jsonrpc.Request{ID: listenID, Method: "subscriptions/listen", Params: params})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := up.Write(r.life, req); err != nil && r.life.Err() == nil {
			r.log.Warn("subscriptions/listen failed: the app will not hear of list changes", "err", err)
		}
	}()
}

// ownMessage reports whether m belongs to the proxy's subscription, not
// to the app.
func ownMessage(m jsonrpc.Message) bool {
	switch m := m.(type) {
	case *jsonrpc.Response:
		return m.ID == listenID || ownSubscription(m.ID)
	case *jsonrpc.Request:
		return m.Method == "notifications/subscriptions/acknowledged"
	}
	return false
}

// setProtocolVersion returns an initialize result with its protocolVersion
// replaced by v.
func setProtocolVersion(result json.RawMessage, v string) json.RawMessage {
	var res map[string]json.RawMessage
	if json.Unmarshal(result, &res) != nil {
		return result
	}
	res["protocolVersion"], _ = json.Marshal(v)
	b, err := json.Marshal(res)
	if err != nil {
		return result
	}
	return b
}

// bridgeResponse translates a server's answer for a bridged session.
func bridgeResponse(m *jsonrpc.Response) {
	if m.Error != nil || !bytes.Contains(m.Result, []byte(`"resultType"`)) {
		return
	}
	var res map[string]json.RawMessage
	if json.Unmarshal(m.Result, &res) != nil {
		return
	}
	var rt string
	_ = json.Unmarshal(res["resultType"], &rt)
	if rt != "" && rt != "complete" {
		m.Result, m.Error = nil, &jsonrpc.Error{Code: CodeUpstream, Message: "mcpauthd proxy: the server answered with resultType " + rt + ", which an app that speaks an older MCP version cannot take"}
		return
	}
	delete(res, "resultType")
	if b, err := json.Marshal(res); err == nil {
		m.Result = b
	}
}
