package daemon

import (
	"context"
	"crypto/subtle"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"
)

// startPath is where the loopback listener serves sign-in start links:
// startPath + the sign-in's start id (login.startID).
const startPath = "/start/"

// bindCookiePrefix begins the name of a sign-in's binding cookie; each
// sign-in has its own name, so that sign-ins running side by side in one
// browser do not overwrite each other's.
const bindCookiePrefix = "mcpauthd_signin_"

// callbackPage is parsed on first use: every mcpauthd command links the
// daemon, and only the daemon serves this page.
var callbackPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("cb").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>mcpauthd</title>
<style>body{font:16px system-ui,sans-serif;margin:4em auto;max-width:36em;color:#222}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Msg}}</p>
<p>You can close this tab.</p></body></html>`))
})

// Texts of the loopback pages that refuse a browser.
const (
	msgStartGone = "This sign-in link is no longer valid: the sign-in it started has ended (or never existed). Start the sign-in again."
	msgNotBound  = "This browser did not start this sign-in, so mcpauthd did not accept the answer, and the sign-in still waits. " +
		"Finish it in the browser tab mcpauthd opened. If you opened the sign-in link yourself (mcpauthd login --no-browser), " +
		"copy this page's address and paste it into the mcpauthd login that waits for it."
)

// loopbackHeaders are the headers of every page the loopback listener
// serves for sign-ins: nothing to load, nothing cached, no Referer sent on.
func loopbackHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
}

func writePage(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = callbackPage().Execute(w, struct{ Title, Msg string }{title, msg})
}

// serveStart is a sign-in's start link, opened by the browser through the
// private redirect page (internal/browser). It binds this browser to the
// sign-in, with a cookie that only the loopback origin sees (HttpOnly,
// SameSite=Lax so that the authorization server's top-level redirect back
// carries it, Path=/callback), and forwards it to the authorization
// request. The link works while the sign-in waits, so that the user can
// open it in another browser when the first one could not.
func (d *Daemon) serveStart(w http.ResponseWriter, r *http.Request) {
	loopbackHeaders(w)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.NotFound(w, r)
		return
	}
	id := strings.TrimPrefix(r.URL.Path, startPath)
	d.mu.Lock()
	l := d.starts[id]
	d.mu.Unlock()
	if id == "" || l == nil {
		writePage(w, http.StatusNotFound, "Sign-in link not valid", msgStartGone)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: l.bindName, Value: l.bindValue, Path: "/callback",
		MaxAge: int(d.cfg.LoginTimeout / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, l.authorizeURL, http.StatusFound)
}

// boundTo reports whether r comes from the browser that opened l's start
// link: it holds l's binding cookie (compared in constant time). A sign-in
// without a start link (NoBrowser) is bound to no browser.
func (l *login) boundTo(r *http.Request) bool {
	if l.bindName == "" {
		return false
	}
	c, err := r.Cookie(l.bindName)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(l.bindValue)) == 1
}

// serveCallback receives the browser after the authorization server's
// redirect and completes the sign-in waiting for it. A redirect for a
// waiting sign-in from a browser not bound to it (boundTo) is refused
// before it reaches the sign-in: it neither completes nor cancels it, so a
// forged one (a stolen state with another account's code, or a forged
// error) changes nothing and the user's browser can still finish.
func (d *Daemon) serveCallback(w http.ResponseWriter, r *http.Request) {
	loopbackHeaders(w)
	if r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	l := d.pending(r.URL.Query().Get("state"))
	if l != nil && !l.boundTo(r) {
		d.log.Warn("refused a sign-in redirect from a browser that did not start the sign-in", "server", l.url)
		writePage(w, http.StatusForbidden, "Sign-in not accepted here", msgNotBound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	res, err := d.Complete(ctx, d.callbackURL+"?"+r.URL.RawQuery)
	if l != nil { // the binding has served its purpose
		http.SetCookie(w, &http.Cookie{Name: l.bindName, Path: "/callback", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	if err != nil {
		writePage(w, http.StatusBadRequest, "Sign-in failed", toIPC("", err).Message)
		return
	}
	name := res.Server.Name
	if name == "" {
		name = res.Server.URL
	}
	writePage(w, http.StatusOK, "Signed in", "mcpauthd is now signed in to "+name+".")
}
