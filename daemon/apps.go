package daemon

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/ipc/ipcsource"
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
	in := ipc.AppInfo{Name: a.Name, Server: a.Server, Account: a.Account, CreatedAt: a.CreatedAt}
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
	if err := checkServerURL(r.Server); err != nil {
		return nil, err
	}
	if r.Account != "" {
		if err := ipc.CheckAccountName(r.Account); err != nil {
			return nil, err
		}
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
	a := &store.App{Name: r.Name, Server: r.Server, Account: r.Account, Key: rand.Text()}
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
	d.log.Info("app added", "app", a.Name, "server", a.Server, "account", a.Account)
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

// AppSource is the token source for requests the local reverse proxy
// forwards to server for an app: ipcsource.Source over the daemon
// in-process (For caller, which names the app), so the hand-out (recorded
// in the audit log), DPoP proofs and challenge policy are those every
// client of the socket gets. The account is the app's (accountFor), looked
// up at each request.
func (d *Daemon) AppSource(server string, caller ipc.Peer) oauth.TokenSource {
	return &ipcsource.Source{Daemon: callerView{d, caller, caller.App}, URL: server}
}

// appAccount is the account the app name was added with ("" for none, or
// when the apps cannot be read: the server's default then applies).
func (d *Daemon) appAccount(name string) string {
	d.apps.mu.Lock()
	defer d.apps.mu.Unlock()
	if d.loadAppsLocked() != nil {
		return ""
	}
	if a := d.apps.byName[name]; a != nil {
		return a.Account
	}
	return ""
}
