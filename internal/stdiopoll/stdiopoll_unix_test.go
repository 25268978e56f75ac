//go:build unix

package stdiopoll

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func nonblocking(t *testing.T, fd uintptr) bool {
	t.Helper()
	fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.O_NONBLOCK != 0
}

// A pipe is read through the poller: a pending Read returns when the file
// is closed (a blocking read(2) would not), and closing puts the
// description back in blocking mode for whoever shares it.
func TestPipe(t *testing.T) {
	// A blocking pipe the runtime never polled, as a process's stdin is
	// (os.Pipe's ends are registered with the poller already).
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	r, w := os.NewFile(uintptr(p[0]), "stdin"), os.NewFile(uintptr(p[1]), "w")
	defer w.Close()
	fd := uintptr(p[0])
	if nonblocking(t, fd) {
		t.Fatal("the pipe is non-blocking before Open")
	}
	in := Open(r)
	if in == io.ReadCloser(r) {
		t.Fatal("Open returned the blocking pipe itself")
	}
	if !nonblocking(t, fd) {
		t.Fatal("Open left the pipe blocking")
	}
	if _, err := w.WriteString("line\n"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := in.Read(buf); err != nil || string(buf[:n]) != "line\n" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	// Also a copy of the descriptor shares the description: it sees the
	// mode Close restores after the original is closed.
	dup, err := unix.Dup(int(fd))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	done := make(chan error, 1)
	go func() {
		_, err := in.Read(buf)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the Read wait in the poller
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("pending Read after Close = %v, want os.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the pending Read")
	}
	if nonblocking(t, uintptr(dup)) {
		t.Error("Close left the shared description non-blocking")
	}
}

// A regular file (or a terminal) is returned as it is, its mode untouched.
func TestRegularFileUntouched(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if in := Open(f); in != io.ReadCloser(f) {
		t.Error("Open wrapped a regular file")
	}
	if nonblocking(t, f.Fd()) {
		t.Error("Open made a regular file non-blocking")
	}
}

// One socket for both directions (stdin and stdout the same socket) is
// left blocking: O_NONBLOCK would reach the writes to it.
func TestSocketBothWays(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	in := os.NewFile(uintptr(fds[0]), "stdin")
	defer in.Close()
	out, err := unix.Dup(fds[0]) // the same socket as standard output
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(out)
	if r := open(in, out); r != io.ReadCloser(in) {
		t.Error("a socket that is also the output was made non-blocking")
	}
	if nonblocking(t, uintptr(fds[0])) {
		t.Error("the shared socket is non-blocking")
	}
	// Its own socket, apart from the output's, is polled.
	other, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(other[1])
	in2 := os.NewFile(uintptr(other[0]), "stdin")
	r := open(in2, out)
	defer r.Close()
	if r == io.ReadCloser(in2) {
		t.Error("a socket of its own was not made pollable")
	}
}
