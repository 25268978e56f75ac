package ipc

import (
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

func peerOf(c net.Conn) (Peer, error) {
	var p Peer
	err := control(c, func(fd int) error {
		cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return err
		}
		p.UID, p.PID = int(cred.Uid), int(cred.Pid)
		return nil
	})
	if err != nil {
		return Peer{}, err
	}
	p.Exe, _ = os.Readlink("/proc/" + strconv.Itoa(p.PID) + "/exe")
	return p, nil
}
