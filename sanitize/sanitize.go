// Package sanitize makes text a server controls safe to show: a server's
// name and title, its resource_name, tool names, an authorization server's
// error_description, anything quoted in an error. It is the one helper for
// every place such text is shown — the terminal (cli), tray labels and
// desktop notifications (tray). Logs take it as structured fields, and the
// web page as text nodes, so neither needs it.
//
// Shown text keeps every printable character of every script. It loses:
//
//   - escape sequences, whole: CSI (ESC [ … and U+009B), OSC (ESC ] … and
//     U+009D: window titles, OSC 8 hyperlinks, clipboard writes), DCS, SOS,
//     PM and APC strings (up to their terminator, or to the end of the text
//     when there is none), and ESC followed by any other character;
//   - every other C0 and C1 control character and DEL; tabs, newlines and
//     other spaces become one plain space, so one value stays one line;
//   - Unicode format characters (bidi overrides, embeddings and isolates,
//     zero-width characters, tag characters, the BOM), private-use and
//     unassigned code points, and invalid UTF-8: all of which can make text
//     look like other text.
//
// Then it is cut to a length with an ellipsis.
package sanitize

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Lengths, in characters (runes), for each place.
const (
	// TerminalLen bounds one value printed by the CLI.
	TerminalLen = 256
	// LabelLen bounds a tray menu label.
	LabelLen = 64
	// NotificationLen bounds a desktop notification's body.
	NotificationLen = 200
	// ErrorLen bounds an error message printed by the CLI: long enough
	// for the URLs and the quoted error_description it may hold.
	ErrorLen = 2000
)

// Terminal is s fit to print in a terminal: one line, no escape sequence,
// at most TerminalLen characters.
func Terminal(s string) string { return Text(s, TerminalLen) }

// Error is err's message fit to print in a terminal: one line, no escape
// sequence, at most ErrorLen characters.
func Error(err error) string { return Text(err.Error(), ErrorLen) }

// Label is s fit for a tray menu label: at most LabelLen characters.
func Label(s string) string { return Text(s, LabelLen) }

// Notification is s fit for a desktop notification: at most
// NotificationLen characters.
func Notification(s string) string { return Text(s, NotificationLen) }

// Text strips s as the package comment says and cuts it to at most n
// characters, the last of which is "…" when it was cut. n < 1 means no
// cut. The result is valid UTF-8 with only graphic characters and plain
// spaces.
func Text(s string, n int) string {
	var b strings.Builder
	count := 0
	cut := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			i++ // invalid UTF-8: dropped
			continue
		}
		if r == 0x1b || r >= 0x80 && r <= 0x9f {
			i = skipEscape(s, i)
			continue
		}
		i += size
		switch {
		case r == ' ' || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029':
			r = ' '
		case !unicode.IsGraphic(r) || unicode.Is(unicode.Co, r):
			continue // controls, format characters, unassigned
		}
		if n > 0 && count == n {
			cut = true
			break
		}
		b.WriteRune(r)
		count++
	}
	if !cut {
		return b.String()
	}
	out := []rune(b.String())
	return string(out[:n-1]) + "…"
}

// skipEscape returns the index after the escape sequence or C1 control
// that starts at s[i] (an ESC byte, or a C1 code point in UTF-8).
func skipEscape(s string, i int) int {
	var kind rune
	if s[i] == 0x1b {
		i++
		if i >= len(s) {
			return i
		}
		c := s[i]
		switch {
		case c == '[':
			kind = 0x9b
		case c == ']':
			kind = 0x9d
		case c == 'P':
			kind = 0x90
		case c == 'X':
			kind = 0x98
		case c == '^':
			kind = 0x9e
		case c == '_':
			kind = 0x9f
		default:
			// ESC, intermediates (0x20–0x2F), one final character.
			for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
				i++
			}
			if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
				i++
			}
			return i
		}
		i++
	} else {
		r, size := utf8.DecodeRuneInString(s[i:])
		kind = r
		i += size
	}
	switch kind {
	case 0x9b: // CSI: parameters and intermediates, then a final byte
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x3f {
			i++
		}
		if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
			i++
		}
		return i
	case 0x9d, 0x90, 0x98, 0x9e, 0x9f: // strings: up to BEL, ST (ESC \ or U+009C), or the end
		for i < len(s) {
			switch {
			case s[i] == 0x07:
				return i + 1
			case s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\':
				return i + 2
			case strings.HasPrefix(s[i:], "\u009c"):
				return i + len("\u009c")
			}
			i++
		}
		return i
	}
	return i // any other C1 control: just itself
}
