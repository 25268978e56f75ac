package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
	"go.etcd.io/bbolt"
)

// TestSeveralAccounts: two sign-ins to one server (the real binary, the
// fake authorization server) get different tokens; `token --account` and
// `headers --account` pick the right one, a request naming none the
// default; an app of the reverse proxy added with an account reaches the
// server with that account's token; both survive a daemon restart; the
// default can be changed; logging out of one revokes its tokens and leaves
// the other working.
func TestSeveralAccounts(t *testing.T) {
	in := newInstance(t)
	origin := in.withApps(t)
	a := newFlakyAS(t)
	own := a.signIn(t, in)
	out := login(t, in, a.url, "--account", "work")
	if !strings.Contains(out, "as account work") {
		t.Fatalf("login --account output: %s", out)
	}
	token := func(flags ...string) string {
		t.Helper()
		return strings.TrimSpace(in.must(append([]string{"token", a.url}, flags...)...))
	}
	work := token("--account", "work")
	if work == own || a.mcpStatus(t, work) != http.StatusOK || a.mcpStatus(t, own) != http.StatusOK {
		t.Fatalf("the two accounts' tokens: same %v, work %d, default %d", work == own, a.mcpStatus(t, work), a.mcpStatus(t, own))
	}
	if token() != own || token("--account", "default") != own {
		t.Fatal("a request naming no account (or \"default\") did not get the default account's token")
	}
	var hdr map[string]string
	if err := json.Unmarshal([]byte(in.must("headers", a.url, "--account", "work")), &hdr); err != nil || hdr["Authorization"] != "Bearer "+work {
		t.Fatalf("headers --account work: %v %v", hdr, err)
	}
	if got := in.must("exec", a.url, "--account", "work", "--", "sh", "-c", `printf %s "$MCP_ACCESS_TOKEN"`); got != work {
		t.Fatal("exec --account work ran the command with another token")
	}
	_, errs, code := in.run("token", a.url, "--account", "home")
	if code != 3 || !strings.Contains(errs, "mcpauthd login "+a.url+" --account home") {
		t.Fatalf("token of an account never signed in: exit %d, %q", code, errs)
	}
	info := in.serverInfo(a.url)
	if len(info.Accounts) != 2 || info.Accounts[0].Name != "default" || !info.Accounts[0].Default || info.Accounts[1].Name != "work" || info.Accounts[1].Status != ipc.StateSignedIn {
		t.Fatalf("list --json accounts: %+v", info.Accounts)
	}
	if list := in.must("list"); !strings.Contains(list, "account default (default)") || !strings.Contains(list, "account work") {
		t.Fatalf("list does not group the accounts under the server:\n%s", list)
	}

	// The reverse proxy: an app added with --account work reaches the
	// server with work's token.
	var mu sync.Mutex
	var seen []string
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`))
	})
	a.mcp.Store(&h)
	out = in.must("app", "add", "wapp", "--server", a.url, "--account", "work")
	keyURL := strings.TrimSpace(strings.SplitN(strings.SplitN(out, "URL with the key:", 2)[1], "\n", 2)[0])
	if !strings.HasPrefix(keyURL, origin+"/s/wapp/k/") {
		t.Fatalf("app add output: %s", out)
	}
	if got := initializeStatus(t, keyURL, ""); got != http.StatusOK {
		t.Fatalf("through the reverse proxy: %d", got)
	}
	mu.Lock()
	got := append([]string(nil), seen...)
	mu.Unlock()
	if len(got) == 0 || got[len(got)-1] != work {
		t.Fatalf("the work app reached the server with the wrong token (own: %v)", len(got) > 0 && got[len(got)-1] == own)
	}
	a.mcp.Store(nil)

	// The stdio proxy with --account work reaches the server with work's token.
	var auths []string
	record := func(r *http.Request) string {
		if r.URL.Path == "/mcp" {
			mu.Lock()
			auths = append(auths, r.Header.Get("Authorization"))
			mu.Unlock()
		}
		return "" // served as usual
	}
	a.redirect.Store(&record)
	pctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var logs atomic.Int32
	cs, _, _ := in.startProxy(t, pctx, &logs, nil, a.url, "--account", "work")
	if _, err := cs.ListTools(pctx, nil); err != nil {
		t.Fatalf("tools/list through proxy --account work: %v", err)
	}
	cs.Close()
	a.redirect.Store(nil)
	mu.Lock()
	for _, h := range auths {
		if h != "Bearer "+work {
			t.Errorf("proxy --account work sent a request authorized with another token (own: %v)", h == "Bearer "+own)
		}
	}
	if len(auths) == 0 {
		t.Error("the proxy sent nothing to the server")
	}
	mu.Unlock()

	// A restart keeps both.
	stop(t, in)
	if token("--account", "work") != work || token() != own {
		t.Fatal("after a restart an account's token changed")
	}

	// The default can be another account.
	in.must("account", "default", a.url, "work")
	if token() != work {
		t.Fatal("after `account default URL work`, a request naming no account did not get work's token")
	}
	in.must("account", "default", a.url, "default")

	// Logging out of one account leaves the other.
	out = in.must("logout", a.url, "--account", "work")
	if !strings.Contains(out, "account work") || !strings.Contains(out, "revoked") {
		t.Fatalf("logout --account work: %s", out)
	}
	if a.mcpStatus(t, work) == http.StatusOK {
		t.Error("work's token still works after its logout")
	}
	if _, _, code := in.run("token", a.url, "--account", "work"); code != 3 {
		t.Errorf("token --account work after its logout: exit %d, want 3", code)
	}
	if token() != own || a.mcpStatus(t, own) != http.StatusOK {
		t.Fatal("logging out of work touched the default account")
	}
	if info := in.serverInfo(a.url); len(info.Accounts) != 1 || info.Status != ipc.StateSignedIn {
		t.Fatalf("after the logout of work: %+v", info)
	}
}

// TestOldRegistryIsTheDefaultAccount: a registry written before accounts
// (schema 1, without the approvals and accounts buckets: made here from a
// current one, as the store's migration test does) opens with its sign-in as the server's
// default account, and takes further accounts after that.
func TestOldRegistryIsTheDefaultAccount(t *testing.T) {
	in := newInstance(t)
	a := newFlakyAS(t)
	tok := a.signIn(t, in)
	stop(t, in)
	db, err := bbolt.Open(filepath.Join(in.dir, "data", "mcpauthd", "registry.db"), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range []string{"accounts", "approvals"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("1"))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	if got := strings.TrimSpace(in.must("token", a.url)); got != tok {
		t.Fatal("the old registry's sign-in is not served")
	}
	info := in.serverInfo(a.url)
	if info.Account != "default" || len(info.Accounts) != 1 || !info.Accounts[0].Default || info.Accounts[0].Status != ipc.StateSignedIn {
		t.Fatalf("accounts of an old registry: %q %+v", info.Account, info.Accounts)
	}
	login(t, in, a.url, "--account", "second")
	if got := strings.TrimSpace(in.must("token", a.url, "--account", "second")); got == tok || a.mcpStatus(t, got) != http.StatusOK {
		t.Fatal("a further account after the migration does not work")
	}
}

// stop stops in's daemon and waits for its socket to go.
func stop(t *testing.T, in *instance) {
	t.Helper()
	if err := ipc.NewClient(in.socket()).Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitGone(t, in.socket())
}
