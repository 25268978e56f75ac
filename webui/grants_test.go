package webui_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// testJWT is a JWT (signed, but nobody here verifies it) with a unique
// subject, expiring at exp.
func testJWT(t *testing.T, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: "workload-" + rand.Text(), ExpiresAt: jwt.NewNumericDate(exp),
	}).SignedString([]byte("not a real key"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// grantForm posts the add form and checks that no secret comes back.
type grantForm struct {
	e            *env
	cookie, csrf string
	secrets      []string
}

func (f *grantForm) post(t *testing.T, body map[string]string) (*http.Response, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, out := f.e.do(req{method: http.MethodPost, path: "/api/login", body: string(b), cookie: f.cookie, csrf: f.csrf})
	f.noEcho(t, "POST /api/login", out)
	return res, out
}

func (f *grantForm) noEcho(t *testing.T, what, body string) {
	t.Helper()
	for _, s := range f.secrets {
		if s != "" && strings.Contains(body, s) {
			t.Fatalf("%s echoed a secret: %s", what, body)
		}
	}
}

func (f *grantForm) refused(t *testing.T, why string, body map[string]string) {
	t.Helper()
	res, out := f.post(t, body)
	var ie ipc.Error
	if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(out), &ie) != nil || ie.Message == "" {
		t.Fatalf("%s: %s %s; want 400 with a message", why, res.Status, out)
	}
	t.Logf("%s: %s", why, ie.Message)
}

func (f *grantForm) signedIn(t *testing.T, body map[string]string) *ipc.LoginResponse {
	t.Helper()
	res, out := f.post(t, body)
	var lr ipc.LoginResponse
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(out), &lr) != nil || lr.AuthURL != "" || lr.Server == nil || lr.Server.Status != ipc.StateSignedIn {
		t.Fatalf("add with %s: %s %s", body["grant"], res.Status, out)
	}
	return &lr
}

