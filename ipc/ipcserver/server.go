// Package ipcserver serves the daemon's local API over its Unix socket.
//
// Every connection's peer is identified once, when it is accepted
// (SO_PEERCRED / LOCAL_PEERCRED), and every request on a connection whose
// peer is not the daemon's own user is refused. Requests that carry Origin or
// Referer come from a browser page and are refused too.
//
// A connection from elsewhere (ipc.Origin: an ssh -R forward, an SSH login,
// a container) has Peer.Via set, which the audit log records. Connections on
// the read-only socket (ServeReadOnly), and connections from elsewhere when
// Handler.ForwardedReadOnly is set, are read-only: readOnlyRoutes are
// refused.
package ipcserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/ipc"
)

type peerKey struct{}

type peerResult struct {
	peer     ipc.Peer
	err      error
	readOnly bool // came in on the read-only socket
}

// readOnlyRoutes are what a read-only connection may not do: sign in (a
// challenge may start a step-up sign-in), sign out, change apps, import,
// stop the daemon, set tool policies (a remote proxy applies them; it must
// not loosen them). Everything else reads, or hands out tokens. A key is a
// path (any method) or a method and a path.
var readOnlyRoutes = map[string]bool{
	"/v1/login": true, "/v1/login/complete": true, "/v1/login/cancel": true, "/v1/challenge": true,
	"/v1/logout": true, "/v1/accounts/default": true, "/v1/idp/logout": true, "/v1/shutdown": true, "/v1/apps": true, "/v1/apps/remove": true, "/v1/import": true,
	"/v1/approval/decide": true, "/v1/approval/revoke": true, "/v1/approval/sensitive": true,
	"POST /v1/tools": true,
}

// Handler routes /v1/ requests to the daemon.
type Handler struct {
	D   *daemon.Daemon
	Log *slog.Logger
	// Shutdown is called by POST /v1/shutdown; restart asks the daemon to
	// start again in place once it has shut down (ipc.ShutdownRequest).
	Shutdown func(restart bool)
	// ForwardedReadOnly makes every connection from elsewhere (Peer.Via
	// set) read-only: the forwarded = "read-only" setting.
	ForwardedReadOnly bool
	uid               int
	self              string // the daemon's executable (ipc.Identify)
	mux               *http.ServeMux
}

// New returns the handler for d.
func New(d *daemon.Daemon, log *slog.Logger, shutdown func(restart bool)) *Handler {
	h := &Handler{D: d, Log: log, Shutdown: shutdown, uid: os.Getuid(), mux: http.NewServeMux()}
	h.self, _ = os.Executable()
	h.mux.HandleFunc("GET /v1/status", h.status)
	h.mux.HandleFunc("GET /v1/servers", h.servers)
	h.mux.HandleFunc("POST /v1/login", call(h.login))
	h.mux.HandleFunc("POST /v1/login/wait", call(h.loginWait))
	h.mux.HandleFunc("POST /v1/login/complete", call(h.complete))
	h.mux.HandleFunc("POST /v1/login/cancel", call(h.loginCancel))
	h.mux.HandleFunc("POST /v1/token", call(h.token))
	h.mux.HandleFunc("POST /v1/challenge", call(h.challenge))
	h.mux.HandleFunc("POST /v1/succeeded", call(h.succeeded))
	h.mux.HandleFunc("POST /v1/refresh", call(h.refresh))
	h.mux.HandleFunc("POST /v1/provider", call(h.provider))
	h.mux.HandleFunc("POST /v1/doctor", call(h.doctor))
	h.mux.HandleFunc("POST /v1/logout", call(h.logout))
	h.mux.HandleFunc("POST /v1/accounts/default", call(h.setDefaultAccount))
	h.mux.HandleFunc("GET /v1/idps", h.idps)
	h.mux.HandleFunc("POST /v1/idp/logout", call(h.logoutIdP))
	h.mux.HandleFunc("POST /v1/shutdown", h.shutdown)
	h.mux.HandleFunc("GET /v1/events", h.events)
	h.mux.HandleFunc("GET /v1/apps", h.apps)
	h.mux.HandleFunc("POST /v1/apps", call(h.addApp))
	h.mux.HandleFunc("POST /v1/apps/remove", call(h.removeApp))
	h.mux.HandleFunc("POST /v1/import", call(h.importGrant))
	h.mux.HandleFunc("POST /v1/tools", call(h.setToolPolicy))
	h.mux.HandleFunc("GET /v1/tools", h.toolPolicy)
	h.mux.HandleFunc("POST /v1/tools/refused", call(h.toolRefused))
	h.mux.HandleFunc("GET /v1/approval/pending", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, h.D.PendingApprovals()) })
	h.mux.HandleFunc("POST /v1/approval/decide", call(h.decide))
	h.mux.HandleFunc("GET /v1/approval/apps", h.approvalApps)
	h.mux.HandleFunc("POST /v1/approval/revoke", call(h.revoke))
	h.mux.HandleFunc("POST /v1/approval/sensitive", call(h.sensitive))
	return h
}

