package store

import (
	"errors"
	"testing"

	"go.etcd.io/bbolt"
)

// A registry written before accounts (schema 1: no accounts bucket) opens with its sign-in where
// it was — the server's own, default account — and then keeps further accounts apart from it.
func TestAccountsOnAnOldRegistry(t *testing.T) {
	h := fileHarness(t)
	s, path := openStore(t, h)
	const url = "https://a.example/mcp"
	if err := s.CommitLogin(&Server{URL: url, Name: "A"}, &Tokens{AccessToken: "at-own", RefreshToken: "rt-own"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	withRaw(t, path, func(tx *bbolt.Tx) error { // back to the shape of schema 1: no approvals, no accounts
		for _, b := range [][]byte{bucketAccounts, bucketApprovals} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return putUint(tx.Bucket(bucketMeta), metaSchemaVersion, 1)
	})

	s = reopen(t, h, path)
	if tok, err := s.GetTokens(url); err != nil || tok.AccessToken != "at-own" {
		t.Fatalf("the old sign-in after the migration: %v, %v", tok, err)
	}
	if list, err := s.ListAccounts(url); err != nil || len(list) != 0 {
		t.Fatalf("accounts of an old registry: %v, %v; want none", list, err)
	}

	// Another server whose URL extends this one's must not be taken for one of its accounts.
	if err := s.PutServer(&Server{URL: url + "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitLogin(&Server{URL: url + "x", Account: "w"}, &Tokens{AccessToken: "at-other"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitLogin(&Server{URL: url, Account: "work"}, &Tokens{AccessToken: "at-work"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitLogin(&Server{URL: "https://nowhere.example/mcp", Account: "work"}, &Tokens{AccessToken: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("an account of an unknown server: %v, want ErrNotFound", err)
	}
	s.Close()
	s = reopen(t, h, path)
	list, err := s.ListAccounts(url)
	if err != nil || len(list) != 1 || list[0].Account != "work" || list[0].CreatedAt.IsZero() {
		t.Fatalf("accounts = %+v, %v; want just work", list, err)
	}
	for acct, want := range map[string]string{"": "at-own", "work": "at-work"} {
		if tok, err := s.GetTokensOf(url, acct); err != nil || tok.AccessToken != want {
			t.Errorf("tokens of account %q = %v, %v; want %s", acct, tok, err, want)
		}
	}
	if srv, err := s.GetServer(url); err != nil || srv.Name != "A" || srv.Account != "" {
		t.Errorf("the server record after an account was written: %+v, %v", srv, err)
	}

	if err := s.DeleteAccount(url, "work"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTokensOf(url, "work"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tokens of a deleted account: %v", err)
	}
	if tok, err := s.GetTokens(url); err != nil || tok.AccessToken != "at-own" {
		t.Errorf("deleting an account touched the server's own sign-in: %v, %v", tok, err)
	}

	if err := s.CommitLogin(&Server{URL: url, Account: "work"}, &Tokens{AccessToken: "at-work"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteServer(url); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListAccounts(url); len(list) != 0 {
		t.Errorf("DeleteServer left accounts: %+v", list)
	}
	if blob, _ := s.sealedBlob(tokenKeyOf(url, "work")); blob != nil {
		t.Error("DeleteServer left an account's tokens")
	}
	if list, _ := s.ListAccounts(url + "x"); len(list) != 1 {
		t.Errorf("DeleteServer of %s took %sx's account", url, url)
	}
}
