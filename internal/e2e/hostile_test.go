package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHostileServersThroughBinary: `mcpauthd login` against MCP servers whose
// metadata is hostile. Each sign-in is refused, in bounded time, with a
// message that names the offending URL and the check, and nothing is
// fetched from the address the metadata pointed at. `mcpauthd doctor`
// reports the same failure, naming the same, at its failing step.
func TestHostileServersThroughBinary(t *testing.T) {
	in := newInstance(t)
	type doc struct {
		header string // WWW-Authenticate; {base} is the server's URL
		prm    any    // protected-resource metadata, nil: 404
		as     any    // AS metadata, nil: 404
	}
	asMeta := func(base string, over map[string]any) map[string]any {
		m := map[string]any{
			"issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
			"registration_endpoint": base + "/register", "code_challenge_methods_supported": []string{"S256"},
		}
		for k, v := range over {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		mk   func(base string) doc
		want []string // in the CLI's error
	}{
		{"authorization server on file:", func(b string) doc {
			return doc{prm: map[string]any{"resource": b + "/mcp", "authorization_servers": []string{"file:///etc/passwd"}}}
		}, []string{"file:///etc/passwd", "unsafe authorization server"}},
		{"authorization server on the metadata service", func(b string) doc {
			return doc{prm: map[string]any{"resource": b + "/mcp", "authorization_servers": []string{"https://169.254.169.254"}}}
		}, []string{"169.254.169.254", "non-public"}},
		{"resource_metadata on a private address", func(b string) doc {
			return doc{header: `Bearer resource_metadata="http://10.0.0.1/prm"`}
		}, []string{"http://10.0.0.1/prm", "plain http"}},
		{"resource_metadata on javascript:", func(b string) doc {
			return doc{header: `Bearer resource_metadata="javascript:alert(1)"`}
		}, []string{"javascript:alert(1)"}},
		{"another resource", func(b string) doc {
			return doc{prm: map[string]any{"resource": "https://other.example.com/mcp", "authorization_servers": []string{b}}}
		}, []string{"another resource", "{base}/.well-known/oauth-protected-resource/mcp"}},
		{"another issuer", func(b string) doc {
			return doc{prm: map[string]any{"resource": b + "/mcp", "authorization_servers": []string{b}},
				as: asMeta(b, map[string]any{"issuer": "https://evil.example.com"})}
		}, []string{"https://evil.example.com", "issuer"}},
		{"token endpoint on javascript:", func(b string) doc {
			return doc{prm: map[string]any{"resource": b + "/mcp", "authorization_servers": []string{b}},
				as: asMeta(b, map[string]any{"token_endpoint": "javascript:alert(1)"})}
			// The SDK's own check fires first: it names the field and the
			// scheme, and the issuer's URL, not the whole endpoint.
		}, []string{"token_endpoint", `"javascript"`, "unsafe endpoint"}},
		{"authorization endpoint on plain http elsewhere", func(b string) doc {
			return doc{prm: map[string]any{"resource": b + "/mcp", "authorization_servers": []string{b}},
				as: asMeta(b, map[string]any{"authorization_endpoint": "http://login.example.com/authorize"})}
		}, []string{"http://login.example.com/authorize"}},
		{"10 MB metadata", func(b string) doc {
			return doc{prm: map[string]any{"resource": b + "/mcp", "authorization_servers": []string{b}, "pad": strings.Repeat("A", 10<<20)}}
		}, []string{"{base}/.well-known/oauth-protected-resource/mcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			var mu sync.Mutex
			var hits []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				hits = append(hits, r.Method+" "+r.URL.Path)
				d := d
				mu.Unlock()
				switch {
				case r.URL.Path == "/mcp":
					h := d.header
					if h == "" {
						h = `Bearer scope="mcp"`
					}
					w.Header().Set("WWW-Authenticate", h)
					w.WriteHeader(http.StatusUnauthorized)
				case r.URL.Path == "/.well-known/oauth-protected-resource/mcp" && d.prm != nil:
					w.Header().Set("Content-Type", "application/json")
					_ = json.NewEncoder(w).Encode(d.prm)
				case strings.HasPrefix(r.URL.Path, "/.well-known/") && d.as != nil:
					w.Header().Set("Content-Type", "application/json")
					_ = json.NewEncoder(w).Encode(d.as)
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			mu.Lock()
			d = tt.mk(srv.URL)
			mu.Unlock()
			url := srv.URL + "/mcp"
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, in.bin, "login", url)
			cmd.Env = in.env
			out, err := cmd.CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("login: %v (ctx %v)\n%s", err, ctx.Err(), out)
			}
			for _, w := range tt.want {
				if w == "plain http" {
					// The URL rule: plain http off loopback.
					if !strings.Contains(string(out), "only https") && !strings.Contains(string(out), "plain http") {
						t.Errorf("error does not say why: %s", out)
					}
					continue
				}
				w = strings.ReplaceAll(w, "{base}", srv.URL)
				if !strings.Contains(string(out), w) {
					t.Errorf("error does not name %q:\n%s", w, out)
				}
			}
			// mcpauthd doctor explains the same failure at its step.
			dout, _, code := in.run("doctor", url)
			fail := ""
			for _, line := range strings.Split(dout, "\n") {
				if strings.Contains(line, "FAIL") {
					fail = line
				}
			}
			if code != 1 || fail == "" {
				t.Errorf("doctor: exit %d, no failing step:\n%s", code, dout)
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "{base}", srv.URL); w != "plain http" && !strings.Contains(fail, w) {
					t.Errorf("doctor's failing step does not name %q:\n%s", w, dout)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, h := range hits {
				if strings.Contains(h, "/authorize") || strings.Contains(h, "/token") || strings.Contains(h, "/register") {
					t.Errorf("the sign-in went on to %s after the refusal", h)
				}
			}
			if len(out) > 8192 {
				t.Errorf("error is %d bytes: a response body leaked into it", len(out))
			}
		})
	}
}
