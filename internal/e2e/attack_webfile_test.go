package e2e

// Issue 11, attack 3: whoever holds a web session (a leaked entry link)
// makes the daemon read the user's files through the web page's
// /api/login (workload identity with an assertion_file) and send them to
// a server of their choosing; a FIFO or /dev/zero hangs or exhausts the
// daemon. Against the real binary: every file the page names is refused at
// once, the daemon stays responsive, and the token endpoint receives
// nothing. The token file a CLI-configured grant re-reads is then swapped
// for each of those files: every renewal is refused before anything is
// sent. A grant's assertion goes only to the authorization server it was
// first granted by, and never to another server.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/mcpauthd/mcpauthd/internal/testfake"
	"github.com/mcpauthd/mcpauthd/ipc"
)

// hangLimit bounds each request: a daemon that blocks on a FIFO or reads
// /dev/zero never answers. It detects a hang; it does not measure speed.
const hangLimit = 20 * time.Second

// webClient is a web page session on the real daemon, obtained the way a
// user's browser gets one: `mcpauthd ui --print`'s one-time link, then the
// page's CSRF token.
type webClient struct {
	t      *testing.T
	c      *http.Client
	origin string
	csrf   string
}

var csrfMetaE2E = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

func newWebClient(t *testing.T, in *instance) *webClient {
	t.Helper()
	link := strings.TrimSpace(in.must("ui", "--print"))
	origin, _, ok := strings.Cut(link, "/ui?")
	if !ok {
		t.Fatalf("mcpauthd ui --print: %q", link)
	}
	jar, _ := cookiejar.New(nil)
	w := &webClient{t: t, c: &http.Client{Jar: jar, Timeout: hangLimit}, origin: origin}
	res, err := w.c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfMetaE2E.FindSubmatch(page)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("opening the entry link: %s, no CSRF token in the page", res.Status)
	}
	w.csrf = string(m[1])
	return w
}

