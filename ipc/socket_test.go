//go:build unix

package ipc

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestListenRefusesSocketDirectory: the daemon serves only from a real
// directory of its own user with mode 0700.
func TestListenRefusesSocketDirectory(t *testing.T) {
	t.Run("created 0700, socket 0600", func(t *testing.T) {
		sock := filepath.Join(shortTempDir(t), "run", "mcpauthd.sock")
		l, err := Listen(sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for p, want := range map[string]os.FileMode{filepath.Dir(sock): 0o700, sock: 0o600} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
				t.Fatalf("%s: %v %v, want mode %v", p, fi.Mode(), err, want)
			}
		}
	})
	t.Run("mode 0750", func(t *testing.T) {
		dir := filepath.Join(shortTempDir(t), "run")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, filepath.Join(dir, "mcpauthd.sock"), "has mode 0750", "chmod 700 "+dir)
	})
	t.Run("symbolic link", func(t *testing.T) {
		tmp := shortTempDir(t)
		real := filepath.Join(tmp, "real")
		if err := os.Mkdir(real, 0o700); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(tmp, "run")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, filepath.Join(link, "mcpauthd.sock"), "is a symbolic link", "MCPAUTH_SOCK")
	})
	t.Run("owned by another uid", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root to give a directory to another uid") // the e2e attack test covers it too
		}
		dir := filepath.Join(shortTempDir(t), "run")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, filepath.Join(dir, "mcpauthd.sock"), "belongs to uid 4242, not to you (uid 0)", "MCPAUTH_SOCK")
	})
}

func wantRefused(t *testing.T, sock string, want ...string) {
	t.Helper()
	l, err := Listen(sock)
	if err == nil {
		l.Close()
		t.Fatalf("Listen(%s) served", sock)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a socket was created: %v", err)
	}
}

// TestSocketPathLength: a path the OS can bind works on both sides; one
// byte more is refused by both with a message naming MCPAUTH_SOCK.
func TestSocketPathLength(t *testing.T) {
	dir := filepath.Join(shortTempDir(t), "run")
	pad := maxPathLen() - len(dir) - len("/.sock")
	if pad < 1 {
		t.Skipf("temp directory %s too long for this test", dir)
	}
	longest := filepath.Join(dir, strings.Repeat("x", pad)+".sock")
	if len(longest) != maxPathLen() {
		t.Fatalf("built a %d-byte path", len(longest))
	}
	l, err := Listen(longest)
	if err != nil {
		t.Fatalf("a %d-byte path: %v", len(longest), err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := Dial(context.Background(), longest)
	if err != nil {
		t.Fatalf("dial a %d-byte path: %v", len(longest), err)
	}
	c.Close()

	tooLong := filepath.Join(dir, strings.Repeat("x", pad+1)+".sock")
	want := "is " + strconv.Itoa(maxPathLen()+1) + " bytes, longer than the " + strconv.Itoa(maxPathLen())
	var se *SocketError
	if l, err := Listen(tooLong); err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "MCPAUTH_SOCK") {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Listen(%d bytes): %v", len(tooLong), err)
	}
	if _, err := Dial(context.Background(), tooLong); err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Dial(%d bytes): %v", len(tooLong), err)
	}
}

// TestDialRefusesAnotherUID: a client whose uid is not the one serving the
// socket closes the connection without sending a byte and says which uid it
// found where. (The e2e attack test does the same with a real second uid.)
func TestDialRefusesAnotherUID(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "run", "mcpauthd.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan int, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- int(n)
	}()
	me := os.Getuid()
	_, err = dialAs(context.Background(), sock, me+1)
	var se *SocketError
	if !errors.As(err, &se) || se.UID != me {
		t.Fatalf("dial as another uid: %v", err)
	}
	for _, w := range []string{sock, "served by uid " + strconv.Itoa(me), "not by you (uid " + strconv.Itoa(me+1) + ")", "nothing was sent"} {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
	if n := <-got; n != 0 {
		t.Fatalf("the server received %d bytes", n)
	}

	// The same uid is served, through the client too.
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// shortTempDir is t.TempDir() outside TMPDIR: a test's temp path (the run's
// TMPDIR plus the test's name) can pass the 107 bytes a socket path may
// have, and the length check would answer before the check under test.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "ipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
