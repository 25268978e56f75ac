package daemon_test

import (
	"context"
	"errors"
	neturl "net/url"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// TestAccounts: two sign-ins to one server keep their own tokens; the
// second asks the browser to choose the identity (prompt=select_account,
// which this authorization server lists) with the hint given; a request
// gets the account it names, an app of the reverse proxy its own, anything
// else the default, which can be changed; both survive a restart; signing
// out of one leaves the other; the audit log names the account.
func TestAccounts(t *testing.T) {
	f := testfake.NewOAuth(t)
	f.Configure(func(f *testfake.OAuth) {
		f.ASMeta["prompt_values_supported"] = []string{"none", "login", "consent", "select_account"}
	})
	st := openStore(t) // outside the bubble, as f: their listeners wait on the network
	synctest.Test(t, func(t *testing.T) { testAccounts(t, f, st) })
}

func testAccounts(t *testing.T, f *testfake.OAuth, st *store.Store) {
	d := startFakeDaemon(t, st, f)
	url := f.ServerURL
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	signIn(t, d, url)
	if _, err := d.Login(ctx, &ipc.LoginRequest{URL: url, Account: "work", LoginHint: "me@work.example", Wait: true}); err != nil {
		t.Fatal(err)
	}
	auths := f.AuthRequests()
	if len(auths) != 2 || auths[0].Get("prompt") != "consent" || auths[1].Get("prompt") != "select_account consent" || auths[1].Get("login_hint") != "me@work.example" {
		t.Fatalf("authorization requests: %v; want the second alone with prompt=select_account (beside consent, for offline_access) and the hint", auths)
	}
	if slices.ContainsFunc(auths, func(q neturl.Values) bool { return q.Has("account") }) {
		t.Error("the account's name went to the authorization server")
	}

	token := func(d *daemon.Daemon, account string) string {
		t.Helper()
		r, err := d.TokenFor(ctx, &ipc.TokenRequest{URL: url, Account: account}, ipc.Peer{PID: 7})
		if err != nil {
			t.Fatalf("token of account %q: %v", account, err)
		}
		return r.AccessToken
	}
	own, work := token(d, ""), token(d, "work")
	if own == work || f.Subject(own) != "user" || f.Subject(work) != "me@work.example" {
		t.Fatalf("default token for %q, work token for %q (same: %v)", f.Subject(own), f.Subject(work), own == work)
	}
	if token(d, ipc.DefaultAccount) != own {
		t.Error(`account "default" is not the server's own sign-in`)
	}
	_, err := d.TokenFor(ctx, &ipc.TokenRequest{URL: url, Account: "home"}, ipc.Peer{})
	var ie *ipc.Error
	if !errors.As(err, &ie) || ie.Code != ipc.CodeNeedsSignIn || ie.SignInAccount != "home" {
		t.Errorf("token of an unknown account: %v; want needs_sign_in naming it", err)
	}
	if _, err := d.Login(ctx, &ipc.LoginRequest{URL: url, Account: "a b"}); err == nil {
		t.Error("an account name with a space was accepted")
	}

	info := d.Servers()[0]
	if info.Account != ipc.DefaultAccount || len(info.Accounts) != 2 || !info.Accounts[0].Default ||
		info.Accounts[1].Name != "work" || info.Accounts[1].Status != ipc.StateSignedIn || info.Accounts[1].LoginHint != "me@work.example" {
		t.Fatalf("server info %+v", info)
	}

	// An app of the reverse proxy added with the account gets its token.
	d.SetApps(daemon.AppsListener{URL: "http://127.0.0.1:1"})
	if _, err := d.AddApp(&ipc.AppRequest{Name: "wapp", Server: url, Account: "work"}); err != nil {
		t.Fatal(err)
	}
	cred, err := d.AppSource(url, ipc.Peer{UID: -1, App: "wapp"}).Credential(ctx, "POST", url, "")
	if err != nil || f.Subject(cred.Token) != "me@work.example" {
		t.Fatalf("the work app got a token of %q (%v)", f.Subject(cred.Token), err)
	}

	if _, err := d.SetDefaultAccount(&ipc.ServerRequest{URL: url, Account: "work"}); err != nil {
		t.Fatal(err)
	}
	if got := token(d, ""); f.Subject(got) != "me@work.example" {
		t.Errorf("with work the default, a request naming no account got %q's token", f.Subject(got))
	}
	d.Close()
	// The user approved an editor "always", with the default account.
	if err := st.PutApproval(&store.Approval{App: "exe:/usr/bin/editor", Server: url, Decision: ipc.DecisionAlways, Account: ipc.DefaultAccount}); err != nil {
		t.Fatal(err)
	}

	// A restart keeps both, and the default.
	d = startFakeDaemon(t, st, f)
	defer d.Close()
	if token(d, ipc.DefaultAccount) != own || token(d, "work") != work || token(d, "") != work {
		t.Fatal("after a restart the accounts' tokens changed")
	}
	// The approval's account rule routes the editor to its account, over
	// the server's default; a request naming an account still gets that one.
	editor := ipc.Peer{PID: 4242, Program: "/usr/bin/editor", ProgramPID: 4242}
	for _, c := range []struct{ account, want string }{{"", own}, {"work", work}} {
		r, err := d.TokenFor(ctx, &ipc.TokenRequest{URL: url, Account: c.account}, editor)
		if err != nil {
			t.Fatal(err)
		}
		if r.AccessToken != c.want {
			t.Errorf("the editor naming account %q got %q's token", c.account, f.Subject(r.AccessToken))
		}
	}
	recs, err := d.Audit(url, 100)
	if err != nil {
		t.Fatal(err)
	}
	var accts []string
	for _, r := range recs {
		accts = append(accts, r.Account)
	}
	if !slices.Contains(accts, "work") || !slices.Contains(accts, ipc.DefaultAccount) {
		t.Errorf("audit accounts %v; want both", accts)
	}

	// Signing out of work leaves the default; the default is the server's own again.
	res, err := d.Logout(ctx, &ipc.ServerRequest{URL: url, Account: "work"})
	if err != nil || res.Revocation != ipc.RevocationRevoked {
		t.Fatalf("logout of work: %+v, %v", res, err)
	}
	if token(d, "") != own {
		t.Error("after signing out of work, the default is not the server's own sign-in")
	}
	if _, err := d.TokenFor(ctx, &ipc.TokenRequest{URL: url, Account: "work"}, ipc.Peer{}); !errors.Is(err, ipc.ErrNeedsSignIn) {
		t.Errorf("work after its sign-out: %v", err)
	}
	if info := d.Servers()[0]; len(info.Accounts) != 1 || info.Status != ipc.StateSignedIn {
		t.Errorf("after signing out of work: %+v", info)
	}
	revoked := f.RevokeRequests()
	for _, r := range revoked {
		if tok := r.Form.Get("token"); tok == own {
			t.Error("signing out of work revoked the default account's token")
		}
	}
}

// TestChallengeForAnAccount: a 401 handed back for an account the server
// does not have yet (a proxy started with --account) adds that account and
// signs in to it, beside the default account, which stays as it was.
func TestChallengeForAnAccount(t *testing.T) {
	f := testfake.NewOAuth(t)
	st := openStore(t)
	synctest.Test(t, func(t *testing.T) {
		d := startFakeDaemon(t, st, f)
		defer d.Close()
		url := f.ServerURL
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		signIn(t, d, url)
		own, err := d.Token(ctx, url, 0, ipc.Peer{})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Challenge(ctx, &ipc.ChallengeRequest{URL: url, Account: "ci", Status: 401}); err != nil {
			t.Fatal(err)
		}
		ci, err := d.TokenFor(ctx, &ipc.TokenRequest{URL: url, Account: "ci"}, ipc.Peer{})
		if err != nil {
			t.Fatal(err)
		}
		again, err := d.Token(ctx, url, 0, ipc.Peer{})
		if err != nil || ci.AccessToken == own.AccessToken || again.AccessToken != own.AccessToken {
			t.Fatalf("after the challenge for ci: ci's token is the default's: %v; the default's changed: %v (%v)",
				ci.AccessToken == own.AccessToken, again != nil && again.AccessToken != own.AccessToken, err)
		}
		if info := d.Servers()[0]; len(info.Accounts) != 2 || info.Account != ipc.DefaultAccount {
			t.Errorf("accounts after the challenge: %+v (default %q)", info.Accounts, info.Account)
		}
	})
}

// TestAccountsRefreshApart: each account has its own refresh timer, fired
// from its own token's expiry, and refreshes with its own refresh token;
// after signing out of one, only the other is refreshed.
func TestAccountsRefreshApart(t *testing.T) {
	f, st := testfake.NewOAuth(t), openStore(t)
	synctest.Test(t, func(t *testing.T) {
		d := startFakeDaemon(t, st, f)
		defer d.Close()
		url := f.ServerURL
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		signIn(t, d, url)
		time.Sleep(10 * time.Minute) // the second account's token expires ten minutes after the first's
		if _, err := d.Login(ctx, &ipc.LoginRequest{URL: url, Account: "work", LoginHint: "w", Wait: true}); err != nil {
			t.Fatal(err)
		}
		expiry := func(name string) time.Time {
			for _, a := range d.Servers()[0].Accounts {
				if a.Name == name {
					return a.TokenExpiry
				}
			}
			t.Fatalf("no account %s", name)
			return time.Time{}
		}
		ownDue, workDue := time.Until(expiry("default"))-2*time.Minute, time.Until(expiry("work"))-2*time.Minute
		time.Sleep(ownDue)
		synctest.Wait()
		if n := refreshes(f); n != 1 {
			t.Fatalf("when the default account was due: %d refreshes, want 1 (its own)", n)
		}
		time.Sleep(workDue - ownDue)
		synctest.Wait()
		if n := refreshes(f); n != 2 {
			t.Fatalf("when work was due: %d refreshes, want 2", n)
		}
		own, err := d.Token(ctx, url, 0, ipc.Peer{})
		if err != nil {
			t.Fatal(err)
		}
		work, err := d.TokenFor(ctx, &ipc.TokenRequest{URL: url, Account: "work"}, ipc.Peer{})
		if err != nil || f.Subject(own.AccessToken) != "user" || f.Subject(work.AccessToken) != "w" {
			t.Fatalf("after the refreshes: default's token is %q's, work's %q's (%v)", f.Subject(own.AccessToken), f.Subject(work.AccessToken), err)
		}
		if _, err := d.Logout(ctx, &ipc.ServerRequest{URL: url, Account: "work"}); err != nil {
			t.Fatal(err)
		}
		// Past the default's next due time and, by 13 minutes, work's
		// (whose sign-out must leave nothing to refresh).
		before := refreshes(f)
		time.Sleep(time.Until(expiry("default")) + 15*time.Minute)
		synctest.Wait()
		if n := refreshes(f); n != before+1 {
			t.Fatalf("after work's sign-out: %d more refreshes, want 1 (the default's)", n-before)
		}
	})
}
