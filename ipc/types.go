// Package ipc is mcpauthd's local API: the wire types, the client that the
// CLI, tray and proxy share, and the socket plumbing (listen, dial and peer
// credentials per OS). The API is HTTP/1.1 with JSON bodies over a Unix
// socket, versioned under /v1/.
package ipc

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

// Revision is this package's revision of the API under /v1/: it grows by
// one whenever a request gains a field or a route is added, so a client can
// tell that it is talking to an older daemon. Both sides send it in the
// HeaderRevision header (a daemon without it predates revision 1).
const Revision = 8 // 2: /v1/succeeded; 3: /v1/provider, /v1/doctor, LoginRequest.Provider; 4: /v1/tools, /v1/tools/refused; 5: /v1/idps, /v1/idp/logout, GrantConfig.IdPSession; 6: /v1/approval/*; 7: accounts (Account fields, /v1/accounts/default); 8: per-app tool policies (ToolPolicyRequest.App, ServerInfo.AppToolPolicies, GET /v1/tools)

// HeaderRevision carries the sender's Revision on every request and answer.
const HeaderRevision = "Mcpauthd-Api-Revision"

// State is a server's state, as reported in ServerInfo.Status.
type State string

// Server states.
const (
	StateSignedOut   State = "signed_out"
	StateSigningIn   State = "signing_in"
	StateSignedIn    State = "signed_in"
	StateRefreshing  State = "refreshing"
	StateNeedsSignIn State = "needs_sign_in"
	StateError       State = "error"
	StatePublic      State = "public"
)

// ServerInfo is what the daemon tells about one server. It holds no secret.
type ServerInfo struct {
	URL             string    `json:"url"`
	Name            string    `json:"name,omitempty"`
	Status          State     `json:"status"`
	StatusMessage   string    `json:"status_message,omitempty"`
	Issuer          string    `json:"issuer,omitempty"`
	Registration    string    `json:"registration,omitempty"` // preregistered | cimd | dynamic
	ScopesRequested []string  `json:"scopes_requested,omitempty"`
	ScopesGranted   []string  `json:"scopes_granted,omitempty"`
	TokenExpiry     time.Time `json:"token_expiry,omitzero"`
	HasRefreshToken bool      `json:"has_refresh_token,omitempty"`
	SignedInAt      time.Time `json:"signed_in_at,omitzero"`
	UpdatedAt       time.Time `json:"updated_at,omitzero"`
	// Tools are the first tool names the server listed (at most 100, each
	// at most 128 bytes), ToolCount how many it listed, and ToolsMore that
	// it listed more than the daemon counted (ToolCount is a lower bound).
	Tools     []string `json:"tools,omitempty"`
	ToolCount int      `json:"tool_count,omitempty"`
	ToolsMore bool     `json:"tools_more,omitempty"`
	// Provider says what mcpauthd does differently for this server's
	// authorization server ("Google: offline access requested …"), "" when
	// nothing.
	Provider string `json:"provider,omitempty"`
	// Grant is the non-interactive grant the server's tokens come from
	// (GrantClientCredentials, GrantJWTBearer, GrantEnterprise); "" for
	// browser sign-ins.
	Grant string `json:"grant,omitempty"`
	// DPoP: the current tokens are DPoP-bound (RFC 9449). An app that uses
	// them must send a proof signed by the daemon with every request: use
	// `mcpauthd proxy`, the local reverse proxy, or ask /v1/token with
	// TokenRequest.DPoP.
	DPoP bool `json:"dpop,omitempty"`
	// ToolPolicy is the tools the proxies let apps see and call.
	ToolPolicy toolpolicy.Policy `json:"tool_policy,omitzero"`
	// AppToolPolicies are apps' own policies on top of ToolPolicy, by app
	// (revision 8).
	AppToolPolicies []AppToolPolicy `json:"app_tool_policies,omitempty"`
	// IdP is the issuer of the company sign-in (IdPInfo) this server's
	// tokens come from (GrantConfig.IdPSession); "" for none.
	IdP string `json:"idp,omitempty"`
	// Account names the server's default account, the sign-in the fields
	// above describe (Status, Issuer, scopes, expiry, …) and requests that
	// name no account get. Accounts lists every account of the server,
	// the default among them, by name (revision 7).
	Account  string        `json:"account,omitempty"`
	Accounts []AccountInfo `json:"accounts,omitempty"`
}