// Serve serves the API on l until ctx ends.
func (h *Handler) Serve(ctx context.Context, l net.Listener) error { return h.serve(ctx, l, false) }

// ServeReadOnly serves the API on l, every connection read-only (the
// socket `mcpauthd ssh-config --read-only` forwards), until ctx ends.
func (h *Handler) ServeReadOnly(ctx context.Context, l net.Listener) error {
	return h.serve(ctx, l, true)
}

func (h *Handler) serve(ctx context.Context, l net.Listener, readOnly bool) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			p, err := ipc.PeerOf(c)
			if err == nil {
				// The program is read now, while the peer that connected
				// still holds its pid.
				ipc.Identify(c, &p, h.self)
				p.Via = ipc.Origin(p.PID)
			}
			return context.WithValue(ctx, peerKey{}, peerResult{p, err, readOnly})
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

// ServeHTTP refuses peers of another user and requests from web pages,
// then routes the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(ipc.HeaderRevision, strconv.Itoa(ipc.Revision))
	pr, _ := r.Context().Value(peerKey{}).(peerResult)
	if pr.err != nil {
		h.Log.Warn("refused a connection whose user the OS does not name", "err", pr.err)
		writeErr(w, http.StatusForbidden, &ipc.Error{Code: ipc.CodeForbidden, Message: "this mcpauthd belongs to another user; the OS did not say which user connected"})
		return
	}
	if pr.peer.UID != h.uid {
		h.Log.Warn("refused a connection from another user", "uid", pr.peer.UID, "pid", pr.peer.PID, "via", pr.peer.Via)
		writeErr(w, http.StatusForbidden, &ipc.Error{Code: ipc.CodeForbidden, Message: fmt.Sprintf("this mcpauthd belongs to another user (uid %d); "+
			"the connection came from uid %d as this machine sees it. A process in a container or user namespace must run as a uid its namespace maps to %d", h.uid, pr.peer.UID, h.uid)})
		return
	}
	if (pr.readOnly || h.ForwardedReadOnly && pr.peer.Via != "") && (readOnlyRoutes[r.URL.Path] || readOnlyRoutes[r.Method+" "+r.URL.Path]) {
		via := pr.peer.Via
		if pr.readOnly {
			via = "the read-only socket; " + via
		}
		h.Log.Warn("refused a read-only connection's request", "path", r.URL.Path, "pid", pr.peer.PID, "via", via)
		writeErr(w, http.StatusForbidden, &ipc.Error{Code: ipc.CodeForbidden, Message: "this connection is read-only (" + strings.TrimSuffix(via, "; ") +
			"): it gets tokens, but cannot sign in, sign out, change apps or stop mcpauthd; do that on the machine mcpauthd runs on"})
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
	// One JSON value and nothing after it (found by FuzzIPCBodies: `{}0`
	// was accepted as `{}`).
	if _, err := dec.Token(); err != io.EOF {
		writeErr(w, http.StatusBadRequest, &ipc.Error{Code: ipc.CodeBadRequest, Message: "malformed request body: data after the JSON value"})
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
	case ipc.CodeForbidden, ipc.CodeDenied, ipc.CodeApprovalPending:
		status = http.StatusForbidden
	case ipc.CodeUpstream:
		status = http.StatusBadGateway
	}
	writeErr(w, status, e)
}

// status answers the daemon's status; with ?check=secrets it also asks the
// secret backend for the data key (bounded by the store's keyring timeout).
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	st := h.D.Status()
	if r.URL.Query().Get("check") == "secrets" {
		st.SecretsChecked = true
		if err := h.D.CheckSecrets(); err != nil {
			st.SecretsError = err.Error()
		}
	}
	writeJSON(w, st)
}

func (h *Handler) servers(w http.ResponseWriter, r *http.Request) { writeJSON(w, h.D.Servers()) }

// call is the shape of every JSON route: decode the request, call the
// daemon, write its answer or its error.
func call[Req, Res any](f func(r *http.Request, req *Req) (Res, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if !decode(w, r, &req) {
			return
		}
		res, err := f(r, &req)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, res)
	}
}

type idRequest struct {
	ID string `json:"id"`
}

type empty struct{}

