package oauth_test

// Faults and attacks at the engine level: servers that are down, slow,
// broken or hostile. Every case must end in an *oauth.Error matching a
// precise sentinel whose text names the URL involved, within a bounded wait.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/oauth"
)

// shortClient times out quickly: slow servers are simulated by handlers
// that outlast it.
func shortClient() *http.Client {
	return oauth.NewHTTPClient(oauth.HTTPOptions{Timeout: 500 * time.Millisecond})
}

// bounded runs f and fails the test if it does not return within a generous
// bound (a hang, not a slow machine).
func bounded(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("the engine did not return within 60 s: an unbounded wait")
		return nil
	}
}

// hang blocks until the client gives up (or the test ends).
func hang(w http.ResponseWriter, r *http.Request) {
	// Reading the body lets the server notice the client hanging up.
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second):
	}
}

// endless writes a JSON-looking prefix and then never stops.
func endless(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(prefix))
		chunk := []byte(strings.Repeat(" ", 32<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
}

// padChunk is the padding enormous streams, built once.
var padChunk = []byte(strings.Repeat("A", 64<<10))

// enormous answers a 10 MB JSON document (a long string field). It sends
// the headers and the prefix at once and streams the rest, so the client's
// timeout measures the client, not the fake building 10 MB first (under a
// loaded -race run that took longer than shortClient's 500 ms).
func enormous(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, prefix+`"padding":"`)
		w.(http.Flusher).Flush()
		for range (10 << 20) / len(padChunk) {
			if _, err := w.Write(padChunk); err != nil {
				return // the client stopped reading: its limit, as meant
			}
		}
		_, _ = io.WriteString(w, `"}`)
	}
}

