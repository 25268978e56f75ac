package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// These tests drive the daemon's state machine (sign-in, refresh timers and
// their backoff, sign-out, a challenge that adds a server, start-up) against
// testfake.OAuth served in-process, inside a testing/synctest bubble: the
// daemon's timers run on the bubble's fake clock, so an hour passes at once
// and the count of refreshes after it is exact.

// openStore opens a registry (file-backed secrets) that closes with the test.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "registry.db"), store.Options{Secrets: store.NewFileBackend(dir, slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// startFakeDaemon runs a daemon over st that reaches f in-process and
// whose "browser" approves every sign-in at once, through the daemon's own
// loopback handler (not listening: served in-process): it opens the start
// link, follows the authorization request to the fake's redirect, and
// brings it to the callback with the start link's binding cookie. Close it
// before the bubble ends.
func startFakeDaemon(t *testing.T, st *store.Store, f *testfake.OAuth) *daemon.Daemon {
	t.Helper()
	var d *daemon.Daemon
	serve := func(u string, cookies []*http.Cookie) *http.Response {
		req := httptest.NewRequest(http.MethodGet, u, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		d.Handler().ServeHTTP(rec, req)
		return rec.Result()
	}
	approve := func(startLink string) error {
		start := serve(startLink, nil)
		req, err := http.NewRequest(http.MethodGet, start.Header.Get("Location"), nil)
		if err != nil {
			return err
		}
		res, err := f.Transport().RoundTrip(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		go func() {
			if res := serve(res.Header.Get("Location"), start.Cookies()); res.StatusCode != http.StatusOK {
				t.Errorf("the callback answered %s", res.Status)
			}
		}()
		return nil
	}
	d, err := daemon.New(daemon.Config{
		Store:        st,
		HTTP:         &http.Client{Transport: f.Transport()},
		CallbackAddr: "127.0.0.1:1",
		OpenBrowser:  approve,
		LoginTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// state returns url's state and message in d.
func state(t *testing.T, d *daemon.Daemon, url string) (ipc.State, string) {
	t.Helper()
	for _, s := range d.Servers() {
		if s.URL == url {
			return s.Status, s.StatusMessage
		}
	}
	t.Fatalf("%s is not known", url)
	return "", ""
}

// refreshes counts the refresh-token grants f was asked for.
func refreshes(f *testfake.OAuth) int {
	n := 0
	for _, r := range f.TokenRequests() {
		if r.Form.Get("grant_type") == "refresh_token" {
			n++
		}
	}
	return n
}

func signIn(t *testing.T, d *daemon.Daemon, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.Login(ctx, &ipc.LoginRequest{URL: url, Wait: true}); err != nil {
		t.Fatal(err)
	}
	if st, msg := state(t, d, url); st != ipc.StateSignedIn {
		t.Fatalf("after the sign-in: %s (%s)", st, msg)
	}
}

// TestRefreshBackoff: the token is refreshed RefreshAhead (2 minutes)
// before it expires; while the authorization server fails, the refresh is
// retried after 10 s, 20 s, 40 s… (the state says so, signed in while the
// token lives, error after), and the first success resets the backoff and
// schedules the next refresh from the new token.
func TestRefreshBackoff(t *testing.T) {
	f, st := testfake.NewOAuth(t), openStore(t) // outside the bubble: their listeners wait on the network
	synctest.Test(t, func(t *testing.T) {
		d := startFakeDaemon(t, st, f)
		defer d.Close()
		signIn(t, d, f.ServerURL)

		step := func(after time.Duration, wantRefreshes int, want ipc.State) {
			t.Helper()
			time.Sleep(after)
			synctest.Wait()
			if got := refreshes(f); got != wantRefreshes {
				t.Fatalf("after %s more: %d refreshes; want %d", after, got, wantRefreshes)
			}
			if st, msg := state(t, d, f.ServerURL); st != want {
				t.Fatalf("after %s more: %s (%s); want %s", after, st, msg, want)
			}
		}
		// due is how long until the current token is due for a refresh.
		due := func() time.Duration {
			for _, sv := range d.Servers() {
				return time.Until(sv.TokenExpiry) - 2*time.Minute
			}
			return 0
		}
		step(due()-time.Second, 0, ipc.StateSignedIn) // nothing before it is due
		step(time.Second, 1, ipc.StateSignedIn)       // due: refreshed
		f.Configure(func(f *testfake.OAuth) { f.RefreshError = "temporarily_unavailable" })
		step(due(), 2, ipc.StateSignedIn) // fails; the token still lives
		if _, msg := state(t, d, f.ServerURL); msg == "" {
			t.Error("a failed refresh left no message")
		}
		step(10*time.Second-time.Millisecond, 2, ipc.StateSignedIn) // not before the backoff
		step(time.Millisecond, 3, ipc.StateSignedIn)                // 10 s
		step(20*time.Second, 4, ipc.StateSignedIn)                  // 20 s
		step(40*time.Second, 5, ipc.StateSignedIn)                  // 40 s: 70 s after due, 50 s left
		step(80*time.Second, 6, ipc.StateError)                     // 80 s: the token has expired
		f.Configure(func(f *testfake.OAuth) { f.RefreshError = "" })
		step(160*time.Second, 7, ipc.StateSignedIn) // recovered
		step(due()-time.Second, 7, ipc.StateSignedIn)
		step(time.Second, 8, ipc.StateSignedIn) // the next one from the new token, no backoff left
	})
}

// TestLogoutStopsRefresh: a sign-out revokes both tokens at the
// authorization server, wipes them, says signed out, and stops the refresh
// timer: nothing is asked of the authorization server afterwards.
func TestLogoutStopsRefresh(t *testing.T) {
	f, st := testfake.NewOAuth(t), openStore(t)
	synctest.Test(t, func(t *testing.T) {
		d := startFakeDaemon(t, st, f)
		defer d.Close()
		signIn(t, d, f.ServerURL)
		res, err := d.Logout(context.Background(), &ipc.ServerRequest{URL: f.ServerURL})
		if err != nil || res.Revocation != ipc.RevocationRevoked {
			t.Fatalf("Logout = %+v, %v; want revoked", res, err)
		}
		if n := len(f.RevokeRequests()); n != 2 {
			t.Fatalf("%d revocation requests; want the refresh and the access token", n)
		}
		if _, err := st.GetTokens(f.ServerURL); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("tokens after the sign-out: %v; want none", err)
		}
		asked := len(f.Log())
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if s, _ := state(t, d, f.ServerURL); s != ipc.StateSignedOut || len(f.Log()) != asked {
			t.Fatalf("two hours after the sign-out: %s, %d more requests; want signed out and none", s, len(f.Log())-asked)
		}
		if _, err := d.Token(context.Background(), f.ServerURL, 0, ipc.Peer{}); !errors.Is(err, ipc.ErrNeedsSignIn) {
			t.Fatalf("Token after the sign-out: %v; want needs sign-in", err)
		}
	})
}

// TestChallengeAddsServer: a server's 401 for a server the daemon does not
// know yet (an app's first request) adds it and signs in; the challenge
// returns once the token is there. A 403 for an unknown server adds nothing.
func TestChallengeAddsServer(t *testing.T) {
	f, st := testfake.NewOAuth(t), openStore(t)
	synctest.Test(t, func(t *testing.T) {
		d := startFakeDaemon(t, st, f)
		defer d.Close()
		ctx := context.Background()
		if err := d.Challenge(ctx, &ipc.ChallengeRequest{URL: f.ServerURL, Status: http.StatusForbidden}); !errors.Is(err, ipc.ErrNeedsSignIn) || len(d.Servers()) != 0 {
			t.Fatalf("403 from an unknown server: %v, %d servers; want needs sign-in and none added", err, len(d.Servers()))
		}
		if err := d.Challenge(ctx, &ipc.ChallengeRequest{URL: f.ServerURL, Status: http.StatusUnauthorized,
			WWWAuthenticate: []string{`Bearer resource_metadata="` + f.MCP.URL + f.PRMPath + `"`}}); err != nil {
			t.Fatal(err)
		}
		if s, msg := state(t, d, f.ServerURL); s != ipc.StateSignedIn {
			t.Fatalf("after the challenge: %s (%s); want signed in", s, msg)
		}
		tok, err := d.Token(ctx, f.ServerURL, 0, ipc.Peer{})
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("Token = %+v, %v", tok, err)
		}
	})
}

// TestStartupRecomputesStates: a daemon that starts over a registry left
// by one that died mid-way derives each server's state from what is
// stored, not from the state persisted: refreshing with tokens is signed
// in (and refreshed when due), signing in without tokens needs a sign-in;
// and a token that expired while no daemon ran, with no refresh token,
// needs a sign-in at once.
func TestStartupRecomputesStates(t *testing.T) {
	withRefresh := testfake.NewOAuth(t)
	noRefresh := testfake.NewOAuth(t, func(f *testfake.OAuth) { f.NoRefreshToken = true })
	interrupted := testfake.NewOAuth(t)
	st := openStore(t)
	synctest.Test(t, func(t *testing.T) {
		for _, f := range []*testfake.OAuth{withRefresh, noRefresh} {
			d := startFakeDaemon(t, st, f)
			signIn(t, d, f.ServerURL)
			d.Close()
		}
		// What a daemon killed during a refresh, and during a first sign-in,
		// leaves behind.
		setStored := func(url string, state ipc.State) {
			rec, err := st.GetServer(url)
			if errors.Is(err, store.ErrNotFound) {
				rec, err = &store.Server{URL: url}, nil
			}
			if err != nil {
				t.Fatal(err)
			}
			rec.Status = string(state)
			if err := st.PutServer(rec); err != nil {
				t.Fatal(err)
			}
		}
		setStored(withRefresh.ServerURL, ipc.StateRefreshing)
		setStored(interrupted.ServerURL, ipc.StateSigningIn)
		time.Sleep(90 * time.Minute) // no daemon runs; every token expires

		d := startFakeDaemon(t, st, withRefresh) // reaches withRefresh only: nothing else may be asked
		defer d.Close()
		synctest.Wait()
		for _, tt := range []struct {
			url  string
			want ipc.State
		}{
			{withRefresh.ServerURL, ipc.StateSignedIn},
			{noRefresh.ServerURL, ipc.StateNeedsSignIn},
			{interrupted.ServerURL, ipc.StateNeedsSignIn},
		} {
			if s, msg := state(t, d, tt.url); s != tt.want {
				t.Errorf("%s: %s (%s); want %s", tt.url, s, msg, tt.want)
			}
		}
		if n := refreshes(withRefresh); n != 1 {
			t.Errorf("%d refreshes of the expired token with a refresh token; want 1, at start-up", n)
		}
	})
}
