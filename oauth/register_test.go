package oauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/oauth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

const cimdURL = "https://mcpauthd.example/client.json"

func TestRegisterPriority(t *testing.T) {
	type regs struct{ pre, stored *oauth.Registration }
	tests := []struct {
		name        string
		cimdAdv     bool   // AS advertises client_id_metadata_document_supported
		cimdCfg     string // ClientConfig.ClientIDMetadataURL
		noDCR       bool   // AS has no registration endpoint
		in          func(issuer string) regs
		wantMethod  string
		wantID      string // "" skips the check
		wantCreated bool
		wantDCR     int
	}{
		{
			name: "preregistered beats everything", cimdAdv: true, cimdCfg: cimdURL,
			in: func(iss string) regs {
				return regs{
					pre:    &oauth.Registration{ClientID: "pre-id"},
					stored: &oauth.Registration{Issuer: iss, ClientID: "stored-id", AuthMethod: oauth.AuthNone, Method: oauth.MethodDynamic},
				}
			},
			wantMethod: oauth.MethodPreregistered, wantID: "pre-id", wantCreated: true,
		},
		{
			name: "preregistered bound to this issuer, already stored",
			in: func(iss string) regs {
				return regs{
					pre:    &oauth.Registration{Issuer: iss, ClientID: "pre-id"},
					stored: &oauth.Registration{Issuer: iss, ClientID: "pre-id", Method: oauth.MethodPreregistered},
				}
			},
			wantMethod: oauth.MethodPreregistered, wantID: "pre-id", wantCreated: false,
		},
		{
			name: "stored for the same issuer beats CIMD and DCR", cimdAdv: true, cimdCfg: cimdURL,
			in: func(iss string) regs {
				return regs{stored: &oauth.Registration{Issuer: iss, ClientID: "stored-id", AuthMethod: oauth.AuthNone, Method: oauth.MethodDynamic}}
			},
			wantMethod: oauth.MethodDynamic, wantID: "stored-id", wantCreated: false,
		},
		{
			name: "stored for another issuer is never used: CIMD", cimdAdv: true, cimdCfg: cimdURL,
			in: func(string) regs {
				return regs{stored: &oauth.Registration{Issuer: "https://other.example.com", ClientID: "stored-id", Method: oauth.MethodDynamic}}
			},
			wantMethod: oauth.MethodCIMD, wantID: cimdURL, wantCreated: true,
		},
		{
			name: "stored for another issuer is never used: DCR",
			in: func(iss string) regs {
				return regs{stored: &oauth.Registration{Issuer: iss + "/", ClientID: "stored-id", Method: oauth.MethodDynamic}}
			},
			wantMethod: oauth.MethodDynamic, wantCreated: true, wantDCR: 1,
		},
		{
			name: "CIMD when advertised and configured", cimdAdv: true, cimdCfg: cimdURL,
			in:         func(string) regs { return regs{} },
			wantMethod: oauth.MethodCIMD, wantID: cimdURL, wantCreated: true,
		},
		{
			name: "CIMD configured but not advertised: DCR", cimdCfg: cimdURL,
			in:         func(string) regs { return regs{} },
			wantMethod: oauth.MethodDynamic, wantCreated: true, wantDCR: 1,
		},
		{
			name: "CIMD advertised but not configured: DCR", cimdAdv: true,
			in:         func(string) regs { return regs{} },
			wantMethod: oauth.MethodDynamic, wantCreated: true, wantDCR: 1,
		},
		{
			name: "CIMD without registration endpoint", cimdAdv: true, cimdCfg: cimdURL, noDCR: true,
			in:         func(string) regs { return regs{} },
			wantMethod: oauth.MethodCIMD, wantID: cimdURL, wantCreated: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(f *fake) {
				f.ASMeta["client_id_metadata_document_supported"] = tt.cimdAdv
				if tt.noDCR {
					delete(f.ASMeta, "registration_endpoint")
				}
			})
			md := discoverFake(t, f)
			cfg := testClientConfig()
			cfg.ClientIDMetadataURL = tt.cimdCfg
			in := tt.in(md.Issuer)
			reg, created, err := oauth.Register(ctxT(t), newClient(), cfg, md, in.pre, in.stored)
			if err != nil {
				t.Fatal(err)
			}
			if reg.Method != tt.wantMethod || (tt.wantID != "" && reg.ClientID != tt.wantID) || created != tt.wantCreated {
				t.Errorf("got %s %q created=%v; want %s %q created=%v", reg.Method, reg.ClientID, created, tt.wantMethod, tt.wantID, tt.wantCreated)
			}
			if reg.Issuer != md.Issuer {
				t.Errorf("registration bound to %q; want %q", reg.Issuer, md.Issuer)
			}
			if n := len(f.RegRequests()); n != tt.wantDCR {
				t.Errorf("%d registration requests; want %d", n, tt.wantDCR)
			}
			if reg.Method == oauth.MethodCIMD && (reg.AuthMethod != oauth.AuthNone || !slices.Equal(reg.RedirectURIs, cfg.RedirectURIs)) {
				t.Errorf("CIMD registration = %+v", reg)
			}
			// The chosen identity works at the authorization server.
			if reg.Method != oauth.MethodCIMD {
				f.EnsureClient(reg.ClientID)
			}
			a, err := oauth.Authorize(md, reg, testRedirect, nil)
			if err != nil {
				t.Fatal(err)
			}
			redirected, err := f.Browser(nil)(ctxT(t), a)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Complete(ctxT(t), newClient(), redirected); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRegisterPreregisteredOtherIssuer(t *testing.T) {
	f := newFake(t)
	md := discoverFake(t, f)
	pre := &oauth.Registration{Issuer: "https://old-as.example.com", ClientID: "pre-id", ClientSecret: "pre-secret-XYZ"}
	_, _, err := oauth.Register(ctxT(t), newClient(), testClientConfig(), md, pre, nil)
	wantErr(t, err, oauth.ErrClientMismatch, md.Issuer, "https://old-as.example.com")
	if strings.Contains(err.Error(), "pre-secret-XYZ") {
		t.Errorf("error %q leaks the client secret", err)
	}
	if n := len(f.RegRequests()); n != 0 {
		t.Errorf("%d registration requests after a client mismatch", n)
	}
}

func TestRegisterDCRRequest(t *testing.T) {
	f := newFake(t)
	md := discoverFake(t, f)
	cfg := testClientConfig()
	reg, created, err := oauth.Register(ctxT(t), newClient(), cfg, md, nil, nil)
	if err != nil || !created {
		t.Fatalf("Register = %v, %v", created, err)
	}
	if reg.ClientID != "dcr-1" || reg.ClientSecret != "" || reg.AuthMethod != oauth.AuthNone || reg.Method != oauth.MethodDynamic || reg.CreatedAt.IsZero() {
		t.Errorf("registration = %+v", reg)
	}
	reqs := f.RegRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d registration requests", len(reqs))
	}
	if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var body struct {
		RedirectURIs    []string `json:"redirect_uris"`
		AuthMethod      string   `json:"token_endpoint_auth_method"`
		GrantTypes      []string `json:"grant_types"`
		ResponseTypes   []string `json:"response_types"`
		ClientName      string   `json:"client_name"`
		ClientURI       string   `json:"client_uri"`
		ApplicationType string   `json:"application_type"`
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.ApplicationType != "native" {
		t.Errorf("application_type %q; want native", body.ApplicationType)
	}
	if !slices.Contains(body.GrantTypes, "refresh_token") || !slices.Contains(body.GrantTypes, "authorization_code") {
		t.Errorf("grant_types %q", body.GrantTypes)
	}
	if body.AuthMethod != "none" {
		t.Errorf("token_endpoint_auth_method %q; want none", body.AuthMethod)
	}
	if !slices.Equal(body.ResponseTypes, []string{"code"}) || body.ClientName != cfg.ClientName || body.ClientURI != cfg.ClientURI {
		t.Errorf("body = %+v", body)
	}
	if !slices.Equal(body.RedirectURIs, cfg.RedirectURIs) {
		t.Errorf("redirect_uris %q; want %q", body.RedirectURIs, cfg.RedirectURIs)
	}
	for _, r := range body.RedirectURIs {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "http" || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
			t.Errorf("redirect URI %q is not a loopback http URI", r)
		}
	}
}

func TestRegisterErrors(t *testing.T) {
	const secret = "LEAKED-SECRET-0123456789"
	tests := []struct {
		name    string
		set     func(f *fake)
		cfg     func(c *oauth.ClientConfig)
		want    []string // substrings of the error
		urlOfAS bool     // the error names the issuer instead of the endpoint
	}{
		{
			name: "400 with error code",
			set: func(f *fake) {
				f.Handlers["as:/register"] = rawHandler(400, "application/json", `{"error":"invalid_redirect_uri","error_description":"loopback not allowed"}`)
			},
			want: []string{"invalid_redirect_uri", "loopback not allowed"},
		},
		{
			name: "400 garbled",
			set: func(f *fake) {
				f.Handlers["as:/register"] = rawHandler(400, "application/json", `{"error": "x", "client_secret": "`+secret+`"`)
			},
		},
		{
			name: "500 echoing a secret",
			set: func(f *fake) {
				f.Handlers["as:/register"] = rawHandler(500, "text/plain", `internal error (client_secret=`+secret+`)`)
			},
			want: []string{"500"},
		},
		{
			name: "201 truncated after the secret",
			set: func(f *fake) {
				f.Handlers["as:/register"] = rawHandler(201, "application/json", `{"client_id":"c1","client_secret":"`+secret+`",`)
			},
		},
		{
			name: "201 with a syntax error before the secret",
			set: func(f *fake) {
				f.Handlers["as:/register"] = rawHandler(201, "application/json", `{"client_id":"c1" "client_secret":"`+secret+`"}`)
			},
		},
		{
			name: "201 with a wrongly typed field before the secret",
			set: func(f *fake) {
				f.Handlers["as:/register"] = rawHandler(201, "application/json", `{"client_id":"c1","redirect_uris":"x","client_secret":"`+secret+`"}`)
			},
		},
		{
			name: "201 with a wrongly typed field after the secret",
			set: func(f *fake) {
				f.Handlers["as:/register"] = rawHandler(201, "application/json", `{"client_secret":"`+secret+`","client_id":7}`)
			},
		},
		{
			name: "201 without client_id",
			set: func(f *fake) {
				f.Handlers["as:/register"] = rawHandler(201, "application/json", `{"client_secret":"`+secret+`"}`)
			},
		},
		{
			name: "201 with unsupported auth method",
			set: func(f *fake) {
				f.Handlers["as:/register"] = rawHandler(201, "application/json", `{"client_id":"c1","client_secret":"`+secret+`","token_endpoint_auth_method":"private_key_jwt"}`)
			},
			want: []string{"private_key_jwt"},
		},
		{
			name:    "no registration endpoint and no CIMD",
			set:     func(f *fake) { delete(f.ASMeta, "registration_endpoint") },
			want:    []string{"--client-id"},
			urlOfAS: true,
		},
		{
			name: "CIMD advertised but not configured, no registration endpoint",
			set: func(f *fake) {
				delete(f.ASMeta, "registration_endpoint")
				f.ASMeta["client_id_metadata_document_supported"] = true
			},
			want:    []string{"--client-id"},
			urlOfAS: true,
		},
		{
			name:    "no redirect URIs",
			cfg:     func(c *oauth.ClientConfig) { c.RedirectURIs = nil },
			urlOfAS: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.set)
			md := discoverFake(t, f)
			cfg := testClientConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			reg, _, err := oauth.Register(ctxT(t), newClient(), cfg, md, nil, nil)
			if reg != nil {
				t.Errorf("registration %+v returned with an error", reg)
			}
			where := f.AS.URL + "/register"
			if tt.urlOfAS {
				where = md.Issuer
			}
			wantErr(t, err, oauth.ErrRegistration, where)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:12]) {
				t.Errorf("error %q leaks the client secret", err)
			}
		})
	}
}

