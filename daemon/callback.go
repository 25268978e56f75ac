package daemon

import (
	"context"
	"html/template"
	"net/http"
	"sync"
	"time"
)

// callbackPage is parsed on first use: every mcpauthd command links the
// daemon, and only the daemon serves this page.
var callbackPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("cb").Parse(callbackHTML))
})

const callbackHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>mcpauthd</title>
<style>body{font:16px system-ui,sans-serif;margin:4em auto;max-width:36em;color:#222}</style></head>
<body><h1>{{if .OK}}Signed in{{else}}Sign-in failed{{end}}</h1><p>{{.Msg}}</p>
<p>You can close this tab.</p></body></html>`

// serveCallback receives the browser after the authorization server's
// redirect and completes the sign-in waiting for it.
func (d *Daemon) serveCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	full := d.callbackURL + "?" + r.URL.RawQuery
	res, err := d.Complete(ctx, full)
	data := struct {
		OK  bool
		Msg string
	}{OK: err == nil}
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		data.Msg = toIPC("", err).Message
	} else {
		name := res.Server.Name
		if name == "" {
			name = res.Server.URL
		}
		data.Msg = "mcpauthd is now signed in to " + name + "."
	}
	_ = callbackPage().Execute(w, data)
}
