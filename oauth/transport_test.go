package oauth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/oauth"
)

// stubSource hands out tokens[i], moving to the next on each Challenged.
type stubSource struct {
	mu         sync.Mutex
	tokens     []string
	i          int
	tokenCalls int
	challenges []*oauth.Challenge
	challToks  []string
	succeeded  int
	err        error // returned by Challenged
}

func (s *stubSource) Credential(context.Context, string, string, string) (*oauth.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenCalls++
	return &oauth.Credential{Token: s.tokens[s.i]}, nil
}

func (s *stubSource) Challenged(_ context.Context, tok string, ch *oauth.Challenge) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.challenges = append(s.challenges, ch)
	s.challToks = append(s.challToks, tok)
	if s.err != nil {
		return s.err
	}
	if s.i < len(s.tokens)-1 {
		s.i++
	}
	return nil
}

func (s *stubSource) Succeeded(context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.succeeded++
}

// recordingServer answers with status(n) for its n-th request (0-based),
// recording Authorization headers and bodies.
type recordingServer struct {
	*httptest.Server
	mu      sync.Mutex
	auths   []string
	bodies  []string
	headers func(n int, h http.Header)
	status  func(n int) int
}

func newRecordingServer(t *testing.T, status func(n int) int) *recordingServer {
	rs := &recordingServer{status: status}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		n := len(rs.auths)
		rs.auths = append(rs.auths, r.Header.Get("Authorization"))
		rs.bodies = append(rs.bodies, string(b))
		hf := rs.headers
		rs.mu.Unlock()
		if hf != nil {
			hf(n, w.Header())
		}
		w.WriteHeader(rs.status(n))
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *recordingServer) seen() (auths, bodies []string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.auths...), append([]string(nil), rs.bodies...)
}

func always(code int) func(int) int { return func(int) int { return code } }

func challenge401(n int, h http.Header) {
	h.Set("WWW-Authenticate", `Bearer error="invalid_token", resource_metadata="https://x.example/prm"`)
}

