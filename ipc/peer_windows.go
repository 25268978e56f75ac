package ipc

import (
	"net"
	"os"
)

// peerOf on Windows: AF_UNIX sockets there report no peer credentials. The
// socket lives in the user's own profile (%LOCALAPPDATA%\mcpauthd), whose
// ACL admits only the user, SYSTEM and administrators, so the file system
// is the wall here; the peer is reported as the daemon's own user. A named
// pipe with an explicit DACL and client-token impersonation would check
// each caller itself; it is the planned replacement.
func peerOf(net.Conn) (Peer, error) {
	return Peer{UID: os.Getuid()}, nil
}
