package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Multi-round-trip requests (SEP-2322) for a bridged session.
//
// A 2026-07-28 server that needs input from the user (an elicitation, a
// sampling, the client's roots) while it serves tools/call, prompts/get or
// resources/read does not send a request of its own: it answers with
// resultType "input_required", a map of inputRequests (each a method and
// its params) and an opaque requestState, and the client sends the same
// request again, under a new JSON-RPC id, with inputResponses (the result
// of each input request, by key) and the requestState. An app older than
// 2026-07-28 knows none of this, but it answers server→client requests of
// the same methods. So for a bridged session the proxy plays that part:
// it sends each input request to the app as a request of its own (id
// "mcpauthd-input-N"), gathers the app's answers, and retries the app's
// request upstream (id "mcpauthd-retry-N"), as many rounds as the server
// asks for (at most maxInputRounds); the app gets only the final answer,
// under its own id. An error the app answers an input request with ends
// the app's request with that error.
//
// When the app cancels its request (notifications/cancelled with its id)
// the round ends: the input requests the app has not answered are
// cancelled with notifications/cancelled for the proxy's ids, no retry is
// sent, and the app gets no answer (the cancellation rules). The server is
// told by the closing of the response stream of the request it holds (the
// app's, or the current retry): from 2026-07-28 on that is Streamable
// HTTP's cancellation signal, and no notifications/cancelled is expected
// (the Go SDK's server refuses one, which breaks its client's connection).
// While the app is being asked the server holds nothing (it answered
// input_required; its requestState is the app's to give back or drop), so
// nothing goes to it. Late answers to the proxy's ids (the app's to a
// cancelled input request, the server's to a cancelled retry) go nowhere.
//
// A request the server cannot answer with input_required is cancelled the
// same way: every request of the app is a call here, from when it is sent
// until it is answered or cancelled (one that is not a multi-round trip
// just never has a round), so the app's cancel closes its stream and the
// server's late answer goes nowhere.
//
// This file holds the translation; the relay calls noteCall when it sends
// a request (and sends it on its call's context), inputRound on each
// server answer, inputAnswer on each of the app's answers, and cancelCall
// on the app's notifications/cancelled.

// maxInputRounds bounds the rounds of one request (the Go SDK's client
// gives up after as many).
const maxInputRounds = 10

// mrtrMethods are the requests a server may answer with input_required.
var mrtrMethods = []string{"tools/call", "prompts/get", "resources/read"}

// inputMethods are the input requests a server may make (the client's
// requests of the older protocol); the proxy asks the app no other.
var inputMethods = []string{"elicitation/create", "sampling/createMessage", "roots/list"}

// The prefixes of the proxy's own request ids.
const (
	inputPrefix = "mcpauthd-input-"
	retryPrefix = "mcpauthd-retry-"
)

// inputCall is one of the app's requests in a multi-round trip, from
// noteCall until the app has its answer or cancelled it (endCall).
type inputCall struct {
	appID jsonrpc.ID // the id the app's answer must carry
	// ctx carries the call's requests upstream; cancel ends it, which
	// closes the response stream of the one the server holds.
	ctx    context.Context
	cancel context.CancelFunc
	req    *jsonrpc.Request // as last sent upstream (with the app's params); guarded by relay.mu
	round  int              // guarded by relay.mu
}

// mrtr is the relay's multi-round-trip state; guarded by relay.mu.
type mrtr struct {
	calls   map[jsonrpc.ID]*inputCall             // upstream id → the call, while the server holds that request
	active  map[jsonrpc.ID]*inputCall             // the app's id → its call, until endCall
	waiting map[jsonrpc.ID]chan *jsonrpc.Response // the proxy's input request id → its round's answers
	rounds  int                                   // fulfil goroutines running
}

// pending counts the multi-round-trip state held: map entries and rounds
// running (none once every call has ended).
func (m *mrtr) pending() int {
	return len(m.calls) + len(m.active) + len(m.waiting) + m.rounds
}

// mrtrSeq numbers the proxy's own ids.
var mrtrSeq atomic.Int64

// nextID is a new id of the proxy's, "mcpauthd-" prefix "-N".
func nextID(prefix string) jsonrpc.ID {
	id, _ := jsonrpc.MakeID(fmt.Sprintf("mcpauthd-%s-%d", prefix, mrtrSeq.Add(1)))
	return id
}

// ownID reports whether id is one of the proxy's ids with prefix.
func ownID(id jsonrpc.ID, prefix string) bool {
	s, ok := id.Raw().(string)
	return ok && strings.HasPrefix(s, prefix)
}

// mrtrStarted, when set (by a test), is told of each relay that keeps a
// call.
var mrtrStarted func(*relay)

