package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	fastjson "github.com/segmentio/encoding/json"
)

// maxLine bounds one message from the app (what the Go SDK's IOTransport
// allows by default).
const maxLine = 32 << 20

// stdioConn is the app's side of the relay: newline-delimited JSON-RPC on
// in and out (the MCP stdio transport), with batches answered by one
// batch. It decodes each message once (decodeMessage): the Go SDK's
// IOTransport decodes each line up to three times with a decoder that
// allocates a large buffer each time, which was most of the proxy's CPU
// per message. Each
// message goes out in one Write, unbuffered, so the app has it at once.
type stdioConn struct {
	in       io.ReadCloser
	out      io.WriteCloser
	incoming chan lineOrErr
	closed   chan struct{}
	close    sync.Once

	queue []jsonrpc.Message // the rest of a batch being read (Read is not concurrent)

	writeMu sync.Mutex
	batchMu sync.Mutex
	batches map[jsonrpc.ID]*batch
}

type lineOrErr struct {
	line []byte
	err  error
}

// batch collects the answers to one batch of the app's requests.
type batch struct {
	pending int
	answers []*jsonrpc.Response
	index   map[jsonrpc.ID]int
}

func newStdioConn(in io.ReadCloser, out io.WriteCloser) *stdioConn {
	c := &stdioConn{in: in, out: out, incoming: make(chan lineOrErr), closed: make(chan struct{})}
	go c.readLines()
	return c
}

// readLines feeds incoming with in's non-empty lines until in ends.
func (c *stdioConn) readLines() {
	r := bufio.NewReaderSize(c.in, 64<<10)
	for {
		line, err := readLine(r)
		if len(bytes.TrimSpace(line)) > 0 || err != nil {
			select {
			case c.incoming <- lineOrErr{line, err}:
			case <-c.closed:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// readLine reads one line (without its end) of at most maxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		part, err := r.ReadSlice('\n')
		if len(buf)+len(part) > maxLine {
			return nil, fmt.Errorf("a message from the app is longer than %d MiB", maxLine>>20)
		}
		if err == bufio.ErrBufferFull {
			buf = append(buf, part...)
			continue
		}
		if buf == nil {
			buf = append([]byte(nil), part...) // ReadSlice's bytes are overwritten by the next read
		} else {
			buf = append(buf, part...)
		}
		if err == nil {
			return bytes.TrimRight(buf, "\r\n"), nil
		}
		if err == io.EOF && len(bytes.TrimSpace(buf)) > 0 {
			return buf, nil // a last line without its newline; EOF comes next
		}
		return nil, err
	}
}

// wireMessage is any JSON-RPC message, as the app sends it.
type wireMessage struct {
	JSONRPC string           `json:"jsonrpc"`
	ID      any              `json:"id"`
	Method  *string          `json:"method"`
	Params  json.RawMessage  `json:"params"`
	Result  json.RawMessage  `json:"result"`
	Error   *json.RawMessage `json:"error"`
}

// decodeMessage reads one JSON-RPC message, each from the app and each
// from the server. Its envelope is decoded with segmentio/encoding's
// json.Unmarshal (what the MCP Go SDK decodes with): the same rules as
// encoding/json's (FuzzDecodeMessage holds the two to the same answers),
// at a fifth of its CPU, a fifth of the proxy's own per call with
// encoding/json (docs/benchmarks.md). The params, result and error are
// copied out of raw, which the caller may reuse.
func decodeMessage(raw []byte) (jsonrpc.Message, error) {
	var w wireMessage
	if err := fastjson.Unmarshal(raw, &w); err != nil {
		return nil, err
	}
	if w.JSONRPC != "2.0" {
		return nil, fmt.Errorf("not a JSON-RPC 2.0 message (jsonrpc %q)", w.JSONRPC)
	}
	id, err := jsonrpc.MakeID(w.ID)
	if err != nil {
		return nil, err
	}
	if w.Method != nil {
		return &jsonrpc.Request{ID: id, Method: *w.Method, Params: w.Params}, nil
	}
	if !id.IsValid() {
		return nil, errors.New("a response without an id")
	}
	resp := &jsonrpc.Response{ID: id, Result: w.Result}
	if w.Error != nil {
		var e jsonrpc.Error
		if err := json.Unmarshal(*w.Error, &e); err != nil {
			return nil, err
		}
		resp.Error = &e
	}
	return resp, nil
}

// encodeMessage writes msg as one line of JSON-RPC: the params and result
// as they came (JSON that was decoded once already, or that the proxy
// made), compacted only when they span lines, so the app's
// newline-delimited stream stays one message a line. It stands in for
// jsonrpc.EncodeMessage, which marshals them again.
func encodeMessage(msg jsonrpc.Message) ([]byte, error) {
	var raw json.RawMessage
	b := make([]byte, 0, 96)
	b = append(b, `{"jsonrpc":"2.0"`...)
	var id jsonrpc.ID
	switch m := msg.(type) {
	case *jsonrpc.Request:
		id, raw = m.ID, m.Params
	case *jsonrpc.Response:
		id, raw = m.ID, m.Result
		if m.Error != nil {
			raw = nil
		}
	default:
		return nil, fmt.Errorf("proxy: cannot encode %T", msg)
	}
	if id.IsValid() {
		idJSON, err := json.Marshal(id.Raw())
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"id":`...), idJSON...)
	}
	switch m := msg.(type) {
	case *jsonrpc.Request:
		method, err := json.Marshal(m.Method)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"method":`...), method...)
		if len(raw) > 0 {
			b = append(b, `,"params":`...)
		}
	case *jsonrpc.Response:
		if m.Error != nil {
			werr, ok := m.Error.(*jsonrpc.Error)
			if !ok {
				werr = &jsonrpc.Error{Message: m.Error.Error()}
				var wrapped *jsonrpc.Error
				if errors.As(m.Error, &wrapped) {
					werr.Code = wrapped.Code
				}
			}
			e, err := json.Marshal(werr)
			if err != nil {
				return nil, err
			}
			b = append(append(b, `,"error":`...), e...)
		} else if len(raw) > 0 {
			b = append(b, `,"result":`...)
		}
	}
	if len(raw) > 0 {
		if bytes.IndexByte(raw, '\n') < 0 {
			b = append(b, raw...)
		} else {
			buf := bytes.NewBuffer(b)
			if err := json.Compact(buf, raw); err != nil {
				return nil, err
			}
			b = buf.Bytes()
		}
	}
	return append(b, '}'), nil
}