// post sends a page action and returns its status, the error message of a
// refusal, and how long the daemon took. A request that does not return
// within hangLimit fails the test.
func (w *webClient) post(path string, body map[string]string) (int, string, time.Duration) {
	w.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, w.origin+path, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", w.csrf)
	start := time.Now()
	res, err := w.c.Do(req)
	took := time.Since(start)
	if err != nil {
		w.t.Fatalf("POST %s: %v (after %s): the daemon hangs", path, err, took.Round(time.Millisecond))
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var ie ipc.Error
	_ = json.Unmarshal(raw, &ie)
	return res.StatusCode, ie.Message, took
}

func workloadJWT(t *testing.T) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: "workload-" + rand.Text(), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString([]byte("not a real key"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hostileFiles lays out what an attacker would name: a shadow-like file
// nobody may read behind an innocent-looking symlink, an SSH-style private
// key, a FIFO nobody writes to, /dev/zero, and a 100 MB (sparse) file that
// ends in a valid JWT. Each value maps a name to its path.
func hostileFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	shadow := filepath.Join(dir, "shadow")
	if err := os.WriteFile(shadow, []byte("root:$6$saltsalt$hashhash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "token-link")
	if err := os.Symlink(shadow, link); err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	key := filepath.Join(dir, "id_ecdsa")
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	tok := workloadJWT(t)
	if _, err := f.WriteAt([]byte(tok), 100<<20-int64(len(tok))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return map[string]string{
		"/etc/shadow":                "/etc/shadow",
		"a shadow-like file (0000)":  shadow,
		"a symlink to it":            link,
		"a private key":              key,
		"a FIFO":                     fifo,
		"/dev/zero":                  "/dev/zero",
		"a 100 MB file":              big,
		"the daemon's own directory": dir,
	}
}

func TestAttackWebPageReadsFiles(t *testing.T) {
	a := testfake.NewWorkloadAS(t) // its token endpoint must receive nothing from the attacks
	in := newInstance(t)
	in.must("status")
	w := newWebClient(t, in)
	dir := t.TempDir()
	files := hostileFiles(t, dir)
	good := filepath.Join(dir, "token")
	if err := os.WriteFile(good, []byte(workloadJWT(t)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files["a valid JWT file"] = good // the page names no file at all

	// 1. The web page names files: each is refused, whatever the field.
	var slowest time.Duration
	for name, path := range files {
		for field, grant := range map[string]string{"assertion_file": "jwt_bearer", "private_key_file": "client_credentials",
			"client_secret_file": "client_credentials", "id_token_file": "enterprise"} {
			code, msg, took := w.post("/api/login", map[string]string{"url": a.URL, "grant": grant, "client_id": "robot", field: path})
			slowest = max(slowest, took)
			if code != http.StatusBadRequest || !strings.Contains(msg, "does not read files") {
				t.Fatalf("%s as %s: %d %q; want 400 saying the page reads no files", name, field, code, msg)
			}
		}
		// The path pasted as the JWT itself is content, and not a JWT.
		code, msg, took := w.post("/api/login", map[string]string{"url": a.URL, "grant": "jwt_bearer", "client_id": "robot", "assertion": path})
		slowest = max(slowest, took)
		if code != http.StatusBadRequest || !strings.Contains(msg, "not a JWT") {
			t.Fatalf("%s pasted as the JWT: %d %q; want 400 not a JWT", name, code, msg)
		}
	}
	t.Logf("web page: %d file-naming requests refused, slowest answer %s", len(files)*5, slowest.Round(time.Microsecond))
	if tokens, _, _ := a.Requests(); len(tokens) != 0 {
		t.Fatalf("the token endpoint received %d requests from refused forms", len(tokens))
	}
	var list []ipc.ServerInfo
	if err := json.Unmarshal([]byte(in.must("list", "--json")), &list); err != nil || len(list) != 0 {
		t.Fatalf("refused forms left servers behind: %+v %v", list, err)
	}

	// 2. The CLI, over the uid-checked socket, may name a token file; it
	// reads every file it is given with the same rules before anything
	// reaches the daemon (a private key is of course fine as one).
	for name, path := range files {
		if path == good {
			continue
		}
		for _, flags := range [][]string{{"--jwt-bearer", "--assertion-file", path}, {"--client-credentials", "--private-key-file", path},
			{"--client-credentials", "--client-secret-file", path}} {
			if flags[1] == "--private-key-file" && name == "a private key" {
				continue
			}
			args := append([]string{"login", a.URL, "--client-id", "robot"}, flags...)
			start := time.Now()
			_, errs, code := in.run(args...)
			if code == 0 || !strings.Contains(errs, path) || strings.Contains(errs, "saltsalt") || strings.Contains(errs, "PRIVATE KEY") {
				t.Fatalf("%s: mcpauthd %v: exit %d, stderr %q; want a refusal naming the file, not its content", name, flags[1:], code, errs)
			}
			slowest = max(slowest, time.Since(start))
		}
	}

	// 3. A CLI-configured token file, re-read for every grant: a rotated
	// JWT is picked up; a file swapped for any hostile one is refused at
	// the next renewal before anything is sent, and the daemon answers.
	out := in.must("login", a.URL, "--jwt-bearer", "--client-id", "robot", "--assertion-file", good)
	if !strings.Contains(out, "Signed in to") {
		t.Fatalf("login --jwt-bearer: %s", out)
	}
	rotated := workloadJWT(t)
	if err := os.WriteFile(good, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, msg, _ := w.post("/api/refresh", map[string]string{"url": a.URL}); code != http.StatusOK {
		t.Fatalf("refresh with a rotated token file: %d %q", code, msg)
	}
	tokens, _, _ := a.Requests()
	if len(tokens) != 2 || tokens[1].Get("assertion") != rotated {
		t.Fatalf("%d token requests; want 2, the second with the rotated JWT", len(tokens))
	}
	for name, path := range files {
		if path == good || path == dir {
			continue
		}
		if err := os.Remove(good); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(path, good); err != nil {
			t.Fatal(err)
		}
		code, msg, took := w.post("/api/refresh", map[string]string{"url": a.URL})
		slowest = max(slowest, took)
		if code != http.StatusBadRequest || !strings.Contains(msg, good) && !strings.Contains(msg, path) {
			t.Fatalf("renewal with the token file pointing at %s: %d %q; want a refusal naming the file", name, code, msg)
		}
		if strings.Contains(msg, "saltsalt") || strings.Contains(msg, "PRIVATE KEY") {
			t.Fatalf("the refusal quotes the file: %q", msg)
		}
		start := time.Now()
		if out := in.must("status"); !strings.Contains(out, "pid") {
			t.Fatalf("status after %s: %q", name, out)
		}
		slowest = max(slowest, time.Since(start))
		if now, _, _ := a.Requests(); len(now) != 2 {
			t.Fatalf("the token file pointing at %s: the token endpoint received a request", name)
		}
	}
	t.Logf("slowest refusal or status answer over all attacks: %s", slowest.Round(time.Microsecond))

	// 4. The grant is the server's alone, bound to the authorization server
	// it was granted by. Restore the file; then the resource names another
	// authorization server: signing in again is refused before the JWT is
	// sent there. A request naming another server does not reuse the grant.
	if err := os.Remove(good); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte(workloadJWT(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	b := testfake.NewWorkloadAS(t)
	a.SetAuthServer(b.Issuer)
	_, errs, code := in.run("login", a.URL)
	if code == 0 || !strings.Contains(errs, "are for the authorization server") || !strings.Contains(errs, strings.TrimPrefix(b.Issuer, "http://")) {
		t.Fatalf("sign-in after the resource named another authorization server: exit %d, stderr %q; want a refusal naming both", code, errs)
	}
	// Another server named on the page gets a sign-in of its own (here a
	// browser one, which that server cannot do), never this grant.
	w.post("/api/login", map[string]string{"url": b.URL})
	if code, _, _ := w.post("/api/refresh", map[string]string{"url": b.URL}); code == http.StatusOK {
		t.Fatal("a refresh of a server without a grant succeeded")
	}
	if tokens, _, _ := b.Requests(); len(tokens) != 0 {
		t.Fatalf("the other authorization server received %d token requests", len(tokens))
	}
	if tokens, _, _ := a.Requests(); len(tokens) != 2 {
		t.Fatalf("the bound authorization server received %d token requests, want still 2", len(tokens))
	}
}

// TestWebPageUploadsContent: in a real browser, the add form's workload
// identity sign-in takes the JWT from an uploaded file: the page reads the
// file and sends its content (the daemon never learns a path), and the
// token endpoint gets exactly that JWT. A file over 64 KiB is refused in
// the page without being read.
func TestWebPageUploadsContent(t *testing.T) {
	ctx := webBrowser(t)
	a := testfake.NewWorkloadAS(t)
	in := newInstance(t)
	in.must("status")
	dir := t.TempDir()
	tok := workloadJWT(t)
	jwtFile := filepath.Join(dir, "token.jwt")
	if err := os.WriteFile(jwtFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.jwt")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 64<<10+1)), 0o600); err != nil {
		t.Fatal(err)
	}

	link := strings.TrimSpace(in.must("ui", "--print"))
	webDo(t, ctx, "open the page", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)))
	webDo(t, ctx, "choose workload identity",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#add-form details").open = true;
			const g = document.getElementById("add-grant"); g.value = "jwt_bearer"; g.dispatchEvent(new Event("change"));`),
		chromedp.WaitVisible(chromedp.ID("add-assertion-upload")))
	if webEval[bool](t, ctx, `!!document.getElementById("add-assertion-file")`) {
		t.Fatal("the page still has a field for a file path")
	}

	// Too large: refused in the page, the field stays empty.
	webDo(t, ctx, "upload a 64 KiB + 1 file", chromedp.SetUploadFiles(chromedp.ID("add-assertion-upload"), []string{big}))
	webWait(t, ctx, "the size refusal", `() => document.getElementById("notice").textContent.includes("larger than 64 KiB")`, "")
	if v := webEval[string](t, ctx, `document.getElementById("add-assertion").value`); v != "" {
		t.Fatalf("the oversized file was read into the form (%d bytes)", len(v))
	}

	webDo(t, ctx, "upload the JWT file", chromedp.SetUploadFiles(chromedp.ID("add-assertion-upload"), []string{jwtFile}))
	webWait(t, ctx, "the JWT in the form", `() => document.getElementById("add-assertion").value.trim() !== ""`, "")
	webDo(t, ctx, "add the server", chromedp.SendKeys(chromedp.ID("add-client-id"), "robot"),
		chromedp.SendKeys(chromedp.ID("add-url"), a.URL), chromedp.Click(chromedp.ID("add-submit")))
	card := `(u) => document.querySelector('article[data-url="' + CSS.escape(u) + '"]')`
	webWait(t, ctx, "the server to be signed in", `(u) => (`+card+`)(u)?.dataset.status === "signed_in"`, a.URL)
	tokens, _, _ := a.Requests()
	if len(tokens) != 1 || tokens[0].Get("assertion") != tok || tokens[0].Get("client_id") != "robot" {
		t.Fatalf("token requests: %d; want one with the uploaded JWT", len(tokens))
	}
	webWait(t, ctx, "the form to forget the JWT", `() => document.getElementById("add-assertion").value === ""`, "")
}