// DefaultAccount is the name of a server's own sign-in: the one every
// server had before accounts, and the default account unless another is
// chosen.
const DefaultAccount = "default"

// AccountInfo is one sign-in (account) of a server. It holds no secret.
type AccountInfo struct {
	Name            string    `json:"name"`
	Default         bool      `json:"default,omitempty"`
	Status          State     `json:"status"`
	StatusMessage   string    `json:"status_message,omitempty"`
	Issuer          string    `json:"issuer,omitempty"`
	ScopesGranted   []string  `json:"scopes_granted,omitempty"`
	TokenExpiry     time.Time `json:"token_expiry,omitzero"`
	HasRefreshToken bool      `json:"has_refresh_token,omitempty"`
	SignedInAt      time.Time `json:"signed_in_at,omitzero"`
	DPoP            bool      `json:"dpop,omitempty"`
	// LoginHint is the login_hint the account's sign-ins send, if any.
	LoginHint string `json:"login_hint,omitempty"`
}

// CheckAccountName reports whether name can name an account: 1 to 64
// letters, digits and '.', '_', '-', '@', '+', starting with a letter or
// digit (a label shown in menus and typed in commands; no separators, no
// spaces). "" is not a name: it means "the default account" in requests.
func CheckAccountName(name string) error {
	ok := len(name) > 0 && len(name) <= 64
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '.' || r == '_' || r == '-' || r == '@' || r == '+'):
		default:
			ok = false
		}
	}
	if !ok {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("account name %q: use 1 to 64 letters, digits, '.', '_', '-', '@' and '+', starting with a letter or digit", name)}
	}
	return nil
}

// IdPInfo is one company sign-in: mcpauthd's session at an enterprise
// identity provider (issuer and mcpauthd's client id there), shared by every
// server whose grant uses it. It holds no secret.
type IdPInfo struct {
	Issuer          string    `json:"issuer"`
	ClientID        string    `json:"client_id"`
	Status          State     `json:"status"` // signed_in, needs_sign_in or signed_out
	StatusMessage   string    `json:"status_message,omitempty"`
	Account         string    `json:"account,omitempty"` // the user's email or name at the IdP
	IDTokenExpiry   time.Time `json:"id_token_expiry,omitzero"`
	HasRefreshToken bool      `json:"has_refresh_token,omitempty"`
	SignedInAt      time.Time `json:"signed_in_at,omitzero"`
	// Servers are the URLs of the servers that use this sign-in.
	Servers []string `json:"servers,omitempty"`
}

