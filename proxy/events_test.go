package proxy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

const note = `{"jsonrpc":"2.0","method":"notifications/message","params":{}}`

func TestReadEvents(t *testing.T) {
	in := "retry: 250\n: a comment\n\nid: 7\ndata: " + note + "\n\nevent: other\ndata: {}\n\r\ndata: " + note + "\r\n\r\n"
	var got []jsonrpc.Message
	ok, id, retry, err := readEvents(strings.NewReader(in), 1<<10, func(m jsonrpc.Message) { got = append(got, m) })
	if err != nil || !ok || id != "7" || retry != 250*time.Millisecond || len(got) != 2 {
		t.Fatalf("readEvents = %v %q %v %v, %d messages", ok, id, retry, err, len(got))
	}
}

// endless is an event stream that never ends an event: data: lines
// forever (or one line forever), as a hostile server sends.
type endless struct {
	line []byte
	read int64
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.line)
		n += c
		if c < len(e.line) {
			e.line = append(e.line[c:], e.line[:c]...) // rotate: the rest comes next
		}
	}
	e.read += int64(n)
	return n, nil
}

// TestReadEventsBounded: an event that never ends — data: lines without
// the blank line, or one line without a newline — stops the reader with an
// ExceededError once the event passes the budget, having read little more
// than the budget; events that end are each measured on their own.
func TestReadEventsBounded(t *testing.T) {
	const limit = 1 << 20
	for name, line := range map[string]string{
		"data lines without a blank line": "data: " + strings.Repeat("x", 100) + "\n",
		"one line without end":            strings.Repeat("x", 4096),
		"comments":                        ": keepalive\n",
		"unknown fields":                  "x-pad: " + strings.Repeat("y", 50) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			src := &endless{line: []byte(line)}
			delivered := 0
			_, _, _, err := readEvents(src, limit, func(jsonrpc.Message) { delivered++ })
			var ex *budget.ExceededError
			if !errors.As(err, &ex) || ex.Limit != limit {
				t.Fatalf("err = %v, want an ExceededError at %d", err, limit)
			}
			if !strings.Contains(err.Error(), "1 MiB") {
				t.Errorf("the error does not name the limit: %v", err)
			}
			if src.read > limit+128<<10 {
				t.Errorf("read %d bytes for a %d budget", src.read, limit)
			}
			if delivered != 0 {
				t.Errorf("delivered %d messages", delivered)
			}
		})
	}
	// Many events, each under the budget, add up to far more than it.
	var many bytes.Buffer
	for many.Len() < 3*limit {
		many.WriteString("data: " + note + "\n\n")
	}
	n := 0
	ok, _, _, err := readEvents(&many, limit, func(jsonrpc.Message) { n++ })
	if err != nil || !ok || n == 0 {
		t.Fatalf("many small events: %v %v %d", ok, err, n)
	}
}

// FuzzReadEvents: whatever the stream, readEvents never buffers an event
// over its budget, never delivers anything but decoded messages, and ends
// (nil at the end of the input, or an error).
func FuzzReadEvents(f *testing.F) {
	for _, s := range []string{
		"data: " + note + "\n\n",
		"id: 1\nretry: 10\nevent: message\ndata: " + note + "\r\n\r\n",
		"data: {\"jsonrpc\":\"2.0\",\ndata: \"method\":\"x\"}\n\n",
		"data: " + strings.Repeat("x", 300),
		":\n\n\n\ndata\nid\nretry: -1\n",
	} {
		f.Add([]byte(s), 256)
	}
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		limit = 16 + int(uint(limit)%4096)
		r := &countingReader{r: bytes.NewReader(in)}
		_, _, _, err := readEvents(r, limit, func(m jsonrpc.Message) {
			if m == nil {
				t.Fatal("delivered nil")
			}
		})
		var ex *budget.ExceededError
		if err != nil && !errors.As(err, &ex) {
			t.Fatalf("unexpected error %v", err)
		}
		if ex != nil && !longEvent(in, limit) {
			t.Fatalf("refused %q at %d though no event is longer", in, limit)
		}
		if ex == nil && longEvent(in, limit) {
			t.Fatalf("accepted %q with an event over %d", in, limit)
		}
	})
}

// longEvent reports whether some event of in (its bytes up to and
// including the blank line that ends it) is longer than limit.
func longEvent(in []byte, limit int) bool {
	size := 0
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\n')
		line := in
		if i >= 0 {
			line = in[:i+1]
		}
		in = in[len(line):]
		size += len(line)
		if size > limit {
			return true
		}
		if l := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")); len(l) == 0 {
			size = 0
		}
	}
	return false
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
