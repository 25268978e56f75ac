package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// listenRetries bounds reconnections of the standalone stream that bring
// no new event.
const listenRetries = 5

// listen holds the standalone GET stream of a Streamable HTTP session open
// until ctx ends, handing every message the server sends on it to deliver:
// server notifications and requests that belong to no request of the app.
// An interrupted stream is reopened with Last-Event-ID so the server can
// replay what was missed; a server that offers no stream (405, another
// 4xx, not text/event-stream) is left alone. The Go SDK opens this stream
// only for its own mcp.Client, which the proxy is not. opened is called
// once the first GET has its answer (or failed), and when listen returns.
func (r *relay) listen(ctx context.Context, sessionID string, deliver func(jsonrpc.Message), opened func()) {
	defer opened()
	lastID, fails := "", 0
	delay := time.Duration(0)
	for ctx.Err() == nil {
		if delay > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.URL, nil)
		if err != nil {
			return
		}
		req.Header.Set("Accept", "text/event-stream")
		if sessionID != "" {
			req.Header.Set(headerSessionID, sessionID)
		}
		if lastID != "" {
			req.Header.Set(headerLastEventID, lastID)
		}
		res, err := r.hc.Do(req)
		opened()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Warn("standalone stream: request failed", "err", err)
			if fails++; fails > listenRetries {
				return
			}
			delay = backoff(fails)
			continue
		}
		ct, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
		if res.StatusCode != http.StatusOK || ct != "text/event-stream" {
			res.Body.Close()
			r.log.Debug("the server offers no standalone stream", "status", res.StatusCode)
			return
		}
		got, id, retry, err := readEvents(res.Body, budget.SSEEvent, deliver)
		res.Body.Close()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.log.Warn("standalone stream: dropped", "server", r.cfg.URL, "err", err)
		}
		progress := got || id != "" && id != lastID
		if id != "" {
			lastID = id
		}
		if progress {
			fails = 0
		} else if fails++; fails > listenRetries {
			r.log.Warn("standalone stream: the server keeps closing it; giving up")
			return
		}
		delay = backoff(fails)
		if retry > 0 {
			delay = retry
		}
		r.log.Debug("standalone stream ended; reopening", "resume", lastID != "")
	}
}

func backoff(fails int) time.Duration {
	d := time.Duration(fails) * 500 * time.Millisecond
	return min(max(d, 100*time.Millisecond), 10*time.Second)
}

// eventReaders holds the buffered readers of readEvents (a longer line
// than the buffer is assembled in line): one a call, otherwise.
var eventReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// readEvents reads a text/event-stream body and hands each "message"
// event's JSON-RPC message to deliver. It reports whether any message came,
// the last event id, the server's retry delay, and why it stopped (nil at
// the body's end).
//
// Each event — all its lines together, whatever their fields, up to the
// blank line that ends it — may be at most maxEvent bytes: a longer line,
// or data: lines that never end in a blank line, stop the reading with a
// *budget.ExceededError, holding no more than maxEvent bytes meanwhile.
func readEvents(body io.Reader, maxEvent int, deliver func(jsonrpc.Message)) (got bool, lastID string, retry time.Duration, err error) {
	br := eventReaders.Get().(*bufio.Reader)
	br.Reset(body)
	defer func() {
		br.Reset(nil) // drop body
		eventReaders.Put(br)
	}()
	var data, line bytes.Buffer
	name := ""
	size := 0 // bytes of the event so far
	for {
		line.Reset()
		var rerr error
		for {
			frag, e := br.ReadSlice('\n')
			size += len(frag)
			if size > maxEvent {
				return got, lastID, retry, &budget.ExceededError{What: "a server-sent event", Limit: int64(maxEvent)}
			}
			line.Write(frag)
			if e != bufio.ErrBufferFull {
				rerr = e
				break
			}
		}
		if rerr != nil && line.Len() == 0 {
			if rerr == io.EOF {
				rerr = nil
			}
			return got, lastID, retry, rerr
		}
		l := bytes.TrimSuffix(bytes.TrimSuffix(line.Bytes(), []byte("\n")), []byte("\r"))
		if len(l) == 0 { // dispatch
			if data.Len() > 0 && (name == "" || name == "message") {
				if msg, err := decodeMessage(bytes.TrimSuffix(data.Bytes(), []byte("\n"))); err == nil {
					got = true
					deliver(msg)
				}
			}
			data.Reset()
			name, size = "", 0
			continue
		}
		field, value, _ := bytes.Cut(l, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			data.Write(value)
			data.WriteByte('\n')
		case "event":
			name = string(value)
		case "id":
			lastID = string(value)
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 {
				retry = time.Duration(n) * time.Millisecond
			}
		}
		if rerr != nil { // the last line had no newline
			if rerr == io.EOF {
				rerr = nil
			}
			return got, lastID, retry, rerr
		}
	}
}
