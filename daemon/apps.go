package daemon

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/mcpauthd/mcpauthd/store"
)

// appRegistry keeps the apps of the local reverse proxy: sealed in the
// store, cached here after the first use so that checking a key costs no
// decryption. Its zero value is ready.
type appRegistry struct {
	mu       sync.Mutex
	byName   map[string]*store.App // nil until loaded
	listener AppsListener          // how the reverse proxy came up
	url      string                // listener.URL without a trailing slash
}

// appNameRE is what an app name may be: it is a path segment of its URL.
// (Compiled on first use: every mcpauthd command links the daemon.)
var appNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// AppsListener is how the local reverse proxy for HTTP apps came up.
type AppsListener struct {
	// URL is its origin (http://127.0.0.1:PORT), from which app URLs are
	// built; "" when it does not listen.
	URL string
	// Err says why it does not listen. While it is set, AddApp refuses:
	// an app URL would reach whatever holds the address instead.
	Err error
	// UIDChecked: it refuses connections from other users.
	UIDChecked bool
}

// SetApps records how the local reverse proxy came up, for Status and
// AddApp. Call it once, before the socket serves.
func (d *Daemon) SetApps(l AppsListener) {
	d.apps.mu.Lock()
	d.apps.listener = l
	d.apps.url = strings.TrimSuffix(l.URL, "/")
	d.apps.mu.Unlock()
}

// appsStatus fills the reverse proxy's part of s.
func (d *Daemon) appsStatus(s *ipc.Status) {
	d.apps.mu.Lock()
	defer d.apps.mu.Unlock()
	s.AppsURL, s.AppsUIDChecked = d.apps.url, d.apps.listener.UIDChecked
	if d.apps.listener.Err != nil {
		s.AppsError = d.apps.listener.Err.Error()
	}
}

// loadAppsLocked fills the cache from the store; d.apps.mu is held.
func (d *Daemon) loadAppsLocked() error {
	if d.apps.byName != nil {
		return nil
	}
	list, err := d.st.ListApps()
	if err != nil {
		return err
	}
	d.apps.byName = make(map[string]*store.App, len(list))
	for _, a := range list {
		d.apps.byName[a.Name] = a
	}
	return nil
}

func (d *Daemon) appInfoLocked(a *store.App) ipc.AppInfo {
	in := ipc.AppInfo{Name: a.Name, Server: a.Server, CreatedAt: a.CreatedAt}
	if d.apps.url != "" {
		in.URL = d.apps.url + "/s/" + a.Name
	}
	return in
}

// AddApp registers r.Name for the server r.Server with a new random key,
// sealed in the store. The answer is the only place the key (and the URL
// holding it) is ever shown. A name in use is refused: remove it first.
// While the reverse proxy could not listen (SetApps with Err) it refuses
// with that reason: the app's URL would reach another program.
func (d *Daemon) AddApp(r *ipc.AppRequest) (*ipc.AppInfo, error) {
	if !appNameRE().MatchString(r.Name) {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: fmt.Sprintf("app name %q: use letters, digits, '.', '_' and '-' (at most 64)", r.Name)}
	}
	if u, err := url.Parse(r.Server); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: fmt.Sprintf("%q is not an http(s) URL", r.Server)}
	}
	d.apps.mu.Lock()
	defer d.apps.mu.Unlock()
	if err := d.apps.listener.Err; err != nil {
		return nil, &ipc.Error{Code: ipc.CodeInternal, Message: "no app added: mcpauthd's reverse proxy for apps is off: " + err.Error()}
	}
	if err := d.loadAppsLocked(); err != nil {
		return nil, toIPC(r.Server, err)
	}
	if _, ok := d.apps.byName[r.Name]; ok {
		return nil, &ipc.Error{Code: ipc.CodeBadRequest, Message: "an app named " + r.Name + " exists; remove it first (mcpauthd app remove " + r.Name + ")"}
	}
	a := &store.App{Name: r.Name, Server: r.Server, Key: rand.Text()}
	if err := d.st.PutApp(a); err != nil {
		return nil, toIPC(r.Server, err)
	}
	// Read it back for CreatedAt, which the store sets.
	d.apps.byName = nil
	if err := d.loadAppsLocked(); err != nil {
		return nil, toIPC(r.Server, err)
	}
	a = d.apps.byName[r.Name]
	in := d.appInfoLocked(a)
	in.Key = a.Key
	if in.URL != "" {
		in.KeyURL = in.URL + "/k/" + a.Key
	}
	d.log.Info("app added", "app", a.Name, "server", a.Server)
	return &in, nil
}

