package oauth_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/oauth"
)

func redirectTo(loc func() string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/final" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Redirect(w, r, loc(), http.StatusFound)
	}
}

func TestNewHTTPClientRedirects(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("redirect followed to %s", r.URL)
	}))
	t.Cleanup(target.Close)

	var self *httptest.Server
	tests := []struct {
		name    string
		loc     func() string
		wantErr string // "" means the redirect is followed
	}{
		{"same host", func() string { return self.URL + "/final" }, ""},
		{"another port", func() string { return target.URL + "/x" }, "refusing redirect to another host"},
		{"another host name", func() string { return strings.Replace(target.URL, "127.0.0.1", "localhost", 1) + "/x" }, "refusing redirect to another host"},
		{"too many", func() string { return self.URL + "/loop" }, "stopped after 5 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self = httptest.NewServer(redirectTo(tt.loc))
			t.Cleanup(self.Close)
			res, err := newClient().Get(self.URL + "/start")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.Request.URL.Path != "/final" {
					t.Errorf("ended at %s", res.Request.URL)
				}
				return
			}
			if err == nil {
				res.Body.Close()
				t.Fatalf("redirect followed; want %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v; want %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewHTTPClientHTTPSDowngrade(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Same host and port, plain http.
		http.Redirect(w, r, "http://"+r.Host+"/plain", http.StatusFound)
	}))
	t.Cleanup(tlsSrv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	c := oauth.NewHTTPClient(oauth.HTTPOptions{TLS: &tls.Config{RootCAs: pool}})
	res, err := c.Get(tlsSrv.URL + "/start")
	if err == nil {
		res.Body.Close()
		t.Fatal("https→http redirect followed")
	}
	if !strings.Contains(err.Error(), "refusing redirect from https to http") {
		t.Errorf("err = %v", err)
	}
}

func TestNewHTTPClientRefusesPrivateAddresses(t *testing.T) {
	c := oauth.NewHTTPClient(oauth.HTTPOptions{Timeout: 3 * time.Second})
	for _, u := range []string{
		"http://10.255.255.1:9/",
		"http://10.0.0.1:9/",
		"http://169.254.169.254/latest/meta-data/",
		"http://192.168.1.1:9/",
		"http://172.16.0.1:9/",
		"http://100.64.0.1:9/",
		"http://[fd00::1]:9/",
		"http://[fe80::1]:9/",
		"http://0.0.0.0:9/",
		"http://[::ffff:10.0.0.1]:9/",
	} {
		t.Run(u, func(t *testing.T) {
			res, err := c.Get(u)
			if err == nil {
				res.Body.Close()
				t.Fatalf("dialled %s", u)
			}
			if !strings.Contains(err.Error(), "non-public address") {
				t.Errorf("err = %v; want a refusal before connecting", err)
			}
		})
	}
}

func TestNewHTTPClientAllowsLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		res, err := oauth.NewHTTPClient(oauth.HTTPOptions{}).Get(u)
		if err != nil {
			// localhost may resolve to ::1 first where the server does not listen.
			if strings.Contains(u, "localhost") && !strings.Contains(err.Error(), "non-public") {
				continue
			}
			t.Fatalf("%s: %v", u, err)
		}
		res.Body.Close()
	}
}

func TestDiscoverRefusesPrivateResourceMetadata(t *testing.T) {
	// A challenge that points discovery at the cloud metadata service.
	f := newFake(t)
	_, err := oauth.Discover(ctxT(t), newClient(), f.ServerURL,
		&oauth.Challenge{Status: 401, ResourceMetadata: "https://169.254.169.254/latest/meta-data/"})
	if err == nil {
		t.Fatal("discovery followed a link-local resource_metadata")
	}
	if !strings.Contains(err.Error(), "169.254.169.254") {
		t.Errorf("error %q does not name the URL", err)
	}
}

