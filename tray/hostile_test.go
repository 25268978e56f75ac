package tray

import (
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/mcpauthd/mcpauthd/ipc"
)

// TestHostileLabels: a server's name, URL path and status message with
// escape sequences, controls and bidi overrides reach neither the menu
// labels nor the tooltips, and a huge name is cut.
func TestHostileLabels(t *testing.T) {
	evil := "\x1b]0;pwned\x07Good\x1b[2K\rserver\u202e\x9b31m" + strings.Repeat("x", 5000)
	s := ipc.ServerInfo{URL: "https://mcp.example.com/mcp", Name: evil, Status: ipc.StateError, StatusMessage: "bad: \x1b]8;;https://evil/\x1b\\click\x1b]8;;\x1b\\\nline2"}
	now := time.Now()
	for what, got := range map[string]string{
		"label":   entryLabel(s, now),
		"name":    displayName(s),
		"state":   stateText(s, now),
		"tooltip": tooltip(s.URL, s.StatusMessage),
	} {
		for _, r := range got {
			if r == '\n' && what == "tooltip" {
				continue
			}
			if r < 0x20 || r >= 0x7f && r <= 0x9f || unicode.Is(unicode.Cf, r) {
				t.Errorf("%s %q holds %U", what, got, r)
			}
		}
		if strings.Contains(got, "pwned") || strings.Contains(got, "evil") {
			t.Errorf("%s %q holds an escape sequence's payload", what, got)
		}
		if len([]rune(got)) > 250 {
			t.Errorf("%s is %d characters long", what, len([]rune(got)))
		}
	}
	if !strings.HasPrefix(displayName(s), "Good server") {
		t.Errorf("the printable name is lost: %q", displayName(s))
	}
}