// Apps lists the registered apps, by name, without their keys.
func (d *Daemon) Apps() ([]ipc.AppInfo, error) {
	d.apps.mu.Lock()
	defer d.apps.mu.Unlock()
	if err := d.loadAppsLocked(); err != nil {
		return nil, toIPC("", err)
	}
	out := make([]ipc.AppInfo, 0, len(d.apps.byName))
	for _, a := range d.apps.byName {
		out = append(out, d.appInfoLocked(a))
	}
	slices.SortFunc(out, func(a, b ipc.AppInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// RemoveApp forgets the app name; its key is refused from then on.
func (d *Daemon) RemoveApp(name string) error {
	d.apps.mu.Lock()
	defer d.apps.mu.Unlock()
	if err := d.st.DeleteApp(name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &ipc.Error{Code: ipc.CodeNotFound, Message: "no app named " + name}
		}
		return toIPC("", err)
	}
	if d.apps.byName != nil {
		delete(d.apps.byName, name)
	}
	d.log.Info("app removed", "app", name)
	return nil
}

// App checks key against the app name's key in constant time and returns
// the server the app may reach. Unknown names and wrong keys look alike.
// It fails when the apps cannot be read (a locked keyring).
func (d *Daemon) App(name, key string) (server string, ok bool, err error) {
	d.apps.mu.Lock()
	defer d.apps.mu.Unlock()
	if err := d.loadAppsLocked(); err != nil {
		return "", false, toIPC("", err)
	}
	want := "\x00" // compares unequal to every key, for unknown names
	a := d.apps.byName[name]
	if a != nil {
		want = a.Key
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(key)) != 1 || a == nil {
		return "", false, nil
	}
	return a.Server, true, nil
}

// AppSource is the in-process oauth.CredentialSource for requests the local
// reverse proxy forwards to server for an app: the same hand-out (recorded
// in the audit log with caller, which names the app), DPoP proofs and
// challenge policy as the socket's /v1/token and /v1/challenge.
func (d *Daemon) AppSource(server string, caller ipc.Peer) oauth.CredentialSource {
	return &appSource{d: d, url: server, caller: caller}
}

type appSource struct {
	d      *Daemon
	url    string
	caller ipc.Peer
}

// Token: "" while there is no sign-in, so the request goes out bare and
// the server's challenge starts one (as ipcsource.Source does).
func (s *appSource) Token(ctx context.Context) (string, error) {
	c, err := s.Credential(ctx, "", "", "")
	if err != nil {
		return "", err
	}
	return c.Token, nil
}

func (s *appSource) Credential(ctx context.Context, method, target, nonce string) (*oauth.Credential, error) {
	req := &ipc.TokenRequest{URL: s.url}
	if method != "" {
		req.DPoP = &ipc.DPoPRequest{Method: method, URL: target, Nonce: nonce}
	}
	t, err := s.d.TokenFor(ctx, req, s.caller)
	var ie *ipc.Error
	if errors.As(err, &ie) && ie.Code == ipc.CodeNeedsSignIn {
		return &oauth.Credential{}, nil
	}
	if err != nil {
		return nil, err
	}
	return &oauth.Credential{Scheme: t.TokenType, Token: t.AccessToken, Proof: t.DPoPProof}, nil
}

func (s *appSource) Challenged(ctx context.Context, token string, ch *oauth.Challenge) error {
	return s.d.Challenge(ctx, &ipc.ChallengeRequest{URL: s.url, Token: token, Status: ch.Status, WWWAuthenticate: ch.Header})
}

func (s *appSource) Succeeded() { s.d.Succeeded(s.url) }
