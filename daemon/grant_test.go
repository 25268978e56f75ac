package daemon_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/daemon"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/store"
)

// TestGrantStoredInTheOldShape: a registry written before the grant's
// field list became ipc.GrantConfig's alone (the record's "grant" and the
// sealed secrets in store.GrantConfig's and store.GrantSecrets's JSON)
// still loads: a daemon opened over it signs in with that grant, with no
// browser, and a bad stored grant is refused at start-up by the same
// Validate the faces use.
func TestGrantStoredInTheOldShape(t *testing.T) {
	a := testfake.NewDPoPAS(t)
	st := openStore(t)
	srv := &store.Server{URL: a.URL, Grant: json.RawMessage(`{"type":"client_credentials","client_id":"` + a.ClientID + `"}`)}
	if err := st.CommitGrant(srv, json.RawMessage(`{"client_secret":"`+a.ClientSecret+`"}`)); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{Store: st, CallbackAddr: "127.0.0.1:1", LoginTimeout: 30 * time.Second,
		OpenBrowser: func(string) error { t.Error("the stored grant opened a browser"); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := d.Login(ctx, &ipc.LoginRequest{URL: a.URL, Wait: true}); err != nil {
		t.Fatal(err)
	}
	if st, msg := state(t, d, a.URL); st != ipc.StateSignedIn {
		t.Fatalf("after the sign-in: %s (%s)", st, msg)
	}
	var got *ipc.ServerInfo
	for _, s := range d.Servers() {
		if s.URL == a.URL {
			got = &s
		}
	}
	if got == nil || got.Grant != ipc.GrantClientCredentials {
		t.Fatalf("server %+v; want the client_credentials grant", got)
	}
}

// TestGrantStoredInvalid: a stored grant that Validate refuses (its secret
// gone) is not run with half a configuration: the server needs a sign-in,
// and says why.
func TestGrantStoredInvalid(t *testing.T) {
	st := openStore(t)
	const url = "https://mcp.example.com/mcp"
	srv := &store.Server{URL: url, Grant: json.RawMessage(`{"type":"client_credentials","client_id":"robot"}`)}
	if err := st.CommitGrant(srv, nil); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(daemon.Config{Store: st, CallbackAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if st, msg := state(t, d, url); st != ipc.StateNeedsSignIn || !strings.Contains(msg, "secret or its private key") {
		t.Fatalf("state %s (%s); want needs sign-in naming the missing secret", st, msg)
	}
}
