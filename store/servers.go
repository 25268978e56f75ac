package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/mcpauthd/mcpauthd/toolpolicy"
	"go.etcd.io/bbolt"
)

// Server is the registry record of one MCP server: JSON in the servers bucket, keyed by URL byte
// for byte. It holds no secrets; the server's tokens are a separate sealed record (see Tokens).
//
// The store writes a Server only when asked (PutServer, CommitLogin) and interprets none of its
// fields except URL and the timestamps it sets. A record whose JSON is larger than budget.Record
// is refused (a *budget.ExceededError), so no server holds more than that in the registry. Values
// returned by the store are copies the caller owns.
type Server struct {
	URL                string          `json:"url"`  // canonical resource URL: the key
	Name               string          `json:"name"` // display name
	Issuer             string          `json:"issuer,omitempty"`
	ResourceMetadata   json.RawMessage `json:"resource_metadata,omitempty"`    // RFC 9728 snapshot
	AuthServerMetadata json.RawMessage `json:"auth_server_metadata,omitempty"` // RFC 8414 / OIDC snapshot
	ScopesRequested    []string        `json:"scopes_requested,omitempty"`
	ScopesGranted      []string        `json:"scopes_granted,omitempty"`
	Status             string          `json:"status,omitempty"` // the daemon's state name; opaque here
	StatusMessage      string          `json:"status_message,omitempty"`
	Public             bool            `json:"public,omitempty"`      // the server needs no sign-in
	ServerInfo         json.RawMessage `json:"server_info,omitempty"` // MCP initialize result
	Tools              []string        `json:"tools,omitempty"`       // the first tool names (a summary; see ToolCount)
	ToolCount          int             `json:"tool_count,omitempty"`  // how many tools the server listed
	ToolsMore          bool            `json:"tools_more,omitempty"`  // the server listed more than were counted
	TokenExpiry        time.Time       `json:"token_expiry,omitzero"` // copy of the access token's expiry, for display
	CreatedAt          time.Time       `json:"created_at,omitzero"`   // set by the store on first write
	UpdatedAt          time.Time       `json:"updated_at,omitzero"`   // set by the store on every write
	SignedInAt         time.Time       `json:"signed_in_at,omitzero"`
	ClientIDOverride   string          `json:"client_id_override,omitempty"` // pre-registered client id, optional
	// Discovery is the engine's whole discovery result (oauth.Metadata), from
	// which a restarted daemon refreshes without discovering again.
	Discovery json.RawMessage `json:"discovery,omitempty"`
	// Grant is the server's non-interactive grant without its secrets (the
	// daemon's ipc.GrantConfig.Public as JSON; the secrets are sealed apart,
	// see CommitGrant); nil for browser sign-ins. Opaque here.
	Grant json.RawMessage `json:"grant,omitempty"`
	// Provider is the server's own sign-in settings (the engine's
	// oauth.Overrides as JSON), kept for every later sign-in; opaque here.
	Provider json.RawMessage `json:"provider,omitempty"`
	// ToolPolicy is the server's tool allow/deny list, applied by the
	// stdio proxy and the reverse proxy (`mcpauthd tools URL`).
	ToolPolicy toolpolicy.Policy `json:"tool_policy,omitzero"`
	// AppToolPolicies are apps' own tool policies for the server, by the
	// daemon's identity of the app ("exe:/path", "key:NAME"), applied on
	// top of ToolPolicy to that app's requests (`mcpauthd tools URL --app`).
	AppToolPolicies map[string]toolpolicy.Policy `json:"app_tool_policies,omitempty"`
	// Account names the sign-in this record describes: "" for the server's
	// own record (its own sign-in is the account called "default"), a name
	// for one of its further accounts (see ListAccounts).
	Account string `json:"account,omitempty"`
	// DefaultAccount is the account requests get when they name none; ""
	// means the server's own sign-in. Only in the server's own record.
	DefaultAccount string `json:"default_account,omitempty"`
	// LoginHint is the login_hint an account's sign-ins send (the user's
	// --login-hint); opaque here.
	LoginHint string `json:"login_hint,omitempty"`
}

// Tokens is a server's token set. It is stored only sealed (AES-GCM under the data key) in the
// secrets bucket, under "token:"+server URL, and is written by PutTokens and CommitLogin.
type Tokens struct {
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	IDToken      string    `json:"id_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Obtained     time.Time `json:"obtained,omitzero"` // when the token response arrived
	Scopes       []string  `json:"scopes,omitempty"`
	// DPoPKey is the private key (PKCS #8 DER) a DPoP-bound token is bound to (RFC 9449); it is
	// sealed with the tokens because it lives and dies with them.
	DPoPKey []byte `json:"dpop_key,omitempty"`
	// Client is the client registration the tokens were issued to when it is not the issuer's
	// registration in the registry — a sign-in imported from another program (mcp-remote). The
	// tokens are refreshed and revoked with it, and it lives and dies with them (sealed with them).
	Client *TokenClient `json:"client,omitempty"`
}

// TokenClient is a client registration kept with the tokens issued to it (Tokens.Client).
type TokenClient struct {
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	AuthMethod   string   `json:"auth_method"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
}