func (h *Handler) login(r *http.Request, req *ipc.LoginRequest) (*ipc.LoginResponse, error) {
	return h.D.Login(r.Context(), req)
}

func (h *Handler) loginWait(r *http.Request, req *idRequest) (*ipc.LoginResponse, error) {
	return h.D.WaitLogin(r.Context(), req.ID)
}

func (h *Handler) loginCancel(_ *http.Request, req *idRequest) (empty, error) {
	return empty{}, h.D.CancelLogin(req.ID)
}

func (h *Handler) complete(r *http.Request, req *ipc.CompleteRequest) (*ipc.LoginResponse, error) {
	return h.D.Complete(r.Context(), req.RedirectURL)
}

func (h *Handler) token(r *http.Request, req *ipc.TokenRequest) (*ipc.TokenResponse, error) {
	return h.D.TokenFor(r.Context(), req, peer(r))
}

// challenge and succeeded concern the account the peer's token came from,
// which the daemon picks for the peer as it did for the token.
func (h *Handler) challenge(r *http.Request, req *ipc.ChallengeRequest) (empty, error) {
	return empty{}, h.D.For(peer(r)).Challenge(r.Context(), req)
}

func (h *Handler) succeeded(r *http.Request, req *ipc.ServerRequest) (empty, error) {
	return empty{}, h.D.For(peer(r)).Succeeded(r.Context(), req.URL, req.Account)
}

func (h *Handler) refresh(r *http.Request, req *ipc.ServerRequest) (*ipc.ServerInfo, error) {
	return h.D.Refresh(r.Context(), req.URL, req.Account)
}

func (h *Handler) doctor(r *http.Request, req *ipc.ServerRequest) (*ipc.DoctorReport, error) {
	return h.D.Doctor(r.Context(), req.URL)
}

func (h *Handler) provider(r *http.Request, req *ipc.ProviderRequest) (*ipc.ServerInfo, error) {
	return h.D.SetProvider(req)
}

func (h *Handler) idps(w http.ResponseWriter, r *http.Request) { writeJSON(w, h.D.IdPs()) }

func (h *Handler) logoutIdP(r *http.Request, req *ipc.IdPLogoutRequest) (*ipc.IdPLogoutResponse, error) {
	return h.D.LogoutIdP(r.Context(), req.Issuer, req.ClientID)
}

func (h *Handler) logout(r *http.Request, req *ipc.ServerRequest) (*ipc.LogoutResponse, error) {
	return h.D.Logout(r.Context(), req)
}

func (h *Handler) setDefaultAccount(_ *http.Request, req *ipc.ServerRequest) (*ipc.ServerInfo, error) {
	return h.D.SetDefaultAccount(req)
}

// toolPolicy answers GET /v1/tools?url=URL: the tool policy in force for
// the caller's requests to URL (its app's own on top of the server's).
func (h *Handler) toolPolicy(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, h.D.ToolPolicyFor(r.URL.Query().Get("url"), peer(r)))
}

func (h *Handler) setToolPolicy(_ *http.Request, req *ipc.ToolPolicyRequest) (*ipc.ServerInfo, error) {
	if req.App != "" {
		return h.D.SetAppToolPolicy(req.URL, req.App, req.Policy)
	}
	return h.D.SetToolPolicy(req.URL, req.Policy)
}

func (h *Handler) toolRefused(r *http.Request, req *ipc.ToolRefusedRequest) (empty, error) {
	h.D.ToolRefused(req.URL, req.Tool, peer(r))
	return empty{}, nil
}

func (h *Handler) shutdown(w http.ResponseWriter, r *http.Request) {
	var req ipc.ShutdownRequest
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	writeJSON(w, struct{}{})
	if h.Shutdown != nil {
		go h.Shutdown(req.Restart)
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
	_ = enc.Encode(ipc.Event{Type: ipc.EventHello, Time: time.Now()})
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

func (h *Handler) decide(r *http.Request, req *ipc.DecideRequest) (empty, error) {
	return empty{}, h.D.Decide(req, peer(r))
}

func (h *Handler) approvalApps(w http.ResponseWriter, _ *http.Request) {
	res, err := h.D.ApprovalApps()
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, res)
}

type revoked struct {
	Revoked int `json:"revoked"`
}

func (h *Handler) revoke(_ *http.Request, req *ipc.RevokeRequest) (revoked, error) {
	n, err := h.D.Revoke(req.App, req.URL)
	return revoked{n}, err
}

func (h *Handler) sensitive(_ *http.Request, req *ipc.SensitiveRequest) (empty, error) {
	return empty{}, h.D.SetSensitive(req.URL, req.Sensitive)
}
