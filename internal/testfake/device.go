// Package testfake holds fakes for the corner cases no real peer here can
// produce. DeviceAS: no authorization server available to the tests (Ory
// Hydra v2.3 included) implements the RFC 8628 device authorization grant.
// OAuth: an MCP server and authorization server configurable into every
// misbehaviour the engine must refuse, for the unit tests of oauth and
// daemon (served in-process for testing/synctest with its Transport).
package testfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// DeviceAS is an MCP server (at Srv.URL+"/mcp") and its authorization
// server, which offers the RFC 8628 device authorization grant: the device
// code is approved on the second poll. It also serves the authorization
// code grant: /authorize approves at once (302 to the redirect_uri with
// code "auth-code-N", state and iss), and the token endpoint redeems any
// code. The exported fields record what it was sent; hold Mu to read them.
type DeviceAS struct {
	Srv *httptest.Server

	Mu         sync.Mutex
	Registered []string // grant_types of the registration
	DeviceForm map[string][]string
	Polls      int
	TokenForm  map[string][]string
	// DPoP (set before the sign-in) makes the authorization server offer
	// DPoP (ES256) and issue a DPoP token to a token request with a proof;
	// TokenProof is the DPoP header of the last token request.
	DPoP       bool
	TokenProof string
	Codes      int // authorization codes issued
	// NoDevice (set before the sign-in) leaves the device authorization
	// endpoint out of the metadata: every sign-in takes the browser path.
	NoDevice bool
}

func NewDeviceAS(t testing.TB) *DeviceAS {
	d := &DeviceAS{}
	mux := http.NewServeMux()
	d.Srv = httptest.NewServer(mux)
	t.Cleanup(d.Srv.Close)
	u := d.Srv.URL
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /mcp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+u+`/.well-known/oauth-protected-resource/mcp"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"resource": u + "/mcp", "authorization_servers": []string{u}, "scopes_supported": []string{"mcp"}})
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		md := map[string]any{
			"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
			"registration_endpoint":            u + "/register",
			"code_challenge_methods_supported": []string{"S256"}, "response_types_supported": []string{"code"},
		}
		d.Mu.Lock()
		if !d.NoDevice {
			md["device_authorization_endpoint"] = u + "/device"
		}
		if d.DPoP {
			md["dpop_signing_alg_values_supported"] = []string{"ES256"}
		}
		d.Mu.Unlock()
		writeJSON(w, 200, md)
	})
	mux.HandleFunc("POST /register", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			GrantTypes []string `json:"grant_types"`
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		d.Mu.Lock()
		d.Registered = m.GrantTypes
		d.Mu.Unlock()
		writeJSON(w, 201, map[string]any{"client_id": "device-client", "token_endpoint_auth_method": "none"})
	})
	mux.HandleFunc("POST /device", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		d.Mu.Lock()
		d.DeviceForm = r.PostForm
		d.Mu.Unlock()
		writeJSON(w, 200, map[string]any{"device_code": "secret-device-code", "user_code": "WDJB-MJHT",
			"verification_uri": u + "/activate", "expires_in": 60, "interval": 1})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		d.Mu.Lock()
		d.Codes++
		code := "auth-code-" + strconv.Itoa(d.Codes)
		d.Mu.Unlock()
		back := url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {u}}
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("grant_type") == "authorization_code" {
			d.Mu.Lock()
			d.TokenForm = r.PostForm
			d.Mu.Unlock()
			writeJSON(w, 200, map[string]any{"access_token": "code-access", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "code-refresh", "scope": "mcp"})
			return
		}
		d.Mu.Lock()
		d.Polls++
		first := d.Polls == 1
		d.TokenForm = r.PostForm
		d.TokenProof = r.Header.Get("DPoP")
		tokenType := "Bearer"
		if d.DPoP && d.TokenProof != "" {
			tokenType = "DPoP"
		}
		d.Mu.Unlock()
		if first {
			writeJSON(w, 400, map[string]any{"error": "authorization_pending"})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "device-access", "token_type": tokenType, "expires_in": 3600, "refresh_token": "device-refresh", "scope": "mcp"})
	})
	return d
}
