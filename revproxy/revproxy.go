// Package revproxy is mcpauthd's local reverse proxy for apps that speak
// MCP over HTTP themselves: a request to
//
//	http://127.0.0.1:PORT/s/NAME/k/KEY/REST   (the key in the path), or
//	http://127.0.0.1:PORT/s/NAME/REST         with header X-Mcpauthd-Key: KEY
//
// goes to the server registered for the app NAME (its URL, with REST
// appended to its path when there is one, and the request's query), with
// the server's access token added by an oauth.Transport, so a 401 or a 403
// insufficient_scope is answered (refresh, sign in, step up) exactly as for
// every other client. Responses stream through unbuffered (server-sent
// events).
//
// It runs inside the daemon, on a loopback listener of its own: a separate
// origin from the callback and web page (a page served by an upstream
// server can never script mcpauthd's web page), and no second hop over the
// socket for each request.
//
// Before anything else, a connection must come from the daemon's own user:
// on Linux the uid owning the other end of each loopback connection is
// looked up once per connection in /proc/net/tcp{,6}, and a connection from
// another uid, or one whose owner cannot be found, is refused (403) before
// any key is compared, so a key stolen by another local user is worth
// nothing. On other OSes (PeerUIDChecked false) the owner is not checked.
// Each app has its own random key, compared in constant time; a request
// without the right key is refused before anything is forwarded. The path
// below the app's server is confined to the server's own path: a segment
// that is or could decode to "." or "..", or that holds an encoded '/', a
// '\' or a NUL, and an empty segment (but a trailing slash), is refused
// (400), never rewritten. What the app sends as Authorization, Cookie, DPoP
// or its key never reaches the server; the server's Set-Cookie and
// WWW-Authenticate never reach the app; the token never reaches the app.
package revproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/loopback"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

// DefaultAddr is where the reverse proxy listens unless MCPAUTH_APPS_ADDR
// says otherwise. Apps keep this address in their configuration: keep it
// stable.
const DefaultAddr = "127.0.0.1:53683"

// Apps is what the proxy needs from the daemon: checking an app's key and
// a token source for its server that records the app in the audit log.
type Apps interface {
	// App returns the server the app name may reach when key is its key.
	App(name, key string) (server string, ok bool, err error)
	// AppSource hands out server's tokens to caller.
	AppSource(server string, caller ipc.Peer) oauth.TokenSource
	// ToolPolicyFor is the tool policy in force for caller's requests to
	// server: the server's, with caller's app's own on top.
	ToolPolicyFor(server string, caller ipc.Peer) toolpolicy.Policy
	// ToolRefused records in the audit log that caller's tools/call of
	// tool on server was refused under the tool policy.
	ToolRefused(server, tool string, caller ipc.Peer)
}

// Handler is the reverse proxy. Safe for concurrent use.
type Handler struct {
	apps Apps
	base http.RoundTripper
	log  *slog.Logger
	port string // the listener's port: the only one a Host header may name
	uid  int    // the only user whose connections are served

	// peerUID finds who owns the other end of an accepted connection
	// (errors.ErrUnsupported: this OS cannot tell).
	peerUID func(net.Conn) (int, error)

	mu         sync.Mutex
	transports map[string]*oauth.Transport // by app name and server
}

// New returns the proxy for apps, serving on addr (host:port). base carries
// the requests to servers (oauth.NewTransport's, the network policy's, when
// nil); each app's requests are pinned to its server's origin.
func New(apps Apps, addr string, base http.RoundTripper, log *slog.Logger) *Handler {
	if base == nil {
		base = oauth.NewTransport(oauth.HTTPOptions{})
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_, port, _ := net.SplitHostPort(addr)
	return &Handler{apps: apps, base: base, log: log, port: port, uid: os.Getuid(), peerUID: peerUID, transports: map[string]*oauth.Transport{}}
}

// Listen listens on addr, which must be a loopback IP address and port:
// the proxy speaks plain HTTP. When addr cannot be bound the error says
// who holds it where the OS tells (Linux: the listener's uid), since app
// URLs would then reach that program instead.
func Listen(addr string) (net.Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("apps address %q (apps_addr, MCPAUTH_APPS_ADDR) is not a loopback IP address and port (like %s)", addr, DefaultAddr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s for apps (%w): it is held by %s, and app URLs would reach that program instead of mcpauthd; set apps_addr in the settings file (or MCPAUTH_APPS_ADDR) to a free loopback address and run mcpauthd restart", addr, err, holder(ap))
	}
	return l, nil
}

// holder names who listens on addr, as far as the OS tells.
func holder(addr netip.AddrPort) string {
	uid, err := holderUID(addr)
	switch {
	case err != nil:
		return "another program"
	case uid == os.Getuid():
		return fmt.Sprintf("another program of yours (uid %d)", uid)
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("another user: uid %d (%s)", uid, u.Username)
	}
	return fmt.Sprintf("another user: uid %d", uid)
}

// Serve serves on l until ctx ends. Responses have no write timeout:
// event streams stay open as long as the server keeps them.
func (h *Handler) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnContext: h.connContext}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// callerKey is the context key of a connection's caller check.
type callerKey struct{}