// slowDrip sends one byte at a time, forever: each read succeeds, so only a
// whole-exchange deadline stops it.
func slowDrip(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("{"))
	fl := w.(http.Flusher)
	for r.Context().Err() == nil {
		if _, err := w.Write([]byte(" ")); err != nil {
			return
		}
		fl.Flush()
		time.Sleep(20 * time.Millisecond)
	}
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func TestFaultsDiscovery(t *testing.T) {
	prm := "/.well-known/oauth-protected-resource/mcp"
	asm := "/.well-known/oauth-authorization-server"
	tests := []struct {
		name     string
		server   string // "mcp" or "as"
		path     string
		h        http.HandlerFunc
		sentinel error
		msg      string
	}{
		{"PRM slow", "mcp", prm, hang, oauth.ErrNetwork, "no answer in time"},
		{"PRM 500", "mcp", prm, status(500, "oops"), oauth.ErrBadMetadata, "HTTP 500"},
		{"PRM garbage", "mcp", prm, status(200, "<html>not json"), oauth.ErrBadMetadata, "unusable protected-resource metadata"},
		{"PRM truncated", "mcp", prm, status(200, `{"resource":"http://x","authorization_servers":["htt`), oauth.ErrBadMetadata, "unusable"},
		{"PRM 10 MB", "mcp", prm, enormous(`{"resource":"x",`), oauth.ErrBadMetadata, "unusable"},
		{"PRM endless", "mcp", prm, endless(`{"resource":`), oauth.ErrBadMetadata, "unusable"},
		{"PRM slow drip", "mcp", prm, slowDrip, oauth.ErrBadMetadata, ""},
		// The SDK wraps the timeout so that only "request canceled" remains.
		{"AS meta slow", "as", asm, hang, oauth.ErrNetwork, ""},
		{"AS meta 500", "as", asm, status(500, "oops"), oauth.ErrBadMetadata, "500"},
		{"AS meta garbage", "as", asm, status(200, "\x00\x01garbage"), oauth.ErrBadMetadata, ""},
		{"AS meta truncated", "as", asm, status(200, `{"issuer":"http://127.0.0.1`), oauth.ErrBadMetadata, ""},
		{"AS meta 10 MB", "as", asm, enormous(`{"issuer":"x",`), oauth.ErrBadMetadata, ""},
		{"AS meta endless", "as", asm, endless(`{"issuer":`), oauth.ErrBadMetadata, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.Handle(tt.server, tt.path, tt.h)
			url := f.MCP.URL + tt.path
			if tt.server == "as" {
				url = f.Issuer
			}
			err := bounded(t, func() error {
				_, err := oauth.Discover(ctxT(t), shortClient(), f.ServerURL, &oauth.Challenge{Status: 401, ResourceMetadata: f.MCP.URL + prm})
				return err
			})
			// A slow drip is stopped either by the deadline (network) or by the
			// decoder's size limit; both are clear refusals.
			if tt.name == "PRM slow drip" && errors.Is(err, oauth.ErrNetwork) {
				tt.sentinel = oauth.ErrNetwork
			}
			wantErr(t, err, tt.sentinel, url)
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestFaultsServerDown(t *testing.T) {
	f := newFake(t)
	down := f.ServerURL
	f.MCP.Close()
	err := bounded(t, func() error { _, err := oauth.Probe(ctxT(t), shortClient(), down); return err })
	wantErr(t, err, oauth.ErrNetwork, down)
	if !strings.Contains(err.Error(), "could not reach") {
		t.Errorf("err = %v", err)
	}

	g := newFake(t)
	md := discoverFake(t, g)
	g.AS.Close()
	err = bounded(t, func() error {
		_, _, err := oauth.Register(ctxT(t), shortClient(), testClientConfig(), md, nil, nil)
		return err
	})
	wantErr(t, err, oauth.ErrRegistration, md.AuthServer.RegistrationEndpoint)
}

func TestFaultsMCPSlow(t *testing.T) {
	f := newFake(t)
	f.Handle("mcp", "/mcp", hang)
	err := bounded(t, func() error { _, err := oauth.Probe(ctxT(t), shortClient(), f.ServerURL); return err })
	wantErr(t, err, oauth.ErrNetwork, f.ServerURL)
	if !strings.Contains(err.Error(), "no answer in time") {
		t.Errorf("err = %v", err)
	}
	f.Handle("mcp", "/mcp", status(500, "boom"))
	_, err = oauth.Probe(ctxT(t), shortClient(), f.ServerURL)
	wantErr(t, err, oauth.ErrServer, f.ServerURL)
}

// TestFaultsTokenEndpoint: every fault at the token endpoint, for a refresh
// and for the code exchange, ends in a clear token or network error that
// never carries the refresh token or the code.
func TestFaultsTokenEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		h        http.HandlerFunc
		sentinel error
	}{
		{"slow", hang, oauth.ErrNetwork},
		{"500", status(500, "internal error"), oauth.ErrToken},
		{"500 with oauth error", status(500, `{"error":"server_error"}`), oauth.ErrToken},
		{"garbage", status(200, "<html>hello</html>"), oauth.ErrToken},
		{"truncated", status(200, `{"access_token":"abc","token_type":"Bea`), oauth.ErrToken},
		{"no access token", status(200, `{"token_type":"Bearer"}`), oauth.ErrToken},
		{"10 MB", enormous(`{"access_token":"x","token_type":"Bearer",`), oauth.ErrToken},
		{"endless", endless(`{"access_token":`), oauth.ErrToken},
		{"slow drip", slowDrip, oauth.ErrNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			regs := newMemRegs()
			g := loginFake(t, f, regs)
			f.Handle("as", "/token", tt.h)
			err := bounded(t, func() error {
				_, err := oauth.Refresh(ctxT(t), shortClient(), g.Metadata, g.Registration, g.Token.RefreshToken, nil)
				return err
			})
			if tt.name == "slow drip" && errors.Is(err, oauth.ErrToken) {
				tt.sentinel = oauth.ErrToken
			}
			wantErr(t, err, tt.sentinel, g.Metadata.AuthServer.TokenEndpoint)
			if strings.Contains(err.Error(), g.Token.RefreshToken) {
				t.Errorf("error carries the refresh token: %v", err)
			}
			if len(err.Error()) > 2000 {
				t.Errorf("error is %d bytes long; the body leaked into it", len(err.Error()))
			}

			// The code exchange meets the same fault.
			fl := &oauth.Flow{HTTP: shortClient(), Client: testClientConfig(), Registrations: regs, WantRefresh: true}
			err = bounded(t, func() error {
				_, err := fl.Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL, Browser: f.Browser(nil)})
				return err
			})
			if !errors.Is(err, oauth.ErrToken) && !errors.Is(err, oauth.ErrNetwork) {
				t.Fatalf("login: %v; want a token or network error", err)
			}
			if !strings.Contains(err.Error(), g.Metadata.AuthServer.TokenEndpoint) {
				t.Errorf("login error %q does not name the token endpoint", err)
			}
		})
	}
}