// PutServer creates or replaces the record for srv.URL (with srv.Account set: that account's
// record, of a server that must exist). It keeps the stored CreatedAt (or sets it
// to now for a new server; a non-zero srv.CreatedAt wins) and sets UpdatedAt to now. It does not
// modify *srv, and does not touch the server's tokens.
func (s *Store) PutServer(srv *Server) error {
	return s.db.Update(func(tx *bbolt.Tx) error { return putServer(tx, srv, time.Now()) })
}

// CommitLogin stores tok as srv.URL's tokens and writes srv (as PutServer does) in one bbolt
// transaction: when it returns nil both are durably on disk, so a rotated refresh token is never
// lost once a caller has seen the new access token. Use it after a login and after every refresh.
func (s *Store) CommitLogin(srv *Server, tok *Tokens) error {
	key, err := s.dataKey(true)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := putServer(tx, srv, time.Now()); err != nil {
			return err
		}
		return putSealed(tx, key, tokenKeyOf(srv.URL, srv.Account), tok)
	})
}

func putServer(tx *bbolt.Tx, srv *Server, now time.Time) error {
	if srv.URL == "" {
		return errors.New("store: server URL is empty")
	}
	if srv.Account != "" {
		return putAccount(tx, srv, now)
	}
	b := tx.Bucket(bucketServers)
	rec := *srv
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = now
		if old := b.Get([]byte(srv.URL)); old != nil {
			var prev Server
			if err := json.Unmarshal(old, &prev); err == nil && !prev.CreatedAt.IsZero() {
				rec.CreatedAt = prev.CreatedAt
			}
		}
	}
	rec.UpdatedAt = now
	return putJSON(b, []byte(srv.URL), &rec, srv.URL)
}

// putJSON writes rec, the record of the server at url, at k in b: refused
// when larger than budget.Record.
func putJSON(b *bbolt.Bucket, k []byte, rec *Server, url string) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("store: encoding server %s: %w", url, err)
	}
	if len(v) > budget.Record {
		return fmt.Errorf("store: %w", &budget.ExceededError{What: "the registry record", From: url, Limit: budget.Record})
	}
	return b.Put(k, v)
}

// GetServer returns the record for exactly url, or ErrNotFound.
func (s *Store) GetServer(url string) (*Server, error) {
	var srv Server
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketServers).Get([]byte(url))
		if v == nil {
			return fmt.Errorf("store: server %s: %w", url, ErrNotFound)
		}
		return decode(v, &srv, "server "+url)
	})
	if err != nil {
		return nil, err
	}
	return &srv, nil
}

// ListServers returns every server, ordered by URL.
func (s *Store) ListServers() ([]*Server, error) {
	var out []*Server
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketServers).ForEach(func(k, v []byte) error {
			var srv Server
			if err := decode(v, &srv, "server "+string(k)); err != nil {
				return err
			}
			out = append(out, &srv)
			return nil
		})
	})
	return out, err
}

// DeleteServer deletes the record for url, its sealed tokens, its sealed grant secrets and its
// accounts (records and tokens) in one transaction. It does not
// need the data key. It returns ErrNotFound, and changes nothing, if there is no such server.
func (s *Store) DeleteServer(url string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketServers)
		if b.Get([]byte(url)) == nil {
			return fmt.Errorf("store: server %s: %w", url, ErrNotFound)
		}
		if err := b.Delete([]byte(url)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketSecrets).Delete(grantKey(url)); err != nil {
			return err
		}
		if err := deleteAccounts(tx, url); err != nil {
			return err
		}
		return tx.Bucket(bucketSecrets).Delete(tokenKey(url))
	})
}

// PutTokens seals tok and stores it as the tokens of the server at url, replacing any. The server
// must exist (ErrNotFound otherwise). The first sealed write creates the data key.
func (s *Store) PutTokens(url string, tok *Tokens) error {
	key, err := s.dataKey(true)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketServers).Get([]byte(url)) == nil {
			return fmt.Errorf("store: server %s: %w", url, ErrNotFound)
		}
		return putSealed(tx, key, tokenKey(url), tok)
	})
}

// GetTokens returns the tokens of the server at url, or ErrNotFound. It fetches the data key only
// if there is a record to open.
func (s *Store) GetTokens(url string) (*Tokens, error) { return s.GetTokensOf(url, "") }

// DeleteTokens deletes the tokens of the server at url (ErrNotFound if there are none). It does
// not need the data key.
func (s *Store) DeleteTokens(url string) error { return s.DeleteTokensOf(url, "") }

// sealedBlob returns a copy of the sealed record at recKey, or nil if there is none.
func (s *Store) sealedBlob(recKey []byte) (blob []byte, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		blob = bytes.Clone(tx.Bucket(bucketSecrets).Get(recKey))
		return nil
	})
	return blob, err
}

// decode unmarshals a plain (non-secret) record.
func decode(v []byte, dst any, what string) error {
	if err := json.Unmarshal(v, dst); err != nil {
		return fmt.Errorf("store: decoding %s: %w", what, err)
	}
	return nil
}
