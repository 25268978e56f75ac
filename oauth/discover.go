package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/auth"
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

func findProtectedResource(ctx context.Context, c *http.Client, serverURL, fromChallenge string) (*oauthex.ProtectedResourceMetadata, string, error) {
	for _, cand := range prmCandidates(serverURL, fromChallenge) {
		var lastErr error
		for _, want := range cand.resource {
			rc, rec := recording(c)
			prm, err := oauthex.GetProtectedResourceMetadata(ctx, cand.url, want, rc)
			if err == nil {
				if len(prm.AuthorizationServers) == 0 {
					return nil, "", newErr("discovery", CheckBadMetadata, cand.url, "protected-resource metadata lists no authorization_servers")
				}
				for i, as := range prm.AuthorizationServers {
					if err := checkEndpoint("discovery", "authorization_servers["+strconv.Itoa(i)+"]", as); err != nil {
						return nil, "", err
					}
				}
				return prm, cand.url, nil
			}
			switch st := rec.status(); {
			case st == 0:
				return nil, "", netErr("discovery", cand.url, err)
			case st >= 400 && st < 500:
				lastErr = nil // not here: try the next location
			case st == http.StatusOK && strings.Contains(err.Error(), "got metadata resource"):
				lastErr = wrapErr("discovery", CheckResourceMismatch, cand.url, err,
					"protected-resource metadata is for another resource; refusing to sign in to %s with it", serverURL)
				continue // a root document may still name the other accepted form
			case st == http.StatusOK && strings.Contains(err.Error(), "authorization_servers["):
				return nil, "", wrapErr("discovery", CheckInsecureEndpoint, cand.url, err, "protected-resource metadata names an unsafe authorization server")
			case st == http.StatusOK:
				return nil, "", wrapErr("discovery", CheckBadMetadata, cand.url, err, "unusable protected-resource metadata")
			default:
				return nil, "", newErr("discovery", CheckBadMetadata, cand.url, "server answered HTTP %d for protected-resource metadata", st)
			}
			break
		}
		if lastErr != nil {
			return nil, "", lastErr
		}
	}
	return nil, "", nil
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
	}
	if body == nil || json.Unmarshal(body, &extra) != nil {
		return nil
	}
	md.DPoPSigningAlgs = extra.DPoPAlgs
	if extra.Device == "" {
		return nil
	}
	if err := checkEndpoint("discovery", "device_authorization_endpoint", extra.Device); err != nil {
		return err
	}
	md.DeviceAuthorizationEndpoint = extra.Device
	return nil
}

// fetchAuthServer fetches and validates issuer's metadata, and says at
// which URL it was found. interactive
// (a browser sign-in) requires PKCE S256 and an authorization_endpoint;
// the non-interactive grants need neither.
func fetchAuthServer(ctx context.Context, c *http.Client, issuer string, legacy, interactive bool) (*oauthex.AuthServerMeta, []byte, string, error) {
	rc, rec := recording(c)
	rec.keepBody = true
	asm, err := auth.GetAuthServerMetadata(ctx, issuer, rc)
	if err != nil && !interactive && rec.status() == http.StatusOK && strings.Contains(err.Error(), "does not implement PKCE") {
		// The SDK refuses a document without code_challenge_methods_supported
		// (after checking its URL and issuer, before checking its endpoints).
		// Without a browser PKCE is not used: take the document it refused;
		// the checks below (issuer identity, endpoints) still apply.
		asm, err = decodeAuthServerMeta(rec.lastBody())
	}
	if err != nil {
		msg := err.Error()
		switch {
		case rec.status() == 0:
			return nil, nil, "", netErr("discovery", issuer, err)
		case strings.Contains(msg, "does not match issuer"):
			return nil, nil, "", wrapErr("discovery", CheckIssuerMismatch, issuer, err, "authorization-server metadata names a different issuer; it must not be used")
		case strings.Contains(msg, "does not implement PKCE"):
			return nil, nil, "", newErr("discovery", CheckNoPKCE, issuer, "authorization server does not support PKCE (code_challenge_methods_supported is missing)")
		case strings.Contains(msg, "HTTPS") || strings.Contains(msg, "scheme") || strings.Contains(msg, "non-public"):
			return nil, nil, "", wrapErr("discovery", CheckInsecureEndpoint, issuer, err, "authorization-server metadata has an unsafe endpoint")
		default:
			return nil, nil, "", wrapErr("discovery", CheckBadMetadata, issuer, err, "unusable authorization-server metadata")
		}
	}
	if asm == nil {
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
	// RFC 8414 §3.3: identical, not "equal after trimming a slash".
	if asm.Issuer != issuer {
		return nil, nil, "", newErr("discovery", CheckIssuerMismatch, issuer, "authorization-server metadata names issuer %q; it must be identical to %q", asm.Issuer, issuer)
	}
	if interactive && !slices.Contains(asm.CodeChallengeMethodsSupported, "S256") {
		return nil, nil, "", newErr("discovery", CheckNoPKCE, issuer, "authorization server does not advertise PKCE S256 (code_challenge_methods_supported: %v)", asm.CodeChallengeMethodsSupported)
	}
	if (interactive && asm.AuthorizationEndpoint == "") || asm.TokenEndpoint == "" {
		return nil, nil, "", newErr("discovery", CheckBadMetadata, issuer, "authorization-server metadata lacks authorization_endpoint or token_endpoint")
	}
	for _, ep := range []struct{ name, url string }{
		{"authorization_endpoint", asm.AuthorizationEndpoint},
		{"token_endpoint", asm.TokenEndpoint},
		{"registration_endpoint", asm.RegistrationEndpoint},
		{"revocation_endpoint", asm.RevocationEndpoint},
	} {
		if ep.url == "" {
			continue
		}
		if err := checkEndpoint("discovery", ep.name, ep.url); err != nil {
			return nil, nil, "", err
		}
	}
	return asm, rec.lastBody(), rec.lastURL(), nil
}

// decodeAuthServerMeta decodes an authorization-server metadata document
// the SDK refused for its missing PKCE support, and makes the SDK's
// remaining check: no URL in it may have a scheme that runs script. The
// endpoints mcpauthd calls are checked further by fetchAuthServer.
func decodeAuthServerMeta(body []byte) (*oauthex.AuthServerMeta, error) {
	var asm oauthex.AuthServerMeta
	if err := json.Unmarshal(body, &asm); err != nil {
		return nil, err
	}
	for _, ep := range []struct{ name, url string }{
		{"jwks_uri", asm.JWKSURI}, {"service_documentation", asm.ServiceDocumentation}, {"op_policy_uri", asm.OpPolicyURI},
		{"op_tos_uri", asm.OpTOSURI}, {"introspection_endpoint", asm.IntrospectionEndpoint},
	} {
		if ep.url == "" {
			continue
		}
		if u, err := url.Parse(ep.url); err != nil || (!strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http")) {
			return nil, fmt.Errorf("%s: URL has a disallowed scheme", ep.name)
		}
	}
	return &asm, nil
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