func TestFaultsRegistration(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"slow", hang},
		{"500", status(500, "down")},
		{"garbage", status(201, "not json at all")},
		{"truncated", status(201, `{"client_id":"abc","client_secret":"s3cr3t-registration-secret`)},
		{"10 MB", enormous(`{"client_id":"abc","client_secret":"s3cr3t-registration-secret",`)},
		{"endless", endless(`{"client_id":"abc","client_secret":"s3cr3t-registration-secret"`)},
		{"no client id", status(201, `{"client_secret":"s3cr3t-registration-secret"}`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			md := discoverFake(t, f)
			f.Handle("as", "/register", tt.h)
			err := bounded(t, func() error {
				_, _, err := oauth.Register(ctxT(t), shortClient(), testClientConfig(), md, nil, nil)
				return err
			})
			wantErr(t, err, oauth.ErrRegistration, md.AuthServer.RegistrationEndpoint)
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error carries the client secret: %v", err)
			}
		})
	}
}

func TestFaultsRevocation(t *testing.T) {
	for _, tt := range []struct {
		name     string
		h        http.HandlerFunc
		sentinel error
	}{
		{"slow", hang, oauth.ErrNetwork},
		{"500", status(500, "x"), oauth.ErrRevocation},
		{"endless", endless("{"), oauth.ErrRevocation},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			g := loginFake(t, f, newMemRegs())
			f.Handle("as", "/revoke", tt.h)
			err := bounded(t, func() error {
				_, err := oauth.Revoke(ctxT(t), shortClient(), g.Metadata, g.Registration, g.Token.RefreshToken, "refresh_token")
				return err
			})
			// An endless 200 body is drained up to a limit and accepted as OK
			// by RFC 7009's status rule; only errors need checking then.
			if tt.name == "endless" && err == nil {
				return
			}
			wantErr(t, err, tt.sentinel, g.Metadata.AuthServer.RevocationEndpoint)
			if strings.Contains(err.Error(), g.Token.RefreshToken) {
				t.Errorf("error carries the token: %v", err)
			}
		})
	}
}

// TestHostileASEndpoints: authorization-server metadata that points an
// endpoint at a non-web scheme, at plain http off loopback, or at a private
// or link-local address.
func TestHostileASEndpoints(t *testing.T) {
	for _, ep := range []string{"authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint"} {
		for _, bad := range []string{
			"file:///etc/passwd",
			"javascript:alert(1)",
			"javascript://127.0.0.1/%0aalert(1)",
			"data:text/html,hi",
			"http://mcp.example.com/" + ep,
			"http://10.0.0.1/" + ep,
			"http://169.254.169.254/latest/meta-data/",
			"http://[fe80::1]/" + ep,
			"ftp://127.0.0.1/x",
		} {
			t.Run(ep+" "+bad, func(t *testing.T) {
				f := newFake(t, func(f *fake) { f.ASMeta[ep] = bad })
				_, err := oauth.Discover(ctxT(t), newClient(), f.ServerURL, &oauth.Challenge{Status: 401, ResourceMetadata: f.MCP.URL + f.PRMPath})
				wantErr(t, err, oauth.ErrInsecureEndpoint)
				// The library's own check may report the issuer; ours names the URL.
				if !strings.Contains(err.Error(), bad) && !strings.Contains(err.Error(), f.Issuer) {
					t.Errorf("error %q names neither the endpoint nor the issuer", err)
				}
			})
		}
	}
}