// TestLoopbackOnlyForALocalServer: metadata of a server that is not on this
// machine cannot send the engine to loopback (here: its token endpoint);
// nothing reaches the local listener. The same endpoint serves a local
// server.
func TestLoopbackOnlyForALocalServer(t *testing.T) {
	var calls atomic.Int32
	srv, md := tokenAS(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		writeToken(w, "at-1", "Bearer", 3600)
	})
	st := &oauth.ClientCredentials{Client: oauth.ClientAuth{ClientID: "svc", ClientSecret: "s3cret-value"}}
	for _, server := range []string{"https://mcp.example/mcp", "https://127.0.0.1.example/mcp"} {
		md.ServerURL = server
		_, err := newFlow().Obtain(context.Background(), md, st, nil, nil)
		wantErr(t, err, oauth.ErrNetwork, srv.URL+"/token")
		if !strings.Contains(err.Error(), "is not on loopback") {
			t.Errorf("%s: %v", server, err)
		}
		if n := calls.Load(); n != 0 {
			t.Fatalf("%s: the local token endpoint got %d requests", server, n)
		}
	}
	md.ServerURL = "http://localhost:9/mcp"
	if _, err := newFlow().Obtain(context.Background(), md, st, nil, nil); err != nil || calls.Load() != 1 {
		t.Fatalf("local server: %v after %d requests", err, calls.Load())
	}

	// Discovery (through the SDK's fetch): a resource_metadata on loopback
	// named by a server elsewhere is not fetched.
	prm := srv.URL + "/.well-known/oauth-protected-resource"
	_, err := oauth.Discover(ctxT(t), newClient(), "https://mcp.example/mcp", &oauth.Challenge{Status: 401, ResourceMetadata: prm})
	if err == nil || !strings.Contains(err.Error(), "is not on loopback") {
		t.Errorf("discovery: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("discovery for a server elsewhere reached the local listener (%d requests)", n-1)
	}
}

// TestPinOrigin: a client pinned to one server sends nothing to another
// origin, whatever asks for it, and follows redirects only within the
// origin; the user's headers (set by the caller's transport) and the token
// therefore never reach the other origin.
func TestPinOrigin(t *testing.T) {
	var other atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { other.Add(1) }))
	t.Cleanup(elsewhere.Close)
	var seen atomic.Int32
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, elsewhere.URL+"/stolen", http.StatusTemporaryRedirect)
		case "/moved":
			http.Redirect(w, r, "/mcp", http.StatusPermanentRedirect)
		}
	}))
	t.Cleanup(home.Close)
	c := &http.Client{Transport: oauth.PinOrigin(oauth.NewTransport(oauth.HTTPOptions{}), home.URL+"/mcp"), CheckRedirect: oauth.CheckRedirect}
	if res, err := c.Get(home.URL + "/moved"); err != nil {
		t.Fatalf("redirect within the origin: %v", err)
	} else {
		res.Body.Close()
	}
	if res, err := c.Get(home.URL + "/away"); err == nil {
		res.Body.Close()
		t.Fatal("followed a redirect to another origin")
	} else if !strings.Contains(err.Error(), "another host") {
		t.Errorf("err = %v", err)
	}
	if res, err := c.Post(elsewhere.URL+"/messages", "application/json", strings.NewReader("{}")); err == nil {
		res.Body.Close()
		t.Fatal("sent a request to another origin")
	} else if !strings.Contains(err.Error(), "not the origin of") {
		t.Errorf("err = %v", err)
	}
	if n := other.Load(); n != 0 {
		t.Fatalf("the other origin got %d requests", n)
	}
	if n := seen.Load(); n != 3 {
		t.Errorf("the server got %d requests, want 3", n)
	}
}

// TestNewTransportKeepsConnections: a relay's second burst of concurrent
// requests to one server reuses the first burst's connections.
func TestNewTransportKeepsConnections(t *testing.T) {
	const burst = 16
	var conns atomic.Int32
	release := make(chan struct{})
	var arrived sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release // all of a burst in flight at once: one connection each
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: oauth.NewTransport(oauth.HTTPOptions{})}
	for round := range 2 {
		arrived.Add(burst)
		release = make(chan struct{})
		var done sync.WaitGroup
		for range burst {
			done.Go(func() {
				res, err := hc.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			})
		}
		arrived.Wait()
		close(release)
		done.Wait()
		if n := conns.Load(); n != burst {
			t.Fatalf("after burst %d: %d connections opened, want %d (one per request in flight, then reused)", round+1, n, burst)
		}
	}
}
