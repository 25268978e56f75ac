package oauth

import (
	"bytes"
	"context"
	"crypto/tls"
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

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/mcpauthd/mcpauthd/internal/loopback"
)

// Limits on what the engine will wait for and read.
const (
	// DefaultTimeout bounds each HTTP exchange with a server or an
	// authorization server, response body included.
	DefaultTimeout = 20 * time.Second
	// maxRedirects bounds the redirects followed within one origin.
	maxRedirects = 5
)

// The network policy: every HTTP client mcpauthd makes (the engine, the
// daemon's describe step, the stdio proxy, the reverse proxy) goes through
// [NewTransport] and [CheckRedirect], so the rules below hold in one place.
//
//   - Redirects never leave the origin (scheme, host and port) of the
//     request that was redirected, and at most maxRedirects are followed.
//     Credentials (Authorization, DPoP), cookies (no client has a jar) and
//     a user's own headers are therefore never re-sent to another origin:
//     no request reaches one by a redirect. This holds for metadata too:
//     RFC 9728 §3 and RFC 8414 §3 compute the well-known URL from the
//     resource or issuer identifier, they do not discover it by following
//     links, and the document must name that same identifier (§3.3 of
//     each). A redirect within the origin stays under the authority that
//     identifier names (same host, same TLS certificate), so it is allowed
//     (a server moving /.well-known/x to /.well-known/x/); one to another
//     origin would hand the choice of document, and of what we connect
//     to, to whoever controls the Location header, so it is refused. The
//     same holds for the POSTs (token, registration, revocation): a 307
//     within the origin re-sends the body to the same party, never to
//     another.
//   - No connection to a private (RFC 1918, ULA fc00::/7), link-local
//     (169.254/16 with the cloud metadata address, fe80::/10), CGNAT,
//     multicast or otherwise reserved address, unless
//     HTTPOptions.AllowPrivateNetworks. IPv4-mapped and NAT64 addresses are
//     judged by the IPv4 address inside.
//   - No connection to a loopback address unless the MCP server the user
//     named is itself on loopback (a local development server): a hostile
//     server's metadata must not make mcpauthd POST to the user's local
//     services.
//
// The address rules are enforced on the resolved address at dial time
// (net.Dialer.Control), so a name that resolves, or is rebound, to a
// forbidden address is caught too; the environment's HTTP proxy is not
// used (it would dial for us).

// HTTPOptions configures [NewHTTPClient] and [NewTransport].
type HTTPOptions struct {
	// Timeout for one request and its body (NewHTTPClient) and for
	// connecting (both); DefaultTimeout when zero.
	Timeout time.Duration
	// AllowPrivateNetworks lets endpoints resolve to private, link-local or
	// CGNAT addresses. Off by default: metadata from a hostile server must not
	// turn mcpauthd into a probe of the user's network (SSRF). Loopback
	// follows its own rule (see the network policy above).
	AllowPrivateNetworks bool
	// TLS configures TLS (for tests: a test CA); the system's when nil.
	TLS *tls.Config
}

// NewHTTPClient returns the client the engine uses for every request: the
// network policy's transport and redirect rule, bounded in time. The
// client is safe for concurrent use.
func NewHTTPClient(o HTTPOptions) *http.Client {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return &http.Client{
		Transport:     newGuard(o, o.Timeout),
		Timeout:       o.Timeout,
		CheckRedirect: CheckRedirect,
	}
}

// NewTransport returns the network policy's transport without a bound on
// whole exchanges (event streams stay open), for the clients that relay
// MCP traffic. Use it with [CheckRedirect] on the http.Client, and with
// [PinOrigin] when the client serves one server. Which server a request is
// for (and so whether loopback may be dialled) comes from PinOrigin or the
// engine's own calls; failing both, a request may reach loopback only when
// its URL names a loopback host itself.
//
// It keeps up to RelayIdleConns idle connections per host (net/http keeps
// two): a relay carries an app's concurrent requests to one server, and
// over HTTP/1.1 each needs a connection of its own, which the next burst
// then reuses instead of dialling again.
func NewTransport(o HTTPOptions) http.RoundTripper {
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	g := newGuard(o, 0)
	g.loopback.MaxIdleConnsPerHost, g.public.MaxIdleConnsPerHost = RelayIdleConns, RelayIdleConns
	return g
}

