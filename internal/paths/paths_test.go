//go:build unix

package paths

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// linux is a Linux system with the environment env, this process's uid, a
// fresh home directory and a private stand-in for /run/user; it also
// returns the stand-in's /run/user/UID (not created).
func linux(t *testing.T, env map[string]string) (system, string) {
	t.Helper()
	root := t.TempDir()
	s := system{
		getenv:  func(k string) string { return env[k] },
		goos:    "linux",
		uid:     os.Getuid(),
		home:    filepath.Join(root, "home"),
		runUser: filepath.Join(root, "run", "user"),
	}
	return s, filepath.Join(s.runUser, strconv.Itoa(s.uid))
}

// mkdir creates dir with exactly mode perm.
func mkdir(t *testing.T, dir string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
}

func TestSocketOrder(t *testing.T) {
	homeSock := func(s system) string {
		return filepath.Join(s.home, ".local", "state", "mcpauthd", "run", "mcpauthd.sock")
	}

	t.Run("MCPAUTH_SOCK first", func(t *testing.T) {
		s, rt := linux(t, map[string]string{"MCPAUTH_SOCK": "/x/my.sock", "XDG_RUNTIME_DIR": "/xdg"})
		mkdir(t, rt, 0o700)
		if got := compute(s).Socket; got != "/x/my.sock" {
			t.Fatalf("socket %s", got)
		}
	})
	t.Run("XDG_RUNTIME_DIR before /run/user", func(t *testing.T) {
		s, rt := linux(t, map[string]string{"XDG_RUNTIME_DIR": "/xdg"})
		mkdir(t, rt, 0o700)
		if got := compute(s).Socket; got != "/xdg/mcpauthd/mcpauthd.sock" {
			t.Fatalf("socket %s", got)
		}
	})
	t.Run("relative XDG_RUNTIME_DIR ignored", func(t *testing.T) {
		s, _ := linux(t, map[string]string{"XDG_RUNTIME_DIR": "xdg"})
		if got := compute(s).Socket; got != homeSock(s) {
			t.Fatalf("socket %s, want %s", got, homeSock(s))
		}
	})
	t.Run("/run/user/UID without XDG_RUNTIME_DIR", func(t *testing.T) {
		s, rt := linux(t, nil)
		mkdir(t, rt, 0o700)
		if got, want := compute(s).Socket, filepath.Join(rt, "mcpauthd", "mcpauthd.sock"); got != want {
			t.Fatalf("socket %s, want %s", got, want)
		}
	})
	t.Run("home without either, whatever XDG_STATE_HOME says", func(t *testing.T) {
		s, _ := linux(t, map[string]string{"XDG_STATE_HOME": "/state"})
		p := compute(s)
		if p.Socket != homeSock(s) {
			t.Fatalf("socket %s, want %s", p.Socket, homeSock(s))
		}
		if p.State != "/state/mcpauthd" {
			t.Fatalf("state %s", p.State) // logs do follow XDG_STATE_HOME
		}
	})

	// /run/user/UID is skipped (for the home directory) unless it is a real
	// directory of this uid that others cannot write to.
	for name, setup := range map[string]func(t *testing.T, s *system, rt string){
		"group-writable": func(t *testing.T, _ *system, rt string) { mkdir(t, rt, 0o770) },
		"world-writable": func(t *testing.T, _ *system, rt string) { mkdir(t, rt, 0o1777) },
		"another uid's": func(t *testing.T, s *system, rt string) {
			mkdir(t, rt, 0o700)
			s.uid++ // the directory is now someone else's
			if err := os.Rename(rt, filepath.Join(s.runUser, strconv.Itoa(s.uid))); err != nil {
				t.Fatal(err)
			}
		},
		"a symbolic link": func(t *testing.T, s *system, rt string) {
			real := filepath.Join(filepath.Dir(s.home), "real")
			mkdir(t, real, 0o700)
			mkdir(t, filepath.Dir(rt), 0o755)
			if err := os.Symlink(real, rt); err != nil {
				t.Fatal(err)
			}
		},
		"a file": func(t *testing.T, _ *system, rt string) {
			mkdir(t, filepath.Dir(rt), 0o755)
			if err := os.WriteFile(rt, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run("/run/user/UID "+name, func(t *testing.T) {
			s, rt := linux(t, nil)
			setup(t, &s, rt)
			if got := compute(s).Socket; got != homeSock(s) {
				t.Fatalf("socket %s, want %s", got, homeSock(s))
			}
		})
	}

	t.Run("macOS: under ~/Library, not XDG_RUNTIME_DIR or TMPDIR", func(t *testing.T) {
		s, _ := linux(t, map[string]string{"XDG_RUNTIME_DIR": "/xdg", "TMPDIR": "/var/folders/x"})
		s.goos = "darwin"
		want := filepath.Join(s.home, "Library", "Application Support", "mcpauthd", "run", "mcpauthd.sock")
		if got := compute(s).Socket; got != want {
			t.Fatalf("socket %s, want %s", got, want)
		}
	})
	t.Run("Windows: the data directory", func(t *testing.T) {
		s, _ := linux(t, map[string]string{"LOCALAPPDATA": "/local"})
		s.goos = "windows"
		if got := compute(s).Socket; got != filepath.Join("/local", "mcpauthd", "mcpauthd.sock") {
			t.Fatalf("socket %s", got)
		}
	})
}

// TestDefaultReadsEnvironment: Default uses the process's environment.
func TestDefaultReadsEnvironment(t *testing.T) {
	t.Setenv("MCPAUTH_SOCK", "")
	t.Setenv("XDG_RUNTIME_DIR", "/xdg-test")
	if got := Default().Socket; got != "/xdg-test/mcpauthd/mcpauthd.sock" {
		t.Fatalf("socket %s", got)
	}
	t.Setenv("MCPAUTH_SOCK", "/s.sock")
	if got := Default().Socket; got != "/s.sock" {
		t.Fatalf("socket %s", got)
	}
}