// IdPLogoutRequest signs out of the company sign-in at Issuer (ClientID
// "": the only one there) and of every server that uses it.
type IdPLogoutRequest struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"client_id,omitempty"`
}

// IdPLogoutResponse says what an IdP sign-out did: Revocation at the IdP
// (as LogoutResponse's), and the servers signed out with it.
type IdPLogoutResponse struct {
	Revocation      string   `json:"revocation"`
	RevocationError string   `json:"revocation_error,omitempty"`
	Servers         []string `json:"servers,omitempty"`
}

// LoginRequest starts a sign-in. ClientSecret is a secret: it travels only
// over the socket and is kept in the secret store.
type LoginRequest struct {
	URL          string   `json:"url"`
	Scopes       []string `json:"scopes,omitempty"`
	ClientID     string   `json:"client_id,omitempty"`
	ClientSecret string   `json:"client_secret,omitempty"`
	// ClientIssuer binds ClientID to one authorization server (optional):
	// the sign-in stops if the server's authorization server is another.
	ClientIssuer string `json:"client_issuer,omitempty"`
	// NoBrowser: the daemon does not open a browser; the caller shows
	// AuthURL to the user.
	NoBrowser bool `json:"no_browser,omitempty"`
	// Wait makes the call return only when the sign-in has ended.
	Wait bool `json:"wait,omitempty"`
	// Reregister drops mcpauthd's dynamic (or CIMD) client registration at
	// the server's authorization server first, so the sign-in registers
	// anew.
	Reregister bool `json:"reregister,omitempty"`
	// Grant, when set, makes this server's sign-ins non-interactive: the
	// daemon runs that grant instead of the browser, now and whenever the
	// token must be re-acquired.
	Grant *GrantConfig `json:"grant,omitempty"`
	// Provider, when set, replaces the server's own sign-in settings
	// (kept with the server for every later sign-in); nil keeps them.
	Provider *ProviderOverrides `json:"provider,omitempty"`
	// Account names the sign-in to make or renew ("": the default
	// account); MakeDefault makes it the server's default account once it
	// succeeds (the first account of a new server becomes the default
	// anyway). LoginHint is sent as login_hint (the identity the
	// authorization server should offer); account names are labels, never
	// sent. Revision 7.
	Account     string `json:"account,omitempty"`
	MakeDefault bool   `json:"make_default,omitempty"`
	LoginHint   string `json:"login_hint,omitempty"`
}

// DoctorReport is `mcpauthd doctor URL`: each step of a sign-in to URL as
// the daemon found it without signing in. It holds no secret.
type DoctorReport struct {
	URL   string       `json:"url"`
	Steps []DoctorStep `json:"steps"`
	// Failed: a step failed; a sign-in would fail there.
	Failed bool `json:"failed"`
}

// DoctorStep is one step of a DoctorReport. Outcome is "ok", "info",
// "warn" or "fail".
type DoctorStep struct {
	Step    string `json:"step"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
}

// ProviderRequest sets a server's own sign-in settings without signing in
// (`mcpauthd proxy` with mcp-remote's flags), adding the server when it is
// new. ClientSecret is a secret: it travels only over the socket.
type ProviderRequest struct {
	URL      string             `json:"url"`
	Provider *ProviderOverrides `json:"provider,omitempty"`
	// ClientID (and ClientSecret) are a pre-registered client for the
	// server's sign-ins, as LoginRequest's.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
}

// ProviderOverrides are one server's own sign-in settings, over what
// mcpauthd does by itself for its authorization server (the quirks table
// of the engine). The zero value changes nothing.
type ProviderOverrides struct {
	// Provider applies a row of the quirks table by name ("google",
	// "entra", …) whatever the issuer; "none" applies none.
	Provider string `json:"provider,omitempty"`
	// AuthorizeParams are added to the authorization request.
	AuthorizeParams map[string]string `json:"authorize_params,omitempty"`
	// Resource is how the resource indicator is sent: "send", "omit" or
	// "audience" ("": as the provider needs).
	Resource string `json:"resource,omitempty"`
	// UseIDToken hands out the ID token instead of the access token (nil:
	// as the provider needs).
	UseIDToken *bool `json:"use_id_token,omitempty"`
	// TokenAuthMethod is how a pre-registered client authenticates at the
	// token endpoint: client_secret_basic, client_secret_post or none.
	TokenAuthMethod string `json:"token_auth_method,omitempty"`
	// Scopes are requested by every sign-in, besides what the server asks
	// for.
	Scopes []string `json:"scopes,omitempty"`
}

// Grant types for GrantConfig.Type.
const (
	GrantClientCredentials = "client_credentials" // RFC 6749 §4.4 (SEP-1046)
	GrantJWTBearer         = "jwt_bearer"         // RFC 7523 §2.1 with a workload JWT (SEP-1933)
	GrantEnterprise        = "enterprise"         // ID token → ID-JAG → JWT bearer (SEP-990)
)

