package oauth_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// fuzzDocs is an httptest server whose documents the fuzzer writes. "{base}"
// in a document is replaced by the server's URL, so that mutated inputs can
// still reach the checks that come after the URL ones.
type fuzzDocs struct {
	srv  *httptest.Server
	mu   sync.Mutex
	docs map[string][]byte // path → body
	code map[string]int    // path → status (200 when absent)
}

func newFuzzDocs(f *testing.F) *fuzzDocs {
	d := &fuzzDocs{docs: map[string][]byte{}, code: map[string]int{}}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		body, ok := d.docs[r.URL.Path]
		code := d.code[r.URL.Path]
		d.mu.Unlock()
		if r.URL.Path == "/mcp" {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+d.srv.URL+`/.well-known/oauth-protected-resource/mcp"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		if code == 0 {
			code = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(body)
	}))
	f.Cleanup(d.srv.Close)
	return d
}

func (d *fuzzDocs) set(path string, code int, body []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.docs[path] = []byte(strings.ReplaceAll(string(body), "{base}", d.srv.URL))
	d.code[path] = code
}

func checkEngineErr(t *testing.T, err error) {
	t.Helper()
	var e *oauth.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *oauth.Error", err, err)
	}
	if e.Check == "" || e.Step == "" {
		t.Fatalf("error without step or check: %+v", e)
	}
	if len(err.Error()) > 4096 {
		t.Fatalf("error text is %d bytes: a document leaked into it", len(err.Error()))
	}
}

// safeEndpoint is the rule every endpoint discovery accepts must meet.
func safeEndpoint(t *testing.T, name, raw string) {
	t.Helper()
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("%s %q accepted but not an absolute URL", name, raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		h := u.Hostname()
		if h != "localhost" && !strings.HasPrefix(h, "127.") && h != "::1" {
			t.Fatalf("%s %q accepted: plain http off loopback", name, raw)
		}
	default:
		t.Fatalf("%s %q accepted with scheme %q", name, raw, u.Scheme)
	}
}

// FuzzDiscover serves fuzzed protected-resource and authorization-server
// metadata. Discover must either fail with an engine error or return
// metadata that passes every rule: the resource is the server's, the issuer
// is the one the PRM named and the AS metadata repeats, S256 is offered,
// and every endpoint is https (or http on loopback).
func FuzzDiscover(f *testing.F) {
	d := newFuzzDocs(f)
	goodPRM := `{"resource":"{base}/mcp","authorization_servers":["{base}"],"scopes_supported":["read"]}`
	goodAS := `{"issuer":"{base}","authorization_endpoint":"{base}/authorize","token_endpoint":"{base}/token",` +
		`"registration_endpoint":"{base}/register","revocation_endpoint":"{base}/revoke",` +
		`"code_challenge_methods_supported":["S256"],"response_types_supported":["code"]}`
	for _, s := range [][2]string{
		{goodPRM, goodAS},
		{`{"resource":"{base}/mcp","authorization_servers":[]}`, goodAS},
		{`{"resource":"{base}/other","authorization_servers":["{base}"]}`, goodAS},
		{`{"resource":"{base}/mcp","authorization_servers":["file:///etc/passwd"]}`, goodAS},
		{`{"resource":"{base}/mcp","authorization_servers":["https://169.254.169.254"]}`, goodAS},
		{goodPRM, strings.Replace(goodAS, `"issuer":"{base}"`, `"issuer":"{base}/"`, 1)},
		{goodPRM, strings.Replace(goodAS, `{base}/token`, `javascript:alert(1)`, 1)},
		{goodPRM, strings.Replace(goodAS, `{base}/token`, `http://example.com/token`, 1)},
		{goodPRM, strings.Replace(goodAS, `"S256"`, `"plain"`, 1)},
		{goodPRM, strings.Replace(goodAS, `}`, `,"device_authorization_endpoint":"data:x"}`, 1)},
		{goodPRM, `{"issuer":`},
		{`[1,2,3]`, `null`},
		{`{"resource":"{base}/mcp","authorization_servers":["{base}"],"jwks_uri":{"x":1}}`, goodAS},
		{`{"resource":"{base}/mcp","authorization_servers":["{base}"]}`, strings.Replace(goodAS, `"code_challenge_methods_supported":["S256"]`, `"code_challenge_methods_supported":"S256"`, 1)},
	} {
		f.Add(s[0], s[1])
	}
	c := newClient()
	f.Fuzz(func(t *testing.T, prm, asm string) {
		d.set("/.well-known/oauth-protected-resource/mcp", 200, []byte(prm))
		d.set("/.well-known/oauth-authorization-server", 200, []byte(asm))
		server := d.srv.URL + "/mcp"
		md, err := oauth.Discover(ctxT(t), c, server, &oauth.Challenge{Status: 401, ResourceMetadata: d.srv.URL + "/.well-known/oauth-protected-resource/mcp"})
		if err != nil {
			checkEngineErr(t, err)
			return
		}
		if md.Resource != server {
			t.Fatalf("accepted resource %q for %q", md.Resource, server)
		}
		if md.Protected == nil || len(md.Protected.AuthorizationServers) == 0 || md.Issuer != md.Protected.AuthorizationServers[0] {
			t.Fatalf("issuer %q not the PRM's first authorization server", md.Issuer)
		}
		if md.AuthServer == nil || md.AuthServer.Issuer != md.Issuer {
			t.Fatalf("AS metadata for %v accepted for issuer %q", md.AuthServer, md.Issuer)
		}
		found := false
		for _, m := range md.AuthServer.CodeChallengeMethodsSupported {
			found = found || m == "S256"
		}
		if !found {
			t.Fatalf("accepted an AS without S256: %v", md.AuthServer.CodeChallengeMethodsSupported)
		}
		safeEndpoint(t, "issuer", md.Issuer)
		safeEndpoint(t, "authorization_endpoint", md.AuthServer.AuthorizationEndpoint)
		safeEndpoint(t, "token_endpoint", md.AuthServer.TokenEndpoint)
		safeEndpoint(t, "registration_endpoint", md.AuthServer.RegistrationEndpoint)
		safeEndpoint(t, "revocation_endpoint", md.AuthServer.RevocationEndpoint)
		safeEndpoint(t, "device_authorization_endpoint", md.DeviceAuthorizationEndpoint)
		if md.AuthServer.AuthorizationEndpoint == "" || md.AuthServer.TokenEndpoint == "" {
			t.Fatal("accepted AS metadata without authorization or token endpoint")
		}
	})
}

