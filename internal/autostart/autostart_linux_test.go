package autostart

import (
	"bytes"
	"context"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sandbox points HOME and XDG_CONFIG_HOME at fresh directories and PATH at
// a directory holding only a fake systemctl when mode is not "" ("session":
// a user systemd running the graphical session; "headless": a user systemd
// without one). The fake records each call, one line of arguments each, in
// the file calls returns.
type sandbox struct {
	t        *testing.T
	cfg, log string
}

func newSandbox(t *testing.T, xdgConfig bool) *sandbox {
	home := t.TempDir()
	s := &sandbox{t: t, cfg: filepath.Join(home, ".config"), log: filepath.Join(t.TempDir(), "calls")}
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	if xdgConfig {
		s.cfg = t.TempDir()
		t.Setenv("XDG_CONFIG_HOME", s.cfg)
	}
	s.systemctl("")
	return s
}

// systemctl installs the fake systemctl for mode ("" removes it from PATH).
func (s *sandbox) systemctl(mode string) {
	bin := s.t.TempDir()
	s.t.Setenv("PATH", bin)
	if mode == "" {
		return
	}
	active := "0"
	if mode == "headless" {
		active = "3"
	}
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >>'" + s.log + "'\n" +
		"case \"$*\" in *is-active*) exit " + active + ";; esac\nexit 0\n"
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o755); err != nil {
		s.t.Fatal(err)
	}
}

// calls returns and forgets the recorded systemctl calls.
func (s *sandbox) calls() []string {
	b, _ := os.ReadFile(s.log)
	os.Remove(s.log)
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "_"))
}

// tree maps each path under the config directory to its content (files),
// "->target" (links) or "/" (directories).
func (s *sandbox) tree() map[string]string {
	m := map[string]string{}
	_ = filepath.WalkDir(s.cfg, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == s.cfg {
			return err
		}
		rel, _ := filepath.Rel(s.cfg, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			m[rel] = "->" + target
		case d.IsDir():
			m[rel] = "/"
		default:
			b, _ := os.ReadFile(p)
			m[rel] = string(b)
		}
		return nil
	})
	return m
}

func (s *sandbox) run(f func(context.Context, Options) error, exe string) string {
	s.t.Helper()
	var out bytes.Buffer
	if err := f(context.Background(), Options{Exe: exe, Log: &out}); err != nil {
		s.t.Fatalf("%v\noutput:\n%s", err, out.String())
	}
	return out.String()
}

func wantLines(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, got)
		}
	}
}

const exe = "/opt/mcpauthd/bin/mcpauthd"

// Without systemctl: the XDG autostart entry, under XDG_CONFIG_HOME or
// ~/.config; a second install changes nothing; uninstall leaves nothing.
func TestInstallXDGAutostart(t *testing.T) {
	for _, xdg := range []bool{true, false} {
		s := newSandbox(t, xdg)
		out := s.run(Install, exe)
		wantLines(t, "install", out, "wrote "+filepath.Join(s.cfg, "autostart", "mcpauthd.desktop"),
			"systemctl is not installed", "XDG autostart entry")
		want := map[string]string{
			"autostart":                  "/",
			"autostart/mcpauthd.desktop": string(render(t, AutostartEntry, Data{Exe: exe})),
		}
		if got := s.tree(); !maps.Equal(got, want) {
			t.Fatalf("after install (XDG_CONFIG_HOME set: %v): %v", xdg, slices.Sorted(maps.Keys(got)))
		}
		wantLines(t, "second install", s.run(Install, exe), "is up to date")
		if got := s.tree(); !maps.Equal(got, want) {
			t.Errorf("a second install changed the files: %v", slices.Sorted(maps.Keys(got)))
		}
		wantLines(t, "uninstall", s.run(Uninstall, ""), "removed "+filepath.Join(s.cfg, "autostart", "mcpauthd.desktop"))
		if got := s.tree(); len(got) != 0 {
			t.Errorf("uninstall left %v", got)
		}
		wantLines(t, "second uninstall", s.run(Uninstall, ""), "was not set up")
	}
}

