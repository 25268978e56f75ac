package ipc

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Validate checks that c is a complete grant configuration of one type:
// a known Type, a client id, what that type needs (client_credentials: a
// client secret or a private key, not both; jwt_bearer: the workload JWT
// or the absolute path of a file holding it, not both; enterprise: the
// user's ID token (or IdPSession, with the IdP's issuer), the IdP's http(s)
// issuer or token endpoint and mcpauthd's client id there) and no field of another type. It is the one
// check every face (the CLI's flags, the web page's form) and the daemon
// apply; it reads no file and does not parse keys or tokens (the daemon
// does that before it stores c). The error names what is wrong and never
// holds a secret.
func (c *GrantConfig) Validate() error {
	if c == nil {
		return errors.New("no grant configured")
	}
	switch c.Type {
	case GrantClientCredentials, GrantJWTBearer, GrantEnterprise:
	default:
		return fmt.Errorf("unknown grant type %q (want %s, %s or %s)", clipText(c.Type), GrantClientCredentials, GrantJWTBearer, GrantEnterprise)
	}
	if strings.TrimSpace(c.ClientID) == "" {
		return fmt.Errorf("the %s grant needs the client id", c.Type)
	}
	hasKey := strings.TrimSpace(c.PrivateKey) != ""
	if c.ClientSecret != "" && hasKey {
		return errors.New("give the client's secret or its private key, not both")
	}
	if c.Type != GrantJWTBearer && (c.Assertion != "" || c.AssertionFile != "") {
		return fmt.Errorf("a workload JWT is for the %s grant", GrantJWTBearer)
	}
	if c.Type != GrantEnterprise && (c.IdPIssuer != "" || c.IdPTokenEndpoint != "" || c.IdPClientID != "" || c.IdPClientSecret != "" || c.IDToken != "" || c.IdPSession) {
		return fmt.Errorf("the IdP settings and the ID token are for the %s grant", GrantEnterprise)
	}
	switch c.Type {
	case GrantClientCredentials:
		if c.ClientSecret == "" && !hasKey {
			return fmt.Errorf("the %s grant needs the client's secret or its private key", c.Type)
		}
	case GrantJWTBearer:
		switch {
		case strings.TrimSpace(c.Assertion) == "" && c.AssertionFile == "":
			return fmt.Errorf("the %s grant needs the workload JWT or a file holding it", c.Type)
		case c.Assertion != "" && c.AssertionFile != "":
			return errors.New("give the workload JWT or a file holding it, not both")
		case c.AssertionFile != "" && !filepath.IsAbs(c.AssertionFile):
			return fmt.Errorf("the workload JWT file %s is not an absolute path", clipText(c.AssertionFile))
		}
	case GrantEnterprise:
		switch {
		case c.IdPSession && c.IDToken != "":
			return errors.New("give an ID token or sign in at the IdP, not both")
		case c.IdPSession && c.IdPIssuer == "":
			return fmt.Errorf("signing in at the IdP needs its issuer")
		case !c.IdPSession && strings.TrimSpace(c.IDToken) == "":
			return fmt.Errorf("the %s grant needs the user's ID token from the IdP (or a sign-in at the IdP)", c.Type)
		case c.IdPIssuer == "" && c.IdPTokenEndpoint == "":
			return fmt.Errorf("the %s grant needs the IdP's issuer (or its token endpoint)", c.Type)
		case c.IdPIssuer != "" && !IsHTTPURL(c.IdPIssuer):
			return errors.New("the IdP issuer is not an http(s) URL")
		case c.IdPTokenEndpoint != "" && !IsHTTPURL(c.IdPTokenEndpoint):
			return errors.New("the IdP token endpoint is not an http(s) URL")
		case strings.TrimSpace(c.IdPClientID) == "":
			return fmt.Errorf("the %s grant needs mcpauthd's client id at the IdP", c.Type)
		}
	}
	return nil
}

// Public is c without its secrets: what the daemon keeps in the server's
// record. Secrets is the rest. Both marshal with GrantConfig's field
// names, so Public merged with Secrets (Join) is c again.
func (c *GrantConfig) Public() *GrantConfig {
	p := *c
	p.ClientSecret, p.PrivateKey, p.Assertion, p.IdPClientSecret, p.IDToken = "", "", "", "", ""
	return &p
}

// Secrets is c's secrets alone (ClientSecret, PrivateKey, Assertion,
// IdPClientSecret, IDToken): what the daemon keeps sealed.
func (c *GrantConfig) Secrets() *GrantConfig {
	return &GrantConfig{ClientSecret: c.ClientSecret, PrivateKey: c.PrivateKey, Assertion: c.Assertion,
		IdPClientSecret: c.IdPClientSecret, IDToken: c.IDToken}
}

// Join is c's Public part with the secrets of sec (nil: none).
func (c *GrantConfig) Join(sec *GrantConfig) *GrantConfig {
	j := c.Public()
	if sec != nil {
		j.ClientSecret, j.PrivateKey, j.Assertion, j.IdPClientSecret, j.IDToken = sec.ClientSecret, sec.PrivateKey, sec.Assertion, sec.IdPClientSecret, sec.IDToken
	}
	return j
}

// clipText shortens s (a value the caller gave) for an error message.
func clipText(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
