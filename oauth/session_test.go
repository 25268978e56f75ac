package oauth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/oauth"
)

// noBrowser fails the test when a login is attempted.
func noBrowser(t *testing.T) oauth.Browser {
	return func(context.Context, *oauth.Authorization) (string, error) {
		t.Error("unexpected authorization")
		return "", errors.New("no browser in this test")
	}
}

// expired returns a copy of g whose access token has expired.
func expired(g *oauth.Grant) *oauth.Grant {
	gg := *g
	tok := *g.Token
	tok.Expiry = time.Now().Add(-time.Minute)
	gg.Token = &tok
	return &gg
}

// accessToken is Session.Token's answer as the token string it carries.
func accessToken(g *oauth.Grant, err error) (string, error) { return g.AccessToken(), err }

// saver records saved grants; fail makes Save fail.
type saver struct {
	mu    sync.Mutex
	saved []*oauth.Grant
	fail  error
}

func (s *saver) Save(_ context.Context, g *oauth.Grant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.saved = append(s.saved, g)
	return nil
}

func (s *saver) savedToken(at string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.saved, func(g *oauth.Grant) bool { return g.Token.AccessToken == at })
}

func (s *saver) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.saved)
}

func TestSessionConcurrentRefresh(t *testing.T) {
	f := newFake(t)
	regs := newMemRegs()
	g := expired(loginFake(t, f, regs))
	s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
	s.Browser = noBrowser(t)
	sv := &saver{}
	s.Save = sv.Save

	const n = 100
	var wg sync.WaitGroup
	tokens := make([]string, n)
	errs := make([]error, n)
	unsaved := make([]bool, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			tokens[i], errs[i] = accessToken(s.Token(ctxT(t), time.Minute))
			// Save ran before this caller could see the token.
			unsaved[i] = !sv.savedToken(tokens[i])
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Token #%d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] || tokens[i] == g.Token.AccessToken || tokens[i] == "" {
			t.Fatalf("Token #%d = %q; want the one refreshed token", i, tokens[i])
		}
		if unsaved[i] {
			t.Fatalf("Token #%d returned a token that was not saved", i)
		}
	}
	if _, refreshes, _ := f.Counts(); refreshes != 1 {
		t.Errorf("%d refreshes at the AS; want exactly 1", refreshes)
	}
	if sv.count() != 1 {
		t.Errorf("Save called %d times; want 1", sv.count())
	}
	cur := s.Grant()
	if cur.Token.AccessToken != tokens[0] || cur.Token.RefreshToken == g.Token.RefreshToken || cur.Token.RefreshToken == "" {
		t.Errorf("session grant not updated with the rotated refresh token: %+v", cur.Token)
	}
	if cur.Registration != g.Registration || cur.Metadata != g.Metadata || !slices.Equal(cur.Requested, g.Requested) {
		t.Error("refresh lost metadata, registration or requested scopes")
	}
	if form := f.TokenRequests()[1].Form; form.Get("grant_type") != "refresh_token" || form.Get("resource") != f.ServerURL {
		t.Errorf("refresh request %v", form)
	}
}

func TestSessionSaveFails(t *testing.T) {
	f := newFake(t, func(f *fake) { f.RotateRefresh = false })
	regs := newMemRegs()
	g := expired(loginFake(t, f, regs))
	s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
	s.Browser = noBrowser(t)
	diskFull := errors.New("disk full")
	sv := &saver{fail: diskFull}
	s.Save = sv.Save

	tok, err := accessToken(s.Token(ctxT(t), time.Minute))
	if !errors.Is(err, diskFull) || tok != "" {
		t.Fatalf("Token = %q, %v; want the Save error and no token", tok, err)
	}
	if s.Grant() != g {
		t.Error("the unsaved grant replaced the old one")
	}
	sv.mu.Lock()
	sv.fail = nil
	sv.mu.Unlock()
	tok, err = accessToken(s.Token(ctxT(t), time.Minute))
	if err != nil || tok == "" || !sv.savedToken(tok) {
		t.Fatalf("Token after Save recovered = %q, %v", tok, err)
	}
}

