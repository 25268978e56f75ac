package ipc

import (
	"errors"
	"net"
)

// Peer is the identity the OS reports for the other end of a socket
// connection. PID and Exe are best effort (zero when the OS does not say).
type Peer struct {
	UID int
	PID int
	Exe string
}

// PeerOf returns the peer credentials of a Unix socket connection.
func PeerOf(c net.Conn) (Peer, error) { return peerOf(c) }

// control runs fn with the file descriptor of a Unix socket connection.
func control(c net.Conn, fn func(fd int) error) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return errors.New("not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
