// Package daemon is mcpauthd's service: the servers it knows, their sign-ins,
// token hand-out with single-flight refresh, the refresh scheduler, the
// loopback callback for authorization redirects, and the event stream.
//
// All exported methods of *Daemon are safe for concurrent use; the ipc
// server calls them from one goroutine per request. Everything durable goes
// through the store: a server's record and its tokens are committed in one
// transaction before a new access token is handed to anyone.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// Config configures New. Zero values get the defaults noted.
type Config struct {
	Store  *store.Store // required
	Logger *slog.Logger
	// HTTP is used for every request to MCP servers and authorization
	// servers; oauth.NewHTTPClient's when nil.
	HTTP *http.Client
	// CallbackAddr is the loopback address of the redirect listener. Its port
	// is part of the registered redirect URI, so keep it stable.
	// Default 127.0.0.1:53682.
	CallbackAddr string
	// ClientIDMetadataURL is mcpauthd's Client ID Metadata Document URL;
	// empty: dynamic registration is the fallback.
	ClientIDMetadataURL string
	// OpenBrowser shows a URL to the user; in main an internal/browser
	// Opener's Open, which hands the browser a private redirect page,
	// never the URL on its command line.
	OpenBrowser func(url string) error
	// LoginTimeout bounds one sign-in (default 10 minutes).
	LoginTimeout time.Duration
	// RefreshAhead: tokens are refreshed this long before they expire
	// (default 2 minutes).
	RefreshAhead time.Duration
	Version      string
	Socket       string // reported in Status
	// SettingsFile and Settings are reported in Status as they are: the
	// settings main read at start-up, each with its source.
	SettingsFile string
	Settings     []ipc.Setting
	// Approval is the approval mode: ApprovalOff ("" too) or ApprovalAsk
	// (approval.go). ApprovalWait bounds a request's wait for the user:
	// the approval_timeout setting (DefaultApprovalWait when zero).
	Approval     string
	ApprovalWait time.Duration
	// DenyTools are the deny_tools setting's tool patterns: ToolPolicy
	// refuses them on every server, on top of each server's own policy.
	DenyTools []string
	// Now is the wall clock the scheduler compares expiries with (Resync,
	// timers); time.Now when nil. A seam for tests that move the clock.
	Now func() time.Time
}

// DefaultCallbackAddr is where authorization servers redirect the browser.
const DefaultCallbackAddr = "127.0.0.1:53682"

// Daemon is the running service. Create it with New, serve its loopback
// routes (Mount, Handler) on CallbackAddr, stop with Close. The daemon
// does not listen on the network itself: its caller (cmd/mcpauthd) builds
// the loopback listener and the mux that serves these routes beside the
// web page.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	st      *store.Store
	flow    *oauth.Flow
	started time.Time

	callbackURL string
	webURL      string      // the web page's entry URL (with the per-start secret)
	apps        appRegistry // the local reverse proxy's apps (apps.go)
	appr        approvals   // per-app approval (approval.go)

	auditCh   chan store.AuditRecord
	auditDone chan struct{}
	auditOnce sync.Once
	// auditMu is held for reading to queue on auditCh, for writing to set
	// auditClosed before auditCh is closed (audit.go).
	auditMu      sync.RWMutex
	auditClosed  bool
	auditDropped atomic.Int64

	mu      sync.Mutex
	servers map[string]*server
	logins  map[string]*login      // by state; pending authorizations
	starts  map[string]*login      // by start link id; pending browser sign-ins
	idps    map[string]*idpSession // company sign-ins, by store.IdPKey (idp.go)
	subs    map[chan ipc.Event]struct{}
	closed  bool
}

