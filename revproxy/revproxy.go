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
// socket for each request. Each app has its own random key, compared in
// constant time; a request without the right key is refused before
// anything is forwarded. What the app sends as Authorization, Cookie, DPoP
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
	"strings"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
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
	AppSource(server string, caller ipc.Peer) oauth.CredentialSource
}

// Handler is the reverse proxy. Safe for concurrent use.
type Handler struct {
	apps Apps
	base http.RoundTripper
	log  *slog.Logger
	port string // the listener's port: the only one a Host header may name

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
	return &Handler{apps: apps, base: base, log: log, port: port, transports: map[string]*oauth.Transport{}}
}

// Listen listens on addr, which must be a loopback address: the proxy
// speaks plain HTTP and the app key is its only guard.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("apps listener %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("apps listener %q: not a loopback IP address", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("apps listener on %s: %w (another program holds the port; set MCPAUTH_APPS_ADDR)", addr, err)
	}
	return l, nil
}

// Serve serves on l until ctx ends. Responses have no write timeout:
// event streams stay open as long as the server keeps them.
func (h *Handler) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
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

// hostAllowed: the Host header must name this machine on the proxy's port,
// so a page that rebinds a DNS name to 127.0.0.1 gets nothing.
func (h *Handler) hostAllowed(host string) bool {
	hn, port, err := net.SplitHostPort(host)
	if err != nil || port != h.port {
		return false
	}
	if strings.EqualFold(hn, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(hn)
	return err == nil && ip.IsLoopback()
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.hostAllowed(r.Host) {
		refuse(w, http.StatusForbidden, "wrong Host: use http://127.0.0.1:"+h.port)
		return
	}
	name, key, rest, ok := route(r.URL.EscapedPath())
	if !ok {
		refuse(w, http.StatusNotFound, "not found: app URLs are /s/NAME/…")
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
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the app went away
			}
			h.log.Warn("reverse proxy: request failed", "app", name, "server", server, "err", err)
			refuse(w, http.StatusBadGateway, err.Error())
		},
	}
	rp.ServeHTTP(w, r)
}

// transport returns the app's oauth.Transport for server, one per app so
// that the DPoP nonce it learns stays with it.
func (h *Handler) transport(name, server string) *oauth.Transport {
	k := name + "\x00" + server
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.transports[k]
	if t == nil {
		// UID -1: the proxy does not know the app's process (TCP has no peer credentials).
		src := h.apps.AppSource(server, ipc.Peer{UID: -1, App: name})
		t = &oauth.Transport{Base: oauth.PinOrigin(h.base, server), Source: src, ServerURL: server}
		h.transports[k] = t
	}
	return t
}
