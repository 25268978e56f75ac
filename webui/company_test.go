package webui_test

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestAddCompanySignIn: the add form's company sign-in. /api/offer says
// which servers take it (their authorization server redeems ID-JAGs) and
// which do not; the first company server sends the browser to the IdP once
// (through the daemon's start link and callback), the second signs in
// without it; the page's state shows the company sign-in with both servers,
// and its sign-out signs out of both.
func TestAddCompanySignIn(t *testing.T) {
	idp := testfake.NewIdP(t, time.Hour)
	a := testfake.NewEnterpriseAS(t, idp, time.Hour)
	b := testfake.NewEnterpriseAS(t, idp, time.Hour)
	other := testfake.NewDPoPAS(t)
	e := start(t)
	cookie, csrf := e.login(e.entry)
	post := func(path string, body any, out any) *http.Response {
		t.Helper()
		raw, _ := json.Marshal(body)
		res, text := e.do(req{method: http.MethodPost, path: path, body: string(raw), cookie: cookie, csrf: csrf})
		if out != nil && json.Unmarshal([]byte(text), out) != nil {
			t.Fatalf("%s: %s %s", path, res.Status, text)
		}
		return res
	}
	for url, want := range map[string]bool{a.URL: true, other.URL: false} {
		var o struct{ Company bool }
		if post("/api/offer", map[string]string{"url": url}, &o); o.Company != want {
			t.Fatalf("offer for %s: %v, want %v", url, o.Company, want)
		}
	}

	form := map[string]string{"grant": "company", "idp_issuer": idp.Issuer, "idp_client_id": idp.ClientID}
	form["url"] = a.URL
	var lr ipc.LoginResponse
	if res := post("/api/login", form, &lr); res.StatusCode != http.StatusOK || lr.AuthURL == "" {
		t.Fatalf("company sign-in: %s %+v; want the browser sent to the IdP", res.Status, lr)
	}
	jar, _ := cookiejar.New(nil)
	res, err := (&http.Client{Jar: jar, Timeout: 10 * time.Second}).Get(lr.AuthURL) // the browser
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the browser's sign-in: %v %v", res, err)
	}
	res.Body.Close()
	if st := e.firstState(cookie); len(st.IdPs) != 1 || st.IdPs[0].Status != ipc.StateSignedIn || st.Servers[0].Status != ipc.StateSignedIn {
		t.Fatalf("after the browser's sign-in: %+v %+v", st.IdPs, st.Servers)
	}

	form["url"] = b.URL
	lr = ipc.LoginResponse{}
	if res := post("/api/login", form, &lr); res.StatusCode != http.StatusOK || lr.AuthURL != "" || lr.Server == nil || lr.Server.Status != ipc.StateSignedIn {
		t.Fatalf("second company server: %s %+v; want signed in without a browser", res.Status, lr)
	}
	if n, _, _, _ := idp.Counts(); n != 1 {
		t.Fatalf("%d sign-ins at the IdP, want 1", n)
	}
	st := e.firstState(cookie)
	if len(st.IdPs) != 1 || st.IdPs[0].Issuer != idp.Issuer || len(st.IdPs[0].Servers) != 2 || st.IdPs[0].Status != ipc.StateSignedIn {
		t.Fatalf("state's company sign-ins: %+v", st.IdPs)
	}

	var out ipc.IdPLogoutResponse
	if post("/api/idp/logout", map[string]string{"issuer": idp.Issuer}, &out); len(out.Servers) != 2 || out.Revocation != ipc.RevocationRevoked {
		t.Fatalf("company sign-out: %+v", out)
	}
	for _, s := range e.firstState(cookie).Servers {
		if s.Status != ipc.StateSignedOut {
			t.Fatalf("%s after the company sign-out: %s", s.URL, s.Status)
		}
	}
	_, page := e.do(req{path: "/ui", cookie: cookie})
	if !strings.Contains(page, `value="company"`) || !strings.Contains(page, "Company sign-ins") {
		t.Fatal("the page lacks the company sign-in")
	}
}
