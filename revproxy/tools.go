package revproxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

// The reverse proxy applies the server's tool policy (toolpolicy, the same
// matcher as the stdio proxy's) to the JSON-RPC it carries: a POSTed
// tools/call of a refused tool is answered here with the policy's JSON-RPC
// error, recorded in the audit log, and never forwarded; the results of
// the POST's tools/list requests are filtered, in a JSON answer or an
// event stream alike; on a GET event stream (the standalone stream, or the
// legacy HTTP+SSE transport's, where answers to POSTs arrive) every result
// that holds a "tools" array is filtered. Notifications (tools/list_changed)
// pass unchanged: the app's next tools/list is filtered.

// maxPolicedBody bounds an app's request body read to apply the policy
// (what the server answers is bounded by internal/budget).
const maxPolicedBody = 32 << 20

// rpcRequest is what the policy reads of one JSON-RPC request.
type rpcRequest struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// rpcResponse is a JSON-RPC answer the proxy writes or rewrites.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// policeRequest applies pol to r's JSON-RPC body. It returns the IDs of
// the tools/list requests in it (keys: the ID's compact JSON), and true
// when it answered r itself (a refused tools/call: the whole POST, batch
// included, is answered here and nothing is forwarded). r.Body is
// replaced by the bytes read.
func (h *Handler) policeRequest(w http.ResponseWriter, r *http.Request, pol toolpolicy.Policy, app, server string) (lists map[string]bool, answered bool) {
	if r.Method != http.MethodPost || r.Body == nil {
		return nil, false
	}
	body, err := budget.RequestBody(r, maxPolicedBody, "request")
	var over *budget.ExceededError
	if errors.As(err, &over) {
		refuse(w, http.StatusRequestEntityTooLarge, "the request is larger than "+strconv.Itoa(maxPolicedBody>>20)+" MiB, the most mcpauthd reads to apply the server's tool policy")
		return nil, true
	}
	if err != nil {
		refuse(w, http.StatusBadRequest, "reading the request: "+err.Error())
		return nil, true
	}
	budget.SetRequestBody(r, body)
	reqs, batch := splitBatch[rpcRequest](body)
	// SEP-2243: the tool a 2026-07-28 client names in Mcp-Name.
	headerTool := ""
	if r.Header.Get("Mcp-Method") == "tools/call" {
		headerTool = r.Header.Get("Mcp-Name")
	}
	var refused []string
	for _, q := range reqs {
		if q.Method == "tools/call" {
			if tool := toolpolicy.CallTool(q.Params); !pol.Allows(tool) {
				refused = append(refused, tool)
			}
		}
	}
	if headerTool != "" && !pol.Allows(headerTool) && len(refused) == 0 {
		refused = append(refused, headerTool)
	}
	if len(refused) == 0 {
		for _, q := range reqs {
			if q.Method == "tools/list" && len(q.ID) > 0 {
				if lists == nil {
					lists = map[string]bool{}
				}
				lists[compactID(q.ID)] = true
			}
		}
		return lists, false
	}
	for _, tool := range refused {
		h.log.Warn("reverse proxy: refused a tool call: the tool policy blocks this tool", "app", app, "server", server, "tool", tool)
		h.apps.ToolRefused(server, tool, ipc.Peer{UID: -1, App: app})
	}
	var out []rpcResponse
	for _, q := range reqs {
		if len(q.ID) == 0 || q.Method == "" {
			continue // a notification or an answer: nothing to answer
		}
		e := &rpcError{Code: toolpolicy.CodeRefused, Message: "mcpauthd: not sent: this request came with a tool call the tool policy refuses: " + toolpolicy.RefusalMessage(refused[0], server), Data: toolpolicy.RefusalData(refused[0])}
		if tool := toolpolicy.CallTool(q.Params); q.Method == "tools/call" && slices.Contains(refused, tool) {
			e.Message, e.Data = toolpolicy.RefusalMessage(tool, server), toolpolicy.RefusalData(tool)
		}
		out = append(out, rpcResponse{JSONRPC: "2.0", ID: q.ID, Error: e})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case len(out) == 0:
		w.WriteHeader(http.StatusAccepted)
	case batch:
		_ = json.NewEncoder(w).Encode(out)
	default:
		_ = json.NewEncoder(w).Encode(out[0])
	}
	return nil, true
}

// splitBatch decodes body as one JSON-RPC message or a batch of them
// (what does not decode is left out).
func splitBatch[T any](body []byte) (msgs []T, batch bool) {
	raws, batch := splitRaw(body)
	for _, raw := range raws {
		var m T
		if json.Unmarshal(raw, &m) == nil {
			msgs = append(msgs, m)
		}
	}
	return msgs, batch
}

