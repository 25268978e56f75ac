package oauth

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

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
// forbidden address is caught too.
//
// The environment's HTTP proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) is not
// used unless HTTPOptions.Proxy says so (the proxy = "environment"
// setting): a variable set by any process that starts mcpauthd must not
// send token traffic through a machine of its choosing without the user
// saying so. Through a proxy the dialer sees only the proxy's address (the
// user's choice, often on a private network or loopback), so the address
// rules are applied to the target before the request is handed to the
// proxy: an IP literal as it is, a name on every address it resolves to
// here (the proxy resolves it again: a name rebound between the two is the
// one gap). A request to a loopback host never goes through a proxy.

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
	// Proxy chooses the HTTP proxy for a request, as http.Transport.Proxy
	// does (http.ProxyFromEnvironment for the proxy = "environment"
	// setting). Nil connects directly whatever the environment says. The
	// address rules still apply to each proxied request's target (see the
	// network policy above).
	Proxy func(*http.Request) (*url.URL, error)
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
	for _, t := range []*http.Transport{g.loopback, g.public, g.proxied} {
		if t != nil {
			t.MaxIdleConnsPerHost = RelayIdleConns
		}
	}
	return g
}

// RelayIdleConns is how many idle connections per host NewTransport keeps.
const RelayIdleConns = 32

// guard is the policy's transport: two connection pools, one whose dialer
// also accepts loopback addresses, so a connection made for a local server
// is never reused for a request that may not reach loopback; and, with
// HTTPOptions.Proxy, a third whose connections go to the proxy only.
type guard struct {
	loopback, public *http.Transport
	proxied          *http.Transport // nil without a proxy
	proxy            func(*http.Request) (*url.URL, error)
	allowPrivate     bool
}

func newGuard(o HTTPOptions, headerTimeout time.Duration) *guard {
	mk := func(check func(address string) error) *http.Transport {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil // a proxy would dial for us and defeat the address check
		t.ResponseHeaderTimeout = headerTimeout
		t.TLSClientConfig = o.TLS
		d := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}
		if check != nil {
			d.Control = func(_, address string, _ syscall.RawConn) error { return check(address) }
		}
		t.DialContext = d.DialContext
		return t
	}
	g := &guard{
		loopback:     mk(func(a string) error { return checkDial(a, true, o.AllowPrivateNetworks) }),
		public:       mk(func(a string) error { return checkDial(a, false, o.AllowPrivateNetworks) }),
		proxy:        o.Proxy,
		allowPrivate: o.AllowPrivateNetworks,
	}
	if o.Proxy != nil {
		// This pool dials only the proxy (RoundTrip checked the target):
		// a request the proxy function does not proxy is refused, never
		// dialled directly without the address check.
		g.proxied = mk(nil)
		g.proxied.Proxy = func(req *http.Request) (*url.URL, error) {
			u, err := o.Proxy(req)
			if err == nil && u == nil {
				err = fmt.Errorf("no proxy for %s", origin(req.URL))
			}
			return u, err
		}
	}
	return g
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	server, _ := req.Context().Value(serverKey{}).(string)
	if server == "" {
		server = req.URL.String()
	}
	local := onLoopback(server)
	refuse := func(err error) (*http.Response, error) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if loopback.Host(req.URL.Hostname()) {
		if !local {
			return refuse(fmt.Errorf("refusing to connect to %s on this machine: the server %s is not on loopback", req.URL.Host, server))
		}
		return g.loopback.RoundTrip(req) // never through a proxy
	}
	if g.proxy != nil {
		u, err := g.proxy(req)
		if err != nil {
			return refuse(fmt.Errorf("choosing the proxy for %s: %w", origin(req.URL), err))
		}
		if u != nil {
			if err := checkTarget(req.Context(), req.URL.Hostname(), local, g.allowPrivate); err != nil {
				return refuse(err)
			}
			return g.proxied.RoundTrip(req)
		}
	}
	if local {
		return g.loopback.RoundTrip(req)
	}
	return g.public.RoundTrip(req)
}

// CloseIdleConnections closes every pool's idle connections.
func (g *guard) CloseIdleConnections() {
	g.loopback.CloseIdleConnections()
	g.public.CloseIdleConnections()
	if g.proxied != nil {
		g.proxied.CloseIdleConnections()
	}
}

