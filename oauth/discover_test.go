package oauth_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/oauth"
)

func TestProbe(t *testing.T) {
	t.Run("challenge", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.ChallengeScope = "read write" })
		p, err := oauth.Probe(ctxT(t), newClient(), f.ServerURL)
		if err != nil {
			t.Fatal(err)
		}
		if p.Public || p.Challenge == nil {
			t.Fatalf("Probe = %+v; want a challenge", p)
		}
		ch := p.Challenge
		if ch.Status != http.StatusUnauthorized || ch.ResourceMetadata != f.MCP.URL+"/.well-known/oauth-protected-resource/mcp" ||
			!slices.Equal(ch.Scopes, []string{"read", "write"}) {
			t.Errorf("challenge = %+v", ch)
		}
		if got := f.Paths("mcp"); !slices.Equal(got, []string{"POST /mcp"}) {
			t.Errorf("requests = %v; want one POST", got)
		}
	})
	t.Run("public server, session deleted", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.MCPPublic = true; f.MCPSessionID = "sess-1" })
		p, err := oauth.Probe(ctxT(t), newClient(), f.ServerURL)
		if err != nil || !p.Public {
			t.Fatalf("Probe = %+v, %v; want public", p, err)
		}
		reqs := f.MCPRequests()
		if len(reqs) != 2 || reqs[1].Method != http.MethodDelete || reqs[1].Header.Get("Mcp-Session-Id") != "sess-1" {
			t.Errorf("want POST then DELETE with the session id; got %v", f.Paths("mcp"))
		}
	})
	t.Run("not an MCP endpoint", func(t *testing.T) {
		f := newFake(t)
		u := f.MCP.URL + "/nothing"
		_, err := oauth.Probe(ctxT(t), newClient(), u)
		wantErr(t, err, oauth.ErrServer, u)
	})
	for _, bad := range []string{"mcp.example.com", "https://mcp.example.com/#frag", "https://user:pw@mcp.example.com/", "http://mcp.example.com/mcp", "ftp://mcp.example.com/"} {
		t.Run("bad server URL "+bad, func(t *testing.T) {
			_, err := oauth.Probe(ctxT(t), newClient(), bad)
			if !errorIsAny(err, oauth.ErrServer, oauth.ErrInsecureEndpoint) {
				t.Fatalf("err = %v; want ErrServer or ErrInsecureEndpoint", err)
			}
			if !strings.Contains(err.Error(), bad) {
				t.Errorf("error %q does not name %q", err, bad)
			}
		})
	}
}

func errorIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if err != nil && errors.Is(err, t) {
			return true
		}
	}
	return false
}

func TestDiscoverHappy(t *testing.T) {
	f := newFake(t)
	md := discoverFake(t, f)
	if md.Legacy || md.Resource != f.ServerURL || md.Issuer != f.Issuer ||
		md.ResourceMetadataURL != f.MCP.URL+"/.well-known/oauth-protected-resource/mcp" ||
		md.AuthServer.TokenEndpoint != f.AS.URL+"/token" || md.Protected == nil {
		t.Errorf("metadata = %+v", md)
	}
	for _, l := range f.Log() {
		if !strings.Contains(l, " GET ") && !strings.HasPrefix(l, "mcp POST /mcp") {
			t.Errorf("discovery sent %s; it must only GET", l)
		}
	}
}

