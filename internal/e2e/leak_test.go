package e2e

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// leakScan collects everything mcpauthd wrote or said that is not meant to
// carry a secret, and the secrets the peers saw, and checks that none of
// the second appears in the first.
type leakScan struct {
	t       *testing.T
	in      *instance
	secrets map[string]string // secret → what it is
	texts   map[string][]byte // where → what was said there
	control string            // a public string the registry must hold
}

func newLeakScan(t *testing.T, in *instance) *leakScan {
	return &leakScan{t: t, in: in, secrets: map[string]string{}, texts: map[string][]byte{}}
}

func (l *leakScan) secret(what, v string) {
	v = strings.TrimSpace(v)
	if len(v) >= 8 {
		l.secrets[v] = what
	}
}

func (l *leakScan) text(where string, b []byte) {
	l.texts[where] = append(l.texts[where], b...)
}

// run runs the CLI and keeps its stderr (its stdout is where a token is
// meant to be printed, by `token` and `headers`).
func (l *leakScan) run(args ...string) (string, int) {
	out, errs, code := l.in.run(args...)
	l.text("CLI stderr of "+args[0], []byte(errs))
	if args[0] != "token" && args[0] != "headers" {
		l.text("CLI stdout of "+args[0], []byte(out))
	}
	return out, code
}

func (l *leakScan) must(args ...string) string {
	l.t.Helper()
	out, code := l.run(args...)
	if code != 0 {
		l.t.Fatalf("mcpauthd %s: exit %d", strings.Join(args, " "), code)
	}
	return out
}

// snapshotDaemon keeps the running daemon's command line and environment,
// its status and list answers, and its web page.
func (l *leakScan) snapshotDaemon() {
	l.t.Helper()
	st, err := ipc.NewClient(l.in.socket()).Status(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	for _, f := range []string{"cmdline", "environ"} {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(st.PID) + "/" + f)
		if err != nil {
			l.t.Fatalf("/proc/%d/%s: %v", st.PID, f, err)
		}
		l.text("/proc/<daemon>/"+f, b)
	}
	l.run("list", "--json")
	l.run("status")
	if st.WebURL != "" {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		if res, err := c.Get(st.WebURL); err == nil {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
			res.Body.Close()
			l.text("web page", b)
			for _, p := range []string{"/api/servers", "/api/status"} {
				if res, err := c.Get(strings.TrimSuffix(l.in.loopback(st), "/") + p); err == nil {
					b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
					res.Body.Close()
					l.text("web "+p, b)
				}
			}
		}
	}
}

// files keeps every file under the instance's XDG directories: the
// registry's bytes, the daemon's log, key files, anything else.
func (l *leakScan) files() {
	for _, d := range []string{"data", "state", "config", "run"} {
		_ = filepath.WalkDir(filepath.Join(l.in.dir, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Type()&fs.ModeSocket != 0 {
				return nil
			}
			b, err := os.ReadFile(p)
			if err == nil {
				rel, _ := filepath.Rel(l.in.dir, p)
				l.text(rel, b)
			}
			return nil
		})
	}
}

func (l *leakScan) check() {
	l.t.Helper()
	if len(l.secrets) == 0 {
		l.t.Fatal("no secrets captured: the scan would prove nothing")
	}
	var scanned int
	for where, b := range l.texts {
		scanned += len(b)
		for s, what := range l.secrets {
			if bytes.Contains(b, []byte(s)) {
				l.t.Errorf("LEAK: %s (%.12s…) appears in %s", what, s, where)
			}
		}
	}
	kinds := map[string]int{}
	for _, what := range l.secrets {
		kinds[what]++
	}
	l.t.Logf("scanned %d places (%d bytes) for %d secrets: %v", len(l.texts), scanned, len(l.secrets), kinds)
	if _, ok := l.texts[filepath.Join("state", "mcpauthd", "mcpauthd.log")]; !ok {
		l.t.Error("the daemon's log file was not scanned")
	}
	if reg, ok := l.texts[filepath.Join("data", "mcpauthd", "registry.db")]; !ok {
		l.t.Error("the registry was not scanned")
	} else if l.control != "" && !bytes.Contains(reg, []byte(l.control)) {
		// A control: the registry keeps server URLs in the clear; if one
		// is not there, the scan read the wrong bytes.
		l.t.Errorf("the registry's bytes do not hold the server URL %s: the scan read the wrong file", l.control)
	}
}

func (in *instance) loopback(st *ipc.Status) string {
	if i := strings.Index(st.CallbackURL, "/callback"); i > 0 {
		return st.CallbackURL[:i]
	}
	return st.CallbackURL
}

