package proxy

import (
	"bytes"
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
// This file holds the translation; the relay calls noteCall when it sends
// one of those requests, inputRound on each server answer, and
// inputAnswer on each of the app's answers.

// maxInputRounds bounds the rounds of one request (the Go SDK's client
// gives up after as many).
const maxInputRounds = 10

// mrtrMethods are the requests a server may answer with input_required.
var mrtrMethods = []string{"tools/call", "prompts/get", "resources/read"}

// inputMethods are the input requests a server may make (the client's
// requests of the older protocol); the proxy asks the app no other.
var inputMethods = []string{"elicitation/create", "sampling/createMessage", "roots/list"}

// inputCall is one of the app's requests in a multi-round trip.
type inputCall struct {
	req   *jsonrpc.Request // as sent upstream (with the app's params)
	appID jsonrpc.ID       // the id the app's answer must carry
	round int
}

// mrtr is the relay's multi-round-trip state; guarded by relay.mu.
type mrtr struct {
	calls   map[jsonrpc.ID]*inputCall             // upstream id → the request
	waiting map[jsonrpc.ID]chan *jsonrpc.Response // the proxy's input request id → the app's answer
}

// mrtrSeq numbers the proxy's own ids.
var mrtrSeq atomic.Int64

func nextID(prefix string) jsonrpc.ID {
	id, _ := jsonrpc.MakeID(fmt.Sprintf("mcpauthd-%s-%d", prefix, mrtrSeq.Add(1)))
	return id
}

// noteCall remembers req, about to be sent upstream for a bridged session,
// when the server may answer it with input_required.
func (r *relay) noteCall(req *jsonrpc.Request) {
	if !req.IsCall() || !slices.Contains(mrtrMethods, req.Method) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mr.calls == nil {
		r.mr.calls = map[jsonrpc.ID]*inputCall{}
	}
	r.mr.calls[req.ID] = &inputCall{req: req, appID: req.ID}
}

// inputRequest is one entry of a result's inputRequests.
type inputRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// inputRound looks at the server's answer m for a bridged session. When m
// answers a request noteCall kept, an input_required result starts a round
// (in a goroutine of its own) and inputRound reports true (m goes no
// further); any other answer is returned as a copy that carries the app's
// id (the transport still reads m's). Answers to other requests are
// returned as they are.
func (r *relay) inputRound(m *jsonrpc.Response) (*jsonrpc.Response, bool) {
	r.mu.Lock()
	call := r.mr.calls[m.ID]
	delete(r.mr.calls, m.ID)
	r.mu.Unlock()
	if call == nil {
		return m, false
	}
	if m.ID != call.appID {
		cp := *m
		cp.ID = call.appID
		m = &cp
	}
	if m.Error != nil || !bytes.Contains(m.Result, []byte(`"input_required"`)) {
		return m, false
	}
	var res struct {
		ResultType    string                  `json:"resultType"`
		InputRequests map[string]inputRequest `json:"inputRequests"`
		RequestState  string                  `json:"requestState"`
	}
	if json.Unmarshal(m.Result, &res) != nil || res.ResultType != "input_required" {
		return m, false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.fulfil(call, res.InputRequests, res.RequestState)
	}()
	return m, true
}

// fulfil asks the app each of requests, then sends call again with the
// answers; the app's request ends with an error when an answer is one, or
// when the server asked for too many rounds.
func (r *relay) fulfil(call *inputCall, requests map[string]inputRequest, state string) {
	for _, in := range requests {
		if !slices.Contains(inputMethods, in.Method) {
			r.answerApp(call.appID, &jsonrpc.Error{Code: CodeUpstream, Message: fmt.Sprintf("mcpauthd proxy: the server asked for input with %.64q, which is no input request (SEP-2322 allows %s)", in.Method, strings.Join(inputMethods, ", "))})
			return
		}
	}
	if call.round+1 >= maxInputRounds {
		r.answerApp(call.appID, &jsonrpc.Error{Code: CodeUpstream, Message: fmt.Sprintf("mcpauthd proxy: the server asked for more input %d times (SEP-2322); gave up", maxInputRounds)})
		return
	}
	type asked struct {
		key string
		id  jsonrpc.ID
		ch  chan *jsonrpc.Response
	}
	var all []asked
	r.mu.Lock()
	if r.mr.waiting == nil {
		r.mr.waiting = map[jsonrpc.ID]chan *jsonrpc.Response{}
	}
	for key := range requests {
		a := asked{key: key, id: nextID("input"), ch: make(chan *jsonrpc.Response, 1)}
		r.mr.waiting[a.id] = a.ch
		all = append(all, a)
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		for _, a := range all {
			delete(r.mr.waiting, a.id)
		}
		r.mu.Unlock()
	}()
	for _, a := range all {
		in := requests[a.key]
		r.log.Debug("server → app: input request (SEP-2322)", "method", in.Method, "id", a.id.Raw())
		if err := r.down.Write(r.life, &jsonrpc.Request{ID: a.id, Method: in.Method, Params: in.Params}); err != nil {
			r.log.Debug("writing to the app", "err", err)
			return
		}
	}
	responses := map[string]json.RawMessage{}
	for _, a := range all {
		select {
		case res := <-a.ch:
			if res.Error != nil {
				r.answerApp(call.appID, res.Error)
				return
			}
			responses[a.key] = res.Result
		case <-r.life.Done():
			return
		}
	}
	retry, err := retryRequest(call.req, responses, state)
	if err != nil {
		r.answerApp(call.appID, &jsonrpc.Error{Code: CodeUpstream, Message: "mcpauthd proxy: " + err.Error()})
		return
	}
	r.mu.Lock()
	r.mr.calls[retry.ID] = &inputCall{req: retry, appID: call.appID, round: call.round + 1}
	up := r.up
	r.mu.Unlock()
	r.log.Debug("app → server: request again with the input (SEP-2322)", "method", retry.Method, "id", retry.ID.Raw(), "round", call.round+1)
	if err := up.Write(r.life, retry); err != nil {
		r.mu.Lock()
		delete(r.mr.calls, retry.ID)
		r.mu.Unlock()
		if r.life.Err() == nil {
			r.answerApp(call.appID, r.rpcError(err))
		}
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
// and reports whether it was one.
func (r *relay) inputAnswer(m *jsonrpc.Response) bool {
	r.mu.Lock()
	ch, ok := r.mr.waiting[m.ID]
	delete(r.mr.waiting, m.ID)
	r.mu.Unlock()
	if ok {
		ch <- m
	}
	return ok
}

// answerApp ends the app's request id with werr.
func (r *relay) answerApp(id jsonrpc.ID, werr error) {
	if err := r.down.Write(r.life, &jsonrpc.Response{ID: id, Error: werr}); err != nil {
		r.log.Debug("writing to the app", "err", err)
	}
	r.answer(id)
}