// prmHandler serves body with the given status and content type.
func rawHandler(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestDiscoverPRMRejections(t *testing.T) {
	const prmPath = "/.well-known/oauth-protected-resource/mcp"
	tests := []struct {
		name string
		// set configures the fake; it may return the PRM body to serve raw.
		set  func(f *fake)
		want error
		// urls the error must name, after replacing {mcp} and {server}.
		urls []string
	}{
		{
			name: "resource is another server",
			set:  func(f *fake) { f.PRM["resource"] = "https://other.example.com/mcp" },
			want: oauth.ErrResourceMismatch, urls: []string{"{mcp}" + prmPath, "{server}"},
		},
		{
			name: "resource has a trailing slash",
			set:  func(f *fake) { f.PRM["resource"] = f.ServerURL + "/" },
			want: oauth.ErrResourceMismatch, urls: []string{"{mcp}" + prmPath, "{server}"},
		},
		{
			name: "resource differs in case",
			set:  func(f *fake) { f.PRM["resource"] = f.MCP.URL + "/MCP" },
			want: oauth.ErrResourceMismatch, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "resource is the origin at the path-inserted URL",
			set:  func(f *fake) { f.PRM["resource"] = f.MCP.URL },
			want: oauth.ErrResourceMismatch, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "resource mismatch at the challenge's URL is final",
			set: func(f *fake) {
				f.PRMPath = "/custom/prm"
				f.PRM["resource"] = "https://other.example.com/mcp"
			},
			want: oauth.ErrResourceMismatch, urls: []string{"{mcp}/custom/prm"},
		},
		{
			name: "root document for another path",
			set: func(f *fake) {
				f.ChallengeRM = false
				f.PRMPath = "/.well-known/oauth-protected-resource"
				f.PRM["resource"] = f.MCP.URL + "/other"
			},
			want: oauth.ErrResourceMismatch, urls: []string{"{mcp}/.well-known/oauth-protected-resource"},
		},
		{
			name: "no authorization_servers",
			set:  func(f *fake) { delete(f.PRM, "authorization_servers") },
			want: oauth.ErrBadMetadata, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "empty authorization_servers",
			set:  func(f *fake) { f.PRM["authorization_servers"] = []string{} },
			want: oauth.ErrBadMetadata, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "HTTP 500",
			set:  func(f *fake) { f.Handlers["mcp:"+prmPath] = rawHandler(500, "application/json", `{}`) },
			want: oauth.ErrBadMetadata, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "HTTP 500 at the challenge's URL",
			set: func(f *fake) {
				f.PRMPath = "/custom/prm"
				f.Handlers["mcp:/custom/prm"] = rawHandler(500, "text/plain", `oops`)
			},
			want: oauth.ErrBadMetadata, urls: []string{"{mcp}/custom/prm"},
		},
		{
			name: "garbled JSON",
			set:  func(f *fake) { f.Handlers["mcp:"+prmPath] = rawHandler(200, "application/json", `{"resource": nope}`) },
			want: oauth.ErrBadMetadata, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "truncated JSON",
			set: func(f *fake) {
				f.Handlers["mcp:"+prmPath] = rawHandler(200, "application/json", `{"resource":"`+f.ServerURL+`","authorization_servers":["`+f.Issuer)
			},
			want: oauth.ErrBadMetadata, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "JSON of the wrong shape",
			set:  func(f *fake) { f.Handlers["mcp:"+prmPath] = rawHandler(200, "application/json", `["resource"]`) },
			want: oauth.ErrBadMetadata, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "oversized (over 1 MiB)",
			set: func(f *fake) {
				big := `{"resource":"` + f.ServerURL + `","authorization_servers":["` + f.Issuer + `"],"resource_name":"` +
					strings.Repeat("x", 1<<20+10) + `"}`
				f.Handlers["mcp:"+prmPath] = rawHandler(200, "application/json", big)
			},
			want: oauth.ErrBadMetadata, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "wrong content type",
			set: func(f *fake) {
				f.Handlers["mcp:"+prmPath] = rawHandler(200, "text/html", `{"resource":"`+f.ServerURL+`","authorization_servers":["`+f.Issuer+`"]}`)
			},
			want: oauth.ErrBadMetadata, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "authorization server javascript:",
			set:  func(f *fake) { f.PRM["authorization_servers"] = []string{"javascript:alert(1)"} },
			want: oauth.ErrInsecureEndpoint, urls: []string{"{mcp}" + prmPath},
		},
		{
			name: "authorization server file:",
			set:  func(f *fake) { f.PRM["authorization_servers"] = []string{"file:///etc/passwd"} },
			want: oauth.ErrInsecureEndpoint, urls: []string{"{mcp}" + prmPath, "file:///etc/passwd"},
		},
		{
			name: "authorization server non-loopback http:",
			set:  func(f *fake) { f.PRM["authorization_servers"] = []string{"http://auth.example.com"} },
			want: oauth.ErrInsecureEndpoint, urls: []string{"{mcp}" + prmPath, "http://auth.example.com"},
		},
		{
			name: "second authorization server insecure",
			set:  func(f *fake) { f.PRM["authorization_servers"] = []string{f.Issuer, "http://auth.example.com"} },
			want: oauth.ErrInsecureEndpoint, urls: []string{"http://auth.example.com"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.set)
			p, err := oauth.Probe(ctxT(t), newClient(), f.ServerURL)
			if err != nil {
				t.Fatal(err)
			}
			_, err = oauth.Discover(ctxT(t), newClient(), f.ServerURL, p.Challenge)
			var urls []string
			for _, u := range tt.urls {
				urls = append(urls, strings.NewReplacer("{mcp}", f.MCP.URL, "{server}", f.ServerURL).Replace(u))
			}
			wantErr(t, err, tt.want, urls...)
			if n := len(f.Paths("as")); n != 0 {
				t.Errorf("the authorization server was contacted %d times after bad PRM", n)
			}
		})
	}
}

