package webui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// WebPageCaller is the executable name the audit log records for a token
// revealed on the web page (the browser's process is not known over TCP).
const WebPageCaller = "mcpauthd web page"

// auditShown is how many of the latest hand-outs the page lists.
const auditShown = 20

// auditSettle is how long after a reveal the page's streams are told to
// look again: the daemon queues audit records and writes them in batches,
// within 200 ms (daemon/audit.go), and announces no event for them.
const auditSettle = 500 * time.Millisecond

// State is what the page shows; the event stream sends one whole State per
// change ("event: state"). It holds no secret.
type State struct {
	Version string           `json:"version"`
	Servers []ipc.ServerInfo `json:"servers"`
	// Audit lists the latest hand-outs, newest first.
	Audit []Handout `json:"audit"`
	// AuditError is set when the audit log could not be read.
	AuditError string `json:"audit_error,omitempty"`
}

// Handout is one audit record: who was handed which server's token when.
type Handout struct {
	Time   time.Time `json:"time"`
	Server string    `json:"server"`
	Action string    `json:"action"`
	PID    int       `json:"pid,omitempty"`
	Exe    string    `json:"exe,omitempty"`
	App    string    `json:"app,omitempty"`   // the reverse proxy's app, when it asked
	Count  int       `json:"count,omitempty"` // identical hand-outs recorded as one
}

func (h *Handler) state() *State {
	st := &State{Version: h.d.Status().Version, Servers: h.d.Servers(), Audit: []Handout{}}
	recs, err := h.d.Audit("", auditShown)
	if err != nil {
		st.AuditError = "the audit log could not be read"
		h.log.Warn("web page: reading the audit log", "err", err)
	}
	for _, r := range recs {
		st.Audit = append(st.Audit, Handout{Time: r.Time, Server: r.Server, Action: r.Action, PID: r.PID, Exe: r.Exe, App: r.App, Count: r.Count})
	}
	return st
}

// events streams State as server-sent events: one at once, then one after
// every daemon event (bursts coalesced) and after every action taken on
// the page, until the browser goes away or the daemon stops.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	evs := h.d.Subscribe()
	defer h.d.Unsubscribe(evs)
	local := make(chan struct{}, 1)
	h.mu.Lock()
	h.streams[local] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.streams, local)
		h.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	send := func() bool {
		b, err := json.Marshal(h.state())
		if err == nil {
			_, err = fmt.Fprintf(w, "retry: 3000\nevent: state\ndata: %s\n\n", b)
		}
		fl.Flush()
		return err == nil
	}
	for ok := true; ok && send(); {
		select {
		case _, open := <-evs:
			ok = open
			for open && len(evs) > 0 { // coalesce a burst
				_, open = <-evs
			}
		case <-local:
		case <-r.Context().Done():
			return
		}
	}
}

// changed tells the page's event streams that something the daemon does
// not announce (a reveal's audit record) changed.
func (h *Handler) changed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.streams {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// action adapts a page action: decode the JSON body, run f, answer its
// result as JSON. A failed action answers 400 with an ipc.Error body, whose
// message the page shows; it never holds a secret.
func action[Req, Res any](f func(r *http.Request, req *Req) (Res, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		res, err := *new(Res), dec.Decode(&req)
		if err != nil {
			err = &ipc.Error{Code: ipc.CodeBadRequest, Message: "malformed request"}
		} else {
			res, err = f(r, &req)
		}
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			var ie *ipc.Error
			if !errors.As(err, &ie) {
				ie = &ipc.Error{Code: ipc.CodeInternal, Message: err.Error()}
			}
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(ie)
			return
		}
		_ = json.NewEncoder(w).Encode(res)
	}
}

// serverRequest names the server an action is for.
type serverRequest struct {
	URL string `json:"url"`
}

// loginRequest is the "add a server" form. ClientSecret and PrivateKey are
// secrets: they travel in the body only, go to the daemon's secret store,
// and are never sent back to the page (nor named in an error).
type loginRequest struct {
	URL          string `json:"url"`
	Scopes       string `json:"scopes"` // space-separated
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// Grant "" signs in in the browser; ipc.GrantClientCredentials gets the
	// tokens non-interactively with ClientID and ClientSecret or PrivateKey.
	Grant      string `json:"grant,omitempty"`
	PrivateKey string `json:"private_key,omitempty"` // PEM, for private_key_jwt
}

type empty struct{}

// login adds the server (when new) and starts its sign-in; the daemon opens
// the browser. It answers once the authorization URL is known.
func (h *Handler) login(r *http.Request, req *loginRequest) (*ipc.LoginResponse, error) {
	u, id := strings.TrimSpace(req.URL), strings.TrimSpace(req.ClientID)
	bad := func(msg string) error { return &ipc.Error{Code: ipc.CodeBadRequest, Message: msg} }
	if req.ClientSecret != "" && id == "" {
		return nil, bad("a client secret needs its client ID")
	}
	lr := &ipc.LoginRequest{URL: u, Scopes: strings.Fields(req.Scopes)}
	switch req.Grant {
	case "":
		if req.PrivateKey != "" {
			return nil, bad("a private key is for client credentials: choose that sign-in")
		}
		lr.ClientID, lr.ClientSecret = id, req.ClientSecret
	case ipc.GrantClientCredentials:
		if id == "" || (req.ClientSecret == "") == (strings.TrimSpace(req.PrivateKey) == "") {
			return nil, bad("client credentials need the client ID and either its secret or its private key")
		}
		lr.Grant = &ipc.GrantConfig{Type: ipc.GrantClientCredentials, ClientID: id, ClientSecret: req.ClientSecret, PrivateKey: req.PrivateKey}
	default:
		return nil, bad("unknown sign-in type")
	}
	h.log.Info("web page: sign-in requested", "server", u, "grant", req.Grant)
	return h.d.Login(r.Context(), lr)
}

func (h *Handler) refresh(r *http.Request, req *serverRequest) (*ipc.ServerInfo, error) {
	return h.d.Refresh(r.Context(), req.URL)
}

func (h *Handler) logout(r *http.Request, req *serverRequest) (empty, error) {
	h.log.Info("web page: sign-out requested", "server", req.URL)
	return empty{}, h.d.Logout(r.Context(), req.URL, false)
}

func (h *Handler) remove(r *http.Request, req *serverRequest) (empty, error) {
	h.log.Info("web page: removal requested", "server", req.URL)
	return empty{}, h.d.Logout(r.Context(), req.URL, true)
}

// reveal hands the server's access token to the page, on the user's
// explicit request; the daemon audits it with WebPageCaller as the caller.
func (h *Handler) reveal(r *http.Request, req *serverRequest) (*ipc.TokenResponse, error) {
	h.log.Info("web page: token revealed", "server", req.URL)
	tok, err := h.d.Token(r.Context(), req.URL, 0, ipc.Peer{UID: os.Getuid(), Exe: WebPageCaller})
	time.AfterFunc(auditSettle, h.changed)
	return tok, err
}