// checkTarget applies the address rules to host, the target of a request
// sent through a proxy (the dialer then sees only the proxy's address): an
// IP literal is judged as it is, a name on every address it resolves to
// here. A name that does not resolve here is refused, unless private
// networks are allowed: then only the proxy knows where it leads, and the
// user has said private addresses are fine.
func checkTarget(ctx context.Context, host string, allowLoopback, allowPrivate bool) error {
	if ip, err := netip.ParseAddr(host); err == nil {
		return checkDial(ip.String(), allowLoopback, allowPrivate)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		if allowPrivate {
			return nil
		}
		return fmt.Errorf("refusing to send a request for %s through the proxy: the name does not resolve on this machine (%w), so mcpauthd cannot check that it is not on a private network; "+
			"if it is reachable only through the proxy, set allow_private_networks = true in mcpauthd's settings file and run mcpauthd restart", host, err)
	}
	for _, ip := range ips {
		if err := checkDial(ip.String(), allowLoopback, allowPrivate); err != nil {
			return err
		}
	}
	return nil
}

// ProxyOf says which proxy c's requests to an https server go through:
// the proxy's scheme://host:port (never its credentials), or "" when they
// connect directly. NO_PROXY may still exempt particular hosts. c must be
// built by [NewHTTPClient] (or carry [NewTransport]'s transport).
func ProxyOf(c *http.Client) string {
	return proxyFor(c, "https://mcp.example.com/")
}

// proxyFor is the proxy (scheme://host:port) c's request to target goes
// through, "" for a direct connection.
func proxyFor(c *http.Client, target string) string {
	g, ok := c.Transport.(*guard)
	if !ok || g.proxy == nil || onLoopback(target) {
		return ""
	}
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		return ""
	}
	u, err := g.proxy(req)
	if err != nil || u == nil {
		return ""
	}
	return origin(u)
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
// Its errors are *RedirectError.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return &RedirectError{fmt.Sprintf("stopped after %d redirects", maxRedirects)}
	}
	first := via[0].URL
	if strings.EqualFold(first.Scheme, "https") && !strings.EqualFold(req.URL.Scheme, "https") {
		return &RedirectError{fmt.Sprintf("refusing redirect from https to %s", req.URL.Scheme)}
	}
	if !sameOrigin(req.URL, first.String()) {
		return &RedirectError{fmt.Sprintf("refusing redirect to another host: %s is not the origin of %s", origin(req.URL), origin(first))}
	}
	return nil
}

// RedirectError is a redirect the network policy refused ([CheckRedirect]):
// the server answered, with a Location that may not be followed.
type RedirectError struct{ msg string }

// Error says what was refused.
func (e *RedirectError) Error() string { return e.msg }

// origin is u's scheme://host[:port].
func origin(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
}

// checkEndpoint enforces the transport rule for an endpoint learned from
// metadata: https, or http only on a loopback host. Other schemes (file:,
// javascript:, data:) are refused.
func checkEndpoint(step, name, raw string) error {
	if p := urlProblem(raw, false); p != "" {
		return newErr(step, CheckInsecureEndpoint, raw, "%s %s", name, p)
	}
	return nil
}

// urlProblem says why raw may not be used as an endpoint, or "" when it
// may: it must be an absolute https URL, or http on a loopback host. With
// literal, a host that is an IP literal must also not be a private,
// link-local or reserved address (the go-sdk's rule for URLs read from
// metadata; a name is judged by the dial guard when it is resolved).
func urlProblem(raw string, literal bool) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "is not an absolute URL"
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "http":
	case "":
		return "is not an absolute URL"
	default:
		return fmt.Sprintf("has scheme %q; only https (or http on loopback) is allowed", u.Scheme)
	}
	if u.Host == "" {
		return "is not an absolute URL"
	}
	if strings.EqualFold(u.Scheme, "http") && !loopback.Host(u.Hostname()) {
		return "uses plain http on a non-loopback host; only https is allowed"
	}
	if ip, err := netip.ParseAddr(u.Hostname()); literal && err == nil {
		if c := addressClass(ip); c == addrPrivate || c == addrReserved {
			return "refers to a non-public address"
		}
	}
	return ""
}

// netErr classifies a transport failure as a network error.
func netErr(step, u string, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return wrapErr(step, CheckNetwork, u, ue.Err, "no answer in time")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return wrapErr(step, CheckNetwork, u, err, "no answer in time")
	}
	return wrapErr(step, CheckNetwork, u, err, "could not reach the server")
}
