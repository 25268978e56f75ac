// Package autostart starts mcpauthd when the user logs in, on each OS the
// way that OS expects: a systemd user unit or an XDG autostart entry on
// Linux, a launchd agent on macOS, the HKCU Run key on Windows.
//
// Install and Uninstall are idempotent and say what they did, one line per
// action, on Options.Log. The files they write are rendered from the
// templates in packaging/ by Render, which also renders the files the Linux
// packages ship (scripts/dist.sh, through `mcpauthd install --print`).
package autostart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/mcpauthd/mcpauthd/packaging"
)

// The files Render knows, by their names in packaging/.
const (
	SystemdUnit    = "mcpauthd.service"           // systemd user unit
	DesktopEntry   = "mcpauthd.desktop"           // application menu entry
	AutostartEntry = "mcpauthd-autostart.desktop" // XDG autostart entry (installed as mcpauthd.desktop)
	LaunchAgent    = "io.github.mcpauthd.plist"   // launchd agent
)

// Label is the launchd label of the agent (and its plist's base name).
const Label = "io.github.mcpauthd"

// Names lists the files Render knows.
func Names() []string { return []string{SystemdUnit, DesktopEntry, AutostartEntry, LaunchAgent} }

// Data fills a template.
type Data struct {
	Exe     string // absolute path of the mcpauthd binary; required
	LogFile string // where the launchd agent's output goes; required for LaunchAgent
}

// Options says what Install and Uninstall start and where they report.
type Options struct {
	// Exe is the absolute path of the binary to start at login.
	Exe string
	// Log receives one line per action taken or state found; nil discards.
	Log io.Writer
}

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

var funcs = template.FuncMap{
	"systemdExec":   systemdExec,
	"desktopExec":   desktopExecQuote,
	"desktopString": desktopString,
	"xml":           xmlEscape,
}

// Render returns the file name (one of Names) filled in with d, with Exe
// quoted as the file's format wants (systemd command line, desktop entry Exec
// and string values, XML text). It fails on an unknown name, a relative Exe,
// or a value holding a control character, which no format here can carry.
func Render(name string, d Data) ([]byte, error) {
	if !filepath.IsAbs(d.Exe) && !strings.HasPrefix(d.Exe, "/") {
		return nil, fmt.Errorf("autostart: the executable path %q is not absolute", d.Exe)
	}
	if name == LaunchAgent && d.LogFile == "" {
		return nil, errors.New("autostart: the launchd agent needs a log file")
	}
	for _, v := range []string{d.Exe, d.LogFile} {
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf("autostart: %q holds a control character", v)
		}
	}
	src, err := packaging.Templates.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("autostart: no template %q", name)
	}
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(string(src))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = t.Execute(&b, struct {
		Data
		Label string
	}{d, Label})
	return b.Bytes(), err
}

// systemdExec quotes s as the executable of a systemd command line
// (systemd.service(5) "Command lines"): % doubled so that no specifier
// expands (variables do not expand in the executable), and double quotes
// around a path with characters other than plain ones. systemd refuses an
// executable holding a quote or a backslash whatever the quoting, so that is
// an error here.
func systemdExec(s string) (string, error) {
	if strings.ContainsAny(s, `"'\`) {
		return "", fmt.Errorf("systemd cannot run an executable whose path holds a quote or a backslash: %q", s)
	}
	s = strings.ReplaceAll(s, "%", "%%")
	if plain(s, "/._-+:,@%$") {
		return s, nil
	}
	return `"` + s + `"`, nil
}

// desktopExecQuote quotes s as the program of a desktop entry's Exec key
// (Desktop Entry Specification, "The Exec key"): % doubled (field codes),
// reserved characters put inside double quotes with ", `, $ and \ escaped,
// then the string-value escaping of backslashes on top.
func desktopExecQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if !plain(s, "/._-+:,@%=") {
		s = `"` + strings.NewReplacer(`"`, `\"`, "`", "\\`", `$`, `\$`, `\`, `\\`).Replace(s) + `"`
	}
	return desktopString(s)
}

// desktopString escapes s as a desktop entry string value.
func desktopString(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// plain reports whether s holds only ASCII letters, digits and the extra
// characters.
func plain(s, extra string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}
