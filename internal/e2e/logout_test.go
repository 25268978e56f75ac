package e2e

import (
	"strings"
	"testing"
)

// TestLogoutSaysWhatHappened: logout tells the user whether the
// authorization server revoked the tokens, cannot revoke them (the
// TypeScript SDK's example server offers no revocation endpoint), or
// failed to; and only "revoked" comes without a warning.
func TestLogoutSaysWhatHappened(t *testing.T) {
	in := newInstance(t)

	a := newFlakyAS(t)
	tok := a.signIn(t, in)
	out, errs, code := in.run("logout", a.url)
	if code != 0 || !strings.Contains(out, "the authorization server revoked the tokens") || errs != "" {
		t.Fatalf("logout with revocation: exit %d, %q, %q", code, out, errs)
	}
	if a.mcpStatus(t, tok) == 200 {
		t.Fatal("the token still works after a logout that said it was revoked")
	}

	a.signIn(t, in)
	a.allDown.Store(true)
	out, errs, code = in.run("logout", a.url)
	a.allDown.Store(false)
	if code != 0 || strings.Contains(out, "revoked the tokens") || !strings.Contains(errs, "revocation failed") || !strings.Contains(errs, "keep working") {
		t.Fatalf("logout with a failing revocation endpoint: exit %d, %q, %q", code, out, errs)
	}

	url := tsServer(t)
	login(t, in, url)
	out, errs, code = in.run("logout", url, "--remove")
	if code != 0 || !strings.Contains(out, "and removed it") || strings.Contains(out, "revoked") || !strings.Contains(errs, "offers no way to revoke") {
		t.Fatalf("logout where the AS cannot revoke: exit %d, %q, %q", code, out, errs)
	}
}
