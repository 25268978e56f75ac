package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpauthd/mcpauthd/internal/budget"
)

// How the RFC 8707 resource indicator goes out (Quirk.Resource).
const (
	ResourceSend     = ""         // resource=… on authorization and token requests (the spec)
	ResourceOmit     = "omit"     // not at all (Microsoft Entra ID refuses it)
	ResourceAudience = "audience" // as audience=… (Auth0 names the API so)
)

// Token answer shapes (Quirk.TokenAnswer).
const (
	// AnswerSlack: errors come as HTTP 200 {"ok":false,"error":…}, and the
	// user token is nested in authed_user with token_type "user".
	AnswerSlack = "slack"
)

// Quirk is how one authorization server departs from what the MCP
// authorization spec expects, and what mcpauthd does about it. The rows of
// Quirks are matched by issuer; a server's Overrides pick a row by name or
// change single fields. The effective Quirk of a sign-in is kept in its
// Metadata, so refreshes (after restarts too) behave as the sign-in did.
// A Quirk is plain data: the engine's steps read it, nothing else does.
type Quirk struct {
	// Name names the row (lower case; Overrides.Quirk selects by it).
	Name string `json:"name"`
	// Hosts are path.Match patterns for the issuer's host name.
	Hosts []string `json:"-"`
	// Paths are path.Match patterns for the issuer's path (any host).
	Paths []string `json:"-"`
	// Notes are shown to the user (list, the web page), one per change.
	Notes []string `json:"notes,omitempty"`
	// AuthParams are added to the authorization request.
	AuthParams map[string]string `json:"auth_params,omitempty"`
	// Resource: ResourceSend, ResourceOmit or ResourceAudience.
	Resource string `json:"resource,omitempty"`
	// DefaultScopes are requested when neither the challenge nor the
	// protected-resource metadata names a scope; "{resource}" is replaced
	// by the resource indicator.
	DefaultScopes []string `json:"default_scopes,omitempty"`
	// Scopes are requested by every sign-in (Cognito issues an ID token
	// only for openid).
	Scopes []string `json:"scopes,omitempty"`
	// TokenAnswer normalises token endpoint answers ("" or AnswerSlack).
	TokenAnswer string `json:"token_answer,omitempty"`
	// UseIDToken hands out the ID token instead of the access token (for
	// resources that accept only the ID token).
	UseIDToken bool `json:"use_id_token,omitempty"`
	// NoRegistration is said when the authorization server offers or
	// allows no registration mcpauthd can use; "{redirect_uri}" is
	// replaced by mcpauthd's redirect URI.
	NoRegistration string `json:"no_registration,omitempty"`
	// TakesSelectAccount: the provider takes prompt=select_account though
	// its metadata does not say so (no prompt_values_supported).
	TakesSelectAccount bool `json:"takes_select_account,omitempty"`
	// SelectAccount and LoginHint are a sign-in's own (Overrides): see
	// Authorize.
	SelectAccount bool   `json:"select_account,omitempty"`
	LoginHint     string `json:"login_hint,omitempty"`
}

const registerHint = "register an application there with the redirect URI {redirect_uri}, then sign in with `mcpauthd login URL --client-id ID --client-secret-file FILE`"

