package ipc

import (
	"net"

	"golang.org/x/sys/unix"
)

func peerOf(c net.Conn) (Peer, error) {
	var p Peer
	err := control(c, func(fd int) error {
		x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if err != nil {
			return err
		}
		p.UID = int(x.Uid)
		if pid, err := unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID); err == nil {
			p.PID = pid
		}
		return nil
	})
	return p, err
}