// connContext attaches to each connection the check of who opened it: run
// once, at its first request (on the connection's goroutine, not the
// accept loop), and logged once when it refuses.
func (h *Handler) connContext(ctx context.Context, c net.Conn) context.Context {
	remote := c.RemoteAddr().String()
	return context.WithValue(ctx, callerKey{}, sync.OnceValue(func() string {
		uid, err := h.peerUID(c)
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			return ""
		case err != nil:
			h.log.Warn("reverse proxy: refused a connection whose user cannot be found", "remote", remote, "err", err)
			return fmt.Sprintf("mcpauthd cannot tell which user opened this connection (%v); it serves only its own user (uid %d)", err, h.uid)
		case uid != h.uid:
			h.log.Warn("reverse proxy: refused a connection from another user", "uid", uid, "remote", remote)
			return fmt.Sprintf("this connection comes from uid %d; mcpauthd's reverse proxy serves only its own user (uid %d)", uid, h.uid)
		}
		return ""
	}))
}

// callerRefusal is why r's connection may not be served ("" when it may).
// A request on a connection that connContext never saw is refused.
func callerRefusal(r *http.Request) string {
	check, _ := r.Context().Value(callerKey{}).(func() string)
	if check == nil {
		return "mcpauthd did not check who opened this connection"
	}
	return check()
}

// route splits /s/NAME/k/KEY/REST or /s/NAME/REST (escaped path).
func route(escapedPath string) (name, key, rest string, ok bool) {
	p, found := strings.CutPrefix(escapedPath, "/s/")
	if !found {
		return "", "", "", false
	}
	name, rest, _ = strings.Cut(p, "/")
	if rest != "" {
		rest = "/" + rest
	}
	if k, found := strings.CutPrefix(rest, "/k/"); found {
		key, rest, _ = strings.Cut(k, "/")
		if rest != "" {
			rest = "/" + rest
		}
	}
	return name, key, rest, name != ""
}

// confine checks rest, the escaped path an app asks for below its
// server's path ("" or starting with '/'), and says why it could leave
// that path or be read two ways; nil when it is safe to append. Each
// segment is checked as sent and as a server that decodes it once or twice
// more would read it: no "." or ".." (also before a ';' parameter), no
// '/', '\' or NUL, and no empty segment but a trailing one.
func confine(rest string) error {
	if rest == "" {
		return nil
	}
	segs := strings.Split(rest[1:], "/")
	for i, seg := range segs {
		if seg == "" && i < len(segs)-1 {
			return errors.New("empty path segment (//)")
		}
		for depth := 0; ; depth++ {
			dec, err := url.PathUnescape(seg)
			if err != nil {
				if depth == 0 {
					return fmt.Errorf("malformed escape in %q", seg)
				}
				break // a literal '%': nothing more to decode
			}
			if strings.ContainsAny(dec, "/\\\x00") {
				return fmt.Errorf("segment %q holds an encoded '/', a '\\' or a NUL", seg)
			}
			if base, _, _ := strings.Cut(dec, ";"); base == "." || base == ".." {
				return fmt.Errorf("segment %q is a dot segment", seg)
			}
			if dec == seg {
				break
			}
			if depth == 2 {
				return fmt.Errorf("segment %q is encoded more than twice", seg)
			}
			seg = dec
		}
	}
	return nil
}

