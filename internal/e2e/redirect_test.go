package e2e

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRedirectsStayOnOrigin (issue #12, redirects): in a private network
// namespace where a private address (10.0.0.1) and the cloud metadata
// address (169.254.169.254) are live, a server that redirects discovery,
// the token request, the daemon's describe step or the stdio proxy's
// messages to another origin, to the private address or to the metadata
// service gets nothing there: the listeners on those addresses see no
// connection at all, so neither the token nor the user's --header values
// (nor the authorization code and PKCE verifier) leave the origin.
func TestRedirectsStayOnOrigin(t *testing.T) {
	if !inNetns(t) {
		return
	}
	in := newInstance(t)
	in.must("status")
	targets := map[string]*witness{
		"another origin": newWitness(t, "127.0.0.1", false),
		"private":        newWitness(t, nsPrivate, false),
		"metadata":       newWitness(t, nsLinkLocal, true),
	}
	check := func(t *testing.T, what string) {
		t.Helper()
		for name, w := range targets {
			w.untouched(t, what+" → "+name)
		}
	}
	redirectTo := func(a *flakyAS, target string, when func(*http.Request) bool) {
		for _, w := range targets {
			w.reset()
		}
		f := func(r *http.Request) string {
			if when(r) {
				return target + "/latest/meta-data/"
			}
			return ""
		}
		a.redirect.Store(&f)
	}

	// Discovery and the token request: each redirect refused, the login
	// never reaching the other address.
	for _, step := range []struct {
		name, path string
		authed     bool // only requests with a token
		mustFail   bool
	}{
		{"probe", "/mcp", false, true},
		{"protected-resource metadata", "/.well-known/oauth-protected-resource/mcp", false, false},
		{"authorization-server metadata", "/.well-known/oauth-authorization-server", false, false},
		{"registration", "/register", false, true},
		{"token", "/token", false, true},
	} {
		for name, w := range targets {
			t.Run(step.name+" to "+name, func(t *testing.T) {
				a := newFlakyAS(t)
				redirectTo(a, w.url, func(r *http.Request) bool { return r.URL.Path == step.path })
				out, errOut, code := in.run("login", a.url)
				t.Logf("login: exit %d\n%s%s", code, out, errOut)
				if step.mustFail && code == 0 {
					t.Errorf("the login succeeded though %s was redirected away", step.path)
				}
				check(t, step.name)
			})
		}
	}

	// The describe step after a sign-in and the stdio proxy: every request
	// carrying a token is redirected.
	for name, w := range targets {
		t.Run("describe and proxy to "+name, func(t *testing.T) {
			a := newFlakyAS(t)
			redirectTo(a, w.url, func(r *http.Request) bool {
				return r.URL.Path == "/mcp" && r.Header.Get("Authorization") != ""
			})
			login(t, in, a.url) // the sign-in stands; describe runs after it
			waitLog(t, in, "could not describe the server", a.url)
			check(t, "describe")

			line, stderr := proxyInitialize(t, in, a.url, "--header", "X-Canary: canary-4711")
			if !strings.Contains(line, `"error"`) {
				t.Errorf("proxy answered %q; want a JSON-RPC error\nstderr: %s", line, stderr)
			}
			check(t, "proxy")
		})
	}
}

// TestProxyRefusesReboundName: a server name that resolves to a private
// address (nsRebound → nsPrivate: what DNS rebinding does after a check)
// is refused by the stdio proxy when it dials, before any byte is sent;
// the listener at the private address sees no connection.
func TestProxyRefusesReboundName(t *testing.T) {
	if !inNetns(t) {
		return
	}
	in := newInstance(t)
	in.must("status")
	w := newWitness(t, nsPrivate, false)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(w.url, "http://"))
	url := "http://" + net.JoinHostPort(nsRebound, port) + "/mcp"
	line, stderr := proxyInitialize(t, in, url, "--allow-http", "--header", "X-Canary: canary-4711")
	if !strings.Contains(line, `"error"`) || !strings.Contains(line, "non-public address "+nsPrivate) {
		t.Errorf("proxy answered %q; want a JSON-RPC error naming the refused address\nstderr: %s", line, stderr)
	}
	w.untouched(t, "proxy to "+url)
}

// proxyInitialize runs `mcpauthd proxy url args…`, sends it an initialize
// request as an app would, and returns the first line it answers and its
// stderr.
func proxyInitialize(t *testing.T, in *instance, url string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.bin, append([]string{"proxy", url}, args...)...)
	cmd.Env = in.env
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(stdin, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"0"}}}`+"\n")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	stdin.Close()
	_ = cmd.Wait()
	if err != nil {
		t.Errorf("reading the proxy's answer: %v", err)
	}
	t.Logf("proxy: %s", line)
	return line, stderr.String()
}

// waitLog waits until the daemon's log has a line with all of words.
func waitLog(t *testing.T, in *instance, words ...string) {
	t.Helper()
	path := filepath.Join(in.dir, "state", "mcpauthd", "mcpauthd.log")
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			ok := true
			for _, w := range words {
				ok = ok && strings.Contains(l, w)
			}
			if ok {
				t.Logf("daemon: %s", l)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no daemon log line with %q", words)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
