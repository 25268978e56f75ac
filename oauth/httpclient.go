package oauth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits on what the engine will wait for and read.
const (
	// DefaultTimeout bounds each HTTP exchange with a server or an
	// authorization server, response body included.
	DefaultTimeout = 20 * time.Second
	// maxRedirects bounds redirects followed for metadata.
	maxRedirects = 5
)

// HTTPOptions configures [NewHTTPClient].
type HTTPOptions struct {
	// Timeout for one request and its body; DefaultTimeout when zero.
	Timeout time.Duration
	// AllowPrivateNetworks lets endpoints resolve to private, link-local or
	// CGNAT addresses. Off by default: metadata from a hostile server must not
	// turn mcpauthd into a probe of the user's network (SSRF). Loopback is
	// always allowed (local development servers).
	AllowPrivateNetworks bool
}

// NewHTTPClient returns the client the engine uses for every request: bounded
// in time, refusing redirects to another host or from https to http, and
// refusing to dial private or link-local addresses unless allowed. The client
// is safe for concurrent use.
func NewHTTPClient(o HTTPOptions) *http.Client {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil // a proxy would dial for us and defeat the address check
	base.ResponseHeaderTimeout = o.Timeout
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
	if !o.AllowPrivateNetworks {
		dialer.Control = refusePrivate
	}
	base.DialContext = dialer.DialContext
	return &http.Client{
		Transport:     base,
		Timeout:       o.Timeout,
		CheckRedirect: sameHostRedirects,
	}
}

// refusePrivate is a net.Dialer Control hook: it runs on the resolved address,
// so a hostname that resolves to a private address is caught too.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("refusing to dial non-IP address %q", host)
	}
	if blockedAddr(ip) {
		return fmt.Errorf("refusing to connect to non-public address %s (set allow_private_networks to permit it)", ip)
	}
	return nil
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func blockedAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return false
	}
	return !ip.IsValid() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() || cgnat.Contains(ip)
}

func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	prev := via[len(via)-1].URL
	if prev.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("refusing redirect from https to %s", req.URL.Scheme)
	}
	if !strings.EqualFold(prev.Host, req.URL.Host) {
		return fmt.Errorf("refusing redirect to another host (%s)", req.URL.Host)
	}
	return nil
}

// checkEndpoint enforces the transport rule for an endpoint learned from
// metadata: https, or http only on a loopback host. Other schemes (file:,
// javascript:, data:) are refused.
func checkEndpoint(step, name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return newErr(step, CheckInsecureEndpoint, raw, "%s is not an absolute URL", name)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return newErr(step, CheckInsecureEndpoint, raw, "%s uses plain http on a non-loopback host; only https is allowed", name)
	default:
		return newErr(step, CheckInsecureEndpoint, raw, "%s has scheme %q; only https (or http on loopback) is allowed", name, u.Scheme)
	}
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// statusRecorder remembers the status of the last response it carried, so a
// caller can tell "not found here" (try the next well-known URL) from "found
// but invalid" (stop) when a library hides the status inside its error.
// With keepBody it also keeps the last 200 response's body (up to 1 MiB),
// for metadata fields the library does not decode.
type statusRecorder struct {
	base     http.RoundTripper
	keepBody bool
	mu       sync.Mutex
	code     int
	body     []byte
}

func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.base.RoundTrip(req)
	var body []byte
	if err == nil && r.keepBody && res.StatusCode == http.StatusOK {
		body, err = io.ReadAll(io.LimitReader(res.Body, 1<<20+1))
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.code, r.body = 0, body
	if err == nil {
		r.code = res.StatusCode
	}
	r.mu.Unlock()
	return res, err
}

func (r *statusRecorder) lastBody() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body
}

func (r *statusRecorder) status() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.code
}

// recording returns a copy of c whose transport records response statuses.
func recording(c *http.Client) (*http.Client, *statusRecorder) {
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	rec := &statusRecorder{base: base}
	cc := *c
	cc.Transport = rec
	return &cc, rec
}

// netErr classifies a transport failure as a network error.
func netErr(step, u string, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return wrapErr(step, CheckNetwork, u, ue.Err, "no answer in time")
	}
	return wrapErr(step, CheckNetwork, u, err, "could not reach the server")
}