// With a user systemd that runs the graphical session: the unit, reloaded
// once, enabled and started; then disabled, stopped and removed.
func TestInstallSystemdUnit(t *testing.T) {
	s := newSandbox(t, true)
	s.systemctl("session")
	unitPath := filepath.Join(s.cfg, "systemd", "user", SystemdUnit)
	out := s.run(Install, exe)
	wantLines(t, "install", out, "wrote "+unitPath, "ran systemctl --user daemon-reload",
		"ran systemctl --user enable --now mcpauthd.service", "systemd user unit")
	probes := []string{"--user_show-environment", "--user_is-active_--quiet_graphical-session.target"}
	if got, want := s.calls(), append(probes, "--user_daemon-reload", "--user_enable_--now_mcpauthd.service"); !slices.Equal(got, want) {
		t.Errorf("install ran systemctl %q, want %q", got, want)
	}
	want := map[string]string{
		"systemd":                       "/",
		"systemd/user":                  "/",
		"systemd/user/mcpauthd.service": string(render(t, SystemdUnit, Data{Exe: exe})),
	}
	if got := s.tree(); !maps.Equal(got, want) {
		t.Fatalf("after install: %v", slices.Sorted(maps.Keys(got)))
	}
	// Again: nothing written, nothing reloaded; enable --now is idempotent.
	wantLines(t, "second install", s.run(Install, exe), unitPath+" is up to date")
	if got, want := s.calls(), append(probes, "--user_enable_--now_mcpauthd.service"); !slices.Equal(got, want) {
		t.Errorf("second install ran systemctl %q, want %q", got, want)
	}
	if got := s.tree(); !maps.Equal(got, want) {
		t.Errorf("a second install changed the files: %v", slices.Sorted(maps.Keys(got)))
	}
	out = s.run(Uninstall, "")
	wantLines(t, "uninstall", out, "ran systemctl --user disable --now mcpauthd.service", "removed "+unitPath)
	if got, want := s.calls(), []string{"--user_show-environment", "--user_disable_--now_mcpauthd.service", "--user_daemon-reload"}; !slices.Equal(got, want) {
		t.Errorf("uninstall ran systemctl %q, want %q", got, want)
	}
	if got := s.tree(); len(got) != 0 {
		t.Errorf("uninstall left %v", got)
	}
}

// One launcher at a time: switching between the unit and the entry removes
// the other, including the unit's enablement link when systemctl cannot run.
func TestInstallSwitchesLauncher(t *testing.T) {
	s := newSandbox(t, true)
	s.systemctl("headless") // a user systemd, but no graphical session: the entry
	wantLines(t, "headless install", s.run(Install, exe), "runs no graphical session", "XDG autostart entry")
	s.systemctl("session")
	s.run(Install, exe)
	if got := slices.Sorted(maps.Keys(s.tree())); !slices.Equal(got, []string{"systemd", "systemd/user", "systemd/user/mcpauthd.service"}) {
		t.Fatalf("after switching to the unit: %v", got)
	}
	// What `systemctl --user enable` would have made.
	wants := filepath.Join(s.cfg, "systemd", "user", "graphical-session.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../mcpauthd.service", filepath.Join(wants, SystemdUnit)); err != nil {
		t.Fatal(err)
	}
	s.systemctl("")
	wantLines(t, "install without systemctl", s.run(Install, exe), "removed "+filepath.Join(wants, SystemdUnit))
	if got := slices.Sorted(maps.Keys(s.tree())); !slices.Equal(got, []string{"autostart", "autostart/mcpauthd.desktop"}) {
		t.Fatalf("after switching to the entry: %v", got)
	}
	s.run(Uninstall, "")
	if got := s.tree(); len(got) != 0 {
		t.Errorf("uninstall left %v", got)
	}
}
