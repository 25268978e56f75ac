package proxy

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Resource subscriptions for a bridged session.
//
// An app older than 2026-07-28 asks resources/subscribe (and
// resources/unsubscribe) and then hears notifications/resources/updated on
// its session. A 2026-07-28 server has neither request: the client opens
// a subscriptions/listen stream with resourceSubscriptions, and the
// updates come on it until the client ends it (SEP-2575). So for a bridged
// session the proxy answers the app's resources/subscribe itself once it
// has opened such a stream for the URI (id "mcpauthd-subscribe-N"; one per
// URI, a second subscribe to it is a no-op) and passes the updates on; an
// unsubscribe closes that stream. The streams' own answers and acknowledgements
// never reach the app (ownMessage).

// subscribePrefix starts the ids of the proxy's resource subscriptions.
const subscribePrefix = "mcpauthd-subscribe-"

// resourceSub is one open subscriptions/listen stream for a resource.
type resourceSub struct {
	cancel context.CancelFunc
}

// bridgeSubscription answers the app's resources/subscribe or
// resources/unsubscribe req for a bridged session.
func (r *relay) bridgeSubscription(req *jsonrpc.Request) {
	var p struct {
		URI string `json:"uri"`
	}
	if json.Unmarshal(req.Params, &p) != nil || p.URI == "" {
		r.answerApp(req.ID, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: req.Method + ": want params with a uri"})
		return
	}
	up := r.upstream()
	r.mu.Lock()
	if r.br.subs == nil {
		r.br.subs = map[string]*resourceSub{}
	}
	sub, open := r.br.subs[p.URI]
	if req.Method == "resources/unsubscribe" {
		delete(r.br.subs, p.URI)
	}
	r.mu.Unlock()
	ok := func() {
		if err := r.down.Write(r.life, &jsonrpc.Response{ID: req.ID, Result: json.RawMessage(`{}`)}); err != nil {
			r.log.Debug("writing to the app", "err", err)
		}
		r.answer(req.ID)
	}
	if req.Method == "resources/unsubscribe" {
		if open {
			// Closing the stream ends it: a stateless server has no
			// other way to tie a notifications/cancelled to it (and the
			// Go SDK's answers one with 400).
			sub.cancel()
		}
		ok()
		return
	}
	if open {
		ok()
		return
	}
	params, _ := json.Marshal(map[string]any{"notifications": map[string]any{"resourceSubscriptions": []string{p.URI}}})
	listen, _ := r.bridgeRequest(&jsonrpc.Request{ID: nextID("subscribe"), Method: "subscriptions/listen", Params: params})
	ctx, cancel := context.WithCancel(r.life)
	sub = &resourceSub{cancel: cancel}
	r.mu.Lock()
	r.br.subs[p.URI] = sub
	r.mu.Unlock()
	if err := up.Write(ctx, listen); err != nil {
		cancel()
		r.mu.Lock()
		if r.br.subs[p.URI] == sub {
			delete(r.br.subs, p.URI)
		}
		r.mu.Unlock()
		r.answerApp(req.ID, r.rpcError(err))
		return
	}
	ok()
}

// ownSubscription reports whether id is one of the proxy's resource
// subscriptions.
func ownSubscription(id jsonrpc.ID) bool {
	s, ok := id.Raw().(string)
	return ok && strings.HasPrefix(s, subscribePrefix)
}
