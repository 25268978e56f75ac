package revproxy

import (
	"fmt"
	"net"
	"net/netip"
)

// PeerUIDChecked reports whether the proxy learns which user opened each
// connection on this OS and refuses other users. On Linux it does, from
// /proc/net/tcp and /proc/net/tcp6.
const PeerUIDChecked = true

var procNetTCP = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// peerUID returns the uid that owns the other end of c, a loopback TCP
// connection this process accepted.
func peerUID(c net.Conn) (int, error) {
	local, remote, err := addrPorts(c)
	if err != nil {
		return -1, err
	}
	return findUID(procNetTCP, connOf(local, remote))
}

// holderUID returns the uid of the program listening where addr would be.
func holderUID(addr netip.AddrPort) (int, error) {
	return findUID(procNetTCP, listenerOn(addr))
}

func addrPorts(c net.Conn) (local, remote netip.AddrPort, err error) {
	l, okL := c.LocalAddr().(*net.TCPAddr)
	r, okR := c.RemoteAddr().(*net.TCPAddr)
	if !okL || !okR {
		return local, remote, fmt.Errorf("not a TCP connection (%s)", c.LocalAddr().Network())
	}
	return l.AddrPort(), r.AddrPort(), nil
}
