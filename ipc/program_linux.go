package ipc

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// identify on Linux: the peer's pid from SO_PEERCRED, its executable from
// /proc/PID/exe (" (deleted)" trimmed: the binary was replaced since it
// started), its parent and start time (field 22) from /proc/PID/stat.
// Where the kernel offers SO_PEERPIDFD (6.5+), the peer's pidfd proves
// that the process read through /proc is still the one that connected;
// otherwise a peer that exits between connect and accept could leave its
// pid to another process (a window of microseconds, which only a process
// of the same user can use). What Linux cannot tell: an interpreter
// (python, node) running many scripts is one program; a program started
// by a pass-through process whose parent has exited is attributed to the
// process it was re-parented to (systemd --user, a subreaper).
func identify(c net.Conn, p *Peer, self string) {
	if p.PID <= 0 {
		return
	}
	pidfd := -1
	_ = control(c, func(fd int) error {
		if n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEERPIDFD); err == nil {
			pidfd = n
		}
		return nil
	})
	info, err := readProc(p.PID)
	if pidfd >= 0 {
		if unix.PidfdSendSignal(pidfd, 0, nil, 0) != nil {
			err = errors.New("the peer exited") // its pid may name another process now
		}
		unix.Close(pidfd)
	}
	if err != nil {
		p.Exe = ""
		return
	}
	p.Exe = info.exe
	p.Program, p.ProgramPID = walk(p.PID, info, self, readProc)
}

func running(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// readProc reads pid's executable, parent and start time from /proc.
func readProc(pid int) (procInfo, error) {
	proc := "/proc/" + strconv.Itoa(pid)
	exe, err := os.Readlink(proc + "/exe")
	if err != nil {
		return procInfo{}, err
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	b, err := os.ReadFile(proc + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	// "pid (comm) state ppid …": comm may hold spaces and parentheses, so
	// the fields start after the last ')'; field 4 is ppid, 22 starttime.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procInfo{}, errors.New("malformed " + proc + "/stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return procInfo{}, errors.New("malformed " + proc + "/stat")
	}
	pp, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return procInfo{}, errors.New("malformed " + proc + "/stat")
	}
	return procInfo{exe: exe, ppid: pp, start: start}, nil
}
