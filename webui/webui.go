// Package webui is mcpauthd's local web page: the server list with each
// server's state, expiry, scopes, issuer and registration method, the latest
// token hand-outs, and the actions add (sign in), sign in, refresh, reveal
// token, sign out and remove. It is an http.Handler that the daemon mounts on
// its loopback listener beside /callback; live updates are server-sent
// events fed by daemon.Subscribe.
//
// Anything on the machine can connect to a loopback port, and any web page
// the user visits can make the browser send requests to it, so every request
// passes these walls:
//
//   - Host must be the address the daemon listens on (no DNS rebinding):
//     otherwise 421.
//   - A session cookie (HttpOnly, SameSite=Strict, Path=/) is required for
//     everything but the entry link: otherwise 401. The cookie is only set by
//     the entry link, which carries the per-start secret (?k=, see EntryURL)
//     or a one-time ticket minted from it (?t=, package webentry), and which
//     redirects to /ui without it.
//   - Every POST needs the session's CSRF token in the X-CSRF-Token header, a
//     JSON body, and no foreign Origin or Sec-Fetch-Site: otherwise 403.
//   - Every answer carries a strict Content-Security-Policy (no inline
//     script), frame-ancestors 'none' and X-Frame-Options DENY,
//     Referrer-Policy no-referrer, nosniff and Cache-Control no-store.
//
// No token is ever part of the page. The "reveal" action (a POST) returns one
// server's access token, and the daemon audits it as a hand-out to the web
// page. Browsers share cookies across the ports of one host, so a program of
// another user listening on another loopback port could receive the session
// cookie if the user browses to it; sessions therefore end with the daemon
// and after SessionLifetime.
package webui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/webui/webentry"
)

//go:embed static index.html
var files embed.FS

// page is parsed on first use: every mcpauthd command links the web page.
var page = sync.OnceValue(func() *template.Template { return template.Must(template.ParseFS(files, "index.html")) })

// SessionLifetime bounds one browser session; open the page again with
// `mcpauthd ui` after it.
const SessionLifetime = 12 * time.Hour

// maxSessions bounds the sessions kept; the oldest is dropped beyond it.
const maxSessions = 32

const (
	csrfHeader = "X-CSRF-Token"
	// csp allows the page's own script, style and connections only.
	csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)

// Handler serves the web page. Create it with New; it is safe for
// concurrent use.
type Handler struct {
	d      *daemon.Daemon
	log    *slog.Logger
	origin string // scheme://host:port of the loopback listener
	host   string // the only Host header accepted
	secret string // per-start entry secret
	cookie string // session cookie name (per port: cookies ignore ports)
	mux    *http.ServeMux

	mu       sync.Mutex
	sessions map[string]*session  // by cookie value
	tickets  map[string]time.Time // accepted one-time ticket nonces → expiry
}

type session struct {
	csrf    string
	created time.Time
}

// New returns the web page of d, served at origin (d.LoopbackURL(), e.g.
// "http://127.0.0.1:53682"), with a fresh entry secret. log may be nil.
func New(d *daemon.Daemon, origin string, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host := origin
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		host = u.Host
	}
	port := "web"
	if _, p, err := net.SplitHostPort(host); err == nil {
		port = p
	}
	h := &Handler{
		d: d, log: log, origin: strings.TrimSuffix(origin, "/"), host: strings.ToLower(host),
		secret: rand.Text(), cookie: "mcpauthd_session_" + port,
		mux: http.NewServeMux(), sessions: map[string]*session{}, tickets: map[string]time.Time{},
	}
	static, _ := fs.Sub(files, "static")
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui", http.StatusSeeOther)
	})
	h.mux.HandleFunc("GET /ui", h.page)
	h.mux.HandleFunc("GET /api/events", h.events)
	h.mux.HandleFunc("POST /api/login", action(h.login))
	h.mux.HandleFunc("POST /api/refresh", action(h.refresh))
	h.mux.HandleFunc("POST /api/doctor", action(h.doctor))
	h.mux.HandleFunc("POST /api/logout", action(h.logout))
	h.mux.HandleFunc("POST /api/account-default", action(h.accountDefault))
	h.mux.HandleFunc("POST /api/idp/logout", action(h.logoutIdP))
	h.mux.HandleFunc("POST /api/offer", action(h.offer))
	h.mux.HandleFunc("POST /api/remove", action(h.remove))
	h.mux.HandleFunc("POST /api/reveal", action(h.reveal))
	h.mux.HandleFunc("POST /api/tools", action(h.tools))
	h.mux.HandleFunc("POST /api/approve", action(h.decide))
	h.mux.HandleFunc("POST /api/revoke", action(h.revoke))
	return h
}

