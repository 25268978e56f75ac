// Package ipcserver serves the daemon's local API over its Unix socket.
//
// Every connection's peer is identified once, when it is accepted
// (SO_PEERCRED / LOCAL_PEERCRED), and every request on a connection whose
// peer is not the daemon's own user is refused. Requests that carry Origin or
// Referer come from a browser page and are refused too.
package ipcserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/ipc"
)

type peerKey struct{}

type peerResult struct {
	peer ipc.Peer
	err  error
}

// Handler routes /v1/ requests to the daemon.
type Handler struct {
	D        *daemon.Daemon
	Log      *slog.Logger
	Shutdown func() // called by POST /v1/shutdown
	uid      int
	mux      *http.ServeMux
}

// New returns the handler for d.
func New(d *daemon.Daemon, log *slog.Logger, shutdown func()) *Handler {
	h := &Handler{D: d, Log: log, Shutdown: shutdown, uid: os.Getuid(), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/status", h.status)
	h.mux.HandleFunc("GET /v1/servers", h.servers)
	h.mux.HandleFunc("POST /v1/login", h.login)
	h.mux.HandleFunc("POST /v1/login/wait", h.loginWait)
	h.mux.HandleFunc("POST /v1/login/complete", h.complete)
	h.mux.HandleFunc("POST /v1/login/cancel", h.loginCancel)
	h.mux.HandleFunc("POST /v1/token", h.token)
	h.mux.HandleFunc("POST /v1/challenge", h.challenge)
	h.mux.HandleFunc("POST /v1/refresh", h.refresh)
	h.mux.HandleFunc("POST /v1/logout", h.logout)
	h.mux.HandleFunc("POST /v1/shutdown", h.shutdown)
	h.mux.HandleFunc("GET /v1/events", h.events)
	return h
}

// Serve serves the API on l until ctx ends.
func (h *Handler) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			p, err := ipc.PeerOf(c)
			return context.WithValue(ctx, peerKey{}, peerResult{p, err})
		},
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pr, _ := r.Context().Value(peerKey{}).(peerResult)
	if pr.err != nil || pr.peer.UID != h.uid {
		h.Log.Warn("refused a connection from another user", "uid", pr.peer.UID, "pid", pr.peer.PID, "err", pr.err)
		writeErr(w, http.StatusForbidden, &ipc.Error{Code: ipc.CodeForbidden, Message: "this mcpauthd belongs to another user"})
		return
	}
	if r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
		writeErr(w, http.StatusForbidden, &ipc.Error{Code: ipc.CodeForbidden, Message: "requests from web pages are refused"})
		return
	}
	h.mux.ServeHTTP(w, r)
}

func peer(r *http.Request) ipc.Peer {
	pr, _ := r.Context().Value(peerKey{}).(peerResult)
	return pr.peer
}

const maxBody = 1 << 20

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, &ipc.Error{Code: ipc.CodeBadRequest, Message: "malformed request body: " + err.Error()})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, e *ipc.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// fail writes err with the status its code implies.
func fail(w http.ResponseWriter, err error) {
	var e *ipc.Error
	if !errors.As(err, &e) {
		e = &ipc.Error{Code: ipc.CodeInternal, Message: err.Error()}
	}
	status := http.StatusInternalServerError
	switch e.Code {
	case ipc.CodeNeedsSignIn:
		status = http.StatusUnauthorized
	case ipc.CodeNotFound:
		status = http.StatusNotFound
	case ipc.CodeBadRequest:
		status = http.StatusBadRequest
	case ipc.CodeForbidden:
		status = http.StatusForbidden
	case ipc.CodeUpstream:
		status = http.StatusBadGateway
	}
	writeErr(w, status, e)
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request)  { writeJSON(w, h.D.Status()) }
func (h *Handler) servers(w http.ResponseWriter, r *http.Request) { writeJSON(w, h.D.Servers()) }

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	var req ipc.LoginRequest
	if !decode(w, r, &req) {
		return
	}
	res, err := h.D.Login(r.Context(), &req)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, res)
}

func (h *Handler) loginWait(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if !decode(w, r, &req) {
		return
	}
	res, err := h.D.WaitLogin(r.Context(), req.ID)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, res)
}

func (h *Handler) loginCancel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if !decode(w, r, &req) {
		return
	}
	if err := h.D.CancelLogin(req.ID); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

func (h *Handler) complete(w http.ResponseWriter, r *http.Request) {
	var req ipc.CompleteRequest
	if !decode(w, r, &req) {
		return
	}
	res, err := h.D.Complete(r.Context(), req.RedirectURL)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, res)
}

func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	var req ipc.TokenRequest
	if !decode(w, r, &req) {
		return
	}
	res, err := h.D.Token(r.Context(), req.URL, time.Duration(req.MinValid), peer(r))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, res)
}

func (h *Handler) challenge(w http.ResponseWriter, r *http.Request) {
	var req ipc.ChallengeRequest
	if !decode(w, r, &req) {
		return
	}
	if err := h.D.Challenge(r.Context(), &req); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

func (h *Handler) refresh(w http.ResponseWriter, r *http.Request) {
	var req ipc.ServerRequest
	if !decode(w, r, &req) {
		return
	}
	res, err := h.D.Refresh(r.Context(), req.URL)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, res)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	var req ipc.ServerRequest
	if !decode(w, r, &req) {
		return
	}
	if err := h.D.Logout(r.Context(), req.URL, req.Remove); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, struct{}{})
}

func (h *Handler) shutdown(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, struct{}{})
	if h.Shutdown != nil {
		go h.Shutdown()
	}
}

// events streams events as JSON lines until the client goes away.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		fail(w, errors.New("streaming unsupported"))
		return
	}
	ch := h.D.Subscribe()
	defer h.D.Unsubscribe(ch)
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	_ = enc.Encode(ipc.Event{Type: "hello", Time: time.Now()})
	fl.Flush()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if err := enc.Encode(ev); err != nil {
				return
			}
			fl.Flush()
		case <-r.Context().Done():
			return
		}
	}
}
