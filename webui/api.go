package webui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

// WebPageCaller is the executable name the audit log records for a token
// revealed on the web page (the browser's process is not known over TCP).
const WebPageCaller = "mcpauthd web page"

// auditShown is how many of the latest hand-outs the page lists.
const auditShown = 20

// State is what the page shows; the event stream sends one whole State per
// change ("event: state"). It holds no secret.
type State struct {
	Version string           `json:"version"`
	Servers []ipc.ServerInfo `json:"servers"`
	// Audit lists the latest hand-outs, newest first.
	Audit []Handout `json:"audit"`
	// AuditError is set when the audit log could not be read.
	AuditError string `json:"audit_error,omitempty"`
	// IdPs are the company sign-ins, each with its servers.
	IdPs []ipc.IdPInfo `json:"idps"`
	// Company is the company sign-in the settings name (idp_issuer), the
	// add form's default; "" when unset.
	Company string `json:"company,omitempty"`
	// Pending are the token requests waiting for approval; Apps every
	// program with its servers, decisions and use (approval.go).
	Pending []ipc.PendingApproval `json:"pending"`
	Apps    *ipc.ApprovalApps     `json:"apps,omitempty"`
	// DenyTools are the tool patterns refused on every server on top of
	// its own policy (the deny_tools setting).
	DenyTools []string `json:"deny_tools,omitempty"`
}

// Handout is one audit record: who was handed which server's token when.
type Handout struct {
	Time   time.Time `json:"time"`
	Server string    `json:"server"`
	Action string    `json:"action"`
	PID    int       `json:"pid,omitempty"`
	Exe    string    `json:"exe,omitempty"`
	App    string    `json:"app,omitempty"` // the reverse proxy's app, when it asked
	// Account is the server's account whose token it was.
	Account string `json:"account,omitempty"`
	// Program is the app the daemon identified (ipc.Peer.Program).
	Program string `json:"program,omitempty"`
	Count   int    `json:"count,omitempty"` // identical hand-outs recorded as one
}

func (h *Handler) state() *State {
	st := &State{Version: h.d.Status().Version, Servers: h.d.Servers(), Audit: []Handout{}, IdPs: h.d.IdPs(), DenyTools: h.d.DenyTools()}
	st.Company, _ = h.d.CompanyIdP()
	recs, err := h.d.Audit("", auditShown)
	if err != nil {
		st.AuditError = "the audit log could not be read"
		h.log.Warn("web page: reading the audit log", "err", err)
	}
	for _, r := range recs {
		st.Audit = append(st.Audit, Handout{Time: r.Time, Server: r.Server, Account: r.Account, Action: r.Action, PID: r.PID, Exe: r.Exe, App: r.App, Program: r.Program, Count: r.Count})
	}
	h.approvalState(st)
	return st
}

// events streams State as server-sent events: one at once, then one after
// every daemon event (bursts coalesced; the daemon announces written audit
// records too, so a reveal shows up in the hand-out list), until the
// browser goes away or the daemon stops.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	evs := h.d.Subscribe()
	defer func() { h.d.Unsubscribe(evs) }()

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
		case ev, open := <-evs:
			lagged := open && ev.Type == ipc.EventLagged
			for open && len(evs) > 0 { // coalesce a burst
				ev, open = <-evs
				lagged = lagged || ev.Type == ipc.EventLagged
			}
			ok = open
			if lagged {
				// Dropped for falling behind (the daemon never waits):
				// the page gets whole states, so subscribe again and
				// carry on with a fresh one.
				evs, ok = h.d.Subscribe(), true
			}
		case <-r.Context().Done():
			return
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
	// Account names one of the server's accounts ("": the default).
	Account string `json:"account,omitempty"`
}