func TestTransportOrigin(t *testing.T) {
	mcp := newRecordingServer(t, always(200))
	other := newRecordingServer(t, always(200))
	src := &stubSource{tokens: []string{"tok-1"}}
	c := &http.Client{Transport: &oauth.Transport{Source: src, ServerURL: mcp.URL + "/mcp"}}

	for _, u := range []string{mcp.URL + "/mcp", mcp.URL + "/other/path", other.URL + "/mcp"} {
		res, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	auths, _ := mcp.seen()
	if len(auths) != 2 || auths[0] != "Bearer tok-1" || auths[1] != "Bearer tok-1" {
		t.Errorf("server origin saw %q; want the token on both", auths)
	}
	oauths, _ := other.seen()
	if len(oauths) != 1 || oauths[0] != "" {
		t.Errorf("other origin saw %q; want no token", oauths)
	}
	if src.tokenCalls != 2 {
		t.Errorf("%d Token calls; other origins must not ask for one", src.tokenCalls)
	}
	if src.succeeded != 2 {
		t.Errorf("%d successes reported", src.succeeded)
	}
}

func TestTransportSameHostOtherScheme(t *testing.T) {
	// http://host:port and https://host:port are different origins.
	srv := newRecordingServer(t, always(200))
	src := &stubSource{tokens: []string{"tok"}}
	tr := &oauth.Transport{Source: src, ServerURL: strings.Replace(srv.URL, "http://", "https://", 1)}
	res, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if auths, _ := srv.seen(); auths[0] != "" {
		t.Errorf("token sent to another scheme: %q", auths[0])
	}
}

func TestTransportRedirectToOtherOrigin(t *testing.T) {
	other := newRecordingServer(t, always(200))
	mcp := newRecordingServer(t, func(n int) int { return http.StatusTemporaryRedirect })
	mcp.headers = func(n int, h http.Header) { h.Set("Location", other.URL+"/steal") }
	src := &stubSource{tokens: []string{"tok-secret"}}
	c := &http.Client{Transport: &oauth.Transport{Source: src, ServerURL: mcp.URL}}
	res, err := c.Post(mcp.URL, "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	auths, _ := mcp.seen()
	if auths[0] != "Bearer tok-secret" {
		t.Errorf("server saw %q", auths[0])
	}
	oauths, _ := other.seen()
	if len(oauths) != 1 || oauths[0] != "" {
		t.Errorf("redirect target saw %q; the token must not follow a redirect to another origin", oauths)
	}
}

func TestTransportRetry(t *testing.T) {
	const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}`
	tests := []struct {
		name       string
		status     func(n int) int
		header     func(n int, h http.Header)
		srcErr     error
		wantStatus int
		wantErr    bool
		wantReqs   int
		wantChall  int
		wantSucc   int
	}{
		{
			name:   "401 then success",
			status: func(n int) int { return []int{401, 200}[n] }, header: challenge401,
			wantStatus: 200, wantReqs: 2, wantChall: 1, wantSucc: 1,
		},
		{
			name: "403 insufficient_scope then success",
			status: func(n int) int {
				return []int{403, 200}[n]
			},
			header: func(n int, h http.Header) {
				h.Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="files:write"`)
			},
			wantStatus: 200, wantReqs: 2, wantChall: 1, wantSucc: 1,
		},
		{
			name: "retries once only", status: always(401), header: challenge401,
			wantStatus: 401, wantReqs: 2, wantChall: 1,
		},
		{
			name: "plain 403 is not retried", status: always(403),
			wantStatus: 403, wantReqs: 1,
		},
		{
			name: "500 is not retried", status: always(500),
			wantStatus: 500, wantReqs: 1,
		},
		{
			name: "source refuses", status: always(401), header: challenge401, srcErr: errors.New("step-up limit"),
			wantErr: true, wantReqs: 1, wantChall: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRecordingServer(t, tt.status)
			srv.headers = tt.header
			src := &stubSource{tokens: []string{"tok-1", "tok-2"}, err: tt.srcErr}
			c := &http.Client{Transport: &oauth.Transport{Source: src, ServerURL: srv.URL}}
			res, err := c.Post(srv.URL+"/mcp", "application/json", strings.NewReader(body))
			if tt.wantErr {
				if err == nil || !errors.Is(err, tt.srcErr) {
					t.Fatalf("err = %v; want %v", err, tt.srcErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != tt.wantStatus {
					t.Errorf("status %d; want %d", res.StatusCode, tt.wantStatus)
				}
			}
			auths, bodies := srv.seen()
			if len(auths) != tt.wantReqs {
				t.Fatalf("%d requests; want %d", len(auths), tt.wantReqs)
			}
			for i, b := range bodies {
				if b != body {
					t.Errorf("request %d body %q; want the original body replayed", i, b)
				}
			}
			if len(auths) == 2 && (auths[0] != "Bearer tok-1" || auths[1] != "Bearer tok-2") {
				t.Errorf("tokens %q; want tok-1 then tok-2", auths)
			}
			if len(src.challenges) != tt.wantChall || src.succeeded != tt.wantSucc {
				t.Errorf("challenged %d, succeeded %d; want %d, %d", len(src.challenges), src.succeeded, tt.wantChall, tt.wantSucc)
			}
			if len(src.challenges) > 0 {
				if src.challToks[0] != "tok-1" {
					t.Errorf("Challenged with %q; want the token the server refused", src.challToks[0])
				}
				if ch := src.challenges[0]; ch.Status == 403 && (!ch.InsufficientScope() || ch.Scopes[0] != "files:write") {
					t.Errorf("challenge %+v", ch)
				}
			}
		})
	}
}

func TestTransportNoToken(t *testing.T) {
	srv := newRecordingServer(t, always(200))
	src := &stubSource{tokens: []string{""}}
	c := &http.Client{Transport: &oauth.Transport{Source: src, ServerURL: srv.URL}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Authorization", "Bearer caller-set")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if auths, _ := srv.seen(); auths[0] != "" {
		t.Errorf("Authorization %q; want none when the source has no token", auths[0])
	}
}

// TestSameOrigin: one origin is scheme, host and port, without case, the
// scheme's default port made explicit; anything that is not an absolute URL
// has none.
func TestSameOrigin(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"https://mcp.example/mcp", "https://mcp.example/other?x", true},
		{"https://mcp.example:443/mcp", "https://MCP.example/mcp", true},
		{"HTTP://127.0.0.1:80/mcp", "http://127.0.0.1/mcp", true},
		{"http://[::1]:8080/a", "http://[::1]:8080/b", true},
		{"https://mcp.example/mcp", "http://mcp.example/mcp", false},
		{"https://mcp.example/mcp", "https://mcp.example:8443/mcp", false},
		{"https://mcp.example/mcp", "https://evil.example/mcp", false},
		{"https://mcp.example.evil/mcp", "https://mcp.example/mcp", false},
		{"/mcp", "/mcp", false},
		{"", "", false},
		{"https://mcp.example/mcp", "://bad", false},
	} {
		if got := oauth.SameOrigin(tt.a, tt.b); got != tt.want {
			t.Errorf("SameOrigin(%q, %q) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