// GrantConfig selects a non-interactive grant for a server
// (`mcpauthd login URL --client-credentials …`). ClientSecret, PrivateKey,
// Assertion, IdPClientSecret and IDToken are secrets: they travel only over
// the socket and the daemon keeps them only sealed in its store (the other
// fields are kept in the server's record), so the grant survives restarts.
type GrantConfig struct {
	Type     string `json:"type"`
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret authenticates with client_secret_basic/_post.
	ClientSecret string `json:"client_secret,omitempty"`
	// PrivateKey (PEM) authenticates with private_key_jwt (RFC 7523 §2.2);
	// SigningAlg overrides the algorithm derived from the key (ES256, RS256…).
	PrivateKey string `json:"private_key,omitempty"`
	SigningAlg string `json:"signing_alg,omitempty"`
	// ClientIssuer binds the client to one authorization server (optional).
	ClientIssuer string `json:"client_issuer,omitempty"`
	// jwt_bearer: the workload JWT itself, or the absolute path of a file
	// the daemon reads anew for every grant (a projected service-account
	// token), as internal/grantfile reads: a regular file of at most 64 KiB
	// holding a JWT. Only a client of the socket names a file; the web page
	// sends content.
	Assertion     string `json:"assertion,omitempty"`
	AssertionFile string `json:"assertion_file,omitempty"`
	// enterprise: the IdP (issuer, or its token endpoint), mcpauthd's client
	// there, and the user's ID token from it.
	IdPIssuer        string `json:"idp_issuer,omitempty"`
	IdPTokenEndpoint string `json:"idp_token_endpoint,omitempty"`
	IdPClientID      string `json:"idp_client_id,omitempty"`
	IdPClientSecret  string `json:"idp_client_secret,omitempty"`
	IDToken          string `json:"id_token,omitempty"`
	// IdPSession: the ID token comes from mcpauthd's own sign-in at the
	// IdP (a browser sign-in with PKCE, kept and renewed once per IdP and
	// client id, shared by every such server; see IdPInfo) instead of
	// IDToken. It needs IdPIssuer.
	IdPSession bool `json:"idp_session,omitempty"`
}

// LoginResponse reports a sign-in: started (AuthURL set, Server.Status
// signing_in) or, with Wait, ended.
//
// For a sign-in through the browser AuthURL is the daemon's loopback start
// link, which ties the browser that opens it to the sign-in and forwards it
// to the authorization server (it works while the sign-in waits); with
// NoBrowser it is the authorization request itself.
//
// For a device sign-in (RFC 8628, used with NoBrowser where the
// authorization server offers it) AuthURL is the verification URL and
// UserCode the code the user enters there.
type LoginResponse struct {
	ID       string      `json:"id,omitempty"`
	AuthURL  string      `json:"auth_url,omitempty"`
	UserCode string      `json:"user_code,omitempty"`
	Server   *ServerInfo `json:"server"`
	// BrowserError: the daemon could not open the browser; the sign-in
	// still waits, for AuthURL opened by hand.
	BrowserError string `json:"browser_error,omitempty"`
}

// CompleteRequest finishes a sign-in with the URL the authorization server
// redirected the browser to (pasted by an SSH user, or from a test).
type CompleteRequest struct {
	RedirectURL string `json:"redirect_url"`
}

// TokenRequest asks for an access token for URL, valid at least MinValid.
// DPoP, when set, describes the request the token is for: if the server's
// tokens are DPoP-bound the daemon signs a proof for it (the key never
// leaves the daemon).
type TokenRequest struct {
	URL      string       `json:"url"`
	MinValid Duration     `json:"min_valid,omitempty"`
	DPoP     *DPoPRequest `json:"dpop,omitempty"`
	// Account names the sign-in whose token is wanted; "" lets the daemon
	// choose (an app key's account, else the server's default). Revision 7.
	Account string `json:"account,omitempty"`
}