// RelayIdleConns is how many idle connections per host NewTransport keeps.
const RelayIdleConns = 32

// guard is the policy's transport: two connection pools, one whose dialer
// also accepts loopback addresses, so a connection made for a local server
// is never reused for a request that may not reach loopback.
type guard struct {
	loopback, public *http.Transport
}

func newGuard(o HTTPOptions, headerTimeout time.Duration) *guard {
	mk := func(allowLoopback bool) *http.Transport {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil // a proxy would dial for us and defeat the address check
		t.ResponseHeaderTimeout = headerTimeout
		t.TLSClientConfig = o.TLS
		d := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
		d.Control = func(_, address string, _ syscall.RawConn) error {
			return checkDial(address, allowLoopback, o.AllowPrivateNetworks)
		}
		t.DialContext = d.DialContext
		return t
	}
	return &guard{loopback: mk(true), public: mk(false)}
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	server, _ := req.Context().Value(serverKey{}).(string)
	if server == "" {
		server = req.URL.String()
	}
	if onLoopback(server) {
		return g.loopback.RoundTrip(req)
	}
	if loopback.Host(req.URL.Hostname()) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("refusing to connect to %s on this machine: the server %s is not on loopback", req.URL.Host, server)
	}
	return g.public.RoundTrip(req)
}

// CloseIdleConnections closes both pools' idle connections.
func (g *guard) CloseIdleConnections() {
	g.loopback.CloseIdleConnections()
	g.public.CloseIdleConnections()
}

type serverKey struct{}

// withServer records in ctx the MCP server a request is made for: it
// decides whether the policy's transport may dial loopback.
func withServer(ctx context.Context, serverURL string) context.Context {
	if serverURL == "" {
		return ctx
	}
	return context.WithValue(ctx, serverKey{}, serverURL)
}

// onLoopback reports whether raw is a URL whose host is loopback.
func onLoopback(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && loopback.Host(u.Hostname())
}

// PinOrigin wraps base (NewTransport's, normally) for a client that talks
// to one MCP server: requests to any other origin are refused before they
// are sent (a legacy SSE endpoint event, say, cannot send the proxy's
// messages and the user's headers elsewhere), and base learns which
// server the requests are for.
func PinOrigin(base http.RoundTripper, serverURL string) http.RoundTripper {
	return &pinned{base: base, server: serverURL}
}

type pinned struct {
	base   http.RoundTripper
	server string
}

func (p *pinned) RoundTrip(req *http.Request) (*http.Response, error) {
	if !sameOrigin(req.URL, p.server) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("refusing a request to %s: not the origin of %s", origin(req.URL), p.server)
	}
	return p.base.RoundTrip(req.WithContext(withServer(req.Context(), p.server)))
}

// CloseIdleConnections passes the call on to base.
func (p *pinned) CloseIdleConnections() {
	if c, ok := p.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// checkDial is the dialer's Control hook: it runs on the resolved address.
func checkDial(address string, allowLoopback, allowPrivate bool) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("refusing to dial non-IP address %q", host)
	}
	switch addressClass(ip) {
	case addrPublic:
		return nil
	case addrLoopback:
		if allowLoopback {
			return nil
		}
		return fmt.Errorf("refusing to connect to loopback address %s: the server is not on this machine", ip)
	case addrPrivate:
		if allowPrivate {
			return nil
		}
	}
	return fmt.Errorf("refusing to connect to non-public address %s (private, link-local or reserved); "+
		"if this server is on your company network, set allow_private_networks = true in mcpauthd's settings file and run mcpauthd restart", ip)
}

