package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpauthd/mcpauthd/internal/budget"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Metadata is what discovery learned about one MCP server. It is plain data:
// the daemon stores a snapshot of it, and every later step takes it as input.
type Metadata struct {
	// ServerURL is the MCP endpoint as the user gave it.
	ServerURL string `json:"server_url"`
	// Resource is the RFC 8707 resource indicator sent on every authorization
	// and token request: the protected-resource metadata's resource, which
	// discovery has checked against ServerURL.
	Resource string `json:"resource"`
	// ResourceMetadataURL is where the protected-resource metadata was found.
	ResourceMetadataURL string                             `json:"resource_metadata_url,omitempty"`
	Protected           *oauthex.ProtectedResourceMetadata `json:"protected,omitempty"`
	// Issuer is the validated issuer identifier of the chosen authorization
	// server, recorded for the RFC 9207 iss comparison and the registration key.
	Issuer     string                  `json:"issuer"`
	AuthServer *oauthex.AuthServerMeta `json:"auth_server"`
	// AuthServerMetadataURL is where the authorization-server metadata
	// was found ("" for the 2025-03-26 default endpoints).
	AuthServerMetadataURL string `json:"auth_server_metadata_url,omitempty"`
	// DeviceAuthorizationEndpoint is the authorization server's RFC 8628
	// endpoint, when it offers the device authorization grant (oauthex does
	// not decode this field; discovery reads it from the same document).
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint,omitempty"`
	// DPoPSigningAlgs is the authorization server's
	// dpop_signing_alg_values_supported (RFC 9449 §5.1), likewise read from
	// the document; see WantsDPoP.
	DPoPSigningAlgs []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// PromptValues is the authorization server's prompt_values_supported
	// (OpenID Connect Prompt Create §4.1), likewise; see supportsPrompt.
	PromptValues []string `json:"prompt_values_supported,omitempty"`
	// Legacy is set when the server has no protected-resource metadata and
	// the 2025-03-26 rules applied (the server's origin is the authorization
	// server; default endpoints when it has no metadata either).
	Legacy bool `json:"legacy,omitempty"`
	// Quirk is how this sign-in departs from the spec for its
	// authorization server (ResolveQuirk); nil for none. Kept with the
	// metadata so refreshes behave as the sign-in did.
	Quirk *Quirk `json:"quirk,omitempty"`
}

// checkServerURL accepts an absolute https URL, or http on loopback, without
// a fragment: the forms a canonical MCP server URI may take.
func checkServerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return newErr("discovery", CheckServer, raw, "not an absolute http(s) URL")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return newErr("discovery", CheckServer, raw, "a server URL must not have a fragment")
	}
	if u.User != nil {
		return newErr("discovery", CheckServer, raw, "a server URL must not carry credentials")
	}
	return checkEndpoint("discovery", "server URL", raw)
}

type prmCandidate struct {
	url      string
	resource []string // acceptable resource values (exact strings)
}