// TestHostileSSRFEndpoints: an https endpoint on a private or link-local
// address passes the scheme rule; the dial guard then refuses it before
// any byte is sent, naming the URL.
func TestHostileSSRFEndpoints(t *testing.T) {
	private := []string{"https://10.1.2.3", "https://169.254.169.254", "https://[fe80::1]", "https://192.168.0.1", "https://[fd00::1]", "https://100.64.0.1"}
	t.Run("authorization_servers", func(t *testing.T) {
		for _, p := range private {
			f := newFake(t, func(f *fake) { f.PRM["authorization_servers"] = []string{p} })
			_, err := oauth.Discover(ctxT(t), newClient(), f.ServerURL, &oauth.Challenge{Status: 401, ResourceMetadata: f.MCP.URL + f.PRMPath})
			// The SDK refuses it in the metadata already; the dial guard
			// would refuse it next.
			wantErr(t, err, oauth.ErrInsecureEndpoint, p, f.MCP.URL+f.PRMPath)
			if !strings.Contains(err.Error(), "non-public address") {
				t.Errorf("%s: %v", p, err)
			}
		}
	})
	t.Run("resource_metadata", func(t *testing.T) {
		for _, p := range private {
			f := newFake(t)
			rm := p + "/.well-known/oauth-protected-resource"
			_, err := oauth.Discover(ctxT(t), newClient(), f.ServerURL, &oauth.Challenge{Status: 401, ResourceMetadata: rm})
			wantErr(t, err, oauth.ErrNetwork, rm)
			if !strings.Contains(err.Error(), "non-public address") {
				t.Errorf("%s: %v", p, err)
			}
		}
	})
	t.Run("registration_endpoint", func(t *testing.T) {
		for _, p := range private {
			// Discovery refuses the metadata (the SDK's public-address rule).
			f := newFake(t, func(f *fake) { f.ASMeta["registration_endpoint"] = p + "/register" })
			_, err := oauth.Discover(ctxT(t), newClient(), f.ServerURL, &oauth.Challenge{Status: 401, ResourceMetadata: f.MCP.URL + f.PRMPath})
			wantErr(t, err, oauth.ErrInsecureEndpoint, p+"/register")
			// Metadata stored before that rule, used for registration: the
			// dial guard refuses it.
			g := newFake(t)
			md := discoverFake(t, g)
			asm := *md.AuthServer
			asm.RegistrationEndpoint = p + "/register"
			md.AuthServer = &asm
			_, _, err = oauth.Register(ctxT(t), newClient(), testClientConfig(), md, nil, nil)
			wantErr(t, err, oauth.ErrRegistration, p+"/register")
			if !strings.Contains(err.Error(), "non-public address") {
				t.Errorf("%s: %v", p, err)
			}
		}
	})
	t.Run("token_endpoint", func(t *testing.T) {
		for _, p := range private {
			f := newFake(t)
			regs := newMemRegs()
			g := loginFake(t, f, regs)
			md := *g.Metadata
			asm := *md.AuthServer
			asm.TokenEndpoint = p + "/token"
			md.AuthServer = &asm
			_, err := oauth.Refresh(ctxT(t), newClient(), &md, g.Registration, g.Token.RefreshToken, nil)
			wantErr(t, err, oauth.ErrNetwork, p+"/token")
			if !strings.Contains(err.Error(), "non-public address") {
				t.Errorf("%s: %v", p, err)
			}
		}
	})
}

// TestHostileIssuerAndResource: a different issuer in the AS metadata, and
// protected-resource metadata for another resource.
func TestHostileIssuerAndResource(t *testing.T) {
	f := newFake(t, func(f *fake) { f.ASMeta["issuer"] = "https://evil.example.com" })
	_, err := oauth.Discover(ctxT(t), newClient(), f.ServerURL, &oauth.Challenge{Status: 401, ResourceMetadata: f.MCP.URL + f.PRMPath})
	wantErr(t, err, oauth.ErrIssuerMismatch, f.Issuer)

	g := newFake(t, func(f *fake) { f.PRM["resource"] = "https://other.example.com/mcp" })
	_, err = oauth.Discover(ctxT(t), newClient(), g.ServerURL, &oauth.Challenge{Status: 401, ResourceMetadata: g.MCP.URL + g.PRMPath})
	wantErr(t, err, oauth.ErrResourceMismatch, g.MCP.URL+g.PRMPath)
}

// TestHostileRedirectChain: metadata that redirects to another host (here:
// another port of 127.0.0.1, and then on to a link-local address) is refused.
func TestHostileRedirectChain(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	}))
	t.Cleanup(other.Close)
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server"} {
		t.Run(path, func(t *testing.T) {
			f := newFake(t)
			server := "mcp"
			if strings.Contains(path, "authorization-server") {
				server = "as"
			}
			hops := 0
			f.Handle(server, path, func(w http.ResponseWriter, r *http.Request) {
				hops++
				http.Redirect(w, r, other.URL+path, http.StatusFound)
			})
			_, err := oauth.Discover(ctxT(t), newClient(), f.ServerURL, &oauth.Challenge{Status: 401, ResourceMetadata: f.MCP.URL + f.PRMPath})
			// The network policy refuses the hop to another host; discovery
			// types it by that refusal, not by its text.
			wantErr(t, err, oauth.ErrBadMetadata)
			var re *oauth.RedirectError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), "refusing redirect to another host") {
				t.Errorf("err = %v; want a *RedirectError", err)
			}
			if hops != 1 {
				t.Errorf("%d hops", hops)
			}
		})
	}
}