// TestAddWorkloadIdentity: the add form's workload identity sign-in (JWT
// bearer) gets tokens without a browser from an authorization server that
// has no browser sign-in at all, with a pasted JWT or the content of an
// uploaded file. The page never sends back the JWT or a secret;
// incomplete or contradictory forms are refused with a message, and so is
// every request that names a file on disk (the page sends content only).
func TestAddWorkloadIdentity(t *testing.T) {
	a := testfake.NewWorkloadAS(t)
	e := start(t)
	cookie, csrf := e.login(e.entry)
	pasted, uploaded := testJWT(t, time.Now().Add(time.Hour)), testJWT(t, time.Now().Add(time.Hour))
	expired := testJWT(t, time.Now().Add(-time.Minute))
	const secret = "robot-s3cret-xyz"
	f := &grantForm{e: e, cookie: cookie, csrf: csrf, secrets: []string{pasted, uploaded, expired, secret}}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(pasted+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const fakeKey = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGJ1dCBzZWNyZXQ=\n-----END PRIVATE KEY-----\n"

	for why, body := range map[string]map[string]string{
		"no client id":           {"url": a.URL, "grant": "jwt_bearer", "assertion": pasted},
		"no JWT":                 {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot"},
		"a path as the JWT":      {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": file},
		"not a JWT":              {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": "robot-s3cret-xyz"},
		"expired JWT":            {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": expired},
		"secret and key":         {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": pasted, "client_secret": secret, "private_key": fakeKey},
		"not a key":              {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": pasted, "private_key": fakeKey},
		"IdP fields":             {"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": pasted, "id_token": pasted},
		"JWT for a browser":      {"url": a.URL, "assertion": pasted},
		"secret without a login": {"url": a.URL, "grant": "jwt_bearer", "assertion": pasted, "client_secret": secret},
	} {
		f.refused(t, why, body)
	}
	// A file on disk, whichever field names it and whatever it holds (here
	// a valid JWT), is refused with a message that says what to do.
	for field, grant := range map[string]string{"assertion_file": "jwt_bearer", "private_key_file": "client_credentials",
		"client_secret_file": "client_credentials", "id_token_file": "enterprise", "idp_client_secret_file": "enterprise"} {
		for _, path := range []string{file, "/etc/shadow", "token"} {
			res, out := f.post(t, map[string]string{"url": a.URL, "grant": grant, "client_id": "robot", field: path})
			var ie ipc.Error
			if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(out), &ie) != nil ||
				!strings.Contains(ie.Message, "does not read files") || !strings.Contains(ie.Message, "--assertion-file") {
				t.Fatalf("%s %q: %s %s; want 400 saying the page reads no files", field, path, res.Status, out)
			}
		}
	}
	// Without the CSRF token the form is refused before anything is sent.
	b, _ := json.Marshal(map[string]string{"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": pasted})
	if res, _ := e.do(req{method: http.MethodPost, path: "/api/login", body: string(b), cookie: cookie}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without CSRF: %s", res.Status)
	}
	if tokens, _, _ := a.Requests(); len(tokens) != 0 {
		t.Fatalf("%d token requests before a valid form", len(tokens))
	}
	if st := e.firstState(cookie); len(st.Servers) != 0 {
		t.Fatalf("refused forms added servers: %+v", st.Servers)
	}

	// A pasted JWT, a public client: the JWT is the grant's assertion.
	f.signedIn(t, map[string]string{"url": a.URL, "grant": "jwt_bearer", "client_id": " robot ", "assertion": " " + pasted + "\n"})
	tokens, basic, _ := a.Requests()
	if len(tokens) != 1 || tokens[0].Get("assertion") != pasted || tokens[0].Get("client_id") != "robot" || basic[0] != "" {
		t.Fatalf("token request: %v (Authorization %q)", tokens, basic)
	}

	// An uploaded file's content (the page reads it in the browser and
	// sends it as the JWT), a confidential client.
	a2 := testfake.NewWorkloadAS(t)
	f.signedIn(t, map[string]string{"url": a2.URL, "grant": "jwt_bearer", "client_id": "robot", "client_secret": secret, "assertion": uploaded + "\n"})
	tokens, basic, _ = a2.Requests()
	if len(tokens) != 1 || tokens[0].Get("assertion") != uploaded || !strings.HasPrefix(basic[0], "Basic ") || tokens[0].Get("client_secret") != "" {
		t.Fatalf("token request: %v (Authorization %q)", tokens, basic)
	}
	// The pasted JWT is kept and sent again, checked, for the next grant.
	b, _ = json.Marshal(map[string]string{"url": a2.URL})
	res, out := e.do(req{method: http.MethodPost, path: "/api/refresh", body: string(b), cookie: cookie, csrf: csrf})
	f.noEcho(t, "POST /api/refresh", out)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %s %s", res.Status, out)
	}
	if tokens, _, _ = a2.Requests(); len(tokens) != 2 || tokens[1].Get("assertion") != uploaded {
		t.Fatalf("after a refresh: %d token requests", len(tokens))
	}

	st := e.firstState(cookie)
	if len(st.Servers) != 2 || st.Servers[0].Grant != ipc.GrantJWTBearer || st.Servers[1].Grant != ipc.GrantJWTBearer {
		t.Fatalf("state: %+v", st.Servers)
	}
	raw, _ := json.Marshal(st)
	f.noEcho(t, "the page's state", string(raw))
}

// TestAddEnterpriseSSO: the add form's company SSO sign-in exchanges the
// pasted ID token at the IdP (as mcpauthd's client there, with its secret)
// for an ID-JAG and redeems that at the server's authorization server for
// tokens, without a browser. The ID token and the secrets never come back;
// incomplete forms are refused with a message.
func TestAddEnterpriseSSO(t *testing.T) {
	a := testfake.NewWorkloadAS(t)
	e := start(t)
	cookie, csrf := e.login(e.entry)
	idToken, expired := testJWT(t, time.Now().Add(time.Hour)), testJWT(t, time.Now().Add(-time.Minute))
	const secret = "robot-s3cret-xyz"
	f := &grantForm{e: e, cookie: cookie, csrf: csrf, secrets: []string{idToken, expired, secret, a.IdPSecret}}
	full := func(drop string, set ...string) map[string]string {
		m := map[string]string{"url": a.URL, "grant": "enterprise", "client_id": "robot", "client_secret": secret,
			"idp_issuer": a.IdP, "idp_client_id": "idp-client", "idp_client_secret": a.IdPSecret, "id_token": idToken}
		delete(m, drop)
		for i := 0; i+1 < len(set); i += 2 {
			m[set[i]] = set[i+1]
		}
		return m
	}
	for why, body := range map[string]map[string]string{
		"no client id":          full("client_id", "client_secret", ""),
		"no IdP issuer":         full("idp_issuer"),
		"no IdP client id":      full("idp_client_id"),
		"no ID token":           full("id_token"),
		"blank ID token":        full("", "id_token", "  "),
		"IdP issuer not a URL":  full("", "idp_issuer", "idp.example.com"),
		"ID token not a JWT":    full("", "id_token", a.IdPSecret),
		"expired ID token":      full("", "id_token", expired),
		"a workload JWT":        full("", "assertion", idToken),
		"IdP fields, no grant":  full("grant"),
		"IdP secret for creds":  full("", "grant", "client_credentials"),
		"IdP secret on its own": {"url": a.URL, "idp_client_secret": a.IdPSecret},
	} {
		f.refused(t, why, body)
	}
	if tokens, _, exchanges := a.Requests(); len(tokens)+len(exchanges) != 0 {
		t.Fatalf("%d token requests, %d exchanges before a valid form", len(tokens), len(exchanges))
	}

	f.signedIn(t, full(""))
	tokens, basic, exchanges := a.Requests()
	if len(exchanges) != 1 || exchanges[0].Get("subject_token") != idToken || exchanges[0].Get("audience") != a.Issuer ||
		exchanges[0].Get("requested_token_type") != testfake.IDJAGType || exchanges[0].Get("resource") != a.URL {
		t.Fatalf("token exchange at the IdP: %v", exchanges)
	}
	if len(tokens) != 1 || !strings.HasPrefix(tokens[0].Get("assertion"), "jag-") || !strings.HasPrefix(basic[0], "Basic ") {
		t.Fatalf("JWT-bearer grant at the authorization server: %v (Authorization %q)", tokens, basic)
	}
	st := e.firstState(cookie)
	if len(st.Servers) != 1 || st.Servers[0].Grant != ipc.GrantEnterprise || st.Servers[0].Status != ipc.StateSignedIn {
		t.Fatalf("state: %+v", st.Servers)
	}
	raw, _ := json.Marshal(st)
	f.noEcho(t, "the page's state", string(raw))

	// The page offers both sign-ins and says a pasted JWT expires.
	res, page := e.do(req{path: "/ui", cookie: cookie})
	_, js := e.do(req{path: "/static/app.js", cookie: cookie})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `value="jwt_bearer"`) || !strings.Contains(page, `value="enterprise"`) ||
		!strings.Contains(page, "add-assertion-upload") || !strings.Contains(page, "add-id-token") || !strings.Contains(js, "expires") ||
		strings.Contains(page, "add-assertion-file") || strings.Contains(js, "assertion_file") {
		t.Fatalf("the page lacks the new sign-ins: %s", res.Status)
	}
}

// TestAddProviderAndDoctor: the add form's provider settings reach the
// daemon (checked there: an unknown provider or a malformed parameter is
// refused with a message), and /api/doctor explains where a sign-in fails
// — here at registration, which a GitHub-style server refuses.
func TestAddProviderAndDoctor(t *testing.T) {
	e := start(t)
	cookie, csrf := e.login(e.entry)
	f := &grantForm{e: e, cookie: cookie, csrf: csrf}
	gh := testfake.NewProviderAS(t, testfake.StyleGitHub)
	f.refused(t, "unknown provider", map[string]string{"url": gh.URL, "provider": "myspace"})
	f.refused(t, "parameter without a value", map[string]string{"url": gh.URL, "authorize_params": "login_hint"})
	f.refused(t, "reserved parameter", map[string]string{"url": gh.URL, "authorize_params": "redirect_uri=https://evil.example/"})
	if res, out := e.do(req{method: http.MethodPost, path: "/api/remove", body: `{"url":"` + gh.URL + `"}`, cookie: cookie, csrf: csrf}); res.StatusCode == http.StatusOK {
		t.Errorf("a refused add left the server behind (remove: %s %s)", res.Status, out)
	}
	res, out := e.do(req{method: http.MethodPost, path: "/api/doctor", body: `{"url":"` + gh.URL + `"}`, cookie: cookie, csrf: csrf})
	var r ipc.DoctorReport
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("POST /api/doctor: %s %s", res.Status, out)
	}
	last := r.Steps[len(r.Steps)-1]
	if !r.Failed || last.Step != "registration" || !strings.Contains(last.Detail, "--client-id") {
		t.Errorf("doctor report %+v; want a failure at registration", r)
	}
}