// splitRaw splits body into its messages, undecoded.
func splitRaw(body []byte) (raws []json.RawMessage, batch bool) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		_ = json.Unmarshal(body, &raws)
		return raws, true
	}
	return []json.RawMessage{body}, false
}

// compactID is an ID's canonical form, for matching answers to requests.
func compactID(id json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, id) != nil {
		return string(id)
	}
	return b.String()
}

// filterMessages filters, in one JSON-RPC message or batch, the results of
// the answers to the requests in lists (every answer when lists is nil).
// It returns data unchanged when nothing is filtered.
func filterMessages(pol toolpolicy.Policy, lists map[string]bool, data []byte) []byte {
	raws, batch := splitRaw(data)
	changed := false
	for i, raw := range raws {
		var m rpcResponse
		if json.Unmarshal(raw, &m) != nil || len(m.Result) == 0 || m.Error != nil || lists != nil && !lists[compactID(m.ID)] {
			continue
		}
		res, n := pol.FilterList(m.Result)
		if n == 0 {
			continue
		}
		m.Result = res
		if out, err := json.Marshal(m); err == nil {
			raws[i], changed = out, true
		}
	}
	if !changed {
		return data
	}
	if !batch {
		return raws[0]
	}
	out, err := json.Marshal(raws)
	if err != nil {
		return data
	}
	return out
}

// policeResponse filters res's body as the package comment says: lists
// are the POST's tools/list IDs (policeRequest), and a GET stream is
// filtered whatever the IDs.
func policeResponse(pol toolpolicy.Policy, lists map[string]bool, method, server string, res *http.Response) error {
	if method == http.MethodGet {
		lists = nil
	} else if len(lists) == 0 {
		return nil
	}
	ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		if method == http.MethodGet {
			return nil
		}
		body, err := budget.ReadAll(res.Body, budget.MCPAnswer, "MCP answer", server)
		res.Body.Close()
		if err != nil {
			return err
		}
		budget.SetResponseBody(res, filterMessages(pol, lists, body))
	case "text/event-stream":
		res.Body = &sseFilter{src: res.Body, r: bufio.NewReader(res.Body), server: server, filter: func(data []byte) []byte {
			return filterMessages(pol, lists, data)
		}}
		res.ContentLength = -1
		res.Header.Del("Content-Length")
	}
	return nil
}

// sseFilter rewrites the data of each event of a text/event-stream with
// filter, event by event (each is passed on as soon as it is complete).
type sseFilter struct {
	src    io.Closer
	r      *bufio.Reader
	server string
	filter func([]byte) []byte
	out    bytes.Buffer
	err    error
}

func (f *sseFilter) Read(p []byte) (int, error) {
	for f.out.Len() == 0 {
		if f.err != nil {
			return 0, f.err
		}
		f.err = f.next()
	}
	return f.out.Read(p)
}

func (f *sseFilter) Close() error { return f.src.Close() }

// next reads one event (up to its blank line, or the end of the stream)
// into f.out, its data rewritten.
func (f *sseFilter) next() error {
	var lines [][]byte
	var data bytes.Buffer
	size := 0
	for {
		line, err := f.r.ReadBytes('\n')
		size += len(line)
		if size > budget.SSEEvent {
			return &budget.ExceededError{What: "server-sent event", From: f.server, Limit: budget.SSEEvent}
		}
		if len(line) > 0 {
			trimmed := bytes.TrimRight(line, "\r\n")
			if len(trimmed) == 0 { // the event ends
				f.flush(lines, &data)
				f.out.Write(line)
				return nil
			}
			lines = append(lines, line)
			if v, ok := bytes.CutPrefix(trimmed, []byte("data:")); ok {
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.Write(bytes.TrimPrefix(v, []byte(" ")))
			}
		}
		if err != nil {
			f.flush(lines, &data) // an incomplete last event: passed on as it came
			return err
		}
	}
}

// flush writes an event's lines to f.out, its data lines replaced by one
// with the filtered data when the filter changed it.
func (f *sseFilter) flush(lines [][]byte, data *bytes.Buffer) {
	var rewritten []byte
	if data.Len() > 0 {
		if out := f.filter(data.Bytes()); !bytes.Equal(out, data.Bytes()) {
			rewritten = out
		}
	}
	wrote := false
	for _, l := range lines {
		if rewritten != nil && bytes.HasPrefix(l, []byte("data:")) {
			if !wrote {
				f.out.WriteString("data: ")
				f.out.Write(rewritten)
				f.out.WriteByte('\n')
				wrote = true
			}
			continue
		}
		f.out.Write(l)
	}
}
