package packaging_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/mcpauthd/mcpauthd/internal/autostart"
)

func need(t *testing.T, command string) {
	t.Helper()
	if _, err := exec.LookPath(command); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (scripts/install-test-deps.sh installs it)", command)
		}
		t.Skipf("%s is not installed", command)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDist runs scripts/dist.sh for linux/amd64 only and checks its .deb:
// the files sit where the unit and the entries expect them, the packaged
// unit and entries are exactly what `mcpauthd install` renders, dpkg installs
// and removes the package (into a private --instdir/--admindir: nothing
// touches this machine's dpkg database), and the man page names every
// command. (The rendered files themselves pass systemd-analyze and
// desktop-file-validate in internal/autostart; systemd-analyze 252 cannot
// verify a user unit under --root.)
func TestDist(t *testing.T) {
	for _, c := range []string{"dpkg", "dpkg-deb", "git", "tar"} {
		need(t, c)
	}
	dist := t.TempDir()
	cmd := exec.Command("../scripts/dist.sh", "linux/amd64")
	cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION=1.2.3~test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dist.sh: %v\n%s", err, out)
	}
	deb := filepath.Join(dist, "mcpauthd_1.2.3~test_amd64.deb")
	for _, f := range []string{deb, filepath.Join(dist, "mcpauthd_1.2.3~test_linux_amd64.tar.gz")} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("dist.sh made no %s: %v", filepath.Base(f), err)
		}
	}
	rpms, _ := filepath.Glob(filepath.Join(dist, "*.rpm"))
	if len(rpms) != 1 {
		t.Errorf("dist.sh made rpms %v, want one", rpms)
	}
	tarList := run(t, "tar", "-tzf", filepath.Join(dist, "mcpauthd_1.2.3~test_linux_amd64.tar.gz"))
	for _, f := range []string{"mcpauthd_1.2.3~test_linux_amd64/mcpauthd", "mcpauthd_1.2.3~test_linux_amd64/mcpauthd.1"} {
		if !strings.Contains(tarList, f+"\n") {
			t.Errorf("the tarball lacks %s:\n%s", f, tarList)
		}
	}

	// Install into a private root with a private dpkg database.
	root, admin := t.TempDir(), t.TempDir()
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(admin, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(admin, "status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dpkg := []string{"--instdir=" + root, "--admindir=" + admin, "--force-not-root", "--force-script-chrootless"}
	run(t, "dpkg", append(dpkg, "-i", deb)...)
	in := func(p string) string { return filepath.Join(root, p) }

	unit, err := os.ReadFile(in("/usr/lib/systemd/user/mcpauthd.service"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=(\S+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatalf("no ExecStart in the packaged unit:\n%s", unit)
	}
	exe := string(m[1])
	if st, err := os.Stat(in(exe)); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("the unit's ExecStart %s is not an executable of the package: %v", exe, err)
	}
	for _, f := range []struct{ name, path string }{
		{autostart.SystemdUnit, "/usr/lib/systemd/user/mcpauthd.service"},
		{autostart.DesktopEntry, "/usr/share/applications/mcpauthd.desktop"},
		{autostart.AutostartEntry, "/usr/share/mcpauthd/mcpauthd-autostart.desktop"},
	} {
		want, err := autostart.Render(f.name, autostart.Data{Exe: exe})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(in(f.path)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not what mcpauthd install renders for %s (%v)", f.path, exe, err)
		}
	}
	for _, p := range []string{"/usr/share/icons/hicolor/32x32/apps/mcpauthd.png", "/usr/share/man/man1/mcpauthd.1.gz"} {
		if _, err := os.Stat(in(p)); err != nil {
			t.Errorf("the package lacks %s: %v", p, err)
		}
	}
	// The shell completions are the packaged binary's own scripts.
	for _, c := range []struct{ shell, path string }{
		{"bash", "/usr/share/bash-completion/completions/mcpauthd"},
		{"zsh", "/usr/share/zsh/vendor-completions/_mcpauthd"},
		{"fish", "/usr/share/fish/vendor_completions.d/mcpauthd.fish"},
	} {
		got, err := os.ReadFile(in(c.path))
		if err != nil {
			t.Errorf("the package lacks the %s completion: %v", c.shell, err)
			continue
		}
		if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
			if want := run(t, in(exe), "completion", c.shell); string(got) != want {
				t.Errorf("%s is not what mcpauthd completion %s prints", c.path, c.shell)
			}
		}
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		help := run(t, in(exe), "help")
		manPage, err := os.ReadFile("mcpauthd.1")
		if err != nil {
			t.Fatal(err)
		}
		_, list, _ := strings.Cut(help, "Available Commands:\n")
		list, _, _ = strings.Cut(list, "\n\n")
		cmds := regexp.MustCompile(`(?m)^  ([a-z][a-z-]*)  `).FindAllStringSubmatch(list, -1)
		if len(cmds) < 20 {
			t.Fatalf("mcpauthd help lists %d commands, want the 20-odd of the CLI:\n%s", len(cmds), help)
		}
		for _, c := range cmds {
			name := strings.ReplaceAll(c[1], "-", `\\?-`)
			if !regexp.MustCompile(`(?m)^\.(B|BI) "?` + name + `\b`).Match(manPage) {
				t.Errorf("the man page does not describe %q, which mcpauthd help lists", c[1])
			}
		}
	}

	run(t, "dpkg", append(dpkg, "-r", "mcpauthd")...)
	var left []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("dpkg -r left %v", left)
	}
}
