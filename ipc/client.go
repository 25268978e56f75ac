package ipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strconv"
	"sync"
	"time"

	"github.com/mcpauthd/mcpauthd/toolpolicy"
)

// Client talks to the daemon over its socket. It is safe for concurrent use,
// its zero value included: create it with NewClient, or set Socket and use
// it (Socket must not change after the first call). Do not copy a Client
// after first use.
type Client struct {
	// Socket is the daemon's socket path.
	Socket string

	once sync.Once
	hc   *http.Client
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	c := &Client{Socket: socket}
	c.init()
	return c
}

// init builds the HTTP client once, however many calls race to be first.
func (c *Client) init() {
	c.once.Do(func() {
		c.hc = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return Dial(ctx, c.Socket)
			},
			MaxIdleConnsPerHost: 64,
		}}
	})
}

// do sends a JSON request to /v1/<path> and decodes the JSON answer into
// out; a non-2xx answer is returned as *Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	c.init()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://mcpauthd/v1/"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(HeaderRevision, strconv.Itoa(Revision))
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		e := &Error{}
		if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(e); err != nil || e.Code == "" {
			e = &Error{Code: CodeInternal, Message: fmt.Sprintf("daemon answered %s", res.Status)}
		}
		return olderDaemon(res, e)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(res.Body, 16<<20)).Decode(out)
}

// olderDaemon returns e, or, when e refuses the request as malformed or
// unknown and the daemon that answered is older than this client (its
// revision lower, or none sent), an error that says to restart mcpauthd: a
// newer command asked for something the running daemon does not know yet.
func olderDaemon(res *http.Response, e *Error) *Error {
	switch res.StatusCode {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
	default:
		return e
	}
	rev, _ := strconv.Atoi(res.Header.Get(HeaderRevision)) // none: 0, before revisions
	if rev >= Revision {
		return e
	}
	return &Error{Code: e.Code, SignInURL: e.SignInURL, older: true, Message: fmt.Sprintf(
		"the running mcpauthd is older than this command (API revision %d, this command needs %d) and refused the request (%s); restart mcpauthd: stop it (mcpauthd stop, or the tray's Quit) and try again; the command starts the new one",
		rev, Revision, e.Message)}
}

// Status describes the daemon.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.do(ctx, http.MethodGet, "status", nil, &s)
}

// Servers lists the known servers.
func (c *Client) Servers(ctx context.Context) ([]ServerInfo, error) {
	var s []ServerInfo
	return s, c.do(ctx, http.MethodGet, "servers", nil, &s)
}

// Login starts (and with r.Wait, finishes) a sign-in.
func (c *Client) Login(ctx context.Context, r *LoginRequest) (*LoginResponse, error) {
	var out LoginResponse
	return &out, c.do(ctx, http.MethodPost, "login", r, &out)
}

// WaitLogin waits for the sign-in id to end and returns the server's state.
func (c *Client) WaitLogin(ctx context.Context, id string) (*LoginResponse, error) {
	var out LoginResponse
	return &out, c.do(ctx, http.MethodPost, "login/wait", map[string]string{"id": id}, &out)
}

// CancelLogin stops the sign-in id.
func (c *Client) CancelLogin(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "login/cancel", map[string]string{"id": id}, nil)
}

// Complete finishes a sign-in with the URL the browser was redirected to.
func (c *Client) Complete(ctx context.Context, redirectURL string) (*LoginResponse, error) {
	var out LoginResponse
	return &out, c.do(ctx, http.MethodPost, "login/complete", &CompleteRequest{RedirectURL: redirectURL}, &out)
}

// Token returns an access token for url valid for at least minValid.
func (c *Client) Token(ctx context.Context, url string, minValid time.Duration) (*TokenResponse, error) {
	return c.TokenFor(ctx, &TokenRequest{URL: url, MinValid: Duration(minValid)})
}

// TokenFor is Token for a whole TokenRequest: with r.DPoP set, the answer
// carries a DPoP proof for that request when the token is DPoP-bound.
func (c *Client) TokenFor(ctx context.Context, r *TokenRequest) (*TokenResponse, error) {
	var out TokenResponse
	return &out, c.do(ctx, http.MethodPost, "token", r, &out)
}

// Challenge hands a server's refusal to the daemon (refresh, sign in again,
// step up); nil means a retry with a fresh Token may succeed.
func (c *Client) Challenge(ctx context.Context, r *ChallengeRequest) error {
	return c.do(ctx, http.MethodPost, "challenge", r, nil)
}

// Succeeded tells the daemon that url's server accepted a request made
// with a token it handed out, which ends the server's run of sign-ins: a
// challenge-driven sign-in loop is cut after oauth.MaxAuthorizations
// attempts between two successes. A daemon older than revision 2 refuses
// it (an *Error saying to restart mcpauthd).
func (c *Client) Succeeded(ctx context.Context, url, account string) error {
	return c.do(ctx, http.MethodPost, "succeeded", &ServerRequest{URL: url, Account: account}, nil)
}

