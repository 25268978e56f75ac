package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"unicode"

	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

func FuzzParseChallenge(f *testing.F) {
	for _, seed := range []string{
		`Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", scope="files:read files:write"`,
		`Bearer error="insufficient_scope", scope="files:write", error_description="File write permission required"`,
		`Basic realm="x", Bearer error="invalid_token"`,
		`bearer scope=read`,
		`Bearer`,
		`Bearer realm="a\"b", scope="x"`,
		`"Bearer`,
		`Bearer scope="unterminated`,
		`Bearer =x`,
		`Bearer scope=""`,
		`Bearer a=b c`,
		`DPoP algs="ES256", Bearer scope="a	b"`,
		strings.Repeat("Bearer scope=x, ", 1000),
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, status := range []int{401, 403} {
			h := http.Header{}
			h.Add("WWW-Authenticate", v)
			c, err := oauth.ParseChallenge(status, h)
			if c == nil || c.Status != status {
				t.Fatalf("ParseChallenge(%q) = %+v", v, c)
			}
			if err != nil {
				if !errors.Is(err, oauth.ErrBadMetadata) {
					t.Fatalf("error %v is not ErrBadMetadata", err)
				}
				if c.Error != "" || c.Scopes != nil || c.ResourceMetadata != "" {
					t.Fatalf("unparsable header left %+v", c)
				}
				continue
			}
			for _, s := range c.Scopes {
				if s == "" || strings.IndexFunc(s, unicode.IsSpace) >= 0 {
					t.Fatalf("scope %q from %q", s, v)
				}
			}
			if c.InsufficientScope() != (status == 403 && c.Error == "insufficient_scope") {
				t.Fatalf("InsufficientScope inconsistent for %+v", c)
			}
		}
	})
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		header string
		want   oauth.Challenge
		bad    bool
	}{
		{`Bearer resource_metadata="https://x/prm", scope="a b"`, oauth.Challenge{Scopes: []string{"a", "b"}, ResourceMetadata: "https://x/prm"}, false},
		{`Basic realm="r", Bearer error="insufficient_scope", scope="w"`, oauth.Challenge{Error: "insufficient_scope", Scopes: []string{"w"}}, false},
		{`BEARER Scope=read`, oauth.Challenge{Scopes: []string{"read"}}, false},
		{`Basic realm="r"`, oauth.Challenge{}, false},
		{`Bearer scope="unterminated`, oauth.Challenge{}, true},
		{"Bearer scope=" + strings.Repeat("x", 9000), oauth.Challenge{}, true},
	}
	for _, tt := range tests {
		h := http.Header{}
		h.Add("WWW-Authenticate", tt.header)
		c, err := oauth.ParseChallenge(403, h)
		if (err != nil) != tt.bad {
			t.Errorf("%.40q: err = %v", tt.header, err)
		}
		if tt.bad {
			wantErr(t, err, oauth.ErrBadMetadata)
		}
		if c.Status != 403 || c.Error != tt.want.Error || c.ResourceMetadata != tt.want.ResourceMetadata ||
			strings.Join(c.Scopes, " ") != strings.Join(tt.want.Scopes, " ") {
			t.Errorf("%.40q: got %+v; want %+v", tt.header, c, tt.want)
		}
	}
	if c, err := oauth.ParseChallenge(401, http.Header{}); err != nil || c.Status != 401 || c.ResourceMetadata != "" {
		t.Errorf("no header: %+v, %v", c, err)
	}
}

