package budget

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestReadAll(t *testing.T) {
	b, err := ReadAll(strings.NewReader(strings.Repeat("x", 100)), 100, "doc", "https://a.example/x")
	if err != nil || len(b) != 100 {
		t.Fatalf("at the limit: %d %v", len(b), err)
	}
	_, err = ReadAll(strings.NewReader(strings.Repeat("x", 101)), 100, "doc", "https://a.example/x")
	var ex *ExceededError
	if !errors.As(err, &ex) || err.Error() != "doc from https://a.example/x is larger than mcpauthd's limit of 100 bytes" {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestReader(t *testing.T) {
	for _, n := range []int{0, 1, 1023, 1024} {
		b, err := io.ReadAll(Reader(strings.NewReader(strings.Repeat("x", n)), 1024, "doc", ""))
		if err != nil || len(b) != n {
			t.Errorf("%d bytes under a 1024 budget: %d, %v", n, len(b), err)
		}
	}
	// Over: the error comes once the 1025th byte is read, and no more than
	// the budget is handed on.
	b, err := io.ReadAll(Reader(strings.NewReader(strings.Repeat("x", 1<<20)), 1024, "doc", ""))
	var ex *ExceededError
	if !errors.As(err, &ex) || len(b) != 1024 || !strings.Contains(err.Error(), "1 KiB") {
		t.Errorf("over the budget: %d bytes, %v", len(b), err)
	}
	// A consumer that reads no more than the budget itself still learns.
	_, err = io.ReadAll(io.LimitReader(Reader(strings.NewReader(strings.Repeat("x", 5000)), 1024, "doc", ""), 4096))
	if !errors.As(err, &ex) {
		t.Errorf("through a larger LimitReader: %v", err)
	}
}

func TestAnswers(t *testing.T) {
	var body, ct string
	chunked := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		if chunked {
			w.(http.Flusher).Flush() // no Content-Length
		}
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	hc := &http.Client{Transport: Answers(http.DefaultTransport, 1024, "an answer")}
	get := func() ([]byte, error) {
		res, err := hc.Get(srv.URL + "/p?key=secret")
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		return io.ReadAll(res.Body)
	}
	for _, chunked = range []bool{false, true} {
		ct, body = "application/json", strings.Repeat("x", 1024)
		if b, err := get(); err != nil || len(b) != 1024 {
			t.Errorf("chunked %v, at the budget: %d %v", chunked, len(b), err)
		}
		body = strings.Repeat("x", 5000)
		_, err := get()
		var ex *ExceededError
		if !errors.As(err, &ex) || !strings.Contains(err.Error(), srv.URL+"/p ") || strings.Contains(err.Error(), "secret") {
			t.Errorf("chunked %v, over the budget: %v", chunked, err)
		}
		// An event stream is long-lived: its reader bounds each event.
		ct = "text/event-stream"
		if b, err := get(); err != nil || len(b) != 5000 {
			t.Errorf("chunked %v, event stream: %d %v", chunked, len(b), err)
		}
	}
}

func TestText(t *testing.T) {
	if got := Text("short", 10); got != "short" {
		t.Errorf("%q", got)
	}
	got := Text(strings.Repeat("é", 100), 11)
	if len(got) > 11 || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("cut: %q (%d bytes)", got, len(got))
	}
	if got := Text("abcdef", 2); got != "…" {
		t.Errorf("tiny: %q", got)
	}
}

// TestBodies: a request or response body read to be sent again or handed
// on comes back whole, replayable, with its length; one byte over the limit
// is an error naming the URL, never a body cut short.
func TestBodies(t *testing.T) {
	const limit = 64
	req, _ := http.NewRequest(http.MethodPost, "https://as.example/token?key=secret", strings.NewReader(strings.Repeat("a", limit)))
	b, err := RequestBody(req, limit, "token request")
	if err != nil || len(b) != limit {
		t.Fatalf("at the limit: %d bytes, %v", len(b), err)
	}
	SetRequestBody(req, b)
	for range 2 { // sent, then sent again
		body, _ := req.GetBody()
		got, _ := io.ReadAll(body)
		if string(got) != string(b) || req.ContentLength != limit {
			t.Errorf("replayed %q (length %d)", got, req.ContentLength)
		}
	}
	req, _ = http.NewRequest(http.MethodPost, "https://as.example/token?key=secret", strings.NewReader(strings.Repeat("a", limit+1)))
	var ex *ExceededError
	if _, err := RequestBody(req, limit, "token request"); !errors.As(err, &ex) ||
		!strings.Contains(err.Error(), "https://as.example/token ") || strings.Contains(err.Error(), "secret") {
		t.Errorf("over the limit: %v", err)
	}
	if b, err := RequestBody(httptest.NewRequest(http.MethodGet, "/", nil), limit, "x"); b != nil || err != nil {
		t.Errorf("no body: %q, %v", b, err)
	}

	res := &http.Response{Header: http.Header{"Content-Length": {"3"}}, Body: io.NopCloser(strings.NewReader("abc")), Request: req}
	if b, err := ResponseBody(res, limit, "answer"); err != nil || string(b) != "abc" {
		t.Fatalf("response: %q, %v", b, err)
	}
	if got, _ := io.ReadAll(res.Body); string(got) != "abc" {
		t.Errorf("handed on %q", got)
	}
	SetResponseBody(res, []byte("abcdef"))
	if res.ContentLength != 6 || res.Header.Get("Content-Length") != "6" {
		t.Errorf("length %d, header %q", res.ContentLength, res.Header.Get("Content-Length"))
	}
	res = &http.Response{Header: http.Header{}, Body: io.NopCloser(strings.NewReader(strings.Repeat("b", limit+1))), Request: req}
	if _, err := ResponseBody(res, limit, "answer"); !errors.As(err, &ex) || !strings.Contains(err.Error(), "answer from https://as.example/token ") {
		t.Errorf("response over the limit: %v", err)
	}
}
