package ipc

import (
	"errors"
	"net"
)

// Peer is the identity the OS reports for the other end of a socket
// connection. PID and Exe are best effort (zero when the OS does not say).
// App names the registered app a request came through the daemon's local
// reverse proxy for (the key it presented); empty for socket callers. Via
// says where a socket caller came from when it is not a local program
// (Origin: an SSH forward or login, a container); set by the daemon's
// socket server. Program and ProgramPID are the program the daemon holds
// responsible for the requests (Identify): Exe's, or an ancestor's when
// the peer is mcpauthd itself or a shell; set by the socket server from
// the OS, never from anything the client sends.
type Peer struct {
	UID        int
	PID        int
	Exe        string
	App        string
	Via        string
	Program    string
	ProgramPID int
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