// Quirks is the table of known providers, matched by issuer in order.
// Every row has a fake in internal/testfake (ProviderAS) and an end-to-end
// sign-in in internal/e2e.
var Quirks = []Quirk{
	{
		Name:  "entra",
		Hosts: []string{"login.microsoftonline.com", "login.microsoft.com", "sts.windows.net", "*.ciamlogin.com"},
		Notes: []string{"Microsoft Entra ID: no resource parameter (AADSTS9010010)", "scope RESOURCE/.default when the server names none"},
		// Entra v2 refuses resource next to scopes; the API is named by the
		// scope's app ID URI instead.
		Resource:           ResourceOmit,
		DefaultScopes:      []string{"{resource}/.default"},
		TakesSelectAccount: true,
		NoRegistration:     "Microsoft Entra ID has no dynamic registration: " + registerHint,
	},
	{
		Name:               "google",
		Hosts:              []string{"accounts.google.com"},
		Notes:              []string{"Google: offline access requested (access_type=offline, prompt=consent)"},
		AuthParams:         map[string]string{"access_type": "offline", "prompt": "consent"},
		TakesSelectAccount: true,
		NoRegistration:     "Google has no dynamic registration: " + registerHint,
	},
	{
		Name:     "auth0",
		Hosts:    []string{"*.auth0.com"},
		Notes:    []string{"Auth0: the API is named by audience instead of resource"},
		Resource: ResourceAudience,
		NoRegistration: "this Auth0 tenant has dynamic registration turned off: ask its administrator to enable it, or " +
			registerHint,
	},
	{
		Name:           "slack",
		Hosts:          []string{"slack.com", "*.slack.com"},
		Notes:          []string{"Slack: token answers normalised (ok:false errors, authed_user)"},
		TokenAnswer:    AnswerSlack,
		NoRegistration: "Slack has no dynamic registration: create a Slack app with the redirect URL {redirect_uri}, then sign in with `mcpauthd login URL --client-id ID --client-secret-file FILE`",
	},
	{
		Name:           "cognito",
		Hosts:          []string{"cognito-idp.*.amazonaws.com", "*.amazoncognito.com"},
		Notes:          []string{"AWS Cognito: the ID token is handed out (the resource accepts only it)"},
		UseIDToken:     true,
		Scopes:         []string{"openid"},
		NoRegistration: "AWS Cognito has no dynamic registration: create an app client in the user pool with the callback URL {redirect_uri}, then sign in with `mcpauthd login URL --client-id ID --client-secret-file FILE`",
	},
	{
		Name:           "github",
		Hosts:          []string{"github.com"},
		Notes:          []string{"GitHub: pre-registered OAuth app"},
		NoRegistration: "GitHub does not let apps register themselves: create an OAuth app at https://github.com/settings/applications/new with the callback URL {redirect_uri}, then sign in with `mcpauthd login URL --client-id ID --client-secret-file FILE`",
	},
	{
		Name:  "keycloak",
		Paths: []string{"/realms/*", "/auth/realms/*"},
		Notes: []string{"Keycloak: refused registrations explained"},
		NoRegistration: "Keycloak refuses anonymous dynamic registration (its Trusted Hosts policy): ask its administrator to trust this machine or allow Client ID Metadata Documents " +
			"(then set client_metadata_url, see Settings), or to " + registerHint,
	},
}

// Overrides are one server's own settings for its sign-ins, stored with the
// server and set by `mcpauthd login` (and the proxy's mcp-remote flags).
// The zero value changes nothing.
type Overrides struct {
	// Quirk selects a row of Quirks by name whatever the issuer; "none"
	// applies no row.
	Quirk string `json:"quirk,omitempty"`
	// AuthParams are added to the authorization request (over the row's).
	AuthParams map[string]string `json:"auth_params,omitempty"`
	// Resource: "send", "omit" or "audience" ("" keeps the row's).
	Resource string `json:"resource,omitempty"`
	// UseIDToken: hand out the ID token (nil keeps the row's).
	UseIDToken *bool `json:"use_id_token,omitempty"`
	// TokenAuthMethod is how a pre-registered client authenticates at the
	// token endpoint (client_secret_basic, client_secret_post, none; ""
	// picks from the authorization server's metadata).
	TokenAuthMethod string `json:"token_auth_method,omitempty"`
	// Scopes are requested by every sign-in, besides what the server asks
	// for (mcp-remote's static client metadata "scope").
	Scopes []string `json:"scopes,omitempty"`
	// SelectAccount asks the authorization server to let the user choose
	// the identity (prompt=select_account, where it supports it; see
	// Authorize): for a further account of a server already signed in
	// with another. LoginHint is sent as login_hint. Both are a sign-in's
	// own, never taken from a provider row.
	SelectAccount bool   `json:"select_account,omitempty"`
	LoginHint     string `json:"login_hint,omitempty"`
}

// reserved are the authorization parameters mcpauthd sets itself; an
// override may not replace them (they carry the PKCE, state and redirect
// protections, or are set by their own option).
var reservedParams = []string{"response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope", "resource", "request", "request_uri"}

