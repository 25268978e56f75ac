package ipc

import (
	"strings"
	"testing"
)

// TestGrantConfigValidate: each grant type accepts a complete configuration
// and refuses a missing, contradictory or foreign field with an error that
// names it and holds no secret.
func TestGrantConfigValidate(t *testing.T) {
	const secret = "SECRET-value"
	cc := func(f func(*GrantConfig)) *GrantConfig {
		c := &GrantConfig{Type: GrantClientCredentials, ClientID: "robot", ClientSecret: secret}
		f(c)
		return c
	}
	jb := func(f func(*GrantConfig)) *GrantConfig {
		c := &GrantConfig{Type: GrantJWTBearer, ClientID: "robot", Assertion: secret}
		f(c)
		return c
	}
	ent := func(f func(*GrantConfig)) *GrantConfig {
		c := &GrantConfig{Type: GrantEnterprise, ClientID: "robot", IdPIssuer: "https://idp.example", IdPClientID: "idp-client", IDToken: secret}
		f(c)
		return c
	}
	same := func(*GrantConfig) {}
	for _, tt := range []struct {
		name string
		c    *GrantConfig
		want string // "" valid, else a part of the error
	}{
		{"nil", nil, "no grant"},
		{"unknown type", &GrantConfig{Type: "password", ClientID: "robot"}, `unknown grant type "password"`},
		{"empty type", &GrantConfig{ClientID: "robot"}, "unknown grant type"},
		{"cc secret", cc(same), ""},
		{"cc key", cc(func(c *GrantConfig) { c.ClientSecret, c.PrivateKey, c.SigningAlg = "", secret, "ES256" }), ""},
		{"cc bound", cc(func(c *GrantConfig) { c.ClientIssuer = "https://as.example" }), ""},
		{"cc no client id", cc(func(c *GrantConfig) { c.ClientID = " " }), "needs the client id"},
		{"cc neither", cc(func(c *GrantConfig) { c.ClientSecret = "" }), "secret or its private key"},
		{"cc blank key", cc(func(c *GrantConfig) { c.ClientSecret, c.PrivateKey = "", " \n" }), "secret or its private key"},
		{"cc both", cc(func(c *GrantConfig) { c.PrivateKey = secret }), "not both"},
		{"cc assertion", cc(func(c *GrantConfig) { c.Assertion = secret }), "workload JWT is for the jwt_bearer"},
		{"cc assertion file", cc(func(c *GrantConfig) { c.AssertionFile = "/run/token" }), "workload JWT is for the jwt_bearer"},
		{"cc id token", cc(func(c *GrantConfig) { c.IDToken = secret }), "for the enterprise grant"},
		{"cc idp secret", cc(func(c *GrantConfig) { c.IdPClientSecret = secret }), "for the enterprise grant"},
		{"jb assertion", jb(same), ""},
		{"jb file", jb(func(c *GrantConfig) { c.Assertion, c.AssertionFile = "", "/run/token" }), ""},
		{"jb with client secret", jb(func(c *GrantConfig) { c.ClientSecret = secret + "2" }), ""},
		{"jb neither", jb(func(c *GrantConfig) { c.Assertion = "  " }), "needs the workload JWT"},
		{"jb both", jb(func(c *GrantConfig) { c.AssertionFile = "/run/token" }), "not both"},
		{"jb relative file", jb(func(c *GrantConfig) { c.Assertion, c.AssertionFile = "", "run/token" }), "not an absolute path"},
		{"jb idp", jb(func(c *GrantConfig) { c.IdPIssuer = "https://idp.example" }), "for the enterprise grant"},
		{"ent", ent(same), ""},
		{"ent token endpoint", ent(func(c *GrantConfig) { c.IdPIssuer, c.IdPTokenEndpoint = "", "https://idp.example/token" }), ""},
		{"ent no id token", ent(func(c *GrantConfig) { c.IDToken = "" }), "needs the user's ID token"},
		{"ent no idp", ent(func(c *GrantConfig) { c.IdPIssuer = "" }), "needs the IdP's issuer"},
		{"ent issuer not http", ent(func(c *GrantConfig) { c.IdPIssuer = "file:///etc/passwd" }), "IdP issuer is not an http(s) URL"},
		{"ent issuer with user", ent(func(c *GrantConfig) { c.IdPIssuer = "https://u:p@idp.example" }), "IdP issuer is not an http(s) URL"},
		{"ent endpoint not http", ent(func(c *GrantConfig) { c.IdPTokenEndpoint = "ftp://idp.example" }), "token endpoint is not an http(s) URL"},
		{"ent no idp client", ent(func(c *GrantConfig) { c.IdPClientID = "" }), "client id at the IdP"},
		{"ent no client id", ent(func(c *GrantConfig) { c.ClientID = "" }), "needs the client id"},
		{"ent assertion", ent(func(c *GrantConfig) { c.Assertion = secret }), "workload JWT is for the jwt_bearer"},
		{"ent idp session", ent(func(c *GrantConfig) { c.IDToken, c.IdPSession = "", true }), ""},
		{"ent idp session and token", ent(func(c *GrantConfig) { c.IdPSession = true }), "not both"},
		{"ent idp session, endpoint only", ent(func(c *GrantConfig) {
			c.IDToken, c.IdPSession, c.IdPIssuer, c.IdPTokenEndpoint = "", true, "", "https://idp.example/token"
		}), "needs its issuer"},
		{"cc idp session", cc(func(c *GrantConfig) { c.IdPSession = true }), "for the enterprise grant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v; want ok", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate: %v; want an error with %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), secret):
				t.Fatalf("Validate's error holds a secret: %v", err)
			}
		})
	}
}

// TestGrantConfigSplit: Public holds no secret, Secrets nothing else, and
// Join puts them together again.
func TestGrantConfigSplit(t *testing.T) {
	c := &GrantConfig{Type: GrantEnterprise, ClientID: "robot", ClientSecret: "s1", PrivateKey: "s2", SigningAlg: "ES256", ClientIssuer: "https://as.example",
		Assertion: "s3", AssertionFile: "/run/token", IdPIssuer: "https://idp.example", IdPTokenEndpoint: "https://idp.example/token",
		IdPClientID: "idp-client", IdPClientSecret: "s4", IDToken: "s5"}
	p, s := c.Public(), c.Secrets()
	if want := (GrantConfig{Type: c.Type, ClientID: c.ClientID, SigningAlg: c.SigningAlg, ClientIssuer: c.ClientIssuer, AssertionFile: c.AssertionFile,
		IdPIssuer: c.IdPIssuer, IdPTokenEndpoint: c.IdPTokenEndpoint, IdPClientID: c.IdPClientID}); *p != want {
		t.Fatalf("Public: %+v", p)
	}
	if want := (GrantConfig{ClientSecret: "s1", PrivateKey: "s2", Assertion: "s3", IdPClientSecret: "s4", IDToken: "s5"}); *s != want {
		t.Fatalf("Secrets: %+v", s)
	}
	if j := p.Join(s); *j != *c {
		t.Fatalf("Join: %+v", j)
	}
	if j := c.Join(nil); *j != *p {
		t.Fatalf("Join(nil): %+v", j)
	}
}
