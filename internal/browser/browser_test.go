//go:build unix

package browser

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeBrowser is a browser command (a script) that appends its arguments
// to the file args.
func fakeBrowser(t *testing.T) (program, args string) {
	t.Helper()
	dir := t.TempDir()
	args = filepath.Join(dir, "args")
	script := filepath.Join(dir, "browser.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" >> "+args+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return script, args
}

func waitFile(t *testing.T, p string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was never written", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOpenHandsOnlyAPrivateFile: the browser's one argument is the file://
// URL of a 0600 page in a 0700 directory; the page forwards to the URL
// (escaped), which appears nowhere on the command line.
func TestOpenHandsOnlyAPrivateFile(t *testing.T) {
	prog, args := fakeBrowser(t)
	o := New(filepath.Join(t.TempDir(), "run"), prog)
	target := "http://127.0.0.1:53682/ui?t=SECRET-TICKET&x=<b>\"'"
	if err := o.Open(target); err != nil {
		t.Fatal(err)
	}
	argv := strings.TrimSpace(waitFile(t, args))
	if strings.Contains(argv, "SECRET") || strings.Contains(argv, "\n") {
		t.Fatalf("browser argv %q: want one argument without the URL", argv)
	}
	u, err := url.Parse(argv)
	if err != nil || u.Scheme != "file" || filepath.Dir(u.Path) != o.Dir {
		t.Fatalf("browser argv %q: want a file:// URL in %s", argv, o.Dir)
	}
	fi, err := os.Stat(u.Path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("page %v %v: want mode 0600", fi, err)
	}
	if di, err := os.Stat(o.Dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Fatalf("directory %v %v: want mode 0700", di, err)
	}
	page, _ := os.ReadFile(u.Path)
	esc := "http://127.0.0.1:53682/ui?t=SECRET-TICKET&amp;x=&lt;b&gt;&#34;&#39;"
	if !strings.Contains(string(page), `http-equiv="refresh" content="0;url=`+esc+`"`) || !strings.Contains(string(page), `<a href="`+esc+`">`) {
		t.Fatalf("page does not forward to the escaped URL:\n%s", page)
	}
	if strings.Contains(string(page), "<script") || strings.Contains(string(page), "<b>") {
		t.Fatalf("page has script or unescaped markup:\n%s", page)
	}
}

func TestOpenRefusesNonHTTP(t *testing.T) {
	prog, args := fakeBrowser(t)
	o := New(t.TempDir(), prog)
	for _, u := range []string{"file:///etc/passwd", "javascript:alert(1)", "http://", "ftp://x/"} {
		if err := o.Open(u); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
	if _, err := os.Stat(args); err == nil {
		t.Fatal("the browser was started")
	}
}

// TestOpenRefusesUnsafeDirectories: a page directory (or its parent) that
// others can use, a symlink in its place, or one owned by another user is
// refused, and nothing is written or opened.
func TestOpenRefusesUnsafeDirectories(t *testing.T) {
	cases := map[string]func(t *testing.T, o *Opener){
		"directory open to others": func(t *testing.T, o *Opener) { mkdir(t, o.Dir, 0o755) },
		"parent writable by others": func(t *testing.T, o *Opener) {
			mkdir(t, filepath.Dir(o.Dir), 0o777)
			_ = os.Chmod(filepath.Dir(o.Dir), 0o777) // past the umask
		},
		"symlink to a private directory": func(t *testing.T, o *Opener) {
			elsewhere := filepath.Join(t.TempDir(), "x")
			mkdir(t, elsewhere, 0o700)
			mkdir(t, filepath.Dir(o.Dir), 0o700)
			if err := os.Symlink(elsewhere, o.Dir); err != nil {
				t.Fatal(err)
			}
		},
		"a file in its place": func(t *testing.T, o *Opener) {
			mkdir(t, filepath.Dir(o.Dir), 0o700)
			if err := os.WriteFile(o.Dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"directory of another user": func(t *testing.T, o *Opener) {
			if os.Getuid() != 0 {
				t.Skip("needs root to give a directory away")
			}
			mkdir(t, o.Dir, 0o700)
			if err := os.Chown(o.Dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		},
		"parent of another user": func(t *testing.T, o *Opener) {
			if os.Getuid() != 0 {
				t.Skip("needs root to give a directory away")
			}
			mkdir(t, filepath.Dir(o.Dir), 0o700)
			if err := os.Chown(filepath.Dir(o.Dir), 65534, 65534); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			prog, args := fakeBrowser(t)
			o := New(filepath.Join(t.TempDir(), "run"), prog)
			setup(t, o)
			err := o.Open("http://127.0.0.1:1/ui?t=SECRET")
			if err == nil || !strings.Contains(err.Error(), "refusing") {
				t.Fatalf("Open = %v; want a refusal", err)
			}
			if _, err := os.Stat(args); err == nil {
				t.Fatal("the browser was started")
			}
			if entries, _ := os.ReadDir(o.Dir); len(entries) != 0 {
				t.Fatalf("pages were written: %v", entries)
			}
		})
	}
}

func mkdir(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// TestPagesAreRemoved: a page goes after Keep in the process that wrote
// it; Sweep removes pages older than Keep left by others, and keeps newer
// ones and files that are not pages.
func TestPagesAreRemoved(t *testing.T) {
	prog, args := fakeBrowser(t)
	o := &Opener{Dir: filepath.Join(t.TempDir(), "run", "browser"), Program: prog, Keep: time.Millisecond}
	if err := o.Open("http://127.0.0.1:1/x"); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(strings.TrimSpace(waitFile(t, args)))
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(u.Path); err == nil; _, err = os.Stat(u.Path) {
		if time.Now().After(deadline) {
			t.Fatal("the page was not removed after Keep")
		}
		time.Sleep(5 * time.Millisecond)
	}

	o.Keep = time.Hour
	old, fresh, other := filepath.Join(o.Dir, "open-OLD.html"), filepath.Join(o.Dir, "open-NEW.html"), filepath.Join(o.Dir, "notes.txt")
	for _, p := range []string{old, fresh, other} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{old, other} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("Sweep kept a page older than Keep")
	}
	for _, p := range []string{fresh, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("Sweep removed %s", p)
		}
	}
	if err := (&Opener{Dir: filepath.Join(t.TempDir(), "missing")}).Sweep(); err != nil {
		t.Errorf("Sweep of a missing directory: %v", err)
	}
}