// noteCall remembers req, about to be sent upstream for a bridged session,
// when it is a request (the server's answer ends it; the app's cancel
// closes its stream), and returns its call (nil for a notification), on
// whose context send carries it.
func (r *relay) noteCall(req *jsonrpc.Request) *inputCall {
	if !req.IsCall() {
		return nil
	}
	ctx, cancel := context.WithCancel(r.life)
	call := &inputCall{appID: req.ID, ctx: ctx, cancel: cancel, req: req}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mr.calls == nil {
		r.mr.calls, r.mr.active = map[jsonrpc.ID]*inputCall{}, map[jsonrpc.ID]*inputCall{}
		if mrtrStarted != nil {
			mrtrStarted(r)
		}
	}
	if old := r.mr.active[req.ID]; old != nil { // the app reused an id: the old call is forgotten
		delete(r.mr.calls, old.req.ID)
		old.cancel()
	}
	r.mr.calls[req.ID] = call
	r.mr.active[req.ID] = call
	return call
}

// endCall forgets call and closes its requests' streams; it reports false
// when the call had already ended (the app cancelled it: it gets no
// answer).
func (r *relay) endCall(call *inputCall) bool {
	r.mu.Lock()
	live := r.mr.active[call.appID] == call
	if live {
		delete(r.mr.active, call.appID)
		if r.mr.calls[call.req.ID] == call {
			delete(r.mr.calls, call.req.ID)
		}
	}
	r.mu.Unlock()
	if live {
		call.cancel()
	}
	return live
}

// cancelCall takes the app's notifications/cancelled of request id for a
// bridged session: its call ends (a round stops; the server's request, if
// it holds one, is cancelled by closing its stream).
// Nothing is sent upstream, for any request: a 2026-07-28 server over
// Streamable HTTP expects no notifications/cancelled.
func (r *relay) cancelCall(id jsonrpc.ID) {
	r.mu.Lock()
	call := r.mr.active[id]
	r.mu.Unlock()
	if call != nil && r.endCall(call) {
		r.log.Debug("the app cancelled a request: its stream is closed", "id", id.Raw())
	}
}

// inputRequest is one entry of a result's inputRequests.
type inputRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// inputRound looks at the server's answer m for a bridged session. When m
// answers a request noteCall kept, an input_required result to one of
// mrtrMethods starts a round
// (in a goroutine of its own) and inputRound reports true (m goes no
// further); any other answer is returned as a copy that carries the app's
// id (the transport still reads m's), and ends the call. An answer to a
// call the app cancelled, or to a retry no call holds, goes nowhere (true).
// Answers to other requests are returned as they are.
func (r *relay) inputRound(m *jsonrpc.Response) (*jsonrpc.Response, bool) {
	r.mu.Lock()
	call := r.mr.calls[m.ID]
	delete(r.mr.calls, m.ID)
	var method string
	if call != nil {
		method = call.req.Method
	}
	r.mu.Unlock()
	if call == nil {
		return m, ownID(m.ID, retryPrefix)
	}
	if m.ID != call.appID {
		cp := *m
		cp.ID = call.appID
		m = &cp
	}
	var res struct {
		ResultType    string                  `json:"resultType"`
		InputRequests map[string]inputRequest `json:"inputRequests"`
		RequestState  string                  `json:"requestState"`
	}
	if m.Error != nil || !slices.Contains(mrtrMethods, method) || !bytes.Contains(m.Result, []byte(`"input_required"`)) || json.Unmarshal(m.Result, &res) != nil || res.ResultType != "input_required" {
		return m, !r.endCall(call)
	}
	r.mu.Lock()
	live := r.mr.active[call.appID] == call
	if live {
		r.mr.rounds++
	}
	r.mu.Unlock()
	if !live {
		return m, true
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			r.mr.rounds--
			r.mu.Unlock()
		}()
		r.fulfil(call, res.InputRequests, res.RequestState)
	}()
	return m, true
}