// Check reports the first invalid override, naming it and what is allowed.
func (o *Overrides) Check() error {
	if o == nil {
		return nil
	}
	if o.Quirk != "" && o.Quirk != "none" && QuirkByName(o.Quirk) == nil {
		names := []string{"none"}
		for _, q := range Quirks {
			names = append(names, q.Name)
		}
		return fmt.Errorf("unknown provider %q; known: %s", o.Quirk, strings.Join(names, ", "))
	}
	for k := range o.AuthParams {
		if k == "" || slices.Contains(reservedParams, k) {
			return fmt.Errorf("authorization parameter %q cannot be set (mcpauthd sets it; use --scope for scopes and --resource-param for resource)", k)
		}
	}
	switch o.Resource {
	case "", "send", ResourceOmit, ResourceAudience:
	default:
		return fmt.Errorf("resource handling %q: want send, omit or audience", o.Resource)
	}
	switch o.TokenAuthMethod {
	case "", AuthBasic, AuthPost, AuthNone:
	default:
		return fmt.Errorf("token endpoint auth method %q: want %s, %s or %s", o.TokenAuthMethod, AuthBasic, AuthPost, AuthNone)
	}
	return nil
}

// QuirkByName returns the row named name, or nil.
func QuirkByName(name string) *Quirk {
	for i := range Quirks {
		if Quirks[i].Name == name {
			return &Quirks[i]
		}
	}
	return nil
}

// QuirkFor returns the row matching issuer, or nil.
func QuirkFor(issuer string) *Quirk {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	for i, q := range Quirks {
		for _, h := range q.Hosts {
			if ok, _ := path.Match(h, strings.ToLower(u.Hostname())); ok {
				return &Quirks[i]
			}
		}
		for _, p := range q.Paths {
			if ok, _ := path.Match(p, strings.TrimSuffix(u.Path, "/")); ok {
				return &Quirks[i]
			}
		}
	}
	return nil
}

// ResolveQuirk returns the effective quirk of a sign-in at issuer: the
// matching row (or the one o names), with o's fields over it; nil when
// neither changes anything.
func ResolveQuirk(issuer string, o *Overrides) *Quirk {
	var base *Quirk
	switch {
	case o != nil && o.Quirk == "none":
	case o != nil && o.Quirk != "":
		base = QuirkByName(o.Quirk)
	default:
		base = QuirkFor(issuer)
	}
	var q Quirk
	if base != nil {
		q = *base
		q.AuthParams = maps.Clone(base.AuthParams)
		q.Notes = slices.Clone(base.Notes)
		q.Scopes = slices.Clone(base.Scopes)
	}
	if o != nil {
		if len(o.AuthParams) > 0 {
			if q.AuthParams == nil {
				q.AuthParams = map[string]string{}
			}
			maps.Copy(q.AuthParams, o.AuthParams)
			q.Notes = append(q.Notes, "extra authorization parameters: "+strings.Join(slices.Sorted(maps.Keys(o.AuthParams)), ", "))
		}
		switch o.Resource {
		case "send":
			q.Resource = ResourceSend
			q.Notes = append(q.Notes, "resource parameter sent (override)")
		case ResourceOmit, ResourceAudience:
			q.Resource = o.Resource
			q.Notes = append(q.Notes, "resource parameter: "+o.Resource+" (override)")
		}
		if o.UseIDToken != nil {
			q.UseIDToken = *o.UseIDToken
			if q.UseIDToken {
				q.Notes = append(q.Notes, "the ID token is handed out (override)")
			}
		}
		q.SelectAccount, q.LoginHint = o.SelectAccount, o.LoginHint
	}
	if q.Name == "" && len(q.Notes) == 0 && !q.UseIDToken && !q.SelectAccount && q.LoginHint == "" {
		return nil
	}
	return &q
}

// Summary is the one line shown for q: its notes, or "".
func (q *Quirk) Summary() string {
	if q == nil {
		return ""
	}
	return strings.Join(q.Notes, "; ")
}

// resourceParam is the parameter that carries the resource indicator
// ("" for none).
func (q *Quirk) resourceParam() string {
	switch {
	case q == nil || q.Resource == ResourceSend:
		return "resource"
	case q.Resource == ResourceAudience:
		return "audience"
	default:
		return ""
	}
}

// defaultScopes are q's scopes for a sign-in nothing else names scopes for.
func (q *Quirk) defaultScopes(resource string) []string {
	if q == nil {
		return nil
	}
	out := make([]string, 0, len(q.DefaultScopes))
	for _, s := range q.DefaultScopes {
		out = append(out, strings.ReplaceAll(s, "{resource}", strings.TrimSuffix(resource, "/")))
	}
	return out
}

