package autostart

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// need returns the path of command, failing under CI=true (where every test
// component must be installed) and skipping elsewhere when it is missing.
func need(t *testing.T, command string) string {
	t.Helper()
	p, err := exec.LookPath(command)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (scripts/install-test-deps.sh installs it)", command)
		}
		t.Skipf("%s is not installed", command)
	}
	return p
}

// awkwardExe makes a real executable under the directory sub of a temporary
// directory: a path that needs quoting.
func awkwardExe(t *testing.T, sub string) string {
	dir := filepath.Join(t.TempDir(), sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "mcpauthd")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

func render(t *testing.T, name string, d Data) []byte {
	t.Helper()
	b, err := Render(name, d)
	if err != nil {
		t.Fatalf("Render(%s): %v", name, err)
	}
	return b
}

// systemd-analyze verify accepts the unit, for the packaged path and for a
// path that needs quoting, and prints no warning at all (it exits 0 on
// "ignoring" warnings, so its output is what tells).
func TestSystemdUnitVerifies(t *testing.T) {
	sa := need(t, "systemd-analyze")
	for _, exe := range []string{"/bin/sh", awkwardExe(t, `my apps/a%b$c`)} {
		dir := t.TempDir()
		unit := filepath.Join(dir, SystemdUnit)
		if err := os.WriteFile(unit, render(t, SystemdUnit, Data{Exe: exe}), 0o644); err != nil {
			t.Fatal(err)
		}
		// --user needs a runtime directory, not a running manager; --man=no:
		// the man page is not installed here (the packaging test has it).
		cmd := exec.Command(sa, "--user", "verify", "--man=no", unit)
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s (ExecStart %q): %v\n%s", unit, exe, err, out)
		}
	}
}

// The unit and the XDG autostart entry run the same command, and the unit
// starts with the graphical session: the design the unit's comment explains.
func TestUnitAndAutostartAgree(t *testing.T) {
	unit := string(render(t, SystemdUnit, Data{Exe: "/usr/bin/mcpauthd"}))
	for _, want := range []string{"\nExecStart=/usr/bin/mcpauthd\n", "\nWantedBy=graphical-session.target\n",
		"\nAfter=graphical-session.target\n", "\nPartOf=graphical-session.target\n", "\nRestart=on-failure\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	entry := string(render(t, AutostartEntry, Data{Exe: "/usr/bin/mcpauthd"}))
	if !strings.Contains(entry, "\nExec=/usr/bin/mcpauthd\n") {
		t.Errorf("the autostart entry does not run /usr/bin/mcpauthd:\n%s", entry)
	}
}

// desktop-file-validate accepts both desktop entries, including an Exec
// whose path needs quoting.
func TestDesktopEntriesValidate(t *testing.T) {
	dfv := need(t, "desktop-file-validate")
	for _, exe := range []string{"/usr/bin/mcpauthd", awkwardExe(t, `my apps/a%b$c"d\e`+"`f")} {
		for _, name := range []string{DesktopEntry, AutostartEntry} {
			f := filepath.Join(t.TempDir(), "mcpauthd.desktop")
			if err := os.WriteFile(f, render(t, name, Data{Exe: exe}), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(dfv, f).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("desktop-file-validate %s (Exec %q): %v\n%s", name, exe, err, out)
			}
		}
	}
}

// The Exec quoting round-trips: unquoting the way the Desktop Entry
// Specification says gives the path back.
func TestDesktopExecRoundTrip(t *testing.T) {
	for _, exe := range []string{"/usr/bin/mcpauthd", `/a b/c%d$e"f\g` + "`h/mcpauthd"} {
		got := desktopExecQuote(exe)
		// Undo the string-value escaping, then the quoting, then %%.
		s := strings.ReplaceAll(got, `\\`, `\`)
		if strings.HasPrefix(s, `"`) {
			s = strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`)
			var b strings.Builder
			for i := 0; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			s = b.String()
		}
		if s = strings.ReplaceAll(s, "%%", "%"); s != exe {
			t.Errorf("desktopExecQuote(%q) = %q, which reads back as %q", exe, got, s)
		}
	}
}

// The launchd agent is a well-formed plist with the keys launchd needs, and
// XML-escapes the paths.
func TestLaunchAgentPlist(t *testing.T) {
	exe := `/Applications/A & B <x>/mcpauthd`
	logf := "/Users/u/Library/Logs/mcpauthd/mcpauthd.log"
	b := render(t, LaunchAgent, Data{Exe: exe, LogFile: logf})
	var doc struct {
		XMLName xml.Name `xml:"plist"`
		Version string   `xml:"version,attr"`
		Dict    struct {
			Inner []byte `xml:",innerxml"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the plist does not parse: %v\n%s", err, b)
	}
	got := plistDict(t, doc.Dict.Inner)
	want := map[string]string{
		"Label":                  Label,
		"ProgramArguments":       "[" + exe + "]",
		"RunAtLoad":              "true",
		"KeepAlive":              "{SuccessfulExit=false}",
		"ProcessType":            "Interactive",
		"LimitLoadToSessionType": "Aqua",
		"StandardOutPath":        logf,
		"StandardErrorPath":      logf,
		"ThrottleInterval":       "10",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("plist %s = %q, want %q", k, got[k], v)
		}
	}
	if _, err := Render(LaunchAgent, Data{Exe: exe}); err == nil {
		t.Error("Render(LaunchAgent) without a log file succeeded")
	}
}

// plistDict flattens a plist <dict>'s key/value pairs: strings and integers
// as text, booleans as true/false, arrays as [a,b], dicts as {k=v}.
func plistDict(t *testing.T, inner []byte) map[string]string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(inner))
	m := map[string]string{}
	var key string
	var value func(xml.StartElement) string
	value = func(se xml.StartElement) string {
		switch se.Name.Local {
		case "true", "false":
			_ = dec.Skip()
			return se.Name.Local
		case "array", "dict":
			var parts []string
			for {
				tok, err := dec.Token()
				if err != nil {
					t.Fatal(err)
				}
				switch tok := tok.(type) {
				case xml.StartElement:
					if tok.Name.Local == "key" {
						var k string
						_ = dec.DecodeElement(&k, &tok)
						parts = append(parts, k+"=")
						continue
					}
					v := value(tok)
					if n := len(parts); se.Name.Local == "dict" && n > 0 && strings.HasSuffix(parts[n-1], "=") {
						parts[n-1] += v
					} else {
						parts = append(parts, v)
					}
				case xml.EndElement:
					if se.Name.Local == "array" {
						return "[" + strings.Join(parts, ",") + "]"
					}
					return "{" + strings.Join(parts, ",") + "}"
				}
			}
		default:
			var s string
			if err := dec.DecodeElement(&s, &se); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local == "key" {
			_ = dec.DecodeElement(&key, &se)
			continue
		}
		m[key] = value(se)
	}
	return m
}

func TestRenderRejects(t *testing.T) {
	for _, d := range []Data{{Exe: "mcpauthd"}, {Exe: "/usr/bin/mcp\nauthd"}, {Exe: `/a"b/mcpauthd`}, {Exe: `/a\b/mcpauthd`}} {
		if _, err := Render(SystemdUnit, d); err == nil {
			t.Errorf("Render(%q) succeeded", d.Exe)
		}
	}
	if _, err := Render("nope.service", Data{Exe: "/bin/sh"}); err == nil {
		t.Error("Render of an unknown template succeeded")
	}
	if !slices.Contains(Names(), LaunchAgent) {
		t.Error("Names lacks the launch agent")
	}
}
