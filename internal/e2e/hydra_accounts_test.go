package e2e

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHydraSecondAccount: a real OpenID provider that publishes no
// prompt_values_supported and refuses prompt=select_account (Ory Hydra:
// "unknown value for prompt parameter") takes the second account's sign-in:
// it is not asked select_account, gets the login hint, and the two
// accounts get different tokens, both valid at Hydra.
func TestHydraSecondAccount(t *testing.T) {
	h := startHydra(t, hydraOptions{accessTTL: "1h"})
	in := newInstance(t)
	log := filepath.Join(t.TempDir(), "visits") // every URL the "browser" visits
	in.env = append(in.env, browserLog+"="+log)
	login(t, in, h.mcpURL)
	login(t, in, h.mcpURL, "--account", "second", "--login-hint", "second@example.com")
	own := strings.TrimSpace(in.must("token", h.mcpURL))
	second := strings.TrimSpace(in.must("token", h.mcpURL, "--account", "second"))
	if own == second {
		t.Fatal("the two accounts share a token")
	}
	for _, tok := range []string{own, second} {
		if ok, _, err := h.introspect(tok); err != nil || !ok {
			t.Fatalf("Hydra does not take an account's token: %v %v", ok, err)
		}
	}
	var prompts []string
	b, _ := os.ReadFile(log)
	seen := map[string]bool{} // the browser log names a URL at each step that reaches it
	for _, line := range strings.Split(string(b), "\n") {
		if u, err := url.Parse(line); err == nil && strings.HasSuffix(u.Path, "/oauth2/auth") && !seen[u.Query().Get("state")] {
			seen[u.Query().Get("state")] = true
			prompts = append(prompts, u.Query().Get("prompt")+" hint="+u.Query().Get("login_hint"))
		}
	}
	if len(prompts) != 2 || prompts[0] != "consent hint=" || prompts[1] != "consent hint=second@example.com" {
		t.Fatalf("authorization requests' prompt and login_hint: %q", prompts)
	}
}