// loginScopes are the scopes a browser sign-in asks for: SelectScopes's,
// with the server's own (o) and its quirk's added, and the quirk's
// defaults when neither the challenge nor the resource names a scope
// (Entra's {resource}/.default).
func loginScopes(ch *Challenge, md *Metadata, o *Overrides, previous, extra []string, wantRefresh bool) []string {
	if o != nil {
		extra = union(extra, o.Scopes)
	}
	if md.Quirk != nil {
		extra = union(extra, md.Quirk.Scopes)
	}
	if len(SelectScopes(ch, md, nil, nil, false)) == 0 {
		extra = union(extra, md.Quirk.defaultScopes(md.Resource))
	}
	return SelectScopes(ch, md, previous, extra, wantRefresh)
}

// registrationErr explains a registration that cannot happen at q's
// provider; other errors pass unchanged.
func (q *Quirk) registrationErr(err error, redirectURI string) error {
	var e *Error
	if q == nil || q.NoRegistration == "" || !errors.As(err, &e) || e.Check != CheckRegistration {
		return err
	}
	ne := *e
	ne.Msg += ". " + strings.ReplaceAll(q.NoRegistration, "{redirect_uri}", redirectURI)
	return &ne
}

// client returns c with q's token answer normalisation, when it has one.
func (q *Quirk) client(c *http.Client) *http.Client {
	if q == nil || q.TokenAnswer != AnswerSlack {
		return c
	}
	cc := *c
	cc.Transport = slackAnswer{transportOf(c)}
	return &cc
}

// finish applies q to a token answer: with UseIDToken the ID token becomes
// the token handed out (with its own expiry when it has one).
func (q *Quirk) finish(t *Token, endpoint string) (*Token, error) {
	if q == nil || !q.UseIDToken {
		return t, nil
	}
	if t.IDToken == "" {
		return nil, newErr("token", CheckToken, endpoint, "the token answer has no id_token, and this server is set to use the ID token (override use_id_token=false, or ask for the openid scope)")
	}
	t.AccessToken = t.IDToken
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(t.IDToken, &claims); err == nil && claims.ExpiresAt != nil {
		t.Expiry = claims.ExpiresAt.Time
	}
	return t, nil
}

// deadRefresh reports whether a refresh refused with err means the refresh
// token itself is no longer good. Besides invalid_grant (RFC 6749 §5.2),
// some servers (Obot among them) answer invalid_request for a dead refresh
// token: that counts only when the description names the refresh token, so
// a refusal for another reason is not taken for "sign in again".
func deadRefresh(code, description string) bool {
	d := strings.ToLower(description)
	return code == "invalid_request" && (strings.Contains(d, "refresh token") || strings.Contains(d, "refresh_token"))
}

// slackAnswer rewrites Slack's token answers to RFC 6749 form: an
// {"ok":false,"error":E} (HTTP 200) becomes HTTP 400 {"error":E}; a user
// token nested in authed_user is lifted to the top; token_type "user" or
// "bot" becomes Bearer.
type slackAnswer struct{ base http.RoundTripper }

func (s slackAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := s.base.RoundTrip(req)
	if err != nil || res.StatusCode != http.StatusOK {
		return res, err
	}
	body, err := budget.ResponseBody(res, budget.TokenAnswer, "token answer")
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		if ok, has := doc["ok"].(bool); has && !ok {
			e, _ := doc["error"].(string)
			if e == "" {
				e = "invalid_request"
			}
			res.StatusCode, res.Status = http.StatusBadRequest, "400 Bad Request"
			doc = map[string]any{"error": e}
		} else {
			if u, ok := doc["authed_user"].(map[string]any); ok && u["access_token"] != nil && doc["access_token"] == nil {
				doc = u
			}
			if tt, _ := doc["token_type"].(string); tt == "user" || tt == "bot" {
				doc["token_type"] = "Bearer"
			}
		}
		body, _ = json.Marshal(doc)
		res.Header.Set("Content-Type", "application/json")
		budget.SetResponseBody(res, body)
	}
	return res, nil
}

// authParam returns q's value for the authorization parameter k.
func (q *Quirk) authParam(k string) (string, bool) {
	if q == nil {
		return "", false
	}
	v, ok := q.AuthParams[k]
	return v, ok
}