// New loads the known servers from the store and prepares the daemon. It
// does not listen yet.
func New(cfg Config) (*Daemon, error) {
	if cfg.Store == nil {
		return nil, errors.New("daemon: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = oauth.NewHTTPClient(oauth.HTTPOptions{})
	}
	if cfg.CallbackAddr == "" {
		cfg.CallbackAddr = DefaultCallbackAddr
	}
	if cfg.LoginTimeout == 0 {
		cfg.LoginTimeout = 10 * time.Minute
	}
	if cfg.RefreshAhead == 0 {
		cfg.RefreshAhead = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OpenBrowser == nil {
		cfg.OpenBrowser = func(string) error { return errors.New("no browser configured") }
	}
	d := &Daemon{
		cfg:     cfg,
		log:     cfg.Logger,
		st:      cfg.Store,
		started: time.Now(),
		servers: map[string]*server{},
		logins:  map[string]*login{},
		starts:  map[string]*login{},
		idps:    map[string]*idpSession{},
		subs:    map[chan ipc.Event]struct{}{},

		auditCh:   make(chan store.AuditRecord, auditQueue),
		auditDone: make(chan struct{}),
	}
	go d.auditWriter()
	d.callbackURL = "http://" + cfg.CallbackAddr + "/callback"
	d.flow = &oauth.Flow{
		HTTP: cfg.HTTP,
		Client: oauth.ClientConfig{
			RedirectURIs:        []string{d.callbackURL},
			ClientName:          "mcpauthd",
			ClientURI:           "https://github.com/mcpauthd/mcpauthd",
			ClientIDMetadataURL: cfg.ClientIDMetadataURL,
		},
		Registrations: registrations{st: d.st, callback: d.callbackURL},
		WantRefresh:   true,
		Logger:        d.log,
	}
	recs, err := d.st.ListServers()
	if err != nil {
		return nil, fmt.Errorf("reading the registry: %w", err)
	}
	if err := d.loadIdPs(); err != nil {
		return nil, fmt.Errorf("reading the registry: %w", err)
	}
	// When the keyring does not answer, every server's secrets are out of
	// reach alike: after the first such failure the rest are not tried (each
	// try could wait for the keyring again); Token retries on demand.
	var keyringErr error
	for _, rec := range recs {
		s := d.newServer(rec)
		d.restore(s, &keyringErr)
		accts, err := d.st.ListAccounts(rec.URL)
		if err != nil {
			return nil, fmt.Errorf("reading the registry: %w", err)
		}
		for _, arec := range accts {
			d.restore(d.newAccount(s, arec), &keyringErr)
		}
		d.servers[rec.URL] = s
	}
	return d, nil
}

// restore loads the stored sign-in s at start-up and arms its timer. After
// a first keyring failure (*keyringErr) the keyring is not asked again.
func (d *Daemon) restore(s *server, keyringErr *error) {
	err := *keyringErr
	if err == nil {
		err = s.load()
		if errors.Is(err, store.ErrNoKeyring) {
			*keyringErr = err
		}
	}
	if err != nil {
		d.log.Warn("server needs sign-in: stored credentials unusable", "server", s.url, "account", s.name(), "err", err)
		s.loadErr = err
		s.setState(ipc.StateNeedsSignIn, "stored credentials could not be read: "+err.Error())
	}
	// A state persisted by a daemon that died mid-way (killed during a
	// sign-in, a refresh or a sign-out) may describe nothing that still
	// runs, or tokens no longer stored: derive it from what is stored.
	switch st, g := s.own().Status, s.sess.Grant(); {
	case st != ipc.StateSigningIn && st != ipc.StateRefreshing && st != ipc.StateSignedIn:
	case g != nil && g.Public:
		s.setState(ipc.StatePublic, "")
	case g != nil && g.Token != nil:
		if st != ipc.StateSignedIn {
			s.setState(ipc.StateSignedIn, "")
		}
	default:
		s.setState(ipc.StateNeedsSignIn, "the sign-in was interrupted (mcpauthd stopped before it finished); sign in again")
	}
	s.schedule()
}

// SetWebURL records the web page's entry URL for Status (the page is
// served by the caller beside Mount's routes). Call it before serving.
func (d *Daemon) SetWebURL(entryURL string) { d.webURL = entryURL }

// LoopbackURL is the origin of the loopback listener (callback and web page).
func (d *Daemon) LoopbackURL() string { return "http://" + d.cfg.CallbackAddr }

// Mount registers the daemon's loopback routes on mux: sign-in start links
// (under /start/, see LoginResponse.AuthURL) and the authorization
// callback (/callback, CallbackURL). The caller serves mux on CallbackAddr,
// which only this user's browser reaches; every other path is the
// caller's (the web page).
func (d *Daemon) Mount(mux *http.ServeMux) {
	mux.HandleFunc("/callback", d.serveCallback)
	mux.HandleFunc(startPath, d.serveStart)
}

// Handler serves Mount's routes alone: for a caller that follows a start
// link or delivers a redirect in-process (the conformance adapter, tests).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	d.Mount(mux)
	return mux
}

// CallbackURL is the redirect URI registered with authorization servers.
func (d *Daemon) CallbackURL() string { return d.callbackURL }

// Close stops timers and pending sign-ins, and writes the queued audit
// records. The loopback listener is its caller's to close.
func (d *Daemon) Close() error {
	d.flushAudit()
	d.mu.Lock()
	d.closed = true
	for _, s := range d.servers {
		for _, a := range s.signIns() { // lock order: d.mu, then s.mu
			a.stopTimer()
		}
	}
	for _, l := range d.logins {
		l.cancel()
	}
	for ch := range d.subs {
		close(ch)
		delete(d.subs, ch)
	}
	d.mu.Unlock()
	return nil
}

// Status describes the daemon.
func (d *Daemon) Status() *ipc.Status {
	d.mu.Lock()
	n := len(d.servers)
	d.mu.Unlock()
	s := &ipc.Status{
		Version:      d.cfg.Version,
		PID:          os.Getpid(),
		Socket:       d.cfg.Socket,
		CallbackURL:  d.callbackURL,
		WebURL:       d.webURL,
		Servers:      n,
		Started:      d.started,
		SettingsFile: d.cfg.SettingsFile,
		Settings:     d.cfg.Settings,
		Proxy:        oauth.ProxyOf(d.cfg.HTTP),
	}
	d.appsStatus(s)
	return s
}

// CheckSecrets asks the secret backend for the data key (creating it on a
// fresh registry), waiting at most the store's keyring timeout. nil means
// secrets can be sealed and opened now. Safe for concurrent use.
func (d *Daemon) CheckSecrets() error { return d.st.CheckSecrets() }

// Servers lists every known server, sorted by URL.
func (d *Daemon) Servers() []ipc.ServerInfo {
	d.mu.Lock()
	list := make([]*server, 0, len(d.servers))
	for _, s := range d.servers {
		list = append(list, s)
	}
	d.mu.Unlock()
	return infos(list)
}

// infos describes list, sorted by URL.
func infos(list []*server) []ipc.ServerInfo {
	out := make([]ipc.ServerInfo, 0, len(list))
	for _, s := range list {
		out = append(out, s.info())
	}
	slices.SortFunc(out, func(a, b ipc.ServerInfo) int { return strings.Compare(a.URL, b.URL) })
	return out
}

func (d *Daemon) server(url string) *server {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.servers[url]
}

// Audit lists the latest token hand-outs for url ("" for all servers).
// Hand-outs of the last fraction of a second may not be listed yet.
func (d *Daemon) Audit(url string, limit int) ([]store.AuditRecord, error) {
	return d.st.ListAudit(url, limit)
}

// errNeedsSignIn builds the machine-readable "sign in first" answer.
func errNeedsSignIn(url, why string) *ipc.Error {
	return &ipc.Error{Code: ipc.CodeNeedsSignIn, Message: why, SignInURL: url}
}

// toIPC maps an engine or store error to an ipc error.
func toIPC(url string, err error) *ipc.Error {
	var ie *ipc.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return ie
	case errors.Is(err, oauth.ErrInvalidGrant), errors.Is(err, oauth.ErrStepUpLimit):
		return errNeedsSignIn(url, err.Error())
	case errors.Is(err, store.ErrNoKeyring), errors.Is(err, store.ErrDataKeyMissing), errors.Is(err, store.ErrDecrypt):
		return &ipc.Error{Code: ipc.CodeInternal, Message: err.Error()}
	default:
		var oe *oauth.Error
		if errors.As(err, &oe) {
			return &ipc.Error{Code: ipc.CodeUpstream, Message: err.Error()}
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return &ipc.Error{Code: ipc.CodeUpstream, Message: "timed out: " + err.Error()}
		}
		return &ipc.Error{Code: ipc.CodeInternal, Message: err.Error()}
	}
}

// checkServerURL is the API's one check of a server URL it is given
// (ipc.IsHTTPURL): a bad request naming it, before anything is looked up.
func checkServerURL(raw string) error {
	if !ipc.IsHTTPURL(raw) {
		return &ipc.Error{Code: ipc.CodeBadRequest, Message: fmt.Sprintf("%q is not an http(s) URL", raw)}
	}
	return nil
}
