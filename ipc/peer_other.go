//go:build !linux && !darwin && !windows

package ipc

import (
	"errors"
	"net"
)

// peerOf is not implemented here: the server refuses every connection
// rather than serve one whose owner it cannot check.
func peerOf(net.Conn) (Peer, error) {
	return Peer{}, errors.New("peer credentials are not supported on this OS yet")
}
