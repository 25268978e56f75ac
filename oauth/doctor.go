package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Outcomes of a DoctorStep.
const (
	DoctorOK   = "ok"   // the step would succeed
	DoctorInfo = "info" // a fact about the sign-in, neither good nor bad
	DoctorWarn = "warn" // the sign-in works, with a limitation
	DoctorFail = "fail" // the sign-in would fail here
)

// DoctorStep is one step of a sign-in as Doctor found it.
type DoctorStep struct {
	Step    string `json:"step"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail"`
}

// DoctorReport is what a sign-in to URL would need and where it would fail.
// It holds no secret.
type DoctorReport struct {
	URL   string       `json:"url"`
	Steps []DoctorStep `json:"steps"`
	// Metadata is the discovery result, when discovery succeeded.
	Metadata *Metadata `json:"-"`
}

// Failed reports whether a step failed.
func (r *DoctorReport) Failed() bool {
	return slices.ContainsFunc(r.Steps, func(s DoctorStep) bool { return s.Outcome == DoctorFail })
}

func (r *DoctorReport) add(step, outcome, format string, args ...any) {
	r.Steps = append(r.Steps, DoctorStep{Step: step, Outcome: outcome, Detail: fmt.Sprintf(format, args...)})
}

// Doctor probes serverURL without signing in — the same requests a sign-in
// starts with, GETs of public metadata and one unauthenticated MCP
// initialize, nothing registered, no browser — and reports each step: is it
// an MCP server, is it protected, the protected-resource metadata (which
// URL answered) and its resource, the authorization server's metadata
// (which URL), PKCE, iss, how mcpauthd's client would be registered, the
// scopes it would ask for, the provider quirks that apply, DPoP and the
// device grant. preregistered says a client id is set for the server; o are
// its settings. The first failing step ends the report.
func Doctor(ctx context.Context, c *http.Client, cfg ClientConfig, serverURL string, preregistered bool, o *Overrides) *DoctorReport {
	r := &DoctorReport{URL: serverURL}
	via := "" // how the server is reached, when not directly
	if px := proxyFor(c, serverURL); px != "" {
		via = "; reached through the proxy " + px
	}
	p, err := Probe(ctx, c, serverURL)
	if err != nil {
		r.add("MCP server", DoctorFail, "%v%s", err, via)
		return r
	}
	if p.Public {
		r.add("MCP server", DoctorOK, "answers an MCP initialize without authorization: no sign-in needed%s", via)
		return r
	}
	ch := p.Challenge
	detail := fmt.Sprintf("asks for authorization (HTTP %d)", ch.Status)
	if ch.ResourceMetadata != "" {
		detail += "; resource_metadata " + ch.ResourceMetadata
	}
	if len(ch.Scopes) > 0 {
		detail += "; scope " + strings.Join(ch.Scopes, " ")
	}
	detail += via
	r.add("MCP server", DoctorOK, "%s", detail)
	md, err := Discover(ctx, c, serverURL, ch)
	if err != nil {
		var e *Error
		step := "discovery"
		if errors.As(err, &e) {
			step = doctorStepOf(e.Check)
		}
		r.add(step, DoctorFail, "%v", err)
		return r
	}
	r.Metadata = md
	md.Quirk = ResolveQuirk(md.Issuer, o)
	if md.Legacy {
		r.add("protected-resource metadata", DoctorWarn, "none at any well-known URL: the 2025-03-26 rules apply (the server's origin %s is its authorization server)", md.Issuer)
	} else {
		r.add("protected-resource metadata", DoctorOK, "found at %s; resource %s matches the server", md.ResourceMetadataURL, md.Resource)
	}
	if md.AuthServerMetadataURL == "" {
		r.add("authorization-server metadata", DoctorWarn, "none: the default endpoints at %s are used", md.Issuer)
	} else {
		r.add("authorization-server metadata", DoctorOK, "issuer %s, found at %s", md.Issuer, md.AuthServerMetadataURL)
	}
	r.add("PKCE", DoctorOK, "S256 advertised")
	if md.AuthServer.AuthorizationResponseIssParameterSupported {
		r.add("iss (RFC 9207)", DoctorOK, "the authorization response names its issuer")
	} else {
		r.add("iss (RFC 9207)", DoctorInfo, "not advertised: an authorization response without iss is accepted")
	}
	asm := md.AuthServer
	redirect := ""
	if len(cfg.RedirectURIs) > 0 {
		redirect = cfg.RedirectURIs[0]
	}
	switch {
	case preregistered:
		r.add("registration", DoctorOK, "a pre-registered client is set for this server")
	case cfg.ClientIDMetadataURL != "" && asm.ClientIDMetadataDocumentSupported:
		r.add("registration", DoctorOK, "Client ID Metadata Document %s", cfg.ClientIDMetadataURL)
	case asm.RegistrationEndpoint != "":
		r.add("registration", DoctorOK, "dynamic registration at %s (not tried: it would create a client)", asm.RegistrationEndpoint)
	default:
		msg := "the authorization server offers neither Client ID Metadata Documents nor dynamic registration: register a client with it (redirect URI " + redirect + ") and sign in with --client-id"
		if md.Quirk != nil && md.Quirk.NoRegistration != "" {
			msg = strings.ReplaceAll(md.Quirk.NoRegistration, "{redirect_uri}", redirect)
		}
		r.add("registration", DoctorFail, "%s", msg)
		return r
	}
	scopes := loginScopes(ch, md, o, nil, nil, true)
	switch {
	case len(scopes) == 0:
		r.add("scopes", DoctorInfo, "none named by the server: the authorization server's default")
	case slices.Contains(scopes, OfflineAccess):
		r.add("scopes", DoctorOK, "%s (offline_access with prompt=consent, for a refresh token)", strings.Join(scopes, " "))
	default:
		r.add("scopes", DoctorOK, "%s", strings.Join(scopes, " "))
	}
	if s := md.Quirk.Summary(); s != "" {
		r.add("provider", DoctorInfo, "%s", s)
	} else {
		r.add("provider", DoctorInfo, "no quirks known for %s", md.Issuer)
	}
	if WantsDPoP(md) {
		r.add("DPoP", DoctorInfo, "tokens will be bound to a key only mcpauthd holds (RFC 9449)")
	} else {
		r.add("DPoP", DoctorInfo, "not offered: Bearer tokens")
	}
	if md.DeviceAuthorizationEndpoint != "" {
		r.add("device grant", DoctorInfo, "offered: `mcpauthd login --no-browser` signs in from another device")
	}
	return r
}

// doctorStepOf names the step a discovery failure belongs to.
func doctorStepOf(c Check) string {
	switch c {
	case CheckResourceMismatch:
		return "resource"
	case CheckIssuerMismatch, CheckNoMetadata:
		return "authorization-server metadata"
	case CheckNoPKCE:
		return "PKCE"
	case CheckNetwork:
		return "network"
	default:
		return "discovery"
	}
}