// Refresh refreshes url's token now.
func (c *Client) Refresh(ctx context.Context, url string) (*ServerInfo, error) {
	var out ServerInfo
	return &out, c.do(ctx, http.MethodPost, "refresh", &ServerRequest{URL: url}, &out)
}

// Doctor probes url without signing in and reports each step.
func (c *Client) Doctor(ctx context.Context, url string) (*DoctorReport, error) {
	var out DoctorReport
	return &out, c.do(ctx, http.MethodPost, "doctor", &ServerRequest{URL: url}, &out)
}

// SetProvider sets a server's own sign-in settings without signing in.
func (c *Client) SetProvider(ctx context.Context, r *ProviderRequest) (*ServerInfo, error) {
	var out ServerInfo
	return &out, c.do(ctx, http.MethodPost, "provider", r, &out)
}

// Logout revokes and forgets the tokens of r.URL's account r.Account (the
// default account when ""; every account with r.All); r.Remove also forgets
// the server. The answer says whether the authorization server revoked
// them (an older daemon answers nothing: Revocation is then "").
func (c *Client) Logout(ctx context.Context, r *ServerRequest) (*LogoutResponse, error) {
	var out LogoutResponse
	return &out, c.do(ctx, http.MethodPost, "logout", r, &out)
}

// SetDefaultAccount makes r.Account the default account of r.URL.
func (c *Client) SetDefaultAccount(ctx context.Context, r *ServerRequest) (*ServerInfo, error) {
	var out ServerInfo
	return &out, c.do(ctx, http.MethodPost, "accounts/default", r, &out)
}

// IdPs lists the company sign-ins (IdP sessions) with their servers. A
// daemon older than revision 5 refuses it.
func (c *Client) IdPs(ctx context.Context) ([]IdPInfo, error) {
	var out []IdPInfo
	err := c.do(ctx, http.MethodGet, "idps", nil, &out)
	return out, err
}

// LogoutIdP signs out of a company sign-in and every server that uses it,
// revoking at the IdP where it offers revocation.
func (c *Client) LogoutIdP(ctx context.Context, r *IdPLogoutRequest) (*IdPLogoutResponse, error) {
	var out IdPLogoutResponse
	return &out, c.do(ctx, http.MethodPost, "idp/logout", r, &out)
}

// ToolPolicy is the tool policy in force for this process's app's
// requests to url: the server's, with the deny_tools setting, and the
// app's own as its App (revision 8: an older daemon's refusal matches
// IsOlderDaemon).
func (c *Client) ToolPolicy(ctx context.Context, url string) (toolpolicy.Policy, error) {
	var p toolpolicy.Policy
	return p, c.do(ctx, http.MethodGet, "tools?url="+neturl.QueryEscape(url), nil, &p)
}

// SetToolPolicy replaces a known server's tool policy.
func (c *Client) SetToolPolicy(ctx context.Context, r *ToolPolicyRequest) (*ServerInfo, error) {
	var out ServerInfo
	return &out, c.do(ctx, http.MethodPost, "tools", r, &out)
}

// ToolRefused records a refused tools/call in the daemon's audit log.
func (c *Client) ToolRefused(ctx context.Context, url, tool string) error {
	return c.do(ctx, http.MethodPost, "tools/refused", &ToolRefusedRequest{URL: url, Tool: tool}, nil)
}

// Shutdown asks the daemon to exit.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "shutdown", &ShutdownRequest{}, nil)
}

// Restart asks the daemon to shut down cleanly and start again with the
// same arguments and environment, reading its settings file anew. It
// returns once the request is accepted; the new daemon answers with a new
// Status.Started.
func (c *Client) Restart(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "shutdown", &ShutdownRequest{Restart: true}, nil)
}

// StatusCheckSecrets is Status plus a check that the secret backend can
// give the data key (SecretsChecked, SecretsError). A locked keyring makes
// it wait a few seconds.
func (c *Client) StatusCheckSecrets(ctx context.Context) (*Status, error) {
	var out Status
	return &out, c.do(ctx, http.MethodGet, "status?check=secrets", nil, &out)
}

// Events streams the daemon's events (one JSON object per line) to fn until
// ctx ends, fn returns an error, or the daemon goes away. The first event is
// an EventHello with nothing in it; then one EventServer per known server,
// then changes as they happen. A reader too slow for the daemon gets
// EventLagged as the last event (then io.EOF): call Events again for a
// fresh snapshot.
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	c.init()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://mcpauthd/v1/events", nil)
	if err != nil {
		return err
	}
	req.Header.Set(HeaderRevision, strconv.Itoa(Revision))
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return olderDaemon(res, &Error{Code: CodeInternal, Message: fmt.Sprintf("events: daemon answered %s", res.Status)})
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return io.EOF
}