// FuzzComplete feeds Complete redirect query strings. "{state}" in a query
// is replaced by the request's state, so the fuzzer can reach the iss and
// code checks. The invariant: the token endpoint is only contacted for a
// response whose state matches, which carries no error, and which passes
// the RFC 9207 table.
func FuzzComplete(f *testing.F) {
	const issuer = "https://as.example.com/tenant"
	const issQ = "iss=https%3A%2F%2Fas.example.com%2Ftenant"
	for _, seed := range []struct {
		q          string
		advertised bool
	}{
		{"code=good-code&state={state}&" + issQ, true},
		{"code=good-code&state={state}&" + issQ, false},
		{"code=good-code&state={state}", true},
		{"code=good-code&state={state}", false},
		{"code=good-code&state=wrong&" + issQ, false},
		{"code=good-code&state={state}&iss=https%3A%2F%2Fas.example.com%2Ftenant%2F", true},
		{"code=good-code&state={state}&iss=https%3A%2F%2FAS.example.com%2Ftenant", false},
		{"code=good-code&state={state}&iss=", false},
		{"error=access_denied&state={state}&iss=https%3A%2F%2Fevil", true},
		{"error=access_denied&error_description=no&state={state}&" + issQ, true},
		{"code=other-code&state={state}&" + issQ, true},
		{"state={state}&state=x&code=good-code&" + issQ + "&iss=https%3A%2F%2Fevil", true},
		{"code=good-code&state={state}&" + issQ + "&error=server_error", true},
		{"%zz&code=good-code&state={state};x", false},
		{"", false},
	} {
		f.Add(seed.q, seed.advertised)
	}
	var tokenCalls atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenCalls.Add(1)
		_ = r.ParseForm()
		if r.Form.Get("code") != "good-code" {
			oauthError(w, 400, "invalid_grant", "")
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60})
	}))
	defer ts.Close()
	c := oauth.NewHTTPClient(oauth.HTTPOptions{})
	reg := &oauth.Registration{Issuer: issuer, ClientID: "fuzz", AuthMethod: oauth.AuthNone}

	f.Fuzz(func(t *testing.T, query string, advertised bool) {
		md := &oauth.Metadata{
			ServerURL: "http://127.0.0.1:1/mcp", // local: its AS may be on loopback
			Resource:  "https://mcp.example.com/mcp",
			Issuer:    issuer,
			AuthServer: &oauthex.AuthServerMeta{
				Issuer:                        issuer,
				AuthorizationEndpoint:         "https://as.example.com/authorize",
				TokenEndpoint:                 ts.URL + "/token",
				CodeChallengeMethodsSupported: []string{"S256"},
				AuthorizationResponseIssParameterSupported: advertised,
			},
		}
		a, err := oauth.Authorize(md, reg, testRedirect, nil)
		if err != nil {
			t.Fatal(err)
		}
		redirected := testRedirect + "?" + strings.ReplaceAll(query, "{state}", url.QueryEscape(a.State))
		before := tokenCalls.Load()
		tok, err := a.Complete(context.Background(), c, redirected)
		called := tokenCalls.Load() - before

		var q url.Values
		if u, perr := url.Parse(redirected); perr == nil {
			q = u.Query()
		}
		if called > 0 {
			switch {
			case q == nil || q.Get("state") != a.State:
				t.Fatalf("token endpoint called for a state mismatch: %q", redirected)
			case q.Get("error") != "":
				t.Fatalf("token endpoint called for an error response: %q", redirected)
			case q.Has("iss") && q.Get("iss") != issuer:
				t.Fatalf("token endpoint called for iss %q", q.Get("iss"))
			case advertised && !q.Has("iss"):
				t.Fatalf("token endpoint called without the advertised iss: %q", redirected)
			case q.Get("code") == "":
				t.Fatalf("token endpoint called without a code")
			}
		}
		if called > 1 {
			t.Fatalf("%d token requests for one response", called)
		}
		if err == nil {
			if tok == nil || tok.AccessToken != "at" || called != 1 {
				t.Fatalf("Complete succeeded with %+v after %d token requests", tok, called)
			}
			return
		}
		var e *oauth.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T %v is not an *oauth.Error", err, err)
		}
		// On an iss failure, error, error_description and error_uri must
		// not be acted on or displayed: without them the outcome is the same.
		if (errors.Is(err, oauth.ErrIssMismatch) || errors.Is(err, oauth.ErrIssMissing)) && q != nil {
			q.Del("error")
			q.Del("error_description")
			q.Del("error_uri")
			_, err2 := a.Complete(context.Background(), c, testRedirect+"?"+q.Encode())
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("iss failure depends on the error parameters: %v vs %v", err, err2)
			}
		}
	})
}
