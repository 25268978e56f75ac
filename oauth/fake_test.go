package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/oauth"
)

// The rich fake MCP server and authorization server is testfake.OAuth,
// shared with the daemon's tests; these names keep the engine's tests short.
type (
	fake        = testfake.OAuth
	fakeOptions = testfake.OAuthOptions
	fakeClient  = testfake.OAuthClient
	recorded    = testfake.Recorded
)

var (
	writeJSON  = testfake.WriteJSON
	oauthError = testfake.OAuthError
	s256       = testfake.S256
)

func newFake(t *testing.T, configure ...func(f *fake)) *fake {
	return testfake.NewOAuth(t, configure...)
}

func newFakeWith(t *testing.T, o fakeOptions, configure ...func(f *fake)) *fake {
	return testfake.NewOAuthWith(t, o, configure...)
}

// ---- shared helpers ----

const testRedirect = "http://127.0.0.1:53682/callback"

func testClientConfig() oauth.ClientConfig {
	return oauth.ClientConfig{
		RedirectURIs: []string{testRedirect, "http://localhost:53682/callback"},
		ClientName:   "mcpauthd test",
		ClientURI:    "https://mcpauthd.example/",
	}
}

func newClient() *http.Client {
	return oauth.NewHTTPClient(oauth.HTTPOptions{Timeout: 10 * time.Second})
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// memRegs is an in-memory oauth.Registrations that counts its calls.
type memRegs struct {
	mu                  sync.Mutex
	regs                map[string]*oauth.Registration
	loads, saves, drops int
	saveErr             error
}

func newMemRegs() *memRegs { return &memRegs{regs: map[string]*oauth.Registration{}} }

func (m *memRegs) LoadRegistration(_ context.Context, issuer string) (*oauth.Registration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	return m.regs[issuer], nil
}

func (m *memRegs) SaveRegistration(_ context.Context, reg *oauth.Registration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	if m.saveErr != nil {
		return m.saveErr
	}
	r := *reg
	m.regs[reg.Issuer] = &r
	return nil
}

func (m *memRegs) DropRegistration(_ context.Context, issuer string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drops++
	delete(m.regs, issuer)
	return nil
}

func fakeFlow(regs *memRegs) *oauth.Flow {
	return &oauth.Flow{HTTP: newClient(), Client: testClientConfig(), Registrations: regs, WantRefresh: true}
}

// discoverFake runs Probe and Discover against f.
func discoverFake(t *testing.T, f *fake) *oauth.Metadata {
	t.Helper()
	ctx := ctxT(t)
	c := newClient()
	p, err := oauth.Probe(ctx, c, f.ServerURL)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	md, err := oauth.Discover(ctx, c, f.ServerURL, p.Challenge)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return md
}

// loginFake runs a whole Flow.Login against f.
func loginFake(t *testing.T, f *fake, regs *memRegs) *oauth.Grant {
	t.Helper()
	g, err := fakeFlow(regs).Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL, Browser: f.Browser(nil)})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return g
}

// wantErr asserts that err is an *oauth.Error matching sentinel and that its
// text names every one of urls.
func wantErr(t *testing.T, err, sentinel error, urls ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil; want %v", sentinel.(*oauth.Error).Check)
	}
	var e *oauth.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v; want *oauth.Error", err, err)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("err = %v (check %s); want errors.Is %s", err, e.Check, sentinel.(*oauth.Error).Check)
	}
	for _, u := range urls {
		if !strings.Contains(err.Error(), u) {
			t.Errorf("error %q does not name %q", err, u)
		}
	}
}
