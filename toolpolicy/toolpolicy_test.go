package toolpolicy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestMatch pins mcp-remote's --ignore-tool syntax (its README's examples
// and its patternToRegex: '*' is any run, the rest literal, whole name,
// case-insensitive).
func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pat, name string
		want      bool
	}{
		{"delete*", "deleteTask", true},
		{"delete*", "DELETE_USER", true},
		{"delete*", "undelete", false},
		{"*account", "getAccount", true},
		{"*account", "accounts", false},
		{"exactTool", "exactTool", true},
		{"exactTool", "exactTool2", false},
		{"exactTool", "exacttool", true},
		{"*", "", true},
		{"*", "anything", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"a*b*c", "ab", false},
		{"a**b", "ab", true},
		{"a.b", "aXb", false}, // '.' is literal, not a regexp
		{"a.b", "a.b", true},
		{"[x]", "[x]", true},
		{"ab*ab", "ab", false}, // prefix and suffix must not overlap
		{"ab*ab", "abab", true},
	} {
		if got := Match(c.pat, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pat, c.name, got, c.want)
		}
	}
}

func TestAllows(t *testing.T) {
	p := Policy{Allow: []string{"get*", "list*"}, Deny: []string{"*secret*"}}
	for name, want := range map[string]bool{
		"getUser": true, "listFiles": true, "deleteUser": false, "getSecretKey": false, "": false,
	} {
		if got := p.Allows(name); got != want {
			t.Errorf("Allows(%q) = %v, want %v", name, got, want)
		}
	}
	if !(Policy{}).Allows("anything") {
		t.Error("the zero policy refuses a tool")
	}
	if q := (Policy{Deny: []string{"a"}}).With("b"); q.Allows("b") || q.Allows("a") || !q.Allows("c") {
		t.Errorf("With: %+v", q)
	}
}

func TestCheck(t *testing.T) {
	for _, bad := range []Policy{{Deny: []string{""}}, {Allow: []string{"a\nb"}}, {Deny: []string{strings.Repeat("x", MaxPattern+1)}}} {
		if bad.Check() == nil {
			t.Errorf("Check(%q) accepted", bad)
		}
	}
	if err := (Policy{Allow: []string{"get*"}, Deny: []string{"*"}}).Check(); err != nil {
		t.Error(err)
	}
}

func TestFilterList(t *testing.T) {
	p := Policy{Deny: []string{"delete*"}}
	in := json.RawMessage(`{"tools":[{"name":"echo","inputSchema":{}},{"name":"deleteAll"},{"name":"DeleteOne"}],"nextCursor":"c2"}`)
	out, n := p.FilterList(in)
	if n != 2 {
		t.Fatalf("removed %d, want 2: %s", n, out)
	}
	var got struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
		NextCursor string `json:"nextCursor"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Tools) != 1 || got.Tools[0].Name != "echo" || got.NextCursor != "c2" {
		t.Errorf("filtered result: %s", out)
	}
	// Nothing to remove, or not a tools/list result: unchanged, byte for byte.
	for _, same := range []string{`{"tools":[{"name":"echo"}]}`, `{"content":[]}`, `[1]`, `null`} {
		if out, n := p.FilterList(json.RawMessage(same)); n != 0 || string(out) != same {
			t.Errorf("FilterList(%s) = %s, %d", same, out, n)
		}
	}
}

// TestParseList: the deny_tools setting's list: trimmed, empty items
// dropped, a bad pattern named.
func TestParseList(t *testing.T) {
	got, err := ParseList(" delete* ,,*_admin, ")
	if err != nil || !slices.Equal(got, []string{"delete*", "*_admin"}) {
		t.Fatalf("ParseList: %q %v", got, err)
	}
	if got, err := ParseList(" , "); err != nil || got != nil {
		t.Fatalf("ParseList of nothing: %q %v", got, err)
	}
	if _, err := ParseList("ok, bad\x07"); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Fatalf("ParseList with a control character: %v", err)
	}
}

// TestAppPolicy: an app's own policy (Policy.App) must be passed too, its
// allow list narrowing the server's; With keeps it; Equal and IsZero see
// it; it cannot hold another; tools/list results follow it.
func TestAppPolicy(t *testing.T) {
	p := Policy{Allow: []string{"get*", "list*"}, Deny: []string{"getSecret"}, App: &Policy{Allow: []string{"get*"}, Deny: []string{"getUser"}}}
	for tool, want := range map[string]bool{"getItem": true, "listItems": false, "getUser": false, "getSecret": false, "delete": false} {
		if p.Allows(tool) != want {
			t.Errorf("%s allowed = %v under %s, want %v", tool, !want, p, want)
		}
	}
	if w := p.With("getItem"); w.App == nil || w.Allows("getItem") {
		t.Errorf("With lost the app's policy or the added pattern: %s", w)
	}
	if (Policy{App: &Policy{}}).IsZero() == false || p.IsZero() {
		t.Error("IsZero does not see the app's policy as it is")
	}
	if !p.Equal(p.With()) || p.Equal(Policy{Allow: p.Allow, Deny: p.Deny}) || !(Policy{}).Equal(Policy{App: &Policy{}}) {
		t.Error("Equal does not compare the app's policy")
	}
	if err := (Policy{App: &Policy{App: &Policy{}}}).Check(); err == nil {
		t.Error("an app's policy holding another passed Check")
	}
	if err := (Policy{App: &Policy{Deny: []string{""}}}).Check(); err == nil {
		t.Error("an app's empty pattern passed Check")
	}
	if s := p.String(); !strings.Contains(s, "and for this app: allow get*; deny getUser") {
		t.Errorf("String = %q", s)
	}
	out, n := p.FilterList(json.RawMessage(`{"tools":[{"name":"getItem"},{"name":"listItems"},{"name":"getUser"}]}`))
	if n != 2 || !strings.Contains(string(out), "getItem") || strings.Contains(string(out), "getUser") {
		t.Errorf("FilterList = %s, %d", out, n)
	}
}
