package ipc

import (
	"context"
	"net/http"
	"time"
)

// AppRequest registers (POST /v1/apps) or removes (POST /v1/apps/remove)
// an app of the local reverse proxy: a program that reaches Server through
// the daemon at AppInfo.URL, with a key of its own. Server is not needed to
// remove.
type AppRequest struct {
	Name   string `json:"name"`
	Server string `json:"server,omitempty"`
	// Account is the server's account the app's requests get ("": the
	// server's default account). Revision 7.
	Account string `json:"account,omitempty"`
}

// AppInfo describes an app of the local reverse proxy. URL is its base URL
// without the key (requests then carry the key in the X-Mcpauthd-Key
// header); KeyURL is the same with the key in the path. Key and KeyURL are
// secrets, set only in the answer that created the app: the daemon never
// shows them again.
type AppInfo struct {
	Name      string    `json:"name"`
	Server    string    `json:"server"`
	Account   string    `json:"account,omitempty"`
	URL       string    `json:"url,omitempty"`
	Key       string    `json:"key,omitempty"`
	KeyURL    string    `json:"key_url,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// AppKeyHeader carries an app's key to the local reverse proxy, for apps
// configured with a header rather than the key in the path.
const AppKeyHeader = "X-Mcpauthd-Key"

// ImportRequest hands the daemon a sign-in made by another program
// (mcp-remote): the client registration and the tokens it holds for the MCP
// server URL. The daemon discovers the server's authorization server, binds
// the registration to that issuer (refusing one that names another issuer)
// and commits both. ClientSecret, AccessToken and RefreshToken are secrets.
// Without Replace a server mcpauthd is already signed in to is left alone.
type ImportRequest struct {
	URL     string       `json:"url"`
	Client  ImportClient `json:"client"`
	Tokens  ImportTokens `json:"tokens"`
	Replace bool         `json:"replace,omitempty"`
}

// ImportClient is an OAuth client registration made by another program.
// Issuer is the authorization server it recorded, when it did.
type ImportClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	AuthMethod   string   `json:"auth_method,omitempty"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	Issuer       string   `json:"issuer,omitempty"`
}

// ImportTokens are the tokens another program holds; Expiry is zero when
// unknown.
type ImportTokens struct {
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
}

// AddApp registers an app; the answer holds its key, the only time it is shown.
func (c *Client) AddApp(ctx context.Context, r *AppRequest) (*AppInfo, error) {
	var out AppInfo
	return &out, c.do(ctx, http.MethodPost, "apps", r, &out)
}

// Apps lists the registered apps (without their keys).
func (c *Client) Apps(ctx context.Context) ([]AppInfo, error) {
	var out []AppInfo
	return out, c.do(ctx, http.MethodGet, "apps", nil, &out)
}

// RemoveApp forgets the app name; its key stops working at once.
func (c *Client) RemoveApp(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "apps/remove", &AppRequest{Name: name}, nil)
}

// Import hands the daemon another program's sign-in to r.URL.
func (c *Client) Import(ctx context.Context, r *ImportRequest) (*ServerInfo, error) {
	var out ServerInfo
	return &out, c.do(ctx, http.MethodPost, "import", r, &out)
}