// prmCandidates lists where protected-resource metadata may be, in the
// spec's order: the challenge's resource_metadata, then the well-known URL
// with the server's path inserted, then the root well-known URL.
func prmCandidates(serverURL, fromChallenge string) []prmCandidate {
	var out []prmCandidate
	if fromChallenge != "" {
		out = append(out, prmCandidate{fromChallenge, []string{serverURL}})
	}
	u, _ := url.Parse(serverURL)
	origin := (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	path := strings.Trim(u.EscapedPath(), "/")
	if path != "" {
		out = append(out, prmCandidate{origin + "/.well-known/oauth-protected-resource/" + path, []string{serverURL}})
	}
	// RFC 9728 §3.3: metadata at the root describes the resource identified
	// by the origin; a server whose URL is its origin may name either form.
	out = append(out, prmCandidate{origin + "/.well-known/oauth-protected-resource", dedupe([]string{origin, serverURL})})
	return out
}

// Discover finds and validates the protected-resource metadata and the
// authorization-server metadata for serverURL. ch is the server's challenge
// from a 401 or 403 (nil when there was none). It performs only GETs.
//
// The authorization server must be fit for a browser sign-in: PKCE S256
// and an authorization_endpoint are required. A login with a
// non-interactive grant (LoginRequest.Strategy) discovers without those two
// checks, as neither grant uses them.
func Discover(ctx context.Context, c *http.Client, serverURL string, ch *Challenge) (*Metadata, error) {
	return discover(ctx, c, serverURL, ch, true)
}

// DiscoverForGrant is Discover for a sign-in with a non-interactive grant:
// without the checks only the authorization code grant needs (PKCE S256,
// authorization_endpoint).
func DiscoverForGrant(ctx context.Context, c *http.Client, serverURL string, ch *Challenge) (*Metadata, error) {
	return discover(ctx, c, serverURL, ch, false)
}

// discover is Discover; interactive false leaves out the checks that only
// the authorization code grant needs (PKCE S256, authorization_endpoint).
func discover(ctx context.Context, c *http.Client, serverURL string, ch *Challenge, interactive bool) (*Metadata, error) {
	ctx = withServer(ctx, serverURL) // the network policy: loopback only for a local server
	if err := checkServerURL(serverURL); err != nil {
		return nil, err
	}
	md := &Metadata{ServerURL: serverURL}
	var fromChallenge string
	if ch != nil {
		fromChallenge = ch.ResourceMetadata
	}
	if fromChallenge != "" {
		if err := checkEndpoint("discovery", "resource_metadata", fromChallenge); err != nil {
			return nil, err
		}
	}
	prm, prmURL, err := findProtectedResource(ctx, c, serverURL, fromChallenge)
	if err != nil {
		return nil, err
	}
	if prm == nil {
		// 2025-03-26: no protected-resource metadata; the MCP server's origin
		// is the authorization server.
		u, _ := url.Parse(serverURL)
		md.Legacy = true
		md.Resource = serverURL
		md.Issuer = (&url.URL{Scheme: u.Scheme, Host: u.Host}).String()
	} else {
		md.Protected = prm
		md.ResourceMetadataURL = prmURL
		md.Resource = prm.Resource
		md.Issuer = prm.AuthorizationServers[0]
	}
	if err := findAuthServer(ctx, c, md, interactive); err != nil {
		return nil, err
	}
	return md, nil
}

// findProtectedResource fetches the protected-resource metadata from the
// first candidate location that has it (prmCandidates' order) and checks it:
// its resource must be one the candidate accepts (exactly), and it must name
// at least one authorization server, each a safe URL. It returns nil
// metadata when no location has a document (every one answered 4xx).
func findProtectedResource(ctx context.Context, c *http.Client, serverURL, fromChallenge string) (*oauthex.ProtectedResourceMetadata, string, error) {
	for _, cand := range prmCandidates(serverURL, fromChallenge) {
		var prm oauthex.ProtectedResourceMetadata
		found, err := fetchMetadata(ctx, c, cand.url, "protected-resource metadata", cand.url, &prm, nil)
		if err != nil {
			return nil, "", err
		}
		if !found {
			continue // not here: try the next location
		}
		// RFC 9728 §3.3: the resource must be identical to the one the
		// well-known URL was computed from. A mismatch is final: the
		// document exists and describes another resource.
		if !slices.Contains(cand.resource, prm.Resource) {
			return nil, "", newErr("discovery", CheckResourceMismatch, cand.url,
				"protected-resource metadata is for another resource, %q; refusing to sign in to %s with it", clip(prm.Resource), serverURL)
		}
		if len(prm.AuthorizationServers) == 0 {
			return nil, "", newErr("discovery", CheckBadMetadata, cand.url, "protected-resource metadata lists no authorization_servers")
		}
		for i, as := range prm.AuthorizationServers {
			if p := urlProblem(as, true); p != "" {
				return nil, "", newErr("discovery", CheckInsecureEndpoint, cand.url,
					"protected-resource metadata names an unsafe authorization server: authorization_servers[%d] %q %s", i, clip(as), p)
			}
		}
		return &prm, cand.url, nil
	}
	return nil, "", nil
}

// fetchMetadata GETs one metadata document at metaURL through c (the
// network policy's client: its redirect rule and dial checks apply) and
// decodes it into v; raw, when not nil, receives the document's bytes.
// kind names the document and errURL the identifier errors are reported
// under. found is false when the server answered 4xx (the document is not
// there; the caller tries the next well-known URL). Every failure is an
// *Error typed by what happened, never by a library's message:
// CheckNetwork when no (whole) answer came, CheckBadMetadata for a refused
// redirect, another status than 200 or 4xx, a Content-Type other than
// application/json, a body over budget.Metadata, or one that does not
// decode.
func fetchMetadata(ctx context.Context, c *http.Client, metaURL, kind, errURL string, v any, raw *[]byte) (found bool, err error) {
	at := ""
	if metaURL != errURL {
		at = " at " + metaURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metaURL, nil)
	if err != nil {
		return false, wrapErr("discovery", CheckInsecureEndpoint, errURL, err, "cannot request %s%s", kind, at)
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.Do(req)
	if err != nil {
		var re *RedirectError
		if errors.As(err, &re) {
			// Our own error, with no server text in it: kept as it is
			// (wrapErr would flatten it), so callers can tell it apart.
			return false, &Error{Step: "discovery", Check: CheckBadMetadata, URL: errURL, Msg: kind + at + " redirects elsewhere", Err: re}
		}
		return false, netErr("discovery", errURL, err)
	}
	defer res.Body.Close()
	switch code := res.StatusCode; {
	case code == http.StatusOK:
	case code >= 400 && code < 500:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, budget.ErrorBody)) // keep the connection
		return false, nil
	default:
		return false, newErr("discovery", CheckBadMetadata, errURL, "server answered HTTP %d for %s%s", code, kind, at)
	}
	if ct, _, err := mime.ParseMediaType(res.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return false, newErr("discovery", CheckBadMetadata, errURL, "unusable %s%s: Content-Type %q, not application/json",
			kind, at, clip(res.Header.Get("Content-Type")))
	}
	body, err := budget.ReadAll(res.Body, budget.Metadata, "metadata document", budget.Where(res.Request.URL))
	if err != nil {
		var over *budget.ExceededError
		if errors.As(err, &over) {
			return false, &Error{Step: "discovery", Check: CheckBadMetadata, URL: errURL, Msg: "unusable " + kind + at, Err: over}
		}
		return false, netErr("discovery", errURL, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return false, wrapErr("discovery", CheckBadMetadata, errURL, err, "unusable %s%s", kind, at)
	}
	if raw != nil {
		*raw = body
	}
	return true, nil
}

// findAuthServer sets md.AuthServer to the validated metadata of md.Issuer
// and, from the same document, the fields oauthex does not decode: the
// device authorization endpoint and the DPoP signing algorithms, when offered.
func findAuthServer(ctx context.Context, c *http.Client, md *Metadata, interactive bool) error {
	asm, body, from, err := fetchAuthServer(ctx, c, md.Issuer, md.Legacy, interactive)
	if err != nil {
		return err
	}
	md.AuthServer, md.AuthServerMetadataURL = asm, from
	var extra struct {
		Device   string   `json:"device_authorization_endpoint"`
		DPoPAlgs []string `json:"dpop_signing_alg_values_supported"`
		Prompts  []string `json:"prompt_values_supported"`
	}
	if body == nil || json.Unmarshal(body, &extra) != nil {
		return nil
	}
	md.DPoPSigningAlgs, md.PromptValues = extra.DPoPAlgs, extra.Prompts
	if extra.Device == "" {
		return nil
	}
	if p := urlProblem(extra.Device, true); p != "" {
		return newErr("discovery", CheckInsecureEndpoint, md.Issuer,
			"authorization-server metadata has an unsafe endpoint: device_authorization_endpoint %q %s", clip(extra.Device), p)
	}
	md.DeviceAuthorizationEndpoint = extra.Device
	return nil
}

// authServerMetadataURLs lists where issuer's metadata may be, in the MCP
// specification's order: RFC 8414 with the issuer's path inserted, OpenID
// Connect Discovery with the path inserted, then appended. An issuer
// without a path has the two root documents. A terminating "/" of the path
// is removed first (RFC 8414 §3.1).
func authServerMetadataURLs(issuer string) []string {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	at := func(p string) string { return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String() + p }
	if path == "" {
		return []string{at("/.well-known/oauth-authorization-server"), at("/.well-known/openid-configuration")}
	}
	return []string{
		at("/.well-known/oauth-authorization-server" + path),
		at("/.well-known/openid-configuration" + path),
		at(path + "/.well-known/openid-configuration"),
	}
}

// fetchAuthServer fetches issuer's metadata from the first well-known URL
// that has it, checks it (checkAuthServer), and says at which URL it was
// found, with the document's bytes. Without a document anywhere it is an
// error, except for a legacy (2025-03-26) server, which gets the default
// endpoints at its root.
func fetchAuthServer(ctx context.Context, c *http.Client, issuer string, legacy, interactive bool) (*oauthex.AuthServerMeta, []byte, string, error) {
	for _, u := range authServerMetadataURLs(issuer) {
		var asm oauthex.AuthServerMeta
		var body []byte
		found, err := fetchMetadata(ctx, c, u, "authorization-server metadata", issuer, &asm, &body)
		if err != nil {
			return nil, nil, "", err
		}
		if !found {
			continue
		}
		if err := checkAuthServer(&asm, issuer, interactive); err != nil {
			return nil, nil, "", err
		}
		return &asm, body, u, nil
	}
	if !legacy {
		return nil, nil, "", newErr("discovery", CheckNoMetadata, issuer, "authorization server publishes no metadata at any well-known URL")
	}
	// 2025-03-26 fallback: default endpoints at the server root.
	base := strings.TrimSuffix(issuer, "/")
	return &oauthex.AuthServerMeta{
		Issuer:                        issuer,
		AuthorizationEndpoint:         base + "/authorize",
		TokenEndpoint:                 base + "/token",
		RegistrationEndpoint:          base + "/register",
		CodeChallengeMethodsSupported: []string{"S256"},
	}, nil, "", nil
}

// checkAuthServer makes every check on issuer's metadata document, the
// go-sdk's (oauthex.GetAuthServerMeta) and mcpauthd's stricter ones, in
// one place: the issuer identical to the one the URL was built from
// (RFC 8414 §3.3: not "equal after trimming a slash"); for a browser
// sign-in (interactive) PKCE S256 and an authorization_endpoint; a
// token_endpoint; every endpoint mcpauthd may call https (or http on
// loopback) and not a private or reserved IP literal; every other URL in it
// http or https (no scheme that runs script).
func checkAuthServer(asm *oauthex.AuthServerMeta, issuer string, interactive bool) error {
	if asm.Issuer != issuer {
		return newErr("discovery", CheckIssuerMismatch, issuer, "authorization-server metadata names issuer %q; it must be identical to %q", clip(asm.Issuer), issuer)
	}
	if interactive && !slices.Contains(asm.CodeChallengeMethodsSupported, "S256") {
		return newErr("discovery", CheckNoPKCE, issuer, "authorization server does not advertise PKCE S256 (code_challenge_methods_supported: %q)", asm.CodeChallengeMethodsSupported)
	}
	if (interactive && asm.AuthorizationEndpoint == "") || asm.TokenEndpoint == "" {
		return newErr("discovery", CheckBadMetadata, issuer, "authorization-server metadata lacks authorization_endpoint or token_endpoint")
	}
	for _, ep := range []struct {
		name, url string
		called    bool // mcpauthd sends requests (or the browser) there
	}{
		{"authorization_endpoint", asm.AuthorizationEndpoint, true},
		{"token_endpoint", asm.TokenEndpoint, true},
		{"registration_endpoint", asm.RegistrationEndpoint, true},
		{"revocation_endpoint", asm.RevocationEndpoint, true},
		{"introspection_endpoint", asm.IntrospectionEndpoint, true},
		{"jwks_uri", asm.JWKSURI, false},
		{"service_documentation", asm.ServiceDocumentation, false},
		{"op_policy_uri", asm.OpPolicyURI, false},
		{"op_tos_uri", asm.OpTOSURI, false},
	} {
		if ep.url == "" {
			continue
		}
		p := urlProblem(ep.url, true)
		if !ep.called {
			p = ""
			if u, err := url.Parse(ep.url); err != nil || (!strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http")) {
				p = "is not an http(s) URL"
			}
		}
		if p != "" {
			return newErr("discovery", CheckInsecureEndpoint, issuer, "authorization-server metadata has an unsafe endpoint: %s %q %s", ep.name, clip(ep.url), p)
		}
	}
	return nil
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// supportsPrompt says whether the authorization server is known to take
// prompt=select_account (value): listed in its prompt_values_supported, or
// its provider row says so (when it publishes no list).
func (md *Metadata) supportsPrompt(value string) bool {
	if len(md.PromptValues) > 0 {
		return slices.Contains(md.PromptValues, value)
	}
	return value == "select_account" && md.Quirk != nil && md.Quirk.TakesSelectAccount
}