// DPoPRequest is the HTTP request a DPoP proof is for (RFC 9449 §4.2):
// method, target URL, and the nonce the resource server last supplied.
type DPoPRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Nonce  string `json:"nonce,omitempty"`
}

// TokenResponse carries an access token (a secret) to the asking process.
//
// TokenType is "Bearer", or "DPoP" for a DPoP-bound token (RFC 9449): send
// it as "Authorization: DPoP <token>" with a "DPoP: <proof>" header signed
// for that very request — DPoPProof when the request described one, else
// ask again with TokenRequest.DPoP. DPoPKeyThumbprint (public) is the
// bound key's RFC 7638 thumbprint.
type TokenResponse struct {
	AccessToken       string    `json:"access_token"`
	TokenType         string    `json:"token_type"`
	Expiry            time.Time `json:"expiry,omitzero"`
	Scopes            []string  `json:"scopes,omitempty"`
	DPoPProof         string    `json:"dpop_proof,omitempty"`
	DPoPKeyThumbprint string    `json:"dpop_jkt,omitempty"`
	// Warning: the token does not meet the request (it cannot stay valid
	// for MinValid and nothing can renew it) but is the best there is.
	Warning string `json:"warning,omitempty"`
}

// ChallengeRequest hands a server's refusal back to the daemon: Status 401
// or 403 and the WWW-Authenticate values, for the token that was refused.
type ChallengeRequest struct {
	URL             string   `json:"url"`
	Token           string   `json:"token,omitempty"`
	Status          int      `json:"status"`
	WWWAuthenticate []string `json:"www_authenticate,omitempty"`
	// Account is the sign-in Token came from, as in TokenRequest.
	Account string `json:"account,omitempty"`
}

// ServerRequest names a server.
// ToolPolicyRequest replaces a known server's tool policy (revision 4),
// or with App one app's own policy for it (revision 8; an empty Policy
// drops it).
type ToolPolicyRequest struct {
	URL    string            `json:"url"`
	Policy toolpolicy.Policy `json:"policy"`
	// App names the app: the absolute path of its program (as approvals
	// and the audit log show it) or the name of an app key of the reverse
	// proxy (mcpauthd app add NAME).
	App string `json:"app,omitempty"`
}

// AppIdentity is the daemon's identity of an app as a user names it
// (ToolPolicyRequest.App): an identity already ("exe:/path", "key:NAME")
// as it is, an absolute path as its program ("exe:" and the path with its
// symbolic links resolved, as the daemon finds a running program's, when
// it exists on this machine; else cleaned), anything else as the name of
// an app key of the reverse proxy.
func AppIdentity(app string) string {
	switch {
	case strings.HasPrefix(app, "exe:/"), strings.HasPrefix(app, "key:"):
		return app
	case filepath.IsAbs(app):
		if real, err := filepath.EvalSymlinks(app); err == nil {
			return "exe:" + real
		}
		return "exe:" + filepath.Clean(app)
	}
	return "key:" + app
}

// AppToolPolicy is one app's own tool policy for a server (revision 8).
// App is the daemon's identity of the app ("exe:/path", "key:NAME"), Name
// how it is shown.
type AppToolPolicy struct {
	App    string            `json:"app"`
	Name   string            `json:"name"`
	Policy toolpolicy.Policy `json:"policy"`
}

// ToolRefusedRequest records in the audit log that a proxy refused a
// tools/call to URL under its tool policy (revision 4). The caller is the
// peer of the socket connection (the stdio proxy's process).
type ToolRefusedRequest struct {
	URL  string `json:"url"`
	Tool string `json:"tool"`
}