// fulfil asks the app each of requests, then sends call again with the
// answers; the app's request ends with an error when an answer is one, or
// when the server asked for too many rounds. When the call ends before
// every answer came (an error, the app cancelled), the input requests not
// answered are cancelled.
func (r *relay) fulfil(call *inputCall, requests map[string]inputRequest, state string) {
	for _, in := range requests {
		if !slices.Contains(inputMethods, in.Method) {
			r.failCall(call, &jsonrpc.Error{Code: CodeUpstream, Message: fmt.Sprintf("mcpauthd proxy: the server asked for input with %.64q, which is no input request (SEP-2322 allows %s)", in.Method, strings.Join(inputMethods, ", "))})
			return
		}
	}
	r.mu.Lock()
	round := call.round + 1
	r.mu.Unlock()
	if round >= maxInputRounds {
		r.failCall(call, &jsonrpc.Error{Code: CodeUpstream, Message: fmt.Sprintf("mcpauthd proxy: the server asked for more input %d times (SEP-2322); gave up", maxInputRounds)})
		return
	}
	answers := make(chan *jsonrpc.Response, len(requests))
	asked := map[jsonrpc.ID]string{} // input request id → key, until answered
	r.mu.Lock()
	if r.mr.active[call.appID] != call { // cancelled before the round began
		r.mu.Unlock()
		return
	}
	if r.mr.waiting == nil {
		r.mr.waiting = map[jsonrpc.ID]chan *jsonrpc.Response{}
	}
	for key := range requests {
		id := nextID("input")
		r.mr.waiting[id] = answers
		asked[id] = key
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		for id := range asked {
			delete(r.mr.waiting, id)
		}
		r.mu.Unlock()
		if r.life.Err() != nil {
			return
		}
		for id := range asked {
			r.log.Debug("server → app: input request cancelled (SEP-2322)", "id", id.Raw())
			params, _ := json.Marshal(map[string]any{"requestId": id.Raw(), "reason": "mcpauthd proxy: the request that needed this input ended"})
			if err := r.down.Write(r.life, &jsonrpc.Request{Method: "notifications/cancelled", Params: params}); err != nil {
				r.log.Debug("writing to the app", "err", err)
			}
		}
	}()
	for id, key := range asked {
		in := requests[key]
		r.log.Debug("server → app: input request (SEP-2322)", "method", in.Method, "id", id.Raw())
		if err := r.down.Write(r.life, &jsonrpc.Request{ID: id, Method: in.Method, Params: in.Params}); err != nil {
			r.log.Debug("writing to the app", "err", err)
			r.endCall(call)
			return
		}
	}
	responses := map[string]json.RawMessage{}
	for len(asked) > 0 {
		select {
		case res := <-answers:
			key := asked[res.ID]
			delete(asked, res.ID)
			if res.Error != nil {
				r.failCall(call, res.Error)
				return
			}
			responses[key] = res.Result
		case <-call.ctx.Done(): // the app cancelled, or the session ends
			return
		}
	}
	r.mu.Lock()
	req := call.req
	r.mu.Unlock()
	retry, err := retryRequest(req, responses, state)
	if err != nil {
		r.failCall(call, &jsonrpc.Error{Code: CodeUpstream, Message: "mcpauthd proxy: " + err.Error()})
		return
	}
	r.mu.Lock()
	if r.mr.active[call.appID] != call { // cancelled while the last answer came
		r.mu.Unlock()
		return
	}
	call.req, call.round = retry, round
	r.mr.calls[retry.ID] = call
	up := r.up
	r.mu.Unlock()
	r.log.Debug("app → server: request again with the input (SEP-2322)", "method", retry.Method, "id", retry.ID.Raw(), "round", round)
	if err := r.write(call.ctx, up, retry, false); err != nil && r.life.Err() == nil {
		r.failCall(call, r.rpcError(err))
	}
}

// failCall ends call with werr, unless the app cancelled it.
func (r *relay) failCall(call *inputCall, werr error) {
	if r.endCall(call) {
		r.answerApp(call.appID, werr)
	}
}

// retryRequest is req again under a new id, with inputResponses and
// requestState (left out when empty) in its params, replacing those of an
// earlier round.
func retryRequest(req *jsonrpc.Request, responses map[string]json.RawMessage, state string) (*jsonrpc.Request, error) {
	params := map[string]json.RawMessage{}
	if len(req.Params) > 0 {
		if err := json.Unmarshal(req.Params, &params); err != nil {
			return nil, fmt.Errorf("the %s params are not an object", req.Method)
		}
	}
	params["inputResponses"], _ = json.Marshal(responses)
	delete(params, "requestState")
	if state != "" {
		params["requestState"], _ = json.Marshal(state)
	}
	b, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	return &jsonrpc.Request{ID: nextID("retry"), Method: req.Method, Params: b}, nil
}

// inputAnswer takes the app's answer to one of the proxy's input requests
// and reports whether it was one (also when it came too late: after its
// round ended, in a bridged session, it goes nowhere; the server of a
// session not bridged may use such ids itself).
func (r *relay) inputAnswer(m *jsonrpc.Response) bool {
	r.mu.Lock()
	ch, ok := r.mr.waiting[m.ID]
	delete(r.mr.waiting, m.ID)
	r.mu.Unlock()
	if ok {
		ch <- m // buffered for every input request of the round
	}
	return ok || ownID(m.ID, inputPrefix) && r.bridged()
}

// answerApp ends the app's request id with werr.
func (r *relay) answerApp(id jsonrpc.ID, werr error) {
	if err := r.down.Write(r.life, &jsonrpc.Response{ID: id, Error: werr}); err != nil {
		r.log.Debug("writing to the app", "err", err)
	}
	r.answer(id)
}