// loginRequest is the "add a server" form. ClientSecret, PrivateKey,
// Assertion, IdPClientSecret and IDToken are secrets: they travel in the
// body only, go to the daemon's secret store, and are never sent back to
// the page (nor named in an error, nor logged). They are content (pasted,
// or a file uploaded by the browser); the page never names a file on disk
// for the daemon to read (see fileFields).
type loginRequest struct {
	URL          string `json:"url"`
	Scopes       string `json:"scopes"` // space-separated
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// Grant "" signs in in the browser; the others get the tokens
	// non-interactively: ipc.GrantClientCredentials with ClientID and
	// ClientSecret or PrivateKey; ipc.GrantJWTBearer with ClientID and
	// Assertion; ipc.GrantEnterprise with ClientID, the IdP fields and
	// IDToken. The last two may authenticate the client with ClientSecret
	// or PrivateKey too. "company" is the enterprise grant with the company
	// sign-in (ipc.GrantConfig.IdPSession): IdPIssuer and IdPClientID,
	// defaulting to the idp_* settings, and a browser sign-in at the IdP
	// when there is no live one.
	Grant      string `json:"grant,omitempty"`
	PrivateKey string `json:"private_key,omitempty"` // PEM, for private_key_jwt
	// Provider applies a row of the quirks table ("" recognises it from
	// the issuer); AuthorizeParams are space-separated key=value pairs for
	// the authorization request. Either replaces the server's settings.
	Provider        string `json:"provider,omitempty"`
	AuthorizeParams string `json:"authorize_params,omitempty"`
	// jwt_bearer: the workload JWT, pasted or uploaded (it stops working
	// when it expires).
	Assertion string `json:"assertion,omitempty"`
	// enterprise: the IdP, mcpauthd's client there, the user's ID token.
	IdPIssuer       string `json:"idp_issuer,omitempty"`
	IdPClientID     string `json:"idp_client_id,omitempty"`
	IdPClientSecret string `json:"idp_client_secret,omitempty"`
	IDToken         string `json:"id_token,omitempty"`
	// Account signs in to a further account of the server by that name
	// ("": its default account); LoginHint is sent as login_hint.
	Account   string `json:"account,omitempty"`
	LoginHint string `json:"login_hint,omitempty"`
	fileFields
}

// fileFields are the files the CLI's login flags name. The web page never
// names a file on disk: whoever holds a web session (a leaked entry link, a
// page the user was tricked into) must not make the daemon read the user's
// files and send them to a server. A request with any of these is refused,
// with a message, before anything is read; a token file the daemon
// re-reads is set up over the socket (`mcpauthd login --assertion-file`).
type fileFields struct {
	AssertionFile       string `json:"assertion_file,omitempty"`
	ClientSecretFile    string `json:"client_secret_file,omitempty"`
	PrivateKeyFile      string `json:"private_key_file,omitempty"`
	IdPClientSecretFile string `json:"idp_client_secret_file,omitempty"`
	IDTokenFile         string `json:"id_token_file,omitempty"`
}

func (f fileFields) named() bool {
	return f != fileFields{}
}

type empty struct{}

// login adds the server (when new) and starts its sign-in; the daemon opens
// the browser. It answers once the authorization URL is known; a
// non-interactive sign-in has none, and answers once it has ended.
func (h *Handler) login(r *http.Request, req *loginRequest) (*ipc.LoginResponse, error) {
	u, id := strings.TrimSpace(req.URL), strings.TrimSpace(req.ClientID)
	bad := func(msg string) error { return &ipc.Error{Code: ipc.CodeBadRequest, Message: msg} }
	if req.named() {
		return nil, bad("the web page does not read files on disk: paste the content, or upload the file from the page. " +
			"A token file that mcpauthd re-reads for every grant is set up from a terminal: mcpauthd login URL --jwt-bearer --client-id ID --assertion-file FILE")
	}
	if req.ClientSecret != "" && id == "" {
		return nil, bad("a client secret needs its client ID")
	}
	key := strings.TrimSpace(req.PrivateKey) != ""
	lr := &ipc.LoginRequest{URL: u, Scopes: strings.Fields(req.Scopes),
		Account: strings.TrimSpace(req.Account), LoginHint: strings.TrimSpace(req.LoginHint)}
	if req.Provider != "" || strings.TrimSpace(req.AuthorizeParams) != "" {
		p := &ipc.ProviderOverrides{Provider: req.Provider}
		for _, kv := range strings.Fields(req.AuthorizeParams) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, bad("extra authorization parameters are key=value pairs separated by spaces")
			}
			if p.AuthorizeParams == nil {
				p.AuthorizeParams = map[string]string{}
			}
			p.AuthorizeParams[k] = v
		}
		lr.Provider = p // checked by the daemon
	}
	if req.Grant == "" { // through the browser
		switch {
		case key:
			return nil, bad("a private key is for a sign-in without a browser: choose one")
		case req.Assertion != "":
			return nil, bad("a workload JWT is for the workload identity sign-in: choose that sign-in")
		case req.IdPIssuer != "" || req.IdPClientID != "" || req.IdPClientSecret != "" || req.IDToken != "":
			return nil, bad("the IdP fields are for the company SSO sign-in: choose that sign-in")
		}
		lr.ClientID, lr.ClientSecret = id, req.ClientSecret
	} else if req.Grant == grantCompany {
		if key || req.Assertion != "" || req.IDToken != "" || req.ClientSecret != "" {
			return nil, bad("the company sign-in takes only the IdP's issuer, mcpauthd's client ID there and its secret there")
		}
		issuer, client := h.d.CompanyIdP()
		g := &ipc.GrantConfig{Type: ipc.GrantEnterprise, ClientID: id, IdPSession: true, IdPIssuer: strings.TrimSpace(req.IdPIssuer),
			IdPClientID: strings.TrimSpace(req.IdPClientID), IdPClientSecret: req.IdPClientSecret}
		if g.IdPIssuer == "" && g.IdPClientID == "" {
			g.IdPIssuer, g.IdPClientID = issuer, client
		}
		if g.ClientID == "" {
			g.ClientID = g.IdPClientID
		}
		if err := g.Validate(); err != nil {
			return nil, bad(err.Error())
		}
		lr.Grant = g
	} else {
		// Checked as every grant is (Validate), then by the daemon, which
		// checks that the tokens are JWTs before anything is stored or sent.
		g := &ipc.GrantConfig{Type: req.Grant, ClientID: id, ClientSecret: req.ClientSecret, Assertion: strings.TrimSpace(req.Assertion),
			IdPIssuer: strings.TrimSpace(req.IdPIssuer), IdPClientID: strings.TrimSpace(req.IdPClientID),
			IdPClientSecret: req.IdPClientSecret, IDToken: strings.TrimSpace(req.IDToken)}
		if key {
			g.PrivateKey = req.PrivateKey
		}
		if err := g.Validate(); err != nil {
			return nil, bad(err.Error())
		}
		lr.Grant = g
	}
	h.log.Info("web page: sign-in requested", "server", u, "grant", req.Grant)
	return h.d.Login(r.Context(), lr)
}