// TestHostileChallenges: WWW-Authenticate headers built to confuse the
// parser. Whatever the header, the login either refuses it precisely or
// falls back to the well-known URLs; it never follows a resource_metadata
// to a private address or a non-web scheme.
func TestHostileChallenges(t *testing.T) {
	tests := []struct {
		name     string
		header   []string
		sentinel error  // nil: the login succeeds through the well-known URL
		names    string // text the error must contain
	}{
		{"file resource_metadata", []string{`Bearer resource_metadata="file:///etc/passwd"`}, oauth.ErrInsecureEndpoint, "file:///etc/passwd"},
		{"javascript resource_metadata", []string{`Bearer resource_metadata="javascript:alert(1)"`}, oauth.ErrInsecureEndpoint, "javascript:alert(1)"},
		{"metadata service", []string{`Bearer resource_metadata="http://169.254.169.254/latest/meta-data/"`}, oauth.ErrInsecureEndpoint, "169.254.169.254"},
		{"private https", []string{`Bearer resource_metadata="https://10.0.0.7/prm"`}, oauth.ErrNetwork, "https://10.0.0.7/prm"},
		{"link-local v6", []string{`Bearer resource_metadata="https://[fe80::1]/prm"`}, oauth.ErrNetwork, "https://[fe80::1]/prm"},
		{"escaped quote hides a second param", []string{`Bearer realm="x\", resource_metadata=\"https://10.0.0.7/prm", scope="read"`}, nil, ""},
		{"unterminated quote", []string{`Bearer resource_metadata="https://10.0.0.7/prm`}, nil, ""},
		{"huge", []string{`Bearer resource_metadata="https://10.0.0.7/prm", realm="` + strings.Repeat("a", 100<<10) + `"`}, nil, ""},
		{"many challenges, private first in another scheme", []string{strings.Repeat(`Basic realm="a", `, 200) + `DPoP resource_metadata="https://10.0.0.7/prm"`}, nil, ""},
		{"two Bearer challenges", []string{`Bearer scope="read"`, `Bearer resource_metadata="https://10.0.0.7/prm"`}, nil, ""},
		{"CRLF inside", []string{"Bearer resource_metadata=\"https://10.0.0.7/prm\r\nX: y\""}, nil, ""},
		{"NUL inside", []string{"Bearer scope=\"a\x00b\""}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			h := http.Header{}
			for _, v := range tt.header {
				h.Add("WWW-Authenticate", v)
			}
			ch, _ := oauth.ParseChallenge(401, h)
			fl := fakeFlow(newMemRegs())
			g, err := fl.Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL, Challenge: ch, Browser: f.Browser(nil)})
			if tt.sentinel == nil {
				if strings.Contains(ch.ResourceMetadata, "10.0.0.7") {
					// Parsed as a real resource_metadata: it must be refused,
					// by the URL check or the dial guard.
					if !errors.Is(err, oauth.ErrNetwork) && !errors.Is(err, oauth.ErrInsecureEndpoint) {
						t.Fatalf("resource_metadata %q: err = %v", ch.ResourceMetadata, err)
					}
					if !strings.Contains(err.Error(), ch.ResourceMetadata) {
						t.Errorf("error %q does not name %q", err, ch.ResourceMetadata)
					}
					return
				}
				if err != nil {
					t.Fatalf("login with a confusing header: %v (parsed %+v)", err, ch)
				}
				if g.Metadata.ResourceMetadataURL != f.MCP.URL+f.PRMPath {
					t.Errorf("metadata from %s", g.Metadata.ResourceMetadataURL)
				}
				return
			}
			wantErr(t, err, tt.sentinel, tt.names)
			for _, p := range f.Paths("mcp") {
				if strings.Contains(p, "oauth-protected-resource") {
					t.Errorf("discovery went on to %s after refusing the challenge's URL", p)
				}
			}
		})
	}
}

// TestFaultsContextCancel: the caller's deadline bounds a login against a
// server that never answers, whatever the client's own timeout.
func TestFaultsContextCancel(t *testing.T) {
	f := newFake(t)
	f.Handle("as", "/.well-known/oauth-authorization-server", hang)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := bounded(t, func() error {
		_, err := fakeFlow(newMemRegs()).Login(ctx, oauth.LoginRequest{ServerURL: f.ServerURL, Browser: f.Browser(nil)})
		return err
	})
	wantErr(t, err, oauth.ErrNetwork, f.Issuer)
}
