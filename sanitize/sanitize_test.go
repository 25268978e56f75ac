package sanitize

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "Weather tools", "Weather tools"},
		{"other scripts kept", "Wetter – 天気 – погода ✓ 🌦", "Wetter – 天気 – погода ✓ 🌦"},
		{"colour", "\x1b[31mred\x1b[0m text", "red text"},
		{"erase line and rewrite", "evil\x1b[2K\rGood server", "evil Good server"},
		{"OSC 0 window title, BEL", "a\x1b]0;pwned\x07b", "ab"},
		{"OSC 8 hyperlink, ST", "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"OSC 52 clipboard unterminated", "x\x1b]52;c;cm0gLXJmIH4K", "x"},
		{"DCS", "a\x1bPq#0;2;0;0;0\x1b\\b", "ab"},
		{"APC, PM, SOS", "1\x1b_apc\x1b\\2\x1b^pm\x1b\\3\x1bXsos\x1b\\4", "1234"},
		{"C1 CSI", "a\u009b31mb", "ab"},
		{"C1 OSC with C1 ST", "a\u009d0;t\u009cb", "ab"},
		{"ESC + char", "a\x1bcb\x1b(Bc\x1b7d", "abcd"},
		{"lone ESC at end", "abc\x1b", "abc"},
		{"C0 and DEL", "a\x00b\x07c\x08d\x7fe", "abcde"},
		{"newlines and tabs are spaces", "line1\nline2\tx\r\ny", "line1 line2 x  y"},
		{"bidi override", "\u202egnp.exe", "gnp.exe"},
		{"isolates and zero width", "a\u2066b\u2069\u200bc\ufeffd", "abcd"},
		{"tags", "a\U000E0041\U000E0042b", "ab"},
		{"line separator", "a\u2028b", "a b"},
		{"private use and unassigned", "a\ue000b\U0010fffdc", "abc"},
		{"invalid UTF-8 and raw C1 byte", "a\xffb\x9bc", "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in, 0); got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTextCuts(t *testing.T) {
	if got := Text(strings.Repeat("é", 300), 10); got != strings.Repeat("é", 9)+"…" {
		t.Errorf("cut: %q", got)
	}
	if got := Text("exactly10!", 10); got != "exactly10!" {
		t.Errorf("no cut at the limit: %q", got)
	}
	// Escapes do not count against the length.
	if got := Text("\x1b[31m"+strings.Repeat("a", 10), 10); got != strings.Repeat("a", 10) {
		t.Errorf("escapes counted: %q", got)
	}
	if n := utf8.RuneCountInString(Terminal(strings.Repeat("x", 10_000))); n != TerminalLen {
		t.Errorf("Terminal: %d runes", n)
	}
	if n := utf8.RuneCountInString(Label(strings.Repeat("x", 10_000))); n != LabelLen {
		t.Errorf("Label: %d runes", n)
	}
	if n := utf8.RuneCountInString(Notification(strings.Repeat("x", 10_000))); n != NotificationLen {
		t.Errorf("Notification: %d runes", n)
	}
}

// checkSafe fails when out holds anything a terminal or a label could act
// on, or more than n characters.
func checkSafe(t *testing.T, in, out string, n int) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("Text(%q) = %q: invalid UTF-8", in, out)
	}
	count := 0
	for _, r := range out {
		count++
		if r != ' ' && !unicode.IsGraphic(r) || unicode.Is(unicode.Cf, r) || r >= 0x80 && r <= 0x9f {
			t.Fatalf("Text(%q) = %q: holds %U", in, out, r)
		}
	}
	if n > 0 && count > n {
		t.Fatalf("Text(%q, %d) has %d characters", in, n, count)
	}
}

func FuzzText(f *testing.F) {
	for _, s := range []string{"plain", "\x1b]0;t\x07x", "\x1b[2K\r", "\u202eabc", "\x1b]8;;u\x1b\\l", "a\u009b1mb", "\xff\x9b", strings.Repeat("🌦", 70)} {
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n % 512
		if n < 0 {
			n = -n
		}
		out := Text(s, n)
		checkSafe(t, s, out, n)
		if again := Text(out, n); again != out {
			t.Fatalf("not idempotent: %q → %q → %q", s, out, again)
		}
		if !strings.ContainsAny(s, "\x1b") && !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 && r <= 0x9f }) {
			// Without escapes, every printable character of s is kept, in
			// order, up to the cut.
			kept := 0
			var want strings.Builder
			for i := 0; i < len(s); {
				r, size := utf8.DecodeRuneInString(s[i:])
				i += size
				if r == utf8.RuneError && size == 1 {
					continue
				}
				if unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' {
					kept++
				} else if unicode.IsGraphic(r) && !unicode.Is(unicode.Co, r) {
					kept++
					want.WriteRune(r)
				}
			}
			got := strings.Map(func(r rune) rune {
				if r == ' ' {
					return -1
				}
				return r
			}, out)
			if n > 0 && kept > n {
				got = strings.TrimSuffix(got, "…")
				if !strings.HasPrefix(want.String(), got) {
					t.Fatalf("Text(%q, %d) = %q lost printable text", s, n, out)
				}
			} else if got != want.String() {
				t.Fatalf("Text(%q, %d) = %q, want the printable %q", s, n, out, want.String())
			}
		}
	})
}