// doctor explains what a sign-in to req.URL needs and where it would fail,
// without signing in (shown when a sign-in from the page cannot start).
func (h *Handler) doctor(r *http.Request, req *serverRequest) (*ipc.DoctorReport, error) {
	return h.d.Doctor(r.Context(), strings.TrimSpace(req.URL))
}

func (h *Handler) refresh(r *http.Request, req *serverRequest) (*ipc.ServerInfo, error) {
	return h.d.Refresh(r.Context(), req.URL, req.Account)
}

// grantCompany is the add form's company sign-in (see loginRequest.Grant).
const grantCompany = "company"

// idpRequest names a company sign-in.
type idpRequest struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id"`
}

// logoutIdP signs out of a company sign-in and all its servers.
func (h *Handler) logoutIdP(r *http.Request, req *idpRequest) (*ipc.IdPLogoutResponse, error) {
	h.log.Info("web page: company sign-out requested", "issuer", req.Issuer)
	return h.d.LogoutIdP(r.Context(), req.Issuer, req.ClientID)
}

// offer says whether the server at req.URL takes the company sign-in (its
// authorization server redeems ID-JAGs): the add form then offers it first.
func (h *Handler) offer(r *http.Request, req *serverRequest) (*offerResponse, error) {
	ok, err := h.d.OffersCompanySignIn(r.Context(), strings.TrimSpace(req.URL))
	return &offerResponse{Company: ok}, err
}

type offerResponse struct {
	Company bool `json:"company"`
}

func (h *Handler) logout(r *http.Request, req *serverRequest) (empty, error) {
	h.log.Info("web page: sign-out requested", "server", req.URL, "account", req.Account)
	_, err := h.d.Logout(r.Context(), &ipc.ServerRequest{URL: req.URL, Account: req.Account})
	return empty{}, err
}

// accountDefault makes req.Account the server's default account.
func (h *Handler) accountDefault(_ *http.Request, req *serverRequest) (*ipc.ServerInfo, error) {
	h.log.Info("web page: default account change requested", "server", req.URL, "account", req.Account)
	return h.d.SetDefaultAccount(&ipc.ServerRequest{URL: req.URL, Account: req.Account})
}

// toolsRequest replaces a server's tool policy, or with App one app's own
// policy for it (ipc.ToolPolicyRequest.App).
type toolsRequest struct {
	URL   string   `json:"url"`
	App   string   `json:"app,omitempty"`
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
}

func (h *Handler) tools(_ *http.Request, req *toolsRequest) (*ipc.ServerInfo, error) {
	h.log.Info("web page: tool policy change requested", "server", req.URL, "app", req.App)
	p := toolpolicy.Policy{Allow: req.Allow, Deny: req.Deny}
	if req.App != "" {
		return h.d.SetAppToolPolicy(req.URL, req.App, p)
	}
	return h.d.SetToolPolicy(req.URL, p)
}

func (h *Handler) remove(r *http.Request, req *serverRequest) (empty, error) {
	h.log.Info("web page: removal requested", "server", req.URL)
	_, err := h.d.Logout(r.Context(), &ipc.ServerRequest{URL: req.URL, Remove: true})
	return empty{}, err
}

// reveal hands the server's access token to the page, on the user's
// explicit request; the daemon audits it with WebPageCaller as the caller.
func (h *Handler) reveal(r *http.Request, req *serverRequest) (*ipc.TokenResponse, error) {
	h.log.Info("web page: token revealed", "server", req.URL)
	tok, err := h.d.Token(r.Context(), req.URL, 0, pageCaller()) // the user's click: never asked about
	return tok, err
}
