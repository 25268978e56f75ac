// Package toolpolicy is the one tool allow/deny matcher that both the stdio
// proxy (proxy/) and the reverse proxy (revproxy/) apply to MCP traffic: a
// tool the policy refuses is removed from every tools/list result and a
// tools/call naming it is answered with a JSON-RPC error instead of reaching
// the server.
//
// Patterns use mcp-remote's --ignore-tool syntax: '*' stands for any run of
// characters (none included), everything else is literal, the pattern must
// match the whole tool name, and case does not matter ("delete*" matches
// "deleteTask" and "DELETE_USER"; "*account" matches "getAccount").
package toolpolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Policy is a server's tool policy. A tool is allowed when Allow is empty
// or one of its patterns matches, and no pattern of Deny matches: Deny
// wins. The zero Policy allows every tool.
type Policy struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
	// App, when set, is the calling app's own policy for the server (set
	// with mcpauthd tools URL --app): a tool must pass it too. The daemon
	// adds it to what it hands a proxy for an app; a stored policy has
	// none, and App has no App of its own.
	App *Policy `json:"app,omitempty"`
}

// MaxPattern bounds one pattern's length.
const MaxPattern = 256

// IsZero reports whether p allows every tool.
func (p Policy) IsZero() bool {
	return len(p.Allow) == 0 && len(p.Deny) == 0 && (p.App == nil || p.App.IsZero())
}

// Equal reports whether p and q are the same patterns (the app's too).
func (p Policy) Equal(q Policy) bool {
	if !slices.Equal(p.Allow, q.Allow) || !slices.Equal(p.Deny, q.Deny) {
		return false
	}
	switch {
	case p.App == nil || q.App == nil:
		return (p.App == nil || p.App.IsZero()) == (q.App == nil || q.App.IsZero())
	default:
		return p.App.Equal(*q.App)
	}
}

// Check says what is wrong with p's patterns, if anything: an empty
// pattern, one longer than MaxPattern, or one holding a control character.
func (p Policy) Check() error {
	if p.App != nil {
		if p.App.App != nil {
			return errors.New("an app's tool policy cannot hold another app's")
		}
		if err := p.App.Check(); err != nil {
			return err
		}
	}
	for _, list := range [][]string{p.Allow, p.Deny} {
		for _, pat := range list {
			if err := CheckPattern(pat); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckPattern says what is wrong with one pattern, if anything.
func CheckPattern(pat string) error {
	switch {
	case pat == "":
		return errors.New("empty tool pattern: name a tool, or use '*' as a wildcard")
	case len(pat) > MaxPattern:
		return fmt.Errorf("tool pattern %.32q… is longer than %d bytes", pat, MaxPattern)
	case strings.IndexFunc(pat, unicode.IsControl) >= 0:
		return fmt.Errorf("tool pattern %q holds a control character", pat)
	}
	return nil
}

// ParseList reads a comma-separated list of patterns (the deny_tools
// setting): each is trimmed of white space, empty items are dropped, and
// the first bad pattern is an error naming it.
func ParseList(s string) ([]string, error) {
	var out []string
	for _, pat := range strings.Split(s, ",") {
		if pat = strings.TrimSpace(pat); pat == "" {
			continue
		}
		if err := CheckPattern(pat); err != nil {
			return nil, err
		}
		out = append(out, pat)
	}
	return out, nil
}

// With returns p with deny patterns added (mcp-remote's --ignore-tool on
// top of the stored policy).
func (p Policy) With(deny ...string) Policy {
	if len(deny) == 0 {
		return p
	}
	return Policy{Allow: p.Allow, Deny: append(append([]string(nil), p.Deny...), deny...), App: p.App}
}

// Allows reports whether p lets tool through.
func (p Policy) Allows(tool string) bool {
	if p.App != nil && !p.App.Allows(tool) {
		return false
	}
	for _, pat := range p.Deny {
		if Match(pat, tool) {
			return false
		}
	}
	if len(p.Allow) == 0 {
		return true
	}
	for _, pat := range p.Allow {
		if Match(pat, tool) {
			return true
		}
	}
	return false
}

// String describes p for people ("all tools" when zero).
func (p Policy) String() string {
	if p.IsZero() {
		return "all tools allowed"
	}
	if p.App != nil && !p.App.IsZero() {
		own := Policy{Allow: p.Allow, Deny: p.Deny}
		return own.String() + "; and for this app: " + p.App.String()
	}
	var parts []string
	if len(p.Allow) > 0 {
		parts = append(parts, "allow "+strings.Join(p.Allow, ", "))
	}
	if len(p.Deny) > 0 {
		parts = append(parts, "deny "+strings.Join(p.Deny, ", "))
	}
	return strings.Join(parts, "; ")
}

// Match reports whether pattern matches all of name, as mcp-remote's
// --ignore-tool does: '*' matches any run of characters, the rest is
// compared case-insensitively (Unicode simple folding).
func Match(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return strings.EqualFold(pattern, name)
	}
	// The first part anchors at the start, the last at the end, and the
	// ones between are found leftmost in order (greedy-free glob).
	first, last := parts[0], parts[len(parts)-1]
	if !hasPrefixFold(name, first) {
		return false
	}
	name = name[len(first):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := indexFold(name, mid)
		if i < 0 {
			return false
		}
		name = name[i+len(mid):]
	}
	return hasSuffixFold(name, last)
}

// The *Fold helpers compare byte ranges of equal length; a case pair of
// different UTF-8 lengths (rare: 'ſ'/'s', 'K'/'k') is then not matched,
// which only ever makes a pattern match less.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// CodeRefused is the JSON-RPC error code of a tools/call the policy
// refuses: Invalid params, what a server answers for a tool it does not
// have, so apps treat it as such.
const CodeRefused = -32602

// RefusalMessage is the JSON-RPC error message of a refused tools/call:
// it names the tool, the server and how to change the policy.
func RefusalMessage(tool, server string) string {
	return fmt.Sprintf("mcpauthd: tool %q is blocked by the tool policy for %s (see: mcpauthd tools %s)", tool, server, server)
}

// RefusalData is the JSON-RPC error's data of a refused tools/call.
func RefusalData(tool string) json.RawMessage {
	b, _ := json.Marshal(struct {
		Reason string `json:"reason"`
		Tool   string `json:"tool"`
	}{"tool_policy", tool})
	return b
}

// CallTool returns the tool a tools/call's params name ("" when none).
func CallTool(params json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(params, &p)
	return p.Name
}

// FilterList removes the tools p refuses from a tools/list result (any
// other member kept as it is). It returns result unchanged when nothing
// is removed or the result has no "tools" array, and how many it removed.
func (p Policy) FilterList(result json.RawMessage) (json.RawMessage, int) {
	if p.IsZero() {
		return result, 0
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(result, &obj) != nil {
		return result, 0
	}
	var tools []json.RawMessage
	if json.Unmarshal(obj["tools"], &tools) != nil || tools == nil {
		return result, 0
	}
	kept := tools[:0:0]
	for _, t := range tools {
		var tool struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(t, &tool) == nil && !p.Allows(tool.Name) {
			continue
		}
		kept = append(kept, t)
	}
	if len(kept) == len(tools) {
		return result, 0
	}
	obj["tools"], _ = json.Marshal(kept)
	out, err := json.Marshal(obj)
	if err != nil {
		return result, 0
	}
	return out, len(tools) - len(kept)
}
