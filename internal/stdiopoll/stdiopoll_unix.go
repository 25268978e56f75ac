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
//
// Nor is a socket or pipe that is standard output or error too (one socket
// for both directions): O_NONBLOCK would reach their blocking writes, which
// would then fail when the peer is slow to read.
func Open(f *os.File) io.ReadCloser { return open(f, 1, 2) }

// open is Open, leaving f alone when it is the same pipe or socket as one
// of the descriptors blocking.
func open(f *os.File, blocking ...int) io.ReadCloser {
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
	for _, b := range blocking {
		var bs unix.Stat_t
		if b != fd && unix.Fstat(b, &bs) == nil && bs.Dev == st.Dev && bs.Ino == st.Ino {
			return f
		}
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