// EntryURL is the link that opens the page, carrying the per-start secret.
// It is valid until the daemon stops; give it out only over the socket
// (ipc.Status.WebURL), and turn it into a one-time link with
// webentry.OneTime before handing it to a browser.
func (h *Handler) EntryURL() string {
	return h.origin + "/ui?" + url.Values{webentry.SecretParam: {h.secret}}.Encode()
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")

	if !strings.EqualFold(r.Host, h.host) {
		h.log.Warn("web page: refused a request for another host (DNS rebinding?)", "host", r.Host)
		http.Error(w, "this server answers only to "+h.host, http.StatusMisdirectedRequest)
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodGet && r.URL.Path == "/ui" && (q.Has(webentry.SecretParam) || q.Has(webentry.TicketParam)) {
		h.enter(w, r, q)
		return
	}
	s := h.session(r)
	if s == nil {
		http.Error(w, "Not signed in to this page. Open it with: mcpauthd ui", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if msg := h.checkPost(r, s); msg != "" {
			h.log.Warn("web page: refused a request", "path", r.URL.Path, "why", msg)
			http.Error(w, msg, http.StatusForbidden)
			return
		}
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
}

type sessionKey struct{}

// enter accepts the entry secret or a one-time ticket, starts a session and
// redirects to /ui, so the secret leaves the address bar at once.
func (h *Handler) enter(w http.ResponseWriter, r *http.Request, q url.Values) {
	now := time.Now()
	ok := false
	if k := q.Get(webentry.SecretParam); k != "" {
		ok = subtle.ConstantTimeCompare([]byte(k), []byte(h.secret)) == 1
	} else if nonce, exp, valid := webentry.Check(h.secret, q.Get(webentry.TicketParam), now); valid {
		h.mu.Lock()
		for n, e := range h.tickets {
			if now.After(e) {
				delete(h.tickets, n)
			}
		}
		if _, used := h.tickets[nonce]; !used {
			h.tickets[nonce], ok = exp, true
		}
		h.mu.Unlock()
	}
	if !ok {
		h.log.Warn("web page: refused an entry link (wrong, used or expired; or from an earlier run)")
		http.Error(w, "This link is not valid: it was used already, it expired, or mcpauthd restarted since. Open the page again with: mcpauthd ui", http.StatusForbidden)
		return
	}
	id := h.newSession(now)
	http.SetCookie(w, &http.Cookie{
		Name: h.cookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/ui", http.StatusSeeOther)
}

func (h *Handler) newSession(now time.Time) string {
	id := rand.Text() + rand.Text()
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.sessions) >= maxSessions {
		var oldest string
		for k, s := range h.sessions {
			if oldest == "" || s.created.Before(h.sessions[oldest].created) {
				oldest = k
			}
		}
		delete(h.sessions, oldest)
	}
	h.sessions[id] = &session{csrf: rand.Text(), created: now}
	return id
}

// session returns r's live session, or nil.
func (h *Handler) session(r *http.Request) *session {
	c, err := r.Cookie(h.cookie)
	if err != nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[c.Value]
	if s != nil && time.Since(s.created) > SessionLifetime {
		delete(h.sessions, c.Value)
		return nil
	}
	return s
}

// checkPost says why a state-changing request is refused ("" = allowed).
func (h *Handler) checkPost(r *http.Request, s *session) string {
	if o := r.Header.Get("Origin"); o != "" && o != h.origin {
		return "cross-origin request"
	}
	if sf := r.Header.Get("Sec-Fetch-Site"); sf != "" && sf != "same-origin" {
		return "cross-site request"
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(s.csrf)) != 1 {
		return "missing or wrong CSRF token; reload the page"
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "the body must be JSON"
	}
	return ""
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	s := r.Context().Value(sessionKey{}).(*session)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page().Execute(w, struct{ CSRF, Version string }{s.csrf, h.d.Status().Version})
}