type addrClass int

const (
	addrPublic addrClass = iota
	addrLoopback
	addrPrivate  // private networks: RFC 1918, ULA, link-local, CGNAT
	addrReserved // never: unspecified, multicast, "this network", reserved
)

var (
	cgnat = netip.MustParsePrefix("100.64.0.0/10")
	// nat64 is the well-known NAT64 prefix (RFC 6052): the IPv4 address is
	// in the last 32 bits.
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
	reserved = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),     // "this network": 0.0.0.0 reaches loopback on Linux
		netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
		netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and broadcast
		netip.MustParsePrefix("::/96"),         // unspecified and IPv4-compatible (deprecated)
		netip.MustParsePrefix("fec0::/10"),     // site-local (deprecated)
	}
)

// addressClass sorts ip for the network policy.
func addressClass(ip netip.Addr) addrClass {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	if ip.IsLoopback() {
		return addrLoopback
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return addrReserved
		}
	}
	switch {
	case !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast():
		return addrReserved
	case ip.IsPrivate() || ip.IsLinkLocalUnicast() || cgnat.Contains(ip):
		return addrPrivate
	case ip.IsGlobalUnicast():
		return addrPublic
	}
	return addrReserved
}

// CheckRedirect is the network policy's redirect rule, for an
// http.Client's CheckRedirect: a redirect is followed only within the
// origin (scheme, host, port) of the first request, at most maxRedirects
// times.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0].URL
	if strings.EqualFold(first.Scheme, "https") && !strings.EqualFold(req.URL.Scheme, "https") {
		return fmt.Errorf("refusing redirect from https to %s", req.URL.Scheme)
	}
	if !sameOrigin(req.URL, first.String()) {
		return fmt.Errorf("refusing redirect to another host (%s is not the origin of %s)", origin(req.URL), origin(first))
	}
	return nil
}

// origin is u's scheme://host[:port].
func origin(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
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
		if loopback.Host(u.Hostname()) {
			return nil
		}
		return newErr(step, CheckInsecureEndpoint, raw, "%s uses plain http on a non-loopback host; only https is allowed", name)
	default:
		return newErr(step, CheckInsecureEndpoint, raw, "%s has scheme %q; only https (or http on loopback) is allowed", name, u.Scheme)
	}
}

// statusRecorder remembers the status of the last response it carried, so a
// caller can tell "not found here" (try the next well-known URL) from "found
// but invalid" (stop) when a library hides the status inside its error.
// It bounds every 200 response's body at budget.Metadata (all it carries
// are metadata documents): a larger one fails with a *budget.ExceededError,
// status 200 recorded. With keepBody it also keeps the last 200 response's
// body, for metadata fields the library does not decode.
type statusRecorder struct {
	base     http.RoundTripper
	keepBody bool
	mu       sync.Mutex
	code     int
	body     []byte
	url      string // the last request's URL
}

func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.base.RoundTrip(req)
	var body []byte
	code := 0
	if err == nil {
		code = res.StatusCode
	}
	if err == nil && res.StatusCode == http.StatusOK {
		if r.keepBody {
			body, err = budget.ReadAll(res.Body, budget.Metadata, "metadata document", budget.Where(req.URL))
			res.Body.Close()
			var over *budget.ExceededError
			if err == nil {
				res.Body = io.NopCloser(bytes.NewReader(body))
			} else if !errors.As(err, &over) {
				code = 0 // a network failure, not a bad document
			}
		} else {
			res.Body = struct {
				io.Reader
				io.Closer
			}{budget.Reader(res.Body, budget.Metadata, "metadata document", budget.Where(req.URL)), res.Body}
		}
	}
	r.mu.Lock()
	r.code, r.body, r.url = code, body, req.URL.String()
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (r *statusRecorder) lastBody() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body
}

func (r *statusRecorder) lastURL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.url
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
