package webui_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/webui"
)

// firstState reads the first State of the page's event stream.
func (e *env) firstState(cookie string) *webui.State {
	e.t.Helper()
	hr, _ := http.NewRequest("GET", "http://"+e.addr+"/api/events", nil)
	hr.Header.Set("Cookie", cookie)
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var st webui.State
			if err := json.Unmarshal([]byte(data), &st); err != nil {
				e.t.Fatal(err)
			}
			return &st
		}
	}
	e.t.Fatal("no state event")
	return nil
}

// TestAddClientCredentials: the add form's non-interactive sign-in (client
// id + secret) gets DPoP-bound tokens without a browser; the card shows the
// grant and the binding; the secret is never sent back, not even in a
// refusal; malformed requests are refused with a message naming what is
// wrong and no secret.
func TestAddClientCredentials(t *testing.T) {
	a := testfake.NewDPoPAS(t)
	e := start(t)
	cookie, csrf := e.login(e.entry)
	post := func(body map[string]string) (*http.Response, string) {
		b, _ := json.Marshal(body)
		return e.do(req{method: http.MethodPost, path: "/api/login", body: string(b), cookie: cookie, csrf: csrf})
	}

	const fakeKey = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGJ1dCBzZWNyZXQ=\n-----END PRIVATE KEY-----\n"
	for _, bad := range []map[string]string{
		{"url": a.URL, "grant": "client_credentials", "client_secret": a.ClientSecret},                                                  // no client id
		{"url": a.URL, "grant": "client_credentials", "client_id": a.ClientID},                                                          // neither secret nor key
		{"url": a.URL, "grant": "client_credentials", "client_id": a.ClientID, "client_secret": a.ClientSecret, "private_key": fakeKey}, // both
		{"url": a.URL, "grant": "client_credentials", "client_id": a.ClientID, "private_key": fakeKey},                                  // not a key
		{"url": a.URL, "private_key": fakeKey},                                                                                          // a key for a browser sign-in
		{"url": a.URL, "grant": "password", "client_id": a.ClientID, "client_secret": a.ClientSecret},                                   // no such grant
	} {
		res, body := post(bad)
		var ie ipc.Error
		if res.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(body), &ie) != nil || ie.Message == "" {
			t.Fatalf("%v: %s %s; want 400 with a message", bad["grant"], res.Status, body)
		}
		if strings.Contains(body, a.ClientSecret) || strings.Contains(body, "bm90IGEga2V5") {
			t.Fatalf("a refusal echoed a secret: %s", body)
		}
	}
	// Without the CSRF token the form is refused before anything is sent.
	b, _ := json.Marshal(map[string]string{"url": a.URL, "grant": "client_credentials", "client_id": a.ClientID, "client_secret": a.ClientSecret})
	if res, _ := e.do(req{method: http.MethodPost, path: "/api/login", body: string(b), cookie: cookie}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without CSRF: %s", res.Status)
	}
	if g, _ := a.Counts(); g != 0 {
		t.Fatalf("%d grants before a valid form", g)
	}

	res, body := post(map[string]string{"url": a.URL, "grant": "client_credentials", "client_id": " " + a.ClientID + " ", "client_secret": a.ClientSecret})
	if res.StatusCode != http.StatusOK || strings.Contains(body, a.ClientSecret) {
		t.Fatalf("add with client credentials: %s %s", res.Status, body)
	}
	var lr ipc.LoginResponse
	if err := json.Unmarshal([]byte(body), &lr); err != nil || lr.AuthURL != "" || lr.Server == nil || lr.Server.Status != ipc.StateSignedIn {
		t.Fatalf("login response: %+v %v", lr, err)
	}
	if g, _ := a.Counts(); g != 1 {
		t.Fatalf("%d grants, want 1", g)
	}
	st := e.firstState(cookie)
	if len(st.Servers) != 1 || st.Servers[0].Grant != ipc.GrantClientCredentials || !st.Servers[0].DPoP {
		t.Fatalf("state: %+v", st.Servers)
	}
	raw, _ := json.Marshal(st)
	if strings.Contains(string(raw), a.ClientSecret) {
		t.Fatal("the page's state holds the client secret")
	}
	// The page's script shows both facts.
	res, js := e.do(req{path: "/static/app.js", cookie: cookie})
	if res.StatusCode != http.StatusOK || !strings.Contains(js, "DPoP-bound") || !strings.Contains(js, "Client credentials") {
		t.Fatalf("app.js: %s", res.Status)
	}
}
