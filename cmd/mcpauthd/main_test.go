package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpauthd/mcpauthd/cli"
	"github.com/mcpauthd/mcpauthd/internal/paths"
	"github.com/mcpauthd/mcpauthd/ipc"
	"github.com/mcpauthd/mcpauthd/sanitize"
)

// fakeDaemon serves /v1/token on a socket with whatever *answer holds (a
// status and a body) and returns the socket and the number of requests.
func fakeDaemon(t *testing.T, answer *struct {
	status int
	body   string
}) (string, func() int) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "run", "mcpauthd.sock")
	l, err := ipc.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		if r.URL.Path != "/v1/token" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(answer.status)
		_, _ = w.Write([]byte(answer.body))
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return sock, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestFastPrintsWhatTheEngineDoes: for the same answer of the daemon, the
// front's token and headers print byte for byte what the engine's command
// line (package cli, in process, and its main's printing of the error)
// prints, on stdout and stderr, with the same exit status, refusals
// included (exit 3 for a sign-in); for the command lines the engine must
// handle (help, a bad flag, another command) the front writes nothing and
// hands over.
func TestFastPrintsWhatTheEngineDoes(t *testing.T) {
	const url = "https://mcp.example.com/mcp"
	// Half a second past a whole number of seconds: expires_in, computed
	// by each a few milliseconds apart, is the same.
	expiry := time.Now().Truncate(time.Second).Add(time.Hour + 500*time.Millisecond).UTC()
	answer := func(r ipc.TokenResponse) string {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	bearer := answer(ipc.TokenResponse{AccessToken: "tok-1", TokenType: "Bearer", Expiry: expiry, Scopes: []string{"a", "b"}})
	warned := answer(ipc.TokenResponse{AccessToken: "tok-2", TokenType: "Bearer", Expiry: expiry, Warning: "the token is valid only until soon"})
	public := answer(ipc.TokenResponse{})
	dpop := answer(ipc.TokenResponse{AccessToken: "tok-3", TokenType: ipc.TokenTypeDPoP, Expiry: expiry, DPoPKeyThumbprint: "jkt", DPoPProof: "proof"})
	dpopNoProof := answer(ipc.TokenResponse{AccessToken: "tok-4", TokenType: ipc.TokenTypeDPoP, Expiry: expiry, DPoPKeyThumbprint: "jkt"})
	needsSignIn := `{"code":"needs_sign_in","message":"not signed in to ` + url + `"}`
	refused := `{"code":"denied","message":"the user denied this app's requests for ` + url + "\x1b[31m" + `"}`
	upstream := `{"code":"upstream","message":"the refresh failed: the authorization server answered 503"}`

	cases := []struct {
		body   string
		status int
		args   []string
		fast   bool // the front answers by itself
	}{
		{bearer, 200, []string{"token", url}, true},
		{bearer, 200, []string{"token", "--format", "raw", url}, true},
		{bearer, 200, []string{"token", url, "--format=header"}, true},
		{bearer, 200, []string{"token", "--format", "json", url, "--min-valid", "5m"}, true},
		{bearer, 200, []string{"token", url, "--account", "work"}, true},
		{warned, 200, []string{"token", url}, true},
		{warned, 200, []string{"token", "--format", "json", url}, true},
		{warned, 200, []string{"headers", url}, true},
		{public, 200, []string{"token", url}, true},
		{public, 200, []string{"token", "--format", "header", url}, true},
		{public, 200, []string{"token", "--format", "json", url}, true},
		{public, 200, []string{"headers", url}, true},
		{bearer, 200, []string{"headers", url}, true},
		{bearer, 200, []string{"headers", url, "--min-valid", "1m", "--account", "a"}, true},
		{dpop, 200, []string{"token", url}, true},
		{dpop, 200, []string{"token", "--format", "json", url}, true},
		{dpop, 200, []string{"headers", url, "--method", "POST", "--url", url, "--nonce", "n"}, true},
		{dpopNoProof, 200, []string{"headers", url}, true},
		{dpop, 200, []string{"token", "--format", "header", url}, true},
		{needsSignIn, 401, []string{"token", url}, true},
		{needsSignIn, 401, []string{"headers", url}, true},
		{refused, 403, []string{"token", url}, true},
		{upstream, 502, []string{"headers", url}, true},
		{bearer, 200, []string{"token", "--format", "yaml", url}, false},
		{bearer, 200, []string{"token", url, "--bogus"}, false},
		{bearer, 200, []string{"token"}, false},
		{bearer, 200, []string{"token", url, "extra"}, false},
		{bearer, 200, []string{"token", "-h"}, false},
		{bearer, 200, []string{"headers", url, "--method", "POST"}, false},
		{bearer, 200, []string{"list"}, false},
		{bearer, 200, []string{}, false},
	}
	var ans struct {
		status int
		body   string
	}
	sock, requests := fakeDaemon(t, &ans)
	for _, c := range cases {
		ans.status, ans.body = c.status, c.body
		var out, errOut bytes.Buffer
		done, code := fast(context.Background(), c.args, sock, &out, &errOut)
		if done != c.fast {
			t.Errorf("%q: fast = %v; want %v", c.args, done, c.fast)
			continue
		}
		if !done {
			if out.Len()+errOut.Len() > 0 {
				t.Errorf("%q: the front handed over after writing %q, %q", c.args, out.String(), errOut.String())
			}
			continue
		}
		var engOut, engErr bytes.Buffer
		env := &cli.Env{Paths: paths.Paths{Socket: sock, State: t.TempDir()}, Stdin: strings.NewReader(""),
			Stdout: &engOut, Stderr: &engErr, NoAutostart: true}
		// What the engine's main prints for Run's error, and its status.
		engCode := 0
		if err := cli.Run(context.Background(), env, c.args); err != nil {
			fmt.Fprintln(&engErr, "mcpauthd:", sanitize.Error(err))
			engCode = 1
			var ee *cli.ExitError
			if errors.As(err, &ee) {
				engCode = ee.Code
			}
		}
		if out.String() != engOut.String() || errOut.String() != engErr.String() || code != engCode {
			t.Errorf("%q:\nfront  stdout %q stderr %q status %d\nengine stdout %q stderr %q status %d", c.args, out.String(), errOut.String(), code, engOut.String(), engErr.String(), engCode)
		}
		if out.Len() == 0 && errOut.Len() == 0 && c.body != public {
			t.Errorf("%q: printed nothing", c.args)
		}
		if strings.Contains(errOut.String(), "\x1b") {
			t.Errorf("%q: an escape sequence from the daemon's answer reached the terminal", c.args)
		}
	}
	if requests() == 0 {
		t.Fatal("the fake daemon saw no request")
	}
}

// With nothing serving the socket the front hands over (the engine starts
// the daemon), having written nothing.
func TestFastNoDaemon(t *testing.T) {
	var out, errOut bytes.Buffer
	done, _ := fast(context.Background(), []string{"token", "https://x/mcp"}, filepath.Join(t.TempDir(), "none.sock"), &out, &errOut)
	if done || out.Len()+errOut.Len() > 0 {
		t.Fatalf("fast = %v, wrote %q %q", done, out.String(), errOut.String())
	}
}

// The engine is found beside the front (symbolic links resolved by the
// caller), else on PATH; missing, the error names it, where it looked and
// how to install it.
func TestFindEngine(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "mcpauthd")
	noPath := func(string) (string, error) { return "", errors.New("not found") }
	onPath := filepath.Join(t.TempDir(), engineName)
	pathHas := func(name string) (string, error) {
		if name != engineName {
			t.Errorf("looked up %q on PATH", name)
		}
		return onPath, nil
	}

	got, err := findEngine(self, noPath)
	if err == nil {
		t.Fatalf("found %s in an empty directory", got)
	}
	for _, want := range []string{engineName + " is missing", filepath.Join(dir, engineName), "PATH", "go install github.com/mcpauthd/mcpauthd/cmd/...@latest", "package"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := findEngine("", noPath); err == nil || !strings.Contains(err.Error(), "not on PATH") {
		t.Errorf("own executable unknown: %v", err)
	}
	if got, err := findEngine(self, pathHas); err != nil || got != onPath {
		t.Errorf("on PATH only: %q, %v; want %s", got, err, onPath)
	}

	beside := filepath.Join(dir, engineName)
	if err := os.WriteFile(beside, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if got, _ := findEngine(self, pathHas); got != onPath {
			t.Errorf("a file beside that is not executable: got %s, want PATH's %s", got, onPath)
		}
		if err := os.Chmod(beside, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := findEngine(self, pathHas); err != nil || got != beside {
		t.Errorf("beside the front: %q, %v; want %s", got, err, beside)
	}
}