func TestDiscoverChallengeResourceMetadataInsecure(t *testing.T) {
	f := newFake(t)
	for _, rm := range []string{"http://prm.example.com/prm", "javascript:alert(1)", "file:///etc/passwd"} {
		_, err := oauth.Discover(ctxT(t), newClient(), f.ServerURL, &oauth.Challenge{Status: 401, ResourceMetadata: rm})
		wantErr(t, err, oauth.ErrInsecureEndpoint, rm)
	}
	if n := len(f.Log()); n != 0 {
		t.Errorf("%d requests made for an insecure resource_metadata", n)
	}
}

func TestDiscoverPRMAccepted(t *testing.T) {
	tests := []struct {
		name         string
		set          func(f *fake)
		wantPath     string
		wantResource func(f *fake) string
	}{
		{
			name:         "challenge URL",
			set:          func(f *fake) { f.PRMPath = "/custom/prm" },
			wantPath:     "/custom/prm",
			wantResource: func(f *fake) string { return f.ServerURL },
		},
		{
			name:         "path inserted",
			set:          func(f *fake) { f.ChallengeRM = false },
			wantPath:     "/.well-known/oauth-protected-resource/mcp",
			wantResource: func(f *fake) string { return f.ServerURL },
		},
		{
			name:         "root naming the server URL",
			set:          func(f *fake) { f.ChallengeRM = false; f.PRMPath = "/.well-known/oauth-protected-resource" },
			wantPath:     "/.well-known/oauth-protected-resource",
			wantResource: func(f *fake) string { return f.ServerURL },
		},
		{
			// RFC 9728 §3.3: the root document describes the origin.
			name: "root naming the origin",
			set: func(f *fake) {
				f.ChallengeRM = false
				f.PRMPath = "/.well-known/oauth-protected-resource"
				f.PRM["resource"] = f.MCP.URL
			},
			wantPath:     "/.well-known/oauth-protected-resource",
			wantResource: func(f *fake) string { return f.MCP.URL },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.set)
			md := discoverFake(t, f)
			if md.ResourceMetadataURL != f.MCP.URL+tt.wantPath || md.Resource != tt.wantResource(f) || md.Legacy {
				t.Errorf("metadata from %s, resource %s, legacy %v; want %s, %s",
					md.ResourceMetadataURL, md.Resource, md.Legacy, tt.wantPath, tt.wantResource(f))
			}
		})
	}
}