// Read returns the app's next message. A line that is not JSON-RPC is
// answered with a parse error and skipped, as a JSON-RPC server does.
func (c *stdioConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	for {
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			return m, nil
		}
		var l lineOrErr
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.closed:
			return nil, io.EOF
		case l = <-c.incoming:
		}
		if l.err != nil {
			return nil, l.err
		}
		msgs, err := c.decodeLine(l.line)
		if err != nil {
			c.writeRaw([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":` + quote("mcpauthd proxy: "+err.Error()) + `}}`))
			continue
		}
		c.queue = msgs
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// decodeLine reads one line: a message or a batch of them.
func (c *stdioConn) decodeLine(line []byte) ([]jsonrpc.Message, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '[' {
		m, err := decodeMessage(line)
		if err != nil {
			return nil, err
		}
		return []jsonrpc.Message{m}, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(line, &raws); err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, errors.New("an empty batch")
	}
	msgs := make([]jsonrpc.Message, 0, len(raws))
	b := &batch{index: map[jsonrpc.ID]int{}}
	for _, raw := range raws {
		m, err := decodeMessage(raw)
		if err != nil {
			return nil, err
		}
		if req, ok := m.(*jsonrpc.Request); ok && req.IsCall() {
			if _, dup := b.index[req.ID]; dup {
				return nil, fmt.Errorf("the batch holds id %v twice", req.ID.Raw())
			}
			b.index[req.ID] = len(b.answers)
			b.answers = append(b.answers, nil)
			b.pending++
		}
		msgs = append(msgs, m)
	}
	if b.pending > 0 {
		c.batchMu.Lock()
		if c.batches == nil {
			c.batches = map[jsonrpc.ID]*batch{}
		}
		for id := range b.index {
			c.batches[id] = b
		}
		c.batchMu.Unlock()
	}
	return msgs, nil
}

// Write sends msg to the app: at once, or, for the answer to a request of
// a batch, with the whole batch once it is answered.
func (c *stdioConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var data []byte
	var err error
	if resp, ok := msg.(*jsonrpc.Response); ok {
		c.batchMu.Lock()
		b := c.batches[resp.ID]
		done := false
		if b != nil {
			delete(c.batches, resp.ID)
			b.answers[b.index[resp.ID]] = resp
			b.pending--
			done = b.pending == 0
		}
		c.batchMu.Unlock()
		if b != nil {
			if !done {
				return nil
			}
			parts := make([]json.RawMessage, len(b.answers))
			for i, a := range b.answers {
				if parts[i], err = encodeMessage(a); err != nil {
					return err
				}
			}
			if data, err = json.Marshal(parts); err != nil {
				return err
			}
			return c.writeRaw(data)
		}
	}
	if data, err = encodeMessage(msg); err != nil {
		return err
	}
	return c.writeRaw(data)
}

// writeRaw writes data as one line in one Write; data is the caller's to
// give up (the newline is appended to it).
func (c *stdioConn) writeRaw(data []byte) error {
	line := append(data, '\n')
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	select {
	case <-c.closed:
		return io.ErrClosedPipe
	default:
	}
	_, err := c.out.Write(line)
	return err
}

// Close closes in and out; a pending Read returns io.EOF.
func (c *stdioConn) Close() error {
	var err error
	c.close.Do(func() {
		close(c.closed)
		err = errors.Join(c.in.Close(), c.out.Close())
	})
	return err
}

func (c *stdioConn) SessionID() string { return "" }