// ServerRequest names a server.
type ServerRequest struct {
	URL string `json:"url"`
	// Remove (logout) also forgets the server, not just its tokens.
	Remove bool `json:"remove,omitempty"`
	// Account names one of the server's sign-ins ("": the default
	// account); All (logout) signs out every account. Revision 7.
	Account string `json:"account,omitempty"`
	All     bool   `json:"all,omitempty"`
}

// Status describes the running daemon.
type Status struct {
	Version     string `json:"version"`
	PID         int    `json:"pid"`
	Socket      string `json:"socket"`
	Database    string `json:"database"`
	CallbackURL string `json:"callback_url"`
	// WebURL opens the local web page; it carries a per-start secret, so it
	// is only ever given over the socket.
	WebURL  string    `json:"web_url,omitempty"`
	Servers int       `json:"servers"`
	Started time.Time `json:"started"`
	// AppsURL is the origin of the local reverse proxy for HTTP apps
	// (http://127.0.0.1:PORT); "" when it does not listen.
	AppsURL string `json:"apps_url,omitempty"`
	// AppsError says why the reverse proxy does not listen (its address is
	// held by another program, which app URLs would then reach). While it
	// is set, AddApp hands out no key.
	AppsError string `json:"apps_error,omitempty"`
	// AppsUIDChecked: the reverse proxy refuses connections from other
	// users (Linux). False where the OS does not tell who connected: there
	// any local user holding an app's key gets through.
	AppsUIDChecked bool `json:"apps_uid_checked,omitempty"`
	// Proxy is the HTTP proxy the daemon's requests to https servers go
	// through (scheme://host:port, never its credentials; the proxy
	// setting), "" when they connect directly.
	Proxy string `json:"proxy,omitempty"`
	// SettingsFile is the settings file the daemon read (or looked for) at
	// start; Settings its effective settings, each with its source.
	SettingsFile string    `json:"settings_file,omitempty"`
	Settings     []Setting `json:"settings,omitempty"`
	// SecretsError is set when the secret backend (the keyring, or the
	// key file) cannot give the data key; only filled in when the request
	// asked for the check (StatusCheckSecrets), which may wait a few seconds.
	SecretsError string `json:"secrets_error,omitempty"`
	// SecretsChecked: the check was made (SecretsError "" means it works).
	SecretsChecked bool `json:"secrets_checked,omitempty"`
}

// Setting returns the value of the daemon's setting key ("" when unset or
// when the daemon is too old to report it).
func (s *Status) Setting(key string) string {
	for _, v := range s.Settings {
		if v.Key == key {
			return v.Value
		}
	}
	return ""
}

// Setting is one of the daemon's effective settings.
type Setting struct {
	Key    string `json:"key"`
	Env    string `json:"env"`
	Value  string `json:"value"`
	Source string `json:"source"` // default, file or env
}

// Revocation outcomes of a sign-out (LogoutResponse.Revocation).
const (
	RevocationRevoked     = "revoked"     // the authorization server revoked the tokens
	RevocationUnsupported = "unsupported" // it offers no revocation endpoint: nothing could be revoked
	RevocationFailed      = "failed"      // it was asked and refused, or could not be reached
	RevocationNone        = "none"        // no tokens were held
)

// LogoutResponse says what a sign-out did. The tokens are wiped from
// mcpauthd in every case; unless Revocation is "revoked", an access token
// handed out before may keep working at the server until TokenExpiry.
type LogoutResponse struct {
	Revocation      string    `json:"revocation"`
	RevocationError string    `json:"revocation_error,omitempty"`
	TokenExpiry     time.Time `json:"token_expiry,omitzero"`
	Removed         bool      `json:"removed,omitempty"`
}

// ShutdownRequest asks the daemon to exit; with Restart it starts again in
// the same process slot (same pid, environment and arguments), reading its
// settings anew.
type ShutdownRequest struct {
	Restart bool `json:"restart,omitempty"`
}

// EventType says what an Event is about.
type EventType string