// TestNoSecretLeaks runs whole flows through the real binary at debug log
// level — the TypeScript SDK example server (login, token, logout), a fake
// authorization server that issues client secrets and rotates refresh
// tokens and then fails in every way, and Ory Hydra's refresh when
// MCPAUTHD_HYDRA is set — and then looks for every access token, refresh
// token, authorization code, PKCE verifier and client secret in the
// daemon's log, the CLI's stderr, the error messages, every file the
// daemon wrote (the registry's bytes included), the daemon's command line
// and environment, and the web page. It finds none.
func TestNoSecretLeaks(t *testing.T) {
	in := newInstance(t)
	l := newLeakScan(t, in)

	// 1. The TypeScript SDK example server. Its "browser" is a script that
	// records the redirect (the authorization code) and then follows it.
	_, err := exec.LookPath("curl")
	need(t, err == nil, "curl")
	tsURL := tsServer(t)
	l.control = tsURL
	capture := filepath.Join(t.TempDir(), "redirects")
	browser := filepath.Join(t.TempDir(), "browser.sh")
	// Like a browser, it is given the file:// URL of mcpauthd's redirect
	// page, reads it and goes where its meta refresh says; from there it
	// follows every redirect (with cookies: mcpauthd's binding cookie, and
	// Hydra's login and consent app) and records the URL it ended on: the
	// callback, with the code. The daemon keeps the environment it was
	// started with: this browser serves every sign-in below.
	jar := filepath.Join(t.TempDir(), "cookies")
	script := "#!/bin/sh\nset -e\ncase \"$1\" in file://*) ;; *) exit 1;; esac\n" +
		"u=$(sed -n 's/.*http-equiv=\"refresh\" content=\"0;url=\\([^\"]*\\)\".*/\\1/p' \"${1#file://}\" | sed 's/&amp;/\\&/g')\n" +
		"curl -s -L -c " + jar + " -b " + jar + " -o /dev/null -w '%{url_effective}\\n' \"$u\" >> " + capture + "\n"
	if err := os.WriteFile(browser, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	in.env = append(in.env, "BROWSER="+browser)
	if out := l.must("login", tsURL); !strings.Contains(out, "Signed in") {
		t.Fatalf("login: %s", out)
	}
	tsTok := strings.TrimSpace(l.must("token", tsURL))
	l.secret("TS access token", tsTok)
	l.must("headers", tsURL)
	l.snapshotDaemon()
	l.must("logout", tsURL)
	if _, code := l.run("token", tsURL); code != 3 {
		t.Errorf("token after logout: exit %d", code)
	}

	// 2. The fake AS: client secret, rotation, failures, challenge, logout.
	a := newFlakyAS(t)
	login(t, in, a.url)
	l.must("token", a.url)
	l.must("token", "--min-valid", "2h", a.url) // refresh, rotated
	for _, mode := range []string{mode500, modeGarbage, modeTruncated, modeHuge} {
		a.tokenMode.Store(mode)
		l.run("token", "--min-valid", "2h", a.url)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := ipc.NewClient(in.socket()).Refresh(ctx, a.url); err != nil {
			l.text("IPC refresh error ("+mode+")", []byte(err.Error()))
		}
		cancel()
	}
	a.tokenMode.Store(modeOK)
	l.must("token", "--min-valid", "2h", a.url)
	l.snapshotDaemon()
	// A wrong challenge and a bad pasted redirect: their errors too.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if _, err := ipc.NewClient(in.socket()).Complete(ctx, "http://127.0.0.1/callback?state=nope&code=abcdefgh12345678"); err != nil {
		l.text("IPC complete error", []byte(err.Error()))
	}
	cancel()
	a.tokenMode.Store(modeInvalid)
	l.run("token", "--min-valid", "2h", a.url)
	a.tokenMode.Store(modeOK)
	login(t, in, a.url)
	l.must("token", a.url)
	l.snapshotDaemon()
	l.must("logout", a.url)
	for _, s := range a.allSecrets() {
		l.secret("fake AS secret (code, verifier, client secret, access or refresh token)", s)
	}

	// 3. Ory Hydra: a real refresh with rotation.
	if os.Getenv(hydraEnvVar) != "" {
		h := startHydra(t, hydraOptions{accessTTL: "1h"})
		login(t, in, h.mcpURL)
		l.must("token", h.mcpURL)
		l.must("token", "--min-valid", "2h", h.mcpURL)
		l.snapshotDaemon()
		l.must("logout", h.mcpURL)
		for _, c := range h.tokenCalls() {
			l.secret("Hydra refresh token presented", c.presented)
			l.secret("Hydra refresh token issued", c.issued)
			l.secret("Hydra access token", c.access)
		}
	} else {
		t.Log("MCPAUTHD_HYDRA not set: no Hydra refresh in this run")
	}

	redirects, _ := os.ReadFile(capture)
	for _, line := range strings.Split(string(redirects), "\n") {
		if i := strings.Index(line, "code="); i >= 0 {
			code := line[i+5:]
			if j := strings.IndexByte(code, '&'); j >= 0 {
				code = code[:j]
			}
			l.secret("authorization code seen by the browser", code)
		}
	}
	if !strings.Contains(string(redirects), "code=") {
		t.Fatalf("the browser script saw no code: %q", redirects)
	}

	// Stop the daemon so that everything it wrote is on disk, then scan.
	in.restart()
	l.files()
	l.check()
}