func TestDiscoverPRMOrder(t *testing.T) {
	t.Run("challenge, then path-inserted, then root", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.PRMPath = "/custom/prm"; f.PRM = nil })
		md := discoverFake(t, f)
		got := f.Paths("mcp")
		want := []string{
			"POST /mcp",
			"GET /custom/prm",
			"GET /.well-known/oauth-protected-resource/mcp",
			"GET /.well-known/oauth-protected-resource",
			// no PRM anywhere: 2025-03-26, the server's origin is the AS
			"GET /.well-known/oauth-authorization-server",
			"GET /.well-known/openid-configuration",
		}
		if !slices.Equal(got, want) {
			t.Errorf("requests:\n got %q\nwant %q", got, want)
		}
		if !md.Legacy {
			t.Errorf("want legacy metadata")
		}
	})
	t.Run("without challenge URL", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.ChallengeRM = false; f.PRMPath = "/.well-known/oauth-protected-resource" })
		discoverFake(t, f)
		// The engine GETs the root document once per accepted resource form
		// (origin, then server URL); the order is what matters here.
		got := slices.Compact(f.Paths("mcp"))
		want := []string{"POST /mcp", "GET /.well-known/oauth-protected-resource/mcp", "GET /.well-known/oauth-protected-resource"}
		if !slices.Equal(got, want) {
			t.Errorf("requests:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("challenge URL found first stops the search", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.PRMPath = "/custom/prm" })
		discoverFake(t, f)
		got := f.Paths("mcp")
		want := []string{"POST /mcp", "GET /custom/prm"}
		if !slices.Equal(got, want) {
			t.Errorf("requests:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("server at the origin", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.ChallengeRM = false; f.PRM = nil })
		_, err := oauth.Discover(ctxT(t), newClient(), f.MCP.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := f.Paths("mcp")
		want := []string{"GET /.well-known/oauth-protected-resource",
			"GET /.well-known/oauth-authorization-server", "GET /.well-known/openid-configuration"}
		if !slices.Equal(got, want) {
			t.Errorf("requests:\n got %q\nwant %q", got, want)
		}
	})
}

func TestDiscoverASRejections(t *testing.T) {
	tests := []struct {
		name string
		set  func(f *fake)
		want error
		urls []string // {as} is replaced by the AS URL, {iss} by the issuer
	}{
		{
			name: "issuer of another server",
			set:  func(f *fake) { f.ASMeta["issuer"] = "https://honest.example" },
			want: oauth.ErrIssuerMismatch, urls: []string{"{iss}", "https://honest.example"},
		},
		{
			name: "issuer with a trailing slash",
			set:  func(f *fake) { f.ASMeta["issuer"] = f.Issuer + "/" },
			want: oauth.ErrIssuerMismatch, urls: []string{"{iss}"},
		},
		{
			name: "issuer in upper case",
			set:  func(f *fake) { f.ASMeta["issuer"] = strings.ToUpper(f.Issuer) },
			want: oauth.ErrIssuerMismatch, urls: []string{"{iss}"},
		},
		{
			name: "no code_challenge_methods_supported",
			set:  func(f *fake) { delete(f.ASMeta, "code_challenge_methods_supported") },
			want: oauth.ErrNoPKCE, urls: []string{"{iss}"},
		},
		{
			name: "only plain PKCE",
			set:  func(f *fake) { f.ASMeta["code_challenge_methods_supported"] = []string{"plain"} },
			want: oauth.ErrNoPKCE, urls: []string{"{iss}"},
		},
		{
			name: "http token endpoint",
			set:  func(f *fake) { f.ASMeta["token_endpoint"] = "http://example.com/token" },
			want: oauth.ErrInsecureEndpoint, urls: []string{"{iss}", "http://example.com/token"},
		},
		{
			name: "http authorization endpoint",
			set:  func(f *fake) { f.ASMeta["authorization_endpoint"] = "http://example.com/authorize" },
			want: oauth.ErrInsecureEndpoint, urls: []string{"{iss}", "http://example.com/authorize"},
		},
		{
			name: "file: token endpoint",
			set:  func(f *fake) { f.ASMeta["token_endpoint"] = "file:///etc/passwd" },
			want: oauth.ErrInsecureEndpoint, urls: []string{"{iss}", "file:///etc/passwd"},
		},
		{
			name: "javascript: authorization endpoint",
			set:  func(f *fake) { f.ASMeta["authorization_endpoint"] = "javascript:alert(1)" },
			want: oauth.ErrInsecureEndpoint, urls: []string{"{iss}"},
		},
		{
			name: "http registration endpoint",
			set:  func(f *fake) { f.ASMeta["registration_endpoint"] = "http://example.com/register" },
			want: oauth.ErrInsecureEndpoint, urls: []string{"http://example.com/register"},
		},
		{
			name: "http revocation endpoint",
			set:  func(f *fake) { f.ASMeta["revocation_endpoint"] = "http://example.com/revoke" },
			want: oauth.ErrInsecureEndpoint, urls: []string{"http://example.com/revoke"},
		},
		{
			name: "no token endpoint",
			set:  func(f *fake) { delete(f.ASMeta, "token_endpoint") },
			want: oauth.ErrBadMetadata, urls: []string{"{iss}"},
		},
		{
			name: "no metadata with PRM present",
			set:  func(f *fake) { f.ASMeta = nil },
			want: oauth.ErrNoMetadata, urls: []string{"{iss}"},
		},
		{
			name: "garbled metadata",
			set: func(f *fake) {
				f.Handlers["as:/.well-known/oauth-authorization-server"] = rawHandler(200, "application/json", "{")
			},
			want: oauth.ErrBadMetadata, urls: []string{"{iss}"},
		},
		{
			name: "metadata HTTP 500",
			set:  func(f *fake) { f.Handlers["as:/.well-known/oauth-authorization-server"] = rawHandler(500, "", "") },
			want: oauth.ErrBadMetadata, urls: []string{"{iss}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.set)
			_, err := oauth.Discover(ctxT(t), newClient(), f.ServerURL, nil)
			var urls []string
			for _, u := range tt.urls {
				urls = append(urls, strings.NewReplacer("{as}", f.AS.URL, "{iss}", f.Issuer).Replace(u))
			}
			wantErr(t, err, tt.want, urls...)
		})
	}
}

func TestDiscoverASOrder(t *testing.T) {
	tests := []struct {
		name       string
		issuerPath string
		servedAt   string // "" serves nothing
		want       []string
		wantErr    error
	}{
		{
			name: "issuer with path, nothing found", issuerPath: "/tenant1",
			want: []string{
				"GET /.well-known/oauth-authorization-server/tenant1",
				"GET /.well-known/openid-configuration/tenant1",
				"GET /tenant1/.well-known/openid-configuration",
			},
			wantErr: oauth.ErrNoMetadata,
		},
		{
			name: "issuer with path, OIDC path-inserted", issuerPath: "/tenant1",
			servedAt: "/.well-known/openid-configuration/tenant1",
			want: []string{
				"GET /.well-known/oauth-authorization-server/tenant1",
				"GET /.well-known/openid-configuration/tenant1",
			},
		},
		{
			name: "issuer with path, OIDC path-appended", issuerPath: "/tenant1",
			servedAt: "/tenant1/.well-known/openid-configuration",
			want: []string{
				"GET /.well-known/oauth-authorization-server/tenant1",
				"GET /.well-known/openid-configuration/tenant1",
				"GET /tenant1/.well-known/openid-configuration",
			},
		},
		{
			name: "issuer with path, RFC 8414 first", issuerPath: "/tenant1",
			servedAt: "/.well-known/oauth-authorization-server/tenant1",
			want:     []string{"GET /.well-known/oauth-authorization-server/tenant1"},
		},
		{
			// RFC 8414 §3.1: a terminating "/" is removed before insertion.
			name: "issuer path with a trailing slash", issuerPath: "/tenant1/",
			servedAt: "/.well-known/oauth-authorization-server/tenant1",
			want:     []string{"GET /.well-known/oauth-authorization-server/tenant1"},
		},
		{
			name: "issuer without path, nothing found",
			want: []string{
				"GET /.well-known/oauth-authorization-server",
				"GET /.well-known/openid-configuration",
			},
			wantErr: oauth.ErrNoMetadata,
		},
		{
			name:     "issuer without path, OIDC",
			servedAt: "/.well-known/openid-configuration",
			want: []string{
				"GET /.well-known/oauth-authorization-server",
				"GET /.well-known/openid-configuration",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeWith(t, fakeOptions{IssuerPath: tt.issuerPath}, func(f *fake) {
				if tt.servedAt == "" {
					f.ASMeta = nil
				} else {
					f.ASMetaPath = tt.servedAt
				}
			})
			md, err := oauth.Discover(ctxT(t), newClient(), f.ServerURL, nil)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr, f.Issuer)
			} else if err != nil {
				t.Fatal(err)
			} else if md.Issuer != f.Issuer {
				t.Errorf("issuer = %q; want %q", md.Issuer, f.Issuer)
			}
			if got := f.Paths("as"); !slices.Equal(got, tt.want) {
				t.Errorf("requests:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDiscoverLegacy(t *testing.T) {
	t.Run("default endpoints", func(t *testing.T) {
		f := newFakeWith(t, fakeOptions{Combined: true}, func(f *fake) { f.PRM = nil; f.ASMeta = nil })
		md := discoverFake(t, f)
		base := f.MCP.URL
		if !md.Legacy || md.Issuer != base || md.Resource != f.ServerURL || md.Protected != nil ||
			md.AuthServer.AuthorizationEndpoint != base+"/authorize" ||
			md.AuthServer.TokenEndpoint != base+"/token" ||
			md.AuthServer.RegistrationEndpoint != base+"/register" ||
			!slices.Contains(md.AuthServer.CodeChallengeMethodsSupported, "S256") {
			t.Errorf("legacy metadata = %+v, AS %+v", md, md.AuthServer)
		}
	})
	t.Run("metadata at the server origin", func(t *testing.T) {
		f := newFakeWith(t, fakeOptions{Combined: true}, func(f *fake) {
			f.PRM = nil
			f.ASMeta["token_endpoint"] = f.MCP.URL + "/token"
		})
		md := discoverFake(t, f)
		if !md.Legacy || md.AuthServer.TokenEndpoint != f.MCP.URL+"/token" || md.Issuer != f.MCP.URL {
			t.Errorf("legacy metadata = %+v", md)
		}
	})
	t.Run("full login with defaults", func(t *testing.T) {
		f := newFakeWith(t, fakeOptions{Combined: true}, func(f *fake) { f.PRM = nil; f.ASMeta = nil })
		g := loginFake(t, f, newMemRegs())
		if !g.Metadata.Legacy || g.Token.AccessToken == "" || g.Registration.Method != oauth.MethodDynamic {
			t.Errorf("grant = %+v", g)
		}
		if got := f.TokenRequests()[0].Form.Get("resource"); got != f.ServerURL {
			t.Errorf("legacy resource = %q; want the server URL", got)
		}
	})
}