func TestSessionToken(t *testing.T) {
	t.Run("no grant", func(t *testing.T) {
		s := oauth.NewSession(&oauth.Flow{}, "https://mcp.example.com", nil)
		if tok, err := accessToken(s.Token(ctxT(t), 0)); tok != "" || err != nil {
			t.Errorf("Token = %q, %v", tok, err)
		}
	})
	t.Run("public", func(t *testing.T) {
		s := oauth.NewSession(&oauth.Flow{}, "https://mcp.example.com", &oauth.Grant{Public: true})
		if tok, err := accessToken(s.Token(ctxT(t), 0)); tok != "" || err != nil {
			t.Errorf("Token = %q, %v", tok, err)
		}
	})
	t.Run("valid token: no refresh", func(t *testing.T) {
		f := newFake(t)
		regs := newMemRegs()
		g := loginFake(t, f, regs)
		s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
		tok, err := accessToken(s.Token(ctxT(t), time.Minute))
		if err != nil || tok != g.Token.AccessToken {
			t.Errorf("Token = %q, %v", tok, err)
		}
		if _, refreshes, _ := f.Counts(); refreshes != 0 {
			t.Errorf("%d refreshes", refreshes)
		}
	})
	t.Run("expired, refresh refused", func(t *testing.T) {
		f := newFake(t)
		regs := newMemRegs()
		g := expired(loginFake(t, f, regs))
		f.Configure(func(f *fake) { f.RefreshError = "invalid_grant" })
		s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
		_, err := s.Token(ctxT(t), time.Minute)
		wantErr(t, err, oauth.ErrInvalidGrant, f.AS.URL+"/token")
		if s.Grant() != g {
			t.Error("grant replaced after a failed refresh")
		}
	})
}

// holdPost holds every POST to path until release is closed, first telling
// arrived.
type holdPost struct {
	base    http.RoundTripper
	path    string
	arrived chan struct{}
	release chan struct{}
}

func (h *holdPost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.URL.Path == h.path {
		h.arrived <- struct{}{}
		<-h.release
	}
	return h.base.RoundTrip(r)
}

// TestSessionReadsDoNotWaitForRefresh: while a refresh holds the session
// waiting for the authorization server, Grant, and Token for a margin the
// current token satisfies, answer with the current grant without waiting
// for it; then the refresh commits its new grant.
func TestSessionReadsDoNotWaitForRefresh(t *testing.T) {
	f := newFake(t)
	regs := newMemRegs()
	g := loginFake(t, f, regs) // valid for an hour
	fl := fakeFlow(regs)
	h := &holdPost{base: fl.HTTP.Transport, path: "/token", arrived: make(chan struct{}, 1), release: make(chan struct{})}
	hc := *fl.HTTP
	hc.Transport = h
	fl.HTTP = &hc
	s := oauth.NewSession(fl, f.ServerURL, g)
	refreshed := make(chan error, 1)
	go func() { refreshed <- s.Refresh(ctxT(t)) }()
	<-h.arrived // the refresh is waiting for the authorization server

	// Should a read wait behind the refresh, this lets the refresh end, so
	// the test reports the wait instead of hanging.
	var released atomic.Bool
	backstop := time.AfterFunc(5*time.Second, func() { released.Store(true); close(h.release) })
	got := s.Grant()
	tok, err := s.Token(ctxT(t), time.Minute)
	waited := released.Load()
	if backstop.Stop() {
		close(h.release)
	}
	if waited {
		t.Fatal("Grant or Token waited for the refresh in flight")
	}
	if got != g || err != nil || tok != g || tok.AccessToken() != g.Token.AccessToken {
		t.Fatalf("during the refresh: Grant = %p, Token = %p, %v; want the current grant %p", got, tok, err, g)
	}
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
	if cur := s.Grant(); cur == g || cur.AccessToken() == g.Token.AccessToken {
		t.Error("the refreshed grant was not committed")
	}
}

// mcpClient returns an http.Client whose Transport carries s's token to f's
// MCP server.
func mcpClient(f *fake, s *oauth.Session) *http.Client {
	return &http.Client{Transport: &oauth.Transport{
		Base:      newClient().Transport,
		Source:    oauth.SessionSource{S: s, Margin: time.Minute},
		ServerURL: f.ServerURL,
	}}
}

func callMCP(t *testing.T, c *http.Client, url, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	return res, err
}