func TestRegisterAuthMethodChoice(t *testing.T) {
	tests := []struct {
		name       string
		advertised []string // token_endpoint_auth_methods_supported (nil: absent)
		secret     bool     // DCR issues a secret / preregistered has one
		regMethod  string   // method in the DCR response or preregistration
		want       string
	}{
		{"no secret", []string{"client_secret_post"}, false, "", oauth.AuthNone},
		{"secret, nothing advertised", nil, true, "", oauth.AuthBasic},
		{"secret, basic advertised", []string{"client_secret_basic", "client_secret_post"}, true, "", oauth.AuthBasic},
		{"secret, only post advertised", []string{"none", "client_secret_post"}, true, "", oauth.AuthPost},
		{"secret, registration says post", []string{"client_secret_basic", "client_secret_post"}, true, oauth.AuthPost, oauth.AuthPost},
		{"secret, registration says none", []string{"client_secret_post"}, true, oauth.AuthNone, oauth.AuthPost},
		{"no secret, registration says none", nil, false, oauth.AuthNone, oauth.AuthNone},
	}
	for _, tt := range tests {
		for _, how := range []string{"dynamic", "preregistered"} {
			t.Run(how+"/"+tt.name, func(t *testing.T) {
				f := newFake(t, func(f *fake) {
					if tt.advertised == nil {
						delete(f.ASMeta, "token_endpoint_auth_methods_supported")
					} else {
						f.ASMeta["token_endpoint_auth_methods_supported"] = tt.advertised
					}
					f.RegSecret = tt.secret
					f.RegAuthMethod = tt.regMethod
				})
				md := discoverFake(t, f)
				var pre *oauth.Registration
				if how == "preregistered" {
					pre = &oauth.Registration{ClientID: "pre-id"}
					if tt.secret {
						pre.ClientSecret = "pre-secret"
					}
					if tt.regMethod != oauth.AuthNone || !tt.secret {
						pre.AuthMethod = tt.regMethod
					}
					f.AddClient("pre-id", pre.ClientSecret, tt.want)
				}
				reg, _, err := oauth.Register(ctxT(t), newClient(), testClientConfig(), md, pre, nil)
				if err != nil {
					t.Fatal(err)
				}
				if reg.AuthMethod != tt.want {
					t.Fatalf("auth method %q; want %q", reg.AuthMethod, tt.want)
				}
				// And the token endpoint accepts it.
				a, _ := oauth.Authorize(md, reg, testRedirect, nil)
				redirected, err := f.Browser(nil)(ctxT(t), a)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := a.Complete(ctxT(t), newClient(), redirected); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestRegisterDCRStatus(t *testing.T) {
	// 200 is accepted as well as 201.
	f := newFake(t, func(f *fake) {
		f.Handlers["as:/register"] = func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{"client_id": "ok-200"})
		}
	})
	md := discoverFake(t, f)
	reg, _, err := oauth.Register(ctxT(t), newClient(), testClientConfig(), md, nil, nil)
	if err != nil || reg.ClientID != "ok-200" {
		t.Fatalf("Register = %+v, %v", reg, err)
	}
}

// TestRegisterJWKSObject: RFC 7591 defines jwks as an object, and Ory Hydra
// answers "jwks": {}; the SDK's response type has it as a string. The
// registration must still succeed.
func TestRegisterJWKSObject(t *testing.T) {
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"client_id":"hydra-client","client_secret":"s3cret-value","jwks":{},"token_endpoint_auth_method":"client_secret_basic","redirect_uris":["http://127.0.0.1:1/callback"]}`))
	}))
	defer as.Close()
	md := &oauth.Metadata{Issuer: as.URL, AuthServer: &oauthex.AuthServerMeta{Issuer: as.URL, RegistrationEndpoint: as.URL + "/register", CodeChallengeMethodsSupported: []string{"S256"}}}
	reg, created, err := oauth.Register(context.Background(), oauth.NewHTTPClient(oauth.HTTPOptions{}), oauth.ClientConfig{RedirectURIs: []string{"http://127.0.0.1:1/callback"}}, md, nil, nil)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if !created || reg.ClientID != "hydra-client" || reg.ClientSecret != "s3cret-value" || reg.AuthMethod != oauth.AuthBasic {
		t.Fatalf("registration = %+v, created %v", reg, created)
	}
}
