package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestProxySettingThroughBinary: the daemon follows HTTPS_PROXY only with
// proxy = "environment". Without it, status says the connection is direct
// and the variables ignored; with it (after a restart, which keeps the
// daemon's environment), status names the proxy, never its credentials.
// That requests really go through the proxy, and private targets are still
// refused, is oauth/TestProxy's (a real CONNECT proxy).
func TestProxySettingThroughBinary(t *testing.T) {
	in := newInstance(t)
	in.env = append(withoutEnv(in.env, "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"),
		"HTTPS_PROXY=http://user:proxysecret@127.0.0.1:9/")
	out := in.must("status")
	if !strings.Contains(out, "network:   direct (HTTPS_PROXY and HTTP_PROXY are ignored") {
		t.Errorf("status with the proxy setting off:\n%s", out)
	}
	in.writeSettings("proxy = \"environment\"\n")
	if out := in.must("restart"); !strings.Contains(out, "Restarted mcpauthd") {
		t.Fatalf("restart: %s", out)
	}
	out = in.must("status")
	for _, want := range []string{`network:\s+through the proxy http://127\.0\.0\.1:9 `, `proxy\s+environment\s+file`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("status lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "proxysecret") || strings.Contains(out, "user:") {
		t.Errorf("status shows the proxy's credentials:\n%s", out)
	}
}
