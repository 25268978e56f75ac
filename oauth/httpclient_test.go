package oauth_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
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
	c := newClient()
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
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

func TestNewHTTPClientIgnoresProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://10.0.0.1:3128")
	t.Setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	res, err := oauth.NewHTTPClient(oauth.HTTPOptions{}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
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
