package ipc

import "net"

// Peer is the identity the OS reports for the other end of a socket
// connection. PID and Exe are best effort (zero when the OS does not say).
type Peer struct {
	UID int
	PID int
	Exe string
}

// PeerOf returns the peer credentials of a Unix socket connection.
func PeerOf(c net.Conn) (Peer, error) { return peerOf(c) }
