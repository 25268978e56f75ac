package oauth_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpauthd/mcpauthd/oauth"
)

// connectProxy is a real HTTP CONNECT proxy. It records each CONNECT's
// target and tunnels every one to dst: it resolves names as a company's
// egress proxy may, here all to one test server.
type connectProxy struct {
	srv   *httptest.Server
	mu    sync.Mutex
	hosts []string
}

func newConnectProxy(t *testing.T, dst string) *connectProxy {
	p := &connectProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		p.mu.Lock()
		p.hosts = append(p.hosts, r.Host)
		p.mu.Unlock()
		up, err := net.Dial("tcp", dst)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { _, _ = io.Copy(up, buf) }()
		_, _ = io.Copy(conn, up)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *connectProxy) connects() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.hosts)
}

// proxyTarget is an https server whose certificate names example.com, and
// a TLS configuration that trusts it under that name whatever host the URL
// names (the proxy decides where mcp.test leads).
func proxyTarget(t *testing.T) (*httptest.Server, *tls.Config) {
	target := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "through "+r.Host)
	}))
	t.Cleanup(target.Close)
	pool := x509.NewCertPool()
	pool.AddCert(target.Certificate())
	return target, &tls.Config{RootCAs: pool, ServerName: "example.com"}
}

// TestProxy: with HTTPOptions.Proxy (the proxy = "environment" setting)
// requests go through a real CONNECT proxy; without it they do not, even
// with HTTPS_PROXY set; through the proxy the address rules still hold for
// the target, which the proxy never hears of when refused; a loopback
// server is never reached through the proxy.
func TestProxy(t *testing.T) {
	target, tlsc := proxyTarget(t)
	p := newConnectProxy(t, target.Listener.Addr().String())
	pu, _ := url.Parse(p.srv.URL)
	via := http.ProxyURL(pu)
	get := func(c *http.Client, u string) (string, error) {
		res, err := c.Get(u)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return string(b), err
	}

	t.Run("on", func(t *testing.T) {
		// mcp.test resolves nowhere but at the proxy: allowed only with
		// allow_private_networks (see "name that does not resolve here").
		c := oauth.NewHTTPClient(oauth.HTTPOptions{TLS: tlsc, Proxy: via, AllowPrivateNetworks: true})
		body, err := get(c, "https://mcp.test/mcp")
		if err != nil || body != "through mcp.test" {
			t.Fatalf("GET through the proxy: %q, %v", body, err)
		}
		if got := p.connects(); !slices.Equal(got, []string{"mcp.test:443"}) {
			t.Errorf("proxy saw CONNECT %q; want [mcp.test:443]", got)
		}
		if got := oauth.ProxyOf(c); got != p.srv.URL {
			t.Errorf("ProxyOf = %q; want %q", got, p.srv.URL)
		}
		// doctor says how it reached the server (here no MCP server answers).
		r := oauth.Doctor(ctxT(t), c, oauth.ClientConfig{}, "https://mcp.test/mcp", false, nil)
		if len(r.Steps) == 0 || !strings.Contains(r.Steps[0].Detail, "reached through the proxy "+p.srv.URL) {
			t.Errorf("doctor: %+v", r.Steps)
		}
	})
	t.Run("off, HTTPS_PROXY set", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", p.srv.URL)
		t.Setenv("HTTP_PROXY", p.srv.URL)
		before := len(p.connects())
		c := oauth.NewHTTPClient(oauth.HTTPOptions{TLS: tlsc, AllowPrivateNetworks: true})
		if _, err := get(c, "https://mcp.test/mcp"); err == nil {
			t.Fatal("mcp.test reached without the proxy")
		}
		if n := len(p.connects()); n != before {
			t.Errorf("the proxy got %d CONNECTs with the proxy setting off", n-before)
		}
		if got := oauth.ProxyOf(c); got != "" {
			t.Errorf("ProxyOf = %q; want direct", got)
		}
	})
	t.Run("private target refused before the proxy", func(t *testing.T) {
		before := len(p.connects())
		c := oauth.NewHTTPClient(oauth.HTTPOptions{TLS: tlsc, Proxy: via})
		for _, u := range []string{"https://10.0.0.7/prm", "https://169.254.169.254/latest/meta-data/", "https://[fd00::1]/x", "https://100.64.0.1/x"} {
			_, err := get(c, u)
			if err == nil || !strings.Contains(err.Error(), "non-public address") {
				t.Errorf("%s: err = %v; want a non-public address refusal", u, err)
			}
		}
		_, err := get(c, "https://mcp.test/mcp")
		if err == nil || !strings.Contains(err.Error(), "does not resolve on this machine") || !strings.Contains(err.Error(), "allow_private_networks") {
			t.Errorf("unresolvable name: err = %v; want a refusal naming allow_private_networks", err)
		}
		if n := len(p.connects()); n != before {
			t.Errorf("the proxy got %d CONNECTs for refused targets", n-before)
		}
	})
	t.Run("loopback server direct", func(t *testing.T) {
		before := len(p.connects())
		local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "direct") }))
		t.Cleanup(local.Close)
		c := oauth.NewHTTPClient(oauth.HTTPOptions{Proxy: via})
		if body, err := get(c, local.URL); err != nil || body != "direct" {
			t.Fatalf("loopback with a proxy set: %q, %v", body, err)
		}
		if n := len(p.connects()); n != before {
			t.Errorf("a loopback request went through the proxy")
		}
	})
	t.Run("environment", func(t *testing.T) {
		// http.ProxyFromEnvironment reads the environment once per
		// process: each case runs in a fresh one.
		caFile := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: target.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			noProxy string
			want    string
		}{
			{"", "through mcp.test"},
			{"mcp.test", "error"},
		} {
			before := len(p.connects())
			cmd := exec.Command(os.Args[0], "-test.run=^TestProxyEnvironmentChild$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "MCPAUTHD_PROXY_CHILD_CA="+caFile, "HTTPS_PROXY="+p.srv.URL, "NO_PROXY="+tc.noProxy)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "RESULT: "+tc.want) {
				t.Errorf("NO_PROXY=%q: want %q; child said:\n%s", tc.noProxy, tc.want, out)
			}
			proxied := len(p.connects()) - before
			if (tc.noProxy == "") != (proxied == 1) {
				t.Errorf("NO_PROXY=%q: %d CONNECTs", tc.noProxy, proxied)
			}
		}
	})
}

// TestProxyEnvironmentChild is TestProxy's fresh process: a client with
// http.ProxyFromEnvironment (what proxy = "environment" sets) GETs
// https://mcp.test/mcp and prints what came back.
func TestProxyEnvironmentChild(t *testing.T) {
	caFile := os.Getenv("MCPAUTHD_PROXY_CHILD_CA")
	if caFile == "" {
		t.Skip("run by TestProxy")
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	c := oauth.NewHTTPClient(oauth.HTTPOptions{
		TLS:                  &tls.Config{RootCAs: pool, ServerName: "example.com"},
		Proxy:                http.ProxyFromEnvironment,
		AllowPrivateNetworks: true,
	})
	res, err := c.Get("https://mcp.test/mcp")
	if err != nil {
		t.Log("RESULT: error: " + err.Error())
		return
	}
	defer res.Body.Close()
	line, _ := bufio.NewReader(res.Body).ReadString('\n')
	t.Log("RESULT: " + line)
}