// Event types.
const (
	// EventHello starts every stream (no payload); the snapshot follows.
	EventHello EventType = "hello"
	// EventServer: Server is new or changed (also one per known server
	// after EventHello).
	EventServer EventType = "server"
	// EventRemoved: the server Server.URL was removed.
	EventRemoved EventType = "removed"
	// EventAudit: token hand-outs were recorded (no payload); a view of the
	// audit log should re-read it.
	EventAudit EventType = "audit"
	// EventLagged is the last event of a stream whose reader fell too far
	// behind (no payload): the daemon never waits for a reader, so it ends
	// the stream instead. Reconnect for a fresh snapshot.
	EventLagged EventType = "lagged"
	// EventIdP: a company sign-in (Event.IdP) changed; one event when it
	// ends, however many servers use it.
	EventIdP EventType = "idp"
)

// Event is one message of the event stream.
type Event struct {
	Type     EventType        `json:"type"`
	Server   *ServerInfo      `json:"server,omitempty"`
	IdP      *IdPInfo         `json:"idp,omitempty"`
	Approval *PendingApproval `json:"approval,omitempty"` // EventApproval
	Time     time.Time        `json:"time"`
}

// TokenTypeDPoP is TokenResponse.TokenType for DPoP-bound tokens (RFC 9449).
const TokenTypeDPoP = "DPoP"

// Error codes.
const (
	CodeNeedsSignIn = "needs_sign_in"
	CodeNotFound    = "not_found"
	CodeBadRequest  = "bad_request"
	CodeForbidden   = "forbidden"
	CodeUpstream    = "upstream" // the MCP server or authorization server failed
	CodeInternal    = "internal"
)

// Error is the body of every non-2xx answer. Message is for a person; it
// never contains a secret. SignInURL is the server to sign in to, for
// needs_sign_in.
type Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	SignInURL string `json:"sign_in_url,omitempty"`
	// SignInAccount is the account of SignInURL to sign in to, when it is
	// not the server's own ("default") sign-in.
	SignInAccount string `json:"sign_in_account,omitempty"`
	// ApprovalID names the pending request of a CodeApprovalPending error.
	ApprovalID string `json:"approval_id,omitempty"`
	// older: the daemon refused the route as unknown and is older than
	// this client (IsOlderDaemon).
	older bool
}

// IsOlderDaemon reports whether err is the refusal of a request the
// running daemon does not know yet: it is older than this client.
func IsOlderDaemon(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.older
}

// ErrNeedsSignIn matches, with errors.Is, an *Error whose Code is
// CodeNeedsSignIn: the user must sign in to its SignInURL first.
var ErrNeedsSignIn = errors.New("ipc: needs sign-in")

// Is makes errors.Is(err, ErrNeedsSignIn) hold for a needs_sign_in error.
func (e *Error) Is(target error) bool { return target == ErrNeedsSignIn && e.Code == CodeNeedsSignIn }

// Error returns Message; for needs_sign_in with SignInURL, followed by the
// command that signs in.
func (e *Error) Error() string {
	if e.Code == CodeNeedsSignIn && e.SignInURL != "" && e.SignInAccount != "" {
		return fmt.Sprintf("%s; run: mcpauthd login %s --account %s", e.Message, e.SignInURL, e.SignInAccount)
	}
	if e.Code == CodeNeedsSignIn && e.SignInURL != "" {
		return fmt.Sprintf("%s; run: mcpauthd login %s", e.Message, e.SignInURL)
	}
	return e.Message
}

// IsHTTPURL reports whether raw is what the API accepts as a server (or
// issuer) URL: an absolute http or https URL with a host and without
// user:password@ (credentials in a URL would be stored and shown with it).
// Whether plain http is allowed is the network policy's decision, later.
func IsHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// Duration is a time.Duration written as a Go duration string ("5m").
type Duration time.Duration

// MarshalText encodes d as time.Duration.String does ("1m30s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText decodes what time.ParseDuration accepts.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