// hostAllowed: the Host header must name this machine on the proxy's port,
// so a page that rebinds a DNS name to 127.0.0.1 gets nothing.
func (h *Handler) hostAllowed(host string) bool {
	hn, port, err := net.SplitHostPort(host)
	if err != nil || port != h.port {
		return false
	}
	return loopback.Host(hn)
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// ServeHTTP checks, in this order, who opened the connection (see
// connContext), the Host, the route, the path and then the app's key, and
// forwards only a request that passes all of them.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if why := callerRefusal(r); why != "" {
		refuse(w, http.StatusForbidden, why)
		return
	}
	if !h.hostAllowed(r.Host) {
		refuse(w, http.StatusForbidden, "wrong Host: use http://127.0.0.1:"+h.port)
		return
	}
	name, key, rest, ok := route(r.URL.EscapedPath())
	if !ok {
		refuse(w, http.StatusNotFound, "not found: app URLs are /s/NAME/…")
		return
	}
	if err := confine(rest); err != nil {
		refuse(w, http.StatusBadRequest, "path refused: "+err.Error()+"; the path must stay below the app's server")
		return
	}
	if key == "" {
		key = r.Header.Get(ipc.AppKeyHeader)
	}
	server, ok, err := h.apps.App(name, key)
	if err != nil {
		h.log.Warn("app keys unreadable", "err", err)
		refuse(w, http.StatusServiceUnavailable, "mcpauthd cannot read its app keys: "+err.Error())
		return
	}
	if !ok {
		h.log.Warn("reverse proxy: refused a request without its app's key", "app", name, "remote", r.RemoteAddr)
		refuse(w, http.StatusForbidden, "no app "+name+" with this key (pass the key in the path /s/NAME/k/KEY/ or in "+ipc.AppKeyHeader+")")
		return
	}
	target, err := url.Parse(server)
	if err != nil {
		refuse(w, http.StatusBadGateway, "the app's server URL is malformed")
		return
	}
	if rest != "" {
		target.RawPath = strings.TrimSuffix(target.EscapedPath(), "/") + rest
		if target.Path, err = url.PathUnescape(target.RawPath); err != nil {
			refuse(w, http.StatusBadRequest, "malformed path")
			return
		}
	}
	switch {
	case target.RawQuery == "":
		target.RawQuery = r.URL.RawQuery
	case r.URL.RawQuery != "":
		target.RawQuery += "&" + r.URL.RawQuery
	}
	pol := h.apps.ToolPolicyFor(server, appPeer(name))
	var lists map[string]bool
	if !pol.IsZero() {
		var answered bool
		if lists, answered = h.policeRequest(w, r, pol, name, server); answered {
			return
		}
	}
	method := r.Method
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = target
			pr.Out.Host = "" // the server's own host
			for _, k := range []string{"Authorization", "Proxy-Authorization", "Cookie", "DPoP", ipc.AppKeyHeader, "Referer", "Origin"} {
				pr.Out.Header.Del(k)
			}
		},
		Transport:     h.transport(name, server),
		FlushInterval: -1, // pass every write on at once: server-sent events
		ModifyResponse: func(res *http.Response) error {
			res.Header.Del("Set-Cookie")
			res.Header.Del("WWW-Authenticate") // the app must not start a sign-in of its own
			res.Header.Set("X-Content-Type-Options", "nosniff")
			res.Header.Set("Content-Security-Policy", "sandbox")
			if pol.IsZero() {
				return nil
			}
			return policeResponse(pol, lists, method, server, res)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the app went away
			}
			h.log.Warn("reverse proxy: request failed", "app", name, "server", server, "err", err)
			// The user has not allowed the app (approval = ask): 403, with
			// the daemon's words (they name mcpauthd approve ID).
			if e := (*ipc.Error)(nil); errors.As(err, &e) && (e.Code == ipc.CodeDenied || e.Code == ipc.CodeApprovalPending) {
				refuse(w, http.StatusForbidden, e.Message)
				return
			}
			refuse(w, http.StatusBadGateway, err.Error())
		},
	}
	rp.ServeHTTP(w, r)
}

// appPeer is the app name as the daemon's approvals, audit and tool
// policies know it. UID -1: the proxy does not know the app's process (TCP
// has no peer credentials).
func appPeer(name string) ipc.Peer { return ipc.Peer{UID: -1, App: name} }

// transport returns the app's oauth.Transport for server, one per app so
// that the DPoP nonce it learns stays with it.
func (h *Handler) transport(name, server string) *oauth.Transport {
	k := name + "\x00" + server
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.transports[k]
	if t == nil {
		src := h.apps.AppSource(server, appPeer(name))
		t = &oauth.Transport{Base: oauth.PinOrigin(h.base, server), Source: src, ServerURL: server}
		h.transports[k] = t
	}
	return t
}
