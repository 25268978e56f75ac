//go:build !linux

package revproxy

import (
	"errors"
	"net"
	"net/netip"
)

// PeerUIDChecked reports whether the proxy learns which user opened each
// connection on this OS and refuses other users. Not here (yet): on macOS
// and Windows any local user who holds an app's key gets through.
const PeerUIDChecked = false

func peerUID(net.Conn) (int, error) { return -1, errors.ErrUnsupported }

func holderUID(netip.AddrPort) (int, error) { return -1, errors.ErrUnsupported }
