//go:build unix

package stdiopoll

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Open returns f (standard input) to read and close instead of f. When f
// is a blocking pipe or socket, that is a file for the same descriptor read
// through the runtime's poller: Open sets O_NONBLOCK on f's open file
// description, and closing the file sets it back first, as the process
// that started this one may share the description and expect blocking
// reads (a process killed before it closes leaves it non-blocking). A
// terminal, a regular file or anything else is f itself: O_NONBLOCK on a
// terminal would reach the shell that shares it.
func Open(f *os.File) io.ReadCloser {
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return f
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFSOCK:
	default:
		return f
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK != 0 {
		return f // non-blocking already: os polls it
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return f
	}
	// os.NewFile sees a non-blocking descriptor and registers it with the
	// poller.
	return &polled{File: os.NewFile(uintptr(fd), f.Name()), fd: fd}
}

// polled is standard input read through the poller.
type polled struct {
	*os.File
	fd int
}

// Close puts the description back in blocking mode and closes the file,
// which wakes a pending Read.
func (p *polled) Close() error {
	_ = unix.SetNonblock(p.fd, false)
	return p.File.Close()
}