// FuzzRegister serves a fuzzed dynamic-registration answer (status and
// body). Register must either fail with a registration error that does not
// carry the issued client secret, or return a registration bound to the
// issuer with a client id and a supported auth method.
func FuzzRegister(f *testing.F) {
	d := newFuzzDocs(f)
	for _, s := range []struct {
		code int
		body string
	}{
		{201, `{"client_id":"abc","token_endpoint_auth_method":"none"}`},
		{201, `{"client_id":"abc","client_secret":"fuzz-secret-0001","token_endpoint_auth_method":"client_secret_basic"}`},
		{201, `{"client_id":"abc","client_secret":"fuzz-secret-0001","token_endpoint_auth_method":"private_key_jwt"}`},
		{200, `{"client_id":"abc","client_secret":"fuzz-secret-0001","jwks":{"keys":[]}}`},
		{201, `{"client_id":"","client_secret":"fuzz-secret-0001"}`},
		{201, `{"client_id":"abc","client_secret":"fuzz-secret-0001","client_secret_expires_at":"soon"}`},
		{201, `{"client_id":"abc","client_secret":"fuzz-secret-0001"`},
		{400, `{"error":"invalid_redirect_uri","error_description":"nope"}`},
		{500, `<html>`},
		{201, `null`},
		{201, `{"client_id":123}`},
	} {
		f.Add(s.code, s.body)
	}
	md := &oauth.Metadata{
		ServerURL: d.srv.URL + "/mcp", Resource: d.srv.URL + "/mcp", Issuer: d.srv.URL,
		AuthServer: &oauthex.AuthServerMeta{
			Issuer: d.srv.URL, AuthorizationEndpoint: d.srv.URL + "/authorize", TokenEndpoint: d.srv.URL + "/token",
			RegistrationEndpoint: d.srv.URL + "/register", CodeChallengeMethodsSupported: []string{"S256"},
		},
	}
	c := newClient()
	f.Fuzz(func(t *testing.T, code int, body string) {
		if code < 100 || code > 599 {
			code = 200 + (code%400+400)%400
		}
		d.set("/register", code, []byte(body))
		reg, _, err := oauth.Register(ctxT(t), c, testClientConfig(), md, nil, nil)
		var sent struct {
			ClientID     any    `json:"client_id"`
			ClientSecret string `json:"client_secret"`
			Desc         any    `json:"error_description"`
			Error        any    `json:"error"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		if err != nil {
			checkEngineErr(t, err)
			if !errors.Is(err, oauth.ErrRegistration) {
				t.Fatalf("registration error %v is not ErrRegistration", err)
			}
			s := sent.ClientSecret
			echoed := strings.Contains(anyString(sent.ClientID), s) || strings.Contains(anyString(sent.Desc), s) || strings.Contains(anyString(sent.Error), s)
			if len(s) >= 8 && !echoed && strings.Contains(err.Error(), s) {
				t.Fatalf("registration error carries the client secret: %v", err)
			}
			return
		}
		if reg.Issuer != md.Issuer || reg.ClientID == "" || reg.Method != oauth.MethodDynamic {
			t.Fatalf("registration %+v", reg)
		}
		switch reg.AuthMethod {
		case oauth.AuthNone, oauth.AuthBasic, oauth.AuthPost:
		default:
			t.Fatalf("auth method %q", reg.AuthMethod)
		}
		if reg.AuthMethod == oauth.AuthNone && reg.ClientSecret != "" {
			t.Fatalf("a secret with auth method none")
		}
	})
}

func anyString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