func TestSession401RefreshThenRetry(t *testing.T) {
	f := newFake(t)
	regs := newMemRegs()
	g := loginFake(t, f, regs)
	f.ForgetAccess(g.Token.AccessToken) // the server no longer accepts it
	s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
	s.Browser = noBrowser(t)
	sv := &saver{}
	s.Save = sv.Save
	before := len(f.MCPRequests())

	const body = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	res, err := callMCP(t, mcpClient(f, s), f.ServerURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	reqs := f.MCPRequests()[before:]
	if len(reqs) != 2 {
		t.Fatalf("%d MCP requests; want the refused one and the retry", len(reqs))
	}
	if reqs[0].Header.Get("Authorization") != "Bearer "+g.Token.AccessToken {
		t.Errorf("first request carried %q", reqs[0].Header.Get("Authorization"))
	}
	newTok := s.Grant().Token.AccessToken
	if newTok == g.Token.AccessToken || reqs[1].Header.Get("Authorization") != "Bearer "+newTok {
		t.Errorf("retry carried %q; want the refreshed token", reqs[1].Header.Get("Authorization"))
	}
	for i, r := range reqs {
		if string(r.Body) != body {
			t.Errorf("request %d body %q; want %q", i, r.Body, body)
		}
	}
	if _, refreshes, _ := f.Counts(); refreshes != 1 {
		t.Errorf("%d refreshes; want 1", refreshes)
	}
	if n := len(f.AuthRequests()); n != 1 {
		t.Errorf("%d authorizations; want only the initial login", n)
	}
	if !sv.savedToken(newTok) {
		t.Error("refreshed grant not saved")
	}
}

func TestSessionStepUp(t *testing.T) {
	f := newFake(t)
	regs := newMemRegs()
	g := loginFake(t, f, regs) // requested: read offline_access
	if !slices.Equal(g.Requested, []string{"read", "offline_access"}) {
		t.Fatalf("initial scopes %q", g.Requested)
	}
	f.Configure(func(f *fake) { f.MCPScopes = []string{"read", "write"} })
	s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
	s.Browser = f.Browser(nil)
	sv := &saver{}
	s.Save = sv.Save
	c := mcpClient(f, s)

	res, err := callMCP(t, c, f.ServerURL, `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d after step-up", res.StatusCode)
	}
	auths := f.AuthRequests()
	if len(auths) != 2 {
		t.Fatalf("%d authorizations; want the login and one step-up", len(auths))
	}
	if got := auths[1].Get("scope"); got != "read offline_access write" {
		t.Errorf("step-up requested %q; want the union \"read offline_access write\"", got)
	}
	if got := s.Grant().Requested; !slices.Equal(got, []string{"read", "offline_access", "write"}) {
		t.Errorf("grant requested %q", got)
	}
	if n := len(f.RegRequests()); n != 1 {
		t.Errorf("%d registrations; the stored one must be reused", n)
	}
	if sv.count() != 1 {
		t.Errorf("%d saves; want 1", sv.count())
	}

	// The AS will not grant "admin": one step-up, then ErrStepUpLimit
	// without another authorization.
	f.Configure(func(f *fake) { f.MCPScopes = []string{"read", "admin"}; f.DenyScopes = []string{"admin"} })
	res, err = callMCP(t, c, f.ServerURL, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d; want the 403 after one step-up", res.StatusCode)
	}
	if n := len(f.AuthRequests()); n != 3 {
		t.Fatalf("%d authorizations; want 3", n)
	}
	if got := f.AuthRequests()[2].Get("scope"); got != "read offline_access write admin" {
		t.Errorf("second step-up requested %q", got)
	}
	_, err = callMCP(t, c, f.ServerURL, `{}`)
	wantErr(t, err, oauth.ErrStepUpLimit, f.ServerURL)
	if n := len(f.AuthRequests()); n != 3 {
		t.Errorf("%d authorizations; no new one may start for scopes already requested", n)
	}
}

func TestSessionChallenged(t *testing.T) {
	insufficient := func(s ...string) *oauth.Challenge {
		return &oauth.Challenge{Status: 403, Error: "insufficient_scope", Scopes: s}
	}
	t.Run("403 for scopes already requested", func(t *testing.T) {
		f := newFake(t)
		regs := newMemRegs()
		g := loginFake(t, f, regs)
		s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
		s.Browser = noBrowser(t)
		err := s.Challenged(ctxT(t), g.Token.AccessToken, insufficient("read"))
		wantErr(t, err, oauth.ErrStepUpLimit, f.ServerURL)
		if n := len(f.AuthRequests()); n != 1 {
			t.Errorf("%d authorizations", n)
		}
	})
	t.Run("401 with a stale token", func(t *testing.T) {
		f := newFake(t)
		regs := newMemRegs()
		g := loginFake(t, f, regs)
		s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
		s.Browser = noBrowser(t)
		before := len(f.Log())
		if err := s.Challenged(ctxT(t), "an-older-token", &oauth.Challenge{Status: 401}); err != nil {
			t.Fatal(err)
		}
		if len(f.Log()) != before || s.Grant() != g {
			t.Error("a stale 401 caused requests or a new grant")
		}
	})
	t.Run("403 with a stale token for scopes the current grant asked for", func(t *testing.T) {
		// Two requests refused concurrently: the first stepped up already,
		// so the second only needs to retry with the current token.
		f := newFake(t)
		regs := newMemRegs()
		g := loginFake(t, f, regs)
		s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
		s.Browser = f.Browser(nil)
		err := s.Challenged(ctxT(t), "an-older-token", insufficient("read"))
		if n := len(f.AuthRequests()); n != 1 {
			t.Errorf("Challenged started a new authorization (%d in all) for a 403 on a stale token whose scopes the current grant already asked for (err %v)", n, err)
		}
		if err != nil {
			t.Errorf("Challenged = %v; want nil (retry with the current token)", err)
		}
	})
	t.Run("other refusals", func(t *testing.T) {
		f := newFake(t)
		regs := newMemRegs()
		g := loginFake(t, f, regs)
		s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
		s.Browser = noBrowser(t)
		for _, ch := range []*oauth.Challenge{{Status: 403, Error: "forbidden"}, {Status: 400}, {Status: 403}} {
			err := s.Challenged(ctxT(t), g.Token.AccessToken, ch)
			wantErr(t, err, oauth.ErrAuthorization, f.ServerURL)
		}
	})
}

func TestSessionMaxAuthorizations(t *testing.T) {
	for _, refresh := range []bool{false, true} {
		name := "without refresh token"
		if refresh {
			name = "with refresh token"
		}
		t.Run(name, func(t *testing.T) {
			f := newFake(t, func(f *fake) { f.NoRefreshToken = !refresh })
			regs := newMemRegs()
			g := loginFake(t, f, regs)
			f.Configure(func(f *fake) { f.MCPRejectAll = true })
			s := oauth.NewSession(fakeFlow(regs), f.ServerURL, g)
			s.Browser = f.Browser(nil)
			base := len(f.AuthRequests())
			ch := &oauth.Challenge{Status: 401}
			var err error
			rounds := 0
			for ; rounds < 10 && err == nil; rounds++ {
				var tok string
				tok, err = accessToken(s.Token(ctxT(t), 0))
				if err == nil {
					err = s.Challenged(ctxT(t), tok, ch)
				}
			}
			wantErr(t, err, oauth.ErrStepUpLimit, f.ServerURL)
			logins := len(f.AuthRequests()) - base
			if logins > oauth.MaxAuthorizations || logins == 0 {
				t.Errorf("%d authorizations between successes; want 1..%d", logins, oauth.MaxAuthorizations)
			}
			if !refresh && logins != oauth.MaxAuthorizations {
				t.Errorf("%d authorizations; want exactly %d", logins, oauth.MaxAuthorizations)
			}
			if _, refreshes, _ := f.Counts(); refresh != (refreshes == 1) {
				t.Errorf("%d refreshes", refreshes)
			}
			// Still refused: no more logins until a success.
			tok, _ := accessToken(s.Token(ctxT(t), 0))
			wantErr(t, s.Challenged(ctxT(t), tok, ch), oauth.ErrStepUpLimit)
			if n := len(f.AuthRequests()) - base; n != logins {
				t.Errorf("login after the limit")
			}
			// A success resets the count.
			s.Succeeded()
			tok, _ = accessToken(s.Token(ctxT(t), 0))
			if err := s.Challenged(ctxT(t), tok, ch); err != nil {
				t.Errorf("after a success: %v", err)
			}
		})
	}
}

func TestSessionLogin(t *testing.T) {
	f := newFake(t)
	regs := newMemRegs()
	s := oauth.NewSession(fakeFlow(regs), f.ServerURL, nil)
	s.Browser = f.Browser(nil)
	sv := &saver{}
	s.Save = sv.Save
	g, err := s.Login(ctxT(t), []string{"write"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Grant() != g || sv.count() != 1 {
		t.Error("login not committed and saved")
	}
	if got := f.AuthRequests()[0].Get("scope"); got != "read write offline_access" {
		t.Errorf("requested %q", got)
	}
	if got := f.Paths("mcp")[0]; got != "POST /mcp" {
		t.Errorf("login did not probe first: %s", got)
	}
	sv.mu.Lock()
	sv.fail = errors.New("keyring locked")
	sv.mu.Unlock()
	if _, err := s.Login(ctxT(t), nil); err == nil || s.Grant() != g {
		t.Errorf("Login with failing Save = %v; grant replaced: %v", err, s.Grant() != g)
	}
}

func TestFlowLogin(t *testing.T) {
	t.Run("public server", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.MCPPublic = true })
		g, err := fakeFlow(newMemRegs()).Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL, Browser: noBrowser(t)})
		if err != nil || !g.Public || g.Token != nil {
			t.Fatalf("Login = %+v, %v", g, err)
		}
	})
	t.Run("registration saved and reused", func(t *testing.T) {
		f := newFake(t)
		regs := newMemRegs()
		g1 := loginFake(t, f, regs)
		g2 := loginFake(t, f, regs)
		if regs.saves != 1 || len(f.RegRequests()) != 1 || g1.Registration.ClientID != g2.Registration.ClientID {
			t.Errorf("saves %d, registrations %d", regs.saves, len(f.RegRequests()))
		}
	})
	t.Run("invalid_client: drop and register again once", func(t *testing.T) {
		f := newFake(t)
		regs := newMemRegs()
		md := discoverFake(t, f)
		regs.regs[md.Issuer] = &oauth.Registration{Issuer: md.Issuer, ClientID: "stale", AuthMethod: oauth.AuthNone, Method: oauth.MethodDynamic}
		f.AddClient("stale", "", oauth.AuthNone)
		f.Configure(func(f *fake) { f.InvalidClients["stale"] = true })
		g := loginFake(t, f, regs)
		if g.Registration.ClientID != "dcr-1" || regs.drops != 1 || regs.saves != 1 || len(f.AuthRequests()) != 2 {
			t.Errorf("client %q, drops %d, saves %d, authorizations %d", g.Registration.ClientID, regs.drops, regs.saves, len(f.AuthRequests()))
		}
	})
	t.Run("invalid_client twice", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.InvalidClients["dcr-1"] = true; f.InvalidClients["dcr-2"] = true })
		regs := newMemRegs()
		_, err := fakeFlow(regs).Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL, Browser: f.Browser(nil)})
		wantErr(t, err, oauth.ErrInvalidClient, f.AS.URL+"/token")
		if n := len(f.AuthRequests()); n != 2 {
			t.Errorf("%d authorizations; want 2", n)
		}
	})
	t.Run("invalid_client with preregistered credentials: no retry", func(t *testing.T) {
		f := newFake(t)
		f.AddClient("pre", "", oauth.AuthNone)
		f.Configure(func(f *fake) { f.InvalidClients["pre"] = true })
		regs := newMemRegs()
		_, err := fakeFlow(regs).Login(ctxT(t), oauth.LoginRequest{
			ServerURL: f.ServerURL, Browser: f.Browser(nil),
			Preregistered: &oauth.Registration{ClientID: "pre"},
		})
		wantErr(t, err, oauth.ErrInvalidClient)
		if regs.drops != 0 || len(f.AuthRequests()) != 1 || len(f.RegRequests()) != 0 {
			t.Errorf("drops %d, authorizations %d, registrations %d", regs.drops, len(f.AuthRequests()), len(f.RegRequests()))
		}
	})
	t.Run("SaveRegistration fails", func(t *testing.T) {
		f := newFake(t)
		regs := newMemRegs()
		regs.saveErr = errors.New("store down")
		_, err := fakeFlow(regs).Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL, Browser: noBrowser(t)})
		if !errors.Is(err, regs.saveErr) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("browser error", func(t *testing.T) {
		f := newFake(t)
		closed := errors.New("user closed the window")
		_, err := fakeFlow(newMemRegs()).Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL,
			Browser: func(context.Context, *oauth.Authorization) (string, error) { return "", closed }})
		if !errors.Is(err, closed) {
			t.Errorf("err = %v", err)
		}
		if n, _, _ := f.Counts(); n != 0 {
			t.Errorf("%d token requests", n)
		}
	})
	t.Run("CIMD", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.ASMeta["client_id_metadata_document_supported"] = true })
		fl := fakeFlow(newMemRegs())
		fl.Client.ClientIDMetadataURL = cimdURL
		g, err := fl.Login(ctxT(t), oauth.LoginRequest{ServerURL: f.ServerURL, Browser: f.Browser(nil)})
		if err != nil {
			t.Fatal(err)
		}
		if g.Registration.Method != oauth.MethodCIMD || f.AuthRequests()[0].Get("client_id") != cimdURL || len(f.RegRequests()) != 0 {
			t.Errorf("registration %+v", g.Registration)
		}
	})
}
